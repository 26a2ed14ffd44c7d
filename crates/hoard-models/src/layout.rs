//! One source of truth: `[models]` in hoard.toml becomes absolute store folders and the
//! environment variables every ML library reads to find them.
//!
//! Derived from `root` unless overridden per store:
//!
//! | store | folder | variables |
//! |---|---|---|
//! | Hugging Face | `root/huggingface` | `HF_HOME`; `HF_HUB_CACHE`, `HUGGINGFACE_HUB_CACHE`, `TRANSFORMERS_CACHE`, `SENTENCE_TRANSFORMERS_HOME` = `HF_HOME/hub`; `HF_DATASETS_CACHE` = `HF_HOME/datasets`; `HF_XET_CACHE` = `HF_HOME/xet` |
//! | torch | `root/torch` | `TORCH_HOME` (hub checkpoints in `TORCH_HOME/hub/checkpoints`) |
//! | Ollama | `root/ollama/models` | `OLLAMA_MODELS` |
//! | MLX | `root/mlx` | `MLX_CACHE_DIR` (seed 001's name) |
//! | app caches | as configured | `HOARD_APP_CACHE_{NAME}` |
//!
//! `TRANSFORMERS_CACHE` is deprecated upstream, but older transformers releases read it
//! instead of `HF_HUB_CACHE`; pointing it at the hub folder (not at `HF_HOME`, as seed 001
//! did) keeps old and new code on the same files. sentence-transformers downloads through
//! the hub library, so its folder is the hub folder too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `[models]` section as written (paths may be relative).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Parent of every store that is not overridden (default `.cache`).
    pub root: Option<PathBuf>,
    /// Hugging Face home (`HF_HOME`) instead of `root/huggingface`.
    pub huggingface: Option<PathBuf>,
    /// torch home (`TORCH_HOME`) instead of `root/torch`.
    pub torch: Option<PathBuf>,
    /// Ollama models folder (`OLLAMA_MODELS`) instead of `root/ollama/models`.
    pub ollama: Option<PathBuf>,
    /// MLX cache (`MLX_CACHE_DIR`) instead of `root/mlx`.
    pub mlx: Option<PathBuf>,
    /// Application caches by name (`tmdb = "out/tmdb_cache"`): listed, sized and cleared
    /// as `app:NAME`.
    pub app_caches: BTreeMap<String, PathBuf>,
    /// Legacy folders that should be empty or gone (seed 001's `shared/model-cache`);
    /// `doctor` reports what they still hold.
    pub legacy: Vec<PathBuf>,
    /// Warm-up steps by name (see [`crate::warm`]).
    pub warm: BTreeMap<String, crate::warm::WarmStep>,
}

/// Where each store lives, all absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The models root.
    pub root: PathBuf,
    /// `HF_HOME`.
    pub huggingface: PathBuf,
    /// `TORCH_HOME`.
    pub torch: PathBuf,
    /// `OLLAMA_MODELS`.
    pub ollama: PathBuf,
    /// `MLX_CACHE_DIR`.
    pub mlx: PathBuf,
    /// App caches by name.
    pub app_caches: BTreeMap<String, PathBuf>,
    /// Legacy folders.
    pub legacy: Vec<PathBuf>,
}

impl Layout {
    /// Resolves `config` against `base` (the working directory, for relative paths).
    pub fn new(config: &ModelsConfig, base: &Path) -> Layout {
        let absolute = |path: &Path| normalize(&base.join(path));
        let root = absolute(config.root.as_deref().unwrap_or(Path::new(".cache")));
        let store = |over: &Option<PathBuf>, default: &str| match over {
            Some(path) => absolute(path),
            None => root.join(default),
        };
        Layout {
            huggingface: store(&config.huggingface, "huggingface"),
            torch: store(&config.torch, "torch"),
            ollama: store(&config.ollama, "ollama/models"),
            mlx: store(&config.mlx, "mlx"),
            app_caches: config
                .app_caches
                .iter()
                .map(|(name, path)| (name.clone(), absolute(path)))
                .collect(),
            legacy: config.legacy.iter().map(|p| absolute(p)).collect(),
            root,
        }
    }

    /// The Hugging Face hub cache (`HF_HUB_CACHE`).
    pub fn hf_hub(&self) -> PathBuf {
        self.huggingface.join("hub")
    }

    /// The torch hub folder (`TORCH_HOME/hub`).
    pub fn torch_hub(&self) -> PathBuf {
        self.torch.join("hub")
    }

    /// Every variable to set, in a stable order.
    pub fn env(&self) -> Vec<(String, String)> {
        let text = |path: &Path| path.display().to_string();
        let hub = text(&self.hf_hub());
        let mut vars = vec![
            ("HOARD_MODELS_ROOT".to_owned(), text(&self.root)),
            ("HF_HOME".to_owned(), text(&self.huggingface)),
            ("HF_HUB_CACHE".to_owned(), hub.clone()),
            ("HUGGINGFACE_HUB_CACHE".to_owned(), hub.clone()),
            ("TRANSFORMERS_CACHE".to_owned(), hub.clone()),
            ("SENTENCE_TRANSFORMERS_HOME".to_owned(), hub),
            (
                "HF_DATASETS_CACHE".to_owned(),
                text(&self.huggingface.join("datasets")),
            ),
            (
                "HF_XET_CACHE".to_owned(),
                text(&self.huggingface.join("xet")),
            ),
            ("TORCH_HOME".to_owned(), text(&self.torch)),
            ("OLLAMA_MODELS".to_owned(), text(&self.ollama)),
            ("MLX_CACHE_DIR".to_owned(), text(&self.mlx)),
        ];
        for (name, path) in &self.app_caches {
            vars.push((app_cache_var(name), text(path)));
        }
        vars
    }

    /// Every configured root a destructive command may touch, for the "never outside the
    /// roots" check.
    pub fn roots(&self) -> Vec<PathBuf> {
        let mut roots = vec![
            self.root.clone(),
            self.huggingface.clone(),
            self.torch.clone(),
            self.ollama.clone(),
            self.mlx.clone(),
        ];
        roots.extend(self.app_caches.values().cloned());
        roots.extend(self.legacy.iter().cloned());
        roots
    }
}

/// `HOARD_APP_CACHE_TMDB` for `tmdb`: upper case, anything not alphanumeric becomes `_`.
pub fn app_cache_var(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("HOARD_APP_CACHE_{name}")
}

/// Removes `.` and resolves `..` lexically (the folders may not exist yet, so no
/// canonicalize).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The folders the libraries use when nothing is set, under `home` (for `doctor`).
pub fn default_locations(home: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("huggingface", home.join(".cache/huggingface/hub")),
        ("torch", home.join(".cache/torch/hub")),
        ("ollama", home.join(".ollama/models")),
        ("mlx", home.join(".cache/mlx")),
    ]
}

/// Shell syntaxes `hoard models env` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// `export NAME='value'` (sh, bash, zsh).
    Posix,
    /// `set -gx NAME 'value'`.
    Fish,
    /// `$env:NAME = 'value'`.
    PowerShell,
    /// One JSON object.
    Json,
}

impl Shell {
    /// Parses `sh`, `bash`, `zsh`, `fish`, `powershell`/`pwsh` or `json`.
    pub fn parse(name: &str) -> Option<Shell> {
        match name {
            "sh" | "bash" | "zsh" | "posix" => Some(Shell::Posix),
            "fish" => Some(Shell::Fish),
            "powershell" | "pwsh" => Some(Shell::PowerShell),
            "json" => Some(Shell::Json),
            _ => None,
        }
    }
}

/// Renders `vars` for `shell`, quoted so that any path survives.
pub fn render_env(vars: &[(String, String)], shell: Shell) -> String {
    let single = |value: &str, escaped_quote: &str| value.replace('\'', escaped_quote);
    match shell {
        Shell::Json => {
            let map: serde_json::Map<String, serde_json::Value> = vars
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            format!("{}\n", serde_json::Value::Object(map))
        }
        Shell::Posix => vars
            .iter()
            .map(|(k, v)| format!("export {k}='{}'\n", single(v, "'\\''")))
            .collect(),
        Shell::Fish => vars
            .iter()
            .map(|(k, v)| {
                format!(
                    "set -gx {k} '{}'\n",
                    v.replace('\\', "\\\\").replace('\'', "\\'")
                )
            })
            .collect(),
        Shell::PowerShell => vars
            .iter()
            .map(|(k, v)| format!("$env:{k} = '{}'\n", single(v, "''")))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_derives_from_root_unless_overridden() {
        let config = ModelsConfig {
            root: Some("models".into()),
            torch: Some("/nas/torch".into()),
            app_caches: [("tmdb".to_owned(), PathBuf::from("out/./tmdb_cache"))].into(),
            ..ModelsConfig::default()
        };
        let layout = Layout::new(&config, Path::new("/srv/app"));
        assert_eq!(layout.huggingface, Path::new("/srv/app/models/huggingface"));
        assert_eq!(layout.torch, Path::new("/nas/torch"));
        assert_eq!(
            layout.app_caches["tmdb"],
            Path::new("/srv/app/out/tmdb_cache")
        );
        let env: BTreeMap<_, _> = layout.env().into_iter().collect();
        assert_eq!(env["HF_HUB_CACHE"], "/srv/app/models/huggingface/hub");
        assert_eq!(env["TRANSFORMERS_CACHE"], env["HF_HUB_CACHE"]);
        assert_eq!(env["TORCH_HOME"], "/nas/torch");
        assert_eq!(env["OLLAMA_MODELS"], "/srv/app/models/ollama/models");
        assert_eq!(env["HOARD_APP_CACHE_TMDB"], "/srv/app/out/tmdb_cache");
        assert!(env.values().all(|v| v.starts_with('/')), "all absolute");
    }

    #[test]
    fn quoting_survives_awkward_paths() {
        let vars = vec![("X".to_owned(), "/a b/it's".to_owned())];
        assert_eq!(
            render_env(&vars, Shell::Posix),
            "export X='/a b/it'\\''s'\n"
        );
        assert_eq!(render_env(&vars, Shell::Fish), "set -gx X '/a b/it\\'s'\n");
        assert_eq!(
            render_env(&vars, Shell::PowerShell),
            "$env:X = '/a b/it''s'\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render_env(&vars, Shell::Json)).unwrap();
        assert_eq!(json["X"], "/a b/it's");
    }
}

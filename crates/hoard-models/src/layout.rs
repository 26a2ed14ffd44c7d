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
//! | MLX | `root/mlx` | `MLX_CACHE_DIR` (the name the pipelines that moved to hoard already used) |
//! | app caches | as configured | `HOARD_APP_CACHE_{NAME}` |
//!
//! `TRANSFORMERS_CACHE` is deprecated upstream, but older transformers releases read it
//! instead of `HF_HUB_CACHE`; pointing it at the hub folder (not at `HF_HOME`, where older
//! set-ups pointed it) keeps old and new code on the same files. sentence-transformers
//! downloads through the hub library, so its folder is the hub folder too.

use crate::config::ModelsConfig;
use crate::error::ModelsError;
use crate::inventory::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// The most every store together may hold, in bytes (`[models] max_size`).
    pub max_size: Option<u64>,
    /// The most each store may hold, in bytes (`[models.store_max_size]`).
    pub store_max_size: BTreeMap<Store, u64>,
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
            max_size: config.max_size.map(|size| size.as_u64()),
            store_max_size: config
                .store_max_size
                .iter()
                .map(|(store, size)| (*store, size.as_u64()))
                .collect(),
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

    /// Every folder `hoard models dir` prints, by the name it takes: `root`, each store,
    /// then `app:NAME` for each app cache.
    pub fn folders(&self) -> Vec<(String, PathBuf)> {
        let mut folders: Vec<(String, PathBuf)> = vec![
            ("root".into(), self.root.clone()),
            ("huggingface".into(), self.huggingface.clone()),
            ("torch".into(), self.torch.clone()),
            ("ollama".into(), self.ollama.clone()),
            ("mlx".into(), self.mlx.clone()),
        ];
        folders.extend(
            self.app_caches
                .iter()
                .map(|(name, path)| (format!("app:{name}"), path.clone())),
        );
        folders
    }

    /// The folder named `name` in [`Layout::folders`] (`hf` is accepted for
    /// `huggingface`).
    pub fn folder(&self, name: &str) -> Result<PathBuf, ModelsError> {
        let wanted = if name == "hf" { "huggingface" } else { name };
        self.folders()
            .into_iter()
            .find(|(folder, _)| folder == wanted)
            .map(|(_, path)| path)
            .ok_or_else(|| ModelsError::UnknownFolder(name.to_owned()))
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
    fn folders_are_named_as_dir_takes_them() {
        let config = ModelsConfig {
            root: Some("models".into()),
            app_caches: [("tmdb".to_owned(), PathBuf::from("out/tmdb_cache"))].into(),
            ..ModelsConfig::default()
        };
        let layout = Layout::new(&config, Path::new("/srv/app"));
        let names: Vec<String> = layout.folders().into_iter().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            ["root", "huggingface", "torch", "ollama", "mlx", "app:tmdb"]
        );
        assert_eq!(layout.folder("hf").unwrap(), layout.huggingface);
        assert_eq!(
            layout.folder("app:tmdb").unwrap(),
            Path::new("/srv/app/out/tmdb_cache")
        );
        assert_eq!(
            layout.folder("tmdb").unwrap_err().to_string(),
            "unknown store \"tmdb\""
        );
    }
}

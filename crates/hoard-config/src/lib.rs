//! `hoard.toml`: where it is found, what it holds, and how the environment and flags
//! override it. `hoard serve`, every `hoard` subcommand and the Python package's
//! `hoard.Cache(config=...)` read it through [`Config`]. Every key is listed, with its
//! default, in `hoard.example.toml`.
//!
//! Precedence, lowest first: defaults, the file (`--config`, else `$HOARD_CONFIG`, else
//! `./hoard.toml` if present), `HOARD_*` environment variables, command-line flags.
//!
//! Loading reads the file and checks its syntax and section names; each section is read
//! and checked when it is asked for ([`Config::cache`], [`Config::server`],
//! [`Config::models`], ...), so `hoard models` works whatever `[server]` holds, and
//! `hoard serve` checks every section before it starts ([`Config::settings`]). A value
//! that cannot be used is a [`ConfigError`] naming the file, variable or flag that set
//! it, the key, and why:
//!
//! ```
//! let config = hoard_config::Config::from_toml("hoard.toml", "[cache]\nmemory = \"lots\"\n")?;
//! let error = config.cache().unwrap_err();
//! assert_eq!(error.to_string(), "hoard.toml: cache.memory: \"lots\" is not a size like 256MiB");
//! assert!(config.models().is_ok(), "other sections are unaffected");
//! # Ok::<(), hoard_config::ConfigError>(())
//! ```

mod cache;
mod de;
mod error;
mod layers;
mod sections;
mod server;

pub use cache::{CacheSection, L2};
pub use error::ConfigError;
pub use hoard_models::size::{parse_size, ByteSize, SizeError};
pub use sections::{SemanticSettings, Settings};
pub use server::ServerSection;

use figment::Figment;
use layers::{Layer, SECTIONS};
use std::path::{Path, PathBuf};

/// The layered configuration: defaults, the file, `HOARD_*` variables and flags. Read a
/// section with [`Config::cache`], [`Config::server`], [`Config::datasets`],
/// [`Config::models`] or [`Config::semantic`], or all of them with [`Config::settings`].
#[derive(Debug, Clone)]
pub struct Config {
    layers: Figment,
    source: String,
}

/// Flags that override the file and the environment.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Overrides {
    /// `--addr`.
    pub addr: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--redis`.
    pub redis: Option<String>,
    /// `--redis-cluster`.
    pub redis_cluster: Option<Vec<String>>,
    /// `--insecure`: sets `server.insecure` (never clears it).
    pub insecure: bool,
}

impl Overrides {
    /// One layer per flag given. Values are UTF-8 text in the layers (as in the file), so a
    /// folder whose name is not UTF-8 is refused rather than read as another folder.
    fn layers(&self) -> Result<Vec<Layer>, ConfigError> {
        let text = |s: &str| figment::value::Value::from(s.to_owned());
        let mut layers = Vec::new();
        if let Some(addr) = &self.addr {
            layers.push(Layer::new("--addr".into(), "server.addr", text(addr)));
        }
        if let Some(dir) = &self.data_dir {
            let dir = dir.to_str().ok_or_else(|| {
                let reason = format!("{} is not UTF-8: use a folder whose name is", dir.display());
                ConfigError::new("--data-dir", "cache.data_dir", reason)
            })?;
            layers.push(Layer::new("--data-dir".into(), "cache.data_dir", text(dir)));
        }
        if let Some(url) = &self.redis {
            layers.push(Layer::new("--redis".into(), "cache.redis_url", text(url)));
        }
        if let Some(nodes) = &self.redis_cluster {
            let nodes = figment::value::Value::from(nodes.clone());
            layers.push(Layer::new(
                "--redis-cluster".into(),
                "cache.redis_cluster",
                nodes,
            ));
        }
        if self.insecure {
            let on = figment::value::Value::from(true);
            layers.push(Layer::new("--insecure".into(), "server.insecure", on));
        }
        Ok(layers)
    }
}

impl Config {
    /// Loads the configuration: the file (`explicit`, else `$HOARD_CONFIG`, else
    /// `./hoard.toml` if it exists), then the `HOARD_*` variables `env` has, then
    /// `overrides`. Refuses a file that cannot be read, is not TOML, or has a section
    /// hoard does not know; the sections' values are checked when they are read.
    pub fn load(
        explicit: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| env("HOARD_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("hoard.toml")).filter(|p| p.exists()));
        let mut config = match path {
            Some(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError::new(&origin, "(file)", e.to_string()))?;
                Config::from_file_text(path, &text)?
            }
            None => Config {
                layers: Figment::new(),
                source: "defaults".into(),
            },
        };
        for layer in layers::environment(env)
            .into_iter()
            .chain(overrides.layers()?)
        {
            config.source.push_str(" + ");
            config.source.push_str(layer.name());
            config.layers = config.layers.merge(layer);
        }
        Ok(config)
    }

    /// The configuration `text` holds, as if it were the file `origin` and nothing else
    /// were set (for tests and programs that make their configuration).
    pub fn from_toml(origin: &str, text: &str) -> Result<Config, ConfigError> {
        Config::from_file_text(PathBuf::from(origin), text)
    }

    fn from_file_text(path: PathBuf, text: &str) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            // Kept on its lines: the message quotes the offending line with a caret under
            // the place, which only reads right as toml laid it out.
            ConfigError::new(
                &origin,
                "(syntax)",
                format!("\n{}", e.to_string().trim_end()),
            )
        })?;
        for (key, value) in &table {
            if !SECTIONS.contains(&key.as_str()) {
                let known = SECTIONS.join("], [");
                let reason = format!("unknown section (hoard.toml has [{known}])");
                return Err(ConfigError::new(&origin, key, reason));
            }
            if !value.is_table() {
                return Err(ConfigError::new(&origin, key, "must be a [section]"));
            }
        }
        Ok(Config {
            layers: Figment::new().merge(layers::File { path, table }),
            source: origin,
        })
    }

    /// Where the configuration came from, for a log line: the file (or `defaults`) and
    /// every variable and flag that overrides it (`hoard.toml + $HOARD_CACHE_MEMORY`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Where the value at `key` (`cache.memory`) was set: the file's path, `$VARIABLE`,
    /// `--flag`, or `defaults` when nothing set it.
    pub fn origin_of(&self, key: &str) -> String {
        match self.layers.find_metadata(key) {
            Some(metadata) => match &metadata.source {
                Some(figment::Source::File(path)) => path.display().to_string(),
                _ => metadata.name.to_string(),
            },
            None => "defaults".into(),
        }
    }

    /// A [`ConfigError`] about the value at `key`, naming where it was set: for checks a
    /// caller makes on a section it has read (`hoard serve`'s exposure check).
    pub fn refuse(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::new(self.origin_of(key), key, reason)
    }

    /// Reads section `name` as `T`.
    fn section<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        self.layers
            .focus(name)
            .extract()
            .map_err(|e| self.refused(name, e))
    }

    /// The first of figment's errors, under its full key and with its value's origin.
    fn refused(&self, section: &str, error: figment::Error) -> ConfigError {
        let key = std::iter::once(section)
            .chain(error.path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(".");
        self.refuse(&key, error.kind.to_string())
    }

    /// The `[cache]` section, checked.
    pub fn cache(&self) -> Result<CacheSection, ConfigError> {
        let cache: CacheSection = self.section("cache")?;
        let set = [
            !cache.redis_url.is_empty(),
            !cache.redis_cluster.is_empty(),
            !cache.redis_sentinel.is_empty(),
        ];
        if set.iter().filter(|on| **on).count() > 1 {
            return Err(self.refuse(
                "cache.redis_url",
                "set one of redis_url, redis_cluster and redis_sentinel",
            ));
        }
        Ok(cache)
    }

    /// The `[server]` section, checked.
    pub fn server(&self) -> Result<ServerSection, ConfigError> {
        self.section("server")
    }

    /// The `[models]` section, checked (`$HOARD_MODELS_ROOT` overrides `root`).
    pub fn models(&self) -> Result<hoard_models::ModelsConfig, ConfigError> {
        self.section("models")
    }
}

#[cfg(test)]
mod tests;

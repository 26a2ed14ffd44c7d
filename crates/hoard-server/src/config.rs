//! `hoard.toml`: where it is found, what it holds, and how the environment and flags
//! override it. Every key is listed, with its default, in `hoard.example.toml`.
//!
//! Precedence, lowest first: defaults, the file (`--config`, else `$HOARD_CONFIG`, else
//! `./hoard.toml` if present), `HOARD_*` environment variables, command-line flags.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration value that cannot be used: where it came from, which key, and why.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {key}: {reason}")]
pub struct ConfigError {
    /// The file, environment variable or flag the value came from.
    pub origin: String,
    /// The key, as written in `hoard.toml` (`cache.memory`).
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

fn refuse(origin: &str, key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        origin: origin.to_owned(),
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// The `[cache]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSection {
    /// Where the embedded L2 lives.
    pub data_dir: PathBuf,
    /// L1 budget, such as `256MiB`.
    pub memory: String,
    /// What the disk tier may use for itself (block cache and unflushed writes).
    pub disk_memory: String,
    /// TTL of entries written without one, such as `1h`.
    pub default_ttl: String,
    /// Redis as L2 (`redis://...` or `rediss://...`); empty for the embedded disk tier.
    pub redis_url: String,
    /// Redis Cluster seed nodes, instead of `redis_url`.
    pub redis_cluster: Vec<String>,
    /// Prefix of every Redis key.
    pub key_prefix: String,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            data_dir: PathBuf::from(".hoard"),
            memory: "256MiB".into(),
            disk_memory: "64MiB".into(),
            default_ttl: "1h".into(),
            redis_url: String::new(),
            redis_cluster: Vec::new(),
            key_prefix: "hoard:".into(),
        }
    }
}

/// The `[server]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Address to listen on.
    pub addr: String,
    /// Largest request body, such as `16MiB`.
    pub max_body: String,
    /// Bearer token of the admin routes; empty: `$HOARD_ADMIN_TOKEN`, else generated
    /// (when `admin_tokens` is empty too).
    pub admin_token: String,
    /// More admin tokens (scope `admin`: every route).
    pub admin_tokens: Vec<String>,
    /// Tokens of scope `write` (reads and writes, not admin routes). With any read or write
    /// token, reads and writes need a token; without, they are open.
    pub write_tokens: Vec<String>,
    /// Tokens of scope `read`.
    pub read_tokens: Vec<String>,
    /// Serve on a non-loopback address without read or write tokens (open to anyone who
    /// can reach it); `hoard serve` refuses to otherwise.
    pub insecure: bool,
    /// Most keys or hashes in one batch request.
    pub max_batch: usize,
    /// Longest a request head may take to arrive, such as `10s`: from the accept for a
    /// connection's first request, from its first byte for later ones.
    pub header_read_timeout: String,
    /// Longest a kept-alive connection waits for its next request, and longest a response
    /// may make no progress because the client reads nothing, such as `60s`.
    pub idle_timeout: String,
    /// Longest a request body may take to arrive after its head, such as `60s` (408 past
    /// it).
    pub body_read_timeout: String,
    /// Most connections served at once; more are answered 503 and closed. `hoard serve`
    /// keeps it below its open-file limit.
    pub max_connections: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            addr: "127.0.0.1:7070".into(),
            max_body: "16MiB".into(),
            admin_token: String::new(),
            admin_tokens: Vec::new(),
            write_tokens: Vec::new(),
            read_tokens: Vec::new(),
            insecure: false,
            max_batch: 1000,
            header_read_timeout: "10s".into(),
            idle_timeout: "60s".into(),
            body_read_timeout: "60s".into(),
            max_connections: 10_000,
        }
    }
}

/// The longest any of the connection timeouts may be.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// One `[datasets.ID]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSection {
    /// The dataset's root folder (relative paths start at the working directory).
    pub path: PathBuf,
    /// The metadata column holding the label; default `emotion`, else `label`.
    #[serde(default)]
    pub label_column: Option<String>,
    /// Hash every audio file's bytes into `content_hash` (slower; survives renames).
    #[serde(default)]
    pub content_hash: bool,
}

/// What `[semantic]` configures.
#[derive(Debug, Clone, Default)]
pub struct SemanticSettings {
    /// Which embedder (an empty `model`: no semantic cache).
    pub embedder: hoard_semantic::embed::EmbedderSpec,
    /// The cache's thresholds, guards, TTL and capacity.
    pub cache: hoard_semantic::SemanticConfig,
}

/// The whole file. Sections of later features (`datasets`, `models`, `semantic`) are
/// accepted and kept for them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[cache]`.
    pub cache: CacheSection,
    /// `[server]`.
    pub server: ServerSection,
    /// `[datasets.*]`.
    pub datasets: toml::Table,
    /// `[models]`.
    pub models: toml::Table,
    /// `[semantic]`.
    pub semantic: toml::Table,
    /// Where the file came from, for messages (`defaults` when there was none).
    #[serde(skip)]
    pub source: String,
}

/// Flags that override the file and the environment.
#[derive(Debug, Clone, Default)]
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

impl Config {
    /// Loads the configuration: the file (explicit, `$HOARD_CONFIG`, or `./hoard.toml`),
    /// then `HOARD_*` variables from `env`, then `overrides`; validates the result.
    pub fn load(
        explicit: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| env("HOARD_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("hoard.toml")).filter(|p| p.exists()));
        let mut config = match &path {
            Some(path) => Config::from_file(path)?,
            None => Config {
                source: "defaults".into(),
                ..Config::default()
            },
        };
        config.apply_env(env)?;
        config.apply_overrides(overrides);
        config.validate()?;
        Ok(config)
    }

    /// Parses one file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| refuse(&origin, "(file)", e.to_string()))?;
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            // toml names the key for unknown fields; for other errors its message quotes the
            // offending line, which the reason carries.
            let key = match e.message().strip_prefix("unknown field `") {
                Some(rest) => rest.split('`').next().unwrap_or("(key)").to_owned(),
                None => "(syntax)".to_owned(),
            };
            refuse(&origin, &key, e.to_string().trim().replace('\n', " "))
        })?;
        config.source = origin;
        Ok(config)
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let mut insecure = None;
        let mut set = |name: &str, apply: &mut dyn FnMut(String)| {
            if let Some(value) = env(name) {
                apply(value);
                self_note(&mut self.source, name);
            }
        };
        let cache = &mut self.cache;
        let server = &mut self.server;
        set("HOARD_CACHE_DATA_DIR", &mut |v| cache.data_dir = v.into());
        set("HOARD_CACHE_MEMORY", &mut |v| cache.memory = v);
        set("HOARD_CACHE_DISK_MEMORY", &mut |v| cache.disk_memory = v);
        set("HOARD_CACHE_DEFAULT_TTL", &mut |v| cache.default_ttl = v);
        set("HOARD_CACHE_REDIS_URL", &mut |v| cache.redis_url = v);
        set("HOARD_CACHE_REDIS_CLUSTER", &mut |v| {
            cache.redis_cluster = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        });
        set("HOARD_CACHE_KEY_PREFIX", &mut |v| cache.key_prefix = v);
        set("HOARD_SERVER_ADDR", &mut |v| server.addr = v);
        set("HOARD_SERVER_MAX_BODY", &mut |v| server.max_body = v);
        set("HOARD_SERVER_MAX_BATCH", &mut |v| {
            server.max_batch = v.parse().unwrap_or(0)
        });
        set("HOARD_SERVER_HEADER_READ_TIMEOUT", &mut |v| {
            server.header_read_timeout = v
        });
        set("HOARD_SERVER_IDLE_TIMEOUT", &mut |v| {
            server.idle_timeout = v
        });
        set("HOARD_SERVER_BODY_READ_TIMEOUT", &mut |v| {
            server.body_read_timeout = v
        });
        set("HOARD_SERVER_MAX_CONNECTIONS", &mut |v| {
            server.max_connections = v.parse().unwrap_or(0)
        });
        set("HOARD_ADMIN_TOKEN", &mut |v| server.admin_token = v);
        set("HOARD_WRITE_TOKEN", &mut |v| server.write_tokens = list(v));
        set("HOARD_READ_TOKEN", &mut |v| server.read_tokens = list(v));
        set("HOARD_SERVER_INSECURE", &mut |v| insecure = Some(v));
        let models = &mut self.models;
        set("HOARD_MODELS_ROOT", &mut |v| {
            models.insert("root".into(), toml::Value::String(v));
        });
        if let Some(text) = insecure {
            self.server.insecure = match text.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "" | "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(refuse(
                        &self.source,
                        "server.insecure",
                        format!("{text:?} is not true or false"),
                    ))
                }
            };
        }
        Ok(())
    }

    fn apply_overrides(&mut self, flags: &Overrides) {
        if let Some(addr) = &flags.addr {
            self.server.addr = addr.clone();
        }
        if let Some(dir) = &flags.data_dir {
            self.cache.data_dir = dir.clone();
        }
        if let Some(url) = &flags.redis {
            self.cache.redis_url = url.clone();
        }
        if let Some(nodes) = &flags.redis_cluster {
            self.cache.redis_cluster = nodes.clone();
        }
        if flags.insecure {
            self.server.insecure = true;
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let o = &self.source;
        parse_size(&self.cache.memory).map_err(|r| refuse(o, "cache.memory", r))?;
        parse_size(&self.cache.disk_memory).map_err(|r| refuse(o, "cache.disk_memory", r))?;
        hoard::ttl::parse_duration(&self.cache.default_ttl)
            .map_err(|e| refuse(o, "cache.default_ttl", e.to_string()))
            .and_then(|ttl| {
                if ttl.is_zero() {
                    Err(refuse(o, "cache.default_ttl", "must be greater than zero"))
                } else {
                    Ok(())
                }
            })?;
        if !self.cache.redis_url.is_empty() && !self.cache.redis_cluster.is_empty() {
            return Err(refuse(
                o,
                "cache.redis_url",
                "set redis_url or redis_cluster, not both",
            ));
        }
        self.addr()?;
        self.datasets()?;
        self.models()?;
        self.semantic()?;
        parse_size(&self.server.max_body).map_err(|r| refuse(o, "server.max_body", r))?;
        if self.server.max_batch == 0 {
            return Err(refuse(
                o,
                "server.max_batch",
                "must be a number greater than zero",
            ));
        }
        if self.server.max_connections == 0 {
            return Err(refuse(
                o,
                "server.max_connections",
                "must be a number greater than zero",
            ));
        }
        self.limits()?;
        if !self.server.admin_token.is_empty() && self.server.admin_token.len() < 16 {
            return Err(refuse(
                o,
                "server.admin_token",
                "use at least 16 characters",
            ));
        }
        for (key, tokens) in [
            ("server.admin_tokens", &self.server.admin_tokens),
            ("server.write_tokens", &self.server.write_tokens),
            ("server.read_tokens", &self.server.read_tokens),
        ] {
            for token in tokens {
                check_token(token).map_err(|reason| refuse(o, key, reason))?;
            }
        }
        Ok(())
    }

    /// The tokens of `[server]` by scope: `admin_token` and `admin_tokens` (plus
    /// `generated_admin`, the token `hoard serve` made when none is configured),
    /// `write_tokens`, `read_tokens`.
    pub fn access(&self, generated_admin: Option<&str>) -> crate::Access {
        let admin = self
            .server
            .admin_tokens
            .iter()
            .map(String::as_str)
            .chain(Some(self.server.admin_token.as_str()))
            .chain(generated_admin);
        crate::Access::new(admin, &self.server.write_tokens, &self.server.read_tokens)
    }

    /// Whether an admin token is configured (`admin_token`, `admin_tokens` or
    /// `$HOARD_ADMIN_TOKEN`).
    pub fn has_admin_token(&self) -> bool {
        !self.server.admin_token.is_empty() || !self.server.admin_tokens.is_empty()
    }

    /// Refuses to serve reads and writes open to anyone on an address other machines can
    /// reach: a non-loopback `server.addr` needs read or write tokens, or `insecure`.
    pub fn check_exposure(&self) -> Result<(), ConfigError> {
        let addr = self.addr()?;
        let loopback = match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.is_loopback(),
            std::net::IpAddr::V6(ip) => {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        };
        let tokens = !self.server.read_tokens.is_empty() || !self.server.write_tokens.is_empty();
        if loopback || tokens || self.server.insecure {
            return Ok(());
        }
        Err(refuse(
            &self.source,
            "server.addr",
            format!(
                "{addr} is not a loopback address, and with no read or write tokens anyone who \
                 can reach it could read and change the cache. Configure tokens ([server] \
                 read_tokens / write_tokens, or $HOARD_READ_TOKEN / $HOARD_WRITE_TOKEN, \
                 comma-separated), or pass --insecure ([server] insecure = true) to serve it \
                 open anyway"
            ),
        ))
    }

    /// The `[datasets.ID]` sections, checked.
    pub fn datasets(&self) -> Result<Vec<hoard_datasets::DatasetConfig>, ConfigError> {
        let mut out = Vec::with_capacity(self.datasets.len());
        for (id, value) in &self.datasets {
            let key = format!("datasets.{id}");
            let section: DatasetSection = value
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| refuse(&self.source, &key, e.message().to_owned()))?;
            hoard_datasets::check_id(id).map_err(|e| refuse(&self.source, &key, e.to_string()))?;
            if section.path.as_os_str().is_empty() {
                return Err(refuse(&self.source, &format!("{key}.path"), "is empty"));
            }
            out.push(hoard_datasets::DatasetConfig {
                id: id.clone(),
                path: section.path,
                options: hoard_datasets::BuildOptions {
                    label_column: section.label_column.filter(|c| !c.is_empty()),
                    content_hash: section.content_hash,
                },
            });
        }
        Ok(out)
    }

    /// The `[models]` section, checked (`$HOARD_MODELS_ROOT` overrides `root`).
    pub fn models(&self) -> Result<hoard_models::ModelsConfig, ConfigError> {
        toml::Value::Table(self.models.clone())
            .try_into()
            .map_err(|e: toml::de::Error| refuse(&self.source, "models", e.message().to_owned()))
    }

    /// The `[semantic]` section: the embedder (`model`, `url`, `api_key_env`) and the
    /// cache's settings (every [`hoard_semantic::SemanticConfig`] field), checked.
    pub fn semantic(&self) -> Result<SemanticSettings, ConfigError> {
        let mut table = self.semantic.clone();
        let mut text = |key: &str| -> Result<Option<String>, ConfigError> {
            match table.remove(key) {
                None => Ok(None),
                Some(toml::Value::String(value)) => Ok(Some(value).filter(|v| !v.is_empty())),
                Some(other) => Err(refuse(
                    &self.source,
                    &format!("semantic.{key}"),
                    format!("must be a string, not {other}"),
                )),
            }
        };
        let model = text("model")?.unwrap_or_default();
        let url = text("url")?;
        let key_env = text("api_key_env")?;
        let cache: hoard_semantic::SemanticConfig =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    refuse(&self.source, "semantic", e.message().to_owned())
                })?;
        cache
            .validate()
            .map_err(|e| refuse(&self.source, "semantic", e.to_string()))?;
        Ok(SemanticSettings {
            embedder: hoard_semantic::embed::EmbedderSpec {
                model,
                url,
                api_key: key_env.and_then(|name| std::env::var(name).ok()),
            },
            cache,
        })
    }

    /// The configured datasets over `cache`.
    pub fn open_datasets(
        &self,
        cache: hoard::Cache,
    ) -> Result<hoard_datasets::Datasets, ConfigError> {
        hoard_datasets::Datasets::new(cache, self.datasets()?)
            .map_err(|e| refuse(&self.source, "datasets", e.to_string()))
    }

    /// `server.addr`, parsed.
    pub fn addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.addr.parse().map_err(|_| {
            refuse(
                &self.source,
                "server.addr",
                format!("{:?} is not HOST:PORT", self.server.addr),
            )
        })
    }

    /// The connection limits of `[server]`: timeouts and the connection cap, checked.
    pub fn limits(&self) -> Result<crate::Limits, ConfigError> {
        let timeout = |key: &str, text: &str| {
            let key = format!("server.{key}");
            let duration = hoard::ttl::parse_duration(text)
                .map_err(|e| refuse(&self.source, &key, e.to_string()))?;
            if duration.is_zero() {
                Err(refuse(&self.source, &key, "must be greater than zero"))
            } else if duration > LONGEST_TIMEOUT {
                Err(refuse(&self.source, &key, "use at most 1d"))
            } else {
                Ok(duration)
            }
        };
        let server = &self.server;
        Ok(crate::Limits {
            header_read_timeout: timeout("header_read_timeout", &server.header_read_timeout)?,
            idle_timeout: timeout("idle_timeout", &server.idle_timeout)?,
            body_read_timeout: timeout("body_read_timeout", &server.body_read_timeout)?,
            max_connections: server.max_connections,
        })
    }

    /// `server.max_body` in bytes.
    pub fn max_body(&self) -> usize {
        parse_size(&self.server.max_body)
            .map_or(16 << 20, |b| usize::try_from(b).unwrap_or(usize::MAX))
    }

    /// The L1 budget in bytes.
    pub fn memory_bytes(&self) -> u64 {
        parse_size(&self.cache.memory).unwrap_or(256 << 20)
    }

    /// The default TTL.
    pub fn default_ttl(&self) -> Duration {
        hoard::ttl::parse_duration(&self.cache.default_ttl).unwrap_or(hoard::ttl::LONG)
    }

    /// Opens the cache this configuration describes.
    pub fn open_cache(&self) -> Result<hoard::Cache, hoard::Error> {
        let builder = hoard::Cache::builder()
            .memory_bytes(self.memory_bytes())
            .default_ttl(self.default_ttl());
        let builder = if !self.cache.redis_cluster.is_empty() {
            builder.redis(
                hoard::RedisConfig::cluster(self.cache.redis_cluster.clone())
                    .key_prefix(&self.cache.key_prefix),
            )
        } else if !self.cache.redis_url.is_empty() {
            builder.redis(
                hoard::RedisConfig::standalone(&self.cache.redis_url)
                    .key_prefix(&self.cache.key_prefix),
            )
        } else {
            builder.disk(
                hoard::DiskConfig::new(&self.cache.data_dir).memory_bytes(
                    parse_size(&self.cache.disk_memory)
                        .unwrap_or(hoard::store::DEFAULT_DISK_MEMORY_BYTES),
                ),
            )
        };
        builder.build()
    }
}

/// A token must be sendable as `Authorization: Bearer TOKEN` and hard to guess.
fn check_token(token: &str) -> Result<(), String> {
    if token.len() < 16 {
        return Err("use tokens of at least 16 characters".into());
    }
    if !token.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
        return Err("a token is printable ASCII without spaces or commas".into());
    }
    Ok(())
}

fn self_note(source: &mut String, name: &str) {
    // Messages about a value from the environment name the variable.
    if !source.contains(name) {
        source.push_str(&format!(" + ${name}"));
    }
}

/// Parses sizes such as `256MiB`, `16MB`, `512KiB`, `1GiB` or plain bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("{text:?} is not a size like 256MiB"));
    }
    let number: u64 = text[..digits]
        .parse()
        .map_err(|_| format!("{text:?} is too large"))?;
    let unit: u64 = match text[digits..].trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "KiB" | "K" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" | "M" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" | "G" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB, GiB, KB, MB or GB)"
            ))
        }
    };
    number
        .checked_mul(unit)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("256MiB").unwrap(), 256 << 20);
        assert_eq!(parse_size("16MB").unwrap(), 16_000_000);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5TB").unwrap_err().contains("unknown size unit"));
    }

    #[test]
    fn defaults_validate() {
        let config = Config::load(None, &no_env, &Overrides::default()).unwrap();
        assert_eq!(config.addr().unwrap().port(), 7070);
        assert_eq!(config.max_body(), 16 << 20);
    }

    #[test]
    fn bad_values_name_file_key_and_reason() {
        let dir = std::env::temp_dir().join(format!("hoard-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("[cache]\nmemory = \"lots\"\n", "cache.memory", "not a size"),
            (
                "[cache]\ndisk_memory = \"lots\"\n",
                "cache.disk_memory",
                "not a size",
            ),
            (
                "[cache]\ndefault_ttl = \"90\"\n",
                "cache.default_ttl",
                "missing unit",
            ),
            (
                "[server]\naddr = \"localhost\"\n",
                "server.addr",
                "HOST:PORT",
            ),
            (
                "[server]\nmax_batch = 0\n",
                "server.max_batch",
                "greater than zero",
            ),
            (
                "[server]\nmax_connections = 0\n",
                "server.max_connections",
                "greater than zero",
            ),
            (
                "[server]\nheader_read_timeout = \"0s\"\n",
                "server.header_read_timeout",
                "greater than zero",
            ),
            (
                "[server]\nidle_timeout = \"60\"\n",
                "server.idle_timeout",
                "missing unit",
            ),
            (
                "[server]\nread_tokens = [\"short\"]\n",
                "server.read_tokens",
                "at least 16 characters",
            ),
            (
                "[server]\nwrite_tokens = [\"has a space in it ok\"]\n",
                "server.write_tokens",
                "without spaces",
            ),
            ("[server]\ninsecure = \"yes\"\n", "(syntax)", "invalid type"),
            (
                "[server]\nbody_read_timeout = \"2d\"\n",
                "server.body_read_timeout",
                "at most 1d",
            ),
            ("[cache]\nmemroy = \"1GiB\"\n", "memroy", "unknown field"),
            ("[cache\n", "(syntax)", "TOML"),
            (
                "[datasets.x]\npaht = \"data\"\n",
                "datasets.x",
                "unknown field",
            ),
            ("[datasets.x]\n", "datasets.x", "missing field `path`"),
            (
                "[models]\nrot = \".cache\"\n",
                "models",
                "unknown field `rot`",
            ),
            ("[semantic]\nthreshold = 1.5\n", "semantic", "in [0, 1]"),
            (
                "[semantic]\nverifier_threshold = 1.5\n",
                "semantic",
                "in [0, 1]",
            ),
            (
                "[semantic]\nverifier = \"yes\"\n",
                "semantic",
                "invalid type",
            ),
            ("[semantic]\nthresold = 0.9\n", "semantic", "unknown field"),
            (
                "[datasets.\"a b\"]\npath = \"data\"\n",
                "datasets.a b",
                "only letters",
            ),
        ];
        for (i, (text, key, reason)) in cases.iter().enumerate() {
            let path = dir.join(format!("case{i}.toml"));
            std::fs::write(&path, text).unwrap();
            let err = Config::load(Some(&path), &no_env, &Overrides::default()).unwrap_err();
            let message = err.to_string();
            assert!(
                message.starts_with(&path.display().to_string()),
                "{message}"
            );
            assert!(message.contains(key), "{message}");
            assert!(
                message.to_lowercase().contains(&reason.to_lowercase()),
                "{message}"
            );
        }
    }

    #[test]
    fn environment_and_flags_override_the_file() {
        let env = |name: &str| match name {
            "HOARD_CACHE_MEMORY" => Some("1GiB".to_owned()),
            "HOARD_SERVER_ADDR" => Some("127.0.0.1:9000".to_owned()),
            "HOARD_SERVER_IDLE_TIMEOUT" => Some("5s".to_owned()),
            "HOARD_SERVER_MAX_CONNECTIONS" => Some("64".to_owned()),
            _ => None,
        };
        let flags = Overrides {
            addr: Some("127.0.0.1:9100".into()),
            ..Overrides::default()
        };
        let config = Config::load(None, &env, &flags).unwrap();
        assert_eq!(config.memory_bytes(), 1 << 30);
        let limits = config.limits().unwrap();
        assert_eq!(limits.idle_timeout, Duration::from_secs(5));
        assert_eq!(limits.max_connections, 64);
        assert_eq!(
            config.addr().unwrap().port(),
            9100,
            "flags win over the environment"
        );
        let bad = |name: &str| (name == "HOARD_CACHE_MEMORY").then(|| "huge".to_owned());
        let err = Config::load(None, &bad, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("$HOARD_CACHE_MEMORY") && err.contains("cache.memory"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod access {
    use super::*;

    fn load(env: &dyn Fn(&str) -> Option<String>, flags: &Overrides) -> Config {
        Config::load(None, env, flags).unwrap()
    }

    #[test]
    fn tokens_come_from_the_environment_comma_separated() {
        let env = |name: &str| match name {
            "HOARD_READ_TOKEN" => Some(" read-token-0123456789 , read-token-9876543210,".into()),
            "HOARD_WRITE_TOKEN" => Some("write-token-0123456789".into()),
            _ => None,
        };
        let config = load(&env, &Overrides::default());
        assert_eq!(
            config.server.read_tokens,
            ["read-token-0123456789", "read-token-9876543210"]
        );
        assert_eq!(config.server.write_tokens, ["write-token-0123456789"]);
        assert!(config.access(None).guarded());
        let bad = |name: &str| (name == "HOARD_WRITE_TOKEN").then(|| "short".to_owned());
        let err = Config::load(None, &bad, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("$HOARD_WRITE_TOKEN") && err.contains("server.write_tokens"),
            "{err}"
        );
    }

    #[test]
    fn only_loopback_may_serve_without_tokens() {
        let none = |_: &str| None;
        for addr in [
            "127.0.0.1:7070",
            "127.8.9.10:7070",
            "[::1]:7070",
            "[::ffff:127.0.0.1]:7070",
        ] {
            let flags = Overrides {
                addr: Some(addr.into()),
                ..Overrides::default()
            };
            assert!(load(&none, &flags).check_exposure().is_ok(), "{addr}");
        }
        for addr in ["0.0.0.0:7070", "[::]:7070", "192.0.2.1:7070"] {
            let flags = Overrides {
                addr: Some(addr.into()),
                ..Overrides::default()
            };
            let err = load(&none, &flags)
                .check_exposure()
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("server.addr")
                    && err.contains("--insecure")
                    && err.contains("read_tokens"),
                "{err}"
            );
            let insecure = Overrides {
                insecure: true,
                ..flags.clone()
            };
            assert!(load(&none, &insecure).check_exposure().is_ok(), "{addr}");
            let read =
                |name: &str| (name == "HOARD_READ_TOKEN").then(|| "read-token-0123456789".into());
            assert!(load(&read, &flags).check_exposure().is_ok(), "{addr}");
            let on = |name: &str| (name == "HOARD_SERVER_INSECURE").then(|| "true".into());
            assert!(load(&on, &flags).check_exposure().is_ok(), "{addr}");
        }
        let odd = |name: &str| (name == "HOARD_SERVER_INSECURE").then(|| "maybe".into());
        let err = Config::load(None, &odd, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.insecure"), "{err}");
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    /// `hoard.example.toml` lists every key: it parses, and its values are the defaults.
    #[test]
    fn the_example_file_is_valid_and_complete() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hoard.example.toml");
        let example = Config::from_file(&path).unwrap();
        let defaults = Config::default();
        assert_eq!(example.cache.memory, defaults.cache.memory);
        assert_eq!(example.cache.default_ttl, defaults.cache.default_ttl);
        assert_eq!(example.cache.data_dir, defaults.cache.data_dir);
        assert_eq!(example.cache.key_prefix, defaults.cache.key_prefix);
        assert_eq!(example.server.addr, defaults.server.addr);
        assert_eq!(example.server.max_body, defaults.server.max_body);
        assert_eq!(example.server.max_batch, defaults.server.max_batch);
        assert_eq!(example.limits().unwrap(), crate::Limits::default());
        assert!(example.server.read_tokens.is_empty() && example.server.write_tokens.is_empty());
        assert!(example.server.admin_tokens.is_empty() && !example.server.insecure);
        assert_eq!(defaults.limits().unwrap(), crate::Limits::default());
        let models = example.models().unwrap();
        assert_eq!(models.root.as_deref(), Some(Path::new(".cache")));
        assert!(models.app_caches.is_empty() && models.warm.is_empty());
        let semantic = example.semantic().unwrap();
        assert!(semantic.embedder.model.is_empty(), "off unless asked");
        assert_eq!(semantic.cache, hoard_semantic::SemanticConfig::default());
        let datasets = example.datasets().unwrap();
        assert_eq!(datasets.len(), 1);
        assert_eq!(datasets[0].options, hoard_datasets::BuildOptions::default());
        let text = std::fs::read_to_string(&path).unwrap();
        for key in [
            "data_dir",
            "memory",
            "disk_memory",
            "default_ttl",
            "redis_url",
            "redis_cluster",
            "key_prefix",
            "addr",
            "max_body",
            "max_batch",
            "admin_token",
            "admin_tokens",
            "write_tokens",
            "read_tokens",
            "insecure",
            "header_read_timeout",
            "idle_timeout",
            "body_read_timeout",
            "max_connections",
            "path",
            "label_column",
            "content_hash",
            "root",
            "legacy",
            "model",
            "threshold",
            "context_threshold",
            "extend_on_hit",
            "capacity",
            "candidates",
        ] {
            assert!(
                text.contains(&format!("\n{key} = ")),
                "hoard.example.toml lacks {key}"
            );
        }
    }
}

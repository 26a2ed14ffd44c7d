//! The layers a configuration is made of, each a figment provider that names itself: the
//! file (its path), one per `HOARD_*` variable that is set (`$HOARD_CACHE_MEMORY`), one per
//! flag given (`--addr`). Figment remembers which provider set each value, which is how an
//! error names the origin of the very value it refuses.

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider, Source};
use std::path::PathBuf;

/// The sections `hoard.toml` may hold; any other top-level key is refused.
pub(crate) const SECTIONS: &[&str] = &["cache", "server", "datasets", "models", "semantic"];

/// How an environment variable's text becomes a value.
#[derive(Clone, Copy)]
enum Kind {
    /// As written.
    Text,
    /// Comma-separated, blanks dropped (`a, b,` is `["a", "b"]`).
    List,
    /// A whole number; anything else stays text and is refused by the field.
    Number,
    /// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`/empty; anything else stays text.
    Flag,
}

/// Every variable hoard reads, the key it sets, and how its text is read.
const VARIABLES: &[(&str, &str, Kind)] = &[
    ("HOARD_CACHE_DATA_DIR", "cache.data_dir", Kind::Text),
    ("HOARD_CACHE_MEMORY", "cache.memory", Kind::Text),
    ("HOARD_CACHE_DISK_MEMORY", "cache.disk_memory", Kind::Text),
    ("HOARD_CACHE_DEFAULT_TTL", "cache.default_ttl", Kind::Text),
    ("HOARD_CACHE_REDIS_URL", "cache.redis_url", Kind::Text),
    (
        "HOARD_CACHE_REDIS_CLUSTER",
        "cache.redis_cluster",
        Kind::List,
    ),
    (
        "HOARD_CACHE_REDIS_SENTINEL",
        "cache.redis_sentinel",
        Kind::List,
    ),
    (
        "HOARD_CACHE_SENTINEL_MASTER",
        "cache.sentinel_master",
        Kind::Text,
    ),
    ("HOARD_CACHE_KEY_PREFIX", "cache.key_prefix", Kind::Text),
    ("HOARD_SERVER_ADDR", "server.addr", Kind::Text),
    ("HOARD_SERVER_MAX_BODY", "server.max_body", Kind::Text),
    ("HOARD_SERVER_MAX_BATCH", "server.max_batch", Kind::Number),
    (
        "HOARD_SERVER_HEADER_READ_TIMEOUT",
        "server.header_read_timeout",
        Kind::Text,
    ),
    (
        "HOARD_SERVER_IDLE_TIMEOUT",
        "server.idle_timeout",
        Kind::Text,
    ),
    (
        "HOARD_SERVER_BODY_READ_TIMEOUT",
        "server.body_read_timeout",
        Kind::Text,
    ),
    (
        "HOARD_SERVER_MAX_CONNECTIONS",
        "server.max_connections",
        Kind::Number,
    ),
    ("HOARD_SERVER_INSECURE", "server.insecure", Kind::Flag),
    ("HOARD_ADMIN_TOKEN", "server.admin_token", Kind::Text),
    ("HOARD_WRITE_TOKEN", "server.write_tokens", Kind::List),
    ("HOARD_READ_TOKEN", "server.read_tokens", Kind::List),
    ("HOARD_MODELS_ROOT", "models.root", Kind::Text),
];

/// The layers of the variables `env` has, in the order of [`VARIABLES`].
pub(crate) fn environment(env: &dyn Fn(&str) -> Option<String>) -> Vec<Layer> {
    VARIABLES
        .iter()
        .filter_map(|&(name, key, kind)| {
            let text = env(name)?;
            Some(Layer::new(format!("${name}"), key, read(&text, kind)))
        })
        .collect()
}

fn read(text: &str, kind: Kind) -> Value {
    match kind {
        Kind::Text => Value::from(text.to_owned()),
        Kind::List => Value::from(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect::<Vec<_>>(),
        ),
        Kind::Number => match text.trim().parse::<u64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(text.to_owned()),
        },
        Kind::Flag => match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Value::from(true),
            "" | "0" | "false" | "no" | "off" => Value::from(false),
            _ => Value::from(text.to_owned()),
        },
    }
}

/// One value set by a variable or a flag, under its dotted key.
pub(crate) struct Layer {
    name: String,
    key: &'static str,
    value: Value,
}

impl Layer {
    pub(crate) fn new(name: String, key: &'static str, value: Value) -> Layer {
        Layer { name, key, value }
    }

    /// What set the value: `$HOARD_CACHE_MEMORY`, `--addr`.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        figment::providers::Serialized::default(self.key, &self.value).data()
    }
}

/// `hoard.toml`, already parsed (so a syntax error is reported when it is loaded).
pub(crate) struct File {
    pub(crate) path: PathBuf,
    pub(crate) table: toml::Table,
}

impl Provider for File {
    fn metadata(&self) -> Metadata {
        Metadata::from("file", Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        figment::providers::Serialized::defaults(&self.table).data()
    }
}

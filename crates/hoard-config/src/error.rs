//! [`ConfigError`]: which value is wrong, where it was set, and why.

/// A configuration value that cannot be used: where it came from, which key, and why.
///
/// Displays as `ORIGIN: KEY: REASON`, for example
/// `hoard.toml: cache.memory: "lots" is not a size like 256MiB` or
/// `$HOARD_SERVER_MAX_BATCH: server.max_batch: must be a number greater than zero`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {key}: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// Where the value was set: the file's path, an environment variable (`$HOARD_...`),
    /// a flag (`--addr`), or `defaults`.
    pub origin: String,
    /// The key, as written in `hoard.toml` (`cache.memory`); `(file)` when the file could
    /// not be read, `(syntax)` when it is not TOML.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(
        origin: impl Into<String>,
        key: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError {
            origin: origin.into(),
            key: key.into(),
            reason: reason.into(),
        }
    }
}

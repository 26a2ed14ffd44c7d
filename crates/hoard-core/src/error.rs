//! The one error type of the cache and its tiers. Snapshots and the interner have their own
//! (`SnapshotError`, `InternerError`, in hoard-snapshot).

use std::path::PathBuf;

/// Everything that can go wrong in the core cache.
///
/// Input errors (`InvalidKey`, `InvalidNamespace`, `InvalidPattern`, `InvalidDuration`)
/// say what was wrong with the caller's value; storage errors carry the path or tier
/// they came from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key was empty, too long or held a character keys may not contain.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The offending key (cut to 80 characters).
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A namespace was empty, too long or held a character namespaces may not contain.
    #[error("invalid namespace {namespace:?}: {reason}")]
    InvalidNamespace {
        /// The offending namespace (cut to 80 characters).
        namespace: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A glob pattern could not be used.
    #[error("invalid pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The offending pattern (cut to 80 characters).
        pattern: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A scan's cursor was not one the store handed out.
    #[error("invalid cursor {cursor:?}: {reason}")]
    InvalidCursor {
        /// The offending cursor (cut to 80 characters).
        cursor: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A duration such as `2h5m` did not parse.
    #[error("invalid duration {input:?}: {reason}")]
    InvalidDuration {
        /// The text that was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A value could not be serialized for storage (MessagePack) or for a hashed key
    /// (JSON). The serializer's error is the source; its text is also in the message, which
    /// is all that bindings (Python) show.
    #[error("cannot encode value: {0}")]
    Encode(#[source] CodecError),
    /// A stored value could not be read back as the requested type. The deserializer's
    /// error is the source (or, from `get_or_compute`, the message of a failure another
    /// caller cached); its text is also in the message.
    #[error("cannot decode value as the requested type: {0}")]
    Decode(#[source] CodecError),
    /// Stored bytes are not a valid hoard entry (truncated, unknown format, bad compression).
    /// Its message and source are the [`CorruptEntry`]'s: for a payload LZ4 could not
    /// decompress, `source()` is the decompressor's error.
    #[error(transparent)]
    Corrupt(CorruptEntry),
    /// A network tier could not be reached in time: the server is down or slow, or its
    /// circuit breaker is open. Reads treat this as a miss; writes degrade to L1.
    #[error("{tier} unavailable: {reason}")]
    Unavailable {
        /// `redis`.
        tier: &'static str,
        /// What happened (connection refused, timed out after 250ms, circuit open, ...).
        reason: String,
    },
    /// A Redis Cluster node sent us elsewhere (`MOVED`, or `ASK` during a migration) and
    /// following the redirect did not settle it within a few tries.
    #[error("redis cluster redirect to {address} (ask: {ask}) not settled")]
    Redirect {
        /// Where the node sent us.
        address: String,
        /// `ASK` (a one-off, during slot migration) rather than `MOVED`.
        ask: bool,
    },
    /// Redis answered with an error (out of memory, permission denied, ...).
    #[error("redis error: {0}")]
    Redis(String),
    /// A configuration value (a URL, an option) cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A write-through namespace's writer refused a write (or a delete): the backing store
    /// does not have it, so the cache does not either.
    #[error("the backing store's writer for namespace {namespace:?} failed: {reason}; nothing was stored")]
    Writer {
        /// The namespace whose writer failed.
        namespace: String,
        /// What the writer reported.
        reason: String,
    },
    /// The tier cannot do this.
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// The disk tier's folder is already open: in another process (another `hoard serve`,
    /// or a program with a `Cache` on it), or in this one by another cache. One cache at a
    /// time may hold it.
    #[error(
        "disk tier at {path}: the folder is already in use by another cache (another `hoard serve`, or a program with a cache open on it, or another cache in this process); stop that one, or give this one another data_dir"
    )]
    DiskInUse {
        /// The data directory of the disk tier.
        path: PathBuf,
    },
    /// The embedded disk tier failed.
    #[error("disk tier at {path}: {source}")]
    Disk {
        /// The data directory of the disk tier.
        path: PathBuf,
        /// What the storage engine (fjall) reported; downcast to `fjall::Error` for its
        /// kind.
        #[source]
        source: SourceError,
    },
}

/// Why stored bytes are not a valid hoard entry: what was wrong with them and, when a
/// decoder said so, that decoder's error as the source (its text is also in the message,
/// which is all that bindings show).
#[derive(Debug, thiserror::Error)]
#[error("corrupt entry: {reason}")]
pub struct CorruptEntry {
    reason: String,
    #[source]
    source: Option<SourceError>,
}

impl CorruptEntry {
    /// Bytes found wrong by hoard's own checks (a short header, an unknown version).
    pub fn new(reason: impl Into<String>) -> CorruptEntry {
        CorruptEntry {
            reason: reason.into(),
            source: None,
        }
    }

    /// Bytes a decoder refused; `source` is its error, kept for callers to downcast.
    pub fn with_source(reason: impl Into<String>, source: impl Into<SourceError>) -> CorruptEntry {
        CorruptEntry {
            reason: reason.into(),
            source: Some(source.into()),
        }
    }

    /// What was wrong, without the `corrupt entry: ` prefix.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The error another library reported, kept whole as the source of ours so callers can
/// walk the chain or downcast it (the core does not name the libraries' types).
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// What a serializer or deserializer failed with (`rmp_serde::encode::Error`,
/// `rmp_serde::decode::Error`, `serde_json::Error`).
pub type CodecError = SourceError;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Cuts user input to a length that is safe to echo in an error message (80 characters).
pub fn clip(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

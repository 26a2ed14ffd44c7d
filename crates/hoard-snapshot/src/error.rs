//! What loading a snapshot and using an interner can fail with: one error type each, so a
//! caller of one never matches on the other's failures (nor on the cache's).

use std::path::PathBuf;
use std::sync::Arc;

/// What a loader may fail with: any error (`std::io::Error`, `rusqlite::Error`,
/// `anyhow::Error`, a `String`...) converts into it.
pub type LoadError = Box<dyn std::error::Error + Send + Sync>;

/// Why a reload produced no new value. The old value stays in place in every case.
///
/// Cloneable, because every caller that joined the load gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The loader returned an error.
    #[error("snapshot {snapshot:?}: load failed: {source}")]
    Load {
        /// The snapshot's name.
        snapshot: String,
        /// The loader's error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The loader panicked (the panic was caught; the process goes on).
    #[error("snapshot {snapshot:?}: the loader panicked: {message}")]
    Panicked {
        /// The snapshot's name.
        snapshot: String,
        /// The panic's message, when it had one.
        message: String,
    },
    /// The load could not run or did not finish: no thread could be started, or the
    /// runtime running an async loader shut down under it.
    #[error("snapshot {snapshot:?}: the load did not run to its end: {reason}")]
    Abandoned {
        /// The snapshot's name.
        snapshot: String,
        /// What happened.
        reason: String,
    },
}

/// What an [`Interner`](crate::Interner) can fail with: it ran out of ids, was asked for an
/// id it never gave out, or could not read or write its mapping file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InternerError {
    /// The interner has given out every `u32` id.
    #[error("the interner has no free id left")]
    Full,
    /// An id the interner never gave out.
    #[error("unknown interned id {0}")]
    UnknownId(u32),
    /// The interner's mapping file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// A file is not what [`Interner::persist`](crate::Interner::persist) wrote: wrong
    /// magic bytes, another format version, a checksum that does not match, truncated.
    /// Nothing of it was used.
    #[error("{path} is corrupt: {reason}")]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What was wrong, in words.
        reason: String,
    },
}

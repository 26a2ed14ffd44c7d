//! The one error type of the semantic crate.

use std::path::PathBuf;

/// Everything that can go wrong in the semantic cache.
///
/// Model and HTTP errors carry the path or URL they came from, so a message in a log says
/// which model folder or which service to look at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SemanticError {
    /// A local model could not be loaded: a missing or unreadable file, a config that is
    /// not a BERT-family config, corrupt weights, or a repo id absent from the hub cache.
    #[error("cannot load model from {}: {reason}", path.display())]
    Model {
        /// The folder or file that was being read.
        path: PathBuf,
        /// What was wrong, in words (which file, which field, what to do).
        reason: String,
    },
    /// Turning texts into vectors failed after the model was loaded (tokenizer or tensor
    /// error, a vector of the wrong length or with non-finite numbers).
    #[error("embedding failed: {0}")]
    Embed(String),
    /// An embedding service answered with an error status or a body that is not the
    /// expected JSON, or could not be reached in time.
    #[error("embedding request to {url} failed: {reason}")]
    Http {
        /// The endpoint that was called.
        url: String,
        /// Status and the service's message, a timeout, or what was malformed.
        reason: String,
    },
    /// A vector or query whose length is not the index's dimension (made by another
    /// model, or truncated on the way).
    #[error("vector of {got} dimensions where the index holds {expected}")]
    Dimension {
        /// The index's dimension.
        expected: usize,
        /// The length that was given.
        got: usize,
    },
    /// A similarity threshold outside [0, 1] (or not a number).
    #[error("invalid threshold {0}: a similarity threshold must be a number in [0, 1]")]
    InvalidThreshold(f32),
    /// A configuration value that cannot be used (no model named, a local model in a build
    /// without the `local` feature, ...).
    #[error("semantic config: {0}")]
    Config(String),
    /// A pairs file for evaluation that cannot be read, with the line that is wrong.
    #[error("{}", pairs_message(path, *line, reason))]
    Pairs {
        /// The file.
        path: String,
        /// 1-based line (0: the file itself).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The hoard cache that persists entries failed.
    #[error(transparent)]
    Storage(#[from] hoard::Error),
}

/// What [`SemanticError::Pairs`] says: `file:line: reason` for a bad line, and for a file
/// that cannot be opened, that and what the file should hold.
fn pairs_message(path: &str, line: usize, reason: &str) -> String {
    if line == 0 {
        format!(
            "cannot open the pairs file {path}: {reason} (it should hold JSON Lines, one pair \
             per line: {{\"a\": \"first question\", \"b\": \"second question\", \"same\": true}}, \
             \"same\" saying whether one answer serves both)"
        )
    } else {
        format!("{path}:{line}: {reason}")
    }
}

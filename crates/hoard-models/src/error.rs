//! What can go wrong in a models command, worded for the person who typed it: the CLI
//! prints these messages as they are.

use std::path::PathBuf;

/// What can go wrong in a models command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelsError {
    /// No cached item has this id.
    #[error("no cached model {0:?} (see `hoard models ls`)")]
    UnknownId(String),
    /// Not a store name ([`crate::Store`]).
    #[error("unknown store {0:?}: use huggingface, torch, ollama, mlx or app")]
    UnknownStore(String),
    /// Not a folder [`crate::Layout::folder`] knows (a store, `root` or `app:NAME`).
    #[error("unknown store {0:?}")]
    UnknownFolder(String),
    /// Not a shell `hoard models env` prints for.
    #[error("unknown shell {0:?}: use sh, bash, zsh, fish, powershell or json")]
    UnknownShell(String),
    /// Not an order `hoard models ls` sorts by.
    #[error("unknown sort {0:?}: use size, name, store, accessed or modified")]
    UnknownSort(String),
    /// A `--filter` expression without a comparison.
    #[error("filter {0:?}: use size>1GiB, age>30d or store=torch")]
    FilterSyntax(String),
    /// A `--filter` expression on a field there is none of.
    #[error("filter {0:?}: the fields are size, age and store")]
    FilterField(String),
    /// A store filter that compares with `<` or `>`: stores have no order.
    #[error("store filters use =, as in store=torch")]
    FilterStoreOperator,
    /// A size that does not parse (`--max-size`, `--min-size`, `size>...`).
    #[error(transparent)]
    Size(#[from] crate::size::SizeError),
    /// A duration that does not parse (`age>...`).
    #[error(transparent)]
    Duration(#[from] hoard::Error),
    /// A warm-up step is misconfigured or failed.
    #[error("warm-up step {step:?}: {reason}")]
    Warm {
        /// The step's name.
        step: String,
        /// What went wrong.
        reason: String,
    },
    /// A folder could not be created.
    #[error("creating {}", path.display())]
    Create {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("writing {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

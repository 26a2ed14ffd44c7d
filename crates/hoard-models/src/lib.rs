//! Model-artifact caches (seed 001): one configuration for where weights live, the
//! environment that makes every library use it, and an inventory of what is cached, with
//! commands to reclaim space safely.
//!
//! - [`layout`]: `[models]` -> absolute store folders and `HF_HOME`, `TORCH_HOME`, ...;
//! - [`scan`]: every cached model across the Hugging Face hub, torch hub, Ollama, MLX and
//!   app caches, blobs shared by revisions counted once;
//! - [`plan`]: `rm`, `prune` and `clear` as plans (paths and bytes) that execute only
//!   inside the configured roots;
//! - [`dedup`]: the same file stored more than once, optionally hard-linked;
//! - [`doctor`]: split caches, disagreeing variables, legacy folders, broken links;
//! - [`warm`]: fill the caches from a NAS or a download command;
//! - [`usage`]: last use recorded by hoard where atime is not kept.
//!
//! ```
//! use hoard_models::layout::{Layout, ModelsConfig};
//! let layout = Layout::new(&ModelsConfig::default(), std::path::Path::new("/srv/app"));
//! let inventory = hoard_models::scan::scan(&layout); // empty: nothing is cached yet
//! assert!(inventory.items.is_empty());
//! assert_eq!(layout.hf_hub(), std::path::Path::new("/srv/app/.cache/huggingface/hub"));
//! ```

pub mod dedup;
pub mod doctor;
pub mod layout;
pub mod plan;
pub mod scan;
pub mod usage;
pub mod warm;

pub use layout::{Layout, ModelsConfig};
pub use scan::{Inventory, Item, Store};

/// What can go wrong in a models command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelsError {
    /// No cached item has this id.
    #[error("no cached model {0:?} (see `hoard models ls`)")]
    UnknownId(String),
    /// A warm-up step is misconfigured or failed.
    #[error("warm-up step {step:?}: {reason}")]
    Warm {
        /// The step's name.
        step: String,
        /// What went wrong.
        reason: String,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// Where.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

//! Model-artifact caches: one configuration for where weights live, the environment that
//! makes every library use it, and an inventory of what is cached, with commands to
//! reclaim space safely. Each `hoard models` verb is one call into this crate; the CLI
//! only parses flags and prints.
//!
//! - [`config`]: the `[models]` section as written;
//! - [`layout`]: `[models]` -> absolute store folders and `HF_HOME`, `TORCH_HOME`, ...;
//!   [`shell`] prints those variables for a shell; [`init`] creates the folders;
//! - [`inventory`]: what is cached, and [`scan`], which reads it from the Hugging Face hub,
//!   torch hub, Ollama, MLX and app caches, blobs shared by revisions counted once;
//! - [`filter`] and [`listing`]: which items `ls` shows, in which order;
//! - [`plan`]: `rm`, `prune` and `clear` as plans (paths and bytes) that execute only
//!   inside the configured roots;
//! - [`dedup`]: the same file stored more than once, optionally hard-linked;
//! - [`doctor`]: split caches, disagreeing variables, legacy folders, broken links, and
//!   [`budget`]s gone over;
//! - [`warm`]: fill the caches from a NAS or a download command;
//! - [`usage`]: last use recorded by hoard where atime is not kept;
//! - [`size`]: sizes read and printed as people write them (`50GiB`, `4.9 KiB`).
//!
//! ```
//! use hoard_models::{Layout, ModelsConfig};
//! let layout = Layout::new(&ModelsConfig::default(), std::path::Path::new("/srv/app"));
//! let inventory = hoard_models::scan::inventory(&layout); // empty: nothing is cached yet
//! assert!(inventory.items.is_empty());
//! assert_eq!(layout.hf_hub(), std::path::Path::new("/srv/app/.cache/huggingface/hub"));
//! ```

pub mod budget;
pub mod config;
pub mod dedup;
pub mod doctor;
mod error;
mod files;
pub mod filter;
pub mod init;
pub mod inventory;
pub mod layout;
pub mod listing;
pub mod plan;
pub mod scan;
pub mod shell;
pub mod size;
pub mod usage;
pub mod warm;

pub use config::{ModelsConfig, WarmStep};
pub use error::ModelsError;
pub use inventory::{Inventory, Item, Store};
pub use layout::Layout;

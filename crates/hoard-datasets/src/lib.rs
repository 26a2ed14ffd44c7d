//! Dataset manifests: what audio a folder holds, joined with its metadata tables, versioned
//! so that it is rebuilt only when files change, and rebuilt incrementally when they do.
//!
//! The pieces, in the order a build runs them:
//! - [`scan::walk`] lists audio and metadata files with size and mtime (parallel walk) and
//!   hashes those into the dataset [`version`](scan::Listing::version);
//! - [`manifest::build`] probes new or changed files ([`probe`]: WAV headers read here,
//!   MP3/FLAC/Ogg through symphonia), joins [`meta`] tables, prunes constant columns and
//!   sums up;
//! - [`Datasets`] keeps configured datasets current and shares their manifests through the
//!   hoard cache (`dataset:{id}:manifest|delta|summary|version`: a base manifest and the
//!   changes since it, see [`delta`]); with the `watch` feature (on by default) it watches
//!   each root and re-checks it at the cost of what changed, re-stating only the changed
//!   paths, and walks whenever the watcher cannot be trusted ([`Fallback`]);
//! - [`path::resolve`] maps a client's `relpath` to a file, never outside the root;
//! - [`sample::write_sample`] writes a small RAVDESS-style dataset to try all this on.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use hoard_datasets::{BuildOptions, DatasetConfig, Datasets};
//! let datasets = Datasets::new(
//!     hoard::Cache::open(".hoard")?,
//!     [DatasetConfig {
//!         id: "ravdess_subset".into(),
//!         path: "data/dev/ravdess_subset".into(),
//!         options: BuildOptions::default(),
//!     }],
//! )?;
//! let manifest = datasets.manifest("ravdess_subset").await?;
//! println!("{} files, {:.1} s", manifest.summary.total, manifest.summary.total_duration);
//! # Ok(()) }
//! ```

pub mod delta;
pub mod manifest;
pub mod meta;
mod patch;
pub mod path;
pub mod probe;
mod registry;
mod restat;
pub mod sample;
pub mod scan;
mod watch;

pub use manifest::{build, BuildOptions, BuildReport, FileEntry, Manifest, Summary};
pub use path::PathError;
pub use probe::{AudioInfo, Format};
pub use registry::{check_id, DatasetConfig, DatasetInfo, Datasets, NAMESPACE};
pub use watch::{Fallback, WatchStatus};

/// The cache namespaces this crate writes for itself ([`NAMESPACE`]: manifests, deltas,
/// summaries, versions). A forged entry there would be served as a dataset's manifest, so
/// a server lets clients read these namespaces but not write them through its generic
/// cache routes.
pub const RESERVED_NAMESPACES: &[&str] = &[NAMESPACE];

/// What [`DatasetError::Unknown`] says is configured instead.
fn configured_ids(ids: &[String]) -> String {
    if ids.is_empty() {
        return "none is configured (add a [datasets.ID] section with its path to hoard.toml)"
            .to_owned();
    }
    let quoted: Vec<String> = ids.iter().map(|id| format!("{id:?}")).collect();
    format!("configured are {}", quoted.join(", "))
}

/// What can go wrong with a configured dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// No dataset has this id.
    #[error("no dataset {id:?}: {}", configured_ids(.configured))]
    Unknown {
        /// The id asked for.
        id: String,
        /// The ids that are configured, in order.
        configured: Vec<String>,
    },
    /// A dataset id that cannot be used.
    #[error("dataset id {id:?} {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// Why not.
        reason: &'static str,
    },
    /// The root folder cannot be read.
    #[error("dataset {id:?}: cannot read {}: {source}", path.display())]
    Io {
        /// The dataset.
        id: String,
        /// Its root.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A scan or build task died (a bug: they catch the errors they expect).
    #[error("dataset {id:?}: the build task failed: {reason}")]
    Task {
        /// The dataset.
        id: String,
        /// The panic or cancellation.
        reason: String,
    },
}

//! Read-mostly data held in memory: [`Snapshot<T>`], large data read without locks and
//! reloaded without blocking readers, and [`Interner`], strings to dense `u32` ids and back.
//!
//! Together they hold a catalogue such as an image-tagging service's: every image with its
//! tags as interned ids, loaded from a database at start-up (`load_data_from_db`), reloaded
//! in the background after a bulk edit (`load_data_from_db_async`, `is_loading`) and
//! patched one image at a time after a small one (`reload_single_image`). `hoard`
//! re-exports everything here (`hoard::Snapshot`, `hoard::Interner`, ...).
//!
//! Readers get an `Arc<T>` from an atomic pointer ([arc-swap](https://docs.rs/arc-swap));
//! they never wait for a writer, and a reader keeps the value it got for as long as it
//! holds the `Arc`, whatever is swapped in meanwhile.
//!
//! # Reloads
//! A reload runs the loader given at build time on a thread of its own (a blocking loader)
//! or as a task (an async loader), builds the new value outside any lock, and swaps it in.
//! Only one load runs at a time: a reload requested while one is in flight joins it and
//! gets its outcome. A failed load (an error or a panic) keeps the old value; the error
//! goes to everyone waiting on that load and stays readable in
//! [`Snapshot::last_error`] until a load succeeds. [`Snapshot::reload`] returns a
//! [`ReloadHandle`]: `.await` it, [`wait_blocking`](ReloadHandle::wait_blocking) on it, or
//! drop it to let the load finish in the background.
//!
//! # Partial updates and their order with reloads
//! [`Snapshot::update`] builds a new value from the current one (copy-on-write) and swaps
//! it in, without a full load: how one image is re-read or removed after an edit.
//! Updates and swaps are serialized by one writer mutex (readers never take it). An update
//! made while a full load is in flight is **re-applied, in order, to the loaded value**
//! before it is swapped in, so it is never lost: the load may have read the source before
//! the edit. For that to be right an update must be idempotent with respect to the
//! source: set an item to what the source now holds, or remove it; not "add one to a
//! count", which the load may already include.
//!
//! # Events
//! Every swap runs the snapshot's own callbacks ([`Snapshot::on_swap`]) and, when the
//! snapshot was built with [`SnapshotBuilder::events`], that [`SwapListener`] (hoard's
//! `Cache`, whose invalidation callbacks then hear [`Cause::Snapshot`] for a reload and
//! [`Cause::SnapshotUpdate`] for an update), on the thread that swapped, after the swap.
//!
//! # Errors
//! Loads fail with [`SnapshotError`] (the loader's own error, [`LoadError`], is its
//! source); the interner with [`InternerError`]. Neither is part of `hoard::Error`, which
//! holds the cache's errors only.
//!
//! # Example
//! ```
//! use hoard_snapshot::Snapshot;
//! use std::collections::HashMap;
//!
//! let snapshot = Snapshot::builder("tag_counts", |progress| {
//!     // Read the source here (a database, files); report progress as it goes.
//!     progress.set_total(2);
//!     let counts = HashMap::from([("long_hair", 2), ("smile", 1)]);
//!     progress.inc(2);
//!     Ok::<_, std::io::Error>(counts)
//! })
//! .load_blocking()?;
//! assert_eq!(snapshot.get()["smile"], 1);
//!
//! // Copy-on-write update of one item; readers holding the old Arc keep the old map.
//! let before = snapshot.get();
//! snapshot.update_with(|counts| {
//!     counts.insert("smile", 5);
//! });
//! assert_eq!((before["smile"], snapshot.get()["smile"]), (1, 5));
//!
//! // A full reload in the background; readers keep answering meanwhile.
//! let handle = snapshot.reload();
//! let _ = snapshot.get();
//! handle.wait_blocking()?;
//! assert_eq!(snapshot.get()["smile"], 1);
//! # Ok::<(), hoard_snapshot::SnapshotError>(())
//! ```
//!
//! # Modules
//! | module | what |
//! |---|---|
//! | `snapshot` | [`Snapshot`]: the shared value, reads, copy-on-write updates |
//! | `builder` | [`SnapshotBuilder`]: name, loader, options, the first value |
//! | `reload` | full reloads, joined while in flight; [`ReloadHandle`] |
//! | `loader` | blocking and async loaders, and how their outcome is read |
//! | `progress` | [`Progress`]: how far a load has come |
//! | `listener` | who hears swaps: `on_swap` callbacks and a [`SwapListener`] |
//! | [`intern`] | [`Interner`] and its file format |
//! | `error` | [`SnapshotError`], [`InternerError`], [`LoadError`] |

mod builder;
mod error;
pub mod intern;
mod listener;
mod loader;
mod progress;
mod reload;
mod snapshot;

pub use builder::SnapshotBuilder;
pub use error::{InternerError, LoadError, SnapshotError};
pub use hoard_events::{CallbackError, Cause, Invalidation, ListenerId, Origin};
pub use intern::Interner;
pub use listener::SwapListener;
pub use progress::Progress;
pub use reload::ReloadHandle;
pub use snapshot::{Snapshot, SnapshotGuard};

//! [`SnapshotBuilder`]: a snapshot's name and loader, its options, and its first value
//! (given, or from a first load run before the snapshot exists).

use crate::error::{LoadError, SnapshotError};
use crate::listener::{SwapEvents, SwapListener};
use crate::loader::{loaded_value, Loader};
use crate::progress::Progress;
use crate::snapshot::{Shared, Snapshot};
use futures_util::FutureExt;
use hoard_events::{CallbackError, Invalidation};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Builds a [`Snapshot`]: name and loader first, then options, then the first value.
#[must_use]
pub struct SnapshotBuilder<T> {
    name: Arc<str>,
    loader: Loader<T>,
    runtime: Option<tokio::runtime::Handle>,
    events: SwapEvents,
}

impl<T: Send + Sync + 'static> Snapshot<T> {
    /// A builder for a snapshot named `name` (used in logs and events) whose values come
    /// from `loader`, a blocking function. Reloads run it on a thread of their own.
    pub fn builder<F, E>(name: impl Into<String>, loader: F) -> SnapshotBuilder<T>
    where
        F: Fn(&Progress) -> Result<T, E> + Send + Sync + 'static,
        E: Into<LoadError>,
    {
        SnapshotBuilder::new(
            name.into(),
            Loader::Blocking(Arc::new(move |progress: &Progress| {
                loader(progress).map_err(Into::into)
            })),
        )
    }

    /// A builder whose loader is async. Reloads spawn it as a task (see
    /// [`SnapshotBuilder::runtime`]).
    pub fn builder_async<F, Fut, E>(name: impl Into<String>, loader: F) -> SnapshotBuilder<T>
    where
        F: Fn(Progress) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<LoadError>,
    {
        SnapshotBuilder::new(
            name.into(),
            Loader::Async(Arc::new(move |progress: Progress| {
                loader(progress).map(|r| r.map_err(Into::into)).boxed()
            })),
        )
    }
}

impl<T: Send + Sync + 'static> SnapshotBuilder<T> {
    fn new(name: String, loader: Loader<T>) -> SnapshotBuilder<T> {
        SnapshotBuilder {
            name: Arc::from(name),
            loader,
            runtime: None,
            events: SwapEvents::default(),
        }
    }

    /// Fires the snapshot's swaps at `listener` too; with hoard's `Cache`
    /// (`.events(&cache)`), its `on_invalidate` callbacks hear [`hoard_events::Cause::Snapshot`]
    /// and [`hoard_events::Cause::SnapshotUpdate`] with this snapshot's name. The snapshot
    /// keeps a clone of the listener (for a cache, a handle to it).
    pub fn events<L: SwapListener + Clone>(mut self, listener: &L) -> Self {
        self.events.attached = Some(Arc::new(listener.clone()));
        self
    }

    /// Registers a callback run after every swap (see [`Snapshot::on_swap`]).
    pub fn on_swap<F>(self, callback: F) -> Self
    where
        F: Fn(&Invalidation) -> Result<(), CallbackError> + Send + Sync + 'static,
    {
        self.events.callbacks.add(Arc::new(callback));
        self
    }

    /// The runtime async loaders run on. Without one: the runtime of the caller of
    /// [`Snapshot::reload`] if it has one, else hoard's own background runtime.
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// A snapshot holding `initial`, with no load run yet.
    pub fn build_with(self, initial: T) -> Snapshot<T> {
        Snapshot {
            shared: Arc::new(Shared::new(
                self.name,
                initial,
                self.loader,
                self.runtime,
                self.events,
            )),
        }
    }

    /// Runs the loader once and returns the snapshot holding its value, or its error.
    /// Call it within a Tokio runtime: a blocking loader runs on its blocking pool.
    pub async fn load(self) -> Result<Snapshot<T>, SnapshotError> {
        let name = self.name.clone();
        let progress = Progress::named(name.clone());
        let value = match &self.loader {
            Loader::Blocking(loader) => {
                let (loader, progress) = (loader.clone(), progress.clone());
                // A blocking loader must not hold up the caller's runtime worker.
                let task = tokio::task::spawn_blocking(move || {
                    catch_unwind(AssertUnwindSafe(|| loader(&progress)))
                });
                match task.await {
                    Ok(result) => result,
                    Err(error) => {
                        return Err(SnapshotError::Abandoned {
                            snapshot: name.to_string(),
                            reason: error.to_string(),
                        })
                    }
                }
            }
            Loader::Async(loader) => {
                AssertUnwindSafe(loader(progress.clone()))
                    .catch_unwind()
                    .await
            }
        };
        Ok(self.build_loaded(loaded_value(&name, value)?, progress))
    }

    /// [`SnapshotBuilder::load`] for synchronous callers: a blocking loader runs on the
    /// calling thread, an async one is driven by hoard's runtime.
    pub fn load_blocking(self) -> Result<Snapshot<T>, SnapshotError> {
        let name = self.name.clone();
        let progress = Progress::named(name.clone());
        let value = match &self.loader {
            Loader::Blocking(loader) => catch_unwind(AssertUnwindSafe(|| loader(&progress))),
            Loader::Async(loader) => {
                hoard_runtime::block_on(AssertUnwindSafe(loader(progress.clone())).catch_unwind())
            }
        };
        Ok(self.build_loaded(loaded_value(&name, value)?, progress))
    }

    /// The snapshot of a first load, which keeps that load's progress readable.
    fn build_loaded(self, value: T, progress: Progress) -> Snapshot<T> {
        let snapshot = self.build_with(value);
        snapshot.shared.progress.store(Arc::new(progress));
        snapshot
    }
}

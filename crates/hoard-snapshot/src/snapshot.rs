//! [`Snapshot<T>`] itself: the value behind an atomic pointer, what its clones share, reads
//! and copy-on-write updates. Building one is in `builder.rs`, reloading in `reload.rs`.

use crate::error::SnapshotError;
use crate::listener::SwapEvents;
use crate::loader::Loader;
use crate::progress::Progress;
use arc_swap::ArcSwap;
use hoard_events::{CallbackError, Cause, Invalidation, ListenerId};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// An update to re-apply to the value a reload in flight will swap in.
pub(crate) type Update<T> = Arc<dyn Fn(&T) -> T + Send + Sync>;
/// What a load in flight publishes to those waiting on it: `None` until it finished.
pub(crate) type Outcome<T> = Option<Result<Arc<T>, SnapshotError>>;

/// A value loaded by a user-supplied loader, read without locks, reloaded and updated by
/// atomic swaps. Cloning is cheap and clones share everything.
///
/// See the [crate documentation](crate) for reloads, partial updates and events.
pub struct Snapshot<T> {
    pub(crate) shared: Arc<Shared<T>>,
}

impl<T> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Snapshot {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Snapshot<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("name", &self.shared.name)
            .field(
                "generation",
                &self.shared.generation.load(Ordering::Relaxed),
            )
            .field("loading", &self.shared.loading.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What every clone of one snapshot shares.
pub(crate) struct Shared<T> {
    pub(crate) name: Arc<str>,
    pub(crate) current: ArcSwap<T>,
    pub(crate) loader: Loader<T>,
    pub(crate) runtime: Option<tokio::runtime::Handle>,
    /// The writer mutex: the load in flight and the updates to re-apply to its value.
    /// Readers never take it.
    pub(crate) control: Mutex<Control<T>>,
    pub(crate) loading: AtomicBool,
    /// Swaps so far (reloads and updates).
    pub(crate) generation: AtomicU64,
    pub(crate) progress: ArcSwap<Progress>,
    pub(crate) last_error: Mutex<Option<SnapshotError>>,
    pub(crate) events: SwapEvents,
}

/// The state behind the writer mutex.
pub(crate) struct Control<T> {
    /// Where the load in flight will publish its outcome; joiners subscribe here.
    pub(crate) in_flight: Option<watch::Receiver<Outcome<T>>>,
    /// Updates made since the load in flight began (`Some` exactly while one is).
    pub(crate) pending: Option<Vec<Update<T>>>,
}

impl<T> Shared<T> {
    /// The shared state of a snapshot holding `initial`, with no load run yet.
    pub(crate) fn new(
        name: Arc<str>,
        initial: T,
        loader: Loader<T>,
        runtime: Option<tokio::runtime::Handle>,
        events: SwapEvents,
    ) -> Shared<T> {
        Shared {
            progress: ArcSwap::from_pointee(Progress::named(name.clone())),
            name,
            current: ArcSwap::from_pointee(initial),
            loader,
            runtime,
            control: Mutex::new(Control {
                in_flight: None,
                pending: None,
            }),
            loading: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            last_error: Mutex::new(None),
            events,
        }
    }
}

/// Locks one of the snapshot's mutexes, poisoned or not.
pub(crate) fn lock<G>(mutex: &Mutex<G>) -> MutexGuard<'_, G> {
    // A panic in user code (an update) never leaves our own state half-written: the
    // fields are replaced whole, so the data behind a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T: Send + Sync + 'static> Snapshot<T> {
    /// The snapshot's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The current value. Lock-free; the `Arc` stays valid (and unchanged) however long it
    /// is held.
    pub fn get(&self) -> Arc<T> {
        self.shared.current.load_full()
    }

    /// The current value without touching its reference count: cheaper than
    /// [`Snapshot::get`] when many threads read at once. Hold the guard briefly (a
    /// swap cannot free the value while guards of it are alive).
    pub fn read(&self) -> SnapshotGuard<T> {
        SnapshotGuard {
            guard: self.shared.current.load(),
        }
    }

    /// Whether a reload is in flight.
    pub fn is_loading(&self) -> bool {
        self.shared.loading.load(Ordering::Acquire)
    }

    /// `(done, total)` of the load in flight, or of the last one when none is (total 0
    /// when the loader did not say).
    pub fn progress(&self) -> (u64, u64) {
        self.shared.progress.load().get()
    }

    /// How many values have been swapped in (reloads and updates) since the first.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// The error of the last reload, until a reload succeeds.
    pub fn last_error(&self) -> Option<SnapshotError> {
        lock(&self.shared.last_error).clone()
    }

    /// Registers a callback run after every swap, with [`Cause::Snapshot`] (a reload) or
    /// [`Cause::SnapshotUpdate`] (an update). Failures and panics of callbacks are logged
    /// and skipped.
    pub fn on_swap<F>(&self, callback: F) -> ListenerId
    where
        F: Fn(&Invalidation) -> Result<(), CallbackError> + Send + Sync + 'static,
    {
        self.shared.events.callbacks.add(Arc::new(callback))
    }

    /// Removes a callback added with [`Snapshot::on_swap`]; false if it was not there.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.shared.events.callbacks.remove(id)
    }

    /// Swaps in `f(&current)`: a partial change (one item re-read or removed) without a
    /// full reload. Returns the new value.
    ///
    /// Updates are serialized with each other and with reload swaps. If a reload is in
    /// flight, `f` is kept and applied again to the reloaded value before it is swapped in
    /// (see the [crate documentation](crate): `f` must be idempotent with respect to the
    /// source). `f` runs under the writer mutex: keep slow I/O out of it (read the source
    /// first, then update with what was read).
    pub fn update<F>(&self, f: F) -> Arc<T>
    where
        F: Fn(&T) -> T + Send + Sync + 'static,
    {
        let shared = &self.shared;
        let mut control = lock(&shared.control);
        let next = Arc::new(f(&shared.current.load()));
        shared.current.store(next.clone());
        shared.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(pending) = control.pending.as_mut() {
            pending.push(Arc::new(f));
        }
        drop(control);
        shared
            .events
            .fire(Cause::SnapshotUpdate(shared.name.to_string()));
        next
    }

    /// [`Snapshot::update`] by mutating a clone of the current value.
    pub fn update_with<F>(&self, f: F) -> Arc<T>
    where
        T: Clone,
        F: Fn(&mut T) + Send + Sync + 'static,
    {
        self.update(move |current: &T| {
            let mut next = current.clone();
            f(&mut next);
            next
        })
    }
}

/// A borrowed view of a snapshot's current value ([`Snapshot::read`]).
pub struct SnapshotGuard<T> {
    guard: arc_swap::Guard<Arc<T>>,
}

impl<T> std::ops::Deref for SnapshotGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

//! [`Snapshot<T>`]: large read-mostly data held in memory, read without locks and reloaded
//! without blocking readers (seed 002's catalogue: `load_data_from_db`,
//! `load_data_from_db_async`, `reload_single_image`, `is_loading`).
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
//! snapshot was built with [`SnapshotBuilder::events`], the invalidation callbacks of that
//! [`Cache`] ([`Cause::Snapshot`] for a reload, [`Cause::SnapshotUpdate`] for an update),
//! on the thread that swapped, after the swap.
//!
//! # Example
//! ```
//! use hoard::Snapshot;
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
//! # Ok::<(), hoard::SnapshotError>(())
//! ```
//!
//! [`Cache`]: crate::Cache

use crate::cache::Cache;
use crate::events::{CallbackError, Cause, Invalidation, ListenerId, Listeners, Origin};
use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use std::future::{Future, IntoFuture};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::watch;

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

type BlockingLoader<T> = dyn Fn(&Progress) -> Result<T, LoadError> + Send + Sync;
type AsyncLoader<T> = dyn Fn(Progress) -> BoxFuture<'static, Result<T, LoadError>> + Send + Sync;
type Update<T> = Arc<dyn Fn(&T) -> T + Send + Sync>;
type Outcome<T> = Option<Result<Arc<T>, SnapshotError>>;

enum Loader<T> {
    Blocking(Arc<BlockingLoader<T>>),
    Async(Arc<AsyncLoader<T>>),
}

impl<T> Clone for Loader<T> {
    fn clone(&self) -> Self {
        match self {
            Loader::Blocking(f) => Loader::Blocking(f.clone()),
            Loader::Async(f) => Loader::Async(f.clone()),
        }
    }
}

/// How far a load has come, for the loader to report and everyone else to read.
///
/// The loader gets one per load. It says how much there is ([`Progress::set_total`], 0 if
/// unknown) and how much is done ([`Progress::inc`], [`Progress::set_done`]); readers see
/// it through [`Snapshot::progress`]. Each tenth of the total (or, with no total, at most
/// once a second) is logged at `info` with the snapshot's name.
#[derive(Clone, Debug)]
pub struct Progress {
    inner: Arc<ProgressState>,
}

#[derive(Debug)]
struct ProgressState {
    snapshot: Arc<str>,
    done: AtomicU64,
    total: AtomicU64,
    started: Instant,
    /// The last tenth logged, or with no total the last log time in milliseconds.
    logged: AtomicU64,
}

impl Progress {
    /// A progress of its own, logged under `name`: for running a loader outside a
    /// snapshot (tests, benchmarks). Snapshots make one per load.
    pub fn new(name: &str) -> Progress {
        Progress::named(Arc::from(name))
    }

    fn named(snapshot: Arc<str>) -> Progress {
        Progress {
            inner: Arc::new(ProgressState {
                snapshot,
                done: AtomicU64::new(0),
                total: AtomicU64::new(0),
                started: Instant::now(),
                logged: AtomicU64::new(0),
            }),
        }
    }

    /// Sets how many units the load has to do (rows, files, bytes: the loader's choice).
    pub fn set_total(&self, total: u64) {
        self.inner.total.store(total, Ordering::Relaxed);
    }

    /// Adds `n` done units.
    pub fn inc(&self, n: u64) {
        let done = self.inner.done.fetch_add(n, Ordering::Relaxed) + n;
        self.log(done);
    }

    /// Sets the done units.
    pub fn set_done(&self, done: u64) {
        self.inner.done.store(done, Ordering::Relaxed);
        self.log(done);
    }

    /// `(done, total)`; total 0 when the loader did not say.
    pub fn get(&self) -> (u64, u64) {
        (
            self.inner.done.load(Ordering::Relaxed),
            self.inner.total.load(Ordering::Relaxed),
        )
    }

    fn log(&self, done: u64) {
        let state = &*self.inner;
        let total = state.total.load(Ordering::Relaxed);
        let elapsed = state.started.elapsed();
        // u128: `done * 10` cannot overflow; None when the total is unknown (0).
        let tenth = (u128::from(done.min(total)) * 10).checked_div(u128::from(total));
        if let Some(tenth) = tenth {
            let tenth = tenth as u64;
            // fetch_max: of several threads crossing one tenth, one logs it.
            if tenth > state.logged.fetch_max(tenth, Ordering::Relaxed) {
                tracing::info!(snapshot = %state.snapshot, done, total, elapsed_ms = elapsed.as_millis() as u64, "snapshot loading");
            }
            return;
        }
        let now = elapsed.as_millis() as u64;
        let last = state.logged.load(Ordering::Relaxed);
        if now >= last + 1000
            && state
                .logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::info!(snapshot = %state.snapshot, done, elapsed_ms = now, "snapshot loading");
        }
    }
}

/// Builds a [`Snapshot`]: name and loader first, then options, then the first value.
#[must_use]
pub struct SnapshotBuilder<T> {
    name: Arc<str>,
    loader: Loader<T>,
    cache: Option<Cache>,
    runtime: Option<tokio::runtime::Handle>,
    listeners: Listeners,
}

impl<T: Send + Sync + 'static> SnapshotBuilder<T> {
    /// Fires the snapshot's swaps as invalidation events of `cache`: its
    /// [`Cache::on_invalidate`] callbacks hear [`Cause::Snapshot`] and
    /// [`Cause::SnapshotUpdate`] with this snapshot's name. The snapshot keeps a handle to
    /// the cache.
    pub fn events(mut self, cache: &Cache) -> Self {
        self.cache = Some(cache.clone());
        self
    }

    /// Registers a callback run after every swap (see [`Snapshot::on_swap`]).
    pub fn on_swap<F>(self, callback: F) -> Self
    where
        F: Fn(&Invalidation) -> Result<(), CallbackError> + Send + Sync + 'static,
    {
        self.listeners.add(Arc::new(callback));
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
            shared: Arc::new(Shared {
                progress: ArcSwap::from_pointee(Progress::named(self.name.clone())),
                name: self.name,
                current: ArcSwap::from_pointee(initial),
                loader: self.loader,
                runtime: self.runtime,
                control: Mutex::new(Control {
                    in_flight: None,
                    pending: None,
                }),
                loading: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                last_error: Mutex::new(None),
                listeners: self.listeners,
                cache: self.cache,
            }),
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
        Ok(self.build_loaded(first_value(&name, value)?, progress))
    }

    /// [`SnapshotBuilder::load`] for synchronous callers: a blocking loader runs on the
    /// calling thread, an async one is driven by hoard's runtime.
    pub fn load_blocking(self) -> Result<Snapshot<T>, SnapshotError> {
        let name = self.name.clone();
        let progress = Progress::named(name.clone());
        let value = match &self.loader {
            Loader::Blocking(loader) => catch_unwind(AssertUnwindSafe(|| loader(&progress))),
            Loader::Async(loader) => {
                crate::runtime::block_on(AssertUnwindSafe(loader(progress.clone())).catch_unwind())
            }
        };
        Ok(self.build_loaded(first_value(&name, value)?, progress))
    }

    /// The snapshot of a first load, which keeps that load's progress readable.
    fn build_loaded(self, value: T, progress: Progress) -> Snapshot<T> {
        let snapshot = self.build_with(value);
        snapshot.shared.progress.store(Arc::new(progress));
        snapshot
    }
}

fn first_value<T>(
    name: &str,
    value: std::thread::Result<Result<T, LoadError>>,
) -> Result<T, SnapshotError> {
    match value {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(SnapshotError::Load {
            snapshot: name.to_owned(),
            source: Arc::from(error),
        }),
        Err(panic) => Err(SnapshotError::Panicked {
            snapshot: name.to_owned(),
            message: panic_message(&*panic),
        }),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// A value loaded by a user-supplied loader, read without locks, reloaded and updated by
/// atomic swaps. Cloning is cheap and clones share everything.
///
/// See the [module documentation](self) for reloads, partial updates and events.
pub struct Snapshot<T> {
    shared: Arc<Shared<T>>,
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

struct Shared<T> {
    name: Arc<str>,
    current: ArcSwap<T>,
    loader: Loader<T>,
    runtime: Option<tokio::runtime::Handle>,
    /// The writer mutex: the load in flight and the updates to re-apply to its value.
    /// Readers never take it.
    control: Mutex<Control<T>>,
    loading: AtomicBool,
    /// Swaps so far (reloads and updates).
    generation: AtomicU64,
    progress: ArcSwap<Progress>,
    last_error: Mutex<Option<SnapshotError>>,
    listeners: Listeners,
    cache: Option<Cache>,
}

struct Control<T> {
    /// Where the load in flight will publish its outcome; joiners subscribe here.
    in_flight: Option<watch::Receiver<Outcome<T>>>,
    /// Updates made since the load in flight began (`Some` exactly while one is).
    pending: Option<Vec<Update<T>>>,
}

fn lock<G>(mutex: &Mutex<G>) -> MutexGuard<'_, G> {
    // A panic in user code (an update) never leaves our own state half-written: the
    // fields are replaced whole, so the data behind a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T: Send + Sync + 'static> Snapshot<T> {
    /// A builder for a snapshot named `name` (used in logs and events) whose values come
    /// from `loader`, a blocking function. Reloads run it on a thread of their own.
    pub fn builder<F, E>(name: impl Into<String>, loader: F) -> SnapshotBuilder<T>
    where
        F: Fn(&Progress) -> Result<T, E> + Send + Sync + 'static,
        E: Into<LoadError>,
    {
        SnapshotBuilder {
            name: Arc::from(name.into()),
            loader: Loader::Blocking(Arc::new(move |progress: &Progress| {
                loader(progress).map_err(Into::into)
            })),
            cache: None,
            runtime: None,
            listeners: Listeners::default(),
        }
    }

    /// A builder whose loader is async. Reloads spawn it as a task (see
    /// [`SnapshotBuilder::runtime`]).
    pub fn builder_async<F, Fut, E>(name: impl Into<String>, loader: F) -> SnapshotBuilder<T>
    where
        F: Fn(Progress) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<LoadError>,
    {
        SnapshotBuilder {
            name: Arc::from(name.into()),
            loader: Loader::Async(Arc::new(move |progress: Progress| {
                loader(progress).map(|r| r.map_err(Into::into)).boxed()
            })),
            cache: None,
            runtime: None,
            listeners: Listeners::default(),
        }
    }

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
        self.shared.listeners.add(Arc::new(callback))
    }

    /// Removes a callback added with [`Snapshot::on_swap`]; false if it was not there.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.shared.listeners.remove(id)
    }

    /// Starts a full reload, or joins the one in flight, and returns at once.
    ///
    /// `.await` the handle (or [`ReloadHandle::wait_blocking`]) for the new value or the
    /// error; drop it to let the reload finish in the background. A reload joined while
    /// in flight does not start another: it may not see changes made to the source after
    /// that load began reading (use [`Snapshot::update`] for those).
    pub fn reload(&self) -> ReloadHandle<T> {
        let shared = &self.shared;
        let mut control = lock(&shared.control);
        if let Some(receiver) = &control.in_flight {
            return ReloadHandle {
                receiver: receiver.clone(),
                snapshot: shared.name.clone(),
            };
        }
        let (sender, receiver) = watch::channel(None);
        control.in_flight = Some(receiver.clone());
        control.pending = Some(Vec::new());
        shared.loading.store(true, Ordering::Release);
        let progress = Progress::named(shared.name.clone());
        shared.progress.store(Arc::new(progress.clone()));
        drop(control);

        let finisher = Finisher {
            shared: shared.clone(),
            sender: Some(sender),
        };
        match &shared.loader {
            Loader::Blocking(loader) => {
                let loader = loader.clone();
                // A plain thread rather than a runtime's blocking pool: no runtime needed,
                // and a long load holds no pool thread that other work waits for.
                let spawned = std::thread::Builder::new()
                    .name(format!("hoard-snapshot-{}", shared.name))
                    .spawn(move || {
                        let result = catch_unwind(AssertUnwindSafe(|| loader(&progress)));
                        finisher.finish(result);
                    });
                if let Err(error) = spawned {
                    // The closure (and so the finisher) was dropped: it published
                    // `Abandoned` already. Log why.
                    tracing::error!(snapshot = %shared.name, %error, "cannot start a snapshot load thread");
                }
            }
            Loader::Async(loader) => {
                let future = AssertUnwindSafe(loader(progress)).catch_unwind();
                let task = async move {
                    let result = future.await;
                    finisher.finish(result);
                };
                let runtime = shared
                    .runtime
                    .clone()
                    .or_else(|| tokio::runtime::Handle::try_current().ok())
                    .unwrap_or_else(crate::runtime::background);
                runtime.spawn(task);
            }
        }
        ReloadHandle {
            receiver,
            snapshot: shared.name.clone(),
        }
    }

    /// [`Snapshot::reload`] and wait for it, blocking this thread.
    pub fn reload_blocking(&self) -> Result<Arc<T>, SnapshotError> {
        self.reload().wait_blocking()
    }

    /// Swaps in `f(&current)`: a partial change (one item re-read or removed) without a
    /// full reload. Returns the new value.
    ///
    /// Updates are serialized with each other and with reload swaps. If a reload is in
    /// flight, `f` is kept and applied again to the reloaded value before it is swapped in
    /// (see the [module documentation](self): `f` must be idempotent with respect to the
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
        shared.fire(Cause::SnapshotUpdate(shared.name.to_string()));
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

impl<T> Shared<T> {
    fn fire(&self, cause: Cause) {
        if !self.listeners.is_empty() {
            self.listeners.emit(&Invalidation {
                cause: cause.clone(),
                keys: Vec::new(),
                count: 0,
                origin: Origin::Local,
            });
        }
        if let Some(cache) = &self.cache {
            cache.emit(cause, Vec::new(), 0);
        }
    }
}

/// Publishes a load's outcome exactly once: from [`Finisher::finish`], or from `Drop` if
/// the load never got there (its thread could not start, its runtime shut down), so a
/// reload never stays "in flight" forever.
struct Finisher<T> {
    shared: Arc<Shared<T>>,
    sender: Option<watch::Sender<Outcome<T>>>,
}

impl<T> Finisher<T> {
    fn finish(mut self, result: std::thread::Result<Result<T, LoadError>>) {
        let Some(sender) = self.sender.take() else {
            return;
        };
        let shared = &self.shared;
        let name = &shared.name;
        let mut control = lock(&shared.control);
        let pending = control.pending.take().unwrap_or_default();
        let outcome = match first_value(name, result) {
            Ok(mut value) => {
                // Updates made during the load, in order, on top of what it read.
                for update in &pending {
                    match catch_unwind(AssertUnwindSafe(|| update(&value))) {
                        Ok(next) => value = next,
                        Err(panic) => tracing::error!(
                            snapshot = %name,
                            panic = panic_message(&*panic),
                            "an update panicked when re-applied after a reload; skipped"
                        ),
                    }
                }
                let value = Arc::new(value);
                shared.current.store(value.clone());
                shared.generation.fetch_add(1, Ordering::AcqRel);
                *lock(&shared.last_error) = None;
                Ok(value)
            }
            Err(error) => {
                tracing::warn!(snapshot = %name, %error, "snapshot reload failed; keeping the old value");
                *lock(&shared.last_error) = Some(error.clone());
                Err(error)
            }
        };
        control.in_flight = None;
        shared.loading.store(false, Ordering::Release);
        drop(control);
        let (done, total) = shared.progress.load().get();
        if outcome.is_ok() {
            tracing::info!(snapshot = %name, done, total, "snapshot reloaded");
            shared.fire(Cause::Snapshot(name.to_string()));
        }
        // Waiters wake after the callbacks ran, so "reload returned" implies "callbacks
        // heard it".
        sender.send_replace(Some(outcome));
    }
}

impl<T> Drop for Finisher<T> {
    fn drop(&mut self) {
        if self.sender.is_some() {
            let snapshot = self.shared.name.to_string();
            let reason =
                "the load was dropped before it finished (thread not started or runtime shut down)"
                    .to_owned();
            let sender = self.sender.take();
            let finisher = Finisher {
                shared: self.shared.clone(),
                sender,
            };
            finisher.finish_error(SnapshotError::Abandoned { snapshot, reason });
        }
    }
}

impl<T> Finisher<T> {
    fn finish_error(mut self, error: SnapshotError) {
        let Some(sender) = self.sender.take() else {
            return;
        };
        let shared = &self.shared;
        let mut control = lock(&shared.control);
        control.pending = None;
        control.in_flight = None;
        shared.loading.store(false, Ordering::Release);
        *lock(&shared.last_error) = Some(error.clone());
        drop(control);
        tracing::warn!(snapshot = %shared.name, %error, "snapshot reload failed; keeping the old value");
        sender.send_replace(Some(Err(error)));
    }
}

/// A reload in flight. `.await` it (or [`ReloadHandle::wait`]) for the new value, block on
/// it with [`ReloadHandle::wait_blocking`], or drop it: the reload goes on either way.
#[must_use = "a dropped handle lets the reload run in the background; await it to see its outcome"]
pub struct ReloadHandle<T> {
    receiver: watch::Receiver<Outcome<T>>,
    snapshot: Arc<str>,
}

impl<T> std::fmt::Debug for ReloadHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadHandle")
            .field("snapshot", &self.snapshot)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> ReloadHandle<T> {
    /// Whether the reload has finished (either way).
    pub fn is_finished(&self) -> bool {
        self.receiver.borrow().is_some()
    }
}

impl<T: Send + Sync + 'static> ReloadHandle<T> {
    /// Waits for the reload: the value it swapped in (updates made meanwhile included), or
    /// its error (the old value stayed).
    pub async fn wait(mut self) -> Result<Arc<T>, SnapshotError> {
        let abandoned = |snapshot: &str| SnapshotError::Abandoned {
            snapshot: snapshot.to_owned(),
            reason: "the load ended without an outcome".into(),
        };
        match self.receiver.wait_for(Option::is_some).await {
            Ok(outcome) => match &*outcome {
                Some(result) => result.clone(),
                None => Err(abandoned(&self.snapshot)),
            },
            Err(_) => Err(abandoned(&self.snapshot)),
        }
    }

    /// [`ReloadHandle::wait`], blocking this thread (do not call it on an async runtime's
    /// worker).
    pub fn wait_blocking(self) -> Result<Arc<T>, SnapshotError> {
        futures_executor::block_on(self.wait())
    }
}

impl<T: Send + Sync + 'static> IntoFuture for ReloadHandle<T> {
    type Output = Result<Arc<T>, SnapshotError>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        self.wait().boxed()
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

//! Full reloads: [`Snapshot::reload`] starts one (or joins the one in flight), the
//! `Finisher` swaps its value in with the updates made meanwhile and publishes the outcome
//! exactly once, and a [`ReloadHandle`] waits for it.

use crate::error::{LoadError, SnapshotError};
use crate::loader::{loaded_value, panic_message, Loader};
use crate::progress::Progress;
use crate::snapshot::{lock, Outcome, Shared, Snapshot};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use hoard_events::Cause;
use std::future::IntoFuture;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;

impl<T: Send + Sync + 'static> Snapshot<T> {
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
                    .unwrap_or_else(hoard_runtime::background);
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
        let outcome = match loaded_value(name, result) {
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
            shared.events.fire(Cause::Snapshot(name.to_string()));
        }
        // Waiters wake after the callbacks ran, so "reload returned" implies "callbacks
        // heard it".
        sender.send_replace(Some(outcome));
    }

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

//! Invalidation events: why cache entries were invalidated (a delete, a pattern, a
//! namespace clear, a tag, a dependency, an overwrite, a snapshot swap), and [`Listeners`],
//! the registry of callbacks that hear them.
//!
//! hoard's `Cache` keeps one registry (its `on_invalidate` callbacks hear what was
//! invalidated here or, through Redis, in another process), and so does every
//! `hoard::Snapshot` (its `on_swap` callbacks hear its swaps). The types live in a crate
//! of their own so that both can share them without one depending on the other. The
//! read-mostly catalogue an image-tagging service reloads from its database uses them to
//! tell dependent caches to drop what they derived from the old data.
//!
//! Callbacks run synchronously on the thread that caused (or received) the invalidation,
//! in registration order. One that returns an error or panics is logged and skipped; the
//! others still run. Keep them short: hand heavy work to a task or channel.
//!
//! # Example
//! ```
//! use hoard_events::{Cause, Invalidation, Listeners, Origin};
//! use std::sync::{Arc, Mutex};
//!
//! let listeners = Listeners::default();
//! let heard = Arc::new(Mutex::new(Vec::new()));
//! let sink = heard.clone();
//! listeners.add(Arc::new(move |event: &Invalidation| {
//!     sink.lock().map_err(|_| "poisoned")?.push(event.cause.clone());
//!     Ok(())
//! }));
//! listeners.emit(&Invalidation {
//!     cause: Cause::Tag("model:abc-123".into()),
//!     keys: vec!["model:metrics:abc-123".into()],
//!     count: 1,
//!     origin: Origin::Local,
//! });
//! assert_eq!(*heard.lock().unwrap(), [Cause::Tag("model:abc-123".into())]);
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

/// Why entries were invalidated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// `delete` of one key.
    Delete,
    /// `delete_pattern` with this glob.
    Pattern(String),
    /// `clear_namespace` of this namespace.
    Namespace(String),
    /// `clear_all`.
    All,
    /// `invalidate_tags`: entries carrying this tag.
    Tag(String),
    /// Entries that depended on this key, which was deleted or overwritten.
    Dependency(String),
    /// An entry was overwritten (reported to other processes, whose copy is now stale).
    Overwrite,
    /// The snapshot (`hoard::Snapshot`) of this name swapped in a fully reloaded value.
    /// Never heard from other processes: snapshots are per process.
    Snapshot(String),
    /// The snapshot (`hoard::Snapshot`) of this name swapped in a partial update
    /// (`Snapshot::update`).
    SnapshotUpdate(String),
}

/// Where the invalidation happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// In this process.
    Local,
    /// In another process sharing the Redis, heard through pub/sub.
    Remote,
}

/// One invalidation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation {
    /// Why.
    pub cause: Cause,
    /// The full keys (`{namespace}:{key}`) invalidated, where they are known one by one;
    /// empty for pattern, namespace and clear-all invalidations.
    pub keys: Vec<String>,
    /// How many entries went, where known (for remote events: 0).
    pub count: u64,
    /// Here or elsewhere.
    pub origin: Origin,
}

/// The error a callback may return.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

/// A registered callback.
pub type Callback = Arc<dyn Fn(&Invalidation) -> Result<(), CallbackError> + Send + Sync>;

/// Identifies a registered callback, to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

/// The callbacks of one cache or one snapshot.
#[derive(Default)]
pub struct Listeners {
    callbacks: Arc<RwLock<Vec<(ListenerId, Callback)>>>,
    next: AtomicU64,
    /// Feeds the thread that runs callbacks for events heard from other processes.
    background: std::sync::Mutex<Option<std::sync::mpsc::Sender<Invalidation>>>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let callbacks = self.callbacks.read().map_or(0, |c| c.len());
        f.debug_struct("Listeners")
            .field("callbacks", &callbacks)
            .finish_non_exhaustive()
    }
}

impl Listeners {
    /// Registers `callback`; the id removes it again.
    pub fn add(&self, callback: Callback) -> ListenerId {
        let id = ListenerId(self.next.fetch_add(1, Relaxed));
        self.callbacks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, callback));
        id
    }

    /// Removes the callback registered as `id`; false if it was not there.
    pub fn remove(&self, id: ListenerId) -> bool {
        let mut callbacks = self.callbacks.write().unwrap_or_else(|p| p.into_inner());
        let before = callbacks.len();
        callbacks.retain(|(i, _)| *i != id);
        callbacks.len() != before
    }

    /// Whether no callback is registered (callers skip building an event nobody hears).
    pub fn is_empty(&self) -> bool {
        self.callbacks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Runs every callback; failures and panics are logged, never propagated.
    pub fn emit(&self, event: &Invalidation) {
        run_callbacks(&self.callbacks, event);
    }

    /// Like [`Listeners::emit`], on a thread of its own (started on first use), so the
    /// caller never waits for the callbacks. Events keep their order.
    pub fn emit_in_background(&self, event: Invalidation) {
        let mut background = self.background.lock().unwrap_or_else(|p| p.into_inner());
        if background.is_none() {
            let (sender, receiver) = std::sync::mpsc::channel::<Invalidation>();
            let callbacks = Arc::downgrade(&self.callbacks);
            let spawned = std::thread::Builder::new()
                .name("hoard-events".into())
                .spawn(move || {
                    // Ends when the registry (and so the sender) is dropped.
                    while let Ok(event) = receiver.recv() {
                        let Some(callbacks) = callbacks.upgrade() else {
                            return;
                        };
                        run_callbacks(&callbacks, &event);
                    }
                });
            match spawned {
                Ok(_) => *background = Some(sender),
                Err(error) => {
                    tracing::error!(%error, "cannot start the event thread; running callbacks inline");
                    drop(background);
                    self.emit(&event);
                    return;
                }
            }
        }
        if let Some(sender) = background.as_ref() {
            let _ = sender.send(event);
        }
    }
}

fn run_callbacks(callbacks: &RwLock<Vec<(ListenerId, Callback)>>, event: &Invalidation) {
    // Clone the list so a callback may register or remove callbacks without deadlock.
    let callbacks: Vec<(ListenerId, Callback)> =
        callbacks.read().unwrap_or_else(|p| p.into_inner()).clone();
    for (id, callback) in callbacks {
        match catch_unwind(AssertUnwindSafe(|| callback(event))) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(listener = id.0, %error, cause = ?event.cause, "invalidation callback failed")
            }
            Err(_) => {
                tracing::error!(listener = id.0, cause = ?event.cause, "invalidation callback panicked")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn event() -> Invalidation {
        Invalidation {
            cause: Cause::Tag("model:abc-123".into()),
            keys: vec!["model:metrics:abc-123".into()],
            count: 1,
            origin: Origin::Local,
        }
    }

    #[test]
    fn a_failing_or_panicking_callback_does_not_stop_the_others() {
        let listeners = Listeners::default();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = heard.clone();
        listeners.add(Arc::new(move |_| Err("catalogue reload failed".into())));
        listeners.add(Arc::new(|_| panic!("callback bug")));
        listeners.add(Arc::new(move |e| {
            h.lock().unwrap().push(e.cause.clone());
            Ok(())
        }));
        listeners.emit(&event());
        listeners.emit(&event());
        assert_eq!(
            heard.lock().unwrap().len(),
            2,
            "the last callback ran both times"
        );
    }

    #[test]
    fn callbacks_can_be_removed() {
        let listeners = Listeners::default();
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let id = listeners.add(Arc::new(move |_| {
            c.fetch_add(1, Relaxed);
            Ok(())
        }));
        listeners.emit(&event());
        assert!(listeners.remove(id));
        assert!(!listeners.remove(id));
        listeners.emit(&event());
        assert_eq!(count.load(Relaxed), 1);
        assert!(listeners.is_empty());
    }
}

/// What another process invalidated (or what happened to our view of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// These full keys were overwritten elsewhere.
    Overwritten(Vec<String>),
    /// These full keys were deleted elsewhere.
    Deleted(Vec<String>),
    /// Every key matching this glob was deleted.
    Pattern(String),
    /// Every key starting with this prefix was deleted.
    Prefix(String),
    /// Everything was deleted.
    All,
    /// This namespace moved to this generation (cleared): older entries are gone.
    Generation(String, u32),
    /// The listener is subscribed: from now on, invalidations are heard.
    Connected,
    /// The listener lost its connection: invalidations may have been missed.
    Lost,
}

/// Receives [`Remote`] events from a tier's invalidation channel
/// ([`crate::store::Invalidations`]).
pub type RemoteHandler = Arc<dyn Fn(Remote) + Send + Sync>;

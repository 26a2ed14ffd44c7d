//! Invalidation listeners, and other processes' invalidations applied to this L1.

use super::{Cache, Inner};
use crate::events::{Cause, Invalidation, ListenerId, Origin};
use crate::glob::Glob;
use crate::key::SEPARATOR;
use crate::store::Remote;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

impl Cache {
    /// Runs the invalidation callbacks on this thread (also for snapshots attached to
    /// this cache).
    pub(crate) fn emit(&self, cause: Cause, keys: Vec<String>, count: u64) {
        let listeners = &self.inner.listeners;
        if listeners.is_empty() {
            return;
        }
        listeners.emit(&Invalidation {
            cause,
            keys,
            count,
            origin: Origin::Local,
        });
    }

    /// Calls `callback` on every invalidation: deletes, pattern and namespace clears, tag
    /// and dependency invalidations, here or (with Redis) in other processes, and swaps of
    /// [`Snapshot`](crate::Snapshot)s attached to this cache ([`Cause::Snapshot`],
    /// [`Cause::SnapshotUpdate`]). A callback
    /// that fails or panics is logged and the others still run.
    pub fn on_invalidate<F>(&self, callback: F) -> ListenerId
    where
        F: Fn(&Invalidation) -> std::result::Result<(), crate::events::CallbackError>
            + Send
            + Sync
            + 'static,
    {
        self.inner.listeners.add(Arc::new(callback))
    }

    /// Removes a callback; false if it was not registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.inner.listeners.remove(id)
    }

    /// Whether L1 is coherent with a shared L2: always without Redis; with Redis, while the
    /// invalidation listener is subscribed.
    pub fn is_coherent(&self) -> bool {
        self.inner.l1_trusted.load(SeqCst)
    }

    /// Waits up to `within` for [`Cache::is_coherent`]; returns whether it became so.
    pub async fn wait_coherent(&self, within: Duration) -> bool {
        let began = std::time::Instant::now();
        while !self.is_coherent() {
            if began.elapsed() >= within {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Subscribes to other processes' invalidations when L2 is shared.
    pub(super) fn start_listening(&self) {
        let Some(channel) = self.inner.l2.clone().and_then(|l2| l2.as_invalidations()) else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        // Until subscribed, L1 must not take copies it could not hear about.
        self.inner.l1_trusted.store(false, SeqCst);
        let listening = channel.listen(Arc::new(move |remote| {
            if let Some(inner) = weak.upgrade() {
                Cache { inner }.apply_remote(remote);
            }
        }));
        if !listening {
            self.inner.l1_trusted.store(true, SeqCst);
        }
    }

    /// Applies another process's invalidation (or a change in our view of them) to L1.
    pub(super) fn apply_remote(&self, remote: Remote) {
        let inner = &*self.inner;
        let (cause, keys) = match remote {
            Remote::Overwritten(keys) | Remote::Deleted(keys) if keys.is_empty() => return,
            Remote::Overwritten(keys) => {
                Self::drop_l1_keys(inner, &keys);
                (Cause::Overwrite, keys)
            }
            Remote::Deleted(keys) => {
                Self::drop_l1_keys(inner, &keys);
                (Cause::Delete, keys)
            }
            Remote::Pattern(pattern) => {
                inner.epochs.bump_clears();
                match Glob::new(&pattern) {
                    Ok(glob) => {
                        inner.l1.delete_matching_now(&glob);
                    }
                    Err(_) => {
                        inner.l1.clear_now();
                    }
                }
                (Cause::Pattern(pattern), Vec::new())
            }
            Remote::Prefix(prefix) => {
                inner.epochs.bump_clears();
                inner.l1.delete_prefix_now(&prefix);
                let namespace = prefix.strip_suffix(SEPARATOR).unwrap_or(&prefix).to_owned();
                (Cause::Namespace(namespace), Vec::new())
            }
            Remote::All => {
                inner.epochs.bump_clears();
                inner.l1.clear_now();
                (Cause::All, Vec::new())
            }
            Remote::Generation(namespace, generation) => {
                let _ = self.note_generation(&namespace, generation);
                inner.epochs.bump_clears();
                inner
                    .l1
                    .delete_prefix_now(&format!("{namespace}{SEPARATOR}"));
                (Cause::Namespace(namespace), Vec::new())
            }
            Remote::Connected => {
                // Whatever was missed while not subscribed is gone from L1 with this flush,
                // and generations are re-read.
                inner
                    .generations
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                inner.epochs.bump_clears();
                inner.l1.clear_now();
                inner.l1_trusted.store(true, SeqCst);
                return;
            }
            Remote::Lost => {
                inner.l1_trusted.store(false, SeqCst);
                inner.epochs.bump_clears();
                inner.l1.clear_now();
                return;
            }
        };
        if !inner.listeners.is_empty() {
            // Not on the listener's thread: a slow or blocking callback must not stall it.
            inner.listeners.emit_in_background(Invalidation {
                cause,
                keys,
                count: 0,
                origin: Origin::Remote,
            });
        }
    }

    pub(super) fn drop_l1_keys(inner: &Inner, keys: &[String]) {
        for key in keys {
            inner.epochs.bump(key);
            inner.l1.delete_now(key);
        }
    }
}

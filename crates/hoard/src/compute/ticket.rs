//! [`Begun`] and [`ComputeTicket`]: get-or-compute split in two, for callers whose
//! computation is not a Rust future.

use super::{error_key, release, ComputeOptions};
use crate::cache::{Cache, L2Down, SetOptions};
use crate::entry::Entry;
use crate::flight::{Leader, Outcome};
use crate::lock::LockGuard;
use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

/// What [`Cache::begin_compute`] found for a key: a value to serve, or the duty to compute.
///
/// The split form of [`Cache::try_get_or_compute`], for callers whose computation is not a
/// Rust future (bindings to other languages): begin, compute however you like, then hand
/// the encoded value to [`ComputeTicket::store`] or the error to [`ComputeTicket::fail`].
/// Single-flight, leases, early refresh and adaptive TTLs work as in `get_or_compute`.
#[must_use]
pub enum Begun {
    /// A stored value: a hit, or what another caller or process just computed.
    Value(Entry),
    /// This caller computes; the others wait for its ticket.
    Compute(Box<ComputeTicket>),
    /// The caller this one waited on failed with this error (an `Arc<E>` of its error
    /// type, shared by every waiter).
    Failed(Arc<dyn Any + Send + Sync>),
    /// A computation failed recently and its message is cached
    /// ([`ComputeOptions::cache_errors`]).
    CachedError(String),
}

/// The duty to compute one key, held by the one caller that computes it.
///
/// Dropping a ticket without [`ComputeTicket::store`] or [`ComputeTicket::fail`] (a panic,
/// a cancelled task) lets the waiters go: one of them computes instead.
#[must_use = "a dropped ticket abandons the computation"]
pub struct ComputeTicket {
    pub(super) cache: Cache,
    pub(super) namespace: String,
    pub(super) key: String,
    pub(super) full: String,
    pub(super) options: ComputeOptions,
    pub(super) leader: Leader,
    pub(super) lease: Option<LockGuard>,
    pub(super) started: Instant,
}

impl std::fmt::Debug for ComputeTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeTicket")
            .field("key", &self.full)
            .field("lease", &self.lease.is_some())
            .finish_non_exhaustive()
    }
}

impl ComputeTicket {
    /// Stores the computed value (already encoded, as [`codec::encode`] does) and hands it
    /// to the waiters. The entry records the time since the ticket was issued as its
    /// compute time. Returns the stored entry, or `None` if storing failed (logged; the
    /// waiters then compute for themselves): a computed value is never lost to its caller.
    pub async fn store(self, value: bytes::Bytes) -> Option<Entry> {
        let took = self.started.elapsed();
        let cache = &self.cache;
        let ttl = cache.ttl_for(&self.full, &self.options);
        let set = SetOptions::new()
            .ttl(ttl)
            .compute_time(took)
            .tags(self.options.tags.iter().cloned());
        let stored = match cache.entry_for(value, &set) {
            Ok(entry) => match cache
                .write_entries(
                    &self.namespace,
                    vec![(self.full.clone(), entry.clone())],
                    &set,
                    L2Down::KeepInL1,
                )
                .await
            {
                Ok(()) => Some(entry),
                Err(error) => {
                    tracing::warn!(key = self.full, %error, "computed value not stored");
                    None
                }
            },
            Err(error) => {
                tracing::warn!(key = self.full, %error, "computed value cannot be stored");
                None
            }
        };
        release(self.lease).await;
        match &stored {
            Some(entry) => self.leader.finish(Outcome::Value(entry.clone())),
            // Waiters compute for themselves rather than wait on nothing.
            None => self.leader.finish(Outcome::Abandoned),
        }
        stored
    }

    /// Reports that the computation failed: the waiters get `error` (unless
    /// [`ComputeOptions::share_errors`] is off: then they compute themselves), and its
    /// message is cached if [`ComputeOptions::cache_errors`] says so.
    pub async fn fail<E>(self, error: Arc<E>)
    where
        E: std::fmt::Display + Send + Sync + 'static,
    {
        if let Some(ttl) = self.options.cache_errors {
            let message = error.to_string();
            let set = SetOptions::new().ttl(ttl);
            if let Err(e) = self
                .cache
                .set_with(&self.namespace, &error_key(&self.key), &message, set)
                .await
            {
                tracing::warn!(key = self.full, error = %e, "could not cache a computation error");
            }
        }
        release(self.lease).await;
        if self.options.share_errors {
            self.leader.finish(Outcome::Failed(error));
        } else {
            self.leader.finish(Outcome::Abandoned);
        }
    }
}

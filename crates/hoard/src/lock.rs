//! Leases: named locks that expire, for saving duplicate work across callers.
//!
//! On Redis (what a hand-written `distributed_lock.py` over `SET NX` tries to be, done carefully) a lease is
//! `SET {prefix}:lock:{name} {token} NX PX {lease}`: only one holder at a time, each with a
//! random token. Release and renewal run as scripts that act only if the token still
//! matches, so a holder whose lease ran out can never release or extend someone else's.
//! A [`LockGuard`] renews its lease in the background (every third of the lease) while
//! the holder works; if the holder dies, renewal stops and the lease expires on its own.
//! On the embedded backends the same API is a process-local table with the same lease
//! semantics.
//!
//! **What it guarantees, and what not.** A lease saves duplicate work: while it is held and
//! renewed, other callers asking for it are refused. It is *not* a correctness lock:
//! a holder paused longer than its lease (GC, swap, a stopped VM) or cut off from Redis
//! may still be working when another caller gets the lease, and a Redis failover can lose
//! a lease that was just granted. Do not use it to protect data that two writers must
//! never touch at once; use it to keep N processes from computing the same thing N times.

use crate::entry::now_ms;
use crate::error::Result;
use crate::store::Leases;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A process-local lease table: the lock backend when L2 cannot hold leases itself.
#[derive(Default)]
pub(crate) struct LocalLocks {
    held: Mutex<HashMap<String, (String, u64)>>,
}

impl LocalLocks {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, u64)>> {
        // Entries are replaced whole; a panic elsewhere cannot leave one half-written.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn try_lock(&self, name: &str, token: &str, lease: Duration) -> bool {
        let now = now_ms();
        let mut held = self.table();
        match held.get(name) {
            Some((_, until)) if *until > now => false,
            _ => {
                held.insert(name.to_owned(), (token.to_owned(), now + millis(lease)));
                true
            }
        }
    }

    pub(crate) fn renew(&self, name: &str, token: &str, lease: Duration) -> bool {
        let now = now_ms();
        match self.table().get_mut(name) {
            Some((holder, until)) if holder == token && *until > now => {
                *until = now + millis(lease);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn unlock(&self, name: &str, token: &str) -> bool {
        let mut held = self.table();
        match held.get(name) {
            Some((holder, until)) if holder == token => {
                let live = *until > now_ms();
                held.remove(name);
                live
            }
            _ => false,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Where a lease lives.
#[derive(Clone)]
pub(crate) enum LockBackend {
    /// In L2 (Redis): shared by every process using it.
    Shared(Arc<dyn Leases>),
    /// In this process only.
    Local(Arc<LocalLocks>),
}

impl LockBackend {
    pub(crate) async fn try_lock(&self, name: &str, token: &str, lease: Duration) -> Result<bool> {
        match self {
            LockBackend::Shared(store) => store.try_lock(name, token, lease).await,
            LockBackend::Local(local) => Ok(local.try_lock(name, token, lease)),
        }
    }

    async fn renew(&self, name: &str, token: &str, lease: Duration) -> Result<bool> {
        match self {
            LockBackend::Shared(store) => store.renew_lock(name, token, lease).await,
            LockBackend::Local(local) => Ok(local.renew(name, token, lease)),
        }
    }

    async fn unlock(&self, name: &str, token: &str) -> Result<bool> {
        match self {
            LockBackend::Shared(store) => store.unlock(name, token).await,
            LockBackend::Local(local) => Ok(local.unlock(name, token)),
        }
    }

    /// Whether leases here are seen by other processes.
    pub(crate) fn is_distributed(&self) -> bool {
        matches!(self, LockBackend::Shared(_))
    }
}

/// A random token naming one holder.
pub(crate) fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A held lease. Renewed in the background while it lives; released by
/// [`LockGuard::release`] or, failing that, when dropped.
pub struct LockGuard {
    backend: LockBackend,
    name: String,
    token: String,
    renewal: Option<tokio::task::JoinHandle<()>>,
    released: bool,
}

impl LockGuard {
    /// Takes the lease `name` if nobody holds it; `None` if somebody does.
    pub(crate) async fn try_acquire(
        backend: LockBackend,
        name: &str,
        lease: Duration,
    ) -> Result<Option<LockGuard>> {
        let token = new_token();
        if !backend.try_lock(name, &token, lease).await? {
            return Ok(None);
        }
        let renewal = tokio::spawn(renew_forever(
            backend.clone(),
            name.to_owned(),
            token.clone(),
            lease,
        ));
        Ok(Some(LockGuard {
            backend,
            name: name.to_owned(),
            token,
            renewal: Some(renewal),
            released: false,
        }))
    }

    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether other processes see this lease (Redis), or only this one (embedded).
    pub fn is_distributed(&self) -> bool {
        self.backend.is_distributed()
    }

    /// Gives the lease back; `false` if it had already expired (or been taken over).
    pub async fn release(mut self) -> Result<bool> {
        self.stop_renewal();
        self.released = true;
        self.backend.unlock(&self.name, &self.token).await
    }

    fn stop_renewal(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop_renewal();
        if self.released {
            return;
        }
        // Dropped without `release` (an error path, a panic, a cancelled future): give the
        // lease back in the background if a runtime is there, else let it expire.
        let (backend, name, token) = (self.backend.clone(), self.name.clone(), self.token.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = backend.unlock(&name, &token).await;
            });
        }
    }
}

async fn renew_forever(backend: LockBackend, name: String, token: String, lease: Duration) {
    let every = (lease / 3).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(every).await;
        match backend.renew(&name, &token, lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(lock = %name, "lease lost before renewal (expired or taken over)");
                return;
            }
            // Keep trying: the lease may still be ours once the server answers again.
            Err(error) => tracing::warn!(lock = %name, %error, "lease renewal failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_leases_exclude_expire_and_check_tokens() {
        let locks = LocalLocks::default();
        assert!(locks.try_lock("job", "a", Duration::from_millis(50)));
        assert!(
            !locks.try_lock("job", "b", Duration::from_millis(50)),
            "held"
        );
        assert!(!locks.unlock("job", "b"), "only the holder releases");
        assert!(
            !locks.renew("job", "b", Duration::from_secs(1)),
            "only the holder renews"
        );
        std::thread::sleep(Duration::from_millis(70));
        assert!(
            locks.try_lock("job", "b", Duration::from_secs(1)),
            "expired: taken over"
        );
        assert!(
            !locks.renew("job", "a", Duration::from_secs(1)),
            "the old holder lost it"
        );
        assert!(locks.unlock("job", "b"));
        assert!(locks.try_lock("job", "c", Duration::from_secs(1)));
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(new_token(), new_token());
        assert_eq!(new_token().len(), 32);
    }
}

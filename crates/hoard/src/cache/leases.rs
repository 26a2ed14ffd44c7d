//! Leases: where they live and how a caller takes one.

use super::Cache;
use crate::error::Result;
use crate::lock::{LockBackend, LockGuard};
use std::time::Duration;

impl Cache {
    /// Where leases live: L2 if it can hold them (Redis), else this process.
    pub(crate) fn lock_backend(&self) -> Option<LockBackend> {
        let shared = self.inner.l2.as_ref().and_then(|l2| l2.clone().as_leases());
        Some(match shared {
            Some(leases) => LockBackend::Shared(leases),
            None => LockBackend::Local(self.inner.local_locks.clone()),
        })
    }

    /// Takes the lease `name` for `lease` if nobody holds it; `None` if somebody does.
    ///
    /// On Redis the lease is seen by every process sharing it; otherwise by this process
    /// only. The guard renews the lease while it lives. See [`crate::lock`] for what a
    /// lease does and does not guarantee.
    pub async fn lock(&self, name: &str, lease: Duration) -> Result<Option<LockGuard>> {
        crate::key::validate_key(name)?;
        let Some(backend) = self.lock_backend() else {
            return Ok(None);
        };
        LockGuard::try_acquire(backend, name, lease).await
    }

    /// Like [`Cache::lock`], retrying until the lease is free or `wait` has passed.
    pub async fn lock_wait(
        &self,
        name: &str,
        lease: Duration,
        wait: Duration,
    ) -> Result<Option<LockGuard>> {
        let began = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(guard) = self.lock(name, lease).await? {
                return Ok(Some(guard));
            }
            if began.elapsed() >= wait {
                return Ok(None);
            }
            tokio::time::sleep(pause.min(wait.saturating_sub(began.elapsed()))).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

//! A [`Snapshot`](crate::Snapshot) built with `.events(&cache)` reports its swaps to that
//! cache: the cache's `on_invalidate` callbacks hear [`Cause::Snapshot`] after a reload and
//! [`Cause::SnapshotUpdate`] after an update, beside the cache's own invalidations, so
//! whatever was derived from the old value is dropped in one place.

use crate::cache::Cache;
use crate::events::Cause;

impl hoard_snapshot::SwapListener for Cache {
    fn swapped(&self, cause: Cause) {
        // A swap invalidates no entry by itself: no keys, no count.
        self.emit(cause, Vec::new(), 0);
    }
}

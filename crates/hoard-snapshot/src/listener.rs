//! Who hears a snapshot's swaps: its own `on_swap` callbacks and, when one is attached
//! ([`SnapshotBuilder::events`](crate::SnapshotBuilder::events)), a [`SwapListener`] such
//! as hoard's `Cache`, whose invalidation callbacks then hear them too.

use hoard_events::{Cause, Invalidation, Listeners, Origin};
use std::sync::Arc;

/// Something besides a snapshot's own callbacks that hears its swaps.
///
/// hoard's `Cache` is one: attached with `.events(&cache)`, a snapshot's swaps reach the
/// cache's `on_invalidate` callbacks, so what was derived from the old value (cached
/// answers, counts) can be dropped in the same place as any other invalidation.
pub trait SwapListener: Send + Sync + 'static {
    /// Called after every swap, on the thread that swapped, after the snapshot's own
    /// callbacks: [`Cause::Snapshot`] with the snapshot's name for a full reload,
    /// [`Cause::SnapshotUpdate`] for a partial update.
    fn swapped(&self, cause: Cause);
}

/// The two audiences of a snapshot's swaps.
#[derive(Default)]
pub(crate) struct SwapEvents {
    /// The snapshot's own callbacks ([`Snapshot::on_swap`](crate::Snapshot::on_swap)).
    pub(crate) callbacks: Listeners,
    /// The cache (or other listener) the snapshot was attached to.
    pub(crate) attached: Option<Arc<dyn SwapListener>>,
}

impl SwapEvents {
    /// Tells both audiences about one swap.
    pub(crate) fn fire(&self, cause: Cause) {
        if !self.callbacks.is_empty() {
            self.callbacks.emit(&Invalidation {
                cause: cause.clone(),
                keys: Vec::new(),
                count: 0,
                origin: Origin::Local,
            });
        }
        if let Some(attached) = &self.attached {
            attached.swapped(cause);
        }
    }
}

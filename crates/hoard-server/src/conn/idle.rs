//! The admitted connections that have no request in progress, longest idle first: the ones
//! a newcomer past the cap may close to take their place.
//!
//! Each connection has a [`Slot`]: its state in one atomic word (flags, and how many times it
//! has become idle), its permit of the cap, and the signal that tells it to close. Each time a
//! connection becomes idle it appends one entry, `(slot, state word)`, to a FIFO queue. The
//! entry stays valid only while the word is unchanged: any change (a byte of the next head, a
//! blocked write, becoming idle again) bumps or alters the word, and the entry is then skipped
//! when it comes up, or dropped when the queue is compacted. So taking the longest idle
//! connection pops a few entries instead of scanning every connection, and a request costs one
//! short push under the queue's lock, when its connection goes idle again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use tokio::sync::{Notify, OwnedSemaphorePermit};

/// Hyper waits for a request head and no byte of it has come.
const HEAD: u64 = 1;
/// A write waits for the client to read: a response is still going out.
const BLOCKED: u64 = 2;
/// Told to close to make room; never idle again.
const EVICTED: u64 = 4;
const FLAGS: u64 = HEAD | BLOCKED | EVICTED;
/// The count of idle periods, above the flags: it makes each period's word unique.
const PERIOD: u64 = FLAGS + 1;

/// Idle: waiting for a head with nothing of it read and nothing left to send.
fn is_idle(word: u64) -> bool {
    word & FLAGS == HEAD
}

/// The word after setting then clearing flags in `old`: a new period if it becomes idle.
fn next(old: u64, set: u64, clear: u64) -> u64 {
    let new = (old | set) & !clear;
    if is_idle(new) && !is_idle(old) {
        new.wrapping_add(PERIOD)
    } else {
        new
    }
}

/// The queue of idle connections, oldest first.
pub(super) struct Idle {
    queue: Mutex<VecDeque<(Weak<Slot>, u64)>>,
    /// Past this length the queue drops its stale entries. At most one entry per connection
    /// is valid, so twice the cap leaves at least as many pushes between two compactions as
    /// a compaction looks at.
    compact_at: usize,
}

impl Idle {
    pub(super) fn new(max_connections: usize) -> Arc<Idle> {
        Arc::new(Idle {
            queue: Mutex::new(VecDeque::new()),
            compact_at: max_connections.saturating_mul(2).saturating_add(64),
        })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<(Weak<Slot>, u64)>> {
        // Nothing panics while holding it; a poisoned queue is still a valid queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, slot: Weak<Slot>, word: u64) {
        let mut queue = self.lock();
        if queue.len() >= self.compact_at {
            queue.retain(|(slot, word)| slot.upgrade().is_some_and(|slot| slot.word() == *word));
        }
        queue.push_back((slot, word));
    }

    /// Tells the connection idle the longest to close and returns its permit, for a
    /// newcomer to take its place; `None` when every connection has a request in progress.
    pub(super) fn evict(&self) -> Option<OwnedSemaphorePermit> {
        loop {
            let (slot, word) = self.lock().pop_front()?;
            let Some(slot) = slot.upgrade() else {
                continue;
            };
            // Fails if the connection has changed since it queued this entry: it is busy now,
            // or idle again with a later entry.
            if slot
                .state
                .compare_exchange(word, word | EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            slot.evict.notify_one();
            let permit = slot
                .permit
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if permit.is_some() {
                return permit;
            }
        }
    }
}

/// One admitted connection's part in [`Idle`].
pub(super) struct Slot {
    state: AtomicU64,
    /// Its place in the cap, released when the connection ends or handed to a newcomer when
    /// it is evicted (it closes at once then, see [`Slot::evicted`]).
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    evict: Notify,
    idle: Arc<Idle>,
}

impl Slot {
    /// A connection just accepted: idle, waiting for its first head, from now on (its task
    /// may not have run yet, and must not be passed over for that).
    pub(super) fn admit(idle: &Arc<Idle>, permit: OwnedSemaphorePermit) -> Arc<Slot> {
        let slot = Arc::new(Slot {
            state: AtomicU64::new(HEAD),
            permit: Mutex::new(Some(permit)),
            evict: Notify::new(),
            idle: Arc::clone(idle),
        });
        idle.push(Arc::downgrade(&slot), HEAD);
        slot
    }

    fn word(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }

    /// Sets then clears flags; a connection that becomes idle starts a new period and queues
    /// itself. Only the connection's own task calls this; the evictor only sets `EVICTED`.
    fn update(self: &Arc<Self>, set: u64, clear: u64) {
        let changed = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                let new = next(old, set, clear);
                (old & EVICTED == 0 && new != old).then_some(new)
            });
        if let Ok(old) = changed {
            let new = next(old, set, clear);
            if is_idle(new) && !is_idle(old) {
                self.idle.push(Arc::downgrade(self), new);
            }
        }
    }

    /// Hyper has begun waiting for a request head.
    pub(super) fn head_wait(self: &Arc<Self>) {
        self.update(HEAD, 0);
    }

    /// A byte has come, or a request has been handed to the router: the head wait is over.
    /// Called on every read, so the common case (no head wait) is one load.
    pub(super) fn head_begun(self: &Arc<Self>) {
        if self.word() & HEAD != 0 {
            self.update(0, HEAD);
        }
    }

    /// A write has to wait for the client to read.
    pub(super) fn write_blocked(self: &Arc<Self>) {
        self.update(BLOCKED, 0);
    }

    /// A blocked write has made progress.
    pub(super) fn write_unblocked(self: &Arc<Self>) {
        self.update(0, BLOCKED);
    }

    /// Resolves once the connection has been chosen to make room.
    pub(super) async fn evicted(&self) {
        self.evict.notified().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    fn admit(idle: &Arc<Idle>, permits: &Arc<Semaphore>) -> Arc<Slot> {
        Slot::admit(idle, Arc::clone(permits).try_acquire_owned().unwrap())
    }

    fn evicted(slot: &Slot) -> bool {
        slot.word() & EVICTED != 0
    }

    /// Each request on a kept-alive connection queues an entry; the stale ones are dropped,
    /// so the queue stays within its bound, and the longest idle is still the one taken.
    #[test]
    fn the_queue_stays_bounded_and_gives_the_longest_idle_first() {
        let permits = Arc::new(Semaphore::new(3));
        let idle = Idle::new(3);
        let (a, b, c) = (
            admit(&idle, &permits),
            admit(&idle, &permits),
            admit(&idle, &permits),
        );
        for _ in 0..10_000 {
            b.head_begun();
            b.head_wait();
        }
        assert!(idle.lock().len() <= idle.compact_at);
        // `c` is busy; `a` has been idle since its accept, `b` since its last request.
        c.head_begun();
        assert!(idle.evict().is_some());
        assert!(evicted(&a) && !evicted(&b));
        assert!(idle.evict().is_some());
        assert!(evicted(&b) && !evicted(&c));
        assert!(idle.evict().is_none());
        // An evicted connection never queues itself again.
        b.head_begun();
        b.head_wait();
        assert!(idle.evict().is_none());
    }

    /// A connection waiting for a head while its response still goes out is not idle until
    /// the write makes progress.
    #[test]
    fn a_blocked_write_keeps_a_connection_busy() {
        let permits = Arc::new(Semaphore::new(1));
        let idle = Idle::new(1);
        let slot = admit(&idle, &permits);
        slot.write_blocked();
        assert!(idle.evict().is_none());
        slot.write_unblocked();
        assert!(idle.evict().is_some());
        assert!(evicted(&slot));
    }

    /// A connection's permit comes back when it ends, though the queue still names it.
    #[test]
    fn an_ended_connection_gives_its_permit_back() {
        let permits = Arc::new(Semaphore::new(1));
        let idle = Idle::new(1);
        drop(admit(&idle, &permits));
        assert_eq!(permits.available_permits(), 1);
        assert!(idle.evict().is_none());
    }
}

//! The admitted connections, and the one server-wide ticker that bounds their head waits and
//! the pick of the connection idle the longest when a newcomer needs its place.
//!
//! Each connection has a [`Slot`]: two atomic words its own task writes (its state: flags
//! and since when it has been idle; the deadline of the head wait running, if any), its
//! permit of the cap, and the signals that wake or close it. Nothing else writes them on a
//! request's path, so serving a request costs a few stores to words no other connection
//! touches: no timer registered, no lock taken. The work moves to [`Slots::tick`], which
//! reads every slot once per tick (a fraction of the shortest timeout) and wakes the
//! connections whose deadline has passed, and to [`Evictor`], which at the cap lists the
//! idle connections longest idle first.
//!
//! Why not a timer per connection: hyper starts its header-read timer at every head wait,
//! once per request on a kept-alive connection, and registering then cancelling a tokio
//! timer each time, with the lock that queued each newly idle connection, cost about a sixth
//! of a cache hit served over HTTP. The price here is a scan of every connection per tick
//! and deadlines that fire up to one tick late.

use futures_util::task::AtomicWaker;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Context;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit};

/// Hyper waits for a request head and no byte of it has come.
const HEAD: u64 = 1;
/// A write waits for the client to read: a response is still going out.
const BLOCKED: u64 = 2;
/// Told to close to make room; never idle again.
const EVICTED: u64 = 4;
const FLAGS: u64 = HEAD | BLOCKED | EVICTED;
/// The state word keeps, above its flags, the clock reading at which the connection last
/// became idle: the order in which idle connections make room, and what makes each idle
/// period's word unique.
const SINCE_SHIFT: u32 = 3;

/// The deadline word when no head wait runs.
const NO_DEADLINE: u64 = u64::MAX;
/// The deadline word once the ticker has seen the deadline pass.
const FIRED: u64 = u64::MAX - 1;
/// The latest deadline a word holds: far past any bound (`LONGEST` in `conn.rs` is a day).
const LATEST: u64 = FIRED - 1;

/// How long after a scan that found no idle connection the evictor answers "none" without
/// scanning again: under a flood of newcomers while every connection is busy, at most a
/// thousand scans a second.
const RESCAN_AFTER: Duration = Duration::from_millis(1);

/// Idle: waiting for a head with nothing of it read and nothing left to send.
fn is_idle(word: u64) -> bool {
    word & FLAGS == HEAD
}

/// The clock slots keep their times on: nanoseconds since the server started.
#[derive(Clone, Copy)]
pub(super) struct Clock {
    epoch: Instant,
}

impl Clock {
    pub(super) fn reading(self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos).unwrap_or(LATEST).min(LATEST)
    }

    pub(super) fn now(self) -> u64 {
        self.reading(Instant::now())
    }

    /// A reading `after` from `from`, within what a deadline word holds.
    pub(super) fn after(from: u64, after: Duration) -> u64 {
        let nanos = u64::try_from(after.as_nanos()).unwrap_or(LATEST);
        from.saturating_add(nanos).min(LATEST)
    }
}

/// Every admitted connection, for the ticker and the evictor.
pub(super) struct Slots {
    clock: Clock,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    slots: HashMap<u64, Arc<Slot>>,
}

impl Slots {
    pub(super) fn new() -> Arc<Slots> {
        Arc::new(Slots {
            clock: Clock {
                epoch: Instant::now(),
            },
            table: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Nothing panics while holding it; a poisoned table is still a valid table.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection just accepted: idle, waiting for its first head, from now on (its task
    /// may not have run yet, and must not be passed over for that). It leaves the table
    /// when the returned guard drops.
    pub(super) fn admit(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Admitted {
        let mut table = self.lock();
        let id = table.next_id;
        table.next_id += 1;
        let slot = Arc::new(Slot {
            state: AtomicU64::new(HEAD | self.clock.now() << SINCE_SHIFT),
            deadline: AtomicU64::new(NO_DEADLINE),
            reads: AtomicU64::new(0),
            clock: self.clock,
            waker: AtomicWaker::new(),
            permit: Mutex::new(Some(permit)),
            evict: Notify::new(),
        });
        table.slots.insert(id, Arc::clone(&slot));
        Admitted {
            slot,
            id,
            slots: Arc::clone(self),
        }
    }

    /// Wakes every connection whose head-wait deadline is at or before `now`; its
    /// [`Slot::head_wait_over`] then answers true.
    fn tick(&self, now: u64) {
        for slot in self.lock().slots.values() {
            let deadline = slot.deadline.load(Ordering::Acquire);
            if deadline <= now
                && slot
                    .deadline
                    .compare_exchange(deadline, FIRED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                slot.waker.wake();
            }
        }
    }

    /// Ticks every `period` until dropped (see [`Ticker`]).
    pub(super) fn start_ticker(self: &Arc<Self>, period: Duration) -> Ticker {
        let slots = Arc::clone(self);
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                slots.tick(slots.clock.now());
            }
        });
        Ticker(task)
    }

    /// The idle connections with their state words, the one idle the longest last.
    fn idle_longest_last(&self) -> Vec<(Arc<Slot>, u64)> {
        let mut idle: Vec<(Arc<Slot>, u64)> = self
            .lock()
            .slots
            .values()
            .map(|slot| (Arc::clone(slot), slot.word()))
            .filter(|(_, word)| is_idle(*word))
            .collect();
        idle.sort_unstable_by_key(|(_, word)| std::cmp::Reverse(*word >> SINCE_SHIFT));
        idle
    }
}

/// The ticker's task, stopped when this drops (so a server future dropped mid-way leaves no
/// task behind).
pub(super) struct Ticker(tokio::task::JoinHandle<()>);

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Picks the connections that make room at the cap, longest idle first. Only the accept
/// loop uses it.
#[derive(Default)]
pub(super) struct Evictor {
    /// The idle connections of the last scan, the longest idle last. An entry holds only
    /// while its connection's word is unchanged: a connection busy since, or idle again
    /// (younger now), fails the exchange in [`Slot::evict`] and is passed over.
    queue: Vec<(Arc<Slot>, u64)>,
    /// When the last scan found no idle connection.
    found_none: Option<Instant>,
}

impl Evictor {
    /// Tells the connection idle the longest to close and returns its permit, for a
    /// newcomer to take its place; `None` when every connection has a request in progress.
    pub(super) fn evict(&mut self, slots: &Slots) -> Option<OwnedSemaphorePermit> {
        loop {
            let Some((slot, word)) = self.queue.pop() else {
                if self
                    .found_none
                    .is_some_and(|at| at.elapsed() < RESCAN_AFTER)
                {
                    return None;
                }
                self.queue = slots.idle_longest_last();
                if self.queue.is_empty() {
                    self.found_none = Some(Instant::now());
                    return None;
                }
                self.found_none = None;
                continue;
            };
            if let Some(permit) = slot.evict(word) {
                return Some(permit);
            }
        }
    }
}

/// A connection's place in [`Slots`], held by its task: dropping it (the connection has
/// ended) takes the slot out of the table and gives its permit back.
pub(super) struct Admitted {
    slot: Arc<Slot>,
    id: u64,
    slots: Arc<Slots>,
}

impl Admitted {
    pub(super) fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.slots.lock().slots.remove(&self.id);
        // The evictor may still hold the slot in its queue; the permit must not wait for it.
        drop(self.slot.take_permit());
    }
}

/// One admitted connection's state.
pub(super) struct Slot {
    /// Flags, and above them (`SINCE_SHIFT`) the reading at which it last became idle.
    state: AtomicU64,
    /// When the head wait running ends: a [`Clock`] reading, [`NO_DEADLINE`] or [`FIRED`].
    deadline: AtomicU64,
    /// Bytes read on the connection so far.
    reads: AtomicU64,
    clock: Clock,
    /// The connection's task while it waits for a head, woken when the deadline passes.
    waker: AtomicWaker,
    /// Its place in the cap, released when the connection ends or handed to a newcomer when
    /// it is evicted (it closes at once then, see [`Slot::evicted`]).
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    evict: Notify,
}

impl Slot {
    fn word(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }

    pub(super) fn clock(&self) -> Clock {
        self.clock
    }

    /// Sets then clears flags; a connection that becomes idle takes the time as its idle
    /// start. Only the connection's own task calls this; the evictor only sets `EVICTED`.
    fn update(&self, set: u64, clear: u64) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                if old & EVICTED != 0 {
                    return None;
                }
                let new = (old | set) & !clear;
                if is_idle(new) && !is_idle(old) {
                    Some(new & FLAGS | self.clock.now() << SINCE_SHIFT)
                } else {
                    (new != old).then_some(new)
                }
            });
    }

    /// Hyper has begun waiting for a request head, which must come by `deadline` (a
    /// [`Clock`] reading; [`Slot::move_deadline`] changes it).
    pub(super) fn head_wait(&self, deadline: u64) {
        self.deadline.store(deadline, Ordering::Release);
        self.update(HEAD, 0);
    }

    /// Moves the running head wait's deadline from `from` to `to`; false if it had passed.
    pub(super) fn move_deadline(&self, from: u64, to: u64) -> bool {
        self.deadline
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the head wait's deadline has passed; if not, `cx` is woken when it does.
    pub(super) fn head_wait_over(&self, cx: &Context<'_>) -> bool {
        self.waker.register(cx.waker());
        self.deadline.load(Ordering::Acquire) == FIRED
    }

    /// The head wait with deadline `deadline` has ended (hyper dropped its timer); a later
    /// head wait that has set its own deadline keeps it.
    pub(super) fn head_wait_dropped(&self, deadline: u64) {
        let _ = self.deadline.compare_exchange(
            deadline,
            NO_DEADLINE,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    /// Counts bytes read; any byte ends the head wait's idleness.
    pub(super) fn read(&self, bytes: usize) {
        self.reads.fetch_add(bytes as u64, Ordering::Relaxed);
        self.head_begun();
    }

    /// Bytes read so far.
    pub(super) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// A byte has come, or a request has been handed to the router: the head wait is over.
    /// Called on every read, so the common case (no head wait) is one load.
    pub(super) fn head_begun(&self) {
        if self.word() & HEAD != 0 {
            self.update(0, HEAD);
        }
    }

    /// A write has to wait for the client to read.
    pub(super) fn write_blocked(&self) {
        self.update(BLOCKED, 0);
    }

    /// A blocked write has made progress.
    pub(super) fn write_unblocked(&self) {
        self.update(0, BLOCKED);
    }

    /// Marks the connection evicted if its word is still `word` (idle since the scan that
    /// read it), tells it to close and hands over its permit.
    fn evict(&self, word: u64) -> Option<OwnedSemaphorePermit> {
        self.state
            .compare_exchange(word, word | EVICTED, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        self.evict.notify_one();
        // `None` if the connection has ended since the scan (its guard took the permit).
        self.take_permit()
    }

    fn take_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
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
    use std::task::Waker;
    use tokio::sync::Semaphore;

    fn admit(slots: &Arc<Slots>, permits: &Arc<Semaphore>) -> Admitted {
        slots.admit(Arc::clone(permits).try_acquire_owned().unwrap())
    }

    fn evicted(slot: &Admitted) -> bool {
        slot.slot().word() & EVICTED != 0
    }

    /// The longest idle connection is the one taken, whatever the order of admission, and a
    /// connection busy or idle again since the scan is passed over or taken in its new
    /// place.
    #[test]
    fn the_longest_idle_connection_is_taken_first() {
        let permits = Arc::new(Semaphore::new(3));
        let slots = Slots::new();
        let mut evictor = Evictor::default();
        let (a, b, c) = (
            admit(&slots, &permits),
            admit(&slots, &permits),
            admit(&slots, &permits),
        );
        // `a` has a request in progress, then becomes idle again: now the youngest.
        a.slot().head_begun();
        a.slot().head_wait(NO_DEADLINE);
        // `c` is busy.
        c.slot().head_begun();
        assert!(evictor.evict(&slots).is_some());
        assert!(evicted(&b) && !evicted(&a));
        // `a` turns busy after the scan listed it: passed over.
        a.slot().head_begun();
        assert!(evictor.evict(&slots).is_none());
        assert!(!evicted(&a) && !evicted(&c));
        // An evicted connection never becomes idle again.
        b.slot().head_begun();
        b.slot().head_wait(NO_DEADLINE);
        std::thread::sleep(RESCAN_AFTER);
        assert!(evictor.evict(&slots).is_none());
    }

    /// A connection waiting for a head while its response still goes out is not idle until
    /// the write makes progress.
    #[test]
    fn a_blocked_write_keeps_a_connection_busy() {
        let permits = Arc::new(Semaphore::new(1));
        let slots = Slots::new();
        let mut evictor = Evictor::default();
        let slot = admit(&slots, &permits);
        slot.slot().write_blocked();
        assert!(evictor.evict(&slots).is_none());
        slot.slot().write_unblocked();
        std::thread::sleep(RESCAN_AFTER);
        assert!(evictor.evict(&slots).is_some());
        assert!(evicted(&slot));
    }

    /// A connection's permit comes back when it ends, though the evictor still holds it.
    #[test]
    fn an_ended_connection_gives_its_permit_back() {
        let permits = Arc::new(Semaphore::new(2));
        let slots = Slots::new();
        let mut evictor = Evictor::default();
        let (a, b) = (admit(&slots, &permits), admit(&slots, &permits));
        assert!(evictor.evict(&slots).is_some());
        assert!(evicted(&a));
        // `b` is in the evictor's queue when it ends.
        drop(b);
        assert_eq!(permits.available_permits(), 2);
        assert!(evictor.evict(&slots).is_none());
        assert!(slots.lock().slots.len() == 1);
    }

    /// A tick fires the deadlines that have passed and only those; a head wait that moved
    /// its deadline before the tick keeps waiting, and one hyper dropped leaves nothing.
    #[test]
    fn a_tick_fires_passed_deadlines_only() {
        let permits = Arc::new(Semaphore::new(3));
        let slots = Slots::new();
        let cx = Context::from_waker(Waker::noop());
        let (a, b, c) = (
            admit(&slots, &permits),
            admit(&slots, &permits),
            admit(&slots, &permits),
        );
        a.slot().head_wait(100);
        b.slot().head_wait(200);
        c.slot().head_wait(100);
        assert!(c.slot().move_deadline(100, 300));
        slots.tick(150);
        assert!(a.slot().head_wait_over(&cx));
        assert!(!b.slot().head_wait_over(&cx));
        assert!(!c.slot().head_wait_over(&cx));
        // A deadline that has fired does not move.
        assert!(!a.slot().move_deadline(100, 400));
        b.slot().head_wait_dropped(200);
        slots.tick(1_000);
        assert!(!b.slot().head_wait_over(&cx));
        assert!(c.slot().head_wait_over(&cx));
    }
}

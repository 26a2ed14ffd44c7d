//! Single-flight: at most one computation per key in this process at a time.
//!
//! The first caller of a cold key becomes the *leader* and holds a [`Leader`] guard; later
//! callers get a [`Waiter`] and wait for its [`Outcome`]. Whatever ends the leader (a
//! value, an error, a panic unwinding through it, its future being dropped), the guard
//! publishes an outcome and leaves the table, so a waiter is never stuck: on `Abandoned`
//! it loops and one waiter becomes the next leader.

use crate::entry::Entry;
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// How a flight ended.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// The leader stored this entry.
    Value(Entry),
    /// The leader's computation failed with this error (an `Arc<E>`, type-erased).
    Failed(Arc<dyn Any + Send + Sync>),
    /// The leader went away without a result (panic, cancellation, cache error).
    Abandoned,
}

type Table = Mutex<HashMap<String, watch::Receiver<Option<Outcome>>>>;

/// The flights in progress, by full key.
#[derive(Default)]
pub(crate) struct Flights {
    table: Arc<Table>,
}

/// What a caller got when it asked to fly.
pub(crate) enum Role {
    Leader(Leader),
    Waiter(Waiter),
}

impl Flights {
    /// Becomes the leader for `key`, or a waiter on the flight already under way.
    pub(crate) fn join(&self, key: &str) -> Role {
        // A poisoned table only means a thread panicked while holding the lock for a map
        // operation; the map itself is still consistent.
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(receiver) = table.get(key) {
            // A finished flight whose leader has not removed it yet is still a flight: its
            // waiter sees the outcome at once.
            return Role::Waiter(Waiter {
                receiver: receiver.clone(),
            });
        }
        let (sender, receiver) = watch::channel(None);
        table.insert(key.to_owned(), receiver);
        Role::Leader(Leader {
            table: self.table.clone(),
            key: key.to_owned(),
            sender,
            finished: false,
        })
    }

    /// Whether a flight for `key` is under way.
    #[cfg(test)]
    pub(crate) fn in_flight(&self, key: &str) -> bool {
        self.table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(key)
    }
}

/// The one caller computing a key. Dropping it without [`Leader::finish`] publishes
/// [`Outcome::Abandoned`].
pub(crate) struct Leader {
    table: Arc<Table>,
    key: String,
    sender: watch::Sender<Option<Outcome>>,
    finished: bool,
}

impl Leader {
    /// Publishes the outcome to every waiter and ends the flight.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.publish(outcome);
    }

    fn publish(&mut self, outcome: Outcome) {
        self.finished = true;
        // Leave the table first, so a caller arriving after this starts a new flight
        // (and finds the value in the cache) rather than joining a finished one.
        self.table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
        // No receivers left is fine: nobody was waiting.
        let _ = self.sender.send(Some(outcome));
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished {
            self.publish(Outcome::Abandoned);
        }
    }
}

/// A caller waiting on another caller's computation.
pub(crate) struct Waiter {
    receiver: watch::Receiver<Option<Outcome>>,
}

impl Waiter {
    /// The leader's outcome.
    pub(crate) async fn outcome(mut self) -> Outcome {
        match self.receiver.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Outcome::Abandoned),
            // The sender is gone without a value: only possible if the leader vanished.
            Err(_) => Outcome::Abandoned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn value() -> Outcome {
        Outcome::Value(Entry::new(Bytes::from_static(b"v"), Duration::from_secs(1)))
    }

    #[tokio::test]
    async fn second_caller_waits_for_the_first() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join("k") else {
            panic!("first is leader")
        };
        let Role::Waiter(waiter) = flights.join("k") else {
            panic!("second waits")
        };
        assert!(flights.in_flight("k"));
        let wait = tokio::spawn(waiter.outcome());
        leader.finish(value());
        assert!(matches!(wait.await.unwrap(), Outcome::Value(_)));
        assert!(
            !flights.in_flight("k"),
            "a finished flight leaves the table"
        );
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }

    #[tokio::test]
    async fn dropped_leader_abandons() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join("k") else {
            panic!()
        };
        let Role::Waiter(waiter) = flights.join("k") else {
            panic!()
        };
        drop(leader);
        assert!(matches!(waiter.outcome().await, Outcome::Abandoned));
        assert!(
            matches!(flights.join("k"), Role::Leader(_)),
            "the next caller leads"
        );
    }

    #[test]
    fn panicking_leader_abandons() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join("k") else {
            panic!()
        };
        let Role::Waiter(waiter) = flights.join("k") else {
            panic!()
        };
        let crashed = std::thread::spawn(move || {
            let _leader = leader;
            panic!("the computation panicked");
        })
        .join();
        assert!(crashed.is_err());
        let outcome = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(waiter.outcome());
        assert!(matches!(outcome, Outcome::Abandoned));
    }
}

//! Integration tests of the `hoard-snapshot` crate, in one binary: `snapshot` for
//! `Snapshot` (loads, reloads, updates, events), `intern` for `Interner`.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod intern;
mod snapshot;

//! Integration tests of the `hoard` crate, in one binary.
//!
//! `suite` holds behaviour every backend must show; the `backend_suite!` macro runs each
//! case once per backend. `disk` and `keys` hold what is specific to them.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod backend;
mod backing;
mod compute;
mod disk;
mod faults;
mod glob_redis;
mod invalidation;
mod keys;
mod memory;
mod model;
mod redis;
mod sentinel;
mod snapshot;
mod suite;
mod warm;

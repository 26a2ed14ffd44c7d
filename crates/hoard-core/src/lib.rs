//! What every hoard tier shares, so a tier can live in its own crate (the Redis tier does)
//! without depending on the cache built on top of it:
//!
//! | module | what |
//! |---|---|
//! | [`entry`] | [`Entry`]: a value with its deadline, and the bytes every tier stores |
//! | [`error`] | [`Error`], the cache's one error type |
//! | [`clock`] | [`Clock`]: where every deadline is read, and [`ManualClock`] for tests |
//! | [`glob`] | Redis-compatible glob patterns |
//! | [`store`] | the [`Store`] trait and the capabilities a tier may add |
//!
//! Users meet all of it through the `hoard` crate, which re-exports every item.

pub mod clock;
pub mod entry;
pub mod error;
pub mod glob;
pub mod store;

pub use clock::{Clock, ManualClock};
pub use entry::Entry;
pub use error::{Error, Result};
pub use store::{Generations, Invalidations, Leases, ScanPage, Store, TagIndex, TagRow, Usage};

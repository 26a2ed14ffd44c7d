//! Tiers: the [`Store`] trait and its capabilities ([`TagIndex`], [`Generations`],
//! [`Leases`], [`Invalidations`]), implemented by [`MemoryStore`] (L1), [`DiskStore`] and,
//! with the `redis` feature, [`RedisStore`] (L2).
//!
//! A store maps full keys (`{namespace}:{key}`, already validated) to [`Entry`]s.
//! **Every store refuses expired entries on its own**: `get` never returns an entry whose
//! expiry has passed, whatever its background reclamation has or has not done yet.
//!
//! [`Entry`]: crate::Entry

mod disk;
mod memory;

pub use disk::{DiskConfig, DiskStore, Durability, DEFAULT_DISK_MEMORY_BYTES};
pub use hoard_core::store::*;
pub use memory::MemoryStore;

/// The Redis tier (standalone or cluster): the `hoard-redis` crate.
#[cfg(feature = "redis")]
pub use hoard_redis as redis;
#[cfg(feature = "redis")]
pub use hoard_redis::{RedisConfig, RedisStore};

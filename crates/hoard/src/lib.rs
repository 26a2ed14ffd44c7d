//! hoard: a tiered cache for AI/ML backends.
//!
//! An in-memory L1 (a lock-free [papaya](https://docs.rs/papaya) map, bounded in bytes) sits in
//! front of one L2: the embedded disk tier ([fjall](https://docs.rs/fjall), persistent, no
//! service needed) or, with the Redis tier, a shared Redis. Entries live at `{namespace}:{key}`, every entry
//! has a TTL, and no tier ever returns an expired entry.
//!
//! # Example
//! ```
//! use hoard::{Cache, SetOptions, ttl};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Metrics { accuracy: f64, f1_score: f64 }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let cache = Cache::open(dir.path())?; // memory + disk, the embedded default
//!
//! let m = Metrics { accuracy: 0.95, f1_score: 0.93 };
//! cache.set_with("model", "metrics:abc-123", &m, SetOptions::new().ttl(ttl::LONG)).await?;
//! assert_eq!(cache.get::<Metrics>("model", "metrics:abc-123").await?, Some(m));
//!
//! // Delete by pattern, and per-namespace stats.
//! assert_eq!(cache.delete_pattern("model:metrics:*").await?, 1);
//! let stats = cache.stats().await?;
//! assert_eq!(stats.namespaces["model"].l1_hits, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Modules
//! | module | what |
//! |---|---|
//! | [`key`] | key and namespace validation, [`KeyBuilder`], [`stable_hash`] |
//! | [`ttl`] | TTL presets and `2h5m` durations |
//! | [`codec`] | typed values to MessagePack bytes |
//! | [`entry`] | a value with its expiry, and its on-disk format |
//! | [`store`] | the [`Store`] trait, [`MemoryStore`], [`DiskStore`] |
//! | [`glob`] | Redis-compatible glob patterns |
//! | [`stats`] | counters and their snapshot, [`Stats`] |
//! | [`events`] | invalidation events and their callbacks ([`Cause`], [`Invalidation`]) |
//! | [`snapshot`] | [`Snapshot`]: read-mostly data swapped atomically on reload, such as an image catalogue (the hoard-snapshot crate) |
//! | [`intern`] | [`Interner`]: strings to `u32` ids and back, such as tag names (in hoard-snapshot) |
//! | [`runtime`] | hoard's background runtime, [`block_on`], and what a forked child calls (the hoard-runtime crate) |

pub mod cache;
mod cached;
mod call_digest;
pub mod codec;
pub mod compute;
mod flight;
pub mod key;
pub mod lock;
mod snapshot_events;
pub mod stats;
pub mod store;
pub mod ttl;

/// Clocks: where every deadline is read (the hoard-core crate, shared with the tiers).
pub use hoard_core::clock;
/// A value with its deadline, and the bytes every tier stores (hoard-core).
pub use hoard_core::entry;
/// The cache's one error type (hoard-core).
pub use hoard_core::error;
/// Redis-compatible glob patterns (hoard-core).
pub use hoard_core::glob;
/// Invalidation events: why entries went and the callbacks that hear it (the hoard-events
/// crate, shared with the snapshots).
pub use hoard_events as events;
/// hoard's background runtime (the hoard-runtime crate, shared with the snapshots).
pub use hoard_runtime as runtime;
/// Read-mostly data swapped atomically on reload (the hoard-snapshot crate).
pub use hoard_snapshot as snapshot;
/// The interner (in the hoard-snapshot crate).
pub use hoard_snapshot::intern;

pub use cache::{
    escape_pattern, BackingOp, BackingWrite, Cache, CacheBuilder, Census, KeyInfo, KeyPage,
    NamespaceCensus, SetOptions, WarmOptions, WarmStats, WriteBehindOptions, WriteMode,
    WriterStats, MAX_SCAN_LIMIT,
};
pub use cached::{global, set_global, CachedFn};
pub use clock::{Clock, ManualClock};
pub use compute::{AdaptiveTtl, Begun, ComputeError, ComputeOptions, ComputeTicket};
pub use hoard_macros::cached;
pub use runtime::block_on;

#[doc(hidden)]
pub use cached::__private;
pub use entry::Entry;
pub use error::{Error, Result};
pub use events::{Cause, Invalidation, ListenerId, Origin};
pub use hoard_snapshot::{
    Interner, InternerError, LoadError, Progress, ReloadHandle, Snapshot, SnapshotBuilder,
    SnapshotError, SnapshotGuard, SwapListener,
};
pub use key::{hash_canonical_json, stable_hash, KeyBuilder};
pub use lock::LockGuard;
pub use stats::{NamespaceStats, Stats, TierStats, OTHER_NAMESPACES};
pub use store::{DiskConfig, DiskStore, Durability, MemoryStore, ScanPage, Store, Usage};
#[cfg(feature = "redis")]
pub use store::{RedisConfig, RedisStore};

// The README's examples run as doctests, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}

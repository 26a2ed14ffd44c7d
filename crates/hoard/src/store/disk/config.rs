//! [`DiskConfig`]: where the disk tier lives, how much memory it takes, how durable a write is.

use super::DiskStore;
use crate::clock::Clock;
use crate::error::Result;
use fjall::PersistMode;
use std::path::PathBuf;
use std::time::Duration;

/// How much a write survives once `set` has returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Writes reach the journal's in-process buffer; fjall writes it out on its own
    /// (when the buffer fills, on rotation, on close). A crash may lose the last writes.
    Relaxed,
    /// Every write is flushed to the operating system before `set` returns: it survives
    /// the process being killed (even `kill -9`), not a power loss or kernel crash.
    /// The default: a cache can be rebuilt, but not silently lose what it acknowledged.
    #[default]
    Process,
    /// Every write is `fdatasync`ed before `set` returns: it survives power loss. Slow.
    Power,
}

impl Durability {
    pub(super) fn persist_mode(self) -> Option<PersistMode> {
        match self {
            Durability::Relaxed => None,
            Durability::Process => Some(PersistMode::Buffer),
            Durability::Power => Some(PersistMode::SyncData),
        }
    }
}

/// Settings of the disk tier.
#[derive(Debug, Clone)]
#[must_use]
pub struct DiskConfig {
    pub(super) path: PathBuf,
    pub(super) durability: Durability,
    pub(super) sweep_interval: Option<Duration>,
    pub(super) compress_above: usize,
    pub(super) memory_bytes: u64,
    pub(super) clock: Clock,
}

impl DiskConfig {
    /// Data in `path` (created if missing), [`Durability::Process`], a sweep every ten
    /// seconds, values of 1 KiB and more compressed.
    pub fn new(path: impl Into<PathBuf>) -> DiskConfig {
        DiskConfig {
            path: path.into(),
            durability: Durability::default(),
            sweep_interval: Some(Duration::from_secs(10)),
            compress_above: 1024,
            memory_bytes: DEFAULT_DISK_MEMORY_BYTES,
            clock: Clock::system(),
        }
    }

    /// How much a write survives once acknowledged.
    pub fn durability(mut self, durability: Durability) -> DiskConfig {
        self.durability = durability;
        self
    }

    /// How often the background sweep reclaims expired entries; `None` turns it off
    /// (call [`DiskStore::sweep_expired`] yourself). Intervals under 10 ms count as 10 ms.
    pub fn sweep_interval(mut self, interval: Option<Duration>) -> DiskConfig {
        self.sweep_interval = interval.map(|i| i.max(Duration::from_millis(10)));
        self
    }

    /// Values at least this long are LZ4-compressed when that saves space.
    ///
    /// LZ4 rather than zstd: a cache read decompresses on every L2 hit, and LZ4 decodes
    /// several times faster at a ratio that is close enough on JSON-like values; it is also
    /// pure Rust here (`lz4_flex`), so no C library joins the build.
    pub fn compress_above(mut self, bytes: usize) -> DiskConfig {
        self.compress_above = bytes;
        self
    }

    /// The memory the disk tier may use for itself (default 64 MiB): a quarter is the
    /// block cache, the rest holds writes not yet flushed to files (memtables: at most one
    /// filling and four flushing per keyspace, so the entries' memtable is an eighth of
    /// the budget). Under sustained writes the tier stays near this figure, whatever the
    /// data size; less than 8 MiB counts as 8 MiB. Memtable sizes are fixed when a data
    /// folder is created: a folder made with another budget keeps its memtables.
    pub fn memory_bytes(mut self, bytes: u64) -> DiskConfig {
        self.memory_bytes = bytes.max(MIN_DISK_MEMORY_BYTES);
        self
    }

    /// Reads the time (deadlines, sweeps) from `clock` instead of the system clock.
    pub fn clock(mut self, clock: Clock) -> DiskConfig {
        self.clock = clock;
        self
    }

    /// Opens the store.
    pub fn open(self) -> Result<DiskStore> {
        DiskStore::open(self)
    }
}

/// Default memory of the disk tier: block cache and memtables (see
/// [`DiskConfig::memory_bytes`]).
pub const DEFAULT_DISK_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
const MIN_DISK_MEMORY_BYTES: u64 = 8 * 1024 * 1024;

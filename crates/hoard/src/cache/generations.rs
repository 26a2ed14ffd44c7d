//! Namespace generations: `clear_namespace` in O(1), and the check every read makes.

use super::Cache;
use crate::entry::Entry;
use crate::error::Result;
use crate::events::Cause;
use crate::key::{validate_namespace, SEPARATOR};
use crate::stats::Event;
use crate::store::Generations;

/// The generation a read checks what L2 returns against, and whether L1 may keep a copy.
#[derive(Clone, Copy)]
pub(super) struct ReadAt {
    /// Entries of older generations read as absent.
    pub(super) generation: u32,
    /// False when the generation could not be read: entries are served but not kept.
    pub(super) fill_l1: bool,
}

impl Cache {
    /// Removes every entry of a namespace, in O(1): the namespace moves to a new generation
    /// (a counter in L2) and entries written under older generations read as absent from
    /// then on, in every process; they are reclaimed when their TTL runs out. This
    /// process's L1 drops its copies at once, other processes' when they hear of it.
    ///
    /// `delete_pattern("{namespace}:*")` removes them physically instead (and counts them).
    pub async fn clear_namespace(&self, namespace: &str) -> Result<()> {
        validate_namespace(namespace)?;
        let inner = &*self.inner;
        let prefix = format!("{namespace}{SEPARATOR}");
        let bumped = match self.generation_store() {
            Some(generations) => generations.bump_generation(namespace).await.map(Some),
            // A tier without generations: remove the entries one by one instead.
            None => match &inner.l2 {
                Some(l2) => l2.delete_prefix(&prefix).await.map(|_| None),
                None => Ok(None),
            },
        };
        // Purge L1 even when L2 failed: what L2 may have cleared, L1 must not keep serving.
        if let Ok(Some(generation)) = &bumped {
            self.note_generation(namespace, *generation);
        }
        inner.epochs.bump_clears();
        inner.l1.delete_prefix_now(&prefix);
        bumped?;
        self.emit(Cause::Namespace(namespace.to_owned()), Vec::new(), 0);
        Ok(())
    }

    /// Where namespace generations live: in L2 when there is one (so every process sees
    /// them), else in L1. An L2 without them clears namespaces entry by entry.
    fn generation_store(&self) -> Option<&dyn Generations> {
        match &self.inner.l2 {
            Some(l2) => l2.as_generations(),
            None => Some(&self.inner.l1),
        }
    }

    /// The current generation of `namespace`: cached, re-read from L2 once the cached copy
    /// is older than L1's maximum age (a lost message cannot leave it stale for longer).
    pub(super) async fn generation_of(&self, namespace: &str) -> Result<u32> {
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let cached = inner
            .generations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(namespace)
            .copied();
        if let Some((generation, read_at)) = cached {
            if now.saturating_sub(read_at) < inner.generation_max_age_ms {
                return Ok(generation);
            }
        }
        let read = match self.generation_store() {
            Some(generations) => generations.generation(namespace).await,
            None => Ok(0),
        };
        match read {
            Ok(generation) => Ok(self.note_generation(namespace, generation)),
            // Unknown: better a miss (or an L1-only write) than an entry a clear removed.
            Err(error) => match cached {
                Some((generation, _)) => {
                    self.warn_l2(
                        namespace,
                        &error,
                        "namespace generation not re-read; using the last seen",
                    );
                    Ok(generation)
                }
                None => Err(error),
            },
        }
    }

    /// The generation to read `namespace` at, and whether L1 may keep what is read. When the
    /// generation cannot be read (the node holding its counter is down), entries are served
    /// as they are (a clear may be missed, which is logged and counted) but not copied into
    /// L1: availability of the other nodes' data wins over a clear that cannot be checked.
    pub(super) async fn generation_for_read(&self, namespace: &str) -> ReadAt {
        match self.generation_of(namespace).await {
            Ok(generation) => ReadAt {
                generation,
                fill_l1: true,
            },
            Err(error) => {
                self.inner.stats.record(namespace, Event::Error, 1);
                self.warn_l2(
                    namespace,
                    &error,
                    "namespace generation unknown; reading without the check",
                );
                ReadAt {
                    generation: 0,
                    fill_l1: false,
                }
            }
        }
    }

    /// Records a generation seen for `namespace` (never going back: messages and reads may
    /// arrive out of order) and returns the one now in force.
    pub(super) fn note_generation(&self, namespace: &str, generation: u32) -> u32 {
        let mut generations = self
            .inner
            .generations
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // Bounded like the stats table: a caller making namespaces from input cannot grow it.
        if generations.len() >= crate::stats::MAX_TRACKED_NAMESPACES
            && !generations.contains_key(namespace)
        {
            generations.clear();
        }
        let known = generations.get(namespace).map_or(0, |(g, _)| *g);
        let current = known.max(generation);
        generations.insert(namespace.to_owned(), (current, self.inner.clock.now_ms()));
        current
    }

    /// An L2 entry if it belongs to the namespace's current generation (a newer one means our
    /// cached generation is behind: it is updated).
    pub(super) fn current(
        &self,
        namespace: &str,
        generation: u32,
        entry: Option<Entry>,
    ) -> Option<Entry> {
        let entry = entry?;
        if entry.generation < generation {
            return None;
        }
        if entry.generation > generation {
            let _ = self.note_generation(namespace, entry.generation);
        }
        Some(entry)
    }
}

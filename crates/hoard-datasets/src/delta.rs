//! How a manifest is stored so that a rebuild writes what changed, not the whole manifest.
//!
//! The cache holds a *base* manifest under `{id}:manifest` and, under `{id}:delta`, the
//! current manifest as a [`Delta`] from that base: the entries added or changed, the
//! relpaths removed, and the small parts (summary, version, re-check list) whole. A rebuild
//! writes only the delta, which grows with the files changed since the base; once it holds
//! more than a quarter of the base's entries, the next store writes the current manifest as
//! the new base instead (and drops the delta). So each store costs, amortized, a constant
//! times the files that changed, not the dataset's size: the same bargain as a log that is
//! compacted when it reaches a fraction of the table.
//!
//! A delta names its base by version and build time: a reader applies it only to that base
//! and otherwise ignores it (another instance may have written a new base meanwhile); the
//! result is then not current, and the caller rebuilds as if nothing were stored.

use crate::manifest::{FileEntry, Manifest, Summary};
use std::cmp::Ordering;
use std::sync::Arc;

/// A delta larger than `base entries / COMPACT_DIVISOR` is stored as a new base instead.
const COMPACT_DIVISOR: usize = 4;

/// Which base manifest a delta applies to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BaseId {
    /// The base's version.
    pub version: String,
    /// The base's build time: two builds of one version (a reindex) are told apart.
    pub built_at_ms: i64,
}

impl BaseId {
    /// The id of `base`.
    pub fn of(base: &Manifest) -> BaseId {
        BaseId {
            version: base.version.clone(),
            built_at_ms: base.built_at_ms,
        }
    }
}

/// A manifest written as its differences from a base manifest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Delta {
    /// The manifest this delta applies to.
    pub base: BaseId,
    /// Entries not in the base, or different from the base's entry of the same relpath;
    /// sorted by relpath.
    pub upserts: Vec<Arc<FileEntry>>,
    /// Relpaths in the base and not in the current manifest; sorted.
    pub removed: Vec<String>,
    /// The current manifest's version.
    pub version: String,
    /// Its options fingerprint.
    pub options: String,
    /// Its summary.
    pub summary: Summary,
    /// Its re-check list.
    pub recheck: Vec<String>,
    /// Its tables key.
    pub tables: String,
    /// Its build time.
    pub built_at_ms: i64,
}

impl Delta {
    /// `current` as differences from `base`. Entries shared with the base (the same `Arc`,
    /// which is what a rebuild hands on for an unchanged file) are skipped without being
    /// compared; others are compared by value.
    pub fn between(base: &Manifest, current: &Manifest) -> Delta {
        let mut upserts = Vec::new();
        let mut removed = Vec::new();
        merge(&base.entries, &current.entries, |old, new| {
            match (old, new) {
                (Some(old), Some(new)) => {
                    if !Arc::ptr_eq(old, new) && old != new {
                        upserts.push(new.clone());
                    }
                }
                (None, Some(new)) => upserts.push(new.clone()),
                (Some(old), None) => removed.push(old.relpath.clone()),
                (None, None) => {}
            }
        });
        Delta {
            base: BaseId::of(base),
            upserts,
            removed,
            version: current.version.clone(),
            options: current.options.clone(),
            summary: current.summary.clone(),
            recheck: current.recheck.clone(),
            tables: current.tables.clone(),
            built_at_ms: current.built_at_ms,
        }
    }

    /// Entries this delta adds, changes or removes.
    pub fn len(&self) -> usize {
        self.upserts.len() + self.removed.len()
    }

    /// Whether it changes no entry (only the version, summary or re-check list).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether storing this delta is cheaper, over time, than storing the manifest whole:
    /// it changes at most a quarter of the base's entries.
    pub fn worth_storing(&self, base: &Manifest) -> bool {
        self.len() <= base.entries.len() / COMPACT_DIVISOR
    }

    /// The manifest this delta describes, or `None` if `base` is not its base (or the
    /// delta is malformed: not sorted). Unchanged entries are shared with `base`.
    pub fn apply(&self, base: &Manifest) -> Option<Manifest> {
        if BaseId::of(base) != self.base
            || !sorted_by(&self.upserts, |e| &e.relpath)
            || !sorted_by(&self.removed, |r| r)
        {
            return None;
        }
        let mut entries = Vec::with_capacity(base.entries.len() + self.upserts.len());
        let mut upserts = self.upserts.iter().peekable();
        let mut removed = self.removed.iter().peekable();
        let mut unknown_removal = false;
        for old in &base.entries {
            while let Some(new) = upserts.next_if(|new| new.relpath < old.relpath) {
                entries.push(new.clone());
            }
            while removed.next_if(|r| **r < old.relpath).is_some() {
                unknown_removal = true;
            }
            if removed.next_if(|r| **r == old.relpath).is_some() {
                // A removed path must not also be upserted.
                if upserts.next_if(|new| new.relpath == old.relpath).is_some() {
                    return None;
                }
                continue;
            }
            match upserts.next_if(|new| new.relpath == old.relpath) {
                Some(new) => entries.push(new.clone()),
                None => entries.push(old.clone()),
            }
        }
        entries.extend(upserts.cloned());
        if unknown_removal || removed.next().is_some() {
            return None;
        }
        Some(Manifest {
            version: self.version.clone(),
            options: self.options.clone(),
            entries,
            summary: self.summary.clone(),
            recheck: self.recheck.clone(),
            tables: self.tables.clone(),
            built_at_ms: self.built_at_ms,
        })
    }
}

fn sorted_by<T>(items: &[T], key: impl Fn(&T) -> &String) -> bool {
    items.windows(2).all(|w| key(&w[0]) < key(&w[1]))
}

/// Walks two entry lists sorted by relpath side by side, calling `visit` with the entries
/// of each relpath (one side `None` where a list lacks it).
fn merge<'a>(
    a: &'a [Arc<FileEntry>],
    b: &'a [Arc<FileEntry>],
    mut visit: impl FnMut(Option<&'a Arc<FileEntry>>, Option<&'a Arc<FileEntry>>),
) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.relpath.cmp(&y.relpath),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                visit(a.get(i), None);
                i += 1;
            }
            Ordering::Greater => {
                visit(None, b.get(j));
                j += 1;
            }
            Ordering::Equal => {
                visit(a.get(i), b.get(j));
                i += 1;
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::FileEntry;

    fn entry(relpath: &str, size: u64) -> Arc<FileEntry> {
        Arc::new(FileEntry {
            id: relpath.into(),
            filename: relpath.rsplit('/').next().unwrap_or(relpath).into(),
            relpath: relpath.into(),
            size,
            duration: Some(size as f64 / 16_000.0),
            sample_rate: Some(8000),
            channels: Some(1),
            mtime: 1.0,
            label: None,
            h: format!("h{size}"),
            content_hash: None,
            meta: Default::default(),
            error: None,
        })
    }

    fn manifest(version: &str, entries: Vec<Arc<FileEntry>>) -> Manifest {
        Manifest {
            version: version.into(),
            options: "o".into(),
            summary: Summary {
                total: entries.len(),
                ..Summary::default()
            },
            entries,
            recheck: vec![format!("{version}.wav")],
            tables: format!("t{version}"),
            built_at_ms: version.len() as i64,
        }
    }

    /// A small deterministic generator: tests must not depend on a seed that changes.
    fn next(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *state >> 33
    }

    #[test]
    fn apply_after_between_gives_the_current_manifest_back() {
        let mut rng = 7u64;
        for round in 0..200 {
            let base: Vec<_> = (0..(next(&mut rng) % 60))
                .map(|i| entry(&format!("d/{:03}.wav", i * 2), i))
                .collect();
            // Keep, change, drop and add entries at random, keeping relpath order.
            let mut current = Vec::new();
            for (i, old) in base.iter().enumerate() {
                match next(&mut rng) % 5 {
                    0 => {}
                    1 => current.push(entry(&old.relpath, old.size + 1000)),
                    // Equal by value, another allocation: must not be stored as a change.
                    2 => current.push(Arc::new((**old).clone())),
                    _ => current.push(old.clone()),
                }
                if next(&mut rng).is_multiple_of(4) {
                    current.push(entry(&format!("d/{:03}.wav", i * 2 + 1), 7));
                }
            }
            if next(&mut rng).is_multiple_of(3) {
                current.push(entry("z/last.wav", 3));
            }
            let base = manifest("base", base);
            let current = manifest(&format!("current{round}"), current);
            let delta = Delta::between(&base, &current);
            assert!(delta
                .upserts
                .iter()
                .all(|new| !base.entries.iter().any(|old| old == new)));
            assert_eq!(delta.apply(&base).as_ref(), Some(&current), "round {round}");
            // Through the codec, as it is stored.
            let bytes = hoard::codec::encode(&delta).unwrap();
            let decoded: Delta = hoard::codec::decode(&bytes).unwrap();
            assert_eq!(
                decoded.apply(&base).as_ref(),
                Some(&current),
                "round {round}"
            );
        }
    }

    #[test]
    fn unchanged_entries_are_shared_not_copied() {
        let base = manifest("a", vec![entry("a.wav", 1), entry("b.wav", 2)]);
        let current = manifest("bb", vec![base.entries[0].clone(), entry("b.wav", 3)]);
        let delta = Delta::between(&base, &current);
        assert_eq!(delta.len(), 1);
        let applied = delta.apply(&base).unwrap();
        assert!(Arc::ptr_eq(&applied.entries[0], &base.entries[0]));
    }

    #[test]
    fn a_delta_applies_only_to_its_base() {
        let base = manifest("a", vec![entry("a.wav", 1)]);
        let current = manifest("bb", vec![entry("a.wav", 2)]);
        let delta = Delta::between(&base, &current);
        let other = manifest("c", vec![entry("a.wav", 1)]);
        assert_eq!(delta.apply(&other), None, "another version");
        let rebuilt = Manifest {
            built_at_ms: base.built_at_ms + 1,
            ..base.clone()
        };
        assert_eq!(delta.apply(&rebuilt), None, "same version, another build");
    }

    #[test]
    fn malformed_deltas_are_refused() {
        let base = manifest("a", vec![entry("a.wav", 1), entry("c.wav", 1)]);
        let good = Delta::between(&base, &manifest("bb", vec![entry("c.wav", 1)]));
        assert_eq!(good.removed, vec!["a.wav".to_owned()]);
        let unsorted = Delta {
            upserts: vec![entry("b.wav", 1), entry("a.wav", 2)],
            ..good.clone()
        };
        assert_eq!(unsorted.apply(&base), None);
        let unknown = Delta {
            removed: vec!["b.wav".into()],
            ..good.clone()
        };
        assert_eq!(unknown.apply(&base), None, "removes a path the base lacks");
        let both = Delta {
            upserts: vec![entry("a.wav", 5)],
            ..good
        };
        assert_eq!(both.apply(&base), None, "removes and upserts one path");
    }

    #[test]
    fn large_deltas_are_not_worth_storing() {
        let base = manifest("a", (0..8).map(|i| entry(&format!("{i}.wav"), i)).collect());
        let mut entries = base.entries.clone();
        entries[0] = entry("0.wav", 100);
        entries[1] = entry("1.wav", 100);
        let two = Delta::between(&base, &manifest("b", entries.clone()));
        assert!(two.worth_storing(&base));
        entries[2] = entry("2.wav", 100);
        let three = Delta::between(&base, &manifest("b", entries));
        assert!(!three.worth_storing(&base));
    }
}

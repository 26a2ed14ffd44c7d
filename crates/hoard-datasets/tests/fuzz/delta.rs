//! Deltas applied to base manifests: `apply` never panics, on any delta and any base; on a
//! sorted base it returns exactly what a plain map model says (the base, minus `removed`,
//! plus `upserts`) or `None` for a delta that does not fit (another base, unsorted lists,
//! a removal the base lacks, a path both removed and upserted); `between` then `apply`
//! gives the current manifest back, also through the stored (MessagePack) form.

use hoard_datasets::delta::{BaseId, Delta};
use hoard_datasets::{FileEntry, Manifest, Summary};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An entry of `relpath`, with `size` standing for everything that can change.
pub fn entry(relpath: &str, size: u64) -> Arc<FileEntry> {
    Arc::new(FileEntry {
        id: relpath.into(),
        filename: relpath.rsplit('/').next().unwrap_or(relpath).into(),
        relpath: relpath.into(),
        size,
        duration: Some(size as f64 / 16_000.0),
        sample_rate: Some(16_000),
        channels: Some(1),
        mtime: 1.5,
        label: None,
        h: format!("h{size}"),
        content_hash: None,
        meta: Default::default(),
        error: None,
    })
}

/// A manifest of `entries` (in the order given).
pub fn manifest(version: &str, built_at_ms: i64, entries: Vec<Arc<FileEntry>>) -> Manifest {
    Manifest {
        version: version.into(),
        options: "label=;content_hash=false".into(),
        summary: Summary {
            total: entries.len(),
            ..Summary::default()
        },
        entries,
        recheck: vec![],
        tables: String::new(),
        built_at_ms,
    }
}

fn strictly_sorted<'a>(mut items: impl Iterator<Item = &'a str>) -> bool {
    let Some(mut previous) = items.next() else {
        return true;
    };
    items.all(|item| std::mem::replace(&mut previous, item) < item)
}

/// `delta.apply(base)` against the model; a base that is not strictly sorted (a corrupt
/// store) is only required not to panic.
pub fn apply(base: &Manifest, delta: &Delta) {
    let applied = delta.apply(base);
    if !strictly_sorted(base.entries.iter().map(|e| e.relpath.as_str())) {
        return;
    }
    let mut model: BTreeMap<&str, &Arc<FileEntry>> = base
        .entries
        .iter()
        .map(|e| (e.relpath.as_str(), e))
        .collect();
    let upserted: BTreeMap<&str, &Arc<FileEntry>> = delta
        .upserts
        .iter()
        .map(|e| (e.relpath.as_str(), e))
        .collect();
    let fits = BaseId::of(base) == delta.base
        && strictly_sorted(delta.upserts.iter().map(|e| e.relpath.as_str()))
        && strictly_sorted(delta.removed.iter().map(String::as_str))
        && delta.removed.iter().all(|r| model.contains_key(r.as_str()))
        && delta
            .removed
            .iter()
            .all(|r| !upserted.contains_key(r.as_str()));
    let Some(applied) = applied else {
        assert!(
            !fits,
            "a delta that fits was refused: {delta:?} on {base:?}"
        );
        return;
    };
    assert!(
        fits,
        "a delta that does not fit was applied: {delta:?} on {base:?}"
    );
    for removed in &delta.removed {
        model.remove(removed.as_str());
    }
    model.extend(upserted);
    // The very entries of the base and the delta, shared (and so compared by pointer:
    // decoded bytes can hold NaN durations, which equal nothing).
    let same = applied.entries.len() == model.len()
        && applied
            .entries
            .iter()
            .zip(model.values())
            .all(|(a, b)| Arc::ptr_eq(a, b));
    assert!(
        same,
        "entries of {delta:?} on {base:?}: {:?}",
        applied.entries
    );
    assert_eq!(
        (&applied.version, applied.built_at_ms),
        (&delta.version, delta.built_at_ms)
    );
    assert_eq!(
        format!("{:?}", applied.summary),
        format!("{:?}", delta.summary)
    );
}

/// `Delta::between(base, current)` applied to `base` is `current`, also after a trip
/// through the codec the cache stores it with.
pub fn between(base: &Manifest, current: &Manifest) {
    let delta = Delta::between(base, current);
    assert_eq!(delta.apply(base).as_ref(), Some(current), "{delta:?}");
    let bytes = hoard::codec::encode(&delta).unwrap();
    let decoded: Delta = hoard::codec::decode(&bytes).unwrap();
    assert_eq!(decoded.apply(base).as_ref(), Some(current));
}

/// The base the corpus deltas were made against.
pub fn corpus_base() -> Manifest {
    let entries = ["a/1.wav", "a/2.wav", "b/3.mp3", "c/4.flac"]
        .iter()
        .enumerate()
        .map(|(i, r)| entry(r, i as u64 * 100))
        .collect();
    manifest("v1", 1_700_000_000_000, entries)
}

/// Stored bytes read back as a delta (as the registry reads `dataset:{id}:delta`) and
/// applied to the corpus base: an error or the model's answer, never a panic.
pub fn stored(bytes: &[u8]) {
    if let Ok(delta) = hoard::codec::decode::<Delta>(bytes) {
        apply(&corpus_base(), &delta);
    }
    if let Ok(base) = hoard::codec::decode::<Manifest>(bytes) {
        let delta = Delta::between(&base, &corpus_base());
        let _ = delta.apply(&base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoard_testkit::fuzz::proptest::prelude::*;
    use hoard_testkit::fuzz::{self, Input};

    const DIR: &str = env!("CARGO_MANIFEST_DIR");
    const NAMES: &[&str] = &[
        "a/1.wav", "a/2.wav", "a/3.wav", "b/1.mp3", "b/x.mp3", "c.flac", "d/é.ogg", "z.wav",
    ];

    fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        let base = corpus_base();
        let mut changed = base.entries.clone();
        changed[1] = entry("a/2.wav", 999);
        changed.remove(2);
        changed.push(entry("d/5.wav", 5));
        let current = manifest("v2", 1_700_000_000_500, changed);
        let delta = Delta::between(&base, &current);
        let empty = Delta::between(&base, &manifest("v1b", 1, base.entries.clone()));
        vec![
            ("delta", hoard::codec::encode(&delta).unwrap().to_vec()),
            (
                "delta-empty",
                hoard::codec::encode(&empty).unwrap().to_vec(),
            ),
            ("base", hoard::codec::encode(&base).unwrap().to_vec()),
        ]
    }

    #[test]
    fn stored_deltas_never_panic() {
        fuzz::bless(DIR, "delta", &seeds());
        let corpus = fuzz::corpus(DIR, "delta");
        let bytes: Vec<Vec<u8>> = corpus.iter().map(|(_, b)| b.clone()).collect();
        const TOKENS: &[&[u8]] = &[
            b"\x90",
            b"\x91",
            b"\xdc\xff\xff",
            b"\xdd\xff\xff\xff\xff",
            b"\xa5a.wav",
            b"\xc0",
            b"\xcb",
        ];
        fuzz::check(
            "delta",
            &corpus,
            fuzz::cases(2000),
            fuzz::mutated(bytes, TOKENS),
            |input: Input| {
                stored(&input);
                Ok(())
            },
            |bytes| Input(bytes.to_vec()),
        );
    }

    /// Paths (by index into `NAMES`) with sizes.
    fn listing(max: usize) -> impl Strategy<Value = Vec<(usize, u64)>> {
        prop::collection::vec((0..NAMES.len(), 0u64..4), 0..max)
    }

    fn sorted(mut items: Vec<(usize, u64)>) -> Vec<Arc<FileEntry>> {
        items.sort_by_key(|(i, _)| NAMES[*i]);
        items.dedup_by_key(|(i, _)| *i);
        items
            .into_iter()
            .map(|(i, size)| entry(NAMES[i], size))
            .collect()
    }

    #[test]
    fn deltas_apply_as_the_model_says() {
        let strategy = (
            listing(8),
            listing(5),
            prop::collection::vec(0..NAMES.len(), 0..4),
            any::<(bool, bool, bool, bool)>(),
        );
        fuzz::check(
            "delta_apply",
            &[],
            fuzz::cases(3000),
            strategy,
            |(base, upserts, removed, (sort_upserts, sort_removed, same_base, sort_base))| {
                let base_entries = if sort_base {
                    sorted(base)
                } else {
                    base.into_iter().map(|(i, s)| entry(NAMES[i], s)).collect()
                };
                let base = manifest("v1", 10, base_entries);
                let upserts = if sort_upserts {
                    sorted(upserts)
                } else {
                    upserts
                        .into_iter()
                        .map(|(i, s)| entry(NAMES[i], s))
                        .collect()
                };
                let mut removed: Vec<String> =
                    removed.into_iter().map(|i| NAMES[i].to_owned()).collect();
                if sort_removed {
                    removed.sort();
                    removed.dedup();
                }
                let mut delta = Delta::between(&base, &manifest("v2", 20, vec![]));
                delta.upserts = upserts;
                delta.removed = removed;
                if !same_base {
                    delta.base.built_at_ms += 1;
                }
                apply(&base, &delta);
                Ok(())
            },
            |_| (vec![], vec![], vec![], (true, true, true, true)),
        );
    }

    #[test]
    fn between_then_apply_gives_the_current_manifest() {
        fuzz::check(
            "delta_between",
            &[],
            fuzz::cases(1500),
            (listing(8), listing(8)),
            |(base, current)| {
                between(
                    &manifest("v1", 10, sorted(base)),
                    &manifest("v2", 20, sorted(current)),
                );
                Ok(())
            },
            |_| (vec![], vec![]),
        );
    }
}

//! The watched registry's rebuild: the previous manifest with the entries of a few changed
//! audio files probed again, in time that follows the changed files rather than the
//! dataset. It gives what [`manifest::build`] would from the same listing and previous
//! manifest, and declines (the caller then builds) whenever that would take more than
//! re-probing: a metadata table changed, an audio file came or went, other options.

use crate::manifest::{self, BuildOptions, BuildReport, FileEntry, Manifest};
use crate::scan::{Kind, Listing};
use std::collections::BTreeSet;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

/// `previous` brought up to `listing`, where only the files `changed` (relpaths whose
/// stat differs, from [`crate::restat`]) and those `previous` marked for re-check may
/// differ. `None` when a full build is needed for the same result (see the module docs).
pub(crate) fn patch(
    listing: &Listing,
    previous: &Manifest,
    changed: &[String],
    options: &BuildOptions,
) -> Option<(Manifest, BuildReport)> {
    let began = Instant::now();
    // The conditions under which `build` reuses the previous join (see there): the same
    // options and tables, and the same audio paths.
    if previous.options != options.fingerprint() || previous.tables.is_empty() {
        return None;
    }
    let stat_of = |relpath: &str| {
        listing
            .files
            .binary_search_by(|stat| stat.relpath.as_str().cmp(relpath))
            .ok()
            .map(|at| &listing.files[at])
    };
    let entry_at = |relpath: &str| {
        previous
            .entries
            .binary_search_by(|entry| entry.relpath.as_str().cmp(relpath))
            .ok()
    };
    let mut probe: BTreeSet<&str> = BTreeSet::new();
    for relpath in changed.iter().chain(&previous.recheck) {
        match stat_of(relpath).map(|stat| stat.kind) {
            // A changed or racy table: the join is done again.
            Some(Kind::Csv | Kind::Tsv) => return None,
            Some(Kind::Audio(_)) if entry_at(relpath).is_some() => {
                probe.insert(relpath);
            }
            // A file came, or went: the join may change.
            _ => {
                let name = relpath.rsplit('/').next().unwrap_or(relpath);
                if entry_at(relpath).is_some() || Kind::of(name).is_some() {
                    return None;
                }
            }
        }
    }
    // `build` probes again an entry that lacks a content hash it should have.
    if options.content_hash && previous.entries.iter().any(|e| e.content_hash.is_none()) {
        return None;
    }
    let mut entries = previous.entries.clone();
    let hashed = AtomicUsize::new(0);
    let mut summary = previous.summary.clone();
    for relpath in &probe {
        let (Some(at), Some(stat)) = (entry_at(relpath), stat_of(relpath)) else {
            return None;
        };
        let Kind::Audio(format) = stat.kind else {
            return None;
        };
        let old: &FileEntry = &entries[at];
        let mut entry = manifest::probe_entry(listing, stat, format, options, &hashed);
        entry.label.clone_from(&old.label);
        entry.meta.clone_from(&old.meta);
        summary.total_bytes = summary.total_bytes - old.size + entry.size;
        summary.errors =
            summary.errors - usize::from(old.error.is_some()) + usize::from(entry.error.is_some());
        entries[at] = Arc::new(entry);
    }
    // Summed again in entry order, as `build` sums: the same float to the last bit.
    summary.total_duration = 0.0;
    for entry in &entries {
        summary.total_duration += entry.duration.unwrap_or(0.0);
    }
    summary.skipped.clone_from(&listing.skipped);
    let probed = probe.len();
    let report = BuildReport {
        files: entries.len(),
        probed,
        reused: entries.len() - probed,
        hashed: hashed.into_inner(),
        elapsed: began.elapsed(),
    };
    let manifest = Manifest {
        version: listing.version.clone(),
        options: previous.options.clone(),
        entries,
        summary,
        recheck: listing.racy(),
        tables: previous.tables.clone(),
        built_at_ms: crate::scan::now_ns() / 1_000_000,
    };
    Some((manifest, report))
}

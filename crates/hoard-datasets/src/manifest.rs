//! Building a manifest from a listing: probe what is new, reuse what is not, join the
//! metadata tables, prune constant columns, sum up.

use crate::meta::{self, MetaError, Row, Tables};
use crate::probe::{self, Format};
use crate::scan::{hex, Kind, Listing, Skipped, Stat};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a manifest is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// The metadata column that holds the label; `None`: `emotion`, else `label`.
    pub label_column: Option<String>,
    /// Also hash every audio file's bytes (BLAKE3) into `content_hash`.
    pub content_hash: bool,
}

impl BuildOptions {
    /// A short string that changes when the options change: a manifest built with other
    /// options is rebuilt even if no file changed.
    pub fn fingerprint(&self) -> String {
        format!(
            "label={};content_hash={}",
            self.label_column.as_deref().unwrap_or(""),
            self.content_hash
        )
    }

    fn label_of(&self, row: &Row) -> Option<String> {
        match &self.label_column {
            Some(column) => row.get(column).cloned(),
            None => row.get("emotion").or_else(|| row.get("label")).cloned(),
        }
    }
}

/// One audio file in a manifest: the fields the emotion-recognition backend's manifests
/// have, plus `channels`, `mtime`, and `content_hash` / `error` when they apply.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FileEntry {
    /// Row key; equals `relpath`.
    pub id: String,
    /// The file name, for display.
    pub filename: String,
    /// Path under the dataset root, `/`-separated; what `/datasets/file` takes.
    pub relpath: String,
    /// Bytes.
    pub size: u64,
    /// Seconds, from the header; `null` when the file could not be read.
    pub duration: Option<f64>,
    /// Samples per second.
    pub sample_rate: Option<u32>,
    /// Channel count.
    pub channels: Option<u16>,
    /// Modification time, seconds since the Unix epoch (like Python's `st_mtime`).
    pub mtime: f64,
    /// The label column's value, if the file has a metadata row.
    pub label: Option<String>,
    /// Hash of `(relpath, size, mtime)`: the join key of `/results/{model}/{h}`.
    pub h: String,
    /// BLAKE3 of the bytes, when `content_hash` is on: survives renames and moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// The file's metadata columns, minus the join column and the dataset's constants.
    pub meta: Row,
    /// Why the file could not be probed; the scan goes on without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Dataset-level figures (the emotion-recognition backend's summary, plus durations and
/// error counts).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Audio files.
    pub total: usize,
    /// Their bytes.
    pub total_bytes: u64,
    /// Their seconds (files with errors count 0).
    pub total_duration: f64,
    /// Files per label.
    pub label_counts: BTreeMap<String, usize>,
    /// Columns with the same value in every metadata row, removed from each entry.
    pub meta_constants: Row,
    /// Audio files that could not be probed (their entries carry `error`).
    pub errors: usize,
    /// Metadata rows that could not be read.
    pub metadata_errors: Vec<MetaError>,
    /// Metadata rows that describe no audio file in the dataset.
    pub unmatched_rows: usize,
    /// Files and folders the scan passed over, with the reason.
    pub skipped: Vec<Skipped>,
}

/// A built dataset: what the cache stores and the routes serve.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The version of the listing it was built from.
    pub version: String,
    /// [`BuildOptions::fingerprint`] of the options it was built with.
    pub options: String,
    /// One entry per audio file, sorted by `relpath`. Entries are shared: a rebuild hands
    /// unchanged ones on to the new manifest without copying them, and
    /// [`crate::delta::Delta`] finds what changed by pointer.
    pub entries: Vec<Arc<FileEntry>>,
    /// Totals.
    pub summary: Summary,
    /// Files modified too close to the scan to trust their mtime: probed again next time.
    pub recheck: Vec<String>,
    /// A hash over the metadata tables' `(relpath, size, mtime)`. With the audio paths
    /// (compared entry by entry, not hashed) it is everything the join, `meta_constants`
    /// and the unmatched count depend on: while both stay the same, a rebuild takes those
    /// from this manifest instead of reading and joining every table again. Empty in
    /// manifests stored before it existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tables: String,
    /// When it was built, milliseconds since the Unix epoch.
    pub built_at_ms: i64,
}

/// What one build did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct BuildReport {
    /// Audio files in the manifest.
    pub files: usize,
    /// Files whose headers were read.
    pub probed: usize,
    /// Files whose probed fields were taken from the previous manifest.
    pub reused: usize,
    /// Files whose bytes were hashed.
    pub hashed: usize,
    /// Wall time.
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Progress of a build: `(done, total)` over the files being probed; called from worker
/// threads, so it must be cheap and thread-safe.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Builds the manifest of `listing`. Entries of `previous` whose `h` is unchanged (and that
/// were not marked for re-check) keep their probed fields; every other file is probed.
/// When no metadata table changed and no audio file came or went, each entry's `label`
/// and `meta`, and the summary's `meta_constants`, `metadata_errors` and `unmatched_rows`,
/// are those of `previous`: joining them again would give the same values, and reading
/// and joining every table is most of a small rebuild's cost.
pub fn build(
    listing: &Listing,
    previous: Option<&Manifest>,
    options: &BuildOptions,
    progress: Progress<'_>,
) -> (Manifest, BuildReport) {
    let began = Instant::now();
    let fingerprint = options.fingerprint();
    // Probed fields depend on the bytes only, so any previous manifest can lend them;
    // options decide just whether a content hash must be present too.
    let recheck: HashSet<&str> = previous
        .map(|p| p.recheck.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let audio: Vec<(&Stat, Format)> = listing
        .files
        .iter()
        .filter_map(|stat| match stat.kind {
            Kind::Audio(format) => Some((stat, format)),
            _ => None,
        })
        .collect();
    let reusable = |stat: &Stat, old: &FileEntry| {
        stat.h_is(&old.h)
            && !recheck.contains(stat.relpath.as_str())
            && (!options.content_hash || old.content_hash.is_some())
    };
    // Each file's previous entry, and whether its probed fields can be reused: decided
    // once, since it hashes every file's stat.
    let before: &[Arc<FileEntry>] = previous.map_or(&[], |p| &p.entries);
    let found: Vec<(Option<&Arc<FileEntry>>, bool)> = previous_entries(&audio, before)
        .into_par_iter()
        .zip(&audio)
        .map(|(old, (stat, _))| (old, old.is_some_and(|old| reusable(stat, old))))
        .collect();
    let tables_key = tables_key(listing);
    // The previous join still holds if the options (the label column), the tables and the
    // audio paths are the same (every file has a previous entry, and no entry is left
    // over), and no table was racy (its stat could hide a change) when that manifest was
    // built.
    let same_paths = before.len() == audio.len() && found.iter().all(|(old, _)| old.is_some());
    let joined = previous.filter(|p| {
        p.options == fingerprint
            && !p.tables.is_empty()
            && p.tables == tables_key
            && same_paths
            && !listing
                .files
                .iter()
                .any(|f| !matches!(f.kind, Kind::Audio(_)) && recheck.contains(f.relpath.as_str()))
    });
    let to_probe = found.iter().filter(|(_, reuse)| !reuse).count();
    let done = AtomicUsize::new(0);
    let hashed = AtomicUsize::new(0);
    let mut entries: Vec<Arc<FileEntry>> = audio
        .par_iter()
        .zip(&found)
        .map(
            |((stat, format), &(old, reuse))| match (old, reuse, joined.is_some()) {
                // Unchanged file, unchanged join: the very same entry.
                (Some(old), true, true) => old.clone(),
                // Unchanged file, tables to join again: its probed fields.
                (Some(old), true, false) => Arc::new(carry(old)),
                _ => {
                    let mut entry = probe_entry(listing, stat, *format, options, &hashed);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, to_probe);
                    if let (Some(old), Some(_)) = (old, joined) {
                        entry.label.clone_from(&old.label);
                        entry.meta.clone_from(&old.meta);
                    }
                    Arc::new(entry)
                }
            },
        )
        .collect();

    let summary = match joined {
        Some(previous) => {
            let old = &previous.summary;
            summarize(
                &entries,
                old.meta_constants.clone(),
                old.metadata_errors.clone(),
                old.unmatched_rows,
                &listing.skipped,
            )
        }
        None => {
            let mut tables = Tables::load(&listing.root, &listing.files);
            // Every entry here is new (probed or carried), so `make_mut` copies nothing.
            for entry in &mut entries {
                let entry = Arc::make_mut(entry);
                let row = tables
                    .join(&entry.relpath, &entry.filename)
                    .unwrap_or_default();
                entry.label = options.label_of(&row);
                entry.meta = row;
            }
            let constants = {
                let mut rows: Vec<&mut Row> = entries
                    .iter_mut()
                    .filter(|e| !e.meta.is_empty())
                    .map(|e| &mut Arc::make_mut(e).meta)
                    .collect();
                meta::prune_constants(&mut rows)
            };
            summarize(
                &entries,
                constants,
                tables.errors.clone(),
                tables.unmatched(),
                &listing.skipped,
            )
        }
    };
    let probed = done.into_inner();
    let report = BuildReport {
        files: entries.len(),
        probed,
        reused: entries.len() - probed,
        hashed: hashed.into_inner(),
        elapsed: began.elapsed(),
    };
    let manifest = Manifest {
        version: listing.version.clone(),
        options: fingerprint,
        entries,
        summary,
        recheck: listing.racy(),
        tables: tables_key,
        built_at_ms: crate::scan::now_ns() / 1_000_000,
    };
    (manifest, report)
}

/// The previous entry of each file (same `relpath`), found by walking both lists side by
/// side: both are sorted by `relpath` (the walk sorts; entries keep its order). A lookup
/// per file (a map, a binary search) chases pointers to 100,000 strings at random and was
/// half of a small rebuild. Entries out of order (not written by this code) would only be
/// missed, and their files probed again: a match always has the same `relpath`.
fn previous_entries<'a>(
    audio: &[(&Stat, Format)],
    before: &'a [Arc<FileEntry>],
) -> Vec<Option<&'a Arc<FileEntry>>> {
    let mut rest = before.iter().peekable();
    audio
        .iter()
        .map(|(stat, _)| {
            while rest.next_if(|old| old.relpath < stat.relpath).is_some() {}
            rest.next_if(|old| old.relpath == stat.relpath)
        })
        .collect()
}

/// A previous entry's probed fields, without its `label` and `meta`: the join sets those
/// (copying the old row only to replace it was a third of a small rebuild).
fn carry(old: &FileEntry) -> FileEntry {
    FileEntry {
        id: old.id.clone(),
        filename: old.filename.clone(),
        relpath: old.relpath.clone(),
        size: old.size,
        duration: old.duration,
        sample_rate: old.sample_rate,
        channels: old.channels,
        mtime: old.mtime,
        label: None,
        h: old.h.clone(),
        content_hash: old.content_hash.clone(),
        meta: Row::new(),
        error: old.error.clone(),
    }
}

/// [`Manifest::tables`] of a listing. Audio paths are left out: hashing 100,000 of them
/// took longer than comparing them with the previous entries, which a build does anyway.
fn tables_key(listing: &Listing) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"tables-v2");
    for stat in &listing.files {
        if matches!(stat.kind, Kind::Csv | Kind::Tsv) {
            hasher.update(stat.relpath.as_bytes());
            hasher.update(&[0]);
            hasher.update(&stat.size.to_le_bytes());
            hasher.update(&stat.mtime_ns.to_le_bytes());
        }
    }
    hex(&hasher.finalize().as_bytes()[..16])
}

pub(crate) fn probe_entry(
    listing: &Listing,
    stat: &Stat,
    format: Format,
    options: &BuildOptions,
    hashed: &AtomicUsize,
) -> FileEntry {
    let path = listing.root.join(&stat.relpath);
    let (info, error) = match probe::probe(&path, format) {
        Ok(info) => (Some(info), None),
        Err(error) => (None, Some(error)),
    };
    let content_hash = if options.content_hash {
        hashed.fetch_add(1, Ordering::Relaxed);
        hash_file(&path).ok()
    } else {
        None
    };
    FileEntry {
        id: stat.relpath.clone(),
        filename: stat
            .relpath
            .rsplit('/')
            .next()
            .unwrap_or(&stat.relpath)
            .to_owned(),
        relpath: stat.relpath.clone(),
        size: stat.size,
        duration: info.map(|i| i.duration),
        sample_rate: info.map(|i| i.sample_rate),
        channels: info.map(|i| i.channels),
        mtime: stat.mtime_ns as f64 / 1e9,
        label: None,
        h: stat.h(),
        content_hash,
        meta: Row::new(),
        error,
    }
}

/// BLAKE3 of a file's bytes, 64 hex digits.
pub fn hash_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    Ok(hex(hasher.finalize().as_bytes()))
}

fn summarize(
    entries: &[Arc<FileEntry>],
    constants: Row,
    metadata_errors: Vec<MetaError>,
    unmatched_rows: usize,
    skipped: &[Skipped],
) -> Summary {
    let mut summary = Summary {
        total: entries.len(),
        meta_constants: constants,
        metadata_errors,
        unmatched_rows,
        skipped: skipped.to_vec(),
        ..Summary::default()
    };
    for entry in entries {
        summary.total_bytes += entry.size;
        summary.total_duration += entry.duration.unwrap_or(0.0);
        if entry.error.is_some() {
            summary.errors += 1;
        }
        if let Some(label) = &entry.label {
            // Look up before inserting: a clone of the label per file was a tenth of a
            // small rebuild.
            match summary.label_counts.get_mut(label.as_str()) {
                Some(count) => *count += 1,
                None => {
                    summary.label_counts.insert(label.clone(), 1);
                }
            }
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::walk;
    use std::path::Path;
    use std::time::SystemTime;

    fn wav(frames: u32) -> Vec<u8> {
        let data = frames * 2;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        for field in [16u32, 0x0001_0001, 8000, 16_000, 0x0010_0002] {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data.to_le_bytes());
        out.resize(out.len() + data as usize, 0);
        out
    }

    /// Writes `bytes` with an mtime `age` seconds ago (0: now, which is racy).
    fn put(path: &Path, bytes: &[u8], age: u64) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age))
            .unwrap();
    }

    fn csv(emotion_of_x1: &str) -> String {
        format!(
            "filename,modality,emotion,actor\n\
             x1.wav,audio,{emotion_of_x1},1\n\
             x2.wav,audio,sad,2\n\
             x3.wav,audio,happy,1\n\
             gone.wav,audio,calm,3\n"
        )
    }

    fn label_of_x1(manifest: &Manifest) -> Option<&str> {
        let entry = manifest.entries.iter().find(|e| e.relpath == "a/x1.wav");
        entry.and_then(|e| e.label.as_deref())
    }

    /// Builds from `previous`, checks the result against a build from scratch, returns it.
    fn rebuild(root: &Path, previous: &Manifest) -> (Manifest, BuildReport) {
        let listing = walk(root).unwrap();
        let options = BuildOptions::default();
        let (incremental, report) = build(&listing, Some(previous), &options, &|_, _| {});
        let (scratch, _) = build(&listing, None, &options, &|_, _| {});
        assert_eq!(incremental.entries, scratch.entries);
        assert_eq!(incremental.summary, scratch.summary);
        assert_eq!(incremental.tables, scratch.tables);
        assert_eq!(incremental.recheck, scratch.recheck);
        (incremental, report)
    }

    #[test]
    fn rebuilds_reuse_the_join_only_while_tables_and_paths_are_unchanged() {
        let dir = hoard_testkit::temp_dir();
        let root = dir.path();
        for (i, frames) in [(1, 800), (2, 1600), (3, 2400), (4, 3200)] {
            put(&root.join(format!("a/x{i}.wav")), &wav(frames), 3600);
        }
        put(
            &root.join("a/a_metadata.csv"),
            csv("angry").as_bytes(),
            3600,
        );
        let listing = walk(root).unwrap();
        let (first, _) = build(&listing, None, &BuildOptions::default(), &|_, _| {});
        assert_eq!(
            first
                .summary
                .meta_constants
                .get("modality")
                .map(String::as_str),
            Some("audio")
        );
        assert_eq!(first.summary.unmatched_rows, 1);

        // An audio file changed: one probe, the join taken from `first`.
        put(&root.join("a/x2.wav"), &wav(400), 3000);
        let (second, report) = rebuild(root, &first);
        assert_eq!(report.probed, 1);
        assert_eq!(second.tables, first.tables);

        // The table changed: joined again.
        put(
            &root.join("a/a_metadata.csv"),
            csv("fearful").as_bytes(),
            3000,
        );
        let (third, report) = rebuild(root, &second);
        assert_eq!(report.probed, 0);
        assert_ne!(third.tables, second.tables);
        assert_eq!(label_of_x1(&third), Some("fearful"));

        // A file came: joined again (it may match a row, and constants may change).
        put(&root.join("a/gone.wav"), &wav(800), 3000);
        let (fourth, _) = rebuild(root, &third);
        assert_eq!(fourth.summary.unmatched_rows, 0);

        // A racy table: its stat cannot be trusted, so the next rebuild joins again even
        // if the table is rewritten with the same size and mtime.
        put(&root.join("a/a_metadata.csv"), csv("neutral").as_bytes(), 0);
        let (racy, _) = rebuild(root, &fourth);
        assert!(racy.recheck.contains(&"a/a_metadata.csv".to_owned()));
        let stat = std::fs::metadata(root.join("a/a_metadata.csv")).unwrap();
        put(&root.join("a/a_metadata.csv"), csv("serious").as_bytes(), 0);
        let file = std::fs::File::options()
            .write(true)
            .open(root.join("a/a_metadata.csv"))
            .unwrap();
        file.set_modified(stat.modified().unwrap()).unwrap();
        let (after, _) = rebuild(root, &racy);
        assert_eq!(after.tables, racy.tables, "same stats");
        assert_eq!(label_of_x1(&after), Some("serious"));

        // A rename keeps the count of files but not the paths: joined again (x2's row now
        // matches nothing).
        std::fs::rename(root.join("a/x2.wav"), root.join("a/x9.wav")).unwrap();
        let (renamed, _) = rebuild(root, &after);
        assert_eq!(renamed.entries.len(), after.entries.len());
        assert_eq!(renamed.summary.unmatched_rows, 1);
    }
}

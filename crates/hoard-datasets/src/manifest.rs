//! Building a manifest from a listing: probe what is new, reuse what is not, join the
//! metadata tables, prune constant columns, sum up.

use crate::meta::{self, MetaError, Row, Tables};
use crate::probe::{self, Format};
use crate::scan::{hex, Kind, Listing, Skipped, Stat};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// One audio file in a manifest: seed 000's entry, plus `channels`, `mtime`, and
/// `content_hash` / `error` when they apply.
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

/// Dataset-level figures (seed 000's summary, plus durations and error counts).
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
    /// One entry per audio file, sorted by `relpath`.
    pub entries: Vec<FileEntry>,
    /// Totals.
    pub summary: Summary,
    /// Files modified too close to the scan to trust their mtime: probed again next time.
    pub recheck: Vec<String>,
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
pub fn build(
    listing: &Listing,
    previous: Option<&Manifest>,
    options: &BuildOptions,
    progress: Progress<'_>,
) -> (Manifest, BuildReport) {
    let began = Instant::now();
    // Probed fields depend on the bytes only, so any previous manifest can lend them;
    // options decide just whether a content hash must be present too.
    let reusable: HashMap<&str, &FileEntry> = match previous {
        Some(previous) => {
            let recheck: HashSet<&str> = previous.recheck.iter().map(String::as_str).collect();
            previous
                .entries
                .iter()
                .filter(|e| !recheck.contains(e.relpath.as_str()))
                .map(|e| (e.relpath.as_str(), e))
                .collect()
        }
        None => HashMap::new(),
    };
    let audio: Vec<(&Stat, Format)> = listing
        .files
        .iter()
        .filter_map(|stat| match stat.kind {
            Kind::Audio(format) => Some((stat, format)),
            _ => None,
        })
        .collect();
    let hashes: Vec<String> = audio.par_iter().map(|(stat, _)| stat.h()).collect();
    let reuse = |relpath: &str, h: &str| {
        reusable
            .get(relpath)
            .filter(|old| old.h == h && (!options.content_hash || old.content_hash.is_some()))
    };
    let to_probe = audio
        .iter()
        .zip(&hashes)
        .filter(|((stat, _), h)| reuse(&stat.relpath, h).is_none())
        .count();
    let done = AtomicUsize::new(0);
    let hashed = AtomicUsize::new(0);
    let mut entries: Vec<FileEntry> = audio
        .par_iter()
        .zip(hashes)
        .map(|((stat, format), h)| {
            if let Some(old) = reuse(&stat.relpath, &h) {
                return (*old).clone();
            }
            let entry = probe_entry(listing, stat, *format, h, options, &hashed);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, to_probe);
            entry
        })
        .collect();

    let mut tables = Tables::load(&listing.root, &listing.files);
    for entry in &mut entries {
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
            .map(|e| &mut e.meta)
            .collect();
        meta::prune_constants(&mut rows)
    };
    let summary = summarize(&entries, constants, &tables, &listing.skipped);
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
        options: options.fingerprint(),
        entries,
        summary,
        recheck: listing.racy(),
        built_at_ms: crate::scan::now_ns() / 1_000_000,
    };
    (manifest, report)
}

fn probe_entry(
    listing: &Listing,
    stat: &Stat,
    format: Format,
    h: String,
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
        h,
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
    entries: &[FileEntry],
    constants: Row,
    tables: &Tables,
    skipped: &[Skipped],
) -> Summary {
    let mut summary = Summary {
        total: entries.len(),
        meta_constants: constants,
        metadata_errors: tables.errors.clone(),
        unmatched_rows: tables.unmatched(),
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
            *summary.label_counts.entry(label.clone()).or_default() += 1;
        }
    }
    summary
}

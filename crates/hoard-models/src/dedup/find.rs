//! Grouping the candidates into sets of equal files, from cheap to expensive: by size, then
//! by the hashes in their names, then by reading them.

use super::candidates::{self, Candidate, Entry};
use super::identity::blake3_file;
use super::report::{DedupOptions, Group, Report};
use crate::inventory::Inventory;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Finds every set of files holding the same bytes among the inventory's content files
/// and the files under `options.extra_dirs`.
///
/// Partial downloads and Ollama orphans are left out: the former may still be growing
/// (kept as the link target, they would tie finished copies to bytes that still change),
/// the latter are for `prune` to remove, not to share.
pub fn find(inventory: &Inventory, options: &DedupOptions) -> Report {
    let mut report = Report::default();
    // An empty file is "equal" to every other empty file, and linking frees nothing.
    let min_size = options.min_size.as_u64().max(1);
    let entries = candidates::collect(inventory, options, min_size, &mut report.unreadable);

    let mut by_size: BTreeMap<u64, Vec<Entry>> = BTreeMap::new();
    for entry in entries {
        by_size.entry(entry.size).or_default().push(entry);
    }
    let mut to_read: Vec<Class> = Vec::new();
    for (size, entries) in by_size {
        if entries.len() < 2 {
            continue;
        }
        let mut named: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
        let mut unnamed: Vec<Candidate> = Vec::new();
        for entry in entries {
            match entry.file.name_hash.clone() {
                Some(hash) => named.entry(hash).or_default().push(entry.file),
                None => unnamed.push(entry.file),
            }
        }
        let kinds: BTreeSet<&str> = named.keys().map(|hash| kind(hash)).collect();
        if unnamed.is_empty() && kinds.len() == 1 {
            // Same kind of hash everywhere: equal names mean equal bytes, different names
            // different bytes. Nothing to read.
            for (hash, files) in named {
                if files.len() >= 2 {
                    report.groups.push(group(size, hash, files));
                }
            }
            continue;
        }
        // Mixed: a sha256 name cannot be compared with a git-sha1 name or with a file that
        // has none. Files sharing a name hash are still one class (one read stands for all);
        // each class is hashed once with BLAKE3 and classes are compared by that.
        to_read.extend(named.into_values().map(|files| Class { size, files }));
        to_read.extend(unnamed.into_iter().map(|file| Class {
            size,
            files: vec![file],
        }));
    }

    let read: Vec<ReadClass> = to_read.into_par_iter().map(read_class).collect();
    let mut by_content: BTreeMap<(u64, String), Vec<Candidate>> = BTreeMap::new();
    for class in read {
        report.hashed_files += class.files_read;
        report.hashed_bytes += class.bytes_read;
        report.unreadable.extend(class.errors);
        if let Some(hash) = class.hash {
            by_content
                .entry((class.size, hash))
                .or_default()
                .extend(class.files);
        }
    }
    for ((size, hash), files) in by_content {
        if files.len() >= 2 {
            report
                .groups
                .push(group(size, format!("blake3:{hash}"), files));
        }
    }
    report.groups.sort_by(|a, b| {
        b.reclaimable()
            .cmp(&a.reclaimable())
            .then_with(|| a.hash.cmp(&b.hash))
    });
    report.unreadable.sort();
    report
}

/// Files of one size presumed equal without reading: those sharing a name hash, or a
/// single file.
#[derive(Debug)]
struct Class {
    size: u64,
    files: Vec<Candidate>,
}

/// A class after hashing one of its files.
#[derive(Debug)]
struct ReadClass {
    size: u64,
    /// BLAKE3 hex of the file read; `None` if no file of the class could be read whole.
    hash: Option<String>,
    /// The files the hash stands for (those that failed are in `errors`).
    files: Vec<Candidate>,
    files_read: usize,
    bytes_read: u64,
    errors: Vec<(PathBuf, String)>,
}

/// Hashes the first readable file of `class`: the others are equal to it by name.
fn read_class(class: Class) -> ReadClass {
    let mut out = ReadClass {
        size: class.size,
        hash: None,
        files: Vec::new(),
        files_read: 0,
        bytes_read: 0,
        errors: Vec::new(),
    };
    let mut files = class.files.into_iter();
    for file in files.by_ref() {
        match blake3_file(&file.path) {
            Ok((hash, count)) => {
                out.files_read += 1;
                out.bytes_read += count;
                if count == class.size {
                    out.hash = Some(hash.to_hex().to_string());
                    out.files.push(file);
                    break;
                }
                // Written to since it was measured: what was hashed is not what is there.
                out.errors.push((
                    file.path,
                    format!(
                        "changed while being read ({count} bytes, expected {})",
                        class.size
                    ),
                ));
            }
            Err(e) => out.errors.push((file.path, e.to_string())),
        }
    }
    out.files.extend(files);
    out
}

/// `sha256` of `sha256:HEX`.
fn kind(hash: &str) -> &str {
    hash.split_once(':').map_or(hash, |(kind, _)| kind)
}

/// A group with the file to keep first.
fn group(size: u64, hash: String, mut files: Vec<Candidate>) -> Group {
    // Keep a store file (the configured layout is where files should live), then the
    // oldest (what other tools most likely already point at); unknown times sort last.
    files.sort_by(|a, b| {
        (!a.in_store, a.modified.is_none(), a.modified, &a.path).cmp(&(
            !b.in_store,
            b.modified.is_none(),
            b.modified,
            &b.path,
        ))
    });
    Group {
        size,
        hash,
        files: files.into_iter().map(|file| file.path).collect(),
    }
}

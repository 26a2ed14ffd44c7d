//! The files `find` compares: the inventory's content files and every regular file of the
//! extra dirs, `lstat`ed, at least the minimum size, one entry per inode.

use super::identity::file_id;
use super::report::DedupOptions;
use crate::files::is_partial;
use crate::inventory::Inventory;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where a candidate path came from.
#[derive(Debug, Clone)]
struct Source {
    /// Listed by the inventory (preferred as the file to keep).
    in_store: bool,
    /// The hash its name carries, if the inventory knew one.
    name_hash: Option<String>,
}

/// A candidate after `lstat`.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub(super) path: PathBuf,
    pub(super) in_store: bool,
    pub(super) name_hash: Option<String>,
    pub(super) modified: Option<SystemTime>,
}

/// One inode: what is compared, under its preferred path.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) file: Candidate,
    pub(super) size: u64,
}

/// The files to compare, one [`Entry`] per inode: the inventory's content files and the
/// regular files of the extra dirs, at least `min_size` bytes. What cannot be examined
/// goes to `unreadable`.
pub(super) fn collect(
    inventory: &Inventory,
    options: &DedupOptions,
    min_size: u64,
    unreadable: &mut Vec<(PathBuf, String)>,
) -> Vec<Entry> {
    let sources = sources(inventory, options, min_size, unreadable);
    stat_and_merge(sources, min_size, unreadable)
}

/// Candidate paths: the inventory's content files and the regular files of the extra dirs.
fn sources(
    inventory: &Inventory,
    options: &DedupOptions,
    min_size: u64,
    unreadable: &mut Vec<(PathBuf, String)>,
) -> BTreeMap<PathBuf, Source> {
    let partial: HashSet<&Path> = inventory
        .items
        .iter()
        .flat_map(|item| item.partial.iter().map(|file| file.path.as_path()))
        .collect();
    let mut sources: BTreeMap<PathBuf, Source> = BTreeMap::new();
    for item in &inventory.items {
        for content in &item.contents {
            // The scan's size only pre-filters; the size compared is the one `lstat` gives
            // below, in case the file changed since.
            if content.file.size < min_size || partial.contains(content.file.path.as_path()) {
                continue;
            }
            // An Ollama layer shared by several models is listed once per model.
            let source = sources.entry(content.file.path.clone()).or_insert(Source {
                in_store: true,
                name_hash: None,
            });
            if source.name_hash.is_none() {
                source.name_hash.clone_from(&content.name_hash);
            }
        }
    }
    for dir in &options.extra_dirs {
        walk(dir, &mut sources, unreadable);
    }
    sources
}

/// Adds every regular file under `top` (not following symlinks) that is not already a
/// source. A missing `top` is simply empty: callers pass default locations that may not
/// exist on this machine.
fn walk(
    top: &Path,
    sources: &mut BTreeMap<PathBuf, Source>,
    unreadable: &mut Vec<(PathBuf, String)>,
) {
    let mut stack = vec![top.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            // Gone (or never there): nothing to compare.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                unreadable.push((dir, e.to_string()));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    unreadable.push((dir.clone(), e.to_string()));
                    continue;
                }
            };
            // `DirEntry::file_type` does not follow symlinks, so a link is neither a dir
            // nor a file here and is skipped.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && !is_partial(&entry.file_name().to_string_lossy()) {
                sources.entry(entry.path()).or_insert(Source {
                    in_store: false,
                    name_hash: None,
                });
            }
        }
    }
}

/// `lstat`s every source (in parallel), keeps the regular files of at least `min_size`
/// bytes, and merges paths that are one inode.
fn stat_and_merge(
    sources: BTreeMap<PathBuf, Source>,
    min_size: u64,
    unreadable: &mut Vec<(PathBuf, String)>,
) -> Vec<Entry> {
    let stats: Vec<(PathBuf, Source, io::Result<fs::Metadata>)> = sources
        .into_iter()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(path, source)| {
            let metadata = fs::symlink_metadata(&path);
            (path, source, metadata)
        })
        .collect();
    // Inode -> its paths. Without inode numbers (not Unix) every path is its own file.
    let mut inodes: HashMap<FileKey, (u64, Vec<Candidate>)> = HashMap::new();
    for (index, (path, source, metadata)) in stats.into_iter().enumerate() {
        let metadata = match metadata {
            Ok(metadata) => metadata,
            // Removed since the scan: nothing to deduplicate.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                unreadable.push((path, e.to_string()));
                continue;
            }
        };
        if !metadata.is_file() || metadata.len() < min_size {
            continue;
        }
        let key = match file_id(&metadata) {
            Some(id) => FileKey::Inode(id.dev, id.ino),
            None => FileKey::Path(index),
        };
        let candidate = Candidate {
            path,
            in_store: source.in_store,
            name_hash: source.name_hash,
            modified: metadata.modified().ok(),
        };
        inodes
            .entry(key)
            .or_insert_with(|| (metadata.len(), Vec::new()))
            .1
            .push(candidate);
    }
    let mut entries: Vec<Entry> = inodes
        .into_values()
        .filter_map(|(size, paths)| {
            // Names of one inode should agree; if they do not, one of them lies, so the
            // content is read instead.
            let names: BTreeSet<&String> =
                paths.iter().filter_map(|c| c.name_hash.as_ref()).collect();
            let name_hash = (names.len() == 1)
                .then(|| names.into_iter().next().cloned())
                .flatten();
            let in_store = paths.iter().any(|c| c.in_store);
            // The path shown for the inode: a store path, one whose name says its hash,
            // then the first by path (deterministic).
            let mut file = paths.into_iter().min_by(|a, b| {
                (!a.in_store, a.name_hash.is_none(), &a.path).cmp(&(
                    !b.in_store,
                    b.name_hash.is_none(),
                    &b.path,
                ))
            })?;
            file.in_store = in_store;
            file.name_hash = name_hash;
            Some(Entry { file, size })
        })
        .collect();
    entries.sort_by(|a, b| a.file.path.cmp(&b.file.path));
    entries
}

/// Identity of a file for "already hard-linked" checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FileKey {
    Inode(u64, u64),
    Path(usize),
}

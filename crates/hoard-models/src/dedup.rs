//! `hoard models dedup`: the same bytes stored more than once across stores and other
//! locations (two Hugging Face repos sharing a file, a torch checkpoint that is also a hub
//! blob, an app cache holding a copy), found while reading as little as possible, and
//! optionally, where they are content-addressed store blobs, turned into hard links.
//!
//! [`find`] works from cheap to expensive:
//! 1. candidates are the content files of the inventory (blobs, checkpoints, layers, app
//!    cache files) and every regular file under [`DedupOptions::extra_dirs`], at least
//!    [`DedupOptions::min_size`] bytes; paths that are one inode (already hard links) count
//!    once, since they take the space once;
//! 2. files of different sizes cannot be equal, so a size held by one inode is settled;
//! 3. where every file of a size carries a hash of the same kind in its name (Hugging Face
//!    blobs, Ollama layers), the names decide and nothing is read;
//! 4. otherwise one file per distinct name hash and every file without one is read and
//!    hashed with BLAKE3, in parallel. A name hash is never compared with a BLAKE3 hash.
//!
//! [`link`] trusts none of that: right before replacing a copy it hashes both files again,
//! and it only touches files strictly inside the configured roots.
//!
//! [`link`] also only links content-addressed store blobs (Hugging Face hub
//! `blobs/HEX`, Ollama `blobs/sha256-HEX`), judged by the path. Hard links share their
//! bytes: a program that rewrites a linked file in place (`torch.save` opens with `wb` and
//! truncates, app caches rewrite their files) would change every linked copy, hub blobs
//! included, silently corrupting them. Store blobs are never rewritten in place: the hub
//! libraries and Ollama write a new file and rename it over the name. Every other duplicate
//! (torch checkpoints, app cache files, files of the extra dirs) stays a copy; [`find`]
//! still reports it.

use crate::layout::Layout;
use crate::scan::Inventory;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// What [`find`] looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupOptions {
    /// Files smaller than this are ignored (default 1 MiB): linking them frees little and
    /// hashing many of them costs a lot. Empty files are always ignored.
    pub min_size: u64,
    /// Other locations to include, such as `~/.cache/huggingface`: every regular file under
    /// them (symlinks are not followed). [`link`] never changes those outside the roots.
    pub extra_dirs: Vec<PathBuf>,
}

impl Default for DedupOptions {
    fn default() -> Self {
        DedupOptions {
            min_size: 1 << 20,
            extra_dirs: Vec::new(),
        }
    }
}

/// Files holding the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    /// Bytes in each file.
    pub size: u64,
    /// What they share: the hash in their names (`sha256:HEX`, `gitsha1:HEX`) when the
    /// names decided, else `blake3:HEX` of the content.
    pub hash: String,
    /// One path per inode. The first is the one to keep: a file inside the configured
    /// stores if there is one, then the oldest (mtime), then the first by path. [`link`]
    /// keeps the first content-addressed blob inside the roots instead, and only links
    /// blobs to it.
    pub files: Vec<PathBuf>,
}

impl Group {
    /// Bytes freed if every copy but the first became a link to it. [`link`] frees only
    /// the part held by content-addressed blobs inside the roots.
    pub fn reclaimable(&self) -> u64 {
        let copies = u64::try_from(self.files.len().saturating_sub(1)).unwrap_or(u64::MAX);
        self.size.saturating_mul(copies)
    }
}

/// What [`find`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Duplicate sets, most reclaimable first.
    pub groups: Vec<Group>,
    /// Files read and hashed with BLAKE3 (the rest were settled by size or name).
    pub hashed_files: usize,
    /// Bytes those reads took.
    pub hashed_bytes: u64,
    /// Files or folders that could not be examined, and why; they are in no group.
    pub unreadable: Vec<(PathBuf, String)>,
}

impl Report {
    /// Bytes freed if every copy of every group became a link ([`Group::reclaimable`]).
    pub fn reclaimable(&self) -> u64 {
        self.groups.iter().map(Group::reclaimable).sum()
    }
}

/// What [`link`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkOutcome {
    /// Copies replaced by a hard link.
    pub linked: usize,
    /// Bytes freed (a copy that had other hard links of its own frees nothing).
    pub freed: u64,
    /// Files of the groups left as they were, and why (among them every file that is not a
    /// content-addressed blob).
    pub skipped: Vec<(PathBuf, String)>,
}

// ---------------------------------------------------------------- finding

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
struct Candidate {
    path: PathBuf,
    in_store: bool,
    name_hash: Option<String>,
    modified: Option<SystemTime>,
}

/// One inode: what is compared, under its preferred path.
#[derive(Debug, Clone)]
struct Entry {
    file: Candidate,
    size: u64,
}

/// Finds every set of files holding the same bytes among the inventory's content files
/// and the files under `options.extra_dirs`.
///
/// Partial downloads and Ollama orphans are left out: the former may still be growing
/// (kept as the link target, they would tie finished copies to bytes that still change),
/// the latter are for `prune` to remove, not to share.
pub fn find(inventory: &Inventory, options: &DedupOptions) -> Report {
    let mut report = Report::default();
    // An empty file is "equal" to every other empty file, and linking frees nothing.
    let min_size = options.min_size.max(1);
    let sources = sources(inventory, options, min_size, &mut report.unreadable);
    let entries = stat_and_merge(sources, min_size, &mut report.unreadable);

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
            } else if kind.is_file()
                && !crate::scan::is_partial(&entry.file_name().to_string_lossy())
            {
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

/// BLAKE3 of a file's bytes and how many there were, read in plain chunks (no mmap: a
/// file truncated under a mapping would kill the process with SIGBUS).
fn blake3_file(path: &Path) -> io::Result<(blake3::Hash, u64)> {
    let file = crate::scan::open_quietly(path)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file)?;
    Ok((hasher.finalize(), hasher.count()))
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

// ---------------------------------------------------------------- linking

/// Device, inode and link count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    nlink: u64,
}

#[cfg(unix)]
fn file_id(metadata: &fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId {
        dev: metadata.dev(),
        ino: metadata.ino(),
        nlink: metadata.nlink(),
    })
}

#[cfg(not(unix))]
fn file_id(_metadata: &fs::Metadata) -> Option<FileId> {
    None
}

/// What must not change between verifying a file and linking: same inode, same length,
/// same mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

fn fingerprint(metadata: &fs::Metadata) -> Result<Fingerprint, String> {
    let id = file_id(metadata).ok_or("hard links are only made on Unix filesystems")?;
    Ok(Fingerprint {
        dev: id.dev,
        ino: id.ino,
        len: metadata.len(),
        modified: metadata.modified().ok(),
    })
}

/// The file every copy of a group is linked to, verified.
#[derive(Debug)]
struct Target {
    /// Canonical parent joined with the file name.
    path: PathBuf,
    hash: blake3::Hash,
    print: Fingerprint,
}

/// Replaces the copies of each group with hard links to the file kept, where safe:
///
/// - the copy and the kept file are regular files (a symlink is never replaced or
///   followed) strictly inside one of `layout.roots()`, judged by the canonical parent
///   folder as `plan` does; files elsewhere (extra dirs) are reported, never touched;
/// - both are content-addressed store blobs, judged by the path (canonical parent folder
///   and file name): a file named by 64 or 40 hex digits (a Hugging Face hub blob) or
///   `sha256-` and 64 hex digits (an Ollama layer) in a folder named `blobs`. Any other
///   file (torch checkpoints, app cache files) is reported and left as a copy, see below;
/// - the file kept is the first of the group that is such a blob inside the roots (files
///   before it are reported, not linked);
/// - both are on the same filesystem;
/// - both are hashed with BLAKE3 right before linking and must be equal (a group found by
///   name hashes was never read), and neither changed while being hashed.
///
/// The copy is replaced atomically: the kept file is hard-linked to a temporary name in
/// the copy's folder, which is then renamed over the copy, so a reader sees the old bytes
/// or the new link, never a missing file. Nothing of the copy (mode, times) is preserved:
/// the bytes are the same and the link shares the kept file's inode.
///
/// Why only blobs: a linked file shares its bytes, so a program that rewrites one of them in
/// place changes all of them. `torch.save` opens its file with `wb` (truncating it) and
/// app caches rewrite their files; linked to a hub blob, such a file would silently corrupt
/// the blob and every other copy. Store blobs are content-addressed: the hub libraries and
/// Ollama write a new file and rename it over the name, which gives that name a new inode
/// and leaves the other links alone. Nothing else is known to behave so.
pub fn link(report: &Report, layout: &Layout) -> LinkOutcome {
    let roots: Vec<PathBuf> = layout
        .roots()
        .iter()
        .filter_map(|root| fs::canonicalize(root).ok())
        .collect();
    let parts: Vec<LinkOutcome> = report
        .groups
        .par_iter()
        .map(|group| link_group(group, &roots))
        .collect();
    let mut outcome = LinkOutcome::default();
    for part in parts {
        outcome.linked += part.linked;
        outcome.freed += part.freed;
        outcome.skipped.extend(part.skipped);
    }
    outcome
}

fn link_group(group: &Group, roots: &[PathBuf]) -> LinkOutcome {
    let mut outcome = LinkOutcome::default();
    let mut target: Option<Target> = None;
    for path in &group.files {
        match &target {
            None => match verify_target(path, group.size, roots) {
                Ok(verified) => target = Some(verified),
                Err(reason) => outcome.skipped.push((path.clone(), reason)),
            },
            Some(target) => match replace(path, target, group.size, roots) {
                Ok(Replaced::Linked { freed }) => {
                    outcome.linked += 1;
                    outcome.freed += freed;
                }
                Ok(Replaced::AlreadyLinked) => {}
                Err(reason) => outcome.skipped.push((path.clone(), reason)),
            },
        }
    }
    outcome
}

/// Why a file that is not a content-addressed blob is left as a copy.
const NOT_A_BLOB: &str = "not a content-addressed blob: a program may rewrite it in place, \
     which would change every linked copy; left as a copy";

/// Whether `path` names a content-addressed store blob: a Hugging Face hub blob
/// (`blobs/` + 64 or 40 hex digits) or an Ollama layer (`blobs/sha256-` + 64 hex digits).
/// Such files are written to a new name and renamed, never rewritten in place.
fn content_addressed(path: &Path) -> bool {
    let in_blobs = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|folder| folder == "blobs");
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    let hex = match name.strip_prefix("sha256-") {
        Some(hex) => (hex.len() == 64).then_some(hex),
        None => matches!(name.len(), 64 | 40).then_some(name),
    };
    in_blobs && hex.is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `path` as canonical parent + file name if it is a content-addressed blob strictly inside
/// one of `roots`: the only files [`link`] may keep or replace.
fn linkable(path: &Path, roots: &[PathBuf]) -> Result<PathBuf, String> {
    let real = inside(path, roots)?;
    // Judged where the file really is: a `blobs` name reached through a symlinked folder
    // says nothing about the folder the file is in.
    if !content_addressed(&real) {
        return Err(NOT_A_BLOB.into());
    }
    Ok(real)
}

/// `path` as canonical parent + file name if strictly inside one of `roots` (canonical).
/// The last component is not resolved, so a symlink is judged by where it is.
fn inside(path: &Path, roots: &[PathBuf]) -> Result<PathBuf, String> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err("not a file path".into());
    };
    if name == "." || name == ".." {
        return Err("refusing a path ending in . or ..".into());
    }
    let real = fs::canonicalize(parent)
        .map_err(|e| e.to_string())?
        .join(name);
    if roots
        .iter()
        .any(|root| real.starts_with(root) && real != *root)
    {
        Ok(real)
    } else {
        Err(format!(
            "{} is outside the configured model roots; left as is",
            real.display()
        ))
    }
}

/// `lstat` of a regular file of `size` bytes.
fn regular(path: &Path, size: u64) -> Result<fs::Metadata, String> {
    let metadata = fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    if metadata.len() != size {
        return Err(format!(
            "now {} bytes, not {size}: changed since the report",
            metadata.len()
        ));
    }
    Ok(metadata)
}

/// Hashes `path` and checks it did not change meanwhile.
fn hash_unchanged(path: &Path, before: Fingerprint) -> Result<blake3::Hash, String> {
    let (hash, _) = blake3_file(path).map_err(|e| e.to_string())?;
    let after = fs::symlink_metadata(path)
        .map_err(|e| e.to_string())
        .and_then(|m| fingerprint(&m))?;
    if after != before {
        return Err("changed while being verified".into());
    }
    Ok(hash)
}

fn verify_target(path: &Path, size: u64, roots: &[PathBuf]) -> Result<Target, String> {
    let real = linkable(path, roots)?;
    let print = fingerprint(&regular(&real, size)?)?;
    let hash = hash_unchanged(&real, print)?;
    Ok(Target {
        path: real,
        hash,
        print,
    })
}

enum Replaced {
    Linked { freed: u64 },
    AlreadyLinked,
}

/// Process-wide counter for temporary names (groups are linked in parallel).
static TEMPORARY: AtomicU64 = AtomicU64::new(0);

fn replace(path: &Path, target: &Target, size: u64, roots: &[PathBuf]) -> Result<Replaced, String> {
    let real = linkable(path, roots)?;
    let metadata = regular(&real, size)?;
    let id = file_id(&metadata).ok_or("hard links are only made on Unix filesystems")?;
    let print = fingerprint(&metadata)?;
    if print.dev == target.print.dev && print.ino == target.print.ino {
        // A report used twice, or linked by other means since: nothing to do.
        return Ok(Replaced::AlreadyLinked);
    }
    if print.dev != target.print.dev {
        return Err(format!(
            "on another filesystem than {}; a hard link cannot cross",
            target.path.display()
        ));
    }
    let hash = hash_unchanged(&real, print)?;
    if hash != target.hash {
        return Err(format!("content differs from {}", target.path.display()));
    }
    let (Some(folder), Some(name)) = (real.parent(), real.file_name()) else {
        return Err("not a file path".into());
    };
    // Hidden, and unique per process and call, so it collides with nothing a store writes.
    let temporary = folder.join(format!(
        ".{}.hoard-dedup.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        TEMPORARY.fetch_add(1, Ordering::Relaxed)
    ));
    fs::hard_link(&target.path, &temporary)
        .map_err(|e| format!("linking {}: {e}", target.path.display()))?;
    // The name may have been pointed at another file since it was verified; the inode the
    // temporary link got is what the copy becomes, so check that one.
    let linked = fs::symlink_metadata(&temporary)
        .map_err(|e| e.to_string())
        .and_then(|m| fingerprint(&m));
    if linked != Ok(target.print) {
        let _ = fs::remove_file(&temporary);
        return Err(format!(
            "{} changed since it was verified",
            target.path.display()
        ));
    }
    if let Err(e) = fs::rename(&temporary, &real) {
        let _ = fs::remove_file(&temporary);
        return Err(format!("replacing: {e}"));
    }
    // A copy with other links of its own keeps its bytes on disk through them.
    let freed = if id.nlink == 1 { size } else { 0 };
    Ok(Replaced::Linked { freed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_store_blob_names_are_content_addressed() {
        let sha256 = "a".repeat(64);
        let gitsha1 = "0123456789abcdef0123456789abcdef01234567";
        for yes in [
            format!("/hub/models--org--a/blobs/{sha256}"),
            format!("/hub/models--org--a/blobs/{gitsha1}"),
            format!("/ollama/blobs/sha256-{sha256}"),
            format!("/ollama/blobs/sha256-{}", "ABCDEF0123".repeat(6) + "abcd"),
        ] {
            assert!(content_addressed(Path::new(&yes)), "{yes}");
        }
        for no in [
            // Not in a `blobs` folder.
            format!("/torch/hub/checkpoints/{sha256}"),
            format!("/hub/models--org--a/blobs/x/{sha256}"),
            format!("/app/blobs-old/{sha256}"),
            sha256.clone(),
            // Not a hash name.
            "/hub/models--org--a/blobs/model.bin".to_owned(),
            "/torch/hub/checkpoints/x.pt".to_owned(),
            format!("/hub/models--org--a/blobs/{sha256}.incomplete"),
            format!("/hub/models--org--a/blobs/{}", &sha256[..63]),
            format!("/hub/models--org--a/blobs/{}g", &sha256[..63]),
            format!("/ollama/blobs/sha256-{gitsha1}"),
            format!("/ollama/blobs/sha256:{sha256}"),
            format!("/ollama/blobs/sha256-{sha256}-partial"),
        ] {
            assert!(!content_addressed(Path::new(&no)), "{no}");
        }
    }
}

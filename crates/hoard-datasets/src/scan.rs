//! The walk: every audio and metadata file under a root with its size and mtime, the
//! dataset version over them, and the per-file hash `h`.
//!
//! The walk stats files and nothing more, so an unchanged dataset is re-checked at the cost
//! of a `readdir` per folder and a `statx` per file. Folders are walked in parallel.

use crate::probe::Format;
use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// What a listed file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An audio file the manifest has an entry for.
    Audio(Format),
    /// A sidecar metadata table: `*_metadata.csv` (comma-separated).
    Csv,
    /// A Common Voice style table: `*.tsv` (tab-separated).
    Tsv,
}

impl Kind {
    pub(crate) fn of(name: &str) -> Option<Kind> {
        // Compared in place, without lowercasing a copy: this runs for every file of every
        // walk, and an unchanged re-check is little more than the walk.
        if ends_with_ignore_case(name, "_metadata.csv") {
            Some(Kind::Csv)
        } else if ends_with_ignore_case(name, ".tsv") {
            Some(Kind::Tsv)
        } else {
            Format::from_name(name).map(Kind::Audio)
        }
    }
}

/// Whether `name` ends with `suffix` (lowercase ASCII), ignoring ASCII case.
fn ends_with_ignore_case(name: &str, suffix: &str) -> bool {
    name.len() >= suffix.len()
        && name.as_bytes()[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// One listed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Path under the root, `/`-separated.
    pub relpath: String,
    /// Length in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Audio or metadata.
    pub kind: Kind,
}

impl Stat {
    /// The manifest's `h`: a hash of `(relpath, size, mtime)`, 40 hex digits like the
    /// SHA-1 the emotion-recognition backend's manifests carry, computed with BLAKE3. Not content-invariant: see `content_hash`.
    pub fn h(&self) -> String {
        hex(&self.h_bytes())
    }

    /// Whether `h` is this file's [`Stat::h`], without formatting one: a rebuild asks this
    /// of every file and formats `h` only for the changed ones.
    pub fn h_is(&self, h: &str) -> bool {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let h = h.as_bytes();
        let bytes = self.h_bytes();
        h.len() == bytes.len() * 2
            && bytes.iter().zip(h.chunks_exact(2)).all(|(b, pair)| {
                pair[0] == DIGITS[usize::from(b >> 4)] && pair[1] == DIGITS[usize::from(b & 0x0f)]
            })
    }

    fn h_bytes(&self) -> [u8; 20] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.relpath.as_bytes());
        hasher.update(&[0]);
        hasher.update(&self.size.to_le_bytes());
        hasher.update(&self.mtime_ns.to_le_bytes());
        let mut out = [0; 20];
        out.copy_from_slice(&hasher.finalize().as_bytes()[..20]);
        out
    }
}

/// A file or folder the walk passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    /// Path under the root (lossy if the name is not UTF-8).
    pub relpath: String,
    /// Why it is not in the manifest.
    pub reason: String,
}

/// Everything one walk saw.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The root, canonical.
    pub root: PathBuf,
    /// Audio and metadata files, sorted by `relpath`.
    pub files: Vec<Stat>,
    /// Passed over: symlinks leaving the root, symlinked folders, names that are not UTF-8.
    pub skipped: Vec<Skipped>,
    /// Symlinks of a listed kind (in `files` or in `skipped`), sorted: their targets can
    /// change without an event under the root, so a watched dataset re-stats them on
    /// every check.
    pub symlinks: Vec<String>,
    /// Folders walked, the root included: what a recursive watch of the root costs in
    /// inotify watches.
    pub folders: usize,
    /// The dataset version: a hash over every listed file's `(relpath, size, mtime)`.
    pub version: String,
    /// When the walk began, nanoseconds since the Unix epoch.
    pub started_ns: i64,
    /// When it ended.
    pub finished_ns: i64,
    /// How far apart two mtimes must be to be told apart on this file system (guessed from
    /// the mtimes seen: whole seconds everywhere means a coarse file system).
    pub granularity_ns: i64,
}

impl Listing {
    /// Files modified so close to the walk that a later change could keep the same mtime:
    /// they are re-checked on the next request (git's "racy" entries).
    /// A file stamped in the future is not racy: its mtime cannot be confused with a
    /// write during the walk, and counting it would rebuild on every request.
    pub fn racy(&self) -> Vec<String> {
        let from = self.started_ns - self.granularity_ns;
        let to = self.finished_ns + self.granularity_ns;
        self.files
            .iter()
            .filter(|stat| (from..=to).contains(&stat.mtime_ns))
            .map(|stat| stat.relpath.clone())
            .collect()
    }
}

/// Walks `root`, which must be a folder. Hidden names (a leading `.`, such as macOS's
/// `._x.wav` resource forks) are passed over silently.
pub fn walk(root: &Path) -> std::io::Result<Listing> {
    let started_ns = now_ns();
    let root = fs::canonicalize(root)?;
    if !fs::metadata(&root)?.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            format!("{} is not a folder", root.display()),
        ));
    }
    // The root itself must be readable: that error is the caller's.
    fs::read_dir(&root)?;
    let Walked {
        mut files,
        mut skipped,
        mut symlinks,
        folders,
    } = walk_dir(&root, &root, "");
    files.sort_unstable_by(|a, b| a.relpath.cmp(&b.relpath));
    skipped.sort_unstable_by(|a, b| a.relpath.cmp(&b.relpath));
    symlinks.sort_unstable();
    let version = version_of(&files);
    let coarse = !files.is_empty() && files.iter().all(|f| f.mtime_ns % 1_000_000_000 == 0);
    // Linux stamps files from a clock that ticks every few milliseconds; FAT and older
    // file systems keep whole (or even two) seconds.
    let granularity_ns = if coarse { 2_000_000_000 } else { 20_000_000 };
    Ok(Listing {
        root,
        files,
        skipped,
        symlinks,
        folders,
        version,
        started_ns,
        finished_ns: now_ns(),
        granularity_ns,
    })
}

/// What one folder (and everything below it) holds: files, passed-over names, the
/// symlinks met (listed or not: their targets can change without an event under the
/// root), and the folders walked, itself included.
#[derive(Default)]
pub(crate) struct Walked {
    pub(crate) files: Vec<Stat>,
    pub(crate) skipped: Vec<Skipped>,
    pub(crate) symlinks: Vec<String>,
    pub(crate) folders: usize,
}

impl Walked {
    fn extend(&mut self, more: Walked) {
        self.files.extend(more.files);
        self.skipped.extend(more.skipped);
        self.symlinks.extend(more.symlinks);
        self.folders += more.folders;
    }
}

/// What the walk makes of one name in a folder.
pub(crate) enum Entry {
    /// A file the listing holds.
    File(Stat),
    /// A name the listing reports as passed over.
    Skipped(Skipped),
    /// A real folder (not a symlink): walked.
    Folder,
    /// Nothing the listing mentions (another kind of file, or gone).
    Ignored,
}

/// Classifies `path` (`relpath` under `root`, its last component not hidden), whose own
/// type (not following a symlink) is `file_type`: the rules of the walk, shared with the
/// re-stat of single paths (`crate::restat`) so both list a file the same way.
pub(crate) fn classify(
    root: &Path,
    path: &Path,
    relpath: String,
    file_type: fs::FileType,
) -> Entry {
    if file_type.is_dir() {
        return Entry::Folder;
    }
    let name = relpath.rsplit('/').next().unwrap_or(&relpath);
    let Some(kind) = Kind::of(name) else {
        return Entry::Ignored;
    };
    let skip = |relpath: String, reason: &str| {
        Entry::Skipped(Skipped {
            relpath,
            reason: reason.into(),
        })
    };
    let metadata = if file_type.is_symlink() {
        match fs::canonicalize(path) {
            Ok(target) if !target.starts_with(root) => {
                return skip(relpath, "symlink leads outside the dataset root")
            }
            Ok(target) if crate::path::hidden_below(&target, root) => {
                return skip(relpath, "symlink leads to a hidden file or folder")
            }
            Ok(target) => match fs::metadata(&target) {
                Ok(metadata) if metadata.is_file() => metadata,
                _ => return skip(relpath, "symlink to something that is not a file"),
            },
            Err(_) => return skip(relpath, "broken symlink"),
        }
    } else if file_type.is_file() {
        match fs::metadata(path) {
            Ok(metadata) => metadata,
            // Deleted between readdir and stat: it is simply not there.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Entry::Ignored,
            Err(e) => return skip(relpath, &format!("cannot stat: {e}")),
        }
    } else {
        return Entry::Ignored;
    };
    Entry::File(Stat {
        relpath,
        size: metadata.len(),
        mtime_ns: mtime_ns(&metadata),
        kind,
    })
}

/// Lists `dir` (`prefix` is its relpath with a trailing `/`, empty for the root). A folder
/// below the root that cannot be read (permissions) is reported in `skipped`, one that
/// vanished mid-walk is simply absent; neither stops the walk.
pub(crate) fn walk_dir(root: &Path, dir: &Path, prefix: &str) -> Walked {
    let mut walked = Walked {
        folders: 1,
        ..Walked::default()
    };
    let mut folders = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                walked.skipped.push(Skipped {
                    relpath: prefix.trim_end_matches('/').to_owned(),
                    reason: format!("cannot read the folder: {e}"),
                });
            }
            return walked;
        }
    };
    for entry in entries {
        let Ok(entry) = entry else {
            continue;
        };
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            walked.skipped.push(Skipped {
                relpath: format!("{prefix}{}", name.to_string_lossy()),
                reason: "the name is not UTF-8".into(),
            });
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        // Checked before building the relpath: most names are neither folders nor of a
        // listed kind, and this runs for every name of every walk.
        if !file_type.is_dir() && Kind::of(name).is_none() {
            continue;
        }
        let relpath = format!("{prefix}{name}");
        if file_type.is_symlink() {
            walked.symlinks.push(relpath.clone());
        }
        match classify(root, &entry.path(), relpath, file_type) {
            Entry::File(stat) => walked.files.push(stat),
            Entry::Skipped(skipped) => walked.skipped.push(skipped),
            Entry::Folder => folders.push((entry.path(), format!("{prefix}{name}/"))),
            Entry::Ignored => {}
        }
    }
    let below: Vec<Walked> = folders
        .par_iter()
        .map(|(path, prefix)| walk_dir(root, path, prefix))
        .collect();
    for more in below {
        walked.extend(more);
    }
    walked
}

/// The version over sorted stats.
pub(crate) fn version_of(files: &[Stat]) -> String {
    // The same bytes hashed as one slice rather than four small updates per file: the
    // hash is the same (BLAKE3 hashes the concatenation), and large updates are hashed
    // several chunks at a time, where small ones go a block at a time.
    let mut bytes = Vec::with_capacity(files.iter().map(|s| s.relpath.len() + 17).sum());
    for stat in files {
        bytes.extend_from_slice(stat.relpath.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&stat.size.to_le_bytes());
        bytes.extend_from_slice(&stat.mtime_ns.to_le_bytes());
    }
    hex(&blake3::hash(&bytes).as_bytes()[..16])
}

#[cfg(unix)]
fn mtime_ns(metadata: &fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    metadata
        .mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(metadata.mtime_nsec())
}

#[cfg(not(unix))]
fn mtime_ns(metadata: &fs::Metadata) -> i64 {
    metadata.modified().map_or(0, system_time_ns)
}

fn system_time_ns(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn now_ns() -> i64 {
    system_time_ns(SystemTime::now())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    // By table rather than `write!` per byte: every build formats an `h` for every file.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn h_is_agrees_with_h() {
        let stat = Stat {
            relpath: "a/b.wav".into(),
            size: 1234,
            mtime_ns: 1_700_000_000_123_456_789,
            kind: Kind::Audio(Format::Wav),
        };
        let h = stat.h();
        assert!(stat.h_is(&h));
        assert!(!stat.h_is(&h[..38]), "shorter");
        assert!(!stat.h_is(&format!("{h}00")), "longer");
        assert!(!stat.h_is(&h.to_uppercase()), "case differs");
        let moved = Stat {
            mtime_ns: stat.mtime_ns + 1,
            ..stat.clone()
        };
        assert!(!moved.h_is(&h));
    }

    #[test]
    fn kinds_ignore_case() {
        assert_eq!(Kind::of("actor01_METADATA.csv"), Some(Kind::Csv));
        assert_eq!(Kind::of("validated.TSV"), Some(Kind::Tsv));
        assert_eq!(Kind::of("x.Wav"), Some(Kind::Audio(Format::Wav)));
        assert_eq!(Kind::of("metadata.csv"), None);
        assert_eq!(Kind::of("notes.txt"), None);
        assert_eq!(Kind::of("tsv"), None);
    }
}

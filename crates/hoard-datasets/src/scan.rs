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
    fn of(name: &str) -> Option<Kind> {
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
    let (mut files, mut skipped) = walk_dir(&root, &root, "");
    files.sort_unstable_by(|a, b| a.relpath.cmp(&b.relpath));
    skipped.sort_unstable_by(|a, b| a.relpath.cmp(&b.relpath));
    let version = version_of(&files);
    let coarse = !files.is_empty() && files.iter().all(|f| f.mtime_ns % 1_000_000_000 == 0);
    // Linux stamps files from a clock that ticks every few milliseconds; FAT and older
    // file systems keep whole (or even two) seconds.
    let granularity_ns = if coarse { 2_000_000_000 } else { 20_000_000 };
    Ok(Listing {
        root,
        files,
        skipped,
        version,
        started_ns,
        finished_ns: now_ns(),
        granularity_ns,
    })
}

type Walked = (Vec<Stat>, Vec<Skipped>);

/// Lists `dir`. A folder below the root that cannot be read (permissions) is reported in
/// `skipped`, one that vanished mid-walk is simply absent; neither stops the walk.
fn walk_dir(root: &Path, dir: &Path, prefix: &str) -> Walked {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut folders = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                skipped.push(Skipped {
                    relpath: prefix.trim_end_matches('/').to_owned(),
                    reason: format!("cannot read the folder: {e}"),
                });
            }
            return (files, skipped);
        }
    };
    for entry in entries {
        let Ok(entry) = entry else {
            continue;
        };
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            skipped.push(Skipped {
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
        if file_type.is_dir() {
            folders.push((entry.path(), format!("{prefix}{name}/")));
            continue;
        }
        let Some(kind) = Kind::of(name) else {
            continue;
        };
        let relpath = format!("{prefix}{name}");
        let metadata = if file_type.is_symlink() {
            match fs::canonicalize(entry.path()) {
                Ok(target) if !target.starts_with(root) => {
                    skipped.push(Skipped {
                        relpath,
                        reason: "symlink leads outside the dataset root".into(),
                    });
                    continue;
                }
                Ok(target) if crate::path::hidden_below(&target, root) => {
                    skipped.push(Skipped {
                        relpath,
                        reason: "symlink leads to a hidden file or folder".into(),
                    });
                    continue;
                }
                Ok(target) => match fs::metadata(&target) {
                    Ok(metadata) if metadata.is_file() => metadata,
                    _ => {
                        skipped.push(Skipped {
                            relpath,
                            reason: "symlink to something that is not a file".into(),
                        });
                        continue;
                    }
                },
                Err(_) => {
                    skipped.push(Skipped {
                        relpath,
                        reason: "broken symlink".into(),
                    });
                    continue;
                }
            }
        } else if file_type.is_file() {
            match entry.metadata() {
                Ok(metadata) => metadata,
                // Deleted between readdir and stat: it is simply not there.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    skipped.push(Skipped {
                        relpath,
                        reason: format!("cannot stat: {e}"),
                    });
                    continue;
                }
            }
        } else {
            continue;
        };
        files.push(Stat {
            relpath,
            size: metadata.len(),
            mtime_ns: mtime_ns(&metadata),
            kind,
        });
    }
    let below: Vec<Walked> = folders
        .par_iter()
        .map(|(path, prefix)| walk_dir(root, path, prefix))
        .collect();
    for (more_files, more_skipped) in below {
        files.extend(more_files);
        skipped.extend(more_skipped);
    }
    (files, skipped)
}

/// The version over sorted stats.
fn version_of(files: &[Stat]) -> String {
    let mut hasher = blake3::Hasher::new();
    for stat in files {
        hasher.update(stat.relpath.as_bytes());
        hasher.update(&[0]);
        hasher.update(&stat.size.to_le_bytes());
        hasher.update(&stat.mtime_ns.to_le_bytes());
    }
    hex(&hasher.finalize().as_bytes()[..16])
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

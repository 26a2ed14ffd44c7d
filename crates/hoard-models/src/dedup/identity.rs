//! What identifies a file: its inode (paths that are one inode are one file), a
//! fingerprint that must not change between verifying and linking, and its bytes' BLAKE3.

use std::fs;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// Device, inode and link count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    pub(super) dev: u64,
    pub(super) ino: u64,
    pub(super) nlink: u64,
}

#[cfg(unix)]
pub(super) fn file_id(metadata: &fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some(FileId {
        dev: metadata.dev(),
        ino: metadata.ino(),
        nlink: metadata.nlink(),
    })
}

#[cfg(not(unix))]
pub(super) fn file_id(_metadata: &fs::Metadata) -> Option<FileId> {
    None
}

/// What must not change between verifying a file and linking: same inode, same length,
/// same mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fingerprint {
    pub(super) dev: u64,
    pub(super) ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

pub(super) fn fingerprint(metadata: &fs::Metadata) -> Result<Fingerprint, String> {
    let id = file_id(metadata).ok_or("hard links are only made on Unix filesystems")?;
    Ok(Fingerprint {
        dev: id.dev,
        ino: id.ino,
        len: metadata.len(),
        modified: metadata.modified().ok(),
    })
}

/// BLAKE3 of a file's bytes and how many there were, read in plain chunks (no mmap: a
/// file truncated under a mapping would kill the process with SIGBUS).
pub(super) fn blake3_file(path: &Path) -> io::Result<(blake3::Hash, u64)> {
    let file = crate::files::open_quietly(path)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file)?;
    Ok((hasher.finalize(), hasher.count()))
}

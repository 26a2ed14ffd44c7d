//! What `dedup` is asked to look at and what it answers.

use crate::size::ByteSize;
use std::path::PathBuf;

/// What [`find`](crate::dedup::find) looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupOptions {
    /// Files smaller than this are ignored (default 1 MiB): linking them frees little and
    /// hashing many of them costs a lot. Empty files are always ignored.
    pub min_size: ByteSize,
    /// Other locations to include, such as `~/.cache/huggingface`: every regular file under
    /// them (symlinks are not followed). [`link`](crate::dedup::link) never changes those outside the roots.
    pub extra_dirs: Vec<PathBuf>,
}

impl Default for DedupOptions {
    fn default() -> Self {
        DedupOptions {
            min_size: ByteSize::mib(1),
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
    /// stores if there is one, then the oldest (mtime), then the first by path. [`link`](crate::dedup::link)
    /// keeps the first content-addressed blob inside the roots instead, and only links
    /// blobs to it.
    pub files: Vec<PathBuf>,
}

impl Group {
    /// Bytes freed if every copy but the first became a link to it. [`link`](crate::dedup::link) frees only
    /// the part held by content-addressed blobs inside the roots.
    pub fn reclaimable(&self) -> u64 {
        let copies = u64::try_from(self.files.len().saturating_sub(1)).unwrap_or(u64::MAX);
        self.size.saturating_mul(copies)
    }
}

/// What [`find`](crate::dedup::find) found.
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

/// What [`link`](crate::dedup::link) did.
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

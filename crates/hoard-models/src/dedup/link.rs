//! Replacing copies with hard links to the file kept, verified right before each one and
//! only for content-addressed store blobs inside the configured roots.

use super::identity::{blake3_file, file_id, fingerprint, Fingerprint};
use super::report::{Group, LinkOutcome, Report};
use crate::layout::Layout;
use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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

/// The bytes [`link`] would free for `report`, judged by the same rules without reading
/// or changing anything: in each group, every content-addressed blob inside the roots
/// after the first one. (A copy that has other hard links of its own, or sits on another
/// filesystem, would free less: this is the most `link` frees.)
pub fn linkable_bytes(report: &Report, layout: &Layout) -> u64 {
    let roots: Vec<PathBuf> = layout
        .roots()
        .iter()
        .filter_map(|root| fs::canonicalize(root).ok())
        .collect();
    report
        .groups
        .iter()
        .map(|group| {
            let blobs = group
                .files
                .iter()
                .filter(|path| linkable(path, &roots).is_ok())
                .count() as u64;
            group.size.saturating_mul(blobs.saturating_sub(1))
        })
        .sum()
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

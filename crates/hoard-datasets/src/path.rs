//! Turning a client's `relpath` into a file under a dataset root, or refusing.
//!
//! Two gates: the text is checked first (no absolute path, no `..`, no backslash, no NUL),
//! then the joined path is canonicalized, which resolves every symlink, and must still lie
//! under the canonical root. A symlink inside the dataset pointing outside it fails the
//! second gate.

use std::path::{Component, Path, PathBuf};

/// Why a `relpath` was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The text itself is not an acceptable relative path.
    #[error("relpath {relpath:?} {reason}")]
    Invalid {
        /// What the client sent.
        relpath: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The path resolves (through a symlink) to somewhere outside the root.
    #[error("relpath {0:?} leads outside the dataset root")]
    Outside(String),
    /// Nothing is there, or it is not a regular file.
    #[error("no file {0:?} in this dataset")]
    NotFound(String),
}

/// Resolves `relpath` under `root` (which must be canonical) to a canonical file path.
pub fn resolve(root: &Path, relpath: &str) -> Result<PathBuf, PathError> {
    let invalid = |reason| PathError::Invalid {
        relpath: relpath.to_owned(),
        reason,
    };
    if relpath.is_empty() {
        return Err(invalid("is empty"));
    }
    if relpath.contains('\0') {
        return Err(invalid("contains a NUL byte"));
    }
    if relpath.contains('\\') {
        return Err(invalid("contains a backslash; use /"));
    }
    let path = Path::new(relpath);
    for component in path.components() {
        match component {
            // The walk passes over hidden names; serving them would expose what the
            // manifest never lists (.env files, .git folders).
            Component::Normal(name) if name.to_string_lossy().starts_with('.') => {
                return Err(invalid("names a hidden file or folder"))
            }
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(invalid("contains ..")),
            Component::RootDir | Component::Prefix(_) => return Err(invalid("is absolute")),
        }
    }
    let joined = root.join(path);
    let real = match std::fs::canonicalize(&joined) {
        Ok(real) => real,
        Err(_) => return Err(PathError::NotFound(relpath.to_owned())),
    };
    if !real.starts_with(root) {
        return Err(PathError::Outside(relpath.to_owned()));
    }
    // The hidden-name rule holds for where a symlink leads too (`peek.wav -> .env`).
    if hidden_below(&real, root) {
        return Err(invalid("leads to a hidden file or folder"));
    }
    match std::fs::metadata(&real) {
        Ok(metadata) if metadata.is_file() => Ok(real),
        _ => Err(PathError::NotFound(relpath.to_owned())),
    }
}

/// Resolves `relpath` like [`resolve`] and opens it, then checks what was opened, not what
/// was named: it must be a regular file, and (on Linux, through `/proc/self/fd`) really
/// lie under `root`. A folder swapped for a symlink between the check and the open (by
/// someone who can write inside the dataset) is caught here. The file is opened
/// non-blocking, so a named pipe planted in the dataset cannot hang the caller.
pub fn open(root: &Path, relpath: &str) -> Result<(std::fs::File, PathBuf), PathError> {
    let path = resolve(root, relpath)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    let file = options
        .open(&path)
        .map_err(|_| PathError::NotFound(relpath.to_owned()))?;
    match file.metadata() {
        Ok(metadata) if metadata.is_file() => {}
        _ => return Err(PathError::NotFound(relpath.to_owned())),
    }
    if !opened_under(&file, &path, root) {
        return Err(PathError::Outside(relpath.to_owned()));
    }
    Ok((file, path))
}

/// Whether `real` (a canonical path under the canonical `root`) passes through a hidden
/// name below the root: what the walk never lists must not be served through a symlink
/// either.
pub fn hidden_below(real: &Path, root: &Path) -> bool {
    real.strip_prefix(root).map_or(true, |rest| {
        rest.components().any(
            |c| matches!(c, Component::Normal(name) if name.to_string_lossy().starts_with('.')),
        )
    })
}

#[cfg(target_os = "linux")]
fn opened_under(file: &std::fs::File, _path: &Path, root: &Path) -> bool {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .is_ok_and(|real| real.starts_with(root) && !hidden_below(&real, root))
}

#[cfg(all(unix, not(target_os = "linux")))]
fn opened_under(file: &std::fs::File, path: &Path, root: &Path) -> bool {
    // No /proc: the opened inode must be the one the canonical path names now.
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::canonicalize(path)) {
        (Ok(opened), Ok(real)) if real.starts_with(root) => std::fs::metadata(&real)
            .is_ok_and(|named| named.dev() == opened.dev() && named.ino() == opened.ino()),
        _ => false,
    }
}

#[cfg(not(unix))]
fn opened_under(_file: &std::fs::File, path: &Path, root: &Path) -> bool {
    std::fs::canonicalize(path).is_ok_and(|real| real.starts_with(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes_before_touching_the_disk() {
        let root = Path::new("/nonexistent-root");
        for bad in [
            "",
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "a\\b",
            "a\0b",
        ] {
            assert!(
                matches!(resolve(root, bad), Err(PathError::Invalid { .. })),
                "{bad:?} was not refused as invalid"
            );
        }
    }
}

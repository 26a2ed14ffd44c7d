//! Reading the stores without disturbing them: sorted listings, timestamps, partial
//! downloads recognised by name, and opens that leave access times alone.

use std::fs;
use std::path::Path;
use std::time::UNIX_EPOCH;

/// The entries of `dir` sorted by name (empty if it cannot be read), so every listing and
/// every plan comes out in the same order on every run.
pub(crate) fn read_dir_sorted(dir: &Path) -> Vec<fs::DirEntry> {
    let mut entries: Vec<fs::DirEntry> = match fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(Result::ok).collect(),
        Err(_) => return Vec::new(),
    };
    entries.sort_by_key(fs::DirEntry::file_name);
    entries
}

/// A file time as milliseconds since the Unix epoch, if the system keeps it.
pub(crate) fn millis(time: std::io::Result<std::time::SystemTime>) -> Option<i64> {
    let since = time.ok()?.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// Newest access and change times of what a walk saw.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Times {
    /// Newest atime, milliseconds since the Unix epoch.
    pub(crate) accessed: Option<i64>,
    /// Newest mtime, milliseconds since the Unix epoch.
    pub(crate) modified: Option<i64>,
}

impl Times {
    /// Takes in one more file's times.
    pub(crate) fn see(&mut self, metadata: &fs::Metadata) {
        self.accessed = self.accessed.max(millis(metadata.accessed()));
        self.modified = self.modified.max(millis(metadata.modified()));
    }
}

/// A download that never finished: huggingface_hub's `*.incomplete`, torch hub's
/// `*.partial`, Ollama's `sha256-HEX-partial*`.
pub(crate) fn is_partial(name: &str) -> bool {
    name.ends_with(".incomplete")
        || name.ends_with(".partial")
        || (name.starts_with("sha256-") && name.contains("-partial"))
}

/// Opens a file for reading without updating its access time where the system allows it
/// (Linux `O_NOATIME`, for files we own): hoard's own reads (manifests, dedup hashing) must
/// not look like use of a model to `prune --older-than`.
pub(crate) fn open_quietly(path: &Path) -> std::io::Result<fs::File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NOATIME: i32 = 0o1_000_000;
        if let Ok(file) = fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_NOATIME)
            .open(path)
        {
            return Ok(file);
        }
    }
    fs::File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_downloads_are_known_by_name() {
        for partial in [
            "0123abcd.incomplete",
            "base.pt.partial",
            "sha256-0123-partial",
            "sha256-0123-partial-0",
        ] {
            assert!(is_partial(partial), "{partial}");
        }
        for whole in ["0123abcd", "base.pt", "sha256-0123", "partial.bin"] {
            assert!(!is_partial(whole), "{whole}");
        }
    }
}

//! The admin token `hoard serve` uses when none is configured: made once, kept in the data
//! folder, readable by its owner only.

use std::path::{Path, PathBuf};

/// The admin token: `$HOARD_ADMIN_TOKEN` or `[server] admin_token` (already merged into
/// `configured`), else the one in `{data_dir}/admin-token`, else a new one written there
/// with mode 0600. Returns the token and, when it lives in a file, the file.
pub fn admin_token(
    configured: &str,
    data_dir: &Path,
) -> std::io::Result<(String, Option<PathBuf>)> {
    if !configured.is_empty() {
        return Ok((configured.to_owned(), None));
    }
    let path = data_dir.join("admin-token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 16 {
            return Ok((existing.to_owned(), Some(path)));
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let token = format!("{:032x}", rand::random::<u128>());
    write_private(&path, &token)?;
    Ok((token, Some(path)))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

//! The interner's file: [`Interner::persist`] writes the names in id order, versioned and
//! checksummed; [`Interner::load`] reads them back with the same ids or refuses the file.

use super::{Interner, InternerError, Result};
use std::io::Write;
use std::path::Path;

/// The file format's magic bytes and version.
const MAGIC: &[u8; 8] = b"HOARDINT";
const VERSION: u32 = 1;
const CHECKSUM_LEN: usize = 32;

impl Interner {
    /// Writes the mapping to `path`, replacing it atomically (a temporary file renamed over
    /// it), so a crash mid-write leaves the old file or the new one, never a mix.
    ///
    /// Format 1: `HOARDINT`, version (u32 LE), count (u32 LE), then per id in order the
    /// name's length (u32 LE) and UTF-8 bytes, then the BLAKE3 hash of everything before.
    pub fn persist(&self, path: &Path) -> Result<()> {
        let io = |source| InternerError::Io {
            path: path.to_owned(),
            source,
        };
        let names: Vec<&str> = self.iter().map(|(_, name)| name).collect();
        let mut bytes = Vec::with_capacity(16 + names.iter().map(|n| n.len() + 4).sum::<usize>());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&u32::try_from(names.len()).unwrap_or(u32::MAX).to_le_bytes());
        for name in &names {
            let len = u32::try_from(name.len()).map_err(|_| {
                io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a name longer than 4 GiB",
                ))
            })?;
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(name.as_bytes());
        }
        let checksum = blake3::hash(&bytes);
        bytes.extend_from_slice(checksum.as_bytes());

        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "interner".into());
        let temporary = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
        let written = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        })();
        if let Err(source) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(io(source));
        }
        Ok(())
    }

    /// Reads a mapping written by [`Interner::persist`]; every name keeps its id.
    ///
    /// A file that is not one (wrong magic), of another version, truncated, altered
    /// (checksum), or holding invalid UTF-8 or a repeated name is refused with
    /// [`InternerError::CorruptFile`] saying which.
    pub fn load(path: &Path) -> Result<Interner> {
        let bytes = std::fs::read(path).map_err(|source| InternerError::Io {
            path: path.to_owned(),
            source,
        })?;
        Interner::decode(&bytes).map_err(|reason| InternerError::CorruptFile {
            path: path.to_owned(),
            reason,
        })
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Interner, String> {
        let header = MAGIC.len() + 8;
        if bytes.len() < header + CHECKSUM_LEN {
            return Err(format!(
                "{} bytes, too short to be an interner file",
                bytes.len()
            ));
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err("not an interner file (wrong magic bytes)".into());
        }
        let word = |at: usize| -> std::result::Result<u32, String> {
            bytes
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or_else(|| format!("truncated at byte {at}"))
        };
        let version = word(MAGIC.len())?;
        if version != VERSION {
            return Err(format!(
                "format version {version}, this build reads {VERSION}"
            ));
        }
        let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if blake3::hash(body).as_bytes() != checksum {
            return Err("checksum mismatch (the file was truncated or altered)".into());
        }
        let count = word(MAGIC.len() + 4)?;
        let interner = Interner::new();
        let mut at = header;
        for id in 0..count {
            let len = word(at)? as usize;
            at += 4;
            let name = body
                .get(at..at + len)
                .ok_or_else(|| format!("name {id} runs past the end"))?;
            let name = std::str::from_utf8(name).map_err(|_| format!("name {id} is not UTF-8"))?;
            at += len;
            let given = interner.intern(name).map_err(|e| e.to_string())?;
            if given != id {
                return Err(format!("name {id} repeats name {given}"));
            }
        }
        if at != body.len() {
            return Err(format!("{} bytes after the last name", body.len() - at));
        }
        Ok(interner)
    }
}

//! [`Entry`]: a value with its expiry, and the byte format tiers store it in.
//!
//! Format 2, used by every tier that stores bytes (disk, Redis):
//!
//! ```text
//! offset  size  field
//! 0       1     format version, 2
//! 1       1     flags: bit 0 = payload is LZ4-compressed (size-prepended block)
//! 2       8     expires_at, milliseconds since the Unix epoch, little endian
//! 10      4     compute_ms: how long the value took to compute (0 = unknown), little endian
//! 14      4     generation of the entry's namespace when it was written, little endian
//! 18      ..    payload
//! ```
//!
//! Format 1 is the same without `generation` (payload at 14), meaning generation 0; entries
//! of generation 0 are still written in format 1, so older hoard versions can read them.
//!
//! The expiry travels with the value so every tier can refuse an expired entry on its own,
//! and so a value promoted from L2 to L1 keeps its L2 deadline.

use crate::error::{CorruptEntry, Error, Result};
use bytes::Bytes;
use std::time::Duration;

const FORMAT_VERSION: u8 = 2;
const FLAG_LZ4: u8 = 1;
const HEADER_LEN: usize = 18;
const HEADER_LEN_V1: usize = 14;

/// What the header says.
struct Header {
    flags: u8,
    expires_at_ms: u64,
    compute_ms: u32,
    generation: u32,
    /// Where the payload starts.
    len: usize,
}

/// The current time in milliseconds since the Unix epoch, by the system clock (the cache
/// and its tiers read their [`crate::Clock`] instead).
pub fn now_ms() -> u64 {
    crate::clock::system_now_ms()
}

/// One cached value with its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stored bytes, never compressed here (tiers compress on their own).
    pub value: Bytes,
    /// When the entry stops existing, in milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
    /// How long producing the value took, in milliseconds (0 when unknown).
    pub compute_ms: u32,
    /// The generation of the entry's namespace it was written in: clearing a namespace
    /// moves the namespace to a new generation, and older entries read as absent.
    pub generation: u32,
}

impl Entry {
    /// An entry that expires `ttl` from now (by the system clock).
    pub fn new(value: impl Into<Bytes>, ttl: Duration) -> Entry {
        Entry::new_at(value, ttl, now_ms())
    }

    /// An entry that expires `ttl` after `now_ms` (milliseconds since the Unix epoch).
    pub fn new_at(value: impl Into<Bytes>, ttl: Duration, now_ms: u64) -> Entry {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        Entry {
            value: value.into(),
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            compute_ms: 0,
            generation: 0,
        }
    }

    /// Whether the entry has expired at `now_ms`. An entry is dead from its expiry instant on.
    pub fn is_expired_at(&self, now_ms: u64) -> bool {
        self.expires_at_ms <= now_ms
    }

    /// Time left before expiry, measured from `now_ms`; `None` once expired.
    pub fn remaining_at(&self, now_ms: u64) -> Option<Duration> {
        (!self.is_expired_at(now_ms)).then(|| Duration::from_millis(self.expires_at_ms - now_ms))
    }

    /// Serializes the entry in format 1, compressing the payload with LZ4 when it is at least
    /// `compress_above` bytes long and compression actually saves space.
    pub fn encode(&self, compress_above: usize) -> Vec<u8> {
        let compressed = (self.value.len() >= compress_above)
            .then(|| lz4_flex::compress_prepend_size(&self.value))
            .filter(|c| c.len() < self.value.len());
        let (flags, payload): (u8, &[u8]) = match &compressed {
            Some(c) => (FLAG_LZ4, c),
            None => (0, &self.value),
        };
        // Generation 0 needs no field: format 1, which older hoard versions read too (a
        // rolling upgrade then shares entries both ways).
        let version = if self.generation == 0 {
            1
        } else {
            FORMAT_VERSION
        };
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.push(version);
        out.push(flags);
        out.extend_from_slice(&self.expires_at_ms.to_le_bytes());
        out.extend_from_slice(&self.compute_ms.to_le_bytes());
        if version == FORMAT_VERSION {
            out.extend_from_slice(&self.generation.to_le_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    /// Reads the expiry from encoded bytes without touching the payload.
    pub fn decode_expiry(bytes: &[u8]) -> Result<u64> {
        Ok(Self::header(bytes)?.expires_at_ms)
    }

    fn header(bytes: &[u8]) -> Result<Header> {
        let short = |len: usize| {
            Error::Corrupt(CorruptEntry::new(format!(
                "entry is {} bytes, shorter than its {len}-byte header",
                bytes.len()
            )))
        };
        let len = match bytes.first() {
            Some(&FORMAT_VERSION) => HEADER_LEN,
            Some(1) => HEADER_LEN_V1,
            Some(other) => {
                return Err(Error::Corrupt(CorruptEntry::new(format!(
                    "unknown entry format version {other}"
                ))))
            }
            None => return Err(short(HEADER_LEN)),
        };
        if bytes.len() < len {
            return Err(short(len));
        }
        let flags = bytes[1];
        if flags & !FLAG_LZ4 != 0 {
            return Err(Error::Corrupt(CorruptEntry::new(format!(
                "unknown entry flags {flags:#04x}"
            ))));
        }
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let mut expires = [0; 8];
        expires.copy_from_slice(&bytes[2..10]);
        Ok(Header {
            flags,
            expires_at_ms: u64::from_le_bytes(expires),
            compute_ms: word(10),
            generation: if len == HEADER_LEN { word(14) } else { 0 },
            len,
        })
    }

    /// Parses format-1 bytes, decompressing the payload if needed.
    pub fn decode(bytes: &[u8]) -> Result<Entry> {
        Self::decode_shared(Bytes::copy_from_slice(bytes))
    }

    /// Like [`Entry::decode`], taking ownership: an uncompressed payload is moved down over
    /// the header in place instead of copied to a new buffer (the Redis tier's read path).
    pub fn decode_vec(mut bytes: Vec<u8>) -> Result<Entry> {
        let header = Self::header(&bytes)?;
        let value = if header.flags & FLAG_LZ4 != 0 {
            decompress(&bytes[header.len..])?.into()
        } else {
            bytes.drain(..header.len);
            Bytes::from(bytes)
        };
        Ok(header.entry(value))
    }

    /// Like [`Entry::decode`], but an uncompressed payload shares `bytes` instead of being
    /// copied: the disk tier's read path.
    pub fn decode_shared(bytes: Bytes) -> Result<Entry> {
        let header = Self::header(&bytes)?;
        let value = if header.flags & FLAG_LZ4 != 0 {
            decompress(&bytes[header.len..])?.into()
        } else {
            bytes.slice(header.len..)
        };
        Ok(header.entry(value))
    }
}

impl Header {
    fn entry(&self, value: Bytes) -> Entry {
        Entry {
            value,
            expires_at_ms: self.expires_at_ms,
            compute_ms: self.compute_ms,
            generation: self.generation,
        }
    }
}

/// Undoes `lz4_flex::compress_prepend_size`, refusing a declared size that LZ4 could not
/// have produced from this many bytes (so corrupt input cannot ask for a huge allocation)
/// or that the data does not fill.
fn decompress(payload: &[u8]) -> Result<Vec<u8>> {
    const LZ4_MAX_RATIO: usize = 255;
    let corrupt =
        |what: String| Error::Corrupt(CorruptEntry::new(format!("bad LZ4 payload: {what}")));
    let (size, block) = payload
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("missing size".into()))?;
    let size = u32::from_le_bytes(*size) as usize;
    if size > block.len().saturating_mul(LZ4_MAX_RATIO) + 16 {
        return Err(corrupt(format!(
            "declared size {size} is impossible for {} bytes",
            block.len()
        )));
    }
    // The decompressor's error stays the source (its text is in the message too).
    let out = lz4_flex::decompress(block, size).map_err(|e| {
        Error::Corrupt(CorruptEntry::with_source(
            format!("bad LZ4 payload: {e}"),
            e,
        ))
    })?;
    if out.len() != size {
        return Err(corrupt(format!(
            "{} bytes decoded, {size} declared",
            out.len()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &[u8]) -> Entry {
        Entry {
            value: Bytes::copy_from_slice(value),
            expires_at_ms: 1_700_000_000_123,
            compute_ms: 42,
            generation: 7,
        }
    }

    #[test]
    fn round_trip_small_value_uncompressed() {
        let e = entry(b"hello");
        let bytes = e.encode(1024);
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        assert_eq!(bytes[1], 0, "small values are stored as they are");
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
        assert_eq!(Entry::decode_expiry(&bytes).unwrap(), 1_700_000_000_123);
    }

    #[test]
    fn large_compressible_value_is_compressed() {
        let e = entry(&b"emotion=happy;".repeat(500));
        let bytes = e.encode(1024);
        assert_eq!(bytes[1], FLAG_LZ4);
        assert!(bytes.len() < e.value.len() / 4, "{} bytes", bytes.len());
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
    }

    #[test]
    fn incompressible_value_is_kept_raw() {
        // Bytes from a simple LCG do not compress.
        let mut x: u32 = 12345;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let bytes = entry(&noise).encode(1024);
        assert_eq!(bytes[1], 0);
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let good = entry(&b"x".repeat(4000)).encode(16);
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![1, 0, 0],
            {
                let mut b = good.clone();
                b[0] = 9;
                b
            },
            {
                let mut b = good.clone();
                b[1] = 0x80;
                b
            },
            good[..good.len() - 3].to_vec(),
            {
                let mut b = good.clone();
                b[HEADER_LEN] = 0xff; // the prepended size now lies
                b
            },
        ];
        for bytes in cases {
            assert!(
                matches!(Entry::decode(&bytes), Err(Error::Corrupt(_))),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn a_payload_lz4_refuses_keeps_the_decompressor_error_as_source() {
        let good = entry(&b"x".repeat(4000)).encode(16);
        assert_eq!(good[1], FLAG_LZ4);
        // Cut inside the LZ4 block: the declared size is still plausible, so the
        // decompressor itself is what refuses it.
        let cut = &good[..good.len() - 3];
        let error = Entry::decode(cut).expect_err("a truncated LZ4 block");
        let source = std::error::Error::source(&error).expect("the LZ4 error as source");
        let lz4 = source
            .downcast_ref::<lz4_flex::block::DecompressError>()
            .expect("source is lz4_flex's DecompressError");
        assert_eq!(
            error.to_string(),
            format!("corrupt entry: bad LZ4 payload: {lz4}")
        );
        let Error::Corrupt(corrupt) = &error else {
            panic!("not Corrupt: {error:?}");
        };
        assert_eq!(corrupt.reason(), format!("bad LZ4 payload: {lz4}"));
        // hoard's own checks have no source to give.
        let short = Entry::decode(&[FORMAT_VERSION, 0]).expect_err("a short header");
        assert!(std::error::Error::source(&short).is_none());
        assert_eq!(
            short.to_string(),
            format!("corrupt entry: entry is 2 bytes, shorter than its {HEADER_LEN}-byte header")
        );
    }

    #[test]
    fn format_1_entries_still_read_as_generation_0() {
        let mut v1 = vec![1u8, 0];
        v1.extend_from_slice(&1_700_000_000_123u64.to_le_bytes());
        v1.extend_from_slice(&42u32.to_le_bytes());
        v1.extend_from_slice(b"old");
        let e = Entry::decode(&v1).unwrap();
        assert_eq!(
            (e.value.as_ref(), e.compute_ms, e.generation),
            (&b"old"[..], 42, 0)
        );
    }

    #[test]
    fn every_decoder_agrees() {
        for e in [entry(b"small"), entry(&b"compressible ".repeat(300))] {
            let bytes = e.encode(64);
            assert_eq!(Entry::decode(&bytes).unwrap(), e);
            assert_eq!(Entry::decode_shared(Bytes::from(bytes.clone())).unwrap(), e);
            assert_eq!(Entry::decode_vec(bytes).unwrap(), e);
        }
        assert!(Entry::decode_vec(vec![1, 0]).is_err());
    }

    #[test]
    fn expiry_is_exclusive() {
        let e = entry(b"v");
        assert!(!e.is_expired_at(e.expires_at_ms - 1));
        assert!(e.is_expired_at(e.expires_at_ms));
        assert_eq!(
            e.remaining_at(e.expires_at_ms - 5),
            Some(Duration::from_millis(5))
        );
        assert_eq!(e.remaining_at(e.expires_at_ms), None);
    }
}

//! [`Entry`]: a value with its expiry, and the byte format tiers store it in.
//!
//! Format 2, used by every tier that stores bytes (disk, Redis):
//!
//! ```text
//! offset  size  field
//! 0       1     format version, 2
//! 1       1     flags: bit 0 = payload is LZ4-compressed (size-prepended block)
//!                      bit 1 = a tag block follows the header
//! 2       8     expires_at, milliseconds since the Unix epoch, little endian
//! 10      4     compute_ms: how long the value took to compute (0 = unknown), little endian
//! 14      4     generation of the entry's namespace when it was written, little endian
//! 18      ..    tag block (with bit 1 only): count (u32 LE), then per tag its length
//!               (u16 LE) and its UTF-8 bytes
//! ..      ..    payload
//! ```
//!
//! Format 1 is the same without `generation` (tags or payload at 14), meaning generation 0;
//! entries of generation 0 are still written in format 1, and untagged entries without the
//! tag block, so older hoard versions can read them (a version without tag blocks reads a
//! tagged entry as corrupt, that is, as absent).
//!
//! The expiry travels with the value so every tier can refuse an expired entry on its own,
//! and so a value promoted from L2 to L1 keeps its L2 deadline.

use crate::error::{CorruptEntry, Error, Result};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

const FORMAT_VERSION: u8 = 2;
const FLAG_LZ4: u8 = 1;
const FLAG_TAGS: u8 = 2;
const HEADER_LEN: usize = 18;
const HEADER_LEN_V1: usize = 14;

/// What the header says.
struct Header {
    flags: u8,
    expires_at_ms: u64,
    compute_ms: u32,
    generation: u32,
    tags: Option<Arc<[String]>>,
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
    /// The tags the entry was written with (dependency tags included), so that someone
    /// looking at the entry sees them; `None` for an untagged entry. Each is at most
    /// `u16::MAX` bytes long (key rules keep them far shorter).
    pub tags: Option<Arc<[String]>>,
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
            tags: None,
        }
    }

    /// The entry's tags, none for an untagged entry.
    pub fn tags(&self) -> &[String] {
        self.tags.as_deref().unwrap_or_default()
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
        let (mut flags, payload): (u8, &[u8]) = match &compressed {
            Some(c) => (FLAG_LZ4, c),
            None => (0, &self.value),
        };
        let tags = self.tags();
        if !tags.is_empty() {
            flags |= FLAG_TAGS;
        }
        // Generation 0 needs no field: format 1, which older hoard versions read too (a
        // rolling upgrade then shares entries both ways).
        let version = if self.generation == 0 {
            1
        } else {
            FORMAT_VERSION
        };
        let tag_bytes: usize = tags.iter().map(|t| 2 + t.len()).sum();
        let mut out = Vec::with_capacity(HEADER_LEN + 4 + tag_bytes + payload.len());
        out.push(version);
        out.push(flags);
        out.extend_from_slice(&self.expires_at_ms.to_le_bytes());
        out.extend_from_slice(&self.compute_ms.to_le_bytes());
        if version == FORMAT_VERSION {
            out.extend_from_slice(&self.generation.to_le_bytes());
        }
        if !tags.is_empty() {
            let count = u32::try_from(tags.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_le_bytes());
            for tag in tags.iter().take(count as usize) {
                // Tags follow the key rules (at most 1 KiB); a longer one is cut at a
                // character boundary rather than written with a length that lies.
                let mut len = tag.len().min(usize::from(u16::MAX));
                while !tag.is_char_boundary(len) {
                    len -= 1;
                }
                out.extend_from_slice(&(len as u16).to_le_bytes());
                out.extend_from_slice(&tag.as_bytes()[..len]);
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// Reads the expiry from encoded bytes without touching the payload.
    pub fn decode_expiry(bytes: &[u8]) -> Result<u64> {
        Ok(Self::fixed_header(bytes)?.expires_at_ms)
    }

    /// The header with its tag block read.
    fn header(bytes: &[u8]) -> Result<Header> {
        let mut header = Self::fixed_header(bytes)?;
        if header.flags & FLAG_TAGS != 0 {
            let (tags, used) = read_tags(&bytes[header.len..])?;
            header.tags = Some(tags);
            header.len += used;
        }
        Ok(header)
    }

    /// The fixed-size part of the header (`tags` left `None`, `len` where the fixed part
    /// ends): all a reader of the expiry needs, without allocating.
    fn fixed_header(bytes: &[u8]) -> Result<Header> {
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
        if flags & !(FLAG_LZ4 | FLAG_TAGS) != 0 {
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
            tags: None,
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
    fn entry(self, value: Bytes) -> Entry {
        Entry {
            value,
            expires_at_ms: self.expires_at_ms,
            compute_ms: self.compute_ms,
            generation: self.generation,
            tags: self.tags,
        }
    }
}

/// Reads a tag block from the start of `bytes`: the tags, and how many bytes they took.
/// The count is checked against the bytes that follow before anything is allocated.
fn read_tags(bytes: &[u8]) -> Result<(Arc<[String]>, usize)> {
    let corrupt = |what: &str| Error::Corrupt(CorruptEntry::new(format!("bad tag block: {what}")));
    let (count, mut rest) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("missing count"))?;
    let count = u32::from_le_bytes(*count) as usize;
    if count == 0 || count > rest.len() / 2 {
        return Err(corrupt("impossible count"));
    }
    let mut tags = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, after) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| corrupt("cut short"))?;
        let len = usize::from(u16::from_le_bytes(*len));
        let tag = after.get(..len).ok_or_else(|| corrupt("cut short"))?;
        let tag = std::str::from_utf8(tag).map_err(|_| corrupt("a tag is not UTF-8"))?;
        tags.push(tag.to_owned());
        rest = &after[len..];
    }
    Ok((tags.into(), bytes.len() - rest.len()))
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
            tags: None,
        }
    }

    fn tagged(value: &[u8], tags: &[&str]) -> Entry {
        Entry {
            tags: Some(tags.iter().map(|t| t.to_string()).collect()),
            ..entry(value)
        }
    }

    #[test]
    fn tags_travel_with_the_entry_and_untagged_entries_keep_the_old_layout() {
        for generation in [0, 7] {
            for value in [&b"small"[..], &b"compressible ".repeat(300)] {
                let e = Entry {
                    generation,
                    ..tagged(value, &["model:v2", "dep:frames:a", "\u{e9}t\u{e9}"])
                };
                let bytes = e.encode(64);
                assert_eq!(bytes[1] & FLAG_TAGS, FLAG_TAGS);
                assert_eq!(Entry::decode(&bytes).unwrap(), e);
                assert_eq!(Entry::decode_vec(bytes.clone()).unwrap(), e);
                assert_eq!(Entry::decode_expiry(&bytes).unwrap(), e.expires_at_ms);
                assert_eq!(Entry::decode(&bytes).unwrap().tags().len(), 3);
            }
        }
        let plain = entry(b"v").encode(1024);
        assert_eq!(plain.len(), HEADER_LEN + 1, "no tag block without tags");
        assert_eq!(plain[1], 0);
        let no_tags = Entry {
            tags: Some(Arc::from(Vec::<String>::new())),
            ..entry(b"v")
        };
        assert_eq!(
            no_tags.encode(1024),
            plain,
            "an empty tag list is no tag block"
        );
    }

    #[test]
    fn a_broken_tag_block_is_corrupt() {
        let good = tagged(b"value", &["a", "bc"]).encode(1024);
        let at = HEADER_LEN;
        let mut cases = vec![good[..at + 2].to_vec(), good[..at + 4 + 2 + 1].to_vec()];
        let mut huge_count = good.clone();
        huge_count[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        cases.push(huge_count);
        let mut zero_count = good.clone();
        zero_count[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
        cases.push(zero_count);
        let mut long_tag = good.clone();
        long_tag[at + 4..at + 6].copy_from_slice(&60_000u16.to_le_bytes());
        cases.push(long_tag);
        let mut not_utf8 = good.clone();
        not_utf8[at + 6] = 0xff;
        cases.push(not_utf8);
        for bytes in cases {
            let error = Entry::decode(&bytes).expect_err("a broken tag block");
            assert!(matches!(error, Error::Corrupt(_)), "{error:?}");
            assert!(Entry::decode_vec(bytes.clone()).is_err());
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

//! `Entry` decoding: arbitrary bytes are an entry or `Error::Corrupt`, never a panic; the
//! decoders agree; what decodes re-encodes to the same entry; every entry (tagged or not)
//! round-trips.

use bytes::Bytes;
use hoard::{Entry, Error};

/// Decodes `bytes` with every decoder: they agree, errors are `Corrupt`, and a decoded
/// entry encodes (compressed or not) back to itself.
pub fn decode(bytes: &[u8]) {
    let decoded = Entry::decode(bytes);
    let shared = Entry::decode_shared(Bytes::copy_from_slice(bytes));
    let owned = Entry::decode_vec(bytes.to_vec());
    let expiry = Entry::decode_expiry(bytes);
    match &decoded {
        Ok(entry) => {
            assert_eq!(shared.as_ref().ok(), Some(entry), "decode_shared differs");
            assert_eq!(owned.as_ref().ok(), Some(entry), "decode_vec differs");
            assert_eq!(
                expiry.ok(),
                Some(entry.expires_at_ms),
                "decode_expiry differs"
            );
            for compress_above in [0, 64, usize::MAX] {
                roundtrip(entry, compress_above);
            }
        }
        Err(error) => {
            assert!(matches!(error, Error::Corrupt(_)), "not Corrupt: {error:?}");
            assert!(shared.is_err() && owned.is_err(), "only decode failed");
        }
    }
}

/// `entry` encoded with `compress_above` decodes to itself, in the format its generation
/// calls for.
pub fn roundtrip(entry: &Entry, compress_above: usize) {
    let bytes = entry.encode(compress_above);
    let version = if entry.generation == 0 { 1 } else { 2 };
    assert_eq!(bytes[0], version, "format version of {entry:?}");
    assert_eq!(
        Entry::decode(&bytes).as_ref().ok(),
        Some(entry),
        "roundtrip"
    );
    assert_eq!(
        Entry::decode_vec(bytes).ok().as_ref(),
        Some(entry),
        "roundtrip (vec)"
    );
}

/// An entry from bytes: 8 bytes of expiry, 4 of compute time, 4 of generation, 1 that
/// picks the compression threshold, then the value (missing header bytes read as 0).
pub fn entry_from_bytes(bytes: &[u8]) -> (Entry, usize) {
    let mut header = [0u8; 17];
    let n = bytes.len().min(17);
    header[..n].copy_from_slice(&bytes[..n]);
    let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
    let entry = Entry {
        value: Bytes::copy_from_slice(&bytes[n..]),
        expires_at_ms: u64::from_le_bytes(header[..8].try_into().unwrap()),
        compute_ms: word(8),
        generation: word(12),
        tags: None,
    };
    let compress_above = [0, 1, 16, 64, 1024, usize::MAX][usize::from(header[16]) % 6];
    (entry, compress_above)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoard_testkit::fuzz::proptest::prelude::*;
    use hoard_testkit::fuzz::{self, Input};

    const DIR: &str = env!("CARGO_MANIFEST_DIR");

    /// Entries as the code encodes them: both formats, raw and LZ4, empty and long.
    fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        let entry = |value: &[u8], generation| Entry {
            value: Bytes::copy_from_slice(value),
            expires_at_ms: 1_700_000_000_123,
            compute_ms: 42,
            generation,
            tags: None,
        };
        let tagged = |value: &[u8], generation| Entry {
            tags: Some(["model:v2".to_owned(), "dep:frames:clip-1".to_owned()].into()),
            ..entry(value, generation)
        };
        let text = b"emotion=happy;accuracy=0.95;".repeat(12);
        vec![
            ("v1-raw", entry(b"hello", 0).encode(1024)),
            ("v1-empty", entry(b"", 0).encode(1024)),
            ("v2-raw", entry(b"{\"accuracy\":0.95}", 7).encode(1024)),
            ("v1-lz4", entry(&text, 0).encode(16)),
            ("v2-lz4", entry(&text, u32::MAX).encode(16)),
            ("v2-lz4-run", entry(&[0u8; 300], 3).encode(0)),
            ("v1-tags", tagged(b"hello", 0).encode(1024)),
            ("v2-tags-lz4", tagged(&text, 9).encode(16)),
        ]
    }

    #[test]
    fn entry_decoding_never_panics_and_agrees() {
        fuzz::bless(DIR, "entry", &seeds());
        let corpus = fuzz::corpus(DIR, "entry");
        let bytes: Vec<Vec<u8>> = corpus.iter().map(|(_, b)| b.clone()).collect();
        const TOKENS: &[&[u8]] = &[
            b"\x01\x00",
            b"\x02\x01",
            b"\xff\xff\xff\xff",
            b"\x00\x00\x00\x00",
        ];
        fuzz::check(
            "entry",
            &corpus,
            fuzz::cases(3000),
            fuzz::mutated(bytes, TOKENS),
            |input: Input| {
                decode(&input);
                Ok(())
            },
            |bytes| Input(bytes.to_vec()),
        );
    }

    #[test]
    fn every_entry_roundtrips() {
        let value = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..80),
            // Compressible: a short pattern repeated.
            (prop::collection::vec(any::<u8>(), 1..6), 1usize..400)
                .prop_map(|(unit, times)| unit.repeat(times)),
        ];
        let strategy = (
            value,
            any::<u64>(),
            any::<u32>(),
            prop_oneof![Just(0u32), any::<u32>()],
            prop::sample::select(&[0usize, 1, 16, 64, 1024, usize::MAX][..]),
            prop::option::of(prop::collection::vec(any::<String>(), 1..4)),
        )
            .prop_map(
                |(value, expires_at_ms, compute_ms, generation, above, tags)| {
                    let entry = Entry {
                        value: value.into(),
                        expires_at_ms,
                        compute_ms,
                        generation,
                        tags: tags.map(Into::into),
                    };
                    (entry, above)
                },
            );
        fuzz::check(
            "entry_roundtrip",
            &[],
            fuzz::cases(1500),
            strategy,
            |(entry, above)| {
                roundtrip(&entry, above);
                Ok(())
            },
            entry_from_bytes,
        );
    }

    #[test]
    fn a_declared_lz4_size_past_the_ratio_is_refused_without_allocating() {
        // 4 GiB declared for 8 bytes of block: refused before any allocation.
        let mut bytes = vec![1u8, 1];
        bytes.extend_from_slice(&[0; 12]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0x10; 8]);
        assert!(matches!(Entry::decode(&bytes), Err(Error::Corrupt(_))));
    }
}

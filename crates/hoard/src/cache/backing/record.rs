//! A queued write as bytes: what write-behind keeps in its durable queue.
//!
//! ```text
//! version u8 (1) | op u8 (1 set, 2 delete) | key length u32 BE | key UTF-8 | value (set only)
//! ```
//!
//! The value is the rest of the record: the bytes the cache stores (MessagePack, as
//! [`crate::codec`] writes them).

use super::{BackingOp, BackingWrite};
use bytes::{BufMut, Bytes, BytesMut};

const VERSION: u8 = 1;
const SET: u8 = 1;
const DELETE: u8 = 2;
const HEADER: usize = 6;

/// The record of one write.
pub(super) fn encode(key: &str, op: &BackingOp) -> Bytes {
    let value = match op {
        BackingOp::Set(value) => value.as_ref(),
        BackingOp::Delete => &[],
    };
    let mut out = BytesMut::with_capacity(HEADER + key.len() + value.len());
    out.put_u8(VERSION);
    out.put_u8(match op {
        BackingOp::Set(_) => SET,
        BackingOp::Delete => DELETE,
    });
    // Keys are at most a few KiB (validated before any write).
    out.put_u32(u32::try_from(key.len()).unwrap_or(u32::MAX));
    out.put_slice(key.as_bytes());
    out.put_slice(value);
    out.freeze()
}

/// The write a record holds, with its queue id; why not, for bytes that are not a record.
pub(super) fn decode(id: String, bytes: &Bytes) -> Result<BackingWrite, String> {
    if bytes.len() < HEADER {
        return Err(format!(
            "{} bytes, shorter than a record header",
            bytes.len()
        ));
    }
    if bytes[0] != VERSION {
        return Err(format!(
            "record version {} (this hoard reads {VERSION})",
            bytes[0]
        ));
    }
    let key_len = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]) as usize;
    let key_end = HEADER
        .checked_add(key_len)
        .filter(|end| *end <= bytes.len())
        .ok_or_else(|| format!("key of {key_len} bytes past the record's end"))?;
    let key = std::str::from_utf8(&bytes[HEADER..key_end])
        .map_err(|_| "key not UTF-8".to_owned())?
        .to_owned();
    let op = match bytes[1] {
        SET => BackingOp::Set(bytes.slice(key_end..)),
        DELETE if key_end == bytes.len() => BackingOp::Delete,
        DELETE => return Err("a delete record with a value".to_owned()),
        other => return Err(format!("unknown operation {other}")),
    };
    Ok(BackingWrite {
        id: Some(id),
        key,
        op,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_named() {
        for op in [
            BackingOp::Set(Bytes::from_static(b"\x92\x01\x02")),
            BackingOp::Set(Bytes::new()),
            BackingOp::Delete,
        ] {
            let bytes = encode("user:7", &op);
            let write = decode("9-0".to_owned(), &bytes).expect("decodes");
            assert_eq!(write.id.as_deref(), Some("9-0"));
            assert_eq!(write.key, "user:7");
            assert_eq!(write.op, op);
        }
        let good = encode("k", &BackingOp::Delete);
        for (bytes, why) in [
            (Bytes::from_static(b"\x01\x01"), "shorter"),
            (Bytes::from_static(b"\x07\x01\0\0\0\0"), "version 7"),
            (
                Bytes::from_static(b"\x01\x01\0\0\0\x09k"),
                "past the record's end",
            ),
            (
                Bytes::from_static(b"\x01\x05\0\0\0\x01k"),
                "unknown operation 5",
            ),
            (
                Bytes::from_static(b"\x01\x02\0\0\0\x01kv"),
                "delete record with a value",
            ),
            (Bytes::from_static(b"\x01\x01\0\0\0\x01\xff"), "not UTF-8"),
        ] {
            let error = decode("1".to_owned(), &bytes).expect_err(why);
            assert!(error.contains(why), "{error:?} should say {why:?}");
        }
        assert!(decode("1".to_owned(), &good).is_ok());
    }
}

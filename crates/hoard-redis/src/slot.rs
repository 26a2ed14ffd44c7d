//! Redis Cluster key slots: CRC16 (XMODEM) of the key, or of its `{hash tag}`, mod 16384.

/// Number of slots in a Redis Cluster.
pub(crate) const SLOTS: usize = 16_384;

/// The slot of `key`, as every Redis Cluster node computes it.
pub(crate) fn slot(key: &[u8]) -> u16 {
    let hashed = hash_tag(key).unwrap_or(key);
    crc16(hashed) % SLOTS as u16
}

/// The part between the first `{` and the next `}`, if non-empty.
fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let rest = &key[open + 1..];
    let close = rest.iter().position(|&b| b == b'}')?;
    (close > 0).then(|| &rest[..close])
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_cluster_keyslot() {
        // Values from `CLUSTER KEYSLOT` on a real Redis 7.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(
            slot(b"hoard:model:metrics:abc-123"),
            slot(b"hoard:model:metrics:abc-123")
        );
        assert_eq!(crc16(b"123456789"), 0x31c3, "the CRC16/XMODEM check value");
    }

    #[test]
    fn hash_tags_pick_the_hashed_part() {
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_eq!(
            hash_tag(b"foo{}{bar}"),
            None,
            "empty first tag: whole key is hashed"
        );
        assert_eq!(hash_tag(b"foo{{bar}}zap"), Some(&b"{bar"[..]));
        assert_eq!(hash_tag(b"no tag"), None);
    }
}

//! `hoard::glob` against Redis's own `SCAN MATCH`: generated keys and patterns over an
//! alphabet heavy in metacharacters, every pattern hoard accepts must select exactly the
//! keys a real `redis-server` selects. Patterns hoard refuses (an unclosed `[`, a
//! trailing `\`) are counted, not compared: refusing writes nothing.

use crate::backend::shared_redis;
use hoard::glob::Glob;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;

const ALPHABET: &[u8] = b"abc-]\\[^:x";
const META: &[u8] = b"*?[]\\^-";

fn random_text(rng: &mut StdRng, alphabet: &[u8], len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect()
}

/// Key bytes past ASCII: a class range ending in one compares as C's (signed) `char`.
const HIGH: &[u8] = &[0x01, 0x7f, 0x80, 0xa9, 0xc3, 0xff];

fn random_pattern(rng: &mut StdRng) -> Vec<u8> {
    let len = rng.random_range(1..9);
    let mut pattern = Vec::new();
    for _ in 0..len {
        if rng.random_bool(0.45) {
            pattern.push(META[rng.random_range(0..META.len())]);
        } else if rng.random_bool(0.1) {
            // A whole non-ASCII character, so the pattern stays UTF-8.
            pattern.extend_from_slice("é".as_bytes());
        } else {
            pattern.push(ALPHABET[rng.random_range(0..ALPHABET.len())]);
        }
    }
    pattern
}

async fn redis_matches(
    connection: &mut redis::aio::MultiplexedConnection,
    prefix: &[u8],
    pattern: &[u8],
) -> BTreeSet<Vec<u8>> {
    let mut full = prefix.to_vec();
    full.extend_from_slice(pattern);
    let mut found = BTreeSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&full)
            .arg("COUNT")
            .arg(10_000)
            .query_async(connection)
            .await
            .unwrap();
        found.extend(keys.into_iter().map(|k| k[prefix.len()..].to_vec()));
        if next == 0 {
            return found;
        }
        cursor = next;
    }
}

#[tokio::test]
async fn patterns_select_the_keys_redis_selects() {
    let server = shared_redis();
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut compared = 0;
    let mut refused = 0;
    for seed in [1_u64, 2, 3] {
        let mut rng = StdRng::seed_from_u64(seed);
        // A prefix of its own, free of metacharacters, so other tests' keys never match.
        let prefix = format!("globdiff{seed}:").into_bytes();
        let keys: BTreeSet<Vec<u8>> = (0..400)
            .map(|_| {
                let len = rng.random_range(1..6);
                let mut key = random_text(&mut rng, ALPHABET, len);
                if rng.random_bool(0.3) {
                    key.push(HIGH[rng.random_range(0..HIGH.len())]);
                }
                key
            })
            .collect();
        for key in &keys {
            let mut full = prefix.clone();
            full.extend_from_slice(key);
            let _: () = redis::cmd("SET")
                .arg(&full)
                .arg(1)
                .query_async(&mut connection)
                .await
                .unwrap();
        }
        for _ in 0..1500 {
            let pattern = random_pattern(&mut rng);
            let Ok(text) = std::str::from_utf8(&pattern) else {
                continue;
            };
            let glob = match Glob::new(text) {
                Ok(glob) => glob,
                Err(_) => {
                    refused += 1;
                    continue;
                }
            };
            let ours: BTreeSet<Vec<u8>> = keys
                .iter()
                .filter(|k| glob.matches_bytes(k))
                .cloned()
                .collect();
            let theirs = redis_matches(&mut connection, &prefix, &pattern).await;
            assert_eq!(
                ours, theirs,
                "pattern {text:?} (seed {seed}): hoard and Redis select different keys"
            );
            compared += 1;
        }
    }
    assert!(
        compared > 2000,
        "{compared} patterns compared, {refused} refused"
    );
}

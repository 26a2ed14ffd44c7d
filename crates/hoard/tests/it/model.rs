//! Model-based test: random operations on memory+disk, mirrored into a `HashMap`, with the
//! store closed and reopened along the way. Any divergence is a bug in a tier or in how the
//! cache composes them.

use hoard::{Cache, DiskConfig, SetOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

const NAMESPACES: [&str; 2] = ["a", "b"];

fn random_key(rng: &mut StdRng) -> (&'static str, String) {
    let ns = NAMESPACES[rng.random_range(0..2)];
    (
        ns,
        format!("g{}:{}", rng.random_range(0..3), rng.random_range(0..6)),
    )
}

fn open(dir: &std::path::Path) -> Cache {
    // A tiny L1 so evictions happen and reads often go to disk.
    Cache::builder()
        .memory_bytes(2_000)
        .disk(DiskConfig::new(dir).sweep_interval(None))
        .build()
        .unwrap()
}

#[tokio::test]
async fn random_operations_match_a_hashmap() {
    for seed in 0..8u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = hoard_testkit::temp_dir();
        let mut cache = open(dir.path());
        let mut model: HashMap<String, u64> = HashMap::new();
        // Entries a namespace clear made unreadable but that still sit in L2 until their
        // TTL: a pattern delete removes (and counts) them too.
        let mut ghosts: std::collections::HashSet<String> = std::collections::HashSet::new();
        for step in 0..400 {
            let ctx = format!("seed {seed} step {step}");
            match rng.random_range(0..100) {
                0..=34 => {
                    let (ns, key) = random_key(&mut rng);
                    let value: u64 = rng.random();
                    cache.set(ns, &key, &value).await.unwrap();
                    ghosts.remove(&format!("{ns}:{key}"));
                    model.insert(format!("{ns}:{key}"), value);
                }
                35..=59 => {
                    let (ns, key) = random_key(&mut rng);
                    let got = cache.get::<u64>(ns, &key).await.unwrap();
                    assert_eq!(
                        got,
                        model.get(&format!("{ns}:{key}")).copied(),
                        "{ctx}: get {ns}:{key}"
                    );
                }
                60..=69 => {
                    let (ns, key) = random_key(&mut rng);
                    let existed = cache.delete(ns, &key).await.unwrap();
                    ghosts.remove(&format!("{ns}:{key}"));
                    assert_eq!(
                        existed,
                        model.remove(&format!("{ns}:{key}")).is_some(),
                        "{ctx}: delete"
                    );
                }
                70..=79 => {
                    let ns = NAMESPACES[rng.random_range(0..2)];
                    let keys: Vec<String> = (0..4).map(|_| random_key(&mut rng).1).collect();
                    let got = cache.mget::<u64>(ns, &keys).await.unwrap();
                    let expected: Vec<Option<u64>> = keys
                        .iter()
                        .map(|k| model.get(&format!("{ns}:{k}")).copied())
                        .collect();
                    assert_eq!(got, expected, "{ctx}: mget");
                }
                80..=85 => {
                    let pattern = format!("*:g{}:*", rng.random_range(0..3));
                    let glob = hoard::glob::Glob::new(&pattern).unwrap();
                    let before = model.len() + ghosts.len();
                    model.retain(|k, _| !glob.matches(k));
                    ghosts.retain(|k| !glob.matches(k));
                    let deleted = cache.delete_pattern(&pattern).await.unwrap();
                    assert_eq!(
                        deleted as usize,
                        before - model.len() - ghosts.len(),
                        "{ctx}: {pattern}"
                    );
                }
                86..=89 => {
                    let ns = NAMESPACES[rng.random_range(0..2)];
                    let prefix = format!("{ns}:");
                    ghosts.extend(model.keys().filter(|k| k.starts_with(&prefix)).cloned());
                    model.retain(|k, _| !k.starts_with(&prefix));
                    cache.clear_namespace(ns).await.unwrap();
                }
                90..=94 => {
                    let ns = NAMESPACES[rng.random_range(0..2)];
                    let items: Vec<(String, u64)> = (0..3)
                        .map(|_| (random_key(&mut rng).1, rng.random()))
                        .collect();
                    cache.mset(ns, &items, SetOptions::new()).await.unwrap();
                    for (k, v) in items {
                        ghosts.remove(&format!("{ns}:{k}"));
                        model.insert(format!("{ns}:{k}"), v);
                    }
                }
                _ => {
                    drop(cache);
                    cache = open(dir.path());
                }
            }
        }
        // Finally every key agrees.
        for ns in NAMESPACES {
            for g in 0..3 {
                for i in 0..6 {
                    let key = format!("g{g}:{i}");
                    let got = cache.get::<u64>(ns, &key).await.unwrap();
                    assert_eq!(
                        got,
                        model.get(&format!("{ns}:{key}")).copied(),
                        "seed {seed} final {ns}:{key}"
                    );
                }
            }
        }
    }
}

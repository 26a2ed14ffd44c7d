//! Model-based test: random programs of cache operations, run on each of the four backends
//! (memory, memory + disk, memory + Redis, memory + Redis Cluster) and checked step by step
//! against a `HashMap` model with deadlines. Time moves on a manual clock; the disk store is
//! closed and reopened; the L2 is switched off and on (`Faulty`); two writers race on a key.
//! proptest shrinks a failing program to a short one before reporting it.
//!
//! A plain `cargo test` runs a fixed set of programs per backend (fixed seed);
//! `HOARD_MODEL_CASES=500` runs more, from a random seed (`HOARD_MODEL_SEED` replays one).

use crate::backend::{shared_cluster, shared_redis, unique_prefix};
use crate::faults::Faulty;
use hoard::{Cache, DiskConfig, Error, ManualClock, RedisConfig, SetOptions, Store};
use hoard_testkit::TempDir;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const NAMESPACES: [&str; 2] = ["a", "b"];

#[derive(Debug, Clone)]
enum Op {
    Set {
        ns: usize,
        key: u8,
        value: u32,
        ttl_s: u16,
    },
    Get {
        ns: usize,
        key: u8,
    },
    MGet {
        ns: usize,
        keys: Vec<u8>,
    },
    MSet {
        ns: usize,
        items: Vec<(u8, u32)>,
    },
    Delete {
        ns: usize,
        key: u8,
    },
    /// `*:g{group}*`: every key of a group, both namespaces.
    DeletePattern {
        group: u8,
    },
    ClearNamespace {
        ns: usize,
    },
    /// Two writers at once on one key: either value may win, nothing else.
    Race {
        ns: usize,
        key: u8,
        values: (u32, u32),
    },
    Advance {
        seconds: u16,
    },
    Reopen,
    L2Down,
    L2Up,
}

fn key_name(key: u8) -> String {
    format!("g{}:{}", key % 3, key / 3)
}

fn op() -> impl Strategy<Value = Op> {
    let ns = 0..NAMESPACES.len();
    let key = 0u8..12;
    prop_oneof![
        8 => (ns.clone(), key.clone(), any::<u32>(), 60u16..900)
            .prop_map(|(ns, key, value, ttl_s)| Op::Set { ns, key, value, ttl_s }),
        8 => (ns.clone(), key.clone()).prop_map(|(ns, key)| Op::Get { ns, key }),
        2 => (ns.clone(), prop::collection::vec(key.clone(), 1..5))
            .prop_map(|(ns, keys)| Op::MGet { ns, keys }),
        2 => (ns.clone(), prop::collection::vec((key.clone(), any::<u32>()), 1..4))
            .prop_map(|(ns, items)| Op::MSet { ns, items }),
        3 => (ns.clone(), key.clone()).prop_map(|(ns, key)| Op::Delete { ns, key }),
        1 => (0u8..3).prop_map(|group| Op::DeletePattern { group }),
        1 => ns.clone().prop_map(|ns| Op::ClearNamespace { ns }),
        1 => (ns, key, (any::<u32>(), any::<u32>()))
            .prop_map(|(ns, key, values)| Op::Race { ns, key, values }),
        2 => (1u16..600).prop_map(|seconds| Op::Advance { seconds }),
        1 => Just(Op::Reopen),
        1 => Just(Op::L2Down),
        2 => Just(Op::L2Up),
    ]
}

/// What the model holds for a key: its value and deadline (ms, by the manual clock).
type Model = HashMap<String, (u32, u64)>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Memory,
    Disk,
    Redis,
    Cluster,
}

/// One backend under test, rebuilt for every program.
struct Rig {
    kind: Kind,
    clock: ManualClock,
    cache: Cache,
    faulty: Option<Arc<Faulty>>,
    dir: Option<TempDir>,
    prefix: String,
}

impl Rig {
    async fn new(kind: Kind) -> Rig {
        let clock = ManualClock::new();
        let dir = (kind == Kind::Disk).then(hoard_testkit::temp_dir);
        let mut rig = Rig {
            kind,
            clock,
            cache: Cache::in_memory(),
            faulty: None,
            dir,
            prefix: unique_prefix(),
        };
        rig.open().await;
        rig
    }

    /// A fresh L2 handle on the same data (same folder, same key prefix).
    fn l2(&self) -> Option<Arc<dyn Store>> {
        let clock = self.clock.clock();
        match self.kind {
            Kind::Memory => None,
            Kind::Disk => {
                let dir = self.dir.as_ref().map(|d| d.path().to_path_buf())?;
                let disk = DiskConfig::new(dir).sweep_interval(None).clock(clock);
                Some(Arc::new(disk.open().expect("opening the disk tier")))
            }
            Kind::Redis | Kind::Cluster => {
                let config = match self.kind {
                    Kind::Redis => RedisConfig::standalone(shared_redis().url()),
                    _ => RedisConfig::cluster(shared_cluster().urls()),
                };
                let config = config.key_prefix(&self.prefix).clock(clock);
                Some(Arc::new(config.open().expect("opening the Redis tier")))
            }
        }
    }

    /// (Re)opens the cache on the backend's data. L1 is small, so reads often go to L2.
    async fn open(&mut self) {
        // The old cache goes first: the disk folder takes one opener at a time.
        self.cache = Cache::in_memory();
        self.faulty = None;
        // Memory alone must hold every key (an eviction there is a loss the model does not
        // know); in front of an L2, a tiny L1 sends most reads to the L2.
        let l1 = if self.kind == Kind::Memory {
            1 << 20
        } else {
            4_000
        };
        let builder = Cache::builder().memory_bytes(l1).clock(self.clock.clock());
        self.cache = match self.l2() {
            None => builder.build().expect("building the cache"),
            Some(l2) => {
                let faulty = Faulty::new(l2);
                self.faulty = Some(faulty.clone());
                builder.l2(faulty).build().expect("building the cache")
            }
        };
        if matches!(self.kind, Kind::Redis | Kind::Cluster) {
            assert!(self.cache.wait_coherent(Duration::from_secs(10)).await);
        }
    }

    /// A second handle on a shared L2, for a fresh instance beside the cache (a disk
    /// folder takes one opener: its check is the reopen instead).
    fn second_l2(&self) -> Option<Arc<dyn Store>> {
        matches!(self.kind, Kind::Redis | Kind::Cluster)
            .then(|| self.l2())
            .flatten()
    }

    fn down(&self) -> bool {
        self.faulty.as_ref().is_some_and(|f| f.is_down())
    }
}

fn live(model: &Model, full: &str, now: u64) -> Option<u32> {
    model
        .get(full)
        .filter(|(_, deadline)| *deadline > now)
        .map(|(value, _)| *value)
}

fn unavailable<T: std::fmt::Debug>(result: &hoard::Result<T>) -> bool {
    matches!(result, Err(Error::Unavailable { .. }))
}

/// Runs one program; any disagreement with the model fails it with the step it happened at.
async fn run(kind: Kind, program: Vec<Op>) -> Result<(), TestCaseError> {
    let mut rig = Rig::new(kind).await;
    let mut model = Model::new();
    for (step, op) in program.iter().enumerate() {
        let now = rig.clock.now_ms();
        let down = rig.down();
        let at = format!("{kind:?} step {step}: {op:?} (L2 down: {down})");
        match op {
            Op::Set {
                ns,
                key,
                value,
                ttl_s,
            } => {
                let ttl = Duration::from_secs(u64::from(*ttl_s));
                let (ns, key) = (NAMESPACES[*ns], key_name(*key));
                let result = rig
                    .cache
                    .set_with(ns, &key, value, SetOptions::new().ttl(ttl))
                    .await;
                if down {
                    prop_assert!(unavailable(&result), "{at}: {result:?}");
                } else {
                    prop_assert!(result.is_ok(), "{at}: {result:?}");
                    let deadline = now + ttl.as_millis() as u64;
                    model.insert(format!("{ns}:{key}"), (*value, deadline));
                }
            }
            Op::Get { ns, key } => {
                let (ns, key) = (NAMESPACES[*ns], key_name(*key));
                let got = rig.cache.get::<u32>(ns, &key).await;
                let expected = live(&model, &format!("{ns}:{key}"), now);
                match got {
                    // While L2 is down a read may miss, but never return another value.
                    Ok(None) if down => {}
                    Ok(got) => prop_assert_eq!(got, expected, "{}", at),
                    Err(error) => prop_assert!(false, "{at}: {error}"),
                }
            }
            Op::MGet { ns, keys } => {
                let ns = NAMESPACES[*ns];
                let names: Vec<String> = keys.iter().map(|k| key_name(*k)).collect();
                let got = rig.cache.mget::<u32>(ns, &names).await;
                let got = got.map_err(|e| TestCaseError::fail(format!("{at}: {e}")))?;
                for (name, got) in names.iter().zip(got) {
                    let expected = live(&model, &format!("{ns}:{name}"), now);
                    if !(down && got.is_none()) {
                        prop_assert_eq!(got, expected, "{} ({})", at, name);
                    }
                }
            }
            Op::MSet { ns, items } => {
                let ns = NAMESPACES[*ns];
                let named: Vec<(String, u32)> =
                    items.iter().map(|(k, v)| (key_name(*k), *v)).collect();
                let ttl = Duration::from_secs(300);
                let result = rig.cache.mset(ns, &named, SetOptions::new().ttl(ttl)).await;
                if down {
                    prop_assert!(unavailable(&result), "{at}: {result:?}");
                } else {
                    prop_assert!(result.is_ok(), "{at}: {result:?}");
                    for (name, value) in named {
                        let deadline = now + ttl.as_millis() as u64;
                        model.insert(format!("{ns}:{name}"), (value, deadline));
                    }
                }
            }
            Op::Delete { ns, key } => {
                let (ns, key) = (NAMESPACES[*ns], key_name(*key));
                let full = format!("{ns}:{key}");
                let result = rig.cache.delete(ns, &key).await;
                if down {
                    prop_assert!(unavailable(&result), "{at}: {result:?}");
                } else {
                    let existed = live(&model, &full, now).is_some();
                    // Redis keeps real time: an entry past its deadline by the manual
                    // clock is still there for Redis, whose DEL then reports it.
                    let redis_saw_it =
                        matches!(kind, Kind::Redis | Kind::Cluster) && model.contains_key(&full);
                    match result {
                        Ok(true) if redis_saw_it => {}
                        result => prop_assert_eq!(result.ok(), Some(existed), "{}", at),
                    }
                    model.remove(&full);
                }
            }
            Op::DeletePattern { group } => {
                let pattern = format!("*:g{group}:*");
                let result = rig.cache.delete_pattern(&pattern).await;
                if down {
                    prop_assert!(result.is_err(), "{at}: {result:?}");
                } else {
                    prop_assert!(result.is_ok(), "{at}: {result:?}");
                    let prefix = format!("g{group}:");
                    model.retain(|full, _| {
                        !full
                            .split_once(':')
                            .is_some_and(|(_, k)| k.starts_with(&prefix))
                    });
                }
            }
            Op::ClearNamespace { ns } => {
                let ns = NAMESPACES[*ns];
                let result = rig.cache.clear_namespace(ns).await;
                if down {
                    prop_assert!(result.is_err(), "{at}: {result:?}");
                } else {
                    prop_assert!(result.is_ok(), "{at}: {result:?}");
                    model.retain(|full, _| !full.starts_with(&format!("{ns}:")));
                }
            }
            Op::Race { ns, key, values } => {
                let (ns, key) = (NAMESPACES[*ns], key_name(*key));
                let ttl = SetOptions::new().ttl(Duration::from_secs(300));
                let (one, two) = tokio::join!(
                    rig.cache.set_with(ns, &key, &values.0, ttl.clone()),
                    rig.cache.set_with(ns, &key, &values.1, ttl.clone()),
                );
                if down {
                    prop_assert!(unavailable(&one) && unavailable(&two), "{at}");
                } else {
                    prop_assert!(one.is_ok() && two.is_ok(), "{at}: {one:?} {two:?}");
                    let got = rig.cache.get::<u32>(ns, &key).await;
                    let got = got.map_err(|e| TestCaseError::fail(format!("{at}: {e}")))?;
                    let winner =
                        got.ok_or_else(|| TestCaseError::fail(format!("{at}: lost both")))?;
                    prop_assert!(winner == values.0 || winner == values.1, "{at}: {winner}");
                    // Another instance reads the same winner: L1 and L2 agree.
                    if let Some(l2) = rig.second_l2() {
                        let fresh = Cache::builder().l2(l2).clock(rig.clock.clock()).build();
                        let fresh = fresh.map_err(|e| TestCaseError::fail(e.to_string()))?;
                        let theirs = fresh.get::<u32>(ns, &key).await.ok().flatten();
                        prop_assert_eq!(theirs, Some(winner), "{} (fresh instance)", at);
                    }
                    model.insert(format!("{ns}:{key}"), (winner, now + 300_000));
                }
            }
            Op::Advance { seconds } => rig.clock.advance(Duration::from_secs(u64::from(*seconds))),
            Op::Reopen => {
                if kind == Kind::Disk {
                    rig.open().await;
                }
            }
            Op::L2Down => {
                if let Some(faulty) = &rig.faulty {
                    faulty.set_down(true);
                }
            }
            Op::L2Up => {
                if let Some(faulty) = &rig.faulty {
                    faulty.set_down(false);
                }
            }
        }
    }
    // L2 back; then every key agrees, through this cache and through a fresh instance.
    if let Some(faulty) = &rig.faulty {
        faulty.set_down(false);
    }
    let now = rig.clock.now_ms();
    let fresh = match rig.second_l2() {
        Some(l2) => Some(
            Cache::builder()
                .l2(l2)
                .clock(rig.clock.clock())
                .build()
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
        ),
        None => None,
    };
    for ns in NAMESPACES {
        for key in 0..12 {
            let key = key_name(key);
            let expected = live(&model, &format!("{ns}:{key}"), now);
            let got = rig.cache.get::<u32>(ns, &key).await.ok().flatten();
            prop_assert_eq!(got, expected, "{:?} at the end: {}:{}", kind, ns, key);
            if let Some(fresh) = &fresh {
                let theirs = fresh.get::<u32>(ns, &key).await.ok().flatten();
                prop_assert_eq!(
                    theirs,
                    expected,
                    "{:?} fresh instance: {}:{}",
                    kind,
                    ns,
                    key
                );
            }
        }
    }
    if kind == Kind::Disk {
        rig.open().await;
        for ns in NAMESPACES {
            for key in 0..12 {
                let key = key_name(key);
                let expected = live(&model, &format!("{ns}:{key}"), now);
                let got = rig.cache.get::<u32>(ns, &key).await.ok().flatten();
                prop_assert_eq!(got, expected, "disk after reopen: {}:{}", ns, key);
            }
        }
    }
    Ok(())
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Runs `cases` programs on `kind` (more with `HOARD_MODEL_CASES`).
fn check(kind: Kind, cases: u32) {
    let cases = env_number("HOARD_MODEL_CASES").map_or(cases, |n| n as u32);
    let seed = env_number("HOARD_MODEL_SEED").unwrap_or_else(|| {
        if std::env::var_os("HOARD_MODEL_CASES").is_some() {
            rand::random()
        } else {
            0x5eed
        }
    });
    eprintln!("model {kind:?}: {cases} programs, HOARD_MODEL_SEED={seed}");
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let programs = prop::collection::vec(op(), 1..40);
    let result = runner.run(&programs, |program| runtime.block_on(run(kind, program)));
    if let Err(error) = result {
        panic!("{kind:?} (HOARD_MODEL_SEED={seed}): {error}");
    }
}

#[test]
fn memory_matches_the_model() {
    check(Kind::Memory, 64);
}

#[test]
fn disk_matches_the_model() {
    check(Kind::Disk, 32);
}

#[test]
fn redis_matches_the_model() {
    check(Kind::Redis, 24);
}

#[test]
fn cluster_matches_the_model() {
    check(Kind::Cluster, 16);
}

//! The core benchmarks: L1 gets against raw moka, quick_cache and a bare `HashMap`, disk-tier
//! sets and gets against raw fjall.

use crate::report::{Comparison, Measure};
use crate::Options;
use bytes::Bytes;
use hoard::{Cache, DiskConfig, Entry, SetOptions, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const NAMESPACE: &str = "bench";

/// Runs every core comparison.
pub fn run(options: &Options) -> anyhow::Result<Vec<Comparison>> {
    Ok(vec![
        l1_get(options)?,
        disk_set(options)?,
        disk_get(options)?,
    ])
}

fn key(i: usize) -> String {
    format!("item:{i:08}")
}

fn value(size: usize, i: usize) -> Bytes {
    Bytes::from(
        (0..size)
            .map(|b| (b.wrapping_mul(31) ^ i) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// Median of per-round results.
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Runs `work(thread_index)` on `threads` threads released together; returns wall time.
fn timed_threads<F>(threads: usize, work: F) -> Duration
where
    F: Fn(usize) + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (work, start) = (work.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                work(t);
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    for handle in handles {
        handle.join().expect("benchmark thread panicked");
    }
    began.elapsed()
}

/// Zipf-distributed key indices for each thread, drawn up front so drawing is not timed.
fn zipf_indices(options: &Options) -> anyhow::Result<Arc<Vec<Vec<u32>>>> {
    let zipf = Zipf::new(options.keys as f64, options.zipf)?;
    let per_thread = options.ops / options.threads;
    Ok(Arc::new(
        (0..options.threads)
            .map(|t| {
                let mut rng = StdRng::seed_from_u64(42 + t as u64);
                (0..per_thread)
                    .map(|_| (zipf.sample(&mut rng) as u32).saturating_sub(1))
                    .collect()
            })
            .collect(),
    ))
}

/// An entry with its own deadline, as a moka user would write to get per-entry TTLs.
#[derive(Clone)]
struct Timed {
    value: Bytes,
    expires_at_ms: u64,
}

struct TimedExpiry;

/// The hasher hoard's L1 uses, given to the peers that take one.
type FastHash = foldhash::fast::RandomState;

/// quick_cache's weight of an entry: its key and value bytes plus a slot's overhead, as
/// hoard's L1 counts them.
#[derive(Clone)]
struct BytesWeighter;

impl quick_cache::Weighter<String, Timed> for BytesWeighter {
    fn weight(&self, key: &String, v: &Timed) -> u64 {
        (key.len() + v.value.len() + 96) as u64
    }
}

impl moka::Expiry<String, Timed> for TimedExpiry {
    fn expire_after_create(&self, _key: &String, v: &Timed, _now: Instant) -> Option<Duration> {
        Some(Duration::from_millis(
            v.expires_at_ms.saturating_sub(hoard::entry::now_ms()),
        ))
    }
}

fn l1_get(options: &Options) -> anyhow::Result<Comparison> {
    let indices = zipf_indices(options)?;
    let keys: Arc<Vec<String>> = Arc::new((0..options.keys).map(key).collect());
    let full_keys: Arc<Vec<String>> =
        Arc::new(keys.iter().map(|k| format!("{NAMESPACE}:{k}")).collect());
    let ops = (options.ops / options.threads * options.threads) as f64;
    let per_op = |wall: Duration| wall.as_nanos() as f64 * options.threads as f64 / ops;

    // hoard: memory-only, budget large enough that nothing is evicted.
    let hoard = Cache::builder().memory_bytes(4 << 30).build()?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(async {
        for (i, k) in keys.iter().enumerate() {
            hoard
                .set_raw(
                    NAMESPACE,
                    k,
                    value(options.value_size, i),
                    SetOptions::new(),
                )
                .await?;
        }
        anyhow::Ok(())
    })?;

    let plain: moka::sync::Cache<String, Bytes> = moka::sync::Cache::new(options.keys as u64 * 2);
    let weighed: moka::sync::Cache<String, Timed> = moka::sync::Cache::builder()
        .max_capacity(4 << 30)
        .weigher(|k: &String, v: &Timed| (k.len() + v.value.len() + 96) as u32)
        .expire_after(TimedExpiry)
        .build();
    let deadline = hoard::entry::now_ms() + 3_600_000;
    for (i, k) in full_keys.iter().enumerate() {
        plain.insert(k.clone(), value(options.value_size, i));
        weighed.insert(
            k.clone(),
            Timed {
                value: value(options.value_size, i),
                expires_at_ms: deadline,
            },
        );
    }
    plain.run_pending_tasks();
    weighed.run_pending_tasks();
    // quick_cache as a user would set it up for a byte budget: weighted by key and value
    // bytes, the deadline kept with the value and checked on read, as hoard does. It hashes
    // with foldhash, as hoard's L1 does, so the comparison is of the caches, not the hashers.
    let quick: quick_cache::sync::Cache<String, Timed, BytesWeighter, FastHash> =
        quick_cache::sync::Cache::with(
            options.keys * 2,
            4 << 30,
            BytesWeighter,
            FastHash::default(),
            Default::default(),
        );
    // The floor: a map nobody writes to, read without a lock; a hit clones the value.
    let mut map: std::collections::HashMap<String, Bytes, FastHash> =
        std::collections::HashMap::with_hasher(FastHash::default());
    for (i, k) in full_keys.iter().enumerate() {
        let timed = Timed {
            value: value(options.value_size, i),
            expires_at_ms: deadline,
        };
        quick.insert(k.clone(), timed);
        map.insert(k.clone(), value(options.value_size, i));
    }
    let map = Arc::new(map);
    let quick = Arc::new(quick);

    let run_hoard = || {
        let (hoard, keys, indices) = (hoard.clone(), keys.clone(), indices.clone());
        timed_threads(options.threads, move |t| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                for &i in &indices[t] {
                    let got = hoard.get_raw(NAMESPACE, &keys[i as usize]).await;
                    black_box(got.expect("get").expect("hit"));
                }
            });
        })
    };
    let run_plain = || {
        let (cache, keys, indices) = (plain.clone(), full_keys.clone(), indices.clone());
        timed_threads(options.threads, move |t| {
            for &i in &indices[t] {
                black_box(cache.get(keys[i as usize].as_str()).expect("hit"));
            }
        })
    };
    let run_weighed = || {
        let (cache, keys, indices) = (weighed.clone(), full_keys.clone(), indices.clone());
        timed_threads(options.threads, move |t| {
            for &i in &indices[t] {
                let v = cache.get(keys[i as usize].as_str()).expect("hit");
                // What hoard does on top of a bare get: refuse a value past its deadline.
                black_box(v.expires_at_ms > hoard::entry::now_ms());
                black_box(v.value);
            }
        })
    };

    let run_quick = || {
        let (cache, keys, indices) = (quick.clone(), full_keys.clone(), indices.clone());
        timed_threads(options.threads, move |t| {
            for &i in &indices[t] {
                let v = cache.get(keys[i as usize].as_str()).expect("hit");
                black_box(v.expires_at_ms > hoard::entry::now_ms());
                black_box(v.value);
            }
        })
    };
    let run_map = || {
        let (map, keys, indices) = (map.clone(), full_keys.clone(), indices.clone());
        timed_threads(options.threads, move |t| {
            for &i in &indices[t] {
                black_box(map.get(keys[i as usize].as_str()).expect("hit").clone());
            }
        })
    };

    // Warm up every contender once, then alternate them round by round.
    let runs: [&dyn Fn() -> Duration; 5] =
        [&run_hoard, &run_plain, &run_weighed, &run_quick, &run_map];
    for run in runs {
        run();
    }
    let mut times: [Vec<f64>; 5] = Default::default();
    for _ in 0..options.rounds {
        for (run, times) in runs.iter().zip(times.iter_mut()) {
            times.push(per_op(run()));
        }
    }
    let [h, p, w, q, m] = times;
    Ok(Comparison {
        title: format!(
            "L1 get, hot keys: {} ops, {} threads, {} keys, Zipf s={}, {} B values",
            options.ops, options.threads, options.keys, options.zipf, options.value_size
        ),
        hoard: Measure::new("hoard Cache::get_raw (memory tier)", median(h)),
        peers: vec![
            Measure::new(
                "moka::sync::Cache, same weigher and per-entry expiry",
                median(w),
            ),
            Measure::new(
                "moka::sync::Cache, plain (entry count, no expiry)",
                median(p),
            ),
            Measure::new(
                "quick_cache::sync::Cache, weighted by bytes, deadline checked on read, foldhash",
                median(q),
            ),
            Measure::new(
                "std HashMap::get + clone (read-only, no lock, foldhash)",
                median(m),
            ),
        ],
    })
}

fn disk_set(options: &Options) -> anyhow::Result<Comparison> {
    let n = options.disk_ops;
    let keys: Vec<String> = (0..n).map(|i| format!("{NAMESPACE}:{}", key(i))).collect();
    let values: Vec<Bytes> = (0..n).map(|i| value(options.value_size, i)).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let (mut h, mut f) = (Vec::new(), Vec::new());
    for _ in 0..options.rounds {
        let dir = tempfile::tempdir()?;
        let store = DiskConfig::new(dir.path()).sweep_interval(None).open()?;
        let began = Instant::now();
        runtime.block_on(async {
            for (k, v) in keys.iter().zip(&values) {
                store
                    .set(k, Entry::new(v.clone(), Duration::from_secs(3600)))
                    .await?;
            }
            anyhow::Ok(())
        })?;
        h.push(began.elapsed().as_nanos() as f64 / n as f64);
        drop(store);

        let dir = tempfile::tempdir()?;
        let db = fjall::Database::builder(dir.path()).open()?;
        let keyspace = db.keyspace("entries", fjall::KeyspaceCreateOptions::default)?;
        let began = Instant::now();
        for (k, v) in keys.iter().zip(&values) {
            // Default fjall: each insert is flushed to the OS, like hoard's default durability.
            keyspace.insert(k.as_str(), v.as_ref())?;
        }
        f.push(began.elapsed().as_nanos() as f64 / n as f64);
    }
    Ok(Comparison {
        title: format!(
            "Disk tier set: {n} sets of {} B values, flushed to the OS per write",
            options.value_size
        ),
        hoard: Measure::new(
            "hoard DiskStore::set (entry + expiry index, one batch)",
            median(h),
        ),
        peers: vec![Measure::new("fjall Keyspace::insert", median(f))],
    })
}

fn disk_get(options: &Options) -> anyhow::Result<Comparison> {
    let n = options.disk_ops;
    let keys: Vec<String> = (0..n).map(|i| format!("{NAMESPACE}:{}", key(i))).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(7);
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;

    let hoard_dir = tempfile::tempdir()?;
    let store = DiskConfig::new(hoard_dir.path())
        .sweep_interval(None)
        .open()?;
    let fjall_dir = tempfile::tempdir()?;
    let db = fjall::Database::builder(fjall_dir.path()).open()?;
    let keyspace = db.keyspace("entries", fjall::KeyspaceCreateOptions::default)?;
    runtime.block_on(async {
        for (i, k) in keys.iter().enumerate() {
            let v = value(options.value_size, i);
            keyspace.insert(k.as_str(), v.as_ref())?;
            store
                .set(k, Entry::new(v, Duration::from_secs(3600)))
                .await?;
        }
        anyhow::Ok(())
    })?;

    let run_hoard = || {
        let began = Instant::now();
        runtime.block_on(async {
            for &i in &order {
                black_box(store.get(&keys[i]).await.expect("get").expect("hit"));
            }
        });
        began.elapsed().as_nanos() as f64 / n as f64
    };
    let run_fjall = || {
        let began = Instant::now();
        for &i in &order {
            black_box(keyspace.get(keys[i].as_str()).expect("get").expect("hit"));
        }
        began.elapsed().as_nanos() as f64 / n as f64
    };
    run_hoard();
    run_fjall();
    let (mut h, mut f) = (Vec::new(), Vec::new());
    for _ in 0..options.rounds {
        h.push(run_hoard());
        f.push(run_fjall());
    }
    Ok(Comparison {
        title: format!(
            "Disk tier get: {n} random reads of {} B values (warm block cache)",
            options.value_size
        ),
        hoard: Measure::new("hoard DiskStore::get (decode + expiry check)", median(h)),
        peers: vec![Measure::new("fjall Keyspace::get", median(f))],
    })
}

//! The Redis tier against raw redis-rs: the same commands on the same local server.

use crate::report::{Comparison, Measure};
use crate::Options;
use bytes::Bytes;
use hoard::{Entry, RedisConfig, Store};
use hoard_testkit::RedisServer;
use redis::AsyncCommands;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Starts a redis-server for the run and compares get, set and mget.
pub fn run(options: &Options) -> anyhow::Result<Vec<Comparison>> {
    anyhow::ensure!(
        hoard_testkit::redis_available(),
        "redis-server is not installed (apt-get install redis-server redis-tools)"
    );
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(compare(options, &server))
}

async fn compare(options: &Options, server: &RedisServer) -> anyhow::Result<Vec<Comparison>> {
    let n = options.redis_ops;
    let store = RedisConfig::standalone(server.url())
        .key_prefix("bh:")
        .open()?;
    let client = redis::Client::open(server.url())?;
    let mut raw = client.get_multiplexed_async_connection().await?;
    let value = Bytes::from(vec![b'v'; options.value_size]);
    let keys: Vec<String> = (0..n).map(|i| format!("ns:item:{i:08}")).collect();
    let raw_keys: Vec<String> = keys.iter().map(|k| format!("br:{k}")).collect();
    let ttl = Duration::from_secs(3600);

    // Fill both key spaces once so every get hits.
    let entries: Vec<(String, Entry)> = keys
        .iter()
        .map(|k| (k.clone(), Entry::new(value.clone(), ttl)))
        .collect();
    for chunk in entries.chunks(1000) {
        store.set_many(chunk).await?;
    }
    for k in &raw_keys {
        let _: () = raw.set_ex(k, value.as_ref(), 3600).await?;
    }

    // Short batches, alternating hoard and the peer, many times: a slow moment on this
    // shared machine then hits both alike, and the median drops the outliers.
    let batches = (options.rounds * 10).max(10);
    let batch = (n / batches).max(1);
    let mget_batch = (batch / 20).max(1);
    let mget_keys: Vec<&str> = keys
        .iter()
        .take(options.mget_keys)
        .map(String::as_str)
        .collect();
    let raw_mget_keys: Vec<&str> = raw_keys
        .iter()
        .take(options.mget_keys)
        .map(String::as_str)
        .collect();
    let per_op = |began: Instant, ops: usize| began.elapsed().as_nanos() as f64 / ops as f64;
    let (mut hg, mut rg, mut hs, mut rs, mut hm, mut rm) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for b in 0..=batches {
        let range = (b * batch) % n..((b * batch) % n + batch).min(n);
        let ops = range.len();
        // Who goes first alternates too: the first of a pair can pay for a cold start.
        let hoard_first = b % 2 == 0;
        for turn in 0..2 {
            if (turn == 0) == hoard_first {
                let began = Instant::now();
                for k in &keys[range.clone()] {
                    black_box(store.get(k).await?.expect("hit"));
                }
                hg.push(per_op(began, ops));
                let began = Instant::now();
                for k in &keys[range.clone()] {
                    store.set(k, Entry::new(value.clone(), ttl)).await?;
                }
                hs.push(per_op(began, ops));
                let began = Instant::now();
                for _ in 0..mget_batch {
                    black_box(store.get_many(&mget_keys).await?);
                }
                hm.push(per_op(began, mget_batch));
            } else {
                let began = Instant::now();
                for k in &raw_keys[range.clone()] {
                    let v: Option<Vec<u8>> = raw.get(k).await?;
                    black_box(v.expect("hit"));
                }
                rg.push(per_op(began, ops));
                let began = Instant::now();
                for k in &raw_keys[range.clone()] {
                    let _: () = redis::cmd("SET")
                        .arg(k)
                        .arg(value.as_ref())
                        .arg("PX")
                        .arg(3_600_000)
                        .query_async(&mut raw)
                        .await?;
                }
                rs.push(per_op(began, ops));
                let began = Instant::now();
                for _ in 0..mget_batch {
                    let found: Vec<Option<Vec<u8>>> = raw.mget(&raw_mget_keys).await?;
                    black_box(found);
                }
                rm.push(per_op(began, mget_batch));
            }
        }
        // Batch 0 warms connections and caches; it is not reported.
        if b == 0 {
            for xs in [&mut hg, &mut rg, &mut hs, &mut rs, &mut hm, &mut rm] {
                xs.clear();
            }
        }
    }
    let median = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let mget_rounds = mget_batch * batches;
    let size = options.value_size;
    Ok(vec![
        Comparison {
            title: format!("Redis get: {n} sequential GETs of {size} B values, one connection, local redis-server"),
            hoard: Measure::new("hoard RedisStore::get (prefix, breaker, timeout, decode)", median(hg)),
            peers: vec![Measure::new("redis-rs MultiplexedConnection GET", median(rg))],
        },
        Comparison {
            title: format!("Redis set: {n} sequential SETs with a TTL, {size} B values"),
            hoard: Measure::new("hoard RedisStore::set (SET PX, entry header)", median(hs)),
            peers: vec![Measure::new("redis-rs SET PX", median(rs))],
        },
        Comparison {
            title: format!("Redis mget: {mget_rounds} MGETs of {} keys, {size} B values", options.mget_keys),
            hoard: Measure::new("hoard RedisStore::get_many", median(hm)),
            peers: vec![Measure::new("redis-rs MGET", median(rm))],
        },
    ])
}

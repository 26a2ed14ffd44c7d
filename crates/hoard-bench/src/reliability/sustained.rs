//! Sustained writes: the embedded default tier under concurrent PUTs of 1-4 KB values to
//! random keys, with the server's resident memory sampled against its budget.

use super::client::{Client, Tally};
use super::server::{free_port, rss_of, Hoard, Workdir};
use super::{mib, thousands, Ctx, Row};
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys are drawn from this many.
const KEYSPACE: u64 = 10_000_000;
/// Random letters that values are cut from.
const POOL: usize = 1 << 20;

pub async fn run(ctx: &Ctx, name: &str) -> anyhow::Result<(Vec<Row>, Vec<String>)> {
    let args = &ctx.args;
    let budget = hoard_config::parse_size(&args.sustained_memory)
        .map_err(|e| anyhow::anyhow!("--sustained-memory: {e}"))?
        .as_u64();
    let disk_budget = hoard_config::parse_size(&args.sustained_disk_memory)
        .map_err(|e| anyhow::anyhow!("--sustained-disk-memory: {e}"))?
        .as_u64();
    let workdir = Workdir::new(&args.sustained_memory, "")?;
    let memory_line = format!(
        "memory = {}\n",
        super::server::toml_string(&args.sustained_memory)
    );
    workdir.configure(
        &format!(
            "{memory_line}disk_memory = {}\n",
            super::server::toml_string(&args.sustained_disk_memory)
        ),
        "",
    )?;
    // A binary from before `[cache] disk_memory` refuses the key: run it without, and
    // count `memory` alone.
    let (hoard, disk_budget) = match Hoard::start(&ctx.bin, &workdir, free_port()?, &[]).await {
        Ok(hoard) => (hoard, Some(disk_budget)),
        Err(error) if format!("{error:#}").contains("disk_memory") => {
            workdir.configure(&memory_line, "")?;
            let hoard = Hoard::start(&ctx.bin, &workdir, free_port()?, &[]).await?;
            (hoard, None)
        }
        Err(error) => return Err(error),
    };
    let memory_budget = budget;
    let budget = budget + disk_budget.unwrap_or(0);
    let rss_start = hoard.rss().unwrap_or(0);

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let pool: Arc<Vec<u8>> = Arc::new(
        (0..POOL)
            .map(|_| rng.sample(rand::distr::Alphanumeric))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let rss_max = Arc::new(AtomicU64::new(rss_start));
    let sampler = {
        let (stop, rss_max) = (stop.clone(), rss_max.clone());
        let pid = hoard.pid();
        tokio::spawn(async move {
            while !stop.load(Relaxed) {
                if let Some(rss) = rss_of(pid) {
                    rss_max.fetch_max(rss, Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let began = Instant::now();
    let deadline = began + Duration::from_secs(args.sustained_secs);
    let writers: Vec<_> = (0..args.sustained_writers)
        .map(|w| {
            let (pool, addr) = (pool.clone(), hoard.addr);
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
                let mut client = Client::new(addr, Duration::from_secs(10));
                let mut tally = Tally::default();
                let mut bytes = 0u64;
                let mut body = Vec::with_capacity(4200);
                while Instant::now() < deadline {
                    let key = rng.random_range(0..KEYSPACE);
                    let len = rng.random_range(1024..=4096);
                    let start = rng.random_range(0..POOL - len);
                    body.clear();
                    body.push(b'"');
                    body.extend_from_slice(&pool[start..start + len]);
                    body.push(b'"');
                    let outcome = client
                        .put_json(&format!("/v1/cache/load/k{key}"), &body)
                        .await;
                    if outcome.is_success() {
                        bytes += len as u64;
                    }
                    tally.add(&outcome);
                }
                (tally, bytes)
            })
        })
        .collect();
    let mut tally = Tally::default();
    let mut bytes = 0;
    for writer in writers {
        let (t, b) = writer.await?;
        tally.merge(&t);
        bytes += b;
    }
    let elapsed = began.elapsed().as_secs_f64();
    let rss_end = hoard.rss().unwrap_or(0);
    stop.store(true, Relaxed);
    sampler.await?;
    let rss_max = rss_max.load(Relaxed).max(rss_end);
    let alive = hoard.alive();
    drop(hoard);

    let total = tally.total();
    let errors = tally.failures();
    let ratio = rss_max as f64 / budget as f64;
    let (settings, counted, aside) = match disk_budget {
        Some(disk) => (
            format!(
                "`[cache] memory = \"{}\"`, `disk_memory = \"{}\"`",
                args.sustained_memory, args.sustained_disk_memory
            ),
            format!(
                "`memory` ({}) + `disk_memory` ({}) = {}",
                mib(memory_budget),
                mib(disk),
                mib(budget)
            ),
            String::new(),
        ),
        None => {
            // fjall's own caches, which such a binary does not configure: a 32 MiB block
            // cache and memtables of up to 64 MiB.
            let with_fjall = budget + (32 << 20) + (64 << 20);
            (
                format!("`[cache] memory = \"{}\"`", args.sustained_memory),
                format!(
                    "`memory` ({}) only: this binary has no `disk_memory`",
                    mib(budget)
                ),
                format!(
                    " ({:.2}x of {} if fjall's default 32 MiB block cache and one 64 MiB memtable were counted too)",
                    rss_max as f64 / with_fjall as f64,
                    mib(with_fjall)
                ),
            )
        }
    };
    let mut rows = vec![Row::new(
        name,
        &format!(
            "PUT /v1/cache/load/{{random key of 10M}}, 1-4 KB random JSON strings, {} writers for {} s (embedded tier, {settings}): throughput, errors (non-2xx or transport)",
            args.sustained_writers, args.sustained_secs
        ),
        format!(
            "{:.0} req/s ({} PUTs, {} of values stored); {} errors ({}){}",
            total as f64 / elapsed,
            thousands(total),
            mib(bytes),
            thousands(errors),
            tally.describe(),
            if alive {
                ""
            } else {
                "; the server was no longer running at the end"
            }
        ),
        "0 errors",
        errors == 0 && alive,
    )];
    rows.push(Row::new(
        name,
        &format!(
            "server RSS (VmRSS, sampled every 100 ms) at start, max, end; max / budget, where the budget counts {counted}"
        ),
        format!(
            "start {}, max {}, end {}: **{ratio:.2}x** the budget{aside}",
            mib(rss_start),
            mib(rss_max),
            mib(rss_end)
        ),
        "max RSS at most 1.5x the budget",
        ratio <= 1.5,
    ));
    Ok((rows, Vec::new()))
}

//! Idle connections and slow headers: slow-header clients (one header byte a second) and
//! thousands of idle TCP connections held against one server, and whether a fresh
//! client still gets `/health` answered meanwhile.
//!
//! The idle connections are held by child processes (this binary again, see
//! [`super::CHILD`]) of a few thousand connections each, so this process's descriptor
//! limit is not what caps them.

use super::client::{Client, Outcome};
use super::server::{fds_of, free_port, Hoard, Workdir};
use super::{thousands, Ctx, Row};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Idle connections per holder process.
const PER_CHILD: usize = 5000;
/// Threads of each holder, connecting at once.
const THREADS: usize = 16;
/// How long a fresh client waits for `/health`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit; returns (soft, hard) as
/// they are afterwards. Children (the servers, the holders) inherit it.
#[allow(unsafe_code)]
pub fn raise_nofile_limit() -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by pointer,
    // which lives on this stack frame for the duration of each call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return (0, 0);
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// A holder process: killed when dropped.
struct Holder {
    child: Child,
    lines: BufReader<std::process::ChildStdout>,
}

impl Holder {
    fn spawn(addr: SocketAddr, count: usize, within: Duration) -> anyhow::Result<Holder> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .env(
                super::CHILD,
                format!("idle|{addr}|{count}|{}", within.as_millis()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("holder without stdout"))?;
        Ok(Holder {
            child,
            lines: BufReader::new(stdout),
        })
    }

    /// The next number the holder prints.
    fn read_number(&mut self) -> anyhow::Result<u64> {
        let mut line = String::new();
        self.lines.read_line(&mut line)?;
        line.trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("holder printed {line:?}"))
    }

    /// Asks the holder how many of its connections the server has closed.
    fn closed(&mut self) -> anyhow::Result<u64> {
        let stdin = self
            .child
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("holder without stdin"))?;
        stdin.write_all(b"check\n")?;
        stdin.flush()?;
        self.read_number()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The holder's side: `idle|ADDR|COUNT|MS`. Opens up to COUNT connections on a few
/// threads within MS milliseconds (a thread gives up after a few consecutive failures),
/// prints how many, then on each `check` line prints how many the server has closed;
/// exits when stdin closes.
pub fn idle_child(spec: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = spec.split('|').collect();
    anyhow::ensure!(parts.len() == 4 && parts[0] == "idle", "bad spec {spec:?}");
    let addr: SocketAddr = parts[1].parse()?;
    let count: usize = parts[2].parse()?;
    let deadline = Instant::now() + Duration::from_millis(parts[3].parse()?);
    raise_nofile_limit();
    // Threads, so that a SYN dropped on a full accept queue (sent again after 1 s) stalls
    // one of them, not every connection after it.
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let share = count / THREADS + usize::from(t < count % THREADS);
            std::thread::spawn(move || {
                let mut streams = Vec::with_capacity(share);
                let mut failures_in_a_row = 0;
                while streams.len() < share && failures_in_a_row < 5 && Instant::now() < deadline {
                    match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
                        Ok(stream) => {
                            failures_in_a_row = 0;
                            streams.push(stream);
                        }
                        Err(_) => failures_in_a_row += 1,
                    }
                }
                streams
            })
        })
        .collect();
    let mut streams = Vec::with_capacity(count);
    for thread in threads {
        streams.extend(
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a connecting thread panicked"))?,
        );
    }
    println!("{}", streams.len());
    std::io::stdout().flush()?;
    let mut stdin = BufReader::new(std::io::stdin());
    let mut line = String::new();
    while stdin.read_line(&mut line)? > 0 {
        let mut closed = 0u64;
        for stream in &streams {
            stream.set_nonblocking(true)?;
            let mut byte = [0u8; 1];
            match (&*stream).read(&mut byte) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // End of stream, a reset, or an answer (a 503 or 408): the server is done.
                _ => closed += 1,
            }
        }
        println!("{closed}");
        std::io::stdout().flush()?;
        line.clear();
    }
    Ok(())
}

/// One `/health` from a fresh connection: when, what came back, how long it took.
struct Probe {
    at: f64,
    outcome: Outcome,
    latency: Duration,
}

async fn probe(addr: SocketAddr, began: Instant) -> Probe {
    let at = began.elapsed().as_secs_f64();
    let started = Instant::now();
    let outcome = Client::new(addr, PROBE_TIMEOUT).get("/health").await;
    Probe {
        at,
        outcome,
        latency: started.elapsed(),
    }
}

pub async fn run(ctx: &Ctx, name: &str) -> anyhow::Result<(Vec<Row>, Vec<String>)> {
    let args = &ctx.args;
    let workdir = Workdir::new("256MiB", "")?;
    let hoard = Hoard::start(&ctx.bin, &workdir, free_port()?, &[]).await?;
    let addr = hoard.addr;
    let fd_limit = hoard.fd_limit();
    let hold = Duration::from_secs(args.slow_secs);

    // The server's sockets, sampled every 500 ms: the most it held at once, and when.
    let began = Instant::now();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, pid) = (sampling.clone(), hoard.pid());
        std::thread::spawn(move || {
            let mut peak = (0usize, 0usize, 0.0f64);
            while sampling.load(Relaxed) {
                let (fds, sockets) = fds_of(pid);
                if sockets > peak.1 {
                    peak = (fds, sockets, began.elapsed().as_secs_f64());
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            peak
        })
    };

    // The slow clients first: each sends a request head one byte a second, never ending it.
    let cut = Arc::new(AtomicU64::new(0));
    let first_cut_ms = Arc::new(AtomicU64::new(u64::MAX));
    let connected = Arc::new(AtomicU64::new(0));
    let slow: Vec<_> = (0..args.slow_clients)
        .map(|_| {
            let (cut, first_cut_ms, connected) =
                (cut.clone(), first_cut_ms.clone(), connected.clone());
            tokio::spawn(async move {
                let connect = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::net::TcpStream::connect(addr),
                );
                let Ok(Ok(mut stream)) = connect.await else {
                    return;
                };
                connected.fetch_add(1, Relaxed);
                let opening = b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ";
                let mut ended = stream.write_all(opening).await.is_err();
                let mut buf = [0u8; 512];
                while !ended && began.elapsed() < hold {
                    tokio::select! {
                        // EOF, a reset, or an answer (408): the server cut this client off.
                        _ = stream.read(&mut buf) => ended = true,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {
                            ended = stream.write_all(b"a").await.is_err();
                        }
                    }
                }
                if ended {
                    cut.fetch_add(1, Relaxed);
                    first_cut_ms.fetch_min(began.elapsed().as_millis() as u64, Relaxed);
                }
            })
        })
        .collect();

    // Then the idle connections, from holder processes in parallel, opened while the slow
    // clients are held.
    let mut holders = Vec::new();
    let mut left = args.idle_conns;
    while left > 0 {
        let n = left.min(PER_CHILD);
        holders.push(Holder::spawn(
            addr,
            n,
            hold.saturating_sub(began.elapsed()),
        )?);
        left -= n;
    }
    let overflows_before = listen_overflows();
    let opening = tokio::task::spawn_blocking(move || {
        let opened = holders
            .iter_mut()
            .map(|h| h.read_number())
            .sum::<anyhow::Result<u64>>();
        (holders, opened, began.elapsed().as_secs_f64())
    });

    // Meanwhile /health from fresh connections: at 2 s, then every 5 s until the hold ends.
    let mut probes = Vec::new();
    let mut next = Duration::from_secs(2);
    while next < hold {
        tokio::time::sleep(next.saturating_sub(began.elapsed())).await;
        probes.push(probe(addr, began).await);
        next = Duration::from_secs((began.elapsed().as_secs() / 5 + 1) * 5);
    }
    for task in slow {
        task.await?;
    }
    let (mut holders, opened_count, open_secs) = opening.await?;
    let opened_count = opened_count?;
    let overflows = listen_overflows().zip(overflows_before).map(|(a, b)| a - b);
    let closed = tokio::task::block_in_place(|| {
        holders
            .iter_mut()
            .map(Holder::closed)
            .sum::<anyhow::Result<u64>>()
    })?;
    sampling.store(false, Relaxed);
    let (server_fds, server_sockets, peak_at) = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the sampling thread panicked"))?;
    let (fds_after, sockets_after) = hoard.fds();
    let (server_fds, server_sockets, peak_at) = if sockets_after > server_sockets {
        (fds_after, sockets_after, began.elapsed().as_secs_f64())
    } else {
        (server_fds, server_sockets, peak_at)
    };
    let alive = hoard.alive();
    drop(holders);
    // A probe after everything is released: is the server still serving?
    let after = probe(addr, began).await;
    drop(hoard);

    let answered = probes
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Answered(_)))
        .count();
    let healthy = probes
        .iter()
        .filter(|p| p.outcome.status() == Some(200))
        .count();
    let described: Vec<String> = probes
        .iter()
        .map(|p| match &p.outcome {
            Outcome::Answered(r) => format!(
                "{:.0} s: {} in {:.1} ms",
                p.at,
                r.status,
                p.latency.as_secs_f64() * 1000.0
            ),
            other => format!(
                "{:.0} s: {} after {:.1} s",
                p.at,
                other.label(),
                p.latency.as_secs_f64()
            ),
        })
        .collect();
    let limit = fd_limit.map_or("unknown".to_owned(), thousands);
    let mut rows = vec![Row::new(
        name,
        &format!(
            "{} slow-header clients (one header byte a second, never ending the head) held {} s, and meanwhile {} idle TCP connections opened and held (by {} holder processes, {THREADS} threads each); `GET /health` from a fresh connection at 2 s and every 5 s after (timeout {} s): does it answer, how fast",
            thousands(args.slow_clients as u64),
            args.slow_secs,
            thousands(args.idle_conns as u64),
            holders_count(args.idle_conns),
            PROBE_TIMEOUT.as_secs()
        ),
        format!(
            "**{answered} of {} probes answered** ({healthy} with 200): {}; idle connections opened: {} of {} (the last at {open_secs:.1} s){}, slow clients connected: {}; the server held at most {} sockets ({} descriptors, its limit {limit}) at {peak_at:.1} s{}; after all were released: {}",
            probes.len(),
            described.join(", "),
            thousands(opened_count),
            thousands(args.idle_conns as u64),
            overflows.map_or(String::new(), |n| format!(
                ", {} SYNs dropped on a full accept queue meanwhile (ListenOverflows, machine-wide)",
                thousands(n)
            )),
            thousands(connected.load(Relaxed)),
            thousands(server_sockets as u64),
            thousands(server_fds as u64),
            if alive { "" } else { "; the server had exited" },
            match &after.outcome {
                Outcome::Answered(r) => format!("{} in {:.1} ms", r.status, after.latency.as_secs_f64() * 1000.0),
                other => other.label(),
            }
        ),
        "every probe answered 200 (past the connection cap the server closes its longest idle connection for a new one)",
        healthy == probes.len() && alive,
    )];
    let first = first_cut_ms.load(Relaxed);
    rows.push(Row::reported(
        name,
        &format!(
            "slow-header clients the server had cut off after {} s, and idle connections it had closed",
            args.slow_secs
        ),
        format!(
            "{} of {} slow clients cut off{}; {} of {} idle connections closed by the server; it held {} sockets at the end",
            thousands(cut.load(Relaxed)),
            thousands(args.slow_clients as u64),
            if first == u64::MAX {
                String::new()
            } else {
                format!(" (the first at {:.1} s)", first as f64 / 1000.0)
            },
            thousands(closed),
            thousands(opened_count),
            thousands(sockets_after as u64)
        ),
    ));
    Ok((rows, Vec::new()))
}

fn holders_count(conns: usize) -> usize {
    conns.div_ceil(PER_CHILD)
}

/// `TcpExt: ListenOverflows` from `/proc/net/netstat`: connections dropped because an
/// accept queue was full, machine-wide.
fn listen_overflows() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let i = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(i)?.parse().ok()
}

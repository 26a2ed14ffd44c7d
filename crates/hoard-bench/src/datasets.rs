//! Dataset manifests: hoard-datasets against the emotion-recognition backend's Python +
//! Redis implementation (fixtures/python_manifest.py), on one generated RAVDESS-like
//! dataset, in one run.
//!
//! Workloads: the cold build, the re-check of an unchanged dataset (by the warm instance,
//! and by a new instance over the same cache folder, as after a restart), and the rebuild
//! after 1% and 10% of the files changed. Needs `python3` with `redis` (redis-py) and
//! `redis-server` for the Python side.

use crate::Options;
use hoard_datasets::{BuildOptions, DatasetConfig, Datasets, Manifest};
use hoard_testkit::RedisServer;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const ID: &str = "ravdess";
const RATE: u32 = 8000;
const EMOTIONS: [&str; 8] = [
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
];
const STATEMENTS: [&str; 2] = [
    "Kids are talking by the door",
    "Dogs are sitting by the door",
];

/// The generated dataset: where it is, and each file's current frame count (so a change
/// can always pick a different length).
struct Dataset {
    root: PathBuf,
    folders: usize,
    per_folder: usize,
    frames: Vec<u32>,
    /// The mtime every file got when written: an hour ago, so no file is "racy".
    written_at: SystemTime,
}

impl Dataset {
    fn files(&self) -> usize {
        self.folders * self.per_folder
    }

    fn actor(index: usize, per_folder: usize) -> usize {
        index / per_folder + 1
    }

    fn name(index: usize, per_folder: usize) -> String {
        let n = index % per_folder;
        format!(
            "03-01-{:02}-{:02}-{:02}-{:02}-{:03}-{:04}.wav",
            n % 8 + 1,
            (n / 8) % 2 + 1,
            (n / 16) % 2 + 1,
            (n / 32) % 2 + 1,
            Dataset::actor(index, per_folder),
            n
        )
    }

    fn path(&self, index: usize) -> PathBuf {
        self.root
            .join(format!(
                "Actor_{:03}",
                Dataset::actor(index, self.per_folder)
            ))
            .join(Dataset::name(index, self.per_folder))
    }
}

/// A valid 8 kHz 16-bit mono PCM WAV of `frames` frames (a sawtooth), as bytes.
fn wav(frames: u32) -> Vec<u8> {
    let data = frames * 2;
    let mut out = Vec::with_capacity(44 + data as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for i in 0..frames {
        out.extend_from_slice(&(((i % 64) as i16 - 32) * 512).to_le_bytes());
    }
    out
}

/// Writes `bytes` to `path` with the given mtime, in one open.
fn write_file(path: &Path, bytes: &[u8], mtime: SystemTime) -> anyhow::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.set_modified(mtime)?;
    Ok(())
}

/// Writes `folders` folders `Actor_NNN/` of `per_folder` WAVs each, with a sidecar
/// `actorNNN_metadata.csv` per folder, on all cores.
fn generate(root: &Path, folders: usize, per_folder: usize) -> anyhow::Result<Dataset> {
    let total = folders * per_folder;
    let written_at = SystemTime::now() - Duration::from_secs(3600);
    // Lengths between 200 and 599 frames (25 to 75 ms), spread so durations differ.
    let frames: Vec<u32> = (0..total).map(|i| 200 + (i * 7919 % 400) as u32).collect();
    let done = AtomicUsize::new(0);
    let next_folder = AtomicUsize::new(0);
    let began = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let folder = next_folder.fetch_add(1, Ordering::Relaxed);
                        if folder >= folders {
                            return Ok(());
                        }
                        let actor = folder + 1;
                        let dir = root.join(format!("Actor_{actor:03}"));
                        std::fs::create_dir_all(&dir)?;
                        let mut csv = String::from(
                            "filename,modality,vocal_channel,emotion,intensity,statement,repetition,actor,gender\n",
                        );
                        for n in 0..per_folder {
                            let index = folder * per_folder + n;
                            let name = Dataset::name(index, per_folder);
                            write_file(&dir.join(&name), &wav(frames[index]), written_at)?;
                            let _ = writeln!(
                                csv,
                                "{name},audio-only,speech,{},{},\"{}\",{},{actor},{}",
                                EMOTIONS[n % 8],
                                if (n / 8) % 2 == 0 { "normal" } else { "strong" },
                                STATEMENTS[(n / 16) % 2],
                                (n / 32) % 2 + 1,
                                if actor.is_multiple_of(2) { "female" } else { "male" },
                            );
                            let count = done.fetch_add(1, Ordering::Relaxed) + 1;
                            if count.is_multiple_of(10_000) || count == total {
                                eprintln!(
                                    "datasets: generated {count}/{total} WAV files ({:.1} s)",
                                    began.elapsed().as_secs_f64()
                                );
                            }
                        }
                        write_file(
                            &dir.join(format!("actor{actor:03}_metadata.csv")),
                            csv.as_bytes(),
                            written_at,
                        )?;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(Dataset {
        root: root.to_owned(),
        folders,
        per_folder,
        frames,
        written_at,
    })
}

/// Rewrites every `every`-th file (starting at `offset`) with a different length, and an
/// mtime that is old (not racy) but different from any it had: `round` minutes before the
/// original one. Returns how many files changed.
fn change(dataset: &mut Dataset, every: usize, offset: usize, round: u64) -> anyhow::Result<usize> {
    let mtime = dataset.written_at - Duration::from_secs(60 * (round + 1));
    let mut changed = 0;
    for index in (offset..dataset.files()).step_by(every) {
        let frames = if dataset.frames[index] >= 560 {
            dataset.frames[index] - 300
        } else {
            dataset.frames[index] + 37
        };
        dataset.frames[index] = frames;
        write_file(&dataset.path(index), &wav(frames), mtime)?;
        changed += 1;
    }
    Ok(changed)
}

/// One request of the Python implementation, as it timed itself.
#[derive(Debug, serde::Deserialize)]
struct PyRun {
    total_s: f64,
    version_s: f64,
    load_s: f64,
    scan_s: f64,
    store_s: f64,
    rebuilt: bool,
    files: usize,
}

#[derive(serde::Deserialize)]
struct PyOutput {
    runs: Vec<PyRun>,
}

/// The Python + Redis implementation, run as a subprocess against the suite's redis-server.
struct Python {
    script: PathBuf,
    root: PathBuf,
    redis: String,
}

impl Python {
    /// One request; `reset` deletes the cached keys first (a cold build).
    fn request(&self, reset: bool, expect_rebuilt: bool, files: usize) -> anyhow::Result<PyRun> {
        self.request_expecting(reset, Some(expect_rebuilt), files)
    }

    /// One request; `expect_rebuilt`: whether it must have rebuilt (`None`: either).
    fn request_expecting(
        &self,
        reset: bool,
        expect_rebuilt: Option<bool>,
        files: usize,
    ) -> anyhow::Result<PyRun> {
        let mut command = Command::new("python3");
        command
            .arg(&self.script)
            .arg("--root")
            .arg(&self.root)
            .args(["--redis", &self.redis, "--id", ID, "--reps", "1"])
            .stderr(Stdio::inherit());
        if let Some(rebuilt) = expect_rebuilt {
            command.args(["--expect", if rebuilt { "rebuilt" } else { "cached" }]);
        }
        if reset {
            command.arg("--reset");
        }
        let out = command.output()?;
        anyhow::ensure!(out.status.success(), "python_manifest.py failed");
        let parsed: PyOutput = serde_json::from_slice(&out.stdout).map_err(|e| {
            anyhow::anyhow!(
                "python_manifest.py printed {:?}: {e}",
                String::from_utf8_lossy(&out.stdout)
            )
        })?;
        let run = parsed
            .runs
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("python_manifest.py reported no run"))?;
        anyhow::ensure!(
            expect_rebuilt.is_none_or(|expected| run.rebuilt == expected),
            "the Python request rebuilt: {}, expected {expect_rebuilt:?}",
            run.rebuilt
        );
        anyhow::ensure!(
            run.files == files,
            "the Python manifest has {} entries, expected {files}",
            run.files
        );
        Ok(run)
    }
}

/// hoard-datasets over an embedded cache (memory + disk in `cache_dir`).
struct Hoard {
    runtime: tokio::runtime::Runtime,
    root: PathBuf,
}

impl Hoard {
    /// An instance that walks on every request (no watcher): the rows against Python.
    fn open(&self, cache_dir: &Path) -> anyhow::Result<(hoard::Cache, Datasets)> {
        let (cache, datasets) = self.open_with(cache_dir)?;
        Ok((cache, datasets.watch(false)))
    }

    /// An instance that watches the root and re-checks at the cost of what changed.
    fn open_watched(&self, cache_dir: &Path) -> anyhow::Result<(hoard::Cache, Datasets)> {
        let (cache, datasets) = self.open_with(cache_dir)?;
        Ok((cache, datasets.watch(true)))
    }

    fn open_with(&self, cache_dir: &Path) -> anyhow::Result<(hoard::Cache, Datasets)> {
        let _guard = self.runtime.enter();
        let cache = hoard::Cache::open(cache_dir)?;
        let datasets = Datasets::new(
            cache.clone(),
            [DatasetConfig {
                id: ID.into(),
                path: self.root.clone(),
                options: BuildOptions::default(),
            }],
        )?
        // Every request checks the folder: the re-check is what is measured.
        .recheck_interval(Duration::ZERO);
        Ok((cache, datasets))
    }

    /// One `manifest()` request, timed.
    fn request(&self, datasets: &Datasets) -> anyhow::Result<(Duration, Arc<Manifest>)> {
        let began = Instant::now();
        let manifest = self.runtime.block_on(datasets.manifest(ID))?;
        Ok((began.elapsed(), manifest))
    }

    /// Files the last build probed, or `None` when no build ran in this instance.
    fn probed(&self, datasets: &Datasets) -> anyhow::Result<Option<usize>> {
        Ok(self.report(datasets)?.map(|r| r.probed))
    }

    /// The last build's report, or `None` when no build ran in this instance.
    fn report(&self, datasets: &Datasets) -> anyhow::Result<Option<hoard_datasets::BuildReport>> {
        Ok(self.runtime.block_on(datasets.last_report(ID))?)
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// `1.234 s` or `56.7 ms`.
fn seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} ms", s * 1000.0)
    }
}

/// `1,234,567`.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row of the table.
struct Row {
    workload: String,
    hoard_s: f64,
    hoard_detail: String,
    python_s: f64,
    python_detail: String,
}

/// Runs the suite; returns the Markdown body of the section and its method line.
pub fn run(options: &Options) -> anyhow::Result<(String, String)> {
    anyhow::ensure!(
        hoard_testkit::redis_available(),
        "redis-server is not installed"
    );
    let python_ok = Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .is_ok_and(|s| s.success());
    anyhow::ensure!(
        python_ok,
        "the Python + Redis manifest scan needs redis-py (pip install redis)"
    );
    let folders = options.dataset_folders;
    anyhow::ensure!(
        folders > 0 && options.dataset_files >= folders,
        "--dataset-files must be at least --dataset-folders"
    );
    let per_folder = options.dataset_files / folders;
    let files = folders * per_folder;

    // Other work on a shared machine shows in absolute times; say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    let scratch = tempfile::tempdir()?;
    let root = scratch.path().join("ravdess_bench");
    eprintln!(
        "datasets: writing {files} WAV files in {folders} folders under {}",
        root.display()
    );
    let mut dataset = generate(&root, folders, per_folder)?;

    let redis = RedisServer::start();
    let python = Python {
        script: Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/python_manifest.py"),
        root: root.clone(),
        redis: redis.url(),
    };
    let hoard = Hoard {
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?,
        root: root.clone(),
    };
    // Rounds where the Python side takes seconds each are capped at 3.
    let rounds = options.rounds;
    let py_rounds = rounds.clamp(1, 3);
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    // Cold build: hoard in a new cache folder each round, Python with its keys deleted.
    let (mut hoard_cold, mut py_cold) = (Vec::new(), Vec::new());
    let mut cold_probed = 0;
    let mut cold_build_s = Vec::new();
    let mut warm: Option<(tempfile::TempDir, hoard::Cache, Datasets)> = None;
    let mut py_cold_runs = Vec::new();
    for round in 0..rounds.max(py_rounds) {
        if round < rounds {
            // The previous round's instance is dropped first: one cache in memory at a time.
            drop(warm.take());
            let cache_dir = tempfile::tempdir()?;
            let (cache, datasets) = hoard.open(cache_dir.path())?;
            let (took, manifest) = hoard.request(&datasets)?;
            anyhow::ensure!(
                manifest.entries.len() == files,
                "hoard saw {} files",
                manifest.entries.len()
            );
            anyhow::ensure!(
                manifest.recheck.is_empty(),
                "files were racy: {:?}",
                &manifest.recheck[..manifest.recheck.len().min(3)]
            );
            if let Some(report) = hoard.report(&datasets)? {
                cold_probed = report.probed;
                cold_build_s.push(report.elapsed.as_secs_f64());
            }
            eprintln!("datasets: cold, hoard {}", seconds(took.as_secs_f64()));
            hoard_cold.push(took.as_secs_f64());
            warm = Some((cache_dir, cache, datasets));
        }
        if round < py_rounds {
            let run = python.request(true, true, files)?;
            eprintln!("datasets: cold, Python {}", seconds(run.total_s));
            py_cold.push(run.total_s);
            py_cold_runs.push(run);
        }
    }
    let (cache_dir, cache, datasets) = warm.ok_or_else(|| anyhow::anyhow!("no cold round ran"))?;
    let py_breakdown = |runs: &[PyRun]| -> String {
        let m = |f: fn(&PyRun) -> f64| seconds(median(runs.iter().map(f).collect()));
        format!(
            "version {}, scan {}, store {}, load {}",
            m(|r| r.version_s),
            m(|r| r.scan_s),
            m(|r| r.store_s),
            m(|r| r.load_s)
        )
    };
    rows.push(Row {
        workload: format!(
            "Cold build, {} files + {folders} tables, empty cache",
            thousands(files as f64)
        ),
        hoard_s: median(hoard_cold.clone()),
        hoard_detail: format!("probed {}", thousands(cold_probed as f64)),
        python_s: median(py_cold.clone()),
        python_detail: "full scan".into(),
    });
    notes.push(format!(
        "Cold build, where the time goes: hoard's walk + probe + join + summary (`BuildReport::elapsed`) {} of {} (the rest: walking for the version, encoding and storing the manifest); Python {}.",
        seconds(median(cold_build_s)),
        seconds(median(hoard_cold)),
        py_breakdown(&py_cold_runs)
    ));

    // Unchanged: the warm instance walks and compares the version; Python walks, hashes the
    // version, and loads the cached manifest from Redis.
    let (mut hoard_same, mut py_same, mut py_same_runs) = (Vec::new(), Vec::new(), Vec::new());
    let (_, before) = hoard.request(&datasets)?;
    for round in 0..rounds.max(py_rounds) {
        if round < rounds {
            let (took, manifest) = hoard.request(&datasets)?;
            anyhow::ensure!(
                Arc::ptr_eq(&manifest, &before),
                "an unchanged check rebuilt"
            );
            hoard_same.push(took.as_secs_f64());
        }
        if round < py_rounds {
            let run = python.request(false, false, files)?;
            py_same.push(run.total_s);
            py_same_runs.push(run);
        }
    }
    drop(before);
    // The floor of every hoard request: the bare walk (readdir + statx, version hash).
    let mut walks = Vec::new();
    for _ in 0..rounds {
        let began = Instant::now();
        hoard_datasets::scan::walk(&root)?;
        walks.push(began.elapsed().as_secs_f64());
    }
    let walk_s = median(walks);
    let hoard_same_s = median(hoard_same);
    let py_same_s = median(py_same);
    eprintln!(
        "datasets: unchanged, hoard {} Python {}",
        seconds(hoard_same_s),
        seconds(py_same_s)
    );
    rows.push(Row {
        workload: "Unchanged re-check, warm instance (walk + version compare)".into(),
        hoard_s: hoard_same_s,
        hoard_detail: format!("{} files/s", thousands(files as f64 / hoard_same_s)),
        python_s: py_same_s,
        python_detail: format!("{} files/s", thousands(files as f64 / py_same_s)),
    });
    notes.push(format!(
        "Unchanged re-check: hoard's bare walk (`scan::walk`: readdir, statx, sort, version hash) takes {}; Python: {} (every request hashes the stats, then loads the manifest from Redis and parses it).",
        seconds(walk_s),
        py_breakdown(&py_same_runs)
    ));

    // A fraction of the files changed: hoard rebuilds from its previous manifest, Python
    // rescans everything (what the Python implementation does when the version differs).
    let mut next_round = 0u64;
    let mut incremental = Vec::new();
    for (percent, every) in [(1, 100), (10, 10)] {
        let (mut hoard_times, mut py_times, mut probed) = (Vec::new(), Vec::new(), Vec::new());
        let mut build_times = Vec::new();
        let mut changed = 0;
        for round in 0..rounds.max(py_rounds) {
            // A different set of files each round.
            changed = change(&mut dataset, every, (round * 7 + 3) % every, next_round)?;
            next_round += 1;
            if round < rounds {
                let (took, manifest) = hoard.request(&datasets)?;
                anyhow::ensure!(manifest.entries.len() == files, "hoard lost files");
                anyhow::ensure!(manifest.recheck.is_empty(), "changed files were racy");
                hoard_times.push(took.as_secs_f64());
                let report = hoard.report(&datasets)?.unwrap_or_default();
                probed.push(report.probed);
                build_times.push(report.elapsed.as_secs_f64());
            }
            if round < py_rounds {
                let run = python.request(false, true, files)?;
                py_times.push(run.total_s);
            }
        }
        let all_probed_same = probed.iter().all(|&p| p == changed);
        anyhow::ensure!(
            all_probed_same,
            "hoard probed {probed:?} files after {changed} changed"
        );
        let (h, p) = (median(hoard_times), median(py_times));
        incremental.push((percent, changed, h, median(build_times)));
        eprintln!(
            "datasets: {percent}% changed, hoard {} Python {}",
            seconds(h),
            seconds(p)
        );
        rows.push(Row {
            workload: format!(
                "Rebuild after {percent}% of the files changed ({} rewritten)",
                thousands(changed as f64)
            ),
            hoard_s: h,
            hoard_detail: format!("probed {}", thousands(changed as f64)),
            python_s: p,
            python_detail: "full rescan".into(),
        });
    }

    if let [(p1, c1, t1, b1), (p2, c2, t2, b2)] = incremental[..] {
        // Proportional means: beyond the walk every request makes (the unchanged
        // re-check), each changed file costs about the same at 1% as at 10%.
        let extra = |t: f64, c: usize| (t - hoard_same_s).max(0.0) / c as f64 * 1e6;
        notes.push(format!(
            "Incremental rebuilds: {p1}% took {} (the build, `BuildReport::elapsed`: {}), {p2}% took {} (build {}). Beyond the unchanged re-check ({}, the walk every request makes), each changed file cost {:.1} us at {p1}% and {:.1} us at {p2}%: the cost follows the changed files. Unchanged entries are handed on to the new manifest (shared, not copied), and the cache gets a delta from its stored base (the entries changed since that base) until the delta passes a quarter of the entries, when the manifest is stored whole as the new base. Each round here changes other files, so deltas grow from round to round as they would in use, and some rounds of the {p2}% set store a new base. Python rescans everything whatever the fraction.",
            seconds(t1),
            seconds(b1),
            seconds(t2),
            seconds(b2),
            seconds(hoard_same_s),
            extra(t1, c1),
            extra(t2, c2),
        ));
    }

    // Watched against walked, side by side on the same files: a second instance with its
    // own cache folder (so neither finds the other's builds) watches the root.
    let watched_rows =
        watched_against_walked(&hoard, &mut dataset, &datasets, &mut next_round, options)?;

    // Restart: a new instance over the same cache folder walks and loads the stored
    // manifest. Python's request is the same as before: it keeps nothing in memory.
    hoard.runtime.block_on(cache.flush())?;
    drop((datasets, cache));
    // hoard ran more change rounds than Python: bring Python's cache up to date, untimed.
    python.request_expecting(false, None, files)?;
    let (mut hoard_fresh, mut fresh_open, mut py_fresh) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds.max(py_rounds) {
        if round < rounds {
            let opened = Instant::now();
            let (cache, datasets) = hoard.open(cache_dir.path())?;
            fresh_open.push(opened.elapsed().as_secs_f64());
            let (took, manifest) = hoard.request(&datasets)?;
            anyhow::ensure!(manifest.entries.len() == files, "hoard lost files");
            anyhow::ensure!(
                hoard.probed(&datasets)?.is_none(),
                "a new instance rebuilt instead of loading the stored manifest"
            );
            hoard_fresh.push(took.as_secs_f64());
            drop((manifest, datasets, cache));
        }
        if round < py_rounds {
            py_fresh.push(python.request(false, false, files)?.total_s);
        }
    }
    let (h, p) = (median(hoard_fresh), median(py_fresh));
    eprintln!(
        "datasets: restart, hoard {} Python {}",
        seconds(h),
        seconds(p)
    );
    rows.push(Row {
        workload: "Unchanged re-check, new instance over the same cache folder (walk + load the stored manifest)".into(),
        hoard_s: h,
        hoard_detail: format!("{} files/s", thousands(files as f64 / h)),
        python_s: p,
        python_detail: format!("{} files/s", thousands(files as f64 / p)),
    });
    notes.push(format!(
        "Opening the cache folder (`Cache::open`), not counted above: {}.",
        seconds(median(fresh_open))
    ));
    drop(redis);

    let mut table = String::from(
        "| workload | hoard | Python + Redis | hoard / Python | hoard is |\n|---|---:|---:|---:|---:|\n",
    );
    let watched_table = watched_rows;
    for row in &rows {
        let _ = writeln!(
            table,
            "| {} | {} ({}) | {} ({}) | **{:.3}x** | {:.1}x faster |",
            row.workload,
            seconds(row.hoard_s),
            row.hoard_detail,
            seconds(row.python_s),
            row.python_detail,
            row.hoard_s / row.python_s,
            row.python_s / row.hoard_s
        );
    }
    table.push('\n');
    for note in notes {
        let _ = writeln!(table, "- {note}");
    }
    table.push('\n');
    table.push_str(&watched_table);
    let method = format!(
        "Machine: {}. One generated dataset per run ({} folders `Actor_NNN/` of {} 8 kHz 16-bit mono WAVs of 200-600 frames, each folder with an `actorNNN_metadata.csv`; mtimes an hour old), in the page cache for both sides. hoard: `hoard_datasets::Datasets` over `hoard::Cache::open` (memory + disk), `recheck_interval(0)`, watching off (every request walks) except in the watched table, median of {rounds} rounds. Python: fixtures/python_manifest.py, the emotion-recognition backend's scan (os.walk, os.stat, `wave`, `csv`, SHA-1, redis-py on a local redis-server), one subprocess per request timed inside Python, median of {py_rounds} rounds, alternating with hoard's. Ratio = hoard's time / Python's (lower is better). Load average when the run began: {load}.",
        crate::report::machine(),
        folders,
        per_folder
    );
    drop(cache_dir);
    Ok((table, method))
}

/// The re-check of a watched instance against the walking one, on the same files in one
/// run: unchanged, and after a few files changed. Returns the Markdown of its table.
fn watched_against_walked(
    hoard: &Hoard,
    dataset: &mut Dataset,
    walking: &Datasets,
    next_round: &mut u64,
    options: &Options,
) -> anyhow::Result<String> {
    let rounds = options.rounds.max(1);
    let files = dataset.files();
    let cache_dir = tempfile::tempdir()?;
    let (_cache, watched) = hoard.open_watched(cache_dir.path())?;
    // The first request starts the watch (notify adds a watch per folder, stating every
    // entry it walks), then walks and builds.
    let (first_watched, manifest) = hoard.request(&watched)?;
    anyhow::ensure!(
        manifest.entries.len() == files,
        "the watched instance lost files"
    );
    let status = hoard.runtime.block_on(watched.watch_status(ID))?;
    anyhow::ensure!(
        status.watching,
        "the dataset could not be watched: {:?}",
        status.walked_because
    );
    let walks = watched.walks();

    let (mut watched_same, mut walked_same) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (took, again) = hoard.request(&watched)?;
        anyhow::ensure!(
            Arc::ptr_eq(&again, &manifest),
            "an unchanged watched check rebuilt"
        );
        watched_same.push(took.as_secs_f64());
        walked_same.push(hoard.request(walking)?.0.as_secs_f64());
    }
    anyhow::ensure!(
        watched.walks() == walks,
        "an unchanged watched check walked"
    );

    // A few files change each round (ten of 100,000); both instances rebuild them.
    let every = (files / 10).max(1);
    let (mut watched_few, mut walked_few) = (Vec::new(), Vec::new());
    let mut changed = 0;
    for round in 0..rounds {
        changed = change(dataset, every, (round * 7 + 1) % every, *next_round)?;
        *next_round += 1;
        let (took, manifest) = hoard.request(&watched)?;
        anyhow::ensure!(
            manifest.entries.len() == files,
            "the watched instance lost files"
        );
        let probed = hoard.probed(&watched)?;
        anyhow::ensure!(
            probed == Some(changed),
            "the watched instance probed {probed:?} after {changed} changed"
        );
        watched_few.push(took.as_secs_f64());
        let (took, _) = hoard.request(walking)?;
        let probed = hoard.probed(walking)?;
        anyhow::ensure!(
            probed == Some(changed),
            "the walking instance probed {probed:?} after {changed} changed"
        );
        walked_few.push(took.as_secs_f64());
    }
    anyhow::ensure!(
        watched.walks() == walks,
        "a watched check after changes walked"
    );

    let mut table = String::from(
        "Watched re-check (`Datasets::watch(true)`, inotify) against the walk (`watch(false)`), same files, same run:\n\n| workload | watched | walked | walked / watched |\n|---|---:|---:|---:|\n",
    );
    let mut row = |workload: String, watched: f64, walked: f64| {
        let _ = writeln!(
            table,
            "| {workload} | {} | {} | **{:.0}x** |",
            micros(watched),
            micros(walked),
            walked / watched
        );
    };
    let (same_w, same_k) = (median(watched_same), median(walked_same));
    row(
        format!("Unchanged re-check, {} files", thousands(files as f64)),
        same_w,
        same_k,
    );
    let (few_w, few_k) = (median(watched_few), median(walked_few));
    row(
        format!("Re-check after {changed} files changed (re-stated or walked, probed, stored as a delta)"),
        few_w,
        few_k,
    );
    eprintln!(
        "datasets: watched unchanged {} walked {}; {changed} changed: watched {} walked {}",
        micros(same_w),
        micros(same_k),
        micros(few_w),
        micros(few_k)
    );
    let _ = writeln!(
        table,
        "\n- The watched instance answers an unchanged dataset without reading the folder: it writes its beacon file and waits for the watcher to report it (so every earlier change is in the record), finds nothing recorded, and returns the manifest it holds. After changes it re-stats only the recorded paths, probes the changed files into a copy of its manifest (every other entry shared), and stores the delta as the walking instance does; the walking instance walks, then builds (passing over every entry). Walks during the measured requests: 0. Its first request (watch started, walk, build) took {}.",
        seconds(first_watched.as_secs_f64())
    );
    Ok(table)
}

/// `12.3 us`, `4.56 ms` or `1.23 s`.
fn micros(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.1} us", s * 1e6)
    } else {
        seconds(s)
    }
}

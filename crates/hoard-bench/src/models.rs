//! `hoard models ls` against the Hugging Face hub library's own cache scan
//! (`huggingface_hub.scan_cache_dir`, and its `hf cache ls` command) on one generated hub
//! cache, alternately, in one run.
//!
//! The cache is written the way huggingface_hub writes it (blobs named by hash, snapshots
//! of relative symlinks, refs): `--hf-repos` repos, a few of them datasets, each with 3
//! revisions (a detached one, `refs/pr/1`, `main`) of 5 to 7 files, blobs shared between
//! revisions where a file did not change. Before any timing counts, every contender's
//! answer is checked against what was generated (repo count, per-repo size on disk and
//! revision count); any disagreement fails the suite.
//!
//! Needs `pip install huggingface_hub`.

use crate::report::{Comparison, Measure};
use crate::Options;
use hoard_models::{Layout, ModelsConfig, Store};
use hoard_testkit::stores::{content_name, hf_revision, HfFile};
use rand::{rngs::StdRng, Rng, RngCore, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Per repo (`model:org/name`, `dataset:org/name`): bytes on disk, revisions.
type Summary = BTreeMap<String, (u64, usize)>;

/// Revisions per repo: 0 detached, 1 `refs/pr/1`, 2 `main`.
const REVISIONS: usize = 3;

/// A model repo's files: name, stored as an LFS blob, size range in bytes.
const MODEL_FILES: [(&str, bool, (usize, usize)); 7] = [
    ("config.json", false, (300, 2_000)),
    ("generation_config.json", false, (100, 400)),
    ("tokenizer.json", false, (2_000, 16_000)),
    ("tokenizer_config.json", false, (500, 3_000)),
    ("special_tokens_map.json", false, (100, 600)),
    ("model.safetensors", true, (4_000, 48_000)),
    ("onnx/model.onnx", true, (2_000, 24_000)),
];

/// A dataset repo's files.
const DATASET_FILES: [(&str, bool, (usize, usize)); 5] = [
    ("README.md", false, (500, 4_000)),
    ("dataset_infos.json", false, (300, 2_000)),
    ("data/train-00000-of-00002.parquet", true, (4_000, 48_000)),
    ("data/train-00001-of-00002.parquet", true, (4_000, 48_000)),
    ("data/test-00000-of-00001.parquet", true, (2_000, 16_000)),
];

/// What was generated, and the answer every scan must give.
struct Generated {
    expected: Summary,
    datasets: usize,
    links: usize,
    blobs: usize,
    bytes: u64,
}

/// Repo `i`'s folder: every 40th is a dataset.
fn folder(i: usize) -> String {
    if i % 40 == 39 {
        format!("datasets--org{}--corpus-{i}", i % 37)
    } else {
        format!("models--org{}--model-{i}", i % 37)
    }
}

fn generate(hub: &Path, repos: usize) -> Generated {
    std::fs::create_dir_all(hub.join(".locks")).expect("creating .locks/");
    let mut expected = Summary::new();
    let (mut datasets, mut links, mut blobs, mut bytes) = (0, 0, 0, 0u64);
    for i in 0..repos {
        let folder = folder(i);
        let dataset = folder.starts_with("datasets--");
        datasets += usize::from(dataset);
        let files: &[(&str, bool, (usize, usize))] = if dataset {
            &DATASET_FILES
        } else {
            &MODEL_FILES
        };
        let mut rng = StdRng::seed_from_u64(i as u64);
        // Content of file j at version v, made once and reused by every revision that
        // did not change it (so those revisions share the blob).
        let mut contents: BTreeMap<(usize, usize), Vec<u8>> = BTreeMap::new();
        let mut versions = vec![0usize; files.len()];
        for revision in 0..REVISIONS {
            for (j, version) in versions.iter_mut().enumerate() {
                // Revision 0 writes everything; later ones change about a third.
                if revision > 0 && (i + j + revision) % 3 == 0 {
                    *version = revision;
                }
                contents.entry((j, *version)).or_insert_with(|| {
                    let (name, _, (low, high)) = files[j];
                    let mut content = format!("{folder}/{name} v{version}\n").into_bytes();
                    let size = rng.random_range(low..high).max(content.len());
                    let start = content.len();
                    content.resize(size, 0);
                    rng.fill_bytes(&mut content[start..]);
                    content
                });
            }
            let hf_files: Vec<HfFile<'_>> = files
                .iter()
                .enumerate()
                .map(|(j, (name, lfs, _))| HfFile {
                    name,
                    content: &contents[&(j, versions[j])],
                    lfs: *lfs,
                })
                .collect();
            let commit = content_name(format!("{folder}@{revision}").as_bytes(), false);
            let refs: &[&str] = match revision {
                0 => &[],
                1 => &["refs/pr/1"],
                _ => &["main"],
            };
            hf_revision(hub, &folder, &commit, refs, &hf_files);
            links += hf_files.len();
        }
        // Identical content would share one blob; the random tails make that impossible.
        let size: u64 = contents.values().map(|c| c.len() as u64).sum();
        blobs += contents.len();
        bytes += size;
        let (kind, rest) = folder.split_once("--").expect("a repo folder");
        let kind = kind.trim_end_matches('s');
        expected.insert(
            format!("{kind}:{}", rest.replace("--", "/")),
            (size, REVISIONS),
        );
    }
    Generated {
        expected,
        datasets,
        links,
        blobs,
        bytes,
    }
}

/// The `hoard` binary beside this one, built first (a no-op when it is up to date), or
/// `$HOARD_BIN`.
fn hoard_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("HOARD_BIN") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no folder", exe.display()))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(["build", "--quiet", "-p", "hoard-cli", "--bin", "hoard"]);
    if dir.file_name().is_some_and(|name| name == "release") {
        build.arg("--release");
    }
    let status = build.status()?;
    anyhow::ensure!(status.success(), "building the hoard binary failed");
    let binary = dir.join(format!("hoard{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        binary.is_file(),
        "no hoard binary at {} (set HOARD_BIN)",
        binary.display()
    );
    Ok(binary)
}

/// The Python that has huggingface_hub (the interpreter itself, not a pyenv shim, whose
/// own start-up would be charged to huggingface_hub), its `hf` command, and the versions
/// of Python and huggingface_hub.
fn python() -> anyhow::Result<(PathBuf, Option<PathBuf>, String)> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, platform, huggingface_hub; print(sys.executable); print(f'huggingface_hub {huggingface_hub.__version__}, Python {platform.python_version()}')",
        ])
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        _ => anyhow::bail!(
            "huggingface_hub is not installed (pip install huggingface_hub); the models suite compares against it"
        ),
    };
    let text = String::from_utf8(out.stdout)?;
    let mut lines = text.lines();
    let executable = PathBuf::from(lines.next().unwrap_or("python3"));
    let version = lines.next().unwrap_or("?").to_owned();
    let hf = executable
        .parent()
        .map(|bin| bin.join("hf"))
        .filter(|hf| hf.is_file());
    Ok((executable, hf, version))
}

/// A child with no cache variables of the caller's: only the paths given count.
fn clean(mut command: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("HOARD_")
            || name.starts_with("HF_")
            || name == "HUGGINGFACE_HUB_CACHE"
            || name == "TRANSFORMERS_CACHE"
        {
            command.env_remove(name);
        }
    }
    command
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HUB_DISABLE_TELEMETRY", "1");
    command
}

/// Wall and CPU (user + system) time of one run.
#[derive(Debug, Clone, Copy)]
struct Took {
    wall: Duration,
    cpu: Duration,
}

/// CPU time of this process and of its waited-for children so far, from `/proc/self/stat`
/// (in clock ticks, 100 per second on Linux); `None` elsewhere.
fn cpu_times() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (in parentheses, and it may hold spaces) start at
    // field 3; utime, stime, cutime, cstime are fields 14 to 17.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = |n: u64| Duration::from_millis(n * 10);
    Some((
        ticks(fields.get(11)? + fields.get(12)?),
        ticks(fields.get(13)? + fields.get(14)?),
    ))
}

fn timed_output(mut command: Command, what: &str) -> anyhow::Result<(Took, Vec<u8>)> {
    let cpu_before = cpu_times().map(|(_, children)| children);
    let began = Instant::now();
    let out = command.output()?;
    let wall = began.elapsed();
    let cpu = cpu_times()
        .map(|(_, children)| children)
        .zip(cpu_before)
        .map_or(Duration::ZERO, |(after, before)| {
            after.saturating_sub(before)
        });
    anyhow::ensure!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((Took { wall, cpu }, out.stdout))
}

/// `hoard models ls --format json`: the whole process's times, and its answer.
fn hoard_ls(binary: &Path, config: &Path) -> anyhow::Result<(Took, Summary)> {
    #[derive(serde::Deserialize)]
    struct Row {
        id: String,
        store: String,
        size: u64,
        revisions: usize,
    }
    let mut command = Command::new(binary);
    command
        .args(["models", "--config"])
        .arg(config)
        .args(["ls", "--format", "json"]);
    let (took, stdout) = timed_output(clean(command), "hoard models ls")?;
    let rows: Vec<Row> = serde_json::from_slice(&stdout)?;
    let mut summary = Summary::new();
    for row in rows {
        anyhow::ensure!(
            row.store == "huggingface",
            "hoard listed {} in store {}",
            row.id,
            row.store
        );
        summary.insert(key(&row.id), (row.size, row.revisions));
    }
    Ok((took, summary))
}

/// hoard's id (`org/name`, `dataset:org/name`) as `kind:org/name`.
fn key(id: &str) -> String {
    if id.starts_with("dataset:") || id.starts_with("space:") {
        id.to_owned()
    } else {
        format!("model:{id}")
    }
}

#[derive(serde::Deserialize)]
struct PythonScan {
    import_ns: u64,
    scan_ns: u64,
    scan_cpu_ns: u64,
    warnings: Vec<String>,
    repos: Summary,
}

/// `fixtures/hf_scan.py`: the whole process's times, and the script's own report.
fn python_scan(python: &Path, hub: &Path) -> anyhow::Result<(Took, PythonScan)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hf_scan.py");
    let mut command = Command::new(python);
    command.arg(script).arg(hub);
    let (took, stdout) = timed_output(clean(command), "huggingface_hub's scan_cache_dir")?;
    let scan: PythonScan = serde_json::from_slice(&stdout)?;
    anyhow::ensure!(
        scan.warnings.is_empty(),
        "huggingface_hub found a corrupted cache: {:?}",
        scan.warnings
    );
    Ok((took, scan))
}

/// `hf cache ls --format json`: the whole process's times, and the repos it lists (its
/// JSON gives sizes only rounded for people, "14.0M", so only the ids are compared).
fn hf_cache_ls(hf: &Path, hub: &Path) -> anyhow::Result<(Took, BTreeSet<String>)> {
    let mut command = Command::new(hf);
    command
        .args(["cache", "ls", "--format", "json", "--cache-dir"])
        .arg(hub);
    let (took, stdout) = timed_output(clean(command), "hf cache ls")?;
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&stdout)?;
    let mut ids = BTreeSet::new();
    for row in rows {
        let (Some(kind), Some(id)) = (row["repo_type"].as_str(), row["repo_id"].as_str()) else {
            anyhow::bail!("hf cache ls: no repo_type or repo_id in {row}");
        };
        ids.insert(format!("{kind}:{id}"));
    }
    Ok((took, ids))
}

/// The library call, with every item's size and revisions read.
fn in_process(layout: &Layout) -> (Took, Summary) {
    let cpu_before = cpu_times().map(|(own, _)| own);
    let began = Instant::now();
    let inventory = hoard_models::scan::scan(layout);
    let summary: Summary = inventory
        .items
        .iter()
        .filter(|item| item.store == Store::Huggingface)
        .map(|item| (key(&item.id), (item.size, item.revisions)))
        .collect();
    let wall = began.elapsed();
    let cpu = cpu_times()
        .map(|(own, _)| own)
        .zip(cpu_before)
        .map_or(Duration::ZERO, |(after, before)| {
            after.saturating_sub(before)
        });
    (Took { wall, cpu }, summary)
}

/// Fails loudly if `got` is not what was generated.
fn agree(who: &str, got: &Summary, expected: &Summary) -> anyhow::Result<()> {
    if got == expected {
        return Ok(());
    }
    let mut differences = Vec::new();
    let keys: BTreeSet<&String> = got.keys().chain(expected.keys()).collect();
    for key in keys {
        let (g, e) = (got.get(key), expected.get(key));
        if g != e {
            differences.push(format!(
                "{key}: {who} says {g:?}, generated (size, revisions) {e:?}"
            ));
        }
    }
    let total = |s: &Summary| s.values().map(|(size, _)| size).sum::<u64>();
    anyhow::bail!(
        "{who} disagrees with the generated cache: {} repos / {} bytes listed, {} / {} generated; {} repos differ, first: {}",
        got.len(),
        total(got),
        expected.len(),
        total(expected),
        differences.len(),
        differences.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
    )
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn ms(ns: f64) -> String {
    format!("{:.1} ms", ns / 1e6)
}

pub fn run(options: &Options) -> anyhow::Result<(Vec<Comparison>, Vec<String>)> {
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|text| text.split_whitespace().next().map(str::to_owned))
    };
    let load_before = load();
    let (python, hf, version) = python()?;
    let binary = hoard_binary()?;
    let dir = tempfile::tempdir()?;
    let hf_home = dir.path().join("huggingface");
    let hub = hf_home.join("hub");
    let began = Instant::now();
    let generated = generate(&hub, options.hf_repos);
    let generation = began.elapsed();
    let config = dir.path().join("hoard.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\nroot = {:?}\nhuggingface = {:?}\n",
            dir.path().join("models").display().to_string(),
            hf_home.display().to_string()
        ),
    )?;
    let layout = Layout::new(
        &ModelsConfig {
            root: Some(dir.path().join("models")),
            huggingface: Some(hf_home.clone()),
            ..ModelsConfig::default()
        },
        dir.path(),
    );
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let threads = rayon::current_num_threads();
    let expected = &generated.expected;
    let hf_agrees = |ids: &BTreeSet<String>| -> anyhow::Result<()> {
        let wanted: BTreeSet<&String> = expected.keys().collect();
        anyhow::ensure!(
            ids.iter().collect::<BTreeSet<_>>() == wanted,
            "hf cache ls disagrees with the generated cache: {} repos listed, {} generated",
            ids.len(),
            wanted.len()
        );
        Ok(())
    };

    // One untimed pass of each warms the page cache and checks every answer.
    let (_, summary) = hoard_ls(&binary, &config)?;
    agree("hoard models ls", &summary, expected)?;
    let (_, scan) = python_scan(&python, &hub)?;
    agree("huggingface_hub scan_cache_dir", &scan.repos, expected)?;
    if let Some(hf) = &hf {
        hf_agrees(&hf_cache_ls(hf, &hub)?.1)?;
    }
    agree("hoard_models::scan::scan", &in_process(&layout).1, expected)?;

    // Samples in nanoseconds by contender and clock; medians are reported.
    let mut samples: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut add = |name: &'static str, d: Duration| {
        samples.entry(name).or_default().push(d.as_nanos() as f64);
    };
    for _ in 0..options.rounds {
        let (took, summary) = hoard_ls(&binary, &config)?;
        agree("hoard models ls", &summary, expected)?;
        add("hoard ls wall", took.wall);
        add("hoard ls cpu", took.cpu);

        let (took, scan) = python_scan(&python, &hub)?;
        agree("huggingface_hub scan_cache_dir", &scan.repos, expected)?;
        add("python wall", took.wall);
        add("python cpu", took.cpu);
        add("python scan wall", Duration::from_nanos(scan.scan_ns));
        add("python scan cpu", Duration::from_nanos(scan.scan_cpu_ns));
        add("python import", Duration::from_nanos(scan.import_ns));

        if let Some(hf) = &hf {
            let (took, ids) = hf_cache_ls(hf, &hub)?;
            hf_agrees(&ids)?;
            add("hf wall", took.wall);
            add("hf cpu", took.cpu);
        }

        let (took, summary) = in_process(&layout);
        agree("hoard_models::scan::scan", &summary, expected)?;
        add("hoard scan wall", took.wall);
        add("hoard scan cpu", took.cpu);

        let (took, summary) = pool.install(|| in_process(&layout));
        agree("hoard_models::scan::scan (1 thread)", &summary, expected)?;
        add("hoard scan 1 wall", took.wall);
    }
    let get = |name: &str| samples.get(name).map(|xs| median(xs.clone()));
    let m = |name: &str| get(name).unwrap_or(f64::NAN);
    let cpu_known = m("hoard ls cpu") > 0.0;

    let cache = format!(
        "{} repos ({} datasets), {REVISIONS} revisions each (detached, refs/pr/1, main): {} snapshot files, {} blobs, {:.1} MiB",
        options.hf_repos,
        generated.datasets,
        generated.links,
        generated.blobs,
        generated.bytes as f64 / (1024.0 * 1024.0)
    );
    const HOARD_LS: &str =
        "hoard models ls --format json (whole process: start, config, scan, JSON out)";
    const HF_LS: &str = "hf cache ls --format json (whole process)";
    const PYTHON: &str = "python3 fixtures/hf_scan.py: interpreter start, import huggingface_hub, scan_cache_dir() (whole process)";
    const INSIDE: &str = "huggingface_hub scan_cache_dir() + every repo's size and revisions, timed inside Python (no interpreter start, no import)";
    let listing = |clock: &str| {
        let mut peers = Vec::new();
        if let Some(ns) = get(&format!("hf {clock}")) {
            peers.push(Measure::new(HF_LS, ns));
        }
        peers.push(Measure::new(PYTHON, m(&format!("python {clock}"))));
        peers.push(Measure::new(INSIDE, m(&format!("python scan {clock}"))));
        Comparison {
            title: String::new(),
            hoard: Measure::new(HOARD_LS, m(&format!("hoard ls {clock}"))),
            peers,
        }
    };
    let mut comparisons = vec![Comparison {
        title: format!(
            "Listing a generated Hugging Face hub cache, {cache}: wall time per full listing"
        ),
        ..listing("wall")
    }];
    if cpu_known {
        comparisons.push(Comparison {
            title: "Same runs, CPU time (user + system) per listing: what each costs the machine, whatever else runs on it".into(),
            ..listing("cpu")
        });
    }
    comparisons.push(Comparison {
        title: "The scans alone, in process (no process start on either side), wall time".into(),
        hoard: Measure::new(
            &format!("hoard_models::scan::scan ({threads} rayon threads, over repos)"),
            m("hoard scan wall"),
        ),
        peers: vec![Measure::new(INSIDE, m("python scan wall"))],
    });
    comparisons.push(Comparison {
        title: "The scans alone, hoard held to one thread like Python, wall time".into(),
        hoard: Measure::new(
            "hoard_models::scan::scan on a 1-thread rayon pool",
            m("hoard scan 1 wall"),
        ),
        peers: vec![Measure::new(INSIDE, m("python scan wall"))],
    });

    let total: u64 = expected.values().map(|(size, _)| size).sum();
    let (hoard_wall, inside_wall) = (m("hoard ls wall"), m("python scan wall"));
    // The target, against each way of running huggingface_hub's scan, in wall time.
    let mut against: Vec<(String, f64)> = Vec::new();
    if let Some(wall) = get("hf wall") {
        against.push(("`hf cache ls`".into(), wall / hoard_wall));
    }
    against.push((
        "the whole Python process".into(),
        m("python wall") / hoard_wall,
    ));
    against.push((
        "`scan_cache_dir` timed inside Python".into(),
        inside_wall / hoard_wall,
    ));
    let verdict = |met: bool| {
        against
            .iter()
            .filter(|(_, x)| (*x >= 10.0) == met)
            .map(|(name, x)| format!("{name} ({x:.1}x)"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (met, missed) = (verdict(true), verdict(false));
    let verdict = match (met.is_empty(), missed.is_empty()) {
        (false, true) => format!("met against every form: {met}"),
        (true, false) => format!("not met: {missed}"),
        _ => format!("met against {met}; not met against {missed}"),
    };
    let mut notes = vec![format!(
        "Target: `hoard models ls` at least 10x faster than huggingface_hub's scan on the same cache, in wall time: {verdict}. The whole `hoard models ls` process took {}; huggingface_hub's scan alone, timed inside Python, {}; the whole Python process {}, of which {} is `import huggingface_hub`{}.",
        ms(hoard_wall),
        ms(inside_wall),
        ms(m("python wall")),
        ms(m("python import")),
        get("hf wall")
            .map(|wall| format!("; `hf cache ls` {}", ms(wall)))
            .unwrap_or_default()
    )];
    if cpu_known {
        notes.push(format!(
            "CPU time: `hoard models ls` {} against {} for the scan inside Python ({:.1}x), {} for the whole Python process ({:.1}x){}; in process, hoard's scan used {} of CPU. CPU times of child processes come from /proc/self/stat in 10 ms ticks.",
            ms(m("hoard ls cpu")),
            ms(m("python scan cpu")),
            m("python scan cpu") / m("hoard ls cpu"),
            ms(m("python cpu")),
            m("python cpu") / m("hoard ls cpu"),
            get("hf cpu")
                .map(|cpu| format!(", {} for `hf cache ls` ({:.1}x)", ms(cpu), cpu / m("hoard ls cpu")))
                .unwrap_or_default(),
            ms(m("hoard scan cpu")),
        ));
    }
    notes.push(format!(
        "Agreement, checked on every run of every contender: {} repos, {} bytes on disk in all (each blob counted once per repo), and per repo the same size and revision count, all equal to what was generated (`hf cache ls` prints sizes rounded for people, so for it only the list of repos is compared).",
        expected.len(),
        total
    ));
    notes.push(format!(
        "hoard's scan runs over repos on {threads} rayon threads, huggingface_hub's on one; the one-thread row is the per-core comparison. Most of hoard's time is in the kernel (per repo: read the folders, stat each blob, readlink and stat each snapshot link), most of Python's in the interpreter."
    ));
    if hf.is_none() {
        notes.push("`hf` (huggingface_hub's command) was not found beside the interpreter, so its row is missing.".into());
    }
    if let (Some(before), Some(after)) = (load_before, load()) {
        notes.push(format!(
            "Load average (1 min) when the suite began: {before}, when it ended: {after}, on {} cores: above the core count, other work on the machine stretches every wall time; CPU time is less sensitive to it.",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ));
    }
    notes.push(format!(
        "The cache was generated in {:.1} s into a temporary folder and scanned warm (every contender ran once, untimed, first). {version}.",
        generation.as_secs_f64()
    ));
    Ok((comparisons, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_cache_scans_to_what_was_generated() {
        let dir = tempfile::tempdir().unwrap();
        let hf_home = dir.path().join("huggingface");
        let generated = generate(&hf_home.join("hub"), 41);
        assert_eq!(generated.datasets, 1);
        let layout = Layout::new(
            &ModelsConfig {
                root: Some(dir.path().join("models")),
                huggingface: Some(hf_home),
                ..ModelsConfig::default()
            },
            dir.path(),
        );
        let (_, summary) = in_process(&layout);
        agree("scan", &summary, &generated.expected).unwrap();
        // Unchanged files share blobs: fewer blobs than snapshot files.
        assert!(generated.blobs < generated.links);
        let mut wrong = generated.expected.clone();
        wrong.values_mut().next().unwrap().0 += 1;
        assert!(agree("scan", &summary, &wrong).is_err());
    }
}

//! Tables and the BENCHMARKS.md sections they go into.

use crate::Options;
use std::path::Path;

/// One contender's median time per operation.
#[derive(Debug, Clone)]
pub struct Measure {
    /// What ran.
    pub name: String,
    /// Median nanoseconds per operation.
    pub ns_per_op: f64,
}

impl Measure {
    /// A named measurement.
    pub fn new(name: &str, ns_per_op: f64) -> Measure {
        Measure {
            name: name.to_owned(),
            ns_per_op,
        }
    }
}

/// hoard against its peers on one workload.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The workload.
    pub title: String,
    /// hoard's result.
    pub hoard: Measure,
    /// The peers', each the denominator of one ratio.
    pub peers: Vec<Measure>,
}

/// A Markdown table: one block per comparison, `hoard / peer` ratios.
pub fn table(comparisons: &[Comparison]) -> String {
    let mut out = String::new();
    for c in comparisons {
        out.push_str(&format!("#### {}\n\n", c.title));
        out.push_str("| contender | time per op | hoard / this |\n|---|---:|---:|\n");
        out.push_str(&format!(
            "| **{}** | {:.0} ns | 1.00x |\n",
            c.hoard.name, c.hoard.ns_per_op
        ));
        for peer in &c.peers {
            out.push_str(&format!(
                "| {} | {:.0} ns | **{:.2}x** |\n",
                peer.name,
                peer.ns_per_op,
                c.hoard.ns_per_op / peer.ns_per_op
            ));
        }
        out.push('\n');
    }
    out
}

/// The full section: command, machine, table.
pub fn section(options: &Options, title: &str, table: &str) -> String {
    let method = format!(
        "Machine: {}. Median of {} alternating rounds; ratio = hoard's time / the peer's (lower is better).",
        machine(),
        options.rounds
    );
    section_with(options, title, &method, table)
}

/// A section whose method paragraph (machine, rounds, what the ratio means) the suite
/// writes itself, for suites whose contenders run different numbers of rounds.
pub fn section_with(options: &Options, title: &str, method: &str, table: &str) -> String {
    // The semantic suite runs a local model, which only its feature builds.
    let features = if options.suites.contains(&crate::Suite::Semantic) {
        " --features semantic"
    } else {
        ""
    };
    // The file the section goes into (RELIABILITY.md for the reliability suite).
    let file = options
        .write
        .as_ref()
        .map_or("BENCHMARKS.md".into(), |p| p.display().to_string());
    format!(
        "## {title}\n\n\
         Produced by:\n\n```sh\ncargo run --release -p hoard-bench{features} -- {} --write {file}\n```\n\n\
         {method}\n\n{table}",
        command_line(options),
    )
}

/// The CPU model and core count, as `Intel(R) Xeon(R) Processor, 2 cores`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// The flags that reproduce this run.
fn command_line(o: &Options) -> String {
    let suites: Vec<&str> = o
        .suites
        .iter()
        .map(|s| match s {
            crate::Suite::Core => "core",
            crate::Suite::Redis => "redis",
            crate::Suite::Compute => "compute",
            crate::Suite::Coherence => "coherence",
            crate::Suite::Http => "http",
            crate::Suite::Datasets => "datasets",
            crate::Suite::Models => "models",
            crate::Suite::Snapshot => "snapshot",
            crate::Suite::Semantic => "semantic",
            crate::Suite::Python => "python",
            crate::Suite::Reliability => "reliability",
        })
        .collect();
    let mut semantic = String::new();
    if o.suites.contains(&crate::Suite::Semantic) {
        let entries: Vec<String> = o.semantic_entries.iter().map(|n| n.to_string()).collect();
        semantic = format!(
            " --semantic-entries {} --semantic-queries {} --embed-queries {} --real-vectors {} --qqp-pairs {}",
            entries.join(","),
            o.semantic_queries,
            o.embed_queries,
            o.real_vectors,
            o.qqp_pairs
        );
    }
    let mut python = String::new();
    if o.suites.contains(&crate::Suite::Python) {
        python = format!(
            " --python {} --py-calls {} --py-redis-ops {} --stampede-rounds {}",
            o.python_interpreter().display(),
            o.py_calls,
            o.py_redis_ops,
            o.stampede_rounds
        );
    }
    let reliability = if o.suites.contains(&crate::Suite::Reliability) {
        o.reliability.flags()
    } else {
        String::new()
    };
    if o.suites == [crate::Suite::Reliability] {
        // The other suites' workload flags mean nothing to it.
        return format!("--suites reliability{reliability}");
    }
    format!(
        "--suites {} --ops {} --threads {} --keys {} --zipf {} --value-size {} --disk-ops {} --redis-ops {} --mget-keys {} --dataset-files {} --dataset-folders {} --hf-repos {} --catalogue-images {} --catalogue-tags {} --rounds {}{semantic}{python}{reliability}",
        suites.join(","),
        o.ops,
        o.threads,
        o.keys,
        o.zipf,
        o.value_size,
        o.disk_ops,
        o.redis_ops,
        o.mget_keys,
        o.dataset_files,
        o.dataset_folders,
        o.hf_repos,
        o.catalogue_images,
        o.catalogue_tags,
        o.rounds
    )
}

/// Replaces the text between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` in
/// `path` (appending the markers if missing), so each benchmark owns one section.
pub fn write_section(path: &Path, name: &str, body: &str) -> anyhow::Result<()> {
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let current = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_owned(),
        Err(e) => return Err(e.into()),
    };
    let block = format!("{start}\n{body}{end}");
    let updated = match (current.find(&start), current.find(&end)) {
        (Some(s), Some(e)) if s < e => {
            format!("{}{block}{}", &current[..s], &current[e + end.len()..])
        }
        _ => format!("{}\n{block}\n", current.trim_end()),
    };
    std::fs::write(path, updated)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_replaced_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("B.md");
        std::fs::write(&path, "# Benchmarks\n\nintro\n").unwrap();
        write_section(&path, "core", "first\n").unwrap();
        write_section(&path, "redis", "other\n").unwrap();
        write_section(&path, "core", "second\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("intro"));
        assert!(text.contains("second") && !text.contains("first"));
        assert!(text.contains("other"));
        assert_eq!(text.matches("<!-- bench:core:start -->").count(), 1);
    }

    #[test]
    fn ratios_are_hoard_over_peer() {
        let t = table(&[Comparison {
            title: "x".into(),
            hoard: Measure::new("h", 150.0),
            peers: vec![Measure::new("p", 100.0)],
        }]);
        assert!(t.contains("**1.50x**"), "{t}");
    }
}

//! `hoard semantic eval`: how often the semantic cache serves the right answer, and how
//! often a wrong one, over labelled question pairs.

use crate::output::Progress;
use anyhow::Context;
use hoard_semantic::eval::{self, Row, Scored};
use hoard_semantic::Verdict;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `hoard semantic` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum SemanticCommand {
    /// Precision, recall, wrong-hit rate and hit rate per threshold over labelled pairs
    /// (JSON Lines `{"a","b","same"}`, optionally gzip), with and without the guards.
    Eval {
        /// The pairs file (`.jsonl` or `.jsonl.gz`).
        #[arg(long, value_name = "FILE")]
        pairs: PathBuf,
        /// What the pairs are: `questions` (`{"a","b","same"}`: strings, scored by
        /// similarity and the guards per threshold) or `conversations` (`{"a","b","same",
        /// "category"}`: lists of `{role, content}` messages, each stored and looked up
        /// through the cache with its configured threshold, figures per category).
        #[arg(long, value_enum, default_value_t = Dataset::Questions)]
        dataset: Dataset,
        /// Embedding model (default: [semantic] model): a folder, a Hugging Face repo id
        /// from the configured hub cache, `ollama:NAME` or `openai:NAME`.
        #[arg(long, value_name = "SPEC")]
        model: Option<String>,
        /// Use only the first N pairs.
        #[arg(long)]
        limit: Option<usize>,
        /// Thresholds to report (comma-separated; questions only: conversations use the
        /// configured `[semantic] threshold`).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "0.70,0.75,0.80,0.85,0.90,0.95"
        )]
        thresholds: Vec<f32>,
        /// Texts per embedding batch.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also write each pair's similarity, verifier probability and verdict, one JSON
        /// object per line in the pairs' order, to FILE (to choose thresholds on a split
        /// of your own).
        #[arg(long, value_name = "FILE")]
        scores: Option<PathBuf>,
    },
}

/// The kind of pairs `hoard semantic eval` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dataset {
    /// Question pairs.
    Questions,
    /// Chat pairs, through the cache.
    Conversations,
}

/// Runs a `hoard semantic` verb.
pub fn run(config: Option<&Path>, command: SemanticCommand) -> anyhow::Result<()> {
    let SemanticCommand::Eval {
        pairs,
        dataset,
        model,
        limit,
        thresholds,
        batch,
        json,
        scores,
    } = command;
    for threshold in &thresholds {
        hoard_semantic::cache::check_threshold(*threshold)?;
    }
    let env = |name: &str| std::env::var(name).ok();
    let loaded = hoard_config::Config::load(config, &env, &Default::default())?;
    let mut settings = loaded.semantic()?;
    if let Some(model) = model {
        settings.embedder.model = model;
    }
    if dataset == Dataset::Conversations {
        // Chats go through the cache at its configured threshold, one lookup each: there
        // is no per-threshold table nor per-pair scores to write.
        anyhow::ensure!(
            scores.is_none(),
            "--scores is for --dataset questions; a conversations run prints its figures per category"
        );
        return conversations(&loaded, settings, &pairs, limit, json);
    }
    let mut pairs = eval::read_pairs(&pairs)?;
    if let Some(limit) = limit {
        pairs.truncate(limit);
    }
    anyhow::ensure!(!pairs.is_empty(), "the pairs file holds no pairs");
    let (hub, runtime) = hub_and_runtime(&loaded)?;
    let progress = Progress::new("embedding and verifying", "steps");
    let default_threshold = settings.cache.threshold;
    let (plain, guarded, verifier_id) = runtime.block_on(async {
        let embedder = hoard_semantic::embed::from_spec(&settings.embedder, &hub).await?;
        let verifier =
            hoard_semantic::verify::for_spec(&settings.embedder, &hub, settings.cache.verifier)
                .await?;
        let update = |done: usize, total: usize| progress.update(done as u64, total as u64);
        let lowest = thresholds.iter().copied().fold(default_threshold, f32::min);
        let verification = verifier.as_deref().map(|verifier| eval::Verification {
            verifier,
            threshold: settings.cache.verifier_threshold,
            min_similarity: lowest,
        });
        let guarded = eval::score(
            &pairs,
            embedder.as_ref(),
            settings.cache.guards,
            settings.cache.context_threshold,
            verification.as_ref(),
            batch,
            &update,
        )
        .await?;
        // The plain threshold: the same similarities, judged without any guard.
        let plain: Vec<Scored> = guarded
            .iter()
            .map(|s| Scored {
                verdict: Verdict::Pass,
                ..*s
            })
            .collect();
        anyhow::Ok((plain, guarded, verifier.map(|v| v.id().to_owned())))
    })?;
    progress.finish();
    if let Some(path) = &scores {
        write_scores(path, &pairs, &guarded)?;
    }
    let report = Report {
        pairs: pairs.len(),
        same: pairs.iter().filter(|p| p.same).count(),
        cosine_only: thresholds
            .iter()
            .map(|t| eval::row(&plain, *t, false))
            .collect(),
        guarded: thresholds
            .iter()
            .map(|t| eval::row(&guarded, *t, true))
            .collect(),
        best: [0.01, 0.05]
            .iter()
            .map(|budget| Best {
                wrong_hit_budget: *budget,
                cosine_only: eval::best_recall(&plain, *budget, false),
                guarded: eval::best_recall(&guarded, *budget, true),
            })
            .collect(),
        refusals: eval::refusals(&guarded, default_threshold)
            .into_iter()
            .map(|(verdict, same, different)| Refusal {
                verdict,
                same_pairs: same,
                different_pairs: different,
            })
            .collect(),
        default_threshold,
        verifier: verifier_id,
        by_kind: by_kind(&pairs, &guarded, default_threshold),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// The Hugging Face hub cache models are found in (from `[models]`), and a runtime.
fn hub_and_runtime(
    loaded: &hoard_config::Config,
) -> anyhow::Result<(PathBuf, tokio::runtime::Runtime)> {
    let base = std::env::current_dir().context("reading the working directory")?;
    let hub = hoard_models::Layout::new(&loaded.models()?, &base).hf_hub();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok((hub, runtime))
}

/// `--dataset conversations`: each pair stored and looked up through a semantic cache
/// over an in-memory hoard cache, with the configured checks; a table per category.
fn conversations(
    loaded: &hoard_config::Config,
    settings: hoard_config::SemanticSettings,
    path: &Path,
    limit: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    use hoard_semantic::eval::conversations as conv;
    let mut pairs = conv::read_conversations(path)?;
    if let Some(limit) = limit {
        pairs.truncate(limit);
    }
    anyhow::ensure!(!pairs.is_empty(), "the pairs file holds no pairs");
    let (hub, runtime) = hub_and_runtime(loaded)?;
    let progress = Progress::new("storing and looking up", "pairs");
    let threshold = settings.cache.threshold;
    let looked = runtime.block_on(async {
        let cache = hoard::Cache::in_memory();
        let semantic =
            hoard_semantic::SemanticCache::open(cache, &settings.embedder, &hub, settings.cache)
                .await?;
        let update = |done: usize, total: usize| progress.update(done as u64, total as u64);
        anyhow::Ok(conv::run(&semantic, &pairs, "eval-", &update).await?)
    })?;
    progress.finish();
    let rows = conv::table(&pairs, &looked);
    if json {
        let body =
            serde_json::json!({ "pairs": pairs.len(), "threshold": threshold, "categories": rows });
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    println!("{} chat pairs, threshold {threshold}\n", pairs.len());
    println!(
        "{:<18} {:>6} {:>11} {:>8} {:>9} {:>8} {:>8}  refused by",
        "category", "traps", "wrong hits", "repeats", "served", "p50 ms", "p99 ms"
    );
    for row in &rows {
        let refused: Vec<String> = row
            .refused_by
            .iter()
            .map(|(check, n)| format!("{check} {n}"))
            .collect();
        let rate = |n: u64, of: u64, r: f64| {
            if of == 0 {
                "-".to_owned()
            } else {
                format!("{n} ({})", percent(r))
            }
        };
        println!(
            "{:<18} {:>6} {:>11} {:>8} {:>9} {:>8.1} {:>8.1}  {}",
            row.category,
            row.traps,
            rate(row.wrong_hits, row.traps, row.wrong_hit_rate),
            row.repeats,
            rate(row.served, row.repeats, row.served_rate),
            row.p50_ms,
            row.p99_ms,
            refused.join(", ")
        );
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct Best {
    wrong_hit_budget: f64,
    cosine_only: Option<Row>,
    guarded: Option<Row>,
}

#[derive(serde::Serialize)]
struct Refusal {
    verdict: Verdict,
    same_pairs: u64,
    different_pairs: u64,
}

#[derive(serde::Serialize)]
struct Report {
    pairs: usize,
    same: usize,
    default_threshold: f32,
    /// The verifier that judged the pairs the guards passed, if any.
    verifier: Option<String>,
    cosine_only: Vec<Row>,
    guarded: Vec<Row>,
    best: Vec<Best>,
    refusals: Vec<Refusal>,
    by_kind: BTreeMap<String, Row>,
}

/// One line per pair: `{"kind", "same", "similarity", "verifier", "verdict"}`.
fn write_scores(path: &Path, pairs: &[eval::Pair], scored: &[Scored]) -> anyhow::Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for (pair, s) in pairs.iter().zip(scored) {
        let line = serde_json::json!({
            "kind": pair.kind,
            "same": s.same,
            "similarity": s.similarity,
            "verifier": s.verifier,
            "verdict": s.verdict,
        });
        writeln!(out, "{line}").with_context(|| format!("writing {}", path.display()))?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn by_kind(pairs: &[eval::Pair], scored: &[Scored], threshold: f32) -> BTreeMap<String, Row> {
    let mut groups: BTreeMap<String, Vec<Scored>> = BTreeMap::new();
    for (pair, s) in pairs.iter().zip(scored) {
        if let Some(kind) = &pair.kind {
            groups.entry(kind.clone()).or_default().push(*s);
        }
    }
    groups
        .into_iter()
        .map(|(kind, scored)| (kind, eval::row(&scored, threshold, true)))
        .collect()
}

fn percent(value: f64) -> String {
    format!("{:.1}%", value * 100.0)
}

impl Report {
    fn table(&self) -> String {
        let mut out = format!("{} pairs ({} labelled same)\n\n", self.pairs, self.same);
        let checked = match &self.verifier {
            Some(verifier) => format!("with guards and verifier {verifier} (hoard's default)"),
            None => "with guards (hoard's default; no verifier)".to_owned(),
        };
        for (title, rows) in [
            ("cosine threshold only", &self.cosine_only),
            (checked.as_str(), &self.guarded),
        ] {
            out.push_str(&format!(
                "{title}\n{:>9} {:>10} {:>8} {:>10} {:>9}\n",
                "threshold", "precision", "recall", "wrong hit", "hit rate"
            ));
            for row in rows {
                out.push_str(&format!(
                    "{:>9.2} {:>10} {:>8} {:>10} {:>9}\n",
                    row.threshold,
                    percent(row.precision),
                    percent(row.recall),
                    percent(row.wrong_hit_rate),
                    percent(row.hit_rate)
                ));
            }
            out.push('\n');
        }
        for best in &self.best {
            let show = |row: &Option<Row>| match row {
                Some(row) => format!("{} at {:.2}", percent(row.recall), row.threshold),
                None => "-".into(),
            };
            out.push_str(&format!(
                "best recall with at most {} wrong hits: cosine only {}, with guards {}\n",
                percent(best.wrong_hit_budget),
                show(&best.cosine_only),
                show(&best.guarded)
            ));
        }
        if !self.refusals.is_empty() {
            out.push_str(&format!(
                "\nguard refusals above {:.2} (same pairs lost / different pairs saved):\n",
                self.default_threshold
            ));
            for refusal in &self.refusals {
                out.push_str(&format!(
                    "  {:<12} {:>6} / {:>6}\n",
                    serde_json::to_value(refusal.verdict)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    refusal.same_pairs,
                    refusal.different_pairs
                ));
            }
        }
        if !self.by_kind.is_empty() {
            out.push_str(&format!(
                "\nby kind at {:.2}, hoard's default checks:\n",
                self.default_threshold
            ));
            for (kind, row) in &self.by_kind {
                out.push_str(&format!(
                    "  {kind:<12} hit rate {:>6}  wrong hit {:>6}\n",
                    percent(row.hit_rate),
                    percent(row.wrong_hit_rate)
                ));
            }
        }
        out
    }
}

//! The suite's Markdown: the targets, the latency, int8, stage and recall tables, the
//! wrong-hit tables, and the method paragraph.

use super::evaluation::{Evaluation, KindHits, THRESHOLDS};
use super::lookups::REPEATS;
use super::sizes::SizeResult;
use hoard_semantic::eval::{self, Row, Scored};
use hoard_semantic::hnsw::HnswParams;
use hoard_semantic::SemanticConfig;
use std::fmt::Write as _;
use std::time::Duration;

/// Everything the tables are made from.
pub(super) struct Report<'a> {
    /// One per stored-set size, smallest first.
    pub(super) sizes: &'a [SizeResult],
    pub(super) evaluation: &'a Evaluation,
    pub(super) kinds: &'a [KindHits],
    pub(super) config: &'a SemanticConfig,
    pub(super) params: HnswParams,
    pub(super) dim: usize,
    /// Held-out questions searched as vectors, and how many of them were embedded.
    pub(super) queries: usize,
    pub(super) embedded_queries: usize,
    /// Real stored questions, the largest stored set, and how many of it are synthetic.
    pub(super) real: usize,
    pub(super) largest: usize,
    pub(super) synthetic_count: usize,
    /// The verifier's model id.
    pub(super) verifier_id: &'a str,
}

impl Report<'_> {
    /// The suite's tables, headed by the targets.
    pub(super) fn markdown(&self) -> String {
        let mut out = self.targets();
        self.latency(&mut out);
        self.quantized(&mut out);
        self.stages(&mut out);
        self.recall(&mut out);
        self.wrong_hits(&mut out);
        out
    }

    /// The goals of the semantic cache, each with what this run measured.
    fn targets(&self) -> String {
        let default_t = self.config.threshold;
        let (qqp, traps) = (&self.evaluation.qqp, &self.evaluation.traps);
        let trap_row = eval::row(traps, default_t, true);
        let qqp_row = eval::row(qqp, default_t, true);
        // Recall over the trap fixture's own paraphrase pairs.
        let trap_paraphrase_recall = trap_row.recall;
        // The last run at 10,000 entries, should the sizes repeat it.
        let exact_p50_10k = self
            .sizes
            .iter()
            .rfind(|size| size.n == 10_000)
            .map(|size| size.exact_search.0);
        let recalls: Vec<(usize, f64)> = self
            .sizes
            .iter()
            .flat_map(|size| {
                size.recall
                    .iter()
                    .filter(|row| row.ef == self.params.ef_search)
                    .map(|row| (size.n, row.r1))
            })
            .collect();
        let int8_10k = self
            .sizes
            .iter()
            .rfind(|size| size.n == 10_000)
            .map(|size| &size.quantized);
        let int8_recalls: Vec<(usize, f64)> = self
            .sizes
            .iter()
            .filter_map(|size| {
                let r1 = size.quantized.recall.iter().find(|r| r.k == 1)?;
                Some((size.n, r1.found))
            })
            .collect();
        let int8_ok = int8_10k.is_some_and(|q| q.int8.0 <= 0.4)
            && !int8_recalls.is_empty()
            && int8_recalls.iter().all(|(_, r)| *r >= 0.99);
        let wrong_ok = trap_row.wrong_hit_rate <= 0.02;
        let serve_ok = qqp_row.recall >= 0.40;
        let search_ok = exact_p50_10k.is_some_and(|ms| ms < 1.0);
        let recall_ok = !recalls.is_empty() && recalls.iter().all(|(_, r)| *r >= 0.95);
        let mut out = String::new();
        out.push_str("#### Targets\n\n| target | measured | |\n|---|---|---|\n");
        let _ = writeln!(
            out,
            "| default settings (threshold {default_t:.2}, every guard): wrong hits at most 2% of trap pairs | {} of the {} trap pairs labelled different | {} |",
            pct(trap_row.wrong_hit_rate),
            traps.iter().filter(|s| !s.same).count(),
            met(wrong_ok)
        );
        let _ = writeln!(
            out,
            "| ... while serving at least 40% of true paraphrase pairs | {} of the {} QQP duplicate pairs (and {} of the trap fixture's {} paraphrases) | {} |",
            pct(qqp_row.recall),
            qqp.iter().filter(|s| s.same).count(),
            pct(trap_paraphrase_recall),
            traps.iter().filter(|s| s.same).count(),
            met(serve_ok && wrong_ok)
        );
        let _ = writeln!(
            out,
            "| search alone under 1 ms p50 at 10,000 entries (exact index) | {} | {} |",
            exact_p50_10k.map_or("not run (add 10000 to --semantic-entries)".into(), fmt_ms),
            met(search_ok)
        );
        let int8_text: Vec<String> = int8_recalls
            .iter()
            .map(|(n, r)| format!("recall@1 {r:.3} at {n} entries"))
            .collect();
        let _ = writeln!(
            out,
            "| exact index (int8 scan, f32 rescoring): at most 0.4 ms p50 at 10,000 entries with recall@1 at least 0.99 against the f32 scan | {} p50 (f32 scan {} in the same run); {} | {} |",
            int8_10k.map_or("not run".into(), |q| fmt_ms(q.int8.0)),
            int8_10k.map_or("not run".into(), |q| fmt_ms(q.flat.0)),
            int8_recalls_text(&int8_text),
            met(int8_ok)
        );
        let recall_text: Vec<String> = recalls
            .iter()
            .map(|(n, r)| format!("{r:.3} at {n} entries"))
            .collect();
        let _ = writeln!(
            out,
            "| approximate index recall@1 at least 0.95 (HNSW, default parameters) | {} | {} |\n",
            recall_text.join(", "),
            met(recall_ok)
        );
        out
    }

    /// Search alone, embedding plus search and the whole lookup, per size and index.
    fn latency(&self, out: &mut String) {
        let (k, default_t, largest, real) = (
            self.config.candidates,
            self.config.threshold,
            self.largest,
            self.real,
        );
        let _ = writeln!(
            out,
            "#### Lookup latency\n\nStored: the first N unique QQP questions (real MiniLM vectors, {} dimensions){}. \
             Search alone: {} held-out questions (never stored) as query vectors, k = {k} (the default `candidates`). \
             Embed + search: the first {} of them embedded one at a time by the model, then searched. \
             The three indexes are timed one after another (see the next table for the two exact ones alternating). Whole lookup: `SemanticCache::lookup` with the default configuration (exact index, threshold {default_t:.2}, every guard) over an in-memory hoard cache holding the N entries; it embeds the query, searches, checks the candidates and reads a hit's entry.\n",
            self.dim,
            if self.synthetic_count > 0 {
                format!(
                    "; only the first {real} are real (embedding 100,000 questions would take minutes per run), so entries {}-{largest} are synthetic, each the normalized sum of two random real vectors plus uniform noise of +-0.02 per component (same distribution of norms and directions as real questions, no duplicates), and their texts are placeholders",
                    real + 1
                )
            } else {
                String::new()
            },
            self.queries,
            self.embedded_queries
        );
        out.push_str(
            "| entries (load average when measured) | index | search alone p50 | p95 | embed + search p50 | p95 | whole `SemanticCache::lookup` p50 | p95 | build |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let params = self.params;
        for size in self.sizes {
            let n = size.n;
            let _ = writeln!(
                out,
                "| {n} (load {}) | exact: int8 scan + f32 rescoring (`ExactIndex`, the default) | **{}** | {} | {} | {} | {} | {} | {:.2} s |",
                size.load,
                fmt_ms(size.exact_search.0),
                fmt_ms(size.exact_search.1),
                fmt_ms(size.exact_embed.0),
                fmt_ms(size.exact_embed.1),
                fmt_ms(size.lookups.p50),
                fmt_ms(size.lookups.p95),
                size.exact_build.as_secs_f64()
            );
            let _ = writeln!(
                out,
                "| {n} | exact: f32 scan (`FlatIndex`) | **{}** | {} | {} | {} | not run | | {:.2} s |",
                fmt_ms(size.flat_search.0),
                fmt_ms(size.flat_search.1),
                fmt_ms(size.flat_embed.0),
                fmt_ms(size.flat_embed.1),
                size.flat_build.as_secs_f64()
            );
            let _ = writeln!(
                out,
                "| {n} | HNSW (m {}, ef_construction {}, ef_search {}) | **{}** | {} | {} | {} | not run | | {:.1} s |",
                params.m,
                params.ef_construction,
                params.ef_search,
                fmt_ms(size.hnsw_search.0),
                fmt_ms(size.hnsw_search.1),
                fmt_ms(size.hnsw_embed.0),
                fmt_ms(size.hnsw_embed.1),
                size.hnsw_build.as_secs_f64()
            );
        }
        out.push('\n');
    }

    /// The exact index against the f32 scan: latency in the same rounds, and recall.
    fn quantized(&self, out: &mut String) {
        let k = self.config.candidates;
        let _ = writeln!(
            out,
            "#### Exact search: int8 scan + f32 rescoring against the f32 scan\n\n\
             Same stored vectors and {} held-out queries; latency at k = {k}. `ExactIndex` scans int8 codes of the vectors (one scale per vector; the query as int16), rescores the best max(4k, 32) with the f32 vectors, and proves from the measured quantization error that no vector left out could reach the top k; when the proof fails it rescans, rescoring every vector whose bound reaches the k-th score. \
             Latency: both indexes searched {} times over the queries, alternating which goes first, p50/p95 over every search. \
             Recall against `FlatIndex` (the f32 scan; ties count): *first pass* is the top k of the rescored candidates alone (an int8 index that rescores without proving), *returned* what `ExactIndex` returns; *identical* counts answers equal to the f32 scan's in ids, order and score bits. Proved: searches answered without the rescan; f32 read: vectors rescored per search (max(4k, 32) when proved).\n",
            self.queries,
            self.sizes.first().map_or(0, |s| s.quantized.rounds),
        );
        out.push_str(
            "| entries | f32 scan p50 | p95 | int8 + rescoring p50 | p95 | p50 ratio | k | first pass recall@k | returned recall@k | identical | proved | f32 read |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for size in self.sizes {
            let q = &size.quantized;
            for (i, r) in q.recall.iter().enumerate() {
                let lead = if i == 0 {
                    format!(
                        "| {} | {} | {} | **{}** | {} | {:.2}x |",
                        size.n,
                        fmt_ms(q.flat.0),
                        fmt_ms(q.flat.1),
                        fmt_ms(q.int8.0),
                        fmt_ms(q.int8.1),
                        q.int8.0 / q.flat.0
                    )
                } else {
                    format!("| {} | | | | | |", size.n)
                };
                let _ = writeln!(
                    out,
                    "{lead} {} | {:.4} | {:.4} | {:.1}% | {:.1}% | {:.1} |",
                    r.k,
                    r.first_pass,
                    r.found,
                    r.identical * 100.0,
                    r.proved * 100.0,
                    r.rescored
                );
            }
        }
        let _ = writeln!(
            out,
            "
Memory: `ExactIndex` holds each vector as f32 (for rescoring) plus {} bytes of codes and 12 bytes of scale and error bounds: {} bytes per vector against the f32 scan's {} (+{:.0}%), while a search reads a quarter as many.
",
            self.dim,
            5 * self.dim + 12,
            4 * self.dim,
            (self.dim + 12) as f64 / (4 * self.dim) as f64 * 100.0
        );
    }

    /// The stages of a lookup that reaches the verifier, per size.
    fn stages(&self, out: &mut String) {
        let k = self.config.candidates;
        let _ = writeln!(
            out,
            "#### Stages of a lookup that reaches the verifier\n\n\
             The first {REPEATS} real stored questions asked again after a greeting (\"Hi, ...\"), so each clears the threshold and the verifier's model judges it (questions with the very same words would skip the model). \
             Whole lookup: `SemanticCache::lookup` as above (default configuration, with the verifier `{}`); then each stage of the same lookup alone: the query embedded, the exact index searched (k = {k}), the verifier run on the pair (stored, asked).\n",
            self.verifier_id
        );
        out.push_str(
            "| entries | embed p50 | search p50 | verifier p50 | whole lookup p50 | p95 | hits |\n\
             |---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for size in self.sizes {
            let stages = &size.lookups.stages;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | **{}** | {} | {} of {} |",
                size.n,
                fmt_ms(stages.embed_p50),
                fmt_ms(stages.search_p50),
                fmt_ms(stages.verify_p50),
                fmt_ms(stages.whole_p50),
                fmt_ms(stages.whole_p95),
                stages.hits,
                stages.repeats
            );
        }
        out.push('\n');
    }

    /// HNSW recall against exact search, per size and `ef_search`.
    fn recall(&self, out: &mut String) {
        let params = self.params;
        let _ = writeln!(
            out,
            "#### HNSW recall against exact search\n\nSame stored vectors and {} held-out queries, truth from the f32 scan (`FlatIndex`); m {}, ef_construction {}; recall@k counts the exact top k found (ties count).\n",
            self.queries,
            params.m,
            params.ef_construction
        );
        out.push_str(
            "| entries | ef_search | recall@1 | recall@4 | search p50 | p95 |\n|---:|---:|---:|---:|---:|---:|\n",
        );
        for size in self.sizes {
            for row in &size.recall {
                let mark = if row.ef == params.ef_search {
                    " (default)"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "| {} | {}{mark} | {:.3} | {:.3} | {} | {} |",
                    size.n,
                    row.ef,
                    row.r1,
                    row.rk,
                    fmt_ms(row.p50),
                    fmt_ms(row.p95)
                );
            }
        }
        out.push('\n');
    }

    /// Wrong hits on QQP and on the trap pairs, and the trap pairs' hits by kind.
    fn wrong_hits(&self, out: &mut String) {
        let default_t = self.config.threshold;
        let (qqp, traps) = (&self.evaluation.qqp, &self.evaluation.traps);
        let _ = writeln!(
            out,
            "#### Wrong hits on QQP ({} pairs, {} duplicates)\n\nEach pair: `a` stored, `b` asked. Wrong hit = a hit on a pair labelled different.\n",
            qqp.len(),
            qqp.iter().filter(|s| s.same).count()
        );
        eval_table(out, qqp, default_t);
        let _ = writeln!(
            out,
            "#### Wrong hits on the trap pairs ({} pairs: {} paraphrases, {} traps; `crates/hoard-semantic/tests/fixtures/traps.jsonl`)\n",
            traps.len(),
            traps.iter().filter(|s| s.same).count(),
            traps.iter().filter(|s| !s.same).count()
        );
        eval_table(out, traps, default_t);
        let _ = writeln!(
            out,
            "Hits at the default threshold {default_t:.2} by kind:\n"
        );
        out.push_str(
            "| kind | pairs | cosine only: hits | guarded: hits |\n|---|---:|---:|---:|\n",
        );
        for kind in self.kinds {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                kind.kind, kind.pairs, kind.cosine_only, kind.guarded
            );
        }
        out.push('\n');
    }
}

/// The int8 recalls of the targets table, or why there are none.
fn int8_recalls_text(recalls: &[String]) -> String {
    if recalls.is_empty() {
        "no recall measured".into()
    } else {
        recalls.join(", ")
    }
}

/// Where the vectors came from: embedded by this run (how fast), or read back.
pub(super) fn embed_note(embedded: usize, embed_time: Duration, cached_before: usize) -> String {
    if embedded > 0 {
        format!(
            "This run embedded {embedded} texts in {:.0} s ({:.0} texts/s, batches of {}, {} threads) and cached them in `~/.cache/hoard-bench`.",
            embed_time.as_secs_f64(),
            embedded as f64 / embed_time.as_secs_f64().max(1e-9),
            hoard_semantic::embed::bert::BertOptions::default().batch_size,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        )
    } else {
        format!(
            "Vectors read from the cache in `~/.cache/hoard-bench` ({cached_before} texts, embedded by an earlier run of this suite)."
        )
    }
}

/// The method paragraph: machine, load, model, how latencies and the evaluation were taken.
pub(super) fn method(load: &str, embed_note: &str, context_threshold: f32) -> String {
    format!(
        "Machine: {}. Load average when the run began: {load}. Model: all-MiniLM-L6-v2 run by hoard's encoder on the CPU (`BertEmbedder`, batches of {}). {embed_note} \
         Latencies are single-threaded, one query at a time, p50/p95 over every query. Evaluation via `hoard_semantic::eval` (`score`, `row`, `best_recall`, `refusals`), guards = `Guards::all()`, context threshold {}.",
        crate::report::machine(),
        hoard_semantic::embed::bert::BertOptions::default().batch_size,
        context_threshold,
    )
}

fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn met(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**not met**"
    }
}

/// Precision, recall, wrong hits and hit rate at every threshold of [`THRESHOLDS`], with
/// and without the checks; the best recall within a wrong-hit budget; what the checks
/// refused at the default threshold.
fn eval_table(out: &mut String, scored: &[Scored], default_threshold: f32) {
    out.push_str(
        "| threshold | cosine only: precision | recall | wrong hits | hit rate | guarded: precision | recall | wrong hits | hit rate |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for t in THRESHOLDS {
        let (plain, guarded) = (eval::row(scored, t, false), eval::row(scored, t, true));
        let mark = if (t - default_threshold).abs() < 1e-6 {
            " (default)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| {t:.2}{mark} | {} | {} | {} | {} | {} | {} | {} | {} |",
            pct(plain.precision),
            pct(plain.recall),
            pct(plain.wrong_hit_rate),
            pct(plain.hit_rate),
            pct(guarded.precision),
            pct(guarded.recall),
            pct(guarded.wrong_hit_rate),
            pct(guarded.hit_rate),
        );
    }
    out.push('\n');
    let best = |budget: f64, guarded: bool| match eval::best_recall(scored, budget, guarded) {
        Some(Row {
            threshold, recall, ..
        }) => format!("{} (threshold {threshold:.2})", pct(recall)),
        None => "none".to_owned(),
    };
    let _ = writeln!(
        out,
        "Best recall with wrong hits at most 1%: cosine only {}, guarded {}; at most 5%: cosine only {}, guarded {}.\n",
        best(0.01, false),
        best(0.01, true),
        best(0.05, false),
        best(0.05, true),
    );
    let refusals = eval::refusals(scored, default_threshold);
    if !refusals.is_empty() {
        let parts: Vec<String> = refusals
            .iter()
            .map(|(verdict, same, different)| {
                format!("{verdict:?}: {same} true pairs lost, {different} wrong hits saved")
            })
            .collect();
        let _ = writeln!(
            out,
            "Guard refusals above {default_threshold:.2}: {}.\n",
            parts.join("; ")
        );
    }
}

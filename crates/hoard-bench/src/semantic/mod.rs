//! The `semantic` suite (issue 9): lookup latency of the semantic cache at 10,000 and
//! 100,000 entries (search alone, embedding plus search, the whole `SemanticCache::lookup`),
//! HNSW recall@1 against exact search, and the wrong-hit evaluation on Quora question
//! pairs and on the trap fixture, all with the real all-MiniLM-L6-v2 weights.
//!
//! Stored vectors are real embeddings of the unique QQP questions. Embedding them all takes
//! minutes on two cores, so they are kept in a file under `~/.cache/hoard-bench` (keyed by
//! the model's name and weights size): reruns read them back in seconds.
//!
//! Needs the `semantic` feature (the local encoder); without it the suite says how to build it.

use crate::Options;

/// The section title in BENCHMARKS.md.
pub const TITLE: &str = "Semantic cache: lookup latency, HNSW recall, wrong hits";

/// Runs the suite: the Markdown tables and the method paragraph.
#[cfg(not(feature = "semantic"))]
pub fn run(_options: &Options) -> anyhow::Result<(String, String)> {
    anyhow::bail!(
        "the semantic suite runs the MiniLM model locally, which this build leaves out: \
         rebuild with the `semantic` feature, e.g. \
         `cargo run --release -p hoard-bench --features semantic -- --suites semantic`"
    )
}

#[cfg(feature = "semantic")]
pub use imp::run;

#[cfg(feature = "semantic")]
mod imp {
    use super::Options;
    use anyhow::Context as _;
    use hoard_semantic::cache::SemanticConfig;
    use hoard_semantic::embed::bert::{BertEmbedder, BertOptions};
    use hoard_semantic::eval::{self, Pair, Row, Scored};
    use hoard_semantic::hnsw::{recall_at, HnswIndex, HnswParams};
    use hoard_semantic::index::{ExactIndex, VectorIndex};
    use hoard_semantic::verify::cross::CrossEncoder;
    use hoard_semantic::{Embedder, Query, SemanticCache, SemanticError, Store};
    use std::collections::HashMap;
    use std::fmt::Write as _;
    use std::io::{BufWriter, Read, Write};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Thresholds of the evaluation tables.
    const THRESHOLDS: [f32; 6] = [0.70, 0.75, 0.80, 0.85, 0.90, 0.95];
    /// ef_search values of the HNSW sweep.
    const EF_SWEEP: [usize; 5] = [16, 32, 64, 128, 256];
    /// Texts embedded per call while filling the vector cache.
    const EMBED_CHUNK: usize = 256;
    /// Stored questions asked again to time a lookup that reaches the verifier.
    const REPEATS: usize = 100;
    /// Magic first line of the vector cache file.
    const CACHE_MAGIC: &[u8] = b"hoard-bench vectors v1\n";

    /// Vectors by text, backed by a file, with the model for texts it has not seen.
    ///
    /// As an [`Embedder`] it answers from the file while `precomputed` is on (bulk stores,
    /// the evaluation) and runs the model for every text once it is off (timed lookups).
    struct Vectors {
        model: BertEmbedder,
        by_text: HashMap<String, Vec<f32>>,
        file: PathBuf,
        precomputed: AtomicBool,
        /// Synthetic stored vectors of the whole-lookup runs, by their made-up text.
        extra: std::sync::Mutex<HashMap<String, Vec<f32>>>,
    }

    impl Vectors {
        fn open(model: BertEmbedder, file: PathBuf) -> anyhow::Result<Vectors> {
            let dim = model.dim();
            let mut by_text = HashMap::new();
            match std::fs::File::open(&file) {
                Ok(f) => {
                    let mut bytes = Vec::new();
                    std::io::BufReader::new(f).read_to_end(&mut bytes)?;
                    by_text = parse_cache(&bytes, dim)
                        .with_context(|| format!("reading the vector cache {}", file.display()))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            Ok(Vectors {
                model,
                by_text,
                file,
                precomputed: AtomicBool::new(true),
                extra: Default::default(),
            })
        }

        /// Embeds the texts not cached yet, appending them to the file as it goes (an
        /// interrupted run keeps what it embedded). Returns how many were embedded and how
        /// long that took.
        fn fill(&mut self, texts: &[String]) -> anyhow::Result<(usize, Duration)> {
            // In the order asked (stored questions first), so an interrupted run has cached
            // what the next one needs first.
            let mut seen = std::collections::HashSet::new();
            let missing: Vec<String> = texts
                .iter()
                .filter(|t| !self.by_text.contains_key(t.as_str()) && seen.insert(t.as_str()))
                .cloned()
                .collect();
            if missing.is_empty() {
                return Ok((0, Duration::ZERO));
            }
            if let Some(dir) = self.file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let fresh = !self.file.exists();
            let mut out = BufWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.file)?,
            );
            if fresh {
                out.write_all(CACHE_MAGIC)?;
            }
            let started = Instant::now();
            let mut done = 0usize;
            for chunk in missing.chunks(EMBED_CHUNK) {
                let vectors = self.model.embed_blocking(chunk)?;
                anyhow::ensure!(vectors.len() == chunk.len(), "the model lost texts");
                for (text, vector) in chunk.iter().zip(vectors) {
                    out.write_all(&(text.len() as u32).to_le_bytes())?;
                    out.write_all(text.as_bytes())?;
                    for x in &vector {
                        out.write_all(&x.to_le_bytes())?;
                    }
                    self.by_text.insert(text.clone(), vector);
                }
                out.flush()?;
                done += chunk.len();
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "  embedded {done}/{} texts ({:.0}/s)",
                    missing.len(),
                    done as f64 / secs.max(1e-9)
                );
            }
            Ok((done, started.elapsed()))
        }

        fn get(&self, text: &str) -> anyhow::Result<&[f32]> {
            self.by_text
                .get(text)
                .map(Vec::as_slice)
                .with_context(|| format!("no vector for {text:?}"))
        }
    }

    /// Records of `u32 length, text, dim f32` after the magic line; a truncated last record
    /// (an interrupted write) is dropped.
    fn parse_cache(bytes: &[u8], dim: usize) -> anyhow::Result<HashMap<String, Vec<f32>>> {
        let mut rest = bytes
            .strip_prefix(CACHE_MAGIC)
            .context("not a hoard-bench vector cache (delete it to rebuild)")?;
        let mut by_text = HashMap::new();
        while rest.len() >= 4 {
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let need = 4 + len + 4 * dim;
            if rest.len() < need {
                break;
            }
            let text = std::str::from_utf8(&rest[4..4 + len])?.to_owned();
            let vector = rest[4 + len..need]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            by_text.insert(text, vector);
            rest = &rest[need..];
        }
        Ok(by_text)
    }

    #[async_trait::async_trait]
    impl Embedder for Vectors {
        fn id(&self) -> &str {
            self.model.id()
        }

        fn dim(&self) -> usize {
            self.model.dim()
        }

        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, SemanticError> {
            if self.precomputed.load(Ordering::Relaxed) {
                let extra = self.extra.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(found) = texts
                    .iter()
                    .map(|t| self.by_text.get(t).or_else(|| extra.get(t)).cloned())
                    .collect::<Option<Vec<_>>>()
                {
                    return Ok(found);
                }
            }
            // What `SemanticCache` does with a real model: off the async threads.
            Embedder::embed(&self.model, texts).await
        }
    }

    /// `count` unit vectors made from the real ones: each is the normalized sum of two real
    /// vectors picked at random (a question "between" two real ones), plus a little noise
    /// so that no two coincide. Seeded: every run makes the same ones.
    fn synthetic(real: &[Vec<f32>], count: usize, dim: usize) -> Vec<Vec<f32>> {
        use rand::{Rng, SeedableRng};
        if real.is_empty() {
            return Vec::new();
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5E3A_B3C4);
        (0..count)
            .map(|_| {
                let a = &real[rng.random_range(0..real.len())];
                let b = &real[rng.random_range(0..real.len())];
                let mut v: Vec<f32> = (0..dim)
                    .map(|i| a[i] + b[i] + rng.random_range(-0.02f32..0.02))
                    .collect();
                hoard_semantic::embed::normalize(&mut v);
                v
            })
            .collect()
    }

    /// The 1, 5 and 15 minute load averages: the machine is shared, and latencies follow it.
    fn loadavg() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into())
    }

    /// p50 and p95 of `samples`, in milliseconds.
    fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
        samples.sort();
        let at = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
        };
        (at(0.50), at(0.95))
    }

    fn time_searches(index: &dyn VectorIndex, queries: &[&[f32]], k: usize) -> (f64, f64) {
        // A few untimed searches first: page faults and cold caches are not the steady state.
        for q in queries.iter().take(20) {
            std::hint::black_box(index.search(q, k));
        }
        let mut samples: Vec<Duration> = queries
            .iter()
            .map(|q| {
                let started = Instant::now();
                std::hint::black_box(index.search(q, k));
                started.elapsed()
            })
            .collect();
        percentiles(&mut samples)
    }

    fn time_embed_and_search(
        model: &BertEmbedder,
        index: &dyn VectorIndex,
        texts: &[String],
        k: usize,
    ) -> anyhow::Result<(f64, f64)> {
        let mut samples = Vec::with_capacity(texts.len());
        for text in texts {
            let started = Instant::now();
            let vector = model
                .embed_blocking(std::slice::from_ref(text))?
                .pop()
                .context("no vector")?;
            std::hint::black_box(index.search(&vector, k));
            samples.push(started.elapsed());
        }
        Ok(percentiles(&mut samples))
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

    fn vector_cache_file(model_dir: &Path, model: &BertEmbedder) -> anyhow::Result<PathBuf> {
        let base = match std::env::var_os("XDG_CACHE_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from(
                std::env::var_os("HOME")
                    .context("HOME is not set: no place for the vector cache")?,
            )
            .join(".cache"),
        };
        // The weights' size tells different snapshots of one model name apart.
        let weights = std::fs::metadata(model_dir.join("model.safetensors"))
            .map(|m| m.len())
            .unwrap_or(0);
        let name: String = model
            .id()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Ok(base
            .join("hoard-bench")
            .join(format!("qqp-vectors-{name}-{weights}.bin")))
    }

    fn model_dir(options: &Options) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &options.minilm_dir {
            return Ok(dir.clone());
        }
        if let Some(dir) = std::env::var_os("HOARD_MINILM_DIR").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        let fallback = PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/hoard-test-models/all-MiniLM-L6-v2");
        anyhow::ensure!(
            fallback.join("model.safetensors").is_file(),
            "no MiniLM weights: pass --minilm-dir, set HOARD_MINILM_DIR, or run scripts/fetch-minilm.sh \
             (it fetches them into {})",
            fallback.display()
        );
        Ok(fallback)
    }

    /// Runs the suite: the Markdown tables and the method paragraph.
    pub fn run(options: &Options) -> anyhow::Result<(String, String)> {
        let load = loadavg();
        let config = SemanticConfig::default();
        let k = config.candidates;
        let dir = model_dir(options)?;
        let model = BertEmbedder::from_dir(&dir, BertOptions::default())
            .with_context(|| format!("loading the model in {}", dir.display()))?;
        let dim = model.dim();
        eprintln!("semantic: model {} from {}", model.id(), dir.display());
        let verifier = CrossEncoder::load(&dir)
            .with_context(|| format!("loading the verifier over {}", dir.display()))?;

        // --- data ---
        let all_pairs = eval::read_pairs(&options.qqp_file).with_context(|| {
            format!(
                "reading QQP pairs from {} (--qqp-file)",
                options.qqp_file.display()
            )
        })?;
        let mut unique: Vec<String> = Vec::new();
        {
            let mut seen = std::collections::HashSet::new();
            for p in &all_pairs {
                for t in [&p.a, &p.b] {
                    if seen.insert(t.as_str()) {
                        unique.push(t.clone());
                    }
                }
            }
        }
        let largest = options.semantic_entries.iter().copied().max().unwrap_or(0);
        let held_out = options.semantic_queries;
        anyhow::ensure!(
            largest + held_out <= unique.len(),
            "--semantic-entries {largest} plus --semantic-queries {held_out} is more than the {} unique QQP questions",
            unique.len()
        );
        let eval_pairs: Vec<Pair> = match options.qqp_pairs {
            0 => all_pairs.clone(),
            n => all_pairs.iter().take(n).cloned().collect(),
        };
        let traps_path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../hoard-semantic/tests/fixtures/traps.jsonl");
        let traps = eval::read_pairs(&traps_path)
            .with_context(|| format!("reading the trap pairs {}", traps_path.display()))?;

        // --- embeddings: every unique question (stored sets, held-out queries, eval) ---
        let cache_file = vector_cache_file(&dir, &model)?;
        let mut vectors = Vectors::open(model.clone(), cache_file.clone())?;
        let cached_before = vectors.by_text.len();
        // Real vectors for the first `real` stored questions; the rest of a larger stored set
        // is made from them (see `synthetic`), when embedding them all would take too long.
        let real = match options.real_vectors {
            0 => largest,
            n => n.min(largest),
        };
        let mut needed: Vec<String> = unique[..real].to_vec();
        needed.extend_from_slice(&unique[unique.len() - held_out..]);
        for p in eval_pairs.iter().chain(&traps) {
            for t in [
                Some(&p.a),
                Some(&p.b),
                p.context_a.as_ref(),
                p.context_b.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                needed.push(t.clone());
            }
        }
        eprintln!(
            "semantic: {} vectors cached in {}",
            cached_before,
            cache_file.display()
        );
        let (embedded, embed_time) = vectors.fill(&needed)?;
        let embed_note = if embedded > 0 {
            format!(
                "This run embedded {embedded} texts in {:.0} s ({:.0} texts/s, batches of {}, {} threads) and cached them in `~/.cache/hoard-bench`.",
                embed_time.as_secs_f64(),
                embedded as f64 / embed_time.as_secs_f64().max(1e-9),
                BertOptions::default().batch_size,
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )
        } else {
            format!(
                "Vectors read from the cache in `~/.cache/hoard-bench` ({cached_before} texts, embedded by an earlier run of this suite)."
            )
        };
        let vectors = Arc::new(vectors);
        let queries: Vec<&[f32]> = unique[unique.len() - held_out..]
            .iter()
            .map(|t| vectors.get(t))
            .collect::<anyhow::Result<_>>()?;
        let embed_texts: Vec<String> = unique[unique.len() - held_out..]
            .iter()
            .take(options.embed_queries)
            .cloned()
            .collect();

        let mut latency = String::from(
            "| entries (load average when measured) | index | search alone p50 | p95 | embed + search p50 | p95 | whole `SemanticCache::lookup` p50 | p95 | build |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let mut stages = String::from(
            "| entries | embed p50 | search p50 | verifier p50 | whole lookup p50 | p95 | hits |\n\
             |---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let mut recall_table = String::from(
            "| entries | ef_search | recall@1 | recall@4 | search p50 | p95 |\n|---:|---:|---:|---:|---:|---:|\n",
        );
        let params = HnswParams::default();
        let mut exact_p50_10k = None;
        let mut recalls: Vec<(usize, f64)> = Vec::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;

        // Stored vectors: real ones first, then the synthetic ones.
        let mut stored_vectors: Vec<Vec<f32>> = unique[..real]
            .iter()
            .map(|t| vectors.get(t).map(<[f32]>::to_vec))
            .collect::<anyhow::Result<_>>()?;
        let synthetic_count = largest - real;
        stored_vectors.extend(synthetic(&stored_vectors, synthetic_count, dim));
        let stored_texts: Vec<String> = (0..largest)
            .map(|i| match unique.get(i) {
                Some(t) if i < real => t.clone(),
                _ => format!("synthetic question {i}"),
            })
            .collect();

        let mut sizes = options.semantic_entries.clone();
        sizes.sort_unstable();
        for &n in &sizes {
            eprintln!("semantic: {n} entries");
            let size_load = loadavg();
            let stored = &stored_texts[..n];
            let started = Instant::now();
            let mut exact = ExactIndex::new(dim);
            for (id, vector) in stored_vectors[..n].iter().enumerate() {
                exact.insert(id as u64, vector);
            }
            let exact_build = started.elapsed();
            let started = Instant::now();
            let mut hnsw = HnswIndex::with_params(dim, params);
            for (id, vector) in stored_vectors[..n].iter().enumerate() {
                hnsw.insert(id as u64, vector);
            }
            let hnsw_build = started.elapsed();
            eprintln!(
                "  built: exact {:.2} s, HNSW {:.1} s",
                exact_build.as_secs_f64(),
                hnsw_build.as_secs_f64()
            );

            let (exact_p50, exact_p95) = time_searches(&exact, &queries, k);
            let (hnsw_p50, hnsw_p95) = time_searches(&hnsw, &queries, k);
            if n == 10_000 {
                exact_p50_10k = Some(exact_p50);
            }
            let (exact_e50, exact_e95) = time_embed_and_search(&model, &exact, &embed_texts, k)?;
            let (hnsw_e50, hnsw_e95) = time_embed_and_search(&model, &hnsw, &embed_texts, k)?;

            // The whole lookup, default configuration (exact index): embedding, partition
            // search, candidate checks, the entry read from the hoard cache.
            let (whole50, whole95, hits) = runtime.block_on(async {
                let cache = hoard::Cache::builder()
                    .memory_bytes(16 << 30)
                    .build()
                    .context("building the hoard cache")?;
                vectors.precomputed.store(true, Ordering::Relaxed);
                let mut extra = HashMap::new();
                for (text, vector) in stored.iter().zip(&stored_vectors).skip(real) {
                    extra.insert(text.clone(), vector.clone());
                }
                *vectors.extra.lock().unwrap_or_else(|e| e.into_inner()) = extra;
                let embedder: Arc<dyn Embedder> = vectors.clone();
                let semantic = SemanticCache::new(cache, embedder, SemanticConfig::default())?
                    .with_verifier(Arc::new(verifier.clone()));
                let items: Vec<(String, serde_json::Value)> = stored
                    .iter()
                    .enumerate()
                    .map(|(i, q)| (q.clone(), serde_json::json!({ "answer": i })))
                    .collect();
                for chunk in items.chunks(10_000) {
                    semantic
                        .store_many("bench", chunk, &Store::default())
                        .await?;
                }
                anyhow::ensure!(semantic.len("bench") == n, "the cache lost entries");
                // From here on every query text goes through the model.
                vectors.precomputed.store(false, Ordering::Relaxed);
                let mut samples = Vec::with_capacity(embed_texts.len());
                let mut hits = 0usize;
                for text in &embed_texts {
                    let started = Instant::now();
                    let hit = semantic.lookup("bench", &Query::new(text.as_str())).await?;
                    samples.push(started.elapsed());
                    hits += usize::from(hit.is_some());
                }
                // Repeats of stored questions after a greeting: each clears the threshold
                // with other words, so the verifier's model runs; each stage is timed
                // alone too.
                let repeats: Vec<(String, String)> = stored[..real.min(n)]
                    .iter()
                    .take(REPEATS)
                    .map(|q| (q.clone(), format!("Hi, {q}")))
                    .collect();
                let (mut whole, mut embed, mut search, mut verify) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                let mut repeat_hits = 0usize;
                for (stored_q, asked) in &repeats {
                    let started = Instant::now();
                    let hit = semantic
                        .lookup("bench", &Query::new(asked.as_str()))
                        .await?;
                    whole.push(started.elapsed());
                    repeat_hits += usize::from(hit.is_some());
                    let started = Instant::now();
                    let vector = model
                        .embed_blocking(std::slice::from_ref(asked))?
                        .pop()
                        .context("no vector")?;
                    embed.push(started.elapsed());
                    let started = Instant::now();
                    std::hint::black_box(exact.search(&vector, k));
                    search.push(started.elapsed());
                    let started = Instant::now();
                    std::hint::black_box(
                        verifier.verify_blocking(&[(stored_q.clone(), asked.clone())])?,
                    );
                    verify.push(started.elapsed());
                }
                vectors.precomputed.store(true, Ordering::Relaxed);
                vectors
                    .extra
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                let (p50, p95) = percentiles(&mut samples);
                let (whole50, whole95) = percentiles(&mut whole);
                let _ = writeln!(
                    stages,
                    "| {n} | {} | {} | {} | **{}** | {} | {repeat_hits} of {} |",
                    fmt_ms(percentiles(&mut embed).0),
                    fmt_ms(percentiles(&mut search).0),
                    fmt_ms(percentiles(&mut verify).0),
                    fmt_ms(whole50),
                    fmt_ms(whole95),
                    repeats.len()
                );
                anyhow::Ok((p50, p95, hits))
            })?;
            eprintln!("  whole lookups: {hits} hits out of {}", embed_texts.len());

            let _ = writeln!(
                latency,
                "| {n} (load {size_load}) | exact | **{}** | {} | {} | {} | {} | {} | {:.2} s |",
                fmt_ms(exact_p50),
                fmt_ms(exact_p95),
                fmt_ms(exact_e50),
                fmt_ms(exact_e95),
                fmt_ms(whole50),
                fmt_ms(whole95),
                exact_build.as_secs_f64()
            );
            let _ = writeln!(
                latency,
                "| {n} | HNSW (m {}, ef_construction {}, ef_search {}) | **{}** | {} | {} | {} | not run | | {:.1} s |",
                params.m,
                params.ef_construction,
                params.ef_search,
                fmt_ms(hnsw_p50),
                fmt_ms(hnsw_p95),
                fmt_ms(hnsw_e50),
                fmt_ms(hnsw_e95),
                hnsw_build.as_secs_f64()
            );

            let owned: Vec<Vec<f32>> = queries.iter().map(|q| q.to_vec()).collect();
            for ef in EF_SWEEP {
                hnsw.set_ef_search(ef);
                let r1 = recall_at(&hnsw, &exact, &owned, 1);
                let r4 = recall_at(&hnsw, &exact, &owned, k);
                let (p50, p95) = time_searches(&hnsw, &queries, k);
                if ef == params.ef_search {
                    recalls.push((n, r1));
                }
                let mark = if ef == params.ef_search {
                    " (default)"
                } else {
                    ""
                };
                let _ = writeln!(
                    recall_table,
                    "| {n} | {ef}{mark} | {r1:.3} | {r4:.3} | {} | {} |",
                    fmt_ms(p50),
                    fmt_ms(p95)
                );
            }
            hnsw.set_ef_search(params.ef_search);
        }

        // --- evaluation ---
        eprintln!("semantic: evaluation");
        let (qqp_scored, trap_scored) = runtime.block_on(async {
            vectors.precomputed.store(true, Ordering::Relaxed);
            let quiet = |_: usize, _: usize| {};
            let verification = eval::Verification {
                verifier: &verifier,
                threshold: config.verifier_threshold,
                min_similarity: THRESHOLDS.iter().copied().fold(config.threshold, f32::min),
            };
            let qqp = eval::score(
                &eval_pairs,
                vectors.as_ref(),
                config.guards,
                config.context_threshold,
                Some(&verification),
                EMBED_CHUNK,
                &quiet,
            )
            .await?;
            let traps = eval::score(
                &traps,
                vectors.as_ref(),
                config.guards,
                config.context_threshold,
                Some(&verification),
                EMBED_CHUNK,
                &quiet,
            )
            .await?;
            anyhow::Ok((qqp, traps))
        })?;
        let default_t = config.threshold;
        let trap_row = eval::row(&trap_scored, default_t, true);
        let qqp_row = eval::row(&qqp_scored, default_t, true);
        // Recall over the trap fixture's own paraphrase pairs.
        let trap_paraphrase_recall = trap_row.recall;

        let mut kinds: Vec<String> = traps.iter().filter_map(|p| p.kind.clone()).collect();
        kinds.sort();
        kinds.dedup();
        let mut per_kind = String::from(
            "| kind | pairs | cosine only: hits | guarded: hits |\n|---|---:|---:|---:|\n",
        );
        for kind in &kinds {
            let scored: Vec<Scored> = traps
                .iter()
                .zip(&trap_scored)
                .filter(|(p, _)| p.kind.as_deref() == Some(kind.as_str()))
                .map(|(_, s)| *s)
                .collect();
            let hits = |guarded: bool| {
                scored
                    .iter()
                    .filter(|s| {
                        s.similarity >= default_t
                            && (!guarded || s.verdict == hoard_semantic::Verdict::Pass)
                    })
                    .count()
            };
            let _ = writeln!(
                per_kind,
                "| {kind} | {} | {} | {} |",
                scored.len(),
                hits(false),
                hits(true)
            );
        }

        // --- targets ---
        let wrong_ok = trap_row.wrong_hit_rate <= 0.02;
        let serve_ok = qqp_row.recall >= 0.40;
        let search_ok = exact_p50_10k.is_some_and(|ms| ms < 1.0);
        let recall_ok = !recalls.is_empty() && recalls.iter().all(|(_, r)| *r >= 0.95);
        let mut out = String::new();
        out.push_str("#### Targets (issue 9)\n\n| target | measured | |\n|---|---|---|\n");
        let _ = writeln!(
            out,
            "| default settings (threshold {default_t:.2}, every guard): wrong hits at most 2% of trap pairs | {} of the {} trap pairs labelled different | {} |",
            pct(trap_row.wrong_hit_rate),
            trap_scored.iter().filter(|s| !s.same).count(),
            met(wrong_ok)
        );
        let _ = writeln!(
            out,
            "| ... while serving at least 40% of true paraphrase pairs | {} of the {} QQP duplicate pairs (and {} of the trap fixture's {} paraphrases) | {} |",
            pct(qqp_row.recall),
            qqp_scored.iter().filter(|s| s.same).count(),
            pct(trap_paraphrase_recall),
            trap_scored.iter().filter(|s| s.same).count(),
            met(serve_ok && wrong_ok)
        );
        let _ = writeln!(
            out,
            "| search alone under 1 ms p50 at 10,000 entries (exact index) | {} | {} |",
            exact_p50_10k.map_or("not run (add 10000 to --semantic-entries)".into(), fmt_ms),
            met(search_ok)
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

        let _ = writeln!(
            out,
            "#### Lookup latency\n\nStored: the first N unique QQP questions (real MiniLM vectors, {dim} dimensions){}. \
             Search alone: {} held-out questions (never stored) as query vectors, k = {k} (the default `candidates`). \
             Embed + search: the first {} of them embedded one at a time by the model, then searched. \
             Whole lookup: `SemanticCache::lookup` with the default configuration (exact index, threshold {default_t:.2}, every guard) over an in-memory hoard cache holding the N entries; it embeds the query, searches, checks the candidates and reads a hit's entry.\n",
            if synthetic_count > 0 {
                format!(
                    "; only the first {real} are real (embedding 100,000 questions would take minutes per run), so entries {}-{largest} are synthetic, each the normalized sum of two random real vectors plus uniform noise of +-0.02 per component (same distribution of norms and directions as real questions, no duplicates), and their texts are placeholders",
                    real + 1
                )
            } else {
                String::new()
            },
            queries.len(),
            embed_texts.len()
        );
        out.push_str(&latency);
        out.push('\n');
        let _ = writeln!(
            out,
            "#### Stages of a lookup that reaches the verifier\n\n\
             The first {REPEATS} real stored questions asked again after a greeting (\"Hi, ...\"), so each clears the threshold and the verifier's model judges it (questions with the very same words would skip the model). \
             Whole lookup: `SemanticCache::lookup` as above (default configuration, with the verifier `{}`); then each stage of the same lookup alone: the query embedded, the exact index searched (k = {k}), the verifier run on the pair (stored, asked).\n",
            hoard_semantic::Verifier::id(&verifier)
        );
        out.push_str(&stages);
        out.push('\n');
        let _ = writeln!(
            out,
            "#### HNSW recall against exact search\n\nSame stored vectors and {} held-out queries; m {}, ef_construction {}; recall@k counts the exact top k found (ties count).\n",
            queries.len(),
            params.m,
            params.ef_construction
        );
        out.push_str(&recall_table);
        out.push('\n');
        let _ = writeln!(
            out,
            "#### Wrong hits on QQP ({} pairs, {} duplicates)\n\nEach pair: `a` stored, `b` asked. Wrong hit = a hit on a pair labelled different.\n",
            qqp_scored.len(),
            qqp_scored.iter().filter(|s| s.same).count()
        );
        eval_table(&mut out, &qqp_scored, default_t);
        let _ = writeln!(
            out,
            "#### Wrong hits on the trap pairs ({} pairs: {} paraphrases, {} traps; `crates/hoard-semantic/tests/fixtures/traps.jsonl`)\n",
            trap_scored.len(),
            trap_scored.iter().filter(|s| s.same).count(),
            trap_scored.iter().filter(|s| !s.same).count()
        );
        eval_table(&mut out, &trap_scored, default_t);
        let _ = writeln!(
            out,
            "Hits at the default threshold {default_t:.2} by kind:\n"
        );
        out.push_str(&per_kind);
        out.push('\n');

        let method = format!(
            "Machine: {}. Load average when the run began: {load}. Model: all-MiniLM-L6-v2 run by hoard's encoder on the CPU (`BertEmbedder`, batches of {}). {embed_note} \
             Latencies are single-threaded, one query at a time, p50/p95 over every query. Evaluation via `hoard_semantic::eval` (`score`, `row`, `best_recall`, `refusals`), guards = `Guards::all()`, context threshold {}.",
            crate::report::machine(),
            BertOptions::default().batch_size,
            config.context_threshold,
        );
        Ok((out, method))
    }
}

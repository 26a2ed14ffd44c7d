//! The suite's data: the model's folder, the QQP questions and the trap pairs, which texts
//! need a vector, and the stored set (real vectors first, synthetic ones past them).

use super::vectors::Vectors;
use crate::Options;
use anyhow::Context as _;
use hoard_semantic::eval::{self, Pair};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The folder of all-MiniLM-L6-v2: `--minilm-dir`, then `$HOARD_MINILM_DIR`, then where
/// scripts/fetch-minilm.sh puts it.
pub(super) fn model_dir(options: &Options) -> anyhow::Result<PathBuf> {
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

/// The questions of one run.
pub(super) struct Questions {
    /// Every question of the QQP file once, in the order first seen: the stored sets are
    /// taken from the front, the held-out queries from the back.
    pub(super) unique: Vec<String>,
    /// The largest stored set asked for (`--semantic-entries`).
    pub(super) largest: usize,
    /// How many held-out questions are searched (`--semantic-queries`).
    held_out: usize,
    /// The QQP pairs of the evaluation (`--qqp-pairs` of them).
    pub(super) eval_pairs: Vec<Pair>,
    /// The trap fixture's pairs.
    pub(super) traps: Vec<Pair>,
}

impl Questions {
    /// Reads the QQP file and the trap fixture; checks the file holds enough questions for
    /// the largest stored set plus the held-out queries.
    pub(super) fn load(options: &Options) -> anyhow::Result<Questions> {
        let all_pairs = eval::read_pairs(&options.qqp_file).with_context(|| {
            format!(
                "reading QQP pairs from {} (--qqp-file)",
                options.qqp_file.display()
            )
        })?;
        let mut unique: Vec<String> = Vec::new();
        {
            let mut seen = HashSet::new();
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
        Ok(Questions {
            unique,
            largest,
            held_out,
            eval_pairs,
            traps,
        })
    }

    /// The held-out questions: never stored, asked as queries.
    pub(super) fn held_out(&self) -> &[String] {
        &self.unique[self.unique.len() - self.held_out..]
    }

    /// How many stored questions get a real vector (`--real-vectors`, 0: all of them); the
    /// rest of a larger stored set is made from these (see [`synthetic`]), when embedding
    /// them all would take too long.
    pub(super) fn real_count(&self, options: &Options) -> usize {
        match options.real_vectors {
            0 => self.largest,
            n => n.min(self.largest),
        }
    }

    /// Every text that needs a real vector: the first `real` stored questions, the held-out
    /// queries, and both sides (with their contexts) of every evaluated pair.
    pub(super) fn texts_to_embed(&self, real: usize) -> Vec<String> {
        let mut needed: Vec<String> = self.unique[..real].to_vec();
        needed.extend_from_slice(self.held_out());
        for p in self.eval_pairs.iter().chain(&self.traps) {
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
        needed
    }
}

/// The largest stored set: each smaller one is a prefix of it.
pub(super) struct StoredSet {
    /// The questions; past `real`, placeholders named `synthetic question {i}`.
    pub(super) texts: Vec<String>,
    /// Their vectors, in the same order.
    pub(super) vectors: Vec<Vec<f32>>,
    /// How many of them are real questions with their real vectors.
    pub(super) real: usize,
}

impl StoredSet {
    /// The first `real` questions of `questions` with their filled vectors, then synthetic
    /// ones up to the largest stored set.
    pub(super) fn build(
        questions: &Questions,
        vectors: &Vectors,
        real: usize,
        dim: usize,
    ) -> anyhow::Result<StoredSet> {
        let largest = questions.largest;
        let mut stored_vectors: Vec<Vec<f32>> = questions.unique[..real]
            .iter()
            .map(|t| vectors.get(t).map(<[f32]>::to_vec))
            .collect::<anyhow::Result<_>>()?;
        stored_vectors.extend(synthetic(&stored_vectors, largest - real, dim));
        let texts: Vec<String> = (0..largest)
            .map(|i| match questions.unique.get(i) {
                Some(t) if i < real => t.clone(),
                _ => format!("synthetic question {i}"),
            })
            .collect();
        Ok(StoredSet {
            texts,
            vectors: stored_vectors,
            real,
        })
    }

    /// How many stored vectors are synthetic.
    pub(super) fn synthetic_count(&self) -> usize {
        self.texts.len() - self.real
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

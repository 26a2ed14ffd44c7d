//! The cross-encoder verifier: all-MiniLM-L6-v2 reading both questions at once.
//!
//! The input is `[CLS] stored [SEP] asked [SEP]`, so every layer's attention compares the
//! words of one question with the words of the other: "add" facing "remove" or "from
//! London to Paris" facing "from Paris to London" changes the first token's state in a way
//! a single vector per question cannot. A dense layer (the pooler) and a one-number head
//! on that first token give the logit; its sigmoid is the probability that one answer
//! serves both.
//!
//! The weights are the user's own all-MiniLM-L6-v2 (the folder `[semantic] model` names)
//! plus a small adapter compiled into hoard (`verifier/minilm-verifier.safetensors`,
//! trained by `verifier/train.py`): low-rank updates (`lora_a`, `lora_b`) added to each
//! dense weight, and new layer norms, pooler and head. The adapter only fits the weights
//! it was trained over, so loading checks the folder's weights against a fingerprint of
//! those and refuses any other model rather than verifying with noise.

use std::path::Path;
use std::sync::Arc;

use tokenizers::{Tokenizer, TruncationParams, TruncationStrategy};

use super::Verifier;
use crate::encoder::ops::Dense;
use crate::encoder::tensors::{Config, Tensor, Tensors};
use crate::encoder::{dense_from, Encoder, Sequence};
use crate::SemanticError;

/// The adapter, trained over all-MiniLM-L6-v2 by `verifier/train.py`.
const ADAPTER: &[u8] = include_bytes!("../../verifier/minilm-verifier.safetensors");

/// Tokens per pair, both questions and the three special tokens (as in training).
const MAX_TOKENS: usize = 64;

/// Sums of absolute values of three tensors of the all-MiniLM-L6-v2 weights the adapter
/// was trained over: a different model of the same shape (paraphrase-MiniLM-L6-v2, a
/// fine-tuned copy) gives other sums.
const FINGERPRINT: [(&str, f64); 3] = [
    ("embeddings.word_embeddings.weight", 508_883.576_595_683_9),
    ("pooler.dense.weight", 1_070.695_890_605_449_7),
    (
        "encoder.layer.5.output.dense.weight",
        16_817.166_923_658_573,
    ),
];

/// The cross-encoder. Clones share the weights.
#[derive(Clone)]
pub struct CrossEncoder {
    inner: Arc<Inner>,
    /// Its own threads, for the reason the embedder has its own (a forked child cannot use
    /// a pool whose threads stayed in the parent).
    pool: Arc<rayon::ThreadPool>,
}

struct Inner {
    id: String,
    tokenizer: Tokenizer,
    model: Encoder,
    pooler: Dense,
    head: Dense,
}

impl std::fmt::Debug for CrossEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossEncoder")
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

impl CrossEncoder {
    /// Builds the verifier over the all-MiniLM-L6-v2 folder `dir` (`config.json`,
    /// `tokenizer.json`, `model.safetensors`). Any other model is refused, naming what
    /// differs.
    pub fn load(dir: &Path) -> Result<CrossEncoder, SemanticError> {
        let fail = |path: &Path, reason: String| SemanticError::Model {
            path: path.to_path_buf(),
            reason,
        };
        let config_path = dir.join("config.json");
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(|e| fail(&config_path, format!("cannot read: {e}")))?;
        let config = serde_json::from_str(&config_text)
            .map_err(|e| e.to_string())
            .and_then(Config::from_json)
            .map_err(|e| fail(&config_path, format!("not a BERT config: {e}")))?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| fail(&tokenizer_path, format!("not a tokenizer: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                ..TruncationParams::default()
            }))
            .map_err(|e| fail(&tokenizer_path, format!("cannot set truncation: {e}")))?;

        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path)
            .map_err(|e| fail(&weights_path, format!("cannot read: {e}")))?;
        let pool = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("hoard-verify-{i}"))
            .build()
            .map_err(|e| fail(dir, format!("cannot start the verifier's threads: {e}")))?;
        let mut tensors = Tensors::read(&weights)
            .map_err(|e| fail(&weights_path, format!("not valid safetensors: {e}")))?;
        drop(weights);
        check_fingerprint(&tensors).map_err(|reason| fail(&weights_path, reason))?;
        let adapter =
            Tensors::read(ADAPTER).map_err(|e| fail(Path::new("(built-in verifier)"), e))?;
        apply(&mut tensors, adapter).map_err(|e| fail(Path::new("(built-in verifier)"), e))?;
        let dim = config.hidden_size;
        let built = Encoder::load(&config, &mut tensors).and_then(|(model, prefix)| {
            let pooler = dense_from(&mut tensors, &format!("{prefix}pooler.dense"), dim, dim)?;
            let head = dense_from(&mut tensors, "classifier", dim, 1)?;
            Ok((model, pooler, head))
        });
        let (model, pooler, head) =
            built.map_err(|e| fail(&weights_path, format!("weights do not fit: {e}")))?;
        Ok(CrossEncoder {
            inner: Arc::new(Inner {
                id: "all-MiniLM-L6-v2-cross".to_owned(),
                tokenizer,
                model,
                pooler,
                head,
            }),
            pool: Arc::new(pool),
        })
    }

    /// [`Verifier::verify`], blocking the calling thread (for the CLI and benchmarks).
    pub fn verify_blocking(&self, pairs: &[(String, String)]) -> Result<Vec<f32>, SemanticError> {
        self.pool.install(|| self.inner.verify(pairs))
    }
}

fn check_fingerprint(tensors: &Tensors) -> Result<(), String> {
    for (name, expected) in FINGERPRINT {
        let tensor = tensors
            .get(name)
            .ok_or_else(|| format!("no tensor {name}: the verifier needs all-MiniLM-L6-v2"))?;
        let sum: f64 = tensor.data.iter().map(|v| f64::from(v.abs())).sum();
        if (sum - expected).abs() > expected * 1e-6 {
            return Err(format!(
                "these are not the all-MiniLM-L6-v2 weights the verifier was trained over \
                 ({name} differs); use that model, or turn the verifier off ([semantic] verifier = false)"
            ));
        }
    }
    Ok(())
}

/// Adds each low-rank update to its base weight (`weight += lora_b · lora_a`) and puts the
/// adapter's other tensors (layer norms, pooler, head) in place of the base ones.
fn apply(base: &mut Tensors, adapter: Tensors) -> Result<(), String> {
    let mut adapter = adapter.into_map();
    let names: Vec<String> = adapter
        .keys()
        .filter_map(|k| k.strip_suffix(".lora_a").map(str::to_owned))
        .collect();
    for name in names {
        let (Some(a), Some(b)) = (
            adapter.remove(&format!("{name}.lora_a")),
            adapter.remove(&format!("{name}.lora_b")),
        ) else {
            return Err(format!("adapter: {name} has lora_a without lora_b"));
        };
        let key = format!("{name}.weight");
        let weight = base
            .get(&key)
            .ok_or_else(|| format!("adapter: the base model has no {key}"))?;
        let merged = add_low_rank(weight, &b, &a)
            .ok_or_else(|| format!("adapter: {name}'s update does not fit {key}"))?;
        base.insert(key, merged);
    }
    for (name, tensor) in adapter {
        base.insert(name, tensor);
    }
    Ok(())
}

/// `weight + b · a` for `weight` (`out × in`), `b` (`out × rank`), `a` (`rank × in`).
fn add_low_rank(weight: &Tensor, b: &Tensor, a: &Tensor) -> Option<Tensor> {
    let (&[out, inputs], &[b_out, rank], &[a_rank, a_in]) =
        (&weight.shape[..], &b.shape[..], &a.shape[..])
    else {
        return None;
    };
    if b_out != out || a_rank != rank || a_in != inputs {
        return None;
    }
    let mut data = weight.data.clone();
    for (o, row) in data.chunks_exact_mut(inputs).enumerate() {
        for r in 0..rank {
            let scale = b.data[o * rank + r];
            for (w, x) in row.iter_mut().zip(&a.data[r * inputs..(r + 1) * inputs]) {
                *w += scale * x;
            }
        }
    }
    Some(Tensor {
        shape: weight.shape.clone(),
        data,
    })
}

#[async_trait::async_trait]
impl Verifier for CrossEncoder {
    fn id(&self) -> &str {
        &self.inner.id
    }

    async fn verify(&self, pairs: &[(String, String)]) -> Result<Vec<f32>, SemanticError> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let inner = Arc::clone(&self.inner);
        let pool = Arc::clone(&self.pool);
        let pairs = pairs.to_vec();
        tokio::task::spawn_blocking(move || pool.install(|| inner.verify(&pairs)))
            .await
            .map_err(|e| SemanticError::Embed(format!("verifier task failed: {e}")))?
    }
}

/// The words of a question in lower case, without punctuation or spacing: two questions
/// with the same words are the same question typed again, and need no model to say so.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Inner {
    fn verify(&self, pairs: &[(String, String)]) -> Result<Vec<f32>, SemanticError> {
        // Same words in the same order: certain (1.0). The model only sees the others.
        let mut out: Vec<Option<f32>> = pairs
            .iter()
            .map(|(a, b)| (words(a) == words(b)).then_some(1.0))
            .collect();
        let asked: Vec<usize> = (0..pairs.len()).filter(|&i| out[i].is_none()).collect();
        let mut scores = self.score(asked.iter().map(|&i| &pairs[i]))?.into_iter();
        for i in asked {
            out[i] = scores.next();
        }
        out.into_iter()
            .map(|p| p.ok_or_else(|| SemanticError::Embed("the verifier skipped a pair".into())))
            .collect()
    }

    fn score<'a>(
        &self,
        pairs: impl Iterator<Item = &'a (String, String)>,
    ) -> Result<Vec<f32>, SemanticError> {
        let pairs: Vec<&(String, String)> = pairs.collect();
        let mut out = Vec::with_capacity(pairs.len());
        // Batches of 16 keep the padding small when one pair is much longer.
        for chunk in pairs.chunks(16) {
            let inputs: Vec<tokenizers::EncodeInput> = chunk
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()).into())
                .collect();
            let encodings = self
                .tokenizer
                .encode_batch(inputs, true)
                .map_err(|e| SemanticError::Embed(format!("verifier tokenizer: {e}")))?;
            let logits = self
                .forward(&encodings)
                .map_err(|e| SemanticError::Embed(format!("verifier model: {e}")))?;
            for logit in logits {
                if !logit.is_finite() {
                    return Err(SemanticError::Embed(
                        "the verifier produced a non-finite score".into(),
                    ));
                }
                out.push(1.0 / (1.0 + (-logit).exp()));
            }
        }
        Ok(out)
    }

    /// The logit of each pair: the pooler (dense + tanh) and the head on the first token.
    fn forward(&self, batch: &[tokenizers::Encoding]) -> Result<Vec<f32>, String> {
        let sequences: Vec<Sequence<'_>> = batch.iter().map(Sequence::from).collect();
        let hidden = self.model.forward(&sequences)?;
        let dim = self.model.dim();
        let mut firsts = Vec::with_capacity(sequences.len() * dim);
        let mut at = 0;
        for seq in &sequences {
            if seq.ids.is_empty() {
                return Err("a pair tokenized to nothing".to_owned());
            }
            firsts.extend_from_slice(&hidden[at * dim..(at + 1) * dim]);
            at += seq.ids.len();
        }
        let mut pooled = self.pooler.forward(&firsts, sequences.len());
        pooled.iter_mut().for_each(|v| *v = v.tanh());
        Ok(self.head.forward(&pooled, sequences.len()))
    }
}

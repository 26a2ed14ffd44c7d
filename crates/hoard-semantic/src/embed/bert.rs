//! A BERT-family sentence-embedding model (all-MiniLM-L6-v2, bge-small/base/large, ...)
//! run in pure Rust on the CPU (by [`crate::encoder`]).
//!
//! The model is read from a folder in the Hugging Face layout:
//!
//! - `config.json`: the BERT config (`model_type` must be `bert`);
//! - `tokenizer.json`: the fast tokenizer;
//! - `model.safetensors`: the weights;
//! - optionally `sentence_bert_config.json` (`max_seq_length`) and `modules.json` +
//!   `1_Pooling/config.json` (mean or CLS pooling), as sentence-transformers writes them.
//!
//! or by repo id from a Hugging Face hub cache folder (`HF_HUB_CACHE`): the files of
//! `org/name` live in `models--org--name/snapshots/REV/`, and `refs/main` names REV. Nothing
//! is ever downloaded: a repo that is not in the cache is an error that says where it was
//! looked for.
//!
//! Each text becomes the pooled last hidden state over its real tokens (the attention mask
//! leaves padding out), scaled to unit length, exactly as sentence-transformers computes it,
//! so stored vectors from either implementation can be compared.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokenizers::{Tokenizer, TruncationParams};

use super::{normalize, Embedder};
use crate::encoder::tensors::{Config, Tensors};
use crate::encoder::{Encoder, Sequence};
use crate::SemanticError;

/// How the per-token hidden states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean over the real (unmasked) tokens: what all-MiniLM-L6-v2 was trained with.
    Mean,
    /// The hidden state of the first token (`[CLS]`): what the bge models were trained with.
    Cls,
}

/// Settings for [`BertEmbedder`]. The defaults suit all-MiniLM-L6-v2 and the bge models.
#[derive(Debug, Clone)]
pub struct BertOptions {
    /// Texts run through the model together. Bigger batches keep the threads busier and
    /// take more memory; each text keeps its own length, so none is padded.
    pub batch_size: usize,
    /// Tokens kept per text (special tokens included); longer texts are cut. `None` takes
    /// the model's own limit: `max_seq_length` from `sentence_bert_config.json` (256 for
    /// all-MiniLM-L6-v2, 512 for bge), else `max_position_embeddings`.
    pub max_length: Option<usize>,
    /// `None` reads the pooling from the sentence-transformers `modules.json`, and takes
    /// [`Pooling::Mean`] when the folder has none.
    pub pooling: Option<Pooling>,
    /// The model's name in [`Embedder::id`]. `None` takes the repo's name (`org/NAME`) when
    /// loaded by repo id, else the folder's name.
    pub name: Option<String>,
}

impl Default for BertOptions {
    fn default() -> Self {
        BertOptions {
            batch_size: 32,
            max_length: None,
            pooling: None,
            name: None,
        }
    }
}

/// A sentence-embedding model of the BERT family, loaded once and shared: clones are cheap
/// and use the same weights.
#[derive(Clone)]
pub struct BertEmbedder {
    inner: Arc<Inner>,
    /// The threads the forward pass runs on, this embedder's own rather than rayon's
    /// global pool: a process that forks after embedding (gunicorn `--preload`, Python's
    /// multiprocessing) cannot use the global pool in the child, whose worker threads
    /// stayed with the parent, while a new embedder brings a new pool.
    pool: Arc<rayon::ThreadPool>,
}

struct Inner {
    id: String,
    dim: usize,
    batch_size: usize,
    max_length: usize,
    pooling: Pooling,
    tokenizer: Tokenizer,
    model: Encoder,
}

impl std::fmt::Debug for BertEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEmbedder")
            .field("id", &self.inner.id)
            .field("batch_size", &self.inner.batch_size)
            .field("max_length", &self.inner.max_length)
            .field("pooling", &self.inner.pooling)
            .finish_non_exhaustive()
    }
}

impl BertEmbedder {
    /// Loads the model in `dir` (Hugging Face layout, see the module docs).
    pub fn from_dir(dir: impl AsRef<Path>, options: BertOptions) -> Result<Self, SemanticError> {
        let dir = dir.as_ref();
        let name = match &options.name {
            Some(name) => name.clone(),
            None => folder_name(dir),
        };
        Self::load_folder(dir, name, options)
    }

    /// Loads `repo_id` (`org/name`, optionally `@revision`: a ref such as `main` or a
    /// snapshot hash) from the Hugging Face hub cache folder `hub` (what `HF_HUB_CACHE`
    /// points at; hoard-models' `Layout::hf_hub()`). Never downloads.
    pub fn from_hub(
        hub: impl AsRef<Path>,
        repo_id: &str,
        options: BertOptions,
    ) -> Result<Self, SemanticError> {
        let (repo, _) = split_revision(repo_id);
        let snapshot = resolve_hub_snapshot(hub.as_ref(), repo_id)?;
        let name = match &options.name {
            Some(name) => name.clone(),
            None => repo.rsplit('/').next().unwrap_or(repo).to_owned(),
        };
        Self::load_folder(&snapshot, name, options)
    }

    /// Loads `name_or_path`: a folder when one exists at that path, else a repo id looked up
    /// in the hub cache `hub` (the order `from_pretrained` uses in Python).
    pub fn load(
        name_or_path: &str,
        hub: impl AsRef<Path>,
        options: BertOptions,
    ) -> Result<Self, SemanticError> {
        if Path::new(name_or_path).is_dir() {
            Self::from_dir(name_or_path, options)
        } else {
            Self::from_hub(hub, name_or_path, options)
        }
    }

    /// Tokens kept per text, special tokens included.
    pub fn max_length(&self) -> usize {
        self.inner.max_length
    }

    /// The pooling in use.
    pub fn pooling(&self) -> Pooling {
        self.inner.pooling
    }

    /// [`Embedder::embed`], blocking the calling thread: for callers that are not async
    /// (CLI, benchmarks) or already on a blocking thread. The work runs on the embedder's
    /// own threads; a question takes a few milliseconds.
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, SemanticError> {
        self.pool.install(|| self.inner.embed(texts))
    }

    fn load_folder(dir: &Path, name: String, options: BertOptions) -> Result<Self, SemanticError> {
        let model_err = |path: &Path, reason: String| SemanticError::Model {
            path: path.to_path_buf(),
            reason,
        };
        if !dir.is_dir() {
            return Err(model_err(
                dir,
                "no such folder (expected config.json, tokenizer.json and model.safetensors)"
                    .to_owned(),
            ));
        }
        if options.batch_size == 0 {
            return Err(model_err(dir, "batch_size must be at least 1".to_owned()));
        }

        let config_path = dir.join("config.json");
        let config_text = read_text(&config_path)?;
        let config_json: serde_json::Value = serde_json::from_str(&config_text)
            .map_err(|e| model_err(&config_path, format!("not valid JSON: {e}")))?;
        // Only BERT itself: RoBERTa-style models (xlm-roberta, as in bge-m3) share the
        // weight names but offset their position ids, and would load and silently embed
        // wrong. Refuse them by name.
        match config_json.get("model_type").and_then(|v| v.as_str()) {
            None | Some("bert") => {}
            Some(other) => {
                return Err(model_err(
                    &config_path,
                    format!("model_type {other:?} is not supported: only BERT-family models (model_type \"bert\") run here"),
                ))
            }
        }
        let config = Config::from_json(config_json)
            .map_err(|e| model_err(&config_path, format!("not a BERT config: {e}")))?;
        let dim = config.hidden_size;

        let max_length = match options.max_length {
            Some(n) => n,
            None => sentence_max_length(dir)?.unwrap_or(config.max_position_embeddings),
        }
        .min(config.max_position_embeddings);
        // [CLS] and [SEP] take two positions; below that nothing of the text remains.
        if max_length < 3 {
            return Err(model_err(
                dir,
                format!("max_length {max_length} leaves no room for text (at least 3)"),
            ));
        }
        let pooling = match options.pooling {
            Some(pooling) => pooling,
            None => read_pooling(dir)?,
        };

        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.is_file() {
            return Err(model_err(
                &tokenizer_path,
                "missing (only the fast tokenizer format tokenizer.json is read)".to_owned(),
            ));
        }
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| model_err(&tokenizer_path, format!("not a tokenizer: {e}")))?;
        // Padding is done here per batch (to the longest text after sorting), not by the
        // tokenizer: tokenizer.json files often pin a fixed length (all-MiniLM-L6-v2's says
        // 128) that would waste work or disagree with max_length.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| model_err(&tokenizer_path, format!("cannot set truncation: {e}")))?;

        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| {
            let hint = if dir.join("pytorch_model.bin").is_file() {
                " (pytorch_model.bin is not read: convert it to safetensors)"
            } else {
                ""
            };
            model_err(&weights_path, format!("cannot read: {e}{hint}"))
        })?;
        let mut tensors = Tensors::read(&weights).map_err(|e| {
            let hint = if weights.len() < 1024 {
                " (the file is tiny: a Git LFS pointer instead of the weights?)"
            } else {
                ""
            };
            model_err(&weights_path, format!("not valid safetensors: {e}{hint}"))
        })?;
        drop(weights);
        let (model, _) = Encoder::load(&config, &mut tensors).map_err(|e| {
            model_err(
                &weights_path,
                format!("weights do not match config.json: {e}"),
            )
        })?;

        let pool = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("hoard-embed-{i}"))
            .build()
            .map_err(|e| model_err(dir, format!("cannot start the embedding threads: {e}")))?;
        Ok(BertEmbedder {
            pool: Arc::new(pool),
            inner: Arc::new(Inner {
                id: format!("{name}/{dim}"),
                dim,
                batch_size: options.batch_size,
                max_length,
                pooling,
                tokenizer,
                model,
            }),
        })
    }
}

#[async_trait::async_trait]
impl Embedder for BertEmbedder {
    fn id(&self) -> &str {
        &self.inner.id
    }

    fn dim(&self) -> usize {
        self.inner.dim
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, SemanticError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // The forward pass is CPU-bound for milliseconds to seconds: keep it off the async
        // workers so the server goes on answering other requests meanwhile.
        let inner = Arc::clone(&self.inner);
        let pool = Arc::clone(&self.pool);
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || pool.install(|| inner.embed(&texts)))
            .await
            .map_err(|e| SemanticError::Embed(format!("embedding task failed: {e}")))?
    }
}

impl Inner {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, SemanticError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| SemanticError::Embed(format!("tokenizer: {e}")))?;

        // Batches bound the memory of one forward pass; each text keeps its own length,
        // so nothing is padded.
        let mut out: Vec<Vec<f32>> = Vec::with_capacity(texts.len());
        for (n, batch) in encodings.chunks(self.batch_size).enumerate() {
            let batch: Vec<&tokenizers::Encoding> = batch.iter().collect();
            let vectors = self
                .forward(&batch)
                .map_err(|e| SemanticError::Embed(format!("model: {e}")))?;
            for (offset, mut vector) in vectors.into_iter().enumerate() {
                let i = n * self.batch_size + offset;
                if vector.len() != self.dim || !vector.iter().all(|x| x.is_finite()) {
                    return Err(SemanticError::Embed(format!(
                        "model produced an invalid vector for text {i} ({} numbers, expected {})",
                        vector.len(),
                        self.dim
                    )));
                }
                normalize(&mut vector);
                out.push(vector);
            }
        }
        Ok(out)
    }

    /// One forward pass over `batch`, each text at its own length.
    fn forward(&self, batch: &[&tokenizers::Encoding]) -> Result<Vec<Vec<f32>>, String> {
        let sequences: Vec<Sequence<'_>> = batch.iter().map(|e| Sequence::from(*e)).collect();
        let hidden = self.model.forward(&sequences)?;
        let dim = self.model.dim();
        let mut tokens = hidden.chunks_exact(dim);
        let mut out = Vec::with_capacity(batch.len());
        for seq in &sequences {
            let mut pooled = vec![0.0f32; dim];
            let own: Vec<&[f32]> = tokens.by_ref().take(seq.ids.len()).collect();
            match self.pooling {
                Pooling::Cls => {
                    if let Some(first) = own.first() {
                        pooled.copy_from_slice(first);
                    }
                }
                Pooling::Mean => {
                    for token in &own {
                        for (p, t) in pooled.iter_mut().zip(*token) {
                            *p += t;
                        }
                    }
                    // As sentence-transformers: an empty text divides by a tiny number,
                    // not zero (and is refused as not finite below).
                    let count = (own.len() as f32).max(1e-9);
                    pooled.iter_mut().for_each(|p| *p /= count);
                }
            }
            out.push(pooled);
        }
        Ok(out)
    }
}

/// The snapshot folder of `repo_id` (`org/name[@revision]`) in the hub cache `hub`.
///
/// The revision defaults to `main`; a name is read from `refs/NAME`, a 40-hex commit is
/// taken as the snapshot itself.
pub fn resolve_hub_snapshot(hub: &Path, repo_id: &str) -> Result<PathBuf, SemanticError> {
    let err = |path: PathBuf, reason: String| SemanticError::Model { path, reason };
    let (repo, revision) = split_revision(repo_id);
    let revision = revision.unwrap_or("main");
    // A repo id becomes part of a path: refuse anything that could leave the hub folder.
    let valid_part = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.len() > 2 || !parts.iter().all(|p| valid_part(p)) {
        return Err(err(
            hub.to_path_buf(),
            format!("{repo_id:?} is not a repo id (expected org/name, or org/name@revision)"),
        ));
    }
    if !valid_part(revision) {
        return Err(err(
            hub.to_path_buf(),
            format!("revision {revision:?} in {repo_id:?} is not a ref name or commit"),
        ));
    }
    let repo_dir = hub.join(format!("models--{}", parts.join("--")));
    if !repo_dir.is_dir() {
        return Err(err(
            repo_dir,
            format!(
                "{repo} is not in the Hugging Face hub cache {} (hoard never downloads models: fetch it into that cache first, e.g. with `huggingface-cli download {repo}` and HF_HUB_CACHE set to it)",
                hub.display()
            ),
        ));
    }
    let is_commit = revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit());
    let commit = if is_commit {
        revision.to_owned()
    } else {
        let ref_path = repo_dir.join("refs").join(revision);
        let text = std::fs::read_to_string(&ref_path).map_err(|e| {
            err(
                ref_path.clone(),
                format!("cannot read the ref {revision:?}: {e}"),
            )
        })?;
        let commit = text.trim().to_owned();
        if !valid_part(&commit) {
            return Err(err(
                ref_path,
                format!(
                    "does not hold a revision: {:?}",
                    text.chars().take(80).collect::<String>()
                ),
            ));
        }
        commit
    };
    let snapshot = repo_dir.join("snapshots").join(&commit);
    if !snapshot.is_dir() {
        return Err(err(
            snapshot,
            format!("the snapshot of {repo}@{revision} is missing from the hub cache"),
        ));
    }
    Ok(snapshot)
}

/// `org/name@rev` -> (`org/name`, Some(`rev`)).
fn split_revision(repo_id: &str) -> (&str, Option<&str>) {
    match repo_id.split_once('@') {
        Some((repo, revision)) => (repo, Some(revision)),
        None => (repo_id, None),
    }
}

/// The folder's own name, for the id (`.../all-MiniLM-L6-v2` -> `all-MiniLM-L6-v2`).
fn folder_name(dir: &Path) -> String {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_owned())
}

fn read_text(path: &Path) -> Result<String, SemanticError> {
    std::fs::read_to_string(path).map_err(|e| SemanticError::Model {
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })
}

/// Reads an optional JSON file: `None` when it does not exist, an error when it exists and
/// is broken (a half-copied model folder should not load with silently wrong settings).
fn read_optional_json(path: &Path) -> Result<Option<serde_json::Value>, SemanticError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = read_text(path)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| SemanticError::Model {
            path: path.to_path_buf(),
            reason: format!("not valid JSON: {e}"),
        })
}

/// `max_seq_length` from sentence-transformers' `sentence_bert_config.json`.
fn sentence_max_length(dir: &Path) -> Result<Option<usize>, SemanticError> {
    let path = dir.join("sentence_bert_config.json");
    Ok(read_optional_json(&path)?
        .and_then(|v| v.get("max_seq_length").and_then(|n| n.as_u64()))
        .and_then(|n| usize::try_from(n).ok()))
}

/// The pooling that sentence-transformers' `modules.json` names; mean when there is none.
fn read_pooling(dir: &Path) -> Result<Pooling, SemanticError> {
    let Some(modules) = read_optional_json(&dir.join("modules.json"))? else {
        return Ok(Pooling::Mean);
    };
    let pooling_dir = modules
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| {
            m.get("type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.ends_with(".Pooling"))
        })
        .and_then(|m| m.get("path").and_then(|p| p.as_str()).map(str::to_owned));
    let Some(pooling_dir) = pooling_dir else {
        return Ok(Pooling::Mean);
    };
    // The module path is data from the folder: it must stay inside the folder.
    let inside = Path::new(&pooling_dir)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(SemanticError::Model {
            path: dir.join("modules.json"),
            reason: format!("the pooling module path {pooling_dir:?} leaves the model folder"),
        });
    }
    let path = dir.join(&pooling_dir).join("config.json");
    let Some(config) = read_optional_json(&path)? else {
        return Ok(Pooling::Mean);
    };
    let flag = |key: &str| config.get(key).and_then(|v| v.as_bool()).unwrap_or(false);
    if flag("pooling_mode_mean_tokens") {
        Ok(Pooling::Mean)
    } else if flag("pooling_mode_cls_token") {
        Ok(Pooling::Cls)
    } else {
        Err(SemanticError::Model {
            path,
            reason: "only mean and CLS pooling are supported".to_owned(),
        })
    }
}

//! The suite's vectors: real MiniLM embeddings of the QQP questions, kept in a file under
//! `~/.cache/hoard-bench` because embedding them all takes minutes on two cores, and an
//! [`Embedder`] that answers from that file or runs the model.

use anyhow::Context as _;
use hoard_semantic::embed::bert::BertEmbedder;
use hoard_semantic::{Embedder, SemanticError};
use std::collections::{HashMap, HashSet};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Texts embedded per call while filling the vector cache (and per batch of the evaluation).
pub(super) const EMBED_CHUNK: usize = 256;
/// Magic first line of the vector cache file.
const CACHE_MAGIC: &[u8] = b"hoard-bench vectors v1\n";

/// Vectors by text, backed by a file, with the model for texts it has not seen.
///
/// As an [`Embedder`] it answers from the file while `precomputed` is on (bulk stores,
/// the evaluation) and runs the model for every text once it is off (timed lookups).
pub(super) struct Vectors {
    model: BertEmbedder,
    by_text: HashMap<String, Vec<f32>>,
    file: PathBuf,
    precomputed: AtomicBool,
    /// Synthetic stored vectors of the whole-lookup runs, by their made-up text.
    extra: Mutex<HashMap<String, Vec<f32>>>,
}

impl Vectors {
    /// The vectors cached in `file` (none if it does not exist yet), over `model`.
    pub(super) fn open(model: BertEmbedder, file: PathBuf) -> anyhow::Result<Vectors> {
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

    /// How many texts have a vector.
    pub(super) fn cached(&self) -> usize {
        self.by_text.len()
    }

    /// Embeds the texts not cached yet, appending them to the file as it goes (an
    /// interrupted run keeps what it embedded). Returns how many were embedded and how
    /// long that took.
    pub(super) fn fill(&mut self, texts: &[String]) -> anyhow::Result<(usize, Duration)> {
        // In the order asked (stored questions first), so an interrupted run has cached
        // what the next one needs first.
        let mut seen = HashSet::new();
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

    /// The vector of `text`, which must have been filled.
    pub(super) fn get(&self, text: &str) -> anyhow::Result<&[f32]> {
        self.by_text
            .get(text)
            .map(Vec::as_slice)
            .with_context(|| format!("no vector for {text:?}"))
    }

    /// Whether [`Embedder::embed`] answers from the cached vectors (on) or runs the model
    /// for every text (off, for timed lookups).
    pub(super) fn set_precomputed(&self, on: bool) {
        self.precomputed.store(on, Ordering::Relaxed);
    }

    /// Replaces the synthetic stored vectors answered while precomputed.
    pub(super) fn set_extra(&self, extra: HashMap<String, Vec<f32>>) {
        *self.extra.lock().unwrap_or_else(|e| e.into_inner()) = extra;
    }

    /// Forgets the synthetic stored vectors.
    pub(super) fn clear_extra(&self) {
        self.extra.lock().unwrap_or_else(|e| e.into_inner()).clear();
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

/// Where the vectors of `model` (loaded from `model_dir`) are cached: under
/// `$XDG_CACHE_HOME` or `~/.cache`, named by the model and its weights' size.
pub(super) fn vector_cache_file(model_dir: &Path, model: &BertEmbedder) -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(
            std::env::var_os("HOME").context("HOME is not set: no place for the vector cache")?,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One record of the cache file: `u32` length, the text, `dim` floats.
    fn record(text: &str, vector: &[f32]) -> Vec<u8> {
        let mut out = (text.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(text.as_bytes());
        for x in vector {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    #[test]
    fn the_cache_file_reads_back_and_drops_a_truncated_last_record() {
        let mut bytes = CACHE_MAGIC.to_vec();
        bytes.extend(record("how old is he?", &[0.5, -0.25]));
        bytes.extend(record("what is rust?", &[1.0, 0.0]));
        let whole = parse_cache(&bytes, 2).expect("a well-formed cache");
        assert_eq!(whole.len(), 2);
        assert_eq!(whole["how old is he?"], vec![0.5, -0.25]);
        // An interrupted write leaves half a record: what came before it still counts.
        bytes.extend(&record("cut short", &[1.0, 2.0])[..7]);
        let cut = parse_cache(&bytes, 2).expect("a truncated cache");
        assert_eq!(cut, whole);
        assert!(parse_cache(b"something else", 2).is_err());
    }
}

//! Embedders: text in, unit-length vectors out.
//!
//! - [`bert`] (feature `local`): a BERT-family sentence-embedding model run in pure Rust
//!   on the CPU (mean pooling, L2-normalized), loaded from a Hugging Face style folder or
//!   by repo id from the hub cache `hoard models` configures;
//! - [`http`]: OpenAI-compatible `/v1/embeddings` and Ollama's `/api/embed`;
//! - [`words`]: a bag of words hashed into a vector, for tests (no model, no meaning).
//!
//! Every embedder names itself ([`Embedder::id`]): stored vectors carry that name, and a
//! vector made by another model is never compared with a query.

#[cfg(feature = "local")]
pub mod bert;
pub mod http;
pub mod words;

pub use words::WordsEmbedder;

use crate::SemanticError;

/// Turns texts into unit-length vectors of [`Embedder::dim`] numbers.
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// The model's name and dimension, such as `all-MiniLM-L6-v2/384`.
    fn id(&self) -> &str;

    /// Length of every vector.
    fn dim(&self) -> usize;

    /// One vector per text, in order. Implementations batch as they see fit.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, SemanticError>;
}

/// Scales `vector` to unit length (a zero vector stays zero).
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in vector {
            *x /= norm;
        }
    }
}

/// Which embedder to use, as configured (`[semantic] model`, `url`, `api_key_env`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbedderSpec {
    /// A folder, a Hugging Face repo id (looked up in the hub cache, never downloaded),
    /// `ollama:NAME` or `openai:NAME`.
    pub model: String,
    /// The service for `ollama:` (default `http://127.0.0.1:11434`) and `openai:`
    /// (default `https://api.openai.com`).
    pub url: Option<String>,
    /// Bearer key for the service.
    pub api_key: Option<String>,
}

/// Builds the embedder `spec` names. A local model needs the `local` feature; the HTTP
/// services are asked once for their dimension.
pub async fn from_spec(
    spec: &EmbedderSpec,
    hub: &std::path::Path,
) -> Result<std::sync::Arc<dyn Embedder>, SemanticError> {
    let http = http::HttpOptions {
        api_key: spec.api_key.clone(),
        ..http::HttpOptions::default()
    };
    if let Some(name) = spec.model.strip_prefix("ollama:") {
        let url = spec.url.as_deref().unwrap_or("http://127.0.0.1:11434");
        return Ok(std::sync::Arc::new(
            http::OllamaEmbedder::connect(url, name, http).await?,
        ));
    }
    if let Some(name) = spec.model.strip_prefix("openai:") {
        let url = spec.url.as_deref().unwrap_or("https://api.openai.com");
        return Ok(std::sync::Arc::new(
            http::OpenAiEmbedder::connect(url, name, http).await?,
        ));
    }
    if spec.model.is_empty() {
        return Err(SemanticError::Config(
            "no model: set [semantic] model to a folder, a repo id, ollama:NAME or openai:NAME"
                .into(),
        ));
    }
    local(spec, hub).await
}

/// The command that builds the `hoard` binary with local models, from the repository.
pub const LOCAL_BUILD: &str = "cargo install --path crates/hoard-cli --features semantic-local";

#[cfg(feature = "local")]
async fn local(
    spec: &EmbedderSpec,
    hub: &std::path::Path,
) -> Result<std::sync::Arc<dyn Embedder>, SemanticError> {
    let (model, hub) = (spec.model.clone(), hub.to_path_buf());
    // Loading reads hundreds of megabytes for larger models: off the async threads.
    let loaded = tokio::task::spawn_blocking(move || {
        bert::BertEmbedder::load(&model, &hub, bert::BertOptions::default())
    })
    .await
    .map_err(|e| SemanticError::Embed(e.to_string()))??;
    Ok(std::sync::Arc::new(loaded))
}

#[cfg(not(feature = "local"))]
async fn local(
    spec: &EmbedderSpec,
    _hub: &std::path::Path,
) -> Result<std::sync::Arc<dyn Embedder>, SemanticError> {
    Err(SemanticError::Config(format!(
        "model {:?} is a local model, and this build of hoard has no local models: build one \
         that has them with `{LOCAL_BUILD}`, or use ollama:NAME or openai:NAME",
        spec.model
    )))
}

//! The verifier: a second opinion on a candidate that cleared the similarity threshold.
//!
//! A cosine threshold cannot tell "How do I add a user?" from "How do I remove a user?":
//! the two sentences share every word but one, so their vectors sit close together. A
//! verifier reads the stored question and the asked one *together* and says how likely it
//! is that one answer serves both. It runs only on the few candidates above the threshold,
//! so its cost is paid once or twice per lookup, not once per entry.
//!
//! - [`cross`] (feature `local`): the cross-encoder hoard ships, an adapter trained over
//!   all-MiniLM-L6-v2 (the script that trains it is `verifier/train.py` in this crate).

#[cfg(feature = "local")]
pub mod cross;

use crate::SemanticError;

/// Judges pairs of questions: (stored, asked) in, the probability that one answer serves
/// both out, in the same order.
#[async_trait::async_trait]
pub trait Verifier: Send + Sync {
    /// The verifier's name, for stats and logs.
    fn id(&self) -> &str;

    /// One probability in [0, 1] per pair.
    async fn verify(&self, pairs: &[(String, String)]) -> Result<Vec<f32>, SemanticError>;
}

/// The verifier for the embedder `spec` names, as `wanted` asks (`[semantic] verifier`):
///
/// - `Some(false)`: none;
/// - `None`: the built-in cross-encoder when `spec` is a local all-MiniLM-L6-v2 (a folder
///   or a repo id in the hub cache `hub`) and this build has local models; else none,
///   with a warning in the log when the model is local but not that one;
/// - `Some(true)`: the same, but an error when it cannot run.
pub async fn for_spec(
    spec: &crate::embed::EmbedderSpec,
    hub: &std::path::Path,
    wanted: Option<bool>,
) -> Result<Option<std::sync::Arc<dyn Verifier>>, SemanticError> {
    if wanted == Some(false) {
        return Ok(None);
    }
    let remote = spec.model.starts_with("ollama:") || spec.model.starts_with("openai:");
    let loaded = if remote {
        Err(SemanticError::Config(format!(
            "the verifier reads both questions with the local all-MiniLM-L6-v2, and model {:?} \
             is a service: set [semantic] model to that model's folder, or verifier = false",
            spec.model
        )))
    } else {
        local(spec, hub).await
    };
    match (loaded, wanted) {
        (Ok(verifier), _) => Ok(Some(verifier)),
        (Err(error), Some(true)) => Err(error),
        (Err(error), _) => {
            if !remote {
                tracing::warn!(%error, "semantic cache runs without the verifier");
            }
            Ok(None)
        }
    }
}

#[cfg(feature = "local")]
async fn local(
    spec: &crate::embed::EmbedderSpec,
    hub: &std::path::Path,
) -> Result<std::sync::Arc<dyn Verifier>, SemanticError> {
    let (model, hub) = (spec.model.clone(), hub.to_path_buf());
    let loaded = tokio::task::spawn_blocking(move || {
        let dir = if std::path::Path::new(&model).is_dir() {
            std::path::PathBuf::from(&model)
        } else {
            crate::embed::bert::resolve_hub_snapshot(&hub, &model)?
        };
        cross::CrossEncoder::load(&dir)
    })
    .await
    .map_err(|e| SemanticError::Embed(e.to_string()))??;
    Ok(std::sync::Arc::new(loaded))
}

#[cfg(not(feature = "local"))]
async fn local(
    _spec: &crate::embed::EmbedderSpec,
    _hub: &std::path::Path,
) -> Result<std::sync::Arc<dyn Verifier>, SemanticError> {
    Err(SemanticError::Config(
        "the verifier runs a local model, and this build has none: rebuild with \
         `--features semantic-local`"
            .into(),
    ))
}

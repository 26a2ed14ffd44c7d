//! Embedding services over HTTP: OpenAI-compatible `/v1/embeddings` (OpenAI, vLLM,
//! llama.cpp's server, LM Studio, text-embeddings-inference, ...) and Ollama's `/api/embed`.
//!
//! Both send texts in batches (one request per [`HttpOptions::batch_size`] texts), check
//! what comes back (one vector per text, all of the same length, finite numbers) and scale
//! the vectors to unit length: not every service normalizes, and the index compares by dot
//! product.
//!
//! The dimension is either given ([`OpenAiEmbedder::new`]) or learned from one probe request
//! ([`OpenAiEmbedder::connect`]), so [`Embedder::id`] and [`Embedder::dim`] are fixed for the
//! embedder's whole life and a service that suddenly answers with another length is an error
//! instead of a silently mixed index.

use std::time::Duration;

use serde::Deserialize;

use super::{normalize, Embedder};
use crate::SemanticError;

/// Settings shared by the HTTP embedders.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Sent as `Authorization: Bearer KEY` when set.
    pub api_key: Option<String>,
    /// Texts per request. OpenAI accepts up to 2048 inputs per call; smaller batches keep
    /// each request well inside the timeout.
    pub batch_size: usize,
    /// Deadline for one request, connecting included.
    pub timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            api_key: None,
            batch_size: 64,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The longest service error message kept in an error (bodies can be whole HTML pages).
const MAX_ERROR_BODY: usize = 300;

/// The text embedded by `connect` to learn the dimension.
const PROBE: &str = "hoard dimension probe";

/// What both services share: the client, the endpoint and the dimension checks.
#[derive(Debug, Clone)]
struct Client {
    http: reqwest::Client,
    url: String,
    model: String,
    api_key: Option<String>,
    batch_size: usize,
}

impl Client {
    fn new(url: String, model: &str, options: &HttpOptions) -> Result<Self, SemanticError> {
        let err = |reason: String| SemanticError::Http {
            url: url.clone(),
            reason,
        };
        if options.batch_size == 0 {
            return Err(err("batch_size must be at least 1".to_owned()));
        }
        if model.is_empty() {
            return Err(err("the model name is empty".to_owned()));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(err(
                "the base URL must start with http:// or https://".to_owned()
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| err(format!("cannot build the HTTP client: {}", error_chain(&e))))?;
        Ok(Client {
            http,
            url,
            model: model.to_owned(),
            api_key: options.api_key.clone(),
            batch_size: options.batch_size,
        })
    }

    /// Checks a dimension and makes the embedder's id (`model/dim`).
    fn with_dim(self, dim: usize) -> Result<(Client, String), SemanticError> {
        if dim == 0 {
            return Err(self.error("the dimension must be at least 1".to_owned()));
        }
        let id = format!("{}/{dim}", self.model);
        Ok((self, id))
    }

    fn error(&self, reason: String) -> SemanticError {
        SemanticError::Http {
            url: self.url.clone(),
            reason,
        }
    }

    /// POSTs `{"model", "input": texts}` and parses the 2xx body as `T`.
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        texts: &[String],
    ) -> Result<T, SemanticError> {
        let body = serde_json::json!({ "model": self.model, "input": texts });
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.error(send_error(&e)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.error(format!("reading the response: {}", send_error(&e))))?;
        if !status.is_success() {
            return Err(self.error(format!("status {status}: {}", service_message(&bytes))));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            self.error(format!(
                "malformed response ({e}): {}",
                cut(&String::from_utf8_lossy(&bytes))
            ))
        })
    }

    /// Checks one response's vectors against the batch and the dimension, and normalizes.
    fn accept(
        &self,
        sent: usize,
        vectors: Vec<Vec<f32>>,
        dim: Option<usize>,
    ) -> Result<Vec<Vec<f32>>, SemanticError> {
        if vectors.len() != sent {
            return Err(self.error(format!(
                "sent {sent} texts, got {} vectors back",
                vectors.len()
            )));
        }
        let dim = dim.or_else(|| vectors.first().map(Vec::len));
        let mut out = Vec::with_capacity(vectors.len());
        for (i, mut vector) in vectors.into_iter().enumerate() {
            if Some(vector.len()) != dim || vector.is_empty() {
                return Err(self.error(format!(
                    "vector {i} has {} numbers, expected {}",
                    vector.len(),
                    dim.unwrap_or(0)
                )));
            }
            if !vector.iter().all(|x| x.is_finite()) {
                return Err(self.error(format!("vector {i} holds a non-finite number")));
            }
            normalize(&mut vector);
            out.push(vector);
        }
        Ok(out)
    }
}

/// `base` + `path`, without doubling the slash or the `/v1` that OpenAI-style base URLs
/// often already carry (`https://api.openai.com/v1`).
fn endpoint(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    match path.strip_prefix("/v1") {
        Some(rest) if base.ends_with("/v1") => format!("{base}{rest}"),
        _ => format!("{base}{path}"),
    }
}

/// A transport error in words, with its causes (reqwest's own message is often just
/// "error sending request").
fn send_error(e: &reqwest::Error) -> String {
    let chain = error_chain(e);
    // reqwest built without a TLS backend (the workspace's default) refuses https URLs
    // with "scheme is not http" deep in the chain: say what to do instead.
    if chain.contains("scheme is not http") {
        return format!(
            "https is not available in this build (reqwest without TLS): use an http:// \
             endpoint, such as a local proxy, or build with reqwest's rustls-tls feature ({chain})"
        );
    }
    if e.is_timeout() {
        format!("timed out ({chain})")
    } else if e.is_connect() {
        format!("cannot connect ({chain})")
    } else {
        chain
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The service's own error message: `{"error": {"message": ...}}` (OpenAI),
/// `{"error": "..."}` (Ollama), else the start of the body.
fn service_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let error = value.get("error");
        let message = error
            .and_then(|e| e.get("message"))
            .or(error)
            .and_then(|m| m.as_str());
        if let Some(message) = message {
            return cut(message);
        }
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        "(empty body)".to_owned()
    } else {
        cut(&text)
    }
}

fn cut(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_ERROR_BODY) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// An OpenAI-compatible embeddings endpoint: `POST {base}/v1/embeddings` with
/// `{"model", "input": [...]}`, answering `{"data": [{"index", "embedding"}, ...]}`.
#[derive(Debug, Clone)]
pub struct OpenAiEmbedder {
    client: Client,
    id: String,
    dim: usize,
}

#[derive(Deserialize)]
struct OpenAiResponse {
    data: Vec<OpenAiItem>,
}

#[derive(Deserialize)]
struct OpenAiItem {
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    /// An embedder for `model` at `base` (`http://localhost:8000`, or with `/v1`) whose
    /// vectors have `dim` numbers. Sends nothing until the first [`Embedder::embed`].
    pub fn new(
        base: &str,
        model: &str,
        dim: usize,
        options: HttpOptions,
    ) -> Result<Self, SemanticError> {
        let client = Client::new(endpoint(base, "/v1/embeddings"), model, &options)?;
        client
            .with_dim(dim)
            .map(|(client, id)| OpenAiEmbedder { client, id, dim })
    }

    /// Like [`OpenAiEmbedder::new`], learning the dimension from one probe request.
    pub async fn connect(
        base: &str,
        model: &str,
        options: HttpOptions,
    ) -> Result<Self, SemanticError> {
        let client = Client::new(endpoint(base, "/v1/embeddings"), model, &options)?;
        let probe = request_openai(&client, &[PROBE.to_owned()], None).await?;
        let dim = probe.first().map_or(0, Vec::len);
        client
            .with_dim(dim)
            .map(|(client, id)| OpenAiEmbedder { client, id, dim })
    }
}

async fn request_openai(
    client: &Client,
    texts: &[String],
    dim: Option<usize>,
) -> Result<Vec<Vec<f32>>, SemanticError> {
    let response: OpenAiResponse = client.post(texts).await?;
    let mut data = response.data;
    // The spec lets a server answer in any order; `index` says which input each is for.
    data.sort_by_key(|item| item.index);
    if data.iter().enumerate().any(|(i, item)| item.index != i) {
        return Err(client.error(format!(
            "the response's indices are not 0..{}: {:?}",
            texts.len(),
            data.iter()
                .map(|item| item.index)
                .take(20)
                .collect::<Vec<_>>()
        )));
    }
    client.accept(
        texts.len(),
        data.into_iter().map(|item| item.embedding).collect(),
        dim,
    )
}

#[async_trait::async_trait]
impl Embedder for OpenAiEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, SemanticError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.client.batch_size) {
            out.extend(request_openai(&self.client, batch, Some(self.dim)).await?);
        }
        Ok(out)
    }
}

/// An Ollama server: `POST {base}/api/embed` with `{"model", "input": [...]}`, answering
/// `{"embeddings": [[...], ...]}`.
#[derive(Debug, Clone)]
pub struct OllamaEmbedder {
    client: Client,
    id: String,
    dim: usize,
}

#[derive(Deserialize)]
struct OllamaResponse {
    embeddings: Vec<Vec<f32>>,
}

impl OllamaEmbedder {
    /// An embedder for `model` on the Ollama server at `base` (`http://localhost:11434`)
    /// whose vectors have `dim` numbers. Sends nothing until the first [`Embedder::embed`].
    pub fn new(
        base: &str,
        model: &str,
        dim: usize,
        options: HttpOptions,
    ) -> Result<Self, SemanticError> {
        let client = Client::new(endpoint(base, "/api/embed"), model, &options)?;
        client
            .with_dim(dim)
            .map(|(client, id)| OllamaEmbedder { client, id, dim })
    }

    /// Like [`OllamaEmbedder::new`], learning the dimension from one probe request.
    pub async fn connect(
        base: &str,
        model: &str,
        options: HttpOptions,
    ) -> Result<Self, SemanticError> {
        let client = Client::new(endpoint(base, "/api/embed"), model, &options)?;
        let probe = request_ollama(&client, &[PROBE.to_owned()], None).await?;
        let dim = probe.first().map_or(0, Vec::len);
        client
            .with_dim(dim)
            .map(|(client, id)| OllamaEmbedder { client, id, dim })
    }
}

async fn request_ollama(
    client: &Client,
    texts: &[String],
    dim: Option<usize>,
) -> Result<Vec<Vec<f32>>, SemanticError> {
    let response: OllamaResponse = client.post(texts).await?;
    client.accept(texts.len(), response.embeddings, dim)
}

#[async_trait::async_trait]
impl Embedder for OllamaEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, SemanticError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.client.batch_size) {
            out.extend(request_ollama(&self.client, batch, Some(self.dim)).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_joins_without_doubling() {
        assert_eq!(
            endpoint("http://h:1", "/v1/embeddings"),
            "http://h:1/v1/embeddings"
        );
        assert_eq!(
            endpoint("http://h:1/", "/v1/embeddings"),
            "http://h:1/v1/embeddings"
        );
        assert_eq!(
            endpoint("http://h:1/v1", "/v1/embeddings"),
            "http://h:1/v1/embeddings"
        );
        assert_eq!(
            endpoint("http://h:1/v1/", "/v1/embeddings"),
            "http://h:1/v1/embeddings"
        );
        assert_eq!(endpoint("http://h:1", "/api/embed"), "http://h:1/api/embed");
    }

    #[test]
    fn service_messages_are_extracted_and_cut() {
        assert_eq!(
            service_message(br#"{"error":{"message":"bad key"}}"#),
            "bad key"
        );
        assert_eq!(
            service_message(br#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(service_message(b""), "(empty body)");
        let long = "x".repeat(1000);
        assert_eq!(service_message(long.as_bytes()).len(), MAX_ERROR_BODY + 3);
        // Cutting respects character boundaries.
        let wide = "é".repeat(1000);
        assert!(service_message(wide.as_bytes()).ends_with("..."));
    }
}

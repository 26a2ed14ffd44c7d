#![allow(clippy::unwrap_used)]
//! The embedders against real things: the real all-MiniLM-L6-v2 weights (feature `local`;
//! the folder comes from `scripts/fetch-minilm.sh` through `HOARD_MINILM_DIR`) and real HTTP servers
//! on loopback that answer as OpenAI and Ollama do (the services themselves cannot run
//! here), which record what they received so the requests are checked too.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hoard_semantic::embed::http::{HttpOptions, OllamaEmbedder, OpenAiEmbedder};
use hoard_semantic::embed::Embedder;
use hoard_semantic::SemanticError;
use serde_json::{json, Value};

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

// ---------------------------------------------------------------------------------------
// HTTP embedders
// ---------------------------------------------------------------------------------------

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    auth: Option<String>,
    content_type: Option<String>,
    body: Value,
}

type Responder = dyn Fn(&str, &Value) -> (u16, String, Duration) + Send + Sync;

/// A real HTTP server on a free loopback port that records each request and answers with
/// `respond(path, body)`: status, body and a delay before answering.
struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(
        respond: impl Fn(&str, &Value) -> (u16, String, Duration) + Send + Sync + 'static,
    ) -> Server {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let respond: Arc<Responder> = Arc::new(respond);
        let record = Arc::clone(&seen);
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let record = Arc::clone(&record);
            let respond = Arc::clone(&respond);
            async move {
                let (parts, body) = request.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 24).await.unwrap();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .map(|v| v.to_str().unwrap().to_owned())
                };
                let path = parts.uri.path().to_owned();
                record.lock().unwrap().push(Seen {
                    method: parts.method.to_string(),
                    path: path.clone(),
                    auth: header("authorization"),
                    content_type: header("content-type"),
                    body: body.clone(),
                });
                let (status, text, delay) = respond(&path, &body);
                tokio::time::sleep(delay).await;
                axum::response::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(text))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server { base, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A made-up but deterministic embedding of `text`: [length, 1, 2], not unit length, so
/// the test sees that the embedder normalizes and keeps each vector with its text.
fn fake_vector(text: &str) -> Vec<f32> {
    vec![text.len() as f32, 1.0, 2.0]
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = norm(&v);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn inputs(body: &Value) -> Vec<String> {
    body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Answers like OpenAI, listing the items in reverse order (the `index` field decides).
fn openai_answer(_path: &str, body: &Value) -> (u16, String, Duration) {
    let mut data: Vec<Value> = inputs(body)
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": fake_vector(t)}))
        .collect();
    data.reverse();
    let answer = json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}});
    (200, answer.to_string(), Duration::ZERO)
}

fn ollama_answer(_path: &str, body: &Value) -> (u16, String, Duration) {
    let embeddings: Vec<Vec<f32>> = inputs(body).iter().map(|t| fake_vector(t)).collect();
    let answer = json!({"model": body["model"], "embeddings": embeddings, "total_duration": 1});
    (200, answer.to_string(), Duration::ZERO)
}

fn options(batch_size: usize) -> HttpOptions {
    HttpOptions {
        batch_size,
        timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    }
}

fn http_reason(error: SemanticError) -> String {
    match error {
        SemanticError::Http { reason, .. } => reason,
        other => panic!("expected an Http error, got {other:?}"),
    }
}

#[tokio::test]
async fn openai_batches_keeps_order_sends_key_and_normalizes() {
    let server = Server::start(openai_answer).await;
    let embedder = OpenAiEmbedder::new(
        &server.base,
        "text-embedding-3-small",
        3,
        HttpOptions {
            api_key: Some("sk-test".to_owned()),
            ..options(2)
        },
    )
    .unwrap();
    assert_eq!(embedder.id(), "text-embedding-3-small/3");
    assert_eq!(embedder.dim(), 3);

    let input = texts(&["a", "bb", "ccc", "dddd", "ééééé"]);
    let vectors = embedder.embed(&input).await.unwrap();
    assert_eq!(vectors.len(), 5);
    for (text, vector) in input.iter().zip(&vectors) {
        assert!((norm(vector) - 1.0).abs() < 1e-6);
        assert_eq!(vector, &unit(fake_vector(text)), "vector for {text:?}");
    }

    let seen = server.seen();
    assert_eq!(seen.len(), 3, "5 texts in batches of 2: {seen:?}");
    let batches: Vec<Vec<String>> = seen.iter().map(|s| inputs(&s.body)).collect();
    assert_eq!(
        batches,
        vec![
            texts(&["a", "bb"]),
            texts(&["ccc", "dddd"]),
            texts(&["ééééé"])
        ]
    );
    for request in &seen {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/v1/embeddings");
        assert_eq!(request.auth.as_deref(), Some("Bearer sk-test"));
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        assert_eq!(request.body["model"], "text-embedding-3-small");
        assert_eq!(
            request.body.as_object().unwrap().len(),
            2,
            "{:?}",
            request.body
        );
    }

    // Nothing to embed: no request at all.
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn openai_connect_learns_the_dimension_and_accepts_a_v1_base() {
    let server = Server::start(openai_answer).await;
    let base = format!("{}/v1/", server.base);
    let embedder = OpenAiEmbedder::connect(&base, "bge-small", options(8))
        .await
        .unwrap();
    assert_eq!(embedder.dim(), 3);
    assert_eq!(embedder.id(), "bge-small/3");
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "one probe request");
    assert_eq!(seen[0].path, "/v1/embeddings");
    assert_eq!(seen[0].auth, None, "no key, no Authorization header");
    let vectors = embedder.embed(&texts(&["x"])).await.unwrap();
    assert_eq!(vectors, vec![unit(fake_vector("x"))]);
}

#[tokio::test]
async fn ollama_posts_to_api_embed_and_normalizes() {
    let server = Server::start(ollama_answer).await;
    let embedder = OllamaEmbedder::connect(&server.base, "nomic-embed-text", options(3))
        .await
        .unwrap();
    assert_eq!(embedder.id(), "nomic-embed-text/3");
    let input = texts(&["one", "two words", "", "日本語", "five"]);
    let vectors = embedder.embed(&input).await.unwrap();
    for (text, vector) in input.iter().zip(&vectors) {
        assert_eq!(vector, &unit(fake_vector(text)), "vector for {text:?}");
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "probe + 2 batches of at most 3");
    for request in &seen {
        assert_eq!(request.path, "/api/embed");
        assert_eq!(request.body["model"], "nomic-embed-text");
    }
    assert_eq!(inputs(&seen[1].body), texts(&["one", "two words", ""]));
    assert_eq!(inputs(&seen[2].body), texts(&["日本語", "five"]));
}

#[tokio::test]
async fn error_statuses_carry_the_status_and_the_service_message() {
    let server = Server::start(|path, _| match path {
        "/v1/embeddings" => (
            401,
            json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
                .to_string(),
            Duration::ZERO,
        ),
        "/api/embed" => (
            404,
            json!({"error": "model \"nope\" not found, try pulling it first"}).to_string(),
            Duration::ZERO,
        ),
        _ => (502, "<html>Bad Gateway</html>".to_owned(), Duration::ZERO),
    })
    .await;

    let openai = OpenAiEmbedder::new(&server.base, "m", 3, options(4)).unwrap();
    let error = openai.embed(&texts(&["hi"])).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&format!("{}/v1/embeddings", server.base)),
        "{message}"
    );
    let reason = http_reason(error);
    assert!(reason.contains("401"), "{reason}");
    assert!(reason.contains("Incorrect API key provided"), "{reason}");

    let ollama = OllamaEmbedder::new(&server.base, "nope", 3, options(4)).unwrap();
    let reason = http_reason(ollama.embed(&texts(&["hi"])).await.unwrap_err());
    assert!(reason.contains("404"), "{reason}");
    assert!(reason.contains("model \"nope\" not found"), "{reason}");

    let proxy = format!("{}/proxy", server.base);
    let reason = http_reason(
        OllamaEmbedder::connect(&proxy, "m", options(4))
            .await
            .unwrap_err(),
    );
    assert!(
        reason.contains("502") && reason.contains("Bad Gateway"),
        "{reason}"
    );
}

#[tokio::test]
async fn malformed_bodies_are_refused_with_a_reason() {
    // Each text selects a broken answer.
    let server = Server::start(|_, body| {
        let text = inputs(body).first().cloned().unwrap_or_default();
        let answer = match text.as_str() {
            "not json" => "this is not json".to_owned(),
            "no embedding" => json!({"data": [{"index": 0}]}).to_string(),
            "null number" => {
                json!({"data": [{"index": 0, "embedding": [1.0, null, 2.0]}]}).to_string()
            }
            "too few" => json!({"data": []}).to_string(),
            "wrong dim" => {
                json!({"data": [{"index": 0, "embedding": [1.0, 2.0, 3.0, 4.0]}]}).to_string()
            }
            "empty vector" => json!({"data": [{"index": 0, "embedding": []}]}).to_string(),
            "bad index" => {
                json!({"data": [{"index": 1, "embedding": [1.0, 2.0, 3.0]}]}).to_string()
            }
            "huge" => json!({"data": [{"index": 0, "embedding": [1e39, 1.0, 1.0]}]}).to_string(),
            _ => json!({"data": [{"index": 0, "embedding": [1.0, 2.0, 3.0]}]}).to_string(),
        };
        (200, answer, Duration::ZERO)
    })
    .await;
    let embedder = OpenAiEmbedder::new(&server.base, "m", 3, options(1)).unwrap();
    let cases = [
        ("not json", "malformed response"),
        ("no embedding", "missing field `embedding`"),
        ("null number", "malformed response"),
        ("too few", "sent 1 texts, got 0 vectors"),
        ("wrong dim", "vector 0 has 4 numbers, expected 3"),
        ("empty vector", "vector 0 has 0 numbers"),
        ("bad index", "indices are not 0..1"),
        // Past f32's range: the parser refuses it (it used to read it as infinity, which
        // the embedder refused as non-finite).
        ("huge", "number out of range"),
    ];
    for (text, expected) in cases {
        let reason = http_reason(embedder.embed(&texts(&[text])).await.unwrap_err());
        assert!(reason.contains(expected), "{text}: {reason}");
    }
    // The same server answers a good request fine: the errors above were about the bodies.
    let good = embedder.embed(&texts(&["fine"])).await.unwrap();
    assert_eq!(good, vec![unit(vec![1.0, 2.0, 3.0])]);
    // A connect against a broken answer fails instead of guessing a dimension.
    let server_empty =
        Server::start(|_, _| (200, json!({"data": []}).to_string(), Duration::ZERO)).await;
    assert!(OpenAiEmbedder::connect(&server_empty.base, "m", options(1))
        .await
        .is_err());
}

#[tokio::test]
async fn slow_and_unreachable_services_fail_in_time() {
    let server = Server::start(|_, _| (200, "{}".to_owned(), Duration::from_secs(5))).await;
    let embedder = OllamaEmbedder::new(
        &server.base,
        "m",
        3,
        HttpOptions {
            timeout: Duration::from_millis(300),
            ..HttpOptions::default()
        },
    )
    .unwrap();
    let started = Instant::now();
    let reason = http_reason(embedder.embed(&texts(&["x"])).await.unwrap_err());
    assert!(reason.contains("timed out"), "{reason}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let embedder =
        OpenAiEmbedder::new(&format!("http://127.0.0.1:{port}"), "m", 3, options(1)).unwrap();
    let reason = http_reason(embedder.embed(&texts(&["x"])).await.unwrap_err());
    assert!(reason.contains("cannot connect"), "{reason}");
}

/// Without a TLS backend in reqwest (the workspace builds it with `json` only), an https
/// endpoint fails with a message that says so, instead of reqwest's "scheme is not http".
/// If TLS gets enabled, this test is to change: the same call then fails the handshake.
#[tokio::test]
async fn https_without_tls_says_what_to_do() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let embedder = OpenAiEmbedder::new(&base, "m", 3, options(1)).unwrap();
    let reason = http_reason(embedder.embed(&texts(&["x"])).await.unwrap_err());
    assert!(
        reason.contains("https is not available in this build"),
        "{reason}"
    );
}

#[test]
fn bad_settings_are_refused_up_front() {
    let reason = |r: Result<OpenAiEmbedder, SemanticError>| http_reason(r.unwrap_err());
    assert!(reason(OpenAiEmbedder::new("localhost:8000", "m", 3, options(1))).contains("http://"));
    assert!(reason(OpenAiEmbedder::new("http://h", "m", 0, options(1))).contains("dimension"));
    assert!(reason(OpenAiEmbedder::new("http://h", "", 3, options(1))).contains("model name"));
    assert!(reason(OpenAiEmbedder::new("http://h", "m", 3, options(0))).contains("batch_size"));
}

// ---------------------------------------------------------------------------------------
// The local BERT model, with the real all-MiniLM-L6-v2 weights
// ---------------------------------------------------------------------------------------

#[cfg(feature = "local")]
mod bert {
    use super::*;
    use hoard_semantic::embed::bert::{BertEmbedder, BertOptions, Pooling};
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;

    /// Cosine similarity of two unit vectors.
    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// The folder `scripts/fetch-minilm.sh` prints. A missing folder fails the tests: skipping would
    /// let a broken fetch pass CI silently.
    fn minilm_dir() -> PathBuf {
        let Some(dir) = std::env::var_os("HOARD_MINILM_DIR") else {
            panic!(
                "HOARD_MINILM_DIR is not set: run `scripts/fetch-minilm.sh` and \
                 set HOARD_MINILM_DIR to the folder it prints (scripts/test does both)"
            );
        };
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("model.safetensors").is_file(),
            "HOARD_MINILM_DIR={} does not hold all-MiniLM-L6-v2 (no model.safetensors): \
             run scripts/fetch-minilm.sh again",
            dir.display()
        );
        dir
    }

    /// One loaded model for all tests (loading reads 90 MB).
    fn minilm() -> &'static BertEmbedder {
        static MODEL: OnceLock<BertEmbedder> = OnceLock::new();
        MODEL.get_or_init(|| BertEmbedder::from_dir(minilm_dir(), BertOptions::default()).unwrap())
    }

    fn model_reason(error: SemanticError) -> (PathBuf, String) {
        match error {
            SemanticError::Model { path, reason } => (path, reason),
            other => panic!("expected a Model error, got {other:?}"),
        }
    }

    fn one(model: &BertEmbedder, text: &str) -> Vec<f32> {
        model.embed_blocking(&[text.to_owned()]).unwrap().remove(0)
    }

    #[tokio::test]
    async fn minilm_gives_384_unit_vectors_and_names_itself() {
        let model = minilm();
        assert_eq!(model.id(), "all-MiniLM-L6-v2/384");
        assert_eq!(model.dim(), 384);
        assert_eq!(model.max_length(), 256, "from sentence_bert_config.json");
        assert_eq!(model.pooling(), Pooling::Mean, "from 1_Pooling/config.json");
        let vectors = model
            .embed(&texts(&[
                "How do I learn Python?",
                "The cat sat on the mat.",
            ]))
            .await
            .unwrap();
        assert_eq!(vectors.len(), 2);
        for v in &vectors {
            assert_eq!(v.len(), 384);
            assert!((norm(v) - 1.0).abs() < 1e-5, "norm {}", norm(v));
        }
        assert!(model.embed(&[]).await.unwrap().is_empty());
    }

    #[test]
    fn paraphrases_are_closer_than_unrelated_sentences() {
        let model = minilm();
        let v = model
            .embed_blocking(&texts(&[
                "How do I learn Python?",
                "What is the best way to learn Python?",
                "What is the capital of France?",
                "How do I bake sourdough bread?",
            ]))
            .unwrap();
        let paraphrase = cosine(&v[0], &v[1]);
        let unrelated = cosine(&v[0], &v[2]).max(cosine(&v[0], &v[3]));
        eprintln!("paraphrase {paraphrase:.4}, unrelated {unrelated:.4}");
        assert!(paraphrase > 0.7, "paraphrase similarity {paraphrase}");
        assert!(unrelated < 0.3, "unrelated similarity {unrelated}");
        assert!(paraphrase - unrelated > 0.4);
    }

    /// Values computed outside hoard, by a NumPy implementation of BertModel, mean pooling
    /// and L2 normalization on the same safetensors and the `tokenizers` Python package
    /// (`tests/reference_minilm.py`), to catch a wrong activation, layer-norm epsilon or
    /// pooling, which would still give unit vectors with plausible similarities. The two
    /// texts go through in one batch, so the shorter one is padded: the reference is not.
    #[test]
    fn matches_an_independent_reference_implementation() {
        let batch: Vec<String> = REFERENCE
            .iter()
            .map(|(text, _)| (*text).to_owned())
            .collect();
        let vectors = minilm().embed_blocking(&batch).unwrap();
        let mut worst = 0.0f32;
        for ((text, want), got) in REFERENCE.iter().zip(&vectors) {
            for (i, (got, want)) in got.iter().zip(want).enumerate() {
                worst = worst.max((got - want).abs());
                assert!(
                    (got - want).abs() < 1e-5,
                    "{text:?}, dimension {i}: {got} vs {want}"
                );
            }
        }
        eprintln!("largest difference from the reference: {worst:e}");
    }

    /// The first 8 numbers of all-MiniLM-L6-v2's embeddings of two texts, as
    /// `tests/reference_minilm.py` prints them (6 decimals).
    const REFERENCE: [(&str, [f32; 8]); 2] = [
        (
            "How do I learn Python?",
            [
                0.007199, 0.005711, -0.007903, 0.060841, -0.060732, -0.108364, 0.002032, 0.027313,
            ],
        ),
        (
            "Flüge nach München am 3. Mai, bitte!",
            [
                -0.000836, -0.004691, 0.056755, -0.061202, -0.079717, 0.113901, 0.085974, 0.100683,
            ],
        ),
    ];

    #[test]
    fn batches_give_the_same_vectors_as_one_by_one() {
        let sentences = texts(&[
            "How do I learn Python?",
            "What is the best way to learn Python?",
            "a",
            "",
            "A considerably longer sentence, with punctuation; numbers like 42 and 3.14, and a few clauses that make it pad the others.",
            "Flüge nach München am 3. Mai",
            "東京の天気はどうですか",
            "🙂🙃 emoji only",
            "cancel my subscription",
            "don't cancel my subscription",
        ]);
        let model = minilm();
        let alone: Vec<Vec<f32>> = sentences.iter().map(|s| one(model, s)).collect();
        for batch_size in [1, 3, 32] {
            let batched = BertEmbedder::from_dir(
                minilm_dir(),
                BertOptions {
                    batch_size,
                    ..BertOptions::default()
                },
            )
            .unwrap()
            .embed_blocking(&sentences)
            .unwrap();
            for (i, (a, b)) in alone.iter().zip(&batched).enumerate() {
                let diff = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max);
                assert!(
                    diff < 1e-5,
                    "batch_size {batch_size}, text {i}: max diff {diff}"
                );
            }
        }
    }

    #[test]
    fn odd_inputs_embed_without_panicking_and_long_texts_are_truncated() {
        let model = minilm();
        let long_tail = "word ".repeat(400);
        let odd = texts(&[
            "",
            "   ",
            "\u{0}\u{7}\t\n",
            "ı̇ǅ\u{200b}\u{feff}",
            "ab".repeat(5000).as_str(),
        ]);
        for (text, v) in odd.iter().zip(model.embed_blocking(&odd).unwrap()) {
            assert_eq!(v.len(), 384);
            assert!((norm(&v) - 1.0).abs() < 1e-5, "{text:?}");
        }
        // Past 256 tokens the rest of a text is cut: two texts that differ only there embed
        // the same, and a text that differs early does not.
        let a = one(model, &format!("{long_tail} cats"));
        let b = one(model, &format!("{long_tail} dogs"));
        let c = one(model, &format!("cats {long_tail}"));
        assert_eq!(a, b);
        assert!(cosine(&a, &c) < 0.9999);

        // A shorter max_length cuts earlier.
        let short = BertEmbedder::from_dir(
            minilm_dir(),
            BertOptions {
                max_length: Some(8),
                ..BertOptions::default()
            },
        )
        .unwrap();
        assert_eq!(short.max_length(), 8);
        assert_eq!(
            one(&short, "one two three four five six seven eight"),
            one(
                &short,
                "one two three four five six something else entirely"
            )
        );
    }

    /// A hub cache (`HF_HUB_CACHE` layout) holding all-MiniLM-L6-v2 as symlinks into the
    /// fetched folder, as `huggingface-cli download` leaves it (snapshots link into blobs).
    fn hub_with_minilm(revision: &str) -> hoard_testkit::TempDir {
        let hub = hoard_testkit::temp_dir();
        let repo = hub
            .path()
            .join("models--sentence-transformers--all-MiniLM-L6-v2");
        let snapshot = repo.join("snapshots").join(revision);
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), revision).unwrap();
        for entry in std::fs::read_dir(minilm_dir()).unwrap() {
            let entry = entry.unwrap();
            std::os::unix::fs::symlink(entry.path(), snapshot.join(entry.file_name())).unwrap();
        }
        hub
    }

    const REV: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";

    #[test]
    fn loads_by_repo_id_from_the_hub_cache() {
        let hub = hub_with_minilm(REV);
        let expected = one(minilm(), "hub cache");
        for spec in [
            "sentence-transformers/all-MiniLM-L6-v2".to_owned(),
            format!("sentence-transformers/all-MiniLM-L6-v2@{REV}"),
            "sentence-transformers/all-MiniLM-L6-v2@main".to_owned(),
        ] {
            let model = BertEmbedder::from_hub(hub.path(), &spec, BertOptions::default()).unwrap();
            assert_eq!(model.id(), "all-MiniLM-L6-v2/384", "{spec}");
            assert_eq!(one(&model, "hub cache"), expected, "{spec}");
        }
        // `load` takes a repo id when no such folder exists, and a folder when it does.
        let by_id = BertEmbedder::load(
            "sentence-transformers/all-MiniLM-L6-v2",
            hub.path(),
            BertOptions::default(),
        )
        .unwrap();
        assert_eq!(by_id.id(), "all-MiniLM-L6-v2/384");
        let by_path = BertEmbedder::load(
            minilm_dir().to_str().unwrap(),
            Path::new("/nonexistent-hub"),
            BertOptions {
                name: Some("minilm".to_owned()),
                ..BertOptions::default()
            },
        )
        .unwrap();
        assert_eq!(by_path.id(), "minilm/384");
    }

    #[test]
    fn hub_cache_misses_say_where_they_looked() {
        let hub = hub_with_minilm(REV);
        let cases = [
            (
                "sentence-transformers/all-mpnet-base-v2",
                "not in the Hugging Face hub cache",
            ),
            (
                "sentence-transformers/all-MiniLM-L6-v2@v2.0",
                "cannot read the ref \"v2.0\"",
            ),
            (
                "sentence-transformers/all-MiniLM-L6-v2@0000000000000000000000000000000000000000",
                "snapshot",
            ),
            ("../../etc/passwd", "not a repo id"),
            ("a/b/c", "not a repo id"),
            ("", "not a repo id"),
            (
                "sentence-transformers/all-MiniLM-L6-v2@../x",
                "not a ref name",
            ),
        ];
        for (spec, expected) in cases {
            let error =
                BertEmbedder::from_hub(hub.path(), spec, BertOptions::default()).unwrap_err();
            let message = error.to_string();
            let (_, reason) = model_reason(error);
            assert!(reason.contains(expected), "{spec}: {message}");
        }
        // refs/main pointing at a snapshot that is gone.
        let repo = hub
            .path()
            .join("models--sentence-transformers--all-MiniLM-L6-v2");
        std::fs::write(
            repo.join("refs/main"),
            "1111111111111111111111111111111111111111\n",
        )
        .unwrap();
        let (path, reason) = model_reason(
            BertEmbedder::from_hub(
                hub.path(),
                "sentence-transformers/all-MiniLM-L6-v2",
                BertOptions::default(),
            )
            .unwrap_err(),
        );
        assert!(
            path.ends_with("snapshots/1111111111111111111111111111111111111111"),
            "{}",
            path.display()
        );
        assert!(reason.contains("missing"), "{reason}");
    }

    /// A copy of the model folder (symlinks for the big file), for breaking one file.
    fn copy_of_minilm() -> hoard_testkit::TempDir {
        let copy = hoard_testkit::temp_dir();
        for name in [
            "config.json",
            "tokenizer.json",
            "sentence_bert_config.json",
            "modules.json",
        ] {
            std::fs::copy(minilm_dir().join(name), copy.path().join(name)).unwrap();
        }
        std::fs::create_dir(copy.path().join("1_Pooling")).unwrap();
        std::fs::copy(
            minilm_dir().join("1_Pooling/config.json"),
            copy.path().join("1_Pooling/config.json"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            minilm_dir().join("model.safetensors"),
            copy.path().join("model.safetensors"),
        )
        .unwrap();
        copy
    }

    #[test]
    fn missing_or_corrupt_folders_give_clear_errors() {
        let load = |dir: &Path| BertEmbedder::from_dir(dir, BertOptions::default());

        // The copy itself loads, so each failure below is the one broken file.
        let copy = copy_of_minilm();
        assert_eq!(
            load(copy.path()).unwrap().id().split('/').nth(1),
            Some("384")
        );

        let (path, reason) = model_reason(load(Path::new("/nonexistent/minilm")).unwrap_err());
        assert_eq!(path, Path::new("/nonexistent/minilm"));
        assert!(reason.contains("no such folder"), "{reason}");

        let check = |break_it: &dyn Fn(&Path), file: &str, expected: &str| {
            let dir = copy_of_minilm();
            break_it(dir.path());
            let error = load(dir.path()).unwrap_err();
            let message = error.to_string();
            let (path, reason) = model_reason(error);
            assert!(path.ends_with(file), "{file}: {message}");
            assert!(reason.contains(expected), "{file}: {message}");
        };
        let write = |name: &'static str, content: &'static [u8]| {
            move |dir: &Path| {
                let _ = std::fs::remove_file(dir.join(name));
                std::fs::write(dir.join(name), content).unwrap();
            }
        };
        check(
            &write("config.json", b"{not json"),
            "config.json",
            "not valid JSON",
        );
        check(
            &write("config.json", b"{\"hidden_size\": 384}"),
            "config.json",
            "not a BERT config",
        );
        check(
            &write("config.json", br#"{"model_type": "xlm-roberta"}"#),
            "config.json",
            "\"xlm-roberta\" is not supported",
        );
        check(
            &|dir: &Path| std::fs::remove_file(dir.join("config.json")).unwrap(),
            "config.json",
            "cannot read",
        );
        check(
            &|dir: &Path| std::fs::remove_file(dir.join("tokenizer.json")).unwrap(),
            "tokenizer.json",
            "missing",
        );
        check(
            &write("tokenizer.json", b"{\"version\": 1}"),
            "tokenizer.json",
            "not a tokenizer",
        );
        check(
            &|dir: &Path| std::fs::remove_file(dir.join("model.safetensors")).unwrap(),
            "model.safetensors",
            "cannot read",
        );
        check(
            &write(
                "model.safetensors",
                b"version https://git-lfs.github.com/spec/v1\noid sha256:53aa\nsize 90868376\n",
            ),
            "model.safetensors",
            "Git LFS pointer",
        );
        // Truncated weights: the header promises more than the file has.
        check(
            &|dir: &Path| {
                let bytes = std::fs::read(minilm_dir().join("model.safetensors")).unwrap();
                std::fs::remove_file(dir.join("model.safetensors")).unwrap();
                std::fs::write(dir.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
            },
            "model.safetensors",
            "not valid safetensors",
        );
        // Weights of another shape than the config says.
        check(
            &|dir: &Path| {
                let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
                let text = text.replace("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 12");
                std::fs::write(dir.join("config.json"), text).unwrap();
            },
            "model.safetensors",
            "do not match config.json",
        );
        // Arithmetic the encoder does not do is refused, not run wrong.
        for (from, to, expected) in [
            (
                "\"hidden_act\": \"gelu\"",
                "\"hidden_act\": \"swish\"",
                "hidden_act \"swish\"",
            ),
            (
                "\"position_embedding_type\": \"absolute\"",
                "\"position_embedding_type\": \"relative_key\"",
                "only absolute",
            ),
        ] {
            check(
                &|dir: &Path| {
                    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
                    assert!(text.contains(from), "{from}");
                    std::fs::write(dir.join("config.json"), text.replace(from, to)).unwrap();
                },
                "config.json",
                expected,
            );
        }
        check(
            &write("modules.json", b"[oops"),
            "modules.json",
            "not valid JSON",
        );
        check(
            &|dir: &Path| {
                std::fs::write(
                    dir.join("1_Pooling/config.json"),
                    br#"{"pooling_mode_max_tokens": true}"#,
                )
                .unwrap()
            },
            "1_Pooling/config.json",
            "only mean and CLS pooling",
        );
    }

    #[test]
    fn cls_pooling_is_read_from_the_pooling_config() {
        let dir = copy_of_minilm();
        std::fs::write(
            dir.path().join("1_Pooling/config.json"),
            br#"{"word_embedding_dimension": 384, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#,
        )
        .unwrap();
        let cls = BertEmbedder::from_dir(dir.path(), BertOptions::default()).unwrap();
        assert_eq!(cls.pooling(), Pooling::Cls);
        let v = one(&cls, "How do I learn Python?");
        assert!((norm(&v) - 1.0).abs() < 1e-5);
        assert!(
            cosine(&v, &one(minilm(), "How do I learn Python?")) < 0.999,
            "CLS differs from mean"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_async_calls_share_one_model() {
        let model = minilm().clone();
        let expected = one(&model, "shared");
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let model = model.clone();
            tasks.push(tokio::spawn(async move {
                model.embed(&texts(&["shared"])).await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), vec![expected.clone()]);
        }
    }

    /// Prints how long a batch of 32 sentences and one short query take (`--nocapture`).
    #[test]
    fn time_a_batch_of_32() {
        let model = minilm();
        let batch: Vec<String> = (0..32)
            .map(|i| format!("Question number {i}: how do I cache the answers of a language model by meaning?"))
            .collect();
        model.embed_blocking(&batch).unwrap();
        let started = Instant::now();
        let runs = 3;
        for _ in 0..runs {
            assert_eq!(model.embed_blocking(&batch).unwrap().len(), 32);
        }
        eprintln!("a batch of 32 sentences: {:?}", started.elapsed() / runs);
        let query = texts(&["How do I learn Python?"]);
        let started = Instant::now();
        for _ in 0..10 {
            model.embed_blocking(&query).unwrap();
        }
        eprintln!("one short query: {:?}", started.elapsed() / 10);
    }
}

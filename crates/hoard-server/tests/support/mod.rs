//! What the HTTP tests share: a server on a real socket, built as `hoard serve` builds it,
//! embedded or on Redis, and a client that speaks JSON to it.

// Each test file uses some of these.
#![allow(dead_code, clippy::unwrap_used)]

use hoard::{Cache, DiskConfig, RedisConfig};
use hoard_server::App;
use hoard_testkit::{RedisServer, TempDir};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

pub const TOKEN: &str = "test-admin-token-0123456789";

pub struct Server {
    pub base: String,
    pub client: Client,
    _dir: TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn start(cache: Cache, dir: TempDir) -> Server {
    start_with(cache, dir, Vec::new()).await
}

pub async fn start_with(
    cache: Cache,
    dir: TempDir,
    datasets: Vec<hoard_datasets::DatasetConfig>,
) -> Server {
    launch(cache, dir, datasets, None, "").await
}

/// The server of [`start`], sampling its stats every `interval` instead of every 5 s.
pub async fn start_sampling(cache: Cache, dir: TempDir, interval: Duration) -> Server {
    launch(cache, dir, Vec::new(), Some(interval), "").await
}

/// The server of [`start`] with `read_token` as its one read token: every read needs it.
pub async fn start_guarded(cache: Cache, dir: TempDir, read_token: &str) -> Server {
    let tokens = format!("read_tokens = [\"{read_token}\"]\n");
    launch(cache, dir, Vec::new(), None, &tokens).await
}

/// The server of [`start`] with `more` appended to its configuration (after `[server]`'s
/// keys: more of them, or further sections).
pub async fn start_configured(cache: Cache, dir: TempDir, more: &str) -> Server {
    launch(cache, dir, Vec::new(), None, more).await
}

/// The server `hoard serve` would build on `cache`, with `datasets`, stats sampled every
/// `sampling` (default 5 s) and `more_server_settings` appended to its configuration.
pub async fn launch(
    cache: Cache,
    dir: TempDir,
    datasets: Vec<hoard_datasets::DatasetConfig>,
    sampling: Option<Duration>,
    more_server_settings: &str,
) -> Server {
    launch_with(cache, dir, datasets, sampling, more_server_settings, false).await
}

/// The server of [`launch`] with a semantic cache over `cache` (default settings), whose
/// embedder is [`hoard_semantic::embed::WordsEmbedder`]: words, not meaning, and no model
/// to load. "Cancel my subscription" and "Don't cancel my subscription" are close enough
/// for the negation guard to refuse one for the other.
pub async fn launch_semantic(cache: Cache, dir: TempDir, sampling: Option<Duration>) -> Server {
    launch_with(cache, dir, Vec::new(), sampling, "", true).await
}

async fn launch_with(
    cache: Cache,
    dir: TempDir,
    datasets: Vec<hoard_datasets::DatasetConfig>,
    sampling: Option<Duration>,
    more_server_settings: &str,
    semantic: bool,
) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The application `hoard serve` builds, from this configuration, on the test's cache.
    let text = format!(
        "[cache]\ndata_dir = {:?}\n[server]\nadmin_token = \"{TOKEN}\"\nmax_batch = 100\nmax_body = \"64KiB\"\n{more_server_settings}",
        dir.path().display().to_string()
    );
    let mut settings = hoard_config::Config::from_toml("test.toml", &text)
        .unwrap()
        .settings()
        .unwrap();
    settings.datasets = datasets.clone();
    let mut app = App::with_cache(settings, cache.clone()).await.unwrap();
    // The one difference: manifests are rechecked on every request, so a test sees a
    // file it changes at once.
    app.state.datasets = std::sync::Arc::new(
        hoard_datasets::Datasets::new(cache.clone(), datasets)
            .unwrap()
            .recheck_interval(Duration::ZERO),
    );
    if semantic {
        let semantic = hoard_semantic::SemanticCache::new(
            cache.clone(),
            std::sync::Arc::new(hoard_semantic::embed::WordsEmbedder::new(512)),
            hoard_semantic::SemanticConfig::default(),
        )
        .unwrap();
        app.state.semantic = Some(std::sync::Arc::new(semantic));
    }
    if let Some(interval) = sampling {
        app.state.history = hoard_server::StatsHistory::new(interval);
    }
    tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    Server {
        base,
        client: Client::new(),
        _dir: dir,
        _stop: stop,
    }
}

/// An embedded cache (memory and disk) in a new folder, which the caller keeps alive.
pub fn embedded_cache() -> (Cache, TempDir) {
    let dir = hoard_testkit::temp_dir();
    let cache = Cache::builder()
        .disk(DiskConfig::new(dir.path()))
        .build()
        .unwrap();
    (cache, dir)
}

pub async fn embedded() -> Server {
    let (cache, dir) = embedded_cache();
    start(cache, dir).await
}

pub async fn on_redis(server: &RedisServer) -> Server {
    start(redis_cache(server).await, hoard_testkit::temp_dir()).await
}

/// The server of [`on_redis`], sampling its stats every `interval`.
pub async fn on_redis_sampling(server: &RedisServer, interval: Duration) -> Server {
    let cache = redis_cache(server).await;
    start_sampling(cache, hoard_testkit::temp_dir(), interval).await
}

async fn redis_cache(server: &RedisServer) -> Cache {
    let cache = Cache::builder()
        .redis(RedisConfig::standalone(server.url()).timeout(Duration::from_millis(200)))
        .build()
        .unwrap();
    assert!(cache.wait_coherent(Duration::from_secs(10)).await);
    cache
}

impl Server {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None, None).await
    }
}

/// A mono 8 kHz WAV of `frames` samples at `path` (folders made), dated an hour ago.
pub fn write_wav(path: &std::path::Path, frames: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        writer.write_sample((i % 251) as i16).unwrap();
    }
    writer.finalize().unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

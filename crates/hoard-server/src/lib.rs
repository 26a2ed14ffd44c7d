//! hoard's HTTP API: `app(state)` is the axum `Router`; `serve` runs it until a signal.
//!
//! Routes, errors and limits follow the project contract (DESIGN.md): cache entries and
//! batches under `/v1/cache`, model inference results under `/results` and datasets under
//! `/datasets`, stats, Prometheus
//! metrics; bearer tokens of three scopes (`read` < `write` < `admin`, see [`Access`]), and
//! connections bounded in time and number (see [`Limits`]).

mod access;
pub mod api;
pub mod config;
mod conn;
mod datasets;
mod error;
mod metrics;
pub mod openapi;
mod routes;
mod semantic;

pub use access::{Access, Scope};
pub use api::stats_body;
pub use config::{Config, ConfigError, Overrides};
pub use conn::{listen, Limits};
pub use error::ApiError;
pub use routes::app;

use std::path::Path;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The cache behind the API.
    pub cache: hoard::Cache,
    /// The bearer tokens accepted, by scope (`read`, `write`, `admin`).
    pub access: Access,
    /// Most keys or hashes in one batch request.
    pub max_batch: usize,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// The configured datasets (`[datasets.ID]`), manifests cached in `cache`.
    pub datasets: Arc<hoard_datasets::Datasets>,
    /// The semantic cache, when `[semantic]` names a model.
    pub semantic: Option<Arc<hoard_semantic::SemanticCache>>,
}

/// The admin token: `$HOARD_ADMIN_TOKEN` or `[server] admin_token` (already merged into
/// `configured`), else the one in `{data_dir}/admin-token`, else a new one written there
/// with mode 0600. Returns the token and, when it lives in a file, the file.
pub fn admin_token(
    configured: &str,
    data_dir: &Path,
) -> std::io::Result<(String, Option<std::path::PathBuf>)> {
    if !configured.is_empty() {
        return Ok((configured.to_owned(), None));
    }
    let path = data_dir.join("admin-token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 16 {
            return Ok((existing.to_owned(), Some(path)));
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let token = format!("{:032x}", rand::random::<u128>());
    write_private(&path, &token)?;
    Ok((token, Some(path)))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Serves `state` on `listener` with the default [`Limits`] until `shutdown` resolves, then
/// finishes in-flight requests and flushes the cache (the disk tier's journal).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, Limits::default(), shutdown).await
}

/// Serves `state` on `listener` within `limits` (header, idle and body timeouts, the
/// connection cap) until `shutdown` resolves: then stops accepting, closes idle
/// connections, waits for the requests in flight, and flushes the cache (the disk tier's
/// journal).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cache = state.cache.clone();
    conn::run(listener, app(state), limits, shutdown).await;
    if let Err(error) = cache.flush().await {
        tracing::warn!(%error, "flush at shutdown failed");
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

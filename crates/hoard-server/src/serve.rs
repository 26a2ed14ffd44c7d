//! Running the API: [`serve`] and [`serve_with`] until a signal ([`shutdown_signal`]), then
//! a graceful stop that flushes the cache.

use crate::app::App;
use crate::conn::{self, Limits};
use crate::router::service;
use crate::state::AppState;

/// Serves `state` on `listener` with the default [`Limits`] until `shutdown` resolves, then
/// finishes in-flight requests and flushes the cache (the disk tier's journal). While it
/// serves, the stats are sampled into `state.history` every interval.
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
    let sampler = tokio::spawn(state.history.clone().run(
        cache.clone(),
        state.semantic.clone(),
        state.models.clone(),
    ));
    conn::run(listener, service(state), limits, shutdown).await;
    sampler.abort();
    if let Err(error) = cache.flush().await {
        tracing::warn!(%error, "flush at shutdown failed");
    }
    Ok(())
}

impl App {
    /// Serves the application on `listener` within its limits until `shutdown` resolves,
    /// as [`serve_with`] does.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve_with(listener, self.state, self.limits, shutdown).await
    }
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

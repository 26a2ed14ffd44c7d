//! hoard's HTTP API: `app(state)` is the axum `Router`; `serve` runs it until a signal.
//!
//! Routes, errors and limits follow the project contract (DESIGN.md): cache entries and
//! batches under `/v1/cache`, the emotion-recognition backend's inference results under
//! `/results` and its datasets under `/datasets`, the semantic cache under `/v1/semantic`,
//! stats and Prometheus metrics; bearer tokens of three scopes (`read` < `write` < `admin`,
//! see [`Access`]), and connections bounded in time and number (see [`Limits`]).
//!
//! [`App::open`] builds everything `hoard serve` runs from a `hoard_config::Config`;
//! [`App::serve`] runs it.
//!
//! Modules depend one way: `app` → `serve` → `router` → `hit_path`, `routes::*` and
//! `openapi` → the shared pieces (`extract`, `auth`, `error`, `state`, and `conn`, which
//! serves whatever answers requests, `conn::Api`), which use no route.

mod admin_token;
pub mod api;
mod app;
mod auth;
pub mod census;
mod conn;
mod error;
mod extract;
pub mod history;
mod hit_path;
mod latency;
mod metrics;
pub mod model_stores;
pub mod openapi;
mod request_id;
mod router;
mod routes;
mod serve;
mod state;

pub use admin_token::admin_token;
pub use api::stats_body;
pub use app::{App, AppError};
pub use auth::{Access, Scope};
pub use conn::{listen, Limits};
pub use error::{ApiError, ErrorCode};
pub use history::StatsHistory;
pub use router::app;
pub use serve::{serve, serve_with, shutdown_signal};
pub use state::AppState;

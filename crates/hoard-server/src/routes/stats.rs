//! `GET /v1/stats`: the cache's counters in the shape the AI-Playground backend's cache
//! stats had (`available`, `stats`, `config`, `message`), plus per-namespace and per-tier
//! counts.

use crate::auth::Read;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

/// Bytes as the AI-Playground backend's stats show them: `1.5M`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", UNITS[unit])
    }
}

#[utoipa::path(get, path = "/v1/stats", tag = "operations", security(("bearer" = ["read"])), responses((status = 200, description = "The AI-Playground backend's stats shape: available, stats, config, message; plus namespaces and tiers"), (status = 401, description = "No token or an unknown one, once read or write tokens are configured", body = ErrorBody), (status = 403, description = "The token's scope is below read", body = ErrorBody)))]
pub(crate) async fn stats(_: Read, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(stats_body(&state.cache.stats().await?)))
}

/// The body of `GET /v1/stats` for these stats: the AI-Playground backend's shape
/// (`available`, `stats`, `config`, `message`) plus `namespaces` and `tiers`. The Python
/// package's `Cache.stats()` answers the same.
pub fn stats_body(stats: &hoard::Stats) -> Value {
    let config: Map<String, Value> = hoard::ttl::PRESETS
        .iter()
        .map(|(name, ttl)| ((*name).to_owned(), json!(ttl.as_secs())))
        .collect();
    let message = if stats.available {
        "Cache is healthy".to_owned()
    } else {
        "L2 unavailable: serving from memory".to_owned()
    };
    json!({
        "available": stats.available,
        "stats": {
            "used_memory": human_bytes(stats.used_memory),
            "used_memory_bytes": stats.used_memory,
            "total_keys": stats.total_keys,
            "hits": stats.totals.hits,
            "misses": stats.totals.misses,
            "hit_rate": format!("{:.1}%", stats.totals.hit_rate * 100.0),
            "l1_hits": stats.totals.l1_hits,
            "l2_hits": stats.totals.l2_hits,
            "sets": stats.totals.sets,
            "deletes": stats.totals.deletes,
            "errors": stats.totals.errors,
            "evictions": stats.evictions,
            "expirations": stats.expirations,
        },
        "config": config,
        "message": message,
        "namespaces": stats.namespaces,
        "tiers": stats.tiers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_the_ai_playground_stats() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1_572_864), "1.5M");
    }
}

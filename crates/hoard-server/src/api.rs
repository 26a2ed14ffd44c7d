//! Typed bodies of the HTTP API that hoard's own clients read back: the server builds them,
//! `hoard stats` (and the Python package's `Cache.stats()`) read them.
//!
//! `GET /datasets` answers [`DatasetsResponse`], which `hoard datasets ls --server` reads.
//!
//! `GET /v1/stats` answers [`StatsResponse`]: `available`, `stats`, `config` and `message`,
//! the shape the Python cache managers hoard replaces returned (and their dashboards
//! read), plus per-namespace and per-tier counts, and on a server with a semantic cache
//! its counts (`semantic`).

use hoard::stats::{NamespaceStats, TierStats};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The body of `GET /v1/stats`.
///
/// Every field has a default when read, so a client still reads the body of a server that
/// sends fewer fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StatsResponse {
    /// Whether every tier answered.
    pub available: bool,
    /// The TTL presets by name, in seconds (`ttl_week: 604800`, ...).
    pub config: BTreeMap<String, u64>,
    /// `Cache is healthy`, or what is wrong.
    pub message: String,
    /// Counts per namespace.
    #[schema(value_type = BTreeMap<String, NamespaceStatsSchema>)]
    pub namespaces: BTreeMap<String, NamespaceStats>,
    /// What each namespace holds (keys, bytes), by the last walk over the stored keys,
    /// which the server takes in the background (every 30 s at most); absent until the
    /// first has finished and outside a server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub census: Option<crate::census::CensusReport>,
    /// Totals over every namespace.
    pub stats: StatsSummary,
    /// The semantic cache's counts on this server since it started; absent when it has no
    /// semantic cache.
    #[schema(value_type = Option<SemanticStatsSchema>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semantic: Option<hoard_semantic::SemanticStats>,
    /// L1 first, then L2 if there is one.
    #[schema(value_type = Vec<TierStatsSchema>)]
    pub tiers: Vec<TierStats>,
    /// What the writers of write-through and write-behind namespaces did (an application
    /// that embeds the server registers them); absent without any.
    #[schema(value_type = BTreeMap<String, WriterStatsSchema>)]
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub writers: BTreeMap<String, hoard::WriterStats>,
}

/// The `stats` object of [`StatsResponse`]: totals, two of them as text for people
/// (`used_memory` as `1.5M`, `hit_rate` as `80.0%`) beside the numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StatsSummary {
    /// Entries removed by `delete` that existed.
    pub deletes: u64,
    /// Failed operations.
    pub errors: u64,
    /// Evictions summed over tiers.
    pub evictions: u64,
    /// Expired entries reclaimed by the tier that holds the truth.
    pub expirations: u64,
    /// Hit rate as a percentage with one decimal: `80.0%`.
    pub hit_rate: String,
    /// Reads answered from a tier.
    pub hits: u64,
    /// Reads answered by the in-memory L1.
    pub l1_hits: u64,
    /// Reads that missed L1 and were answered by L2.
    pub l2_hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// Entries written.
    pub sets: u64,
    /// Milliseconds of compute the hits saved (each hit adds its entry's compute time).
    pub compute_saved_ms: u64,
    /// Entries held by the tier that holds the truth.
    pub total_keys: u64,
    /// Bytes used in memory by L1, short binary units: `512B`, `1.5M`.
    pub used_memory: String,
    /// The same in bytes.
    pub used_memory_bytes: u64,
    /// L1's budget in bytes (`[cache] memory`), what `used_memory_bytes` stays under.
    pub memory_budget_bytes: u64,
}

/// The schema of [`NamespaceStats`] in the OpenAPI document. The hoard crate knows nothing
/// of OpenAPI, so its types cannot derive `ToSchema`; this mirror states their fields, and
/// a test of the document checks it against what the server sends.
#[derive(utoipa::ToSchema)]
#[schema(as = NamespaceStats)]
#[allow(dead_code)] // a schema only: never built
pub(crate) struct NamespaceStatsSchema {
    /// Entries removed by `delete` that existed.
    deletes: u64,
    /// Failed operations (a tier error, a corrupt entry found and dropped).
    errors: u64,
    /// `hits / (hits + misses)`, 0 when nothing was read.
    hit_rate: f64,
    /// Reads answered from a tier (`l1_hits + l2_hits`).
    hits: u64,
    /// Reads answered by the in-memory L1.
    l1_hits: u64,
    /// Reads that missed L1 and were answered by L2.
    l2_hits: u64,
    /// Reads that found nothing.
    misses: u64,
    /// Entries written.
    sets: u64,
    /// Milliseconds of compute the hits saved: each hit adds the time its entry's value
    /// took to compute (0 for values written without one).
    compute_saved_ms: u64,
}

/// The schema of [`TierStats`] in the OpenAPI document (see [`NamespaceStatsSchema`]).
#[derive(utoipa::ToSchema)]
#[schema(as = TierStats)]
#[allow(dead_code)] // a schema only: never built
pub(crate) struct TierStatsSchema {
    /// Whether the tier answered; when it did not, the counts are zero.
    available: bool,
    /// Bytes used: weighted bytes in memory, space on disk for the disk tier.
    bytes: u64,
    /// Entries held.
    entries: u64,
    /// Entries pushed out to stay within the capacity.
    evictions: u64,
    /// Expired entries the tier reclaimed.
    expirations: u64,
    /// `memory`, `disk` or `redis`.
    name: String,
}

/// The schema of [`hoard::WriterStats`] (see [`NamespaceStatsSchema`]).
#[derive(utoipa::ToSchema)]
#[schema(as = WriterStats)]
#[allow(dead_code)] // a schema only: never built
pub(crate) struct WriterStatsSchema {
    /// `through` (the writer runs before a write is acknowledged) or `behind` (a durable
    /// queue, drained in the background).
    mode: String,
    /// Writes the writer accepted.
    written: u64,
    /// Calls of the writer that succeeded.
    batches: u64,
    /// Calls of the writer that failed, every retry counted.
    failures: u64,
    /// Failures since the last success: above zero, the writer is failing now.
    consecutive_failures: u64,
    /// What the last failure reported.
    last_error: Option<String>,
    /// Writes queued and not yet accepted (write-behind).
    pending: u64,
    /// Queued writes that could not be read back (damaged) and were dropped.
    unreadable: u64,
}

/// The schema of [`hoard_semantic::SemanticStats`] (see [`NamespaceStatsSchema`]).
#[derive(utoipa::ToSchema)]
#[schema(as = SemanticStats)]
#[allow(dead_code)] // a schema only: never built
pub(crate) struct SemanticStatsSchema {
    /// Sums over every namespace.
    totals: SemanticNamespaceStatsSchema,
    /// Every namespace this server looked up, stored into or holds entries of; past 1024
    /// namespaces the rest share `(other)`.
    namespaces: BTreeMap<String, SemanticNamespaceStatsSchema>,
}

/// The schema of [`hoard_semantic::cache::NamespaceStats`].
#[derive(utoipa::ToSchema)]
#[schema(as = SemanticNamespaceStats)]
#[allow(dead_code)] // a schema only: never built
pub(crate) struct SemanticNamespaceStatsSchema {
    /// Entries this server holds in memory now.
    entries: u64,
    /// Lookups answered (failed ones are not counted).
    lookups: u64,
    /// Lookups that found an answer.
    hits: u64,
    /// Lookups that found none (`lookups - hits`).
    misses: u64,
    /// Answers stored.
    stores: u64,
    /// Candidates that cleared the threshold and were turned down, by the check that did
    /// it (one lookup may refuse several and still hit).
    refusals: SemanticRefusalsSchema,
}

/// The schema of [`hoard_semantic::Refusals`].
#[derive(utoipa::ToSchema)]
#[schema(as = SemanticRefusals)]
#[allow(dead_code)] // a schema only: never built
pub(crate) struct SemanticRefusalsSchema {
    /// Feedback had judged the entry wrong for neighbours this far away.
    feedback: u64,
    /// The numbers differed.
    numbers: u64,
    /// The dates or times differed.
    dates: u64,
    /// One was negated, the other not.
    negation: u64,
    /// A named entity of one was missing from the other.
    entities: u64,
    /// The scope words differed.
    scope: u64,
    /// A query leaned on a conversation that was not the same.
    references: u64,
    /// The verifier judged that the two questions need different answers.
    verifier: u64,
}

impl StatsResponse {
    /// The response for the cache's `stats`.
    pub fn new(stats: &hoard::Stats) -> StatsResponse {
        let config = hoard::ttl::PRESETS
            .iter()
            .map(|(name, ttl)| ((*name).to_owned(), ttl.as_secs()))
            .collect();
        let message = if stats.available {
            "Cache is healthy"
        } else {
            "L2 unavailable: serving from memory"
        };
        StatsResponse {
            available: stats.available,
            config,
            message: message.to_owned(),
            namespaces: stats.namespaces.clone(),
            stats: StatsSummary {
                deletes: stats.totals.deletes,
                errors: stats.totals.errors,
                evictions: stats.evictions,
                expirations: stats.expirations,
                hit_rate: format!("{:.1}%", stats.totals.hit_rate * 100.0),
                hits: stats.totals.hits,
                l1_hits: stats.totals.l1_hits,
                l2_hits: stats.totals.l2_hits,
                misses: stats.totals.misses,
                sets: stats.totals.sets,
                compute_saved_ms: stats.totals.compute_saved_ms,
                total_keys: stats.total_keys,
                used_memory: bytesize::ByteSize::b(stats.used_memory)
                    .display()
                    .iec_short()
                    .to_string(),
                used_memory_bytes: stats.used_memory,
                memory_budget_bytes: stats.memory_budget,
            },
            semantic: None,
            census: None,
            tiers: stats.tiers.clone(),
            writers: stats.writers.clone(),
        }
    }
}

/// [`StatsResponse::new`] as a JSON value: what `GET /v1/stats` sends and the Python
/// package's `Cache.stats()` returns. Going through a `Value` sorts every object's keys,
/// the order the body has always had.
pub fn stats_body(stats: &hoard::Stats) -> Value {
    stats_body_with(stats, None, None)
}

/// [`stats_body`] with the semantic cache's counts, when the server has one, and the last
/// census of the namespaces, once there is one.
pub fn stats_body_with(
    stats: &hoard::Stats,
    semantic: Option<hoard_semantic::SemanticStats>,
    census: Option<crate::census::CensusReport>,
) -> Value {
    let mut response = StatsResponse::new(stats);
    response.semantic = semantic;
    response.census = census;
    serde_json::to_value(response).expect("a stats body is numbers, text and maps keyed by text")
}

/// The body of `GET /datasets`: every configured dataset, in id order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatasetsResponse {
    /// One per `[datasets.ID]`.
    pub datasets: Vec<hoard_datasets::DatasetInfo>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Stats with every kind of count set: one namespace, one tier.
    pub(crate) fn sample_stats() -> hoard::Stats {
        let mut stats = hoard::Stats {
            available: true,
            used_memory: 3 << 20,
            memory_budget: 256 << 20,
            total_keys: 7,
            evictions: 2,
            expirations: 1,
            ..hoard::Stats::default()
        };
        stats.totals.l1_hits = 3;
        stats.totals.hits = 3;
        stats.totals.misses = 1;
        stats.totals.hit_rate = 0.75;
        stats.totals.sets = 4;
        stats.totals.compute_saved_ms = 1500;
        stats
            .namespaces
            .insert("model".into(), stats.totals.clone());
        stats.tiers.push(TierStats {
            name: "memory".into(),
            entries: 7,
            bytes: 100,
            evictions: 2,
            expirations: 1,
            available: true,
        });
        stats
    }

    fn used_memory(bytes: u64) -> String {
        let stats = hoard::Stats {
            used_memory: bytes,
            ..hoard::Stats::default()
        };
        StatsResponse::new(&stats).stats.used_memory
    }

    #[test]
    fn used_memory_reads_in_short_binary_units() {
        assert_eq!(used_memory(512), "512B");
        assert_eq!(used_memory(1_572_864), "1.5M");
    }

    #[test]
    fn the_body_reads_back_as_the_response() {
        let stats = sample_stats();
        let body = stats_body(&stats);
        assert_eq!(body["stats"]["hit_rate"], "75.0%");
        assert_eq!(body["stats"]["used_memory"], "3.0M");
        assert_eq!(body["config"]["ttl_week"], 604_800);
        assert_eq!(body["message"], "Cache is healthy");
        let read: StatsResponse = serde_json::from_value(body).unwrap();
        assert_eq!(read, StatsResponse::new(&stats));
        assert_eq!(read.namespaces["model"].l1_hits, 3);
    }

    #[test]
    fn the_body_keeps_its_keys_and_their_order() {
        let stats = sample_stats();
        // Byte for byte what the body was when the server built it with `json!`, plus the
        // fields added since (`compute_saved_ms`, `memory_budget_bytes`), in their sorted
        // places.
        assert_eq!(
            serde_json::to_string(&stats_body(&stats)).unwrap(),
            concat!(
                r#"{"available":true,"config":{"ttl_day":86400,"ttl_long":3600,"ttl_medium":1800,"#,
                r#""ttl_short":900,"ttl_very_long":7200,"ttl_very_short":300,"ttl_week":604800},"#,
                r#""message":"Cache is healthy","namespaces":{"model":{"compute_saved_ms":1500,"#,
                r#""deletes":0,"errors":0,"#,
                r#""hit_rate":0.75,"hits":3,"l1_hits":3,"l2_hits":0,"misses":1,"sets":4}},"#,
                r#""stats":{"compute_saved_ms":1500,"deletes":0,"errors":0,"evictions":2,"expirations":1,"hit_rate":"75.0%","#,
                r#""hits":3,"l1_hits":3,"l2_hits":0,"memory_budget_bytes":268435456,"misses":1,"sets":4,"total_keys":7,"#,
                r#""used_memory":"3.0M","used_memory_bytes":3145728},"tiers":[{"available":true,"#,
                r#""bytes":100,"entries":7,"evictions":2,"expirations":1,"name":"memory"}]}"#
            )
        );
    }

    #[test]
    fn a_body_with_fields_missing_still_reads() {
        let read: StatsResponse =
            serde_json::from_str(r#"{"available":false,"stats":{"hits":2}}"#).unwrap();
        assert!(!read.available);
        assert_eq!(read.stats.hits, 2);
        assert!(read.namespaces.is_empty());
    }
}

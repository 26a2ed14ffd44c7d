//! The text `GET /metrics` answers: the cache's counters in the OpenMetrics format,
//! written by `prometheus-client` (which escapes label values: a namespace may hold `"` or
//! `\`).
//!
//! Namespaces are clients' names, so the label set is bounded: the [`MAX_NAMESPACES`]
//! busiest namespaces get their own series, the rest are summed into one
//! `namespace="(other)"` series (as the stats already do past 1024 namespaces).

use hoard::NamespaceStats;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Namespaces with series of their own; the rest share `(other)`.
pub const MAX_NAMESPACES: usize = 100;

type Labels = Vec<(String, String)>;

/// A counter of every namespace: its name, its help, and where it is in a namespace's stats.
type PerNamespace = (&'static str, &'static str, fn(&NamespaceStats) -> u64);

/// The busiest namespaces (by reads and writes), then everything else as `(other)`.
fn bounded(stats: &hoard::Stats) -> Vec<(String, NamespaceStats)> {
    let mut rows: Vec<(String, NamespaceStats)> = stats
        .namespaces
        .iter()
        .map(|(ns, s)| (ns.clone(), s.clone()))
        .collect();
    let activity = |s: &NamespaceStats| s.hits + s.misses + s.sets + s.deletes + s.errors;
    rows.sort_by(|(a_ns, a), (b_ns, b)| activity(b).cmp(&activity(a)).then(a_ns.cmp(b_ns)));
    if rows.len() > MAX_NAMESPACES {
        let mut other = NamespaceStats::default();
        for (_, s) in rows.drain(MAX_NAMESPACES - 1..) {
            other.accumulate(&s);
        }
        rows.push((hoard::OTHER_NAMESPACES.to_owned(), other));
    }
    rows
}

/// The text a scrape gets.
pub fn render(stats: &hoard::Stats) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    let rows = bounded(stats);
    let per_namespace: [PerNamespace; 6] = [
        ("hoard_l1_hits", "Reads answered by the in-memory L1", |s| {
            s.l1_hits
        }),
        ("hoard_l2_hits", "Reads answered by L2", |s| s.l2_hits),
        ("hoard_misses", "Reads that found nothing", |s| s.misses),
        ("hoard_sets", "Entries written", |s| s.sets),
        ("hoard_deletes", "Entries deleted", |s| s.deletes),
        ("hoard_errors", "Failed tier operations", |s| s.errors),
    ];
    for (name, help, pick) in per_namespace {
        let family = Family::<Labels, Counter>::default();
        for (namespace, s) in &rows {
            family
                .get_or_create(&vec![("namespace".to_owned(), namespace.clone())])
                .inc_by(pick(s));
        }
        registry.register(name, help, family);
    }
    // Seconds, as Prometheus counts time: `hoard_compute_saved_seconds_total`.
    let saved = Family::<Labels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
    for (namespace, s) in &rows {
        saved
            .get_or_create(&vec![("namespace".to_owned(), namespace.clone())])
            .inc_by(s.compute_saved_ms as f64 / 1000.0);
    }
    registry.register(
        "hoard_compute_saved_seconds",
        "Compute time the hits saved: each hit adds the time its entry's value took to compute",
        saved,
    );
    let counter = |value: u64| {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        counter
    };
    registry.register(
        "hoard_evictions",
        "Entries evicted for capacity",
        counter(stats.evictions),
    );
    registry.register(
        "hoard_expirations",
        "Expired entries reclaimed",
        counter(stats.expirations),
    );
    let gauge = |value: u64| {
        let gauge = Gauge::<i64>::default();
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        gauge
    };
    registry.register(
        "hoard_used_memory_bytes",
        "Bytes held by L1",
        gauge(stats.used_memory),
    );
    registry.register(
        "hoard_keys",
        "Entries held by the tier that holds the truth",
        gauge(stats.total_keys),
    );
    registry.register(
        "hoard_l2_up",
        "1 when L2 answers",
        gauge(u64::from(stats.available)),
    );
    let mut out = String::new();
    encode(&mut out, &registry)?;
    Ok(out)
}

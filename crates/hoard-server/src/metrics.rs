//! The text `GET /metrics` answers: the cache's counters in the OpenMetrics format,
//! written by `prometheus-client` (which escapes label values: a namespace may hold `"` or
//! `\`).
//!
//! Namespaces are clients' names, so the label set is bounded: the [`MAX_NAMESPACES`]
//! busiest namespaces get their own series, the rest are summed into one
//! `namespace="(other)"` series (as the stats already do past 1024 namespaces).
//!
//! A server with a semantic cache adds its counts: `hoard_semantic_lookups_total`,
//! `_hits_total`, `_stores_total` and `hoard_semantic_entries` per namespace, and
//! `hoard_semantic_refusals_total{namespace,guard}`, the candidates each check turned down
//! (`guard` is `numbers`, `dates`, `negation`, `entities`, `scope`, `references`,
//! `feedback` or `verifier`), bounded the same way.
//!
//! Once the server has counted its namespaces (see `crate::census`), the gauges
//! `hoard_namespace_keys` and `hoard_namespace_bytes` give what each holds, the largest
//! [`MAX_NAMESPACES`] by keys on their own and the rest as `(other)`.

use crate::census::{CensusCounts, CensusReport};
use crate::model_stores::ModelStoresReport;
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

/// The busiest semantic namespaces (by lookups and stores), then everything else as
/// `(other)`.
fn bounded_semantic(
    stats: &hoard_semantic::SemanticStats,
) -> Vec<(String, hoard_semantic::cache::NamespaceStats)> {
    let mut rows: Vec<_> = stats
        .namespaces
        .iter()
        .map(|(ns, s)| (ns.clone(), s.clone()))
        .collect();
    let activity = |s: &hoard_semantic::cache::NamespaceStats| s.lookups + s.stores;
    rows.sort_by(|(a_ns, a), (b_ns, b)| activity(b).cmp(&activity(a)).then(a_ns.cmp(b_ns)));
    if rows.len() > MAX_NAMESPACES {
        let mut other = hoard_semantic::cache::NamespaceStats::default();
        for (_, s) in rows.drain(MAX_NAMESPACES - 1..) {
            other.accumulate(&s);
        }
        rows.push((hoard::OTHER_NAMESPACES.to_owned(), other));
    }
    rows
}

/// The semantic cache's series.
fn register_semantic(registry: &mut Registry, stats: &hoard_semantic::SemanticStats) {
    type Pick = fn(&hoard_semantic::cache::NamespaceStats) -> u64;
    let rows = bounded_semantic(stats);
    let label = |namespace: &str| vec![("namespace".to_owned(), namespace.to_owned())];
    let counters: [(&str, &str, Pick); 3] = [
        ("hoard_semantic_lookups", "Semantic lookups answered", |s| {
            s.lookups
        }),
        (
            "hoard_semantic_hits",
            "Semantic lookups that found an answer",
            |s| s.hits,
        ),
        ("hoard_semantic_stores", "Semantic answers stored", |s| {
            s.stores
        }),
    ];
    for (name, help, pick) in counters {
        let family = Family::<Labels, Counter>::default();
        for (namespace, s) in &rows {
            family.get_or_create(&label(namespace)).inc_by(pick(s));
        }
        registry.register(name, help, family);
    }
    let entries = Family::<Labels, Gauge>::default();
    for (namespace, s) in &rows {
        entries
            .get_or_create(&label(namespace))
            .set(i64::try_from(s.entries).unwrap_or(i64::MAX));
    }
    registry.register(
        "hoard_semantic_entries",
        "Semantic entries this server holds in memory",
        entries,
    );
    let refusals = Family::<Labels, Counter>::default();
    for (namespace, s) in &rows {
        for (verdict, n) in s.refusals.by_check() {
            let labels = vec![
                ("namespace".to_owned(), namespace.clone()),
                ("guard".to_owned(), verdict.name().to_owned()),
            ];
            refusals.get_or_create(&labels).inc_by(n);
        }
    }
    registry.register(
        "hoard_semantic_refusals",
        "Semantic candidates that cleared the threshold and were turned down, by the check that did it",
        refusals,
    );
}

/// The census's gauges: keys and bytes of the largest namespaces, the rest as `(other)`.
/// The writers of write-through and write-behind namespaces: what they wrote, how often
/// they failed, and what waits. Namespaces with writers are registered in code, so they
/// are few: no bound is needed.
fn register_writers(
    registry: &mut Registry,
    writers: &std::collections::BTreeMap<String, hoard::WriterStats>,
) {
    let labels = |namespace: &str, writer: &hoard::WriterStats| {
        vec![
            ("namespace".to_owned(), namespace.to_owned()),
            ("mode".to_owned(), writer.mode.as_str().to_owned()),
        ]
    };
    type Pick = fn(&hoard::WriterStats) -> u64;
    let counters: [(&str, &str, Pick); 2] = [
        (
            "hoard_writer_written",
            "Writes the backing store's writer accepted",
            |w| w.written,
        ),
        (
            "hoard_writer_failures",
            "Calls of the backing store's writer that failed, every retry counted",
            |w| w.failures,
        ),
    ];
    for (name, help, pick) in counters {
        let family = Family::<Labels, Counter>::default();
        for (namespace, writer) in writers {
            family
                .get_or_create(&labels(namespace, writer))
                .inc_by(pick(writer));
        }
        registry.register(name, help, family);
    }
    let gauges: [(&str, &str, Pick); 2] = [
        (
            "hoard_writer_pending",
            "Write-behind writes queued and not yet accepted by the writer",
            |w| w.pending,
        ),
        (
            "hoard_writer_consecutive_failures",
            "Failures of the writer since its last success: above 0, it is failing now",
            |w| w.consecutive_failures,
        ),
    ];
    for (name, help, pick) in gauges {
        let family = Family::<Labels, Gauge>::default();
        for (namespace, writer) in writers {
            family
                .get_or_create(&labels(namespace, writer))
                .set(i64::try_from(pick(writer)).unwrap_or(i64::MAX));
        }
        registry.register(name, help, family);
    }
}

fn register_census(registry: &mut Registry, census: &CensusReport) {
    let mut rows: Vec<(String, CensusCounts)> = census
        .namespaces
        .iter()
        .map(|(ns, counts)| (ns.clone(), *counts))
        .collect();
    rows.sort_by(|(a_ns, a), (b_ns, b)| b.keys.cmp(&a.keys).then(a_ns.cmp(b_ns)));
    if rows.len() > MAX_NAMESPACES {
        let mut other = CensusCounts::default();
        for (_, counts) in rows.drain(MAX_NAMESPACES - 1..) {
            other.keys += counts.keys;
            other.bytes += counts.bytes;
        }
        rows.push((hoard::OTHER_NAMESPACES.to_owned(), other));
    }
    type Pick = fn(&CensusCounts) -> u64;
    let gauges: [(&str, &str, Pick); 2] = [
        (
            "hoard_namespace_keys",
            "Live entries of the namespace, by the last count of the stored keys",
            |c| c.keys,
        ),
        (
            "hoard_namespace_bytes",
            "Bytes of the namespace's live values (before compression), by the last count",
            |c| c.bytes,
        ),
    ];
    for (name, help, pick) in gauges {
        let family = Family::<Labels, Gauge>::default();
        for (namespace, counts) in &rows {
            family
                .get_or_create(&vec![("namespace".to_owned(), namespace.clone())])
                .set(i64::try_from(pick(counts)).unwrap_or(i64::MAX));
        }
        registry.register(name, help, family);
    }
}

/// The model caches' gauges: bytes per store, and each configured budget with whether it
/// is gone over (`store="all"` for every store together).
fn register_model_stores(registry: &mut Registry, report: &ModelStoresReport) {
    let label = |store: &str| vec![("store".to_owned(), store.to_owned())];
    let as_gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let bytes = Family::<Labels, Gauge>::default();
    for (store, held) in &report.stores {
        bytes
            .get_or_create(&label(store.name()))
            .set(as_gauge(*held));
    }
    registry.register(
        "hoard_models_bytes",
        "Bytes the model cache store holds, each file counted once, by the last scan",
        bytes,
    );
    let budget = Family::<Labels, Gauge>::default();
    let over = Family::<Labels, Gauge>::default();
    for check in &report.budgets {
        budget
            .get_or_create(&label(check.scope()))
            .set(as_gauge(check.limit));
        over.get_or_create(&label(check.scope()))
            .set(i64::from(check.over()));
    }
    registry.register(
        "hoard_models_budget_bytes",
        "The configured budget of the store ([models.store_max_size]; all: [models] max_size)",
        budget,
    );
    registry.register(
        "hoard_models_over_budget",
        "1 while the store holds more than its budget",
        over,
    );
}

/// What a scrape shows beside the cache's own counters, each once the server has it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Extras<'a> {
    /// The semantic cache's counts.
    pub semantic: Option<&'a hoard_semantic::SemanticStats>,
    /// The namespaces' keys and bytes.
    pub census: Option<&'a CensusReport>,
    /// The model caches' sizes and budgets.
    pub model_stores: Option<&'a ModelStoresReport>,
}

/// The text a scrape gets: the cache's counters, and the series of each of `extras`.
pub fn render(stats: &hoard::Stats, extras: Extras<'_>) -> Result<String, std::fmt::Error> {
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
    if !stats.writers.is_empty() {
        register_writers(&mut registry, &stats.writers);
    }
    if let Some(semantic) = extras.semantic {
        register_semantic(&mut registry, semantic);
    }
    if let Some(census) = extras.census {
        register_census(&mut registry, census);
    }
    if let Some(report) = extras.model_stores {
        register_model_stores(&mut registry, report);
    }
    let mut out = String::new();
    encode(&mut out, &registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn semantic_stats(namespaces: usize) -> hoard_semantic::SemanticStats {
        let mut stats = hoard_semantic::SemanticStats::default();
        for n in 0..namespaces {
            let mut row = hoard_semantic::cache::NamespaceStats {
                entries: 2,
                lookups: 3 + n as u64,
                hits: 1,
                misses: 2 + n as u64,
                stores: 2,
                ..Default::default()
            };
            row.refusals.negation = 1;
            stats.namespaces.insert(format!("ns{n}"), row);
        }
        stats
    }

    #[test]
    fn the_semantic_series_are_there_only_with_a_semantic_cache() {
        let stats = crate::api::tests::sample_stats();
        let plain = render(&stats, Extras::default()).unwrap();
        assert!(!plain.contains("hoard_semantic"), "{plain}");
        let text = render(
            &stats,
            Extras {
                semantic: Some(&semantic_stats(1)),
                ..Extras::default()
            },
        )
        .unwrap();
        for line in [
            r#"hoard_semantic_lookups_total{namespace="ns0"} 3"#,
            r#"hoard_semantic_hits_total{namespace="ns0"} 1"#,
            r#"hoard_semantic_stores_total{namespace="ns0"} 2"#,
            r#"hoard_semantic_entries{namespace="ns0"} 2"#,
            r#"hoard_semantic_refusals_total{namespace="ns0",guard="negation"} 1"#,
            r#"hoard_semantic_refusals_total{namespace="ns0",guard="numbers"} 0"#,
            r#"hoard_semantic_refusals_total{namespace="ns0",guard="verifier"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn semantic_namespaces_past_the_busiest_share_one_series() {
        let text = render(
            &hoard::Stats::default(),
            Extras {
                semantic: Some(&semantic_stats(MAX_NAMESPACES + 10)),
                ..Extras::default()
            },
        )
        .unwrap();
        let series = text
            .lines()
            .filter(|l| l.starts_with("hoard_semantic_lookups_total{"))
            .count();
        assert_eq!(series, MAX_NAMESPACES);
        // The eleven least busy (ns0..ns10, 3 to 13 lookups) summed.
        let other = format!(
            r#"hoard_semantic_refusals_total{{namespace="{}",guard="negation"}} 11"#,
            hoard::OTHER_NAMESPACES
        );
        assert!(text.lines().any(|l| l == other), "{text}");
    }

    #[test]
    fn the_census_gauges_bound_their_namespaces_like_the_counters() {
        let stats = hoard::Stats::default();
        let plain = render(&stats, Extras::default()).unwrap();
        assert!(!plain.contains("hoard_namespace_"), "{plain}");
        let mut census = CensusReport::default();
        for n in 0..MAX_NAMESPACES + 10 {
            let counts = CensusCounts {
                keys: 1 + n as u64,
                bytes: 100 * (1 + n as u64),
            };
            census.namespaces.insert(format!("ns{n}"), counts);
        }
        census.namespaces.insert(
            "a\"b".into(),
            CensusCounts {
                keys: 500,
                bytes: 7,
            },
        );
        let extras = Extras {
            census: Some(&census),
            ..Extras::default()
        };
        let text = render(&stats, extras).unwrap();
        let series = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(&format!("{name}{{")))
                .count()
        };
        assert_eq!(series("hoard_namespace_keys"), MAX_NAMESPACES);
        assert_eq!(series("hoard_namespace_bytes"), MAX_NAMESPACES);
        // The twelve smallest (ns0..ns11: 1 to 12 keys) summed; a quote escaped.
        for line in [
            format!(
                r#"hoard_namespace_keys{{namespace="{}"}} 78"#,
                hoard::OTHER_NAMESPACES
            ),
            format!(
                r#"hoard_namespace_bytes{{namespace="{}"}} 7800"#,
                hoard::OTHER_NAMESPACES
            ),
            r#"hoard_namespace_keys{namespace="ns109"} 110"#.to_owned(),
            r#"hoard_namespace_keys{namespace="a\"b"} 500"#.to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
    }
}

//! `hoard stats`: a running server's stats, as a table or JSON.

use crate::table::{self, Column, Header};
use anyhow::Context;
use hoard_server::api::StatsResponse;

/// Prints the stats of the server at `server` (a URL or `host:port`; its JSON as sent with
/// `json`).
pub fn run(server: &str, json: bool) -> anyhow::Result<()> {
    let url = crate::client::endpoint(server, "/v1/stats")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let body = runtime.block_on(crate::client::get_json(&url))?;
    if json {
        // As the server sent it, fields this client does not know included.
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let stats: StatsResponse =
        serde_json::from_value(body).with_context(|| format!("reading {url}"))?;
    print!("{}", render(&stats));
    Ok(())
}

/// The per-namespace table's columns: this server's counts, then what the namespace
/// holds by the server's last census of the stored keys.
const NAMESPACE_COLUMNS: [Column; 9] = [
    Column::left("namespace", 24),
    Column::right("hits", 9),
    Column::right("misses", 9),
    Column::right("hit rate", 9),
    Column::right("sets", 9),
    Column::right("deletes", 9),
    Column::right("saved", 9),
    Column::right("keys", 9),
    Column::right("bytes", 10),
];

/// Compute time the hits saved, in the largest unit that keeps it short: `250ms`, `2.3s`,
/// `4.2m`, `1.5h`.
fn saved(ms: u64) -> String {
    let seconds = ms as f64 / 1000.0;
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{seconds:.1}s"),
        60_000..3_600_000 => format!("{:.1}m", seconds / 60.0),
        _ => format!("{:.1}h", seconds / 3600.0),
    }
}

/// The stats as a summary line and a per-namespace table.
pub fn render(stats: &StatsResponse) -> String {
    let totals = &stats.stats;
    let mut out = format!(
        "{}\n\nkeys {}   memory {}   hit rate {}   hits {} (L1 {}, L2 {})   misses {}   errors {}\n",
        stats.message,
        totals.total_keys,
        totals.used_memory,
        totals.hit_rate,
        totals.hits,
        totals.l1_hits,
        totals.l2_hits,
        totals.misses,
        totals.errors,
    );
    // Namespaces another process wrote have a census and no counts here: listed too.
    let counted = stats.census.as_ref().map(|c| &c.namespaces);
    let mut names: Vec<&String> = stats.namespaces.keys().collect();
    names.extend(counted.into_iter().flat_map(|c| c.keys()));
    names.sort();
    names.dedup();
    let rows = names
        .into_iter()
        .map(|name| {
            let ns = stats.namespaces.get(name).cloned().unwrap_or_default();
            let held = counted.map(|c| c.get(name).copied().unwrap_or_default());
            vec![
                name.clone(),
                ns.hits.to_string(),
                ns.misses.to_string(),
                format!("{:.1}%", ns.hit_rate * 100.0),
                ns.sets.to_string(),
                ns.deletes.to_string(),
                saved(ns.compute_saved_ms),
                held.map_or("-".into(), |h| h.keys.to_string()),
                held.map_or("-".into(), |h| human_bytes(h.bytes)),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&table::render(&NAMESPACE_COLUMNS, Header::Shown, rows));
    out.push_str(&match &stats.census {
        Some(census) => format!(
            "\nkeys and bytes: live entries and their values' bytes, counted by the server {} s ago in {} ms\n",
            hoard::entry::now_ms().saturating_sub(census.at_ms) / 1000,
            census.took_ms
        ),
        None => "\nkeys and bytes: not counted yet (the server counts every 30 s)\n".into(),
    });
    for tier in &stats.tiers {
        if tier.name == "disk" {
            out.push_str(&format!(
                "disk tier: {} on disk (its files and journal)\n",
                human_bytes(tier.bytes)
            ));
        }
    }
    out
}

/// Bytes in short binary units: `512B`, `1.5K`, `64.0M`.
fn human_bytes(bytes: u64) -> String {
    hoard_models::size::ByteSize::b(bytes)
        .display()
        .iec_short()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> StatsResponse {
        let body = serde_json::json!({
            "available": true,
            "message": "Cache is healthy",
            "stats": {
                "total_keys": 3, "used_memory": "1.5M", "hit_rate": "50.0%", "hits": 2,
                "l1_hits": 1, "l2_hits": 1, "misses": 2, "errors": 0
            },
            "namespaces": {
                "model": {"hits": 2, "misses": 2, "hit_rate": 0.5, "sets": 3, "deletes": 1,
                          "l1_hits": 1, "l2_hits": 1, "errors": 0, "compute_saved_ms": 2250},
                "a-namespace-longer-than-the-column": {"hits": 0, "misses": 0,
                          "hit_rate": 0.0, "sets": 1, "deletes": 0, "l1_hits": 0,
                          "l2_hits": 0, "errors": 0}
            }
        });
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn the_summary_reads_the_servers_words() {
        let text = render(&stats());
        assert!(text.starts_with(
            "Cache is healthy\n\nkeys 3   memory 1.5M   hit rate 50.0%   hits 2 (L1 1, L2 1)   misses 2   errors 0\n\n"
        ), "{text}");
    }

    #[test]
    fn short_names_print_in_the_fixed_columns() {
        let mut stats = stats();
        stats.namespaces.retain(|name, _| name == "model");
        let text = render(&stats);
        let table: Vec<&str> = text.lines().skip(4).take(2).collect();
        assert_eq!(
            table,
            [
                format!(
                    "{:<24}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>11}",
                    "namespace",
                    "hits",
                    "misses",
                    "hit rate",
                    "sets",
                    "deletes",
                    "saved",
                    "keys",
                    "bytes"
                ),
                format!(
                    "{:<24}{:>10}{:>10}{:>9.1}%{:>10}{:>10}{:>10}{:>10}{:>11}",
                    "model", 2, 2, 50.0, 3, 1, "2.2s", "-", "-"
                ),
            ]
        );
        assert!(text.ends_with("keys and bytes: not counted yet (the server counts every 30 s)\n"));
    }

    /// With a census: each namespace's keys and bytes, namespaces only the census knows
    /// listed too, and the disk tier's size said to be the space on disk.
    #[test]
    fn the_census_fills_the_keys_and_bytes_columns() {
        let mut stats = stats();
        stats.namespaces.retain(|name, _| name == "model");
        stats.census = Some(hoard_server::census::CensusReport {
            at_ms: hoard::entry::now_ms(),
            took_ms: 4,
            scanned: 9,
            namespaces: [
                (
                    "model".to_owned(),
                    hoard_server::census::CensusCounts {
                        keys: 2,
                        bytes: 1536,
                    },
                ),
                (
                    "written-elsewhere".to_owned(),
                    hoard_server::census::CensusCounts { keys: 7, bytes: 70 },
                ),
            ]
            .into(),
        });
        stats.tiers = serde_json::from_value(serde_json::json!([
            {"name": "memory", "available": true, "entries": 2, "bytes": 300, "evictions": 0, "expirations": 0},
            {"name": "disk", "available": true, "entries": 9, "bytes": 67108864, "evictions": 0, "expirations": 0}
        ]))
        .unwrap();
        let text = render(&stats);
        let rows: Vec<&str> = text.lines().skip(5).take(2).collect();
        assert!(
            rows[0].starts_with("model ") && rows[0].ends_with("2       1.5K"),
            "{text}"
        );
        assert!(
            rows[1].starts_with("written-elsewhere ") && rows[1].ends_with("7        70B"),
            "{text}"
        );
        assert!(
            text.contains("counted by the server 0 s ago in 4 ms"),
            "{text}"
        );
        assert!(
            text.ends_with("disk tier: 64.0M on disk (its files and journal)\n"),
            "{text}"
        );
    }

    #[test]
    fn saved_time_reads_in_the_largest_short_unit() {
        let read: Vec<String> = [0, 250, 1_000, 2_250, 59_999, 60_000, 252_000, 5_400_000]
            .into_iter()
            .map(saved)
            .collect();
        assert_eq!(
            read,
            ["0ms", "250ms", "1.0s", "2.2s", "60.0s", "1.0m", "4.2m", "1.5h"]
        );
    }

    #[test]
    fn namespace_rows_line_up_whatever_the_name() {
        let text = render(&stats());
        let lines: Vec<&str> = text.lines().skip(4).take(3).collect();
        assert!(lines[0].starts_with("namespace "), "{text}");
        assert!(lines[1].starts_with("a-namespace-longer-than-the-column "));
        // Every line ends where the header's does: the long name pushed every column.
        assert!(
            lines.iter().all(|line| line.len() == lines[0].len()),
            "{text}"
        );
    }
}

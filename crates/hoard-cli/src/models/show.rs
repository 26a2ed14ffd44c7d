//! What the `hoard models` verbs print, built as text so each layout is tested on its own.

use crate::table::{self, Column, Header};
use hoard_models::dedup::Report;
use hoard_models::doctor::Finding;
use hoard_models::inventory::{Item, StoreUsage};
use hoard_models::plan::Plan;
use hoard_models::size::human;
use hoard_models::Layout;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

/// `ls --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// The items as a JSON array.
    Json,
    /// One line per item, for spreadsheets and scripts.
    Csv,
}

impl std::str::FromStr for Format {
    type Err = anyhow::Error;

    fn from_str(name: &str) -> anyhow::Result<Format> {
        match name {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => anyhow::bail!("unknown format {other:?}: use table, json or csv"),
        }
    }
}

/// `hoard models dir`: each folder by name.
pub fn folders(folders: &[(String, PathBuf)]) -> String {
    let rows = folders
        .iter()
        .map(|(name, path)| vec![name.clone(), path.display().to_string()])
        .collect();
    table::render(
        &[Column::left("store", 15), Column::left("folder", 0)],
        Header::Hidden,
        rows,
    )
}

/// `ls -q`: ids only, one a line.
pub fn ids(items: &[&Item]) -> String {
    items.iter().map(|item| format!("{}\n", item.id)).collect()
}

/// The columns of `ls`.
const ITEM_COLUMNS: [Column; 6] = [
    Column::left("id", 48),
    Column::left("store", 12),
    Column::right("size", 10),
    Column::right("revs", 5),
    Column::right("accessed", 14),
    Column::right("modified", 14),
];

/// `ls` in `format`, ages counted back from `now_ms`.
pub fn items(items: &[&Item], format: Format, now_ms: i64) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(items)?),
        Format::Csv => {
            let mut out =
                String::from("id,store,size,revisions,last_accessed_ms,last_modified_ms,path\n");
            for item in items {
                let time = |ms: Option<i64>| ms.map_or(String::new(), |t| t.to_string());
                writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    csv_field(&item.id),
                    item.store.name(),
                    item.size,
                    item.revisions,
                    time(item.last_accessed_ms),
                    time(item.last_modified_ms),
                    csv_field(&item.path.display().to_string()),
                )?;
            }
            out
        }
        Format::Table => {
            let rows = items
                .iter()
                .map(|item| {
                    vec![
                        item.id.clone(),
                        item.store.name().to_owned(),
                        human(item.size),
                        item.revisions.to_string(),
                        ago(item.last_accessed_ms, now_ms),
                        ago(item.last_modified_ms, now_ms),
                    ]
                })
                .collect();
            table::render(&ITEM_COLUMNS, Header::Shown, rows)
        }
    })
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// How long ago `time_ms` was, in two units at most: `3d4h ago`; `-` if unknown.
fn ago(time_ms: Option<i64>, now_ms: i64) -> String {
    let Some(time) = time_ms else {
        return "-".into();
    };
    let seconds = u64::try_from(now_ms.saturating_sub(time) / 1000).unwrap_or(0);
    // Past two weeks, days read better than weeks and days ("40d", not "5w5d").
    const DAY: u64 = 86_400;
    if seconds >= 14 * DAY {
        return format!("{}d ago", seconds / DAY);
    }
    let text = hoard::ttl::format_duration(Duration::from_secs(seconds));
    // Two units are enough to judge age: "3d4h", not "3d4h12m9s".
    let mut units = 0;
    let cut = text
        .char_indices()
        .find(|(_, c)| {
            if c.is_ascii_alphabetic() {
                units += 1;
            }
            units == 2 && c.is_ascii_alphabetic()
        })
        .map_or(text.len(), |(i, _)| i + 1);
    format!("{} ago", &text[..cut])
}

/// `hoard models size`: bytes and items per store, then the total.
pub fn store_usage(usage: &[StoreUsage]) -> String {
    let mut rows: Vec<Vec<String>> = usage
        .iter()
        .map(|store| {
            vec![
                store.store.name().to_owned(),
                human(store.bytes),
                store.items.to_string(),
                if store.items == 1 { "item" } else { "items" }.to_owned(),
            ]
        })
        .collect();
    let total: u64 = usage.iter().map(|store| store.bytes).sum();
    rows.push(vec!["total".to_owned(), human(total)]);
    let columns = [
        Column::left("store", 12),
        Column::right("size", 10),
        Column::right("items", 6),
        Column::left("", 0),
    ];
    table::render(&columns, Header::Hidden, rows)
}

/// `hoard models size --json`: `{store: bytes}`, every store, keys sorted.
pub fn store_usage_json(usage: &[StoreUsage]) -> serde_json::Result<String> {
    let bytes: std::collections::BTreeMap<&str, u64> = usage
        .iter()
        .map(|store| (store.store.name(), store.bytes))
        .collect();
    serde_json::to_string(&bytes)
}

/// A removal plan: each path with its bytes, then the total.
pub fn plan(plan: &Plan) -> String {
    let mut out = String::new();
    for action in &plan.actions {
        let _ = writeln!(
            out,
            "{:>10}  {}  {}",
            human(action.bytes),
            action.what,
            action.path.display()
        );
    }
    let _ = writeln!(
        out,
        "{} paths, {} to free",
        plan.actions.len(),
        human(plan.bytes())
    );
    out
}

/// `hoard models dedup`: each group with the file kept first, then the totals.
pub fn dedup_report(report: &Report, linkable: u64) -> String {
    let mut out = String::new();
    for group in &report.groups {
        let _ = writeln!(
            out,
            "{} x {} ({} stored more than once), hash {}",
            group.files.len(),
            human(group.size),
            human(group.reclaimable()),
            group.hash.get(..19).unwrap_or(&group.hash)
        );
        for (i, file) in group.files.iter().enumerate() {
            let role = if i == 0 { "keep" } else { "copy" };
            let _ = writeln!(out, "  {role} {}", file.display());
        }
    }
    let _ = writeln!(
        out,
        "{} duplicate groups, {} stored more than once; {} files hashed ({})\n\
         --link would free {}: it links content-addressed store blobs inside the configured \
         roots only (not files under --also, torch checkpoints or app cache files)",
        report.groups.len(),
        human(report.reclaimable()),
        report.hashed_files,
        human(report.hashed_bytes),
        human(linkable)
    );
    out
}

/// `hoard models doctor`: each finding with its fix, or that there is none.
pub fn findings(findings: &[Finding], layout: &Layout) -> String {
    if findings.is_empty() {
        return format!("no problems found in {}\n", layout.root.display());
    }
    let mut out = String::new();
    for finding in findings {
        let _ = writeln!(
            out,
            "[{}] {}\n    fix: {}",
            finding.kind, finding.message, finding.fix
        );
    }
    let _ = writeln!(out, "{} problem(s)", findings.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoard_models::Store;
    use std::collections::BTreeMap;

    const DAY_MS: i64 = 86_400_000;

    fn item(id: &str, store: Store, size: u64) -> Item {
        Item {
            id: id.to_owned(),
            store,
            path: PathBuf::from("/models").join(id),
            size,
            revisions: 1,
            last_accessed_ms: Some(0),
            last_modified_ms: None,
            refs: BTreeMap::new(),
            detached: Vec::new(),
            partial: Vec::new(),
            contents: Vec::new(),
        }
    }

    #[test]
    fn ages_keep_two_units() {
        let now = 3 * DAY_MS + 4 * 3_600_000 + 12 * 60_000 + 9_000;
        assert_eq!(ago(Some(0), now), "3d4h ago");
        assert_eq!(ago(Some(now - 5_000), now), "5s ago");
        assert_eq!(ago(Some(now), now), "0s ago");
        let day = 86_400_000;
        assert_eq!(ago(Some(now - 13 * day - 3_600_000), now), "1w6d ago");
        assert_eq!(ago(Some(now - 40 * day - 5_000), now), "40d ago");
        assert_eq!(ago(Some(now + 5_000), now), "0s ago");
        assert_eq!(ago(None, now), "-");
    }

    #[test]
    fn the_table_keeps_its_fixed_columns_for_short_ids() {
        let small = item("org/small", Store::Huggingface, 1000);
        let text = items(&[&small], Format::Table, DAY_MS).unwrap();
        let fixed =
            format!(
            "{:<48} {:<12} {:>10} {:>5} {:>14} {:>14}\n{:<48} {:<12} {:>10} {:>5} {:>14} {:>14}\n",
            "id", "store", "size", "revs", "accessed", "modified",
            "org/small", "huggingface", "1000 B", 1, "1d ago", "-"
        );
        assert_eq!(text, fixed);
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("org/a"), "org/a");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn sizes_per_store_end_with_the_total() {
        let usage = [
            StoreUsage {
                store: Store::Huggingface,
                bytes: 6000,
                items: 2,
            },
            StoreUsage {
                store: Store::Torch,
                bytes: 0,
                items: 0,
            },
        ];
        assert_eq!(
            store_usage(&usage),
            format!(
                "{:<12} {:>10} {:>6} items\n{:<12} {:>10} {:>6} items\n{:<12} {:>10}\n",
                "huggingface", "5.9 KiB", 2, "torch", "0 B", 0, "total", "5.9 KiB"
            )
        );
        let one = [StoreUsage {
            store: Store::Ollama,
            bytes: 10,
            items: 1,
        }];
        assert!(store_usage(&one)
            .starts_with(&format!("{:<12} {:>10} {:>6} item\n", "ollama", "10 B", 1)));
        assert_eq!(
            store_usage_json(&usage).unwrap(),
            r#"{"huggingface":6000,"torch":0}"#
        );
    }

    #[test]
    fn folders_line_up_after_a_long_name() {
        let mut rows = vec![
            ("root".to_owned(), PathBuf::from("/m")),
            ("app:tmdb".to_owned(), PathBuf::from("/out/tmdb")),
        ];
        assert_eq!(
            folders(&rows),
            format!("{:<16}/m\n{:<16}/out/tmdb\n", "root", "app:tmdb")
        );
        rows.push(("app:a-long-app-cache".to_owned(), PathBuf::from("/out/a")));
        assert_eq!(
            folders(&rows),
            format!(
                "{:<21}/m\n{:<21}/out/tmdb\napp:a-long-app-cache /out/a\n",
                "root", "app:tmdb"
            )
        );
    }
}

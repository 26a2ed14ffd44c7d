//! `hoard datasets scan DIR` and `hoard datasets ls`.

use crate::output::{human_seconds, Progress};
use crate::table::{self, Column, Header};
use anyhow::Context;
use hoard_datasets::{BuildOptions, DatasetInfo, Manifest};
use hoard_models::size::human as human_bytes;
use hoard_server::api::DatasetsResponse;
use std::path::{Path, PathBuf};

/// Options of `hoard datasets scan`.
pub struct ScanArgs {
    pub dir: PathBuf,
    pub json: bool,
    pub content_hash: bool,
    pub label_column: Option<String>,
}

/// Scans a folder without any cache and prints its summary (or the manifest as JSON).
pub fn scan(args: ScanArgs) -> anyhow::Result<()> {
    let listing = hoard_datasets::scan::walk(&args.dir)
        .with_context(|| format!("cannot scan {}", args.dir.display()))?;
    let options = BuildOptions {
        label_column: args.label_column,
        content_hash: args.content_hash,
    };
    let progress = Progress::new("probing", "files");
    let (manifest, report) = hoard_datasets::build(&listing, None, &options, &|done, total| {
        progress.update(done as u64, total as u64)
    });
    progress.finish();
    if args.json {
        // A typed body keeps the manifest's field order (root, version, summary, entries:
        // what the emotion-recognition backend's scripts read); a `json!` map would sort
        // the keys.
        #[derive(serde::Serialize)]
        struct Out<'a> {
            root: &'a Path,
            version: &'a str,
            summary: &'a hoard_datasets::Summary,
            entries: &'a [std::sync::Arc<hoard_datasets::FileEntry>],
        }
        let out = Out {
            root: &listing.root,
            version: &manifest.version,
            summary: &manifest.summary,
            entries: &manifest.entries,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    print!("{}", summary_table(&listing.root, &manifest));
    eprintln!(
        "probed {} files in {:.0} ms",
        report.probed,
        report.elapsed.as_secs_f64() * 1000.0
    );
    Ok(())
}

fn summary_table(root: &Path, manifest: &Manifest) -> String {
    let s = &manifest.summary;
    let mut out = String::new();
    let mut row = |name: &str, value: String| out.push_str(&format!("{name:<16}{value}\n"));
    row("root", root.display().to_string());
    row("version", manifest.version.clone());
    row(
        "files",
        format!(
            "{} ({}, {})",
            s.total,
            human_bytes(s.total_bytes),
            human_seconds(s.total_duration)
        ),
    );
    row("unreadable", s.errors.to_string());
    let labels: Vec<String> = s
        .label_counts
        .iter()
        .map(|(label, n)| format!("{label} {n}"))
        .collect();
    row(
        "labels",
        if labels.is_empty() {
            "-".into()
        } else {
            labels.join(", ")
        },
    );
    let constants: Vec<String> = s
        .meta_constants
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    row(
        "meta_constants",
        if constants.is_empty() {
            "-".into()
        } else {
            constants.join(", ")
        },
    );
    row("unmatched rows", s.unmatched_rows.to_string());
    for error in s.metadata_errors.iter().take(10) {
        row(
            "metadata error",
            format!("{}:{}: {}", error.file, error.line, error.message),
        );
    }
    for entry in manifest
        .entries
        .iter()
        .filter(|e| e.error.is_some())
        .take(10)
    {
        row(
            "file error",
            format!(
                "{}: {}",
                entry.relpath,
                entry.error.as_deref().unwrap_or("")
            ),
        );
    }
    for skipped in s.skipped.iter().take(10) {
        row(
            "skipped",
            format!("{}: {}", skipped.relpath, skipped.reason),
        );
    }
    out
}

/// The datasets a running server serves.
async fn from_server(server: &str) -> anyhow::Result<Vec<DatasetInfo>> {
    let url = crate::client::endpoint(server, "/datasets")?;
    let body = crate::client::get_json(&url).await?;
    let body: DatasetsResponse = serde_json::from_value(body)
        .with_context(|| format!("reading {url}: not a list of datasets"))?;
    Ok(body.datasets)
}

/// Lists configured datasets: from a running server, or by opening the configured cache
/// (and, when a running server holds that cache's folder, from that server).
pub fn ls(config: Option<&Path>, server: Option<&str>, json_out: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let env = |name: &str| std::env::var(name).ok();
    let config = hoard_config::Config::load(config, &env, &Default::default())?;
    let datasets: Vec<DatasetInfo> = match server {
        Some(server) => runtime.block_on(from_server(server))?,
        None => {
            let section = config.cache()?;
            match section.open() {
                Ok(cache) => {
                    let datasets =
                        hoard_datasets::Datasets::new(cache.clone(), config.datasets()?)?;
                    runtime.block_on(async {
                        let list = datasets.list().await;
                        cache.flush().await?;
                        anyhow::Ok(list)
                    })?
                }
                // The folder is the running server's (this config's): ask that server.
                Err(hoard::Error::DiskInUse { path }) => {
                    let addr = crate::client::configured_server(&config)?;
                    runtime
                        .block_on(from_server(&addr))
                        .with_context(|| {
                            format!(
                                "{} is in use by another process, and no hoard server answers at {addr} \
                                 ([server] addr); pass the one to ask with --server URL",
                                path.display()
                            )
                        })?
                }
                Err(error) => {
                    return Err(anyhow::Error::new(error).context(format!(
                        "opening the cache in {}",
                        section.data_dir.display()
                    )))
                }
            }
        }
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&datasets)?);
        return Ok(());
    }
    if datasets.is_empty() {
        println!("no datasets configured: add [datasets.ID] with path = \"...\" to hoard.toml");
        return Ok(());
    }
    print!("{}", configured_table(&datasets));
    Ok(())
}

/// `datasets ls` as a table; a dataset that failed gets its error on its line instead of
/// numbers, starting where the numbers would.
fn configured_table(datasets: &[DatasetInfo]) -> String {
    let id = |d: &DatasetInfo| d.id.clone();
    // The id column is as wide as the longest id, error lines included, so those lines
    // and the table's line up.
    let id_width = datasets
        .iter()
        .map(|d| id(d).chars().count())
        .max()
        .unwrap_or(0)
        .max(20);
    let columns = [
        Column::left("id", u16::try_from(id_width).unwrap_or(u16::MAX)),
        Column::right("files", 9),
        Column::right("size", 10),
        Column::right("duration", 12),
        Column::right("errors", 7),
        Column::left("version", 16).after(2),
        Column::left("path", 0),
    ];
    let rows = datasets
        .iter()
        .filter(|d| d.error.is_none())
        .map(|d| {
            vec![
                id(d),
                d.total.to_string(),
                human_bytes(d.total_bytes),
                human_seconds(d.total_duration),
                d.errors.to_string(),
                d.version.get(..16).unwrap_or("").to_owned(),
                d.path.clone(),
            ]
        })
        .collect();
    let table = table::render(&columns, Header::Shown, rows);
    let mut lines = table.lines();
    let mut out = String::new();
    if let Some(header) = lines.next() {
        out.push_str(header);
        out.push('\n');
    }
    for d in datasets {
        match &d.error {
            Some(error) => out.push_str(&format!("{:<id_width$} error: {error}\n", id(d))),
            None => {
                out.push_str(lines.next().unwrap_or(""));
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(id: &str) -> DatasetInfo {
        DatasetInfo {
            id: id.into(),
            total: 4,
            total_bytes: 6000,
            total_duration: 12.5,
            errors: 1,
            version: "0123456789abcdef0123".into(),
            path: "/data/x".into(),
            ..DatasetInfo::default()
        }
    }

    fn failed(id: &str, error: &str) -> DatasetInfo {
        DatasetInfo {
            id: id.into(),
            error: Some(error.into()),
            ..DatasetInfo::default()
        }
    }

    #[test]
    fn short_ids_print_in_the_fixed_columns() {
        let text = configured_table(&[dataset("ravdess"), failed("broken", "no such folder")]);
        let fixed = [
            format!(
                "{:<20} {:>9} {:>10} {:>12} {:>7}  {:<16} path",
                "id", "files", "size", "duration", "errors", "version"
            ),
            format!(
                "{:<20} {:>9} {:>10} {:>12} {:>7}  {:<16} {}",
                "ravdess", 4, "5.9 KiB", "12.5s", 1, "0123456789abcdef", "/data/x"
            ),
            format!("{:<20} error: no such folder", "broken"),
        ];
        assert_eq!(text, format!("{}\n", fixed.join("\n")));
    }

    #[test]
    fn a_long_id_moves_every_line_alike() {
        let long = "a-dataset-id-longer-than-twenty";
        let text = configured_table(&[
            dataset("ravdess"),
            failed(long, "no such folder"),
            dataset("crema"),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        let files_end = lines[0].find("files").unwrap() + "files".len();
        assert_eq!(files_end, long.len() + 1 + 9, "{text}");
        assert_eq!(&lines[1][files_end - 1..files_end], "4", "{text}");
        assert_eq!(&lines[3][files_end - 1..files_end], "4", "{text}");
        assert_eq!(lines[2], format!("{long} error: no such folder"));
        assert_eq!(lines[1].len(), lines[3].len(), "{text}");
    }
}

//! Metadata tables joined onto audio files: RAVDESS-style `*_metadata.csv` sidecars keyed
//! by a `filename` column, and Common Voice `*.tsv` files keyed by `path`.
//!
//! A row's key is matched against an audio file's path relative to the table's folder
//! first, then against its bare file name (Common Voice keeps `clips/x.mp3` next to a
//! `validated.tsv` that says `x.mp3`). When several tables describe one file, the first
//! table (in path order) wins for each column, and later tables only add columns.

use crate::scan::{Kind, Stat};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::path::Path;

/// One file's metadata columns, in the table's column order.
pub type Row = IndexMap<String, String>;

/// A metadata row that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MetaError {
    /// The table, relative to the dataset root.
    pub file: String,
    /// 1-based line of the row (0 when the whole file is unusable).
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Every metadata table of a dataset, ready to join.
#[derive(Debug, Default)]
pub struct Tables {
    rows: Vec<Row>,
    by_relpath: HashMap<String, usize>,
    /// `(table folder, file name)` -> row; `None` when two rows of that folder's tables
    /// share the name (a name match would be a guess).
    by_name: HashMap<(String, String), Option<usize>>,
    matched: Vec<bool>,
    /// Rows that could not be read.
    pub errors: Vec<MetaError>,
}

impl Tables {
    /// Reads the tables among `files` (stats of a listing under `root`).
    pub fn load(root: &Path, files: &[Stat]) -> Tables {
        let mut tables = Tables::default();
        for stat in files {
            let delimiter = match stat.kind {
                Kind::Csv => b',',
                Kind::Tsv => b'\t',
                Kind::Audio(_) => continue,
            };
            tables.read(root, stat, delimiter);
        }
        tables.matched = vec![false; tables.rows.len()];
        tables
    }

    fn read(&mut self, root: &Path, stat: &Stat, delimiter: u8) {
        let fail = |line: u64, message: String| MetaError {
            file: stat.relpath.clone(),
            line,
            message,
        };
        let mut reader = match csv::ReaderBuilder::new()
            .delimiter(delimiter)
            // Common Voice writes sentences with bare quotes in its TSVs.
            .quoting(delimiter == b',')
            .from_path(root.join(&stat.relpath))
        {
            Ok(reader) => reader,
            Err(e) => return self.errors.push(fail(0, e.to_string())),
        };
        let headers = match reader.headers() {
            Ok(headers) => headers.clone(),
            Err(e) => return self.errors.push(fail(1, e.to_string())),
        };
        let preferred = if delimiter == b',' {
            ["filename", "path"]
        } else {
            ["path", "filename"]
        };
        let Some(key_column) = preferred
            .iter()
            .find_map(|name| headers.iter().position(|h| h == *name))
        else {
            return self.errors.push(fail(
                1,
                "no `filename` or `path` column to join on".to_owned(),
            ));
        };
        let folder = match stat.relpath.rsplit_once('/') {
            Some((folder, _)) => format!("{folder}/"),
            None => String::new(),
        };
        for record in reader.records() {
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    let stop = e.is_io_error();
                    self.errors.push(fail(line, e.to_string()));
                    if stop {
                        break;
                    }
                    continue;
                }
            };
            let key = record.get(key_column).unwrap_or_default().trim();
            if key.is_empty() {
                let line = record.position().map_or(0, |p| p.line());
                self.errors
                    .push(fail(line, "the join column is empty".to_owned()));
                continue;
            }
            let row: Row = headers
                .iter()
                .zip(record.iter())
                .enumerate()
                .filter(|(i, _)| *i != key_column)
                .map(|(_, (h, v))| (h.to_owned(), v.to_owned()))
                .collect();
            let relpath = format!("{folder}{}", key.trim_start_matches("./"));
            let name = key.rsplit('/').next().unwrap_or(key).to_owned();
            self.insert(relpath, (folder.clone(), name), row);
        }
    }

    fn insert(&mut self, relpath: String, name: (String, String), row: Row) {
        if let Some(&existing) = self.by_relpath.get(&relpath) {
            let merged = &mut self.rows[existing];
            for (column, value) in row {
                merged.entry(column).or_insert(value);
            }
            return;
        }
        let index = self.rows.len();
        self.rows.push(row);
        self.by_relpath.insert(relpath, index);
        self.by_name
            .entry(name)
            .and_modify(|found| *found = None)
            .or_insert(Some(index));
    }

    /// The row describing the audio file at `relpath` (named `filename`), marking it used.
    ///
    /// By name, a table only describes files in its own folder or below it (a CSV in
    /// `spk1/` says nothing about `spk2/001.wav`), the nearest table first.
    pub fn join(&mut self, relpath: &str, filename: &str) -> Option<Row> {
        let by_name = || {
            let mut folder = relpath;
            loop {
                folder = match folder.rfind('/') {
                    Some(at) => &folder[..at],
                    None => "",
                };
                let prefix = if folder.is_empty() {
                    String::new()
                } else {
                    format!("{folder}/")
                };
                match self.by_name.get(&(prefix, filename.to_owned())) {
                    Some(found) => return *found,
                    None if folder.is_empty() => return None,
                    None => {}
                }
            }
        };
        let index = match self.by_relpath.get(relpath) {
            Some(&index) => index,
            None => by_name()?,
        };
        self.matched[index] = true;
        Some(self.rows[index].clone())
    }

    /// Rows that matched no audio file so far.
    pub fn unmatched(&self) -> usize {
        self.matched.iter().filter(|m| !**m).count()
    }
}

/// Columns whose value is the same in every joined row, removed from each row and returned
/// (the emotion-recognition backend's `meta_constants`). Needs at least two rows: one file alone tells nothing
/// about what is constant.
pub fn prune_constants(rows: &mut [&mut Row]) -> Row {
    let Some((first, rest)) = rows.split_first() else {
        return Row::new();
    };
    if rest.is_empty() {
        return Row::new();
    }
    let mut constants: Row = (**first).clone();
    for row in rest {
        constants.retain(|column, value| row.get(column) == Some(value));
        if constants.is_empty() {
            return constants;
        }
    }
    for row in rows.iter_mut() {
        row.retain(|column, _| !constants.contains_key(column));
    }
    constants
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn constants_are_columns_equal_in_every_row() {
        let mut rows = [
            row(&[("modality", "audio"), ("actor", "1"), ("gender", "male")]),
            row(&[("modality", "audio"), ("actor", "2"), ("gender", "male")]),
            row(&[("modality", "audio"), ("actor", "3"), ("gender", "female")]),
        ];
        let constants = prune_constants(&mut rows.iter_mut().collect::<Vec<_>>());
        assert_eq!(constants, row(&[("modality", "audio")]));
        assert_eq!(rows[1], row(&[("actor", "2"), ("gender", "male")]));
    }

    #[test]
    fn a_column_missing_from_one_row_is_not_constant() {
        let mut rows = [row(&[("a", "1"), ("b", "x")]), row(&[("a", "1")])];
        assert_eq!(
            prune_constants(&mut rows.iter_mut().collect::<Vec<_>>()),
            row(&[("a", "1")])
        );
        assert_eq!(rows[0], row(&[("b", "x")]));
    }

    #[test]
    fn one_row_keeps_its_columns() {
        let mut rows = [row(&[("a", "1")])];
        assert!(prune_constants(&mut rows.iter_mut().collect::<Vec<_>>()).is_empty());
        assert_eq!(rows[0], row(&[("a", "1")]));
    }
}

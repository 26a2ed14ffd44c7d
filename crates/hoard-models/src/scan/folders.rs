//! Stores without an index of their own (MLX, app caches, torch hub repos): each folder is
//! one item, sized recursively.

use crate::files::{is_partial, read_dir_sorted, Times};
use crate::inventory::{Content, FileRef, Inventory, Item, Store};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each folder directly under `dir` as one item `{prefix}{name}`.
pub(super) fn each_folder(dir: &Path, store: Store, prefix: &str) -> Inventory {
    let entries: Vec<(PathBuf, String)> = read_dir_sorted(dir)
        .into_iter()
        .filter(|entry| entry.file_type().is_ok_and(|k| k.is_dir()))
        .map(|entry| {
            (
                entry.path(),
                format!("{prefix}{}", entry.file_name().to_string_lossy()),
            )
        })
        .collect();
    let items = entries
        .par_iter()
        .map(|(path, id)| folder_item(path, id.clone(), store))
        .collect();
    Inventory {
        items,
        ..Inventory::default()
    }
}

/// Each configured app cache that exists as one item `app:{name}`.
pub(super) fn app_caches(caches: &BTreeMap<String, PathBuf>) -> Inventory {
    let items = caches
        .par_iter()
        .filter(|(_, path)| path.is_dir())
        .map(|(name, path)| folder_item(path, format!("app:{name}"), Store::App))
        .collect();
    Inventory {
        items,
        ..Inventory::default()
    }
}

fn folder_item(path: &Path, id: String, store: Store) -> Item {
    let mut times = Times::default();
    let mut contents = Vec::new();
    let mut partial = Vec::new();
    let size = tree(path, &mut times, &mut contents, &mut partial);
    Item {
        id,
        store,
        path: path.to_path_buf(),
        size,
        revisions: 1,
        last_accessed_ms: times.accessed,
        last_modified_ms: times.modified,
        refs: BTreeMap::new(),
        detached: Vec::new(),
        partial,
        contents,
    }
}

/// Bytes of the regular files under `dir` (symlinks are not followed).
fn tree(
    dir: &Path,
    times: &mut Times,
    contents: &mut Vec<Content>,
    partial: &mut Vec<FileRef>,
) -> u64 {
    let mut total = 0;
    for entry in read_dir_sorted(dir) {
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if metadata.is_dir() {
            total += tree(&entry.path(), times, contents, partial);
        } else if metadata.is_file() {
            total += metadata.len();
            times.see(&metadata);
            let file = FileRef {
                path: entry.path(),
                size: metadata.len(),
            };
            if is_partial(&entry.file_name().to_string_lossy()) {
                partial.push(file.clone());
            }
            contents.push(Content {
                file,
                name_hash: None,
            });
        }
    }
    total
}

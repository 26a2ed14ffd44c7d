//! Hugging Face hub (`HF_HUB_CACHE`): `models--org--name/` (also `datasets--`, `spaces--`)
//! with `blobs/` (content named by hash), `snapshots/REV/` (symlinks into blobs) and
//! `refs/BRANCH` (a file holding a revision). A blob shared by several revisions is
//! counted once. Snapshots no ref names are "detached"; `*.incomplete` blobs are partial.

use crate::files::{is_partial, read_dir_sorted, Times};
use crate::inventory::{Content, Detached, FileRef, Inventory, Item, Problem, Store};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// Every repo under `hub`, scanned in parallel.
pub(super) fn scan(hub: &Path) -> Inventory {
    let repos: Vec<(PathBuf, String)> = read_dir_sorted(hub)
        .into_iter()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let id = repo_id(&name)?;
            entry.file_type().ok()?.is_dir().then(|| (entry.path(), id))
        })
        .collect();
    let results: Vec<(Item, Vec<Problem>)> = repos
        .par_iter()
        .map(|(path, id)| hf_repo(path, id.clone()))
        .collect();
    let mut items = Vec::with_capacity(results.len());
    let mut problems = Vec::new();
    for (item, found) in results {
        items.push(item);
        problems.extend(found);
    }
    Inventory {
        items,
        orphans: Vec::new(),
        problems,
    }
}

/// `models--org--name` -> `org/name`; `datasets--x--y` -> `dataset:x/y`.
fn repo_id(folder: &str) -> Option<String> {
    let (kind, rest) = folder.split_once("--")?;
    let prefix = match kind {
        "models" => "",
        "datasets" => "dataset:",
        "spaces" => "space:",
        _ => return None,
    };
    Some(format!("{prefix}{}", rest.replace("--", "/")))
}

fn hf_repo(repo: &Path, id: String) -> (Item, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut times = Times::default();
    let mut size = 0u64;
    let mut partial = Vec::new();
    let mut blobs: HashMap<String, FileRef> = HashMap::new();
    for entry in read_dir_sorted(&repo.join("blobs")) {
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let file = FileRef {
            path: entry.path(),
            size: metadata.len(),
        };
        size += file.size;
        times.see(&metadata);
        if is_partial(&name) {
            partial.push(file);
        } else {
            blobs.insert(name, file);
        }
    }
    let mut refs = BTreeMap::new();
    read_refs(&repo.join("refs"), "", &mut refs);
    // Revision -> the blob names its snapshot links to.
    let mut snapshots: BTreeMap<String, (PathBuf, BTreeSet<String>)> = BTreeMap::new();
    for entry in read_dir_sorted(&repo.join("snapshots")) {
        let revision = entry.file_name().to_string_lossy().into_owned();
        let mut used = BTreeSet::new();
        walk_snapshot(
            &entry.path(),
            &blobs,
            &mut used,
            &mut size,
            &mut times,
            &mut problems,
        );
        snapshots.insert(revision, (entry.path(), used));
    }
    let referenced: BTreeSet<&String> = refs.values().collect();
    let kept_blobs: BTreeSet<&String> = snapshots
        .iter()
        .filter(|(revision, _)| referenced.contains(revision))
        .flat_map(|(_, (_, used))| used)
        .collect();
    let detached = snapshots
        .iter()
        .filter(|(revision, _)| !referenced.contains(revision))
        .map(|(revision, (path, used))| Detached {
            revision: revision.clone(),
            path: path.clone(),
            exclusive_blobs: used
                .iter()
                .filter(|blob| !kept_blobs.contains(blob))
                .filter_map(|blob| blobs.get(blob).cloned())
                .collect(),
        })
        .collect();
    let mut contents: Vec<Content> = blobs
        .into_iter()
        .map(|(name, file)| Content {
            name_hash: match name.len() {
                64 if name.bytes().all(|b| b.is_ascii_hexdigit()) => Some(format!("sha256:{name}")),
                40 if name.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    Some(format!("gitsha1:{name}"))
                }
                _ => None,
            },
            file,
        })
        .collect();
    contents.sort_by(|a, b| a.file.path.cmp(&b.file.path));
    let item = Item {
        id,
        store: Store::Huggingface,
        path: repo.to_path_buf(),
        size,
        revisions: snapshots.len(),
        last_accessed_ms: times.accessed,
        last_modified_ms: times.modified,
        refs,
        detached,
        partial,
        contents,
    };
    (item, problems)
}

fn read_refs(dir: &Path, prefix: &str, refs: &mut BTreeMap<String, String>) {
    for entry in read_dir_sorted(dir) {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => read_refs(&entry.path(), &format!("{name}/"), refs),
            Ok(kind) if kind.is_file() => {
                if let Ok(text) = fs::read_to_string(entry.path()) {
                    refs.insert(name, text.trim().to_owned());
                }
            }
            _ => {}
        }
    }
}

/// Records the blob each link of a snapshot points to; regular files (caches written
/// without symlink support) count toward the size themselves.
fn walk_snapshot(
    dir: &Path,
    blobs: &HashMap<String, FileRef>,
    used: &mut BTreeSet<String>,
    size: &mut u64,
    times: &mut Times,
    problems: &mut Vec<Problem>,
) {
    for entry in read_dir_sorted(dir) {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_symlink() {
            match fs::read_link(&path) {
                Ok(target) => {
                    // A link into this repo's blobs/ names a blob already listed: no stat
                    // needed (a third of the scan's system calls). Anything else is
                    // checked on disk.
                    let into_listed_blob = target.parent().and_then(Path::file_name)
                        == Some(std::ffi::OsStr::new("blobs"))
                        && target
                            .file_name()
                            .is_some_and(|name| blobs.contains_key(&*name.to_string_lossy()));
                    let resolved = path
                        .parent()
                        .map(|p| p.join(&target))
                        .unwrap_or(target.clone());
                    if !into_listed_blob && fs::symlink_metadata(&resolved).is_err() {
                        problems.push(Problem {
                            kind: "broken_symlink",
                            detail: format!("points to {}, which is gone", target.display()),
                            path: path.clone(),
                        });
                    }
                    if let Some(name) = target.file_name() {
                        used.insert(name.to_string_lossy().into_owned());
                    }
                }
                Err(e) => problems.push(Problem {
                    kind: "unreadable",
                    detail: e.to_string(),
                    path,
                }),
            }
        } else if kind.is_dir() {
            walk_snapshot(&path, blobs, used, size, times, problems);
        } else if let Ok(metadata) = entry.metadata() {
            *size += metadata.len();
            times.see(&metadata);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_folders_name_ids() {
        assert_eq!(
            repo_id("models--BAAI--bge-m3").as_deref(),
            Some("BAAI/bge-m3")
        );
        assert_eq!(repo_id("models--gpt2").as_deref(), Some("gpt2"));
        assert_eq!(
            repo_id("datasets--mozilla--common_voice").as_deref(),
            Some("dataset:mozilla/common_voice")
        );
        assert_eq!(repo_id("spaces--a--b").as_deref(), Some("space:a/b"));
        assert_eq!(repo_id(".locks"), None);
        assert_eq!(repo_id("version.txt"), None);
    }
}

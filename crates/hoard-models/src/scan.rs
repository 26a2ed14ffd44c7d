//! The inventory: every cached model in every store, with its size on disk, revisions, last
//! access and last change, and what is partial, detached or broken.
//!
//! Layouts read:
//! - Hugging Face hub (`HF_HUB_CACHE`): `models--org--name/` (also `datasets--`, `spaces--`)
//!   with `blobs/` (content named by hash), `snapshots/REV/` (symlinks into blobs) and
//!   `refs/BRANCH` (a file holding a revision). A blob shared by several revisions is
//!   counted once. Snapshots no ref names are "detached"; `*.incomplete` blobs are partial.
//! - torch hub (`TORCH_HOME/hub`): files in `checkpoints/` and repo folders beside it.
//! - Ollama (`OLLAMA_MODELS`): JSON manifests under `manifests/HOST/NS/MODEL/TAG` naming
//!   layers stored as `blobs/sha256-HEX`; blobs no manifest names are orphans.
//! - MLX and app caches: each folder is one item, sized recursively.
//!
//! Nothing here follows a symlink out of a store: sizes use `lstat`, and a snapshot link is
//! only read (`readlink`), never traversed.

use crate::layout::Layout;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Which store an item lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    /// The Hugging Face hub cache.
    Huggingface,
    /// torch hub.
    Torch,
    /// Ollama.
    Ollama,
    /// MLX.
    Mlx,
    /// A configured application cache.
    App,
}

impl Store {
    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Store::Huggingface => "huggingface",
            Store::Torch => "torch",
            Store::Ollama => "ollama",
            Store::Mlx => "mlx",
            Store::App => "app",
        }
    }

    /// Parses a store name (`hf` is accepted for `huggingface`).
    pub fn parse(name: &str) -> Option<Store> {
        match name {
            "huggingface" | "hf" => Some(Store::Huggingface),
            "torch" => Some(Store::Torch),
            "ollama" => Some(Store::Ollama),
            "mlx" => Some(Store::Mlx),
            "app" => Some(Store::App),
            _ => None,
        }
    }

    /// Every store.
    pub const ALL: [Store; 5] = [
        Store::Huggingface,
        Store::Torch,
        Store::Ollama,
        Store::Mlx,
        Store::App,
    ];
}

/// A file on disk with its size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileRef {
    /// Where it is.
    pub path: PathBuf,
    /// Its length in bytes.
    pub size: u64,
}

/// A revision of a Hugging Face repo that no ref points to any more.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Detached {
    /// The commit hash (the snapshot folder's name).
    pub revision: String,
    /// The snapshot folder.
    pub path: PathBuf,
    /// Blobs only this and other detached revisions use: what removing them frees.
    pub exclusive_blobs: Vec<FileRef>,
}

/// One cached model (or dataset, space, checkpoint, app cache).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Item {
    /// `org/name`, `dataset:org/name`, `space:org/name`, `torch:FILE`,
    /// `ollama:MODEL:TAG`, `mlx:NAME` or `app:NAME`.
    pub id: String,
    /// The store it is in.
    pub store: Store,
    /// The folder (or file) that holds it.
    pub path: PathBuf,
    /// Bytes on disk, every blob counted once.
    pub size: u64,
    /// Revisions (Hugging Face snapshots; 1 elsewhere).
    pub revisions: usize,
    /// Last access, milliseconds since the Unix epoch: the newest of the files' atime and
    /// hoard's own record (see [`crate::usage`]).
    pub last_accessed_ms: Option<i64>,
    /// Last change, milliseconds since the Unix epoch (newest mtime).
    pub last_modified_ms: Option<i64>,
    /// Named refs (`main`, ...) and the revision each points to.
    pub refs: BTreeMap<String, String>,
    /// Revisions no ref points to.
    pub detached: Vec<Detached>,
    /// Partial downloads (`*.incomplete`, `*.partial`, Ollama's `-partial` files).
    pub partial: Vec<FileRef>,
    /// Content files (blobs, checkpoints, layers) with the hash their name carries, if any:
    /// what `dedup` compares.
    #[serde(skip)]
    pub contents: Vec<Content>,
}

/// A content file and what its name says about its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// Where it is, and how long.
    pub file: FileRef,
    /// The hash in its name: `sha256:HEX` (HF LFS blobs, Ollama layers) or `gitsha1:HEX`
    /// (HF non-LFS blobs).
    pub name_hash: Option<String>,
}

/// Something wrong the scan noticed (reported by `doctor`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `broken_symlink`, `unreadable`, `bad_manifest`, ...
    pub kind: &'static str,
    /// Where.
    pub path: PathBuf,
    /// What exactly.
    pub detail: String,
}

/// Everything in every store.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Inventory {
    /// The items, sorted by store then id.
    pub items: Vec<Item>,
    /// Ollama blobs that no manifest names.
    pub orphans: Vec<FileRef>,
    /// Problems found on the way.
    pub problems: Vec<Problem>,
}

impl Inventory {
    /// Bytes per store, every file counted once (Ollama layers shared by models, too).
    pub fn store_sizes(&self) -> BTreeMap<Store, u64> {
        let mut seen: BTreeSet<&Path> = BTreeSet::new();
        let mut sizes: BTreeMap<Store, u64> = BTreeMap::new();
        for item in &self.items {
            let total = sizes.entry(item.store).or_default();
            if item.store == Store::Ollama {
                for content in &item.contents {
                    if seen.insert(&content.file.path) {
                        *total += content.file.size;
                    }
                }
            } else {
                *total += item.size;
            }
        }
        for orphan in &self.orphans {
            *sizes.entry(Store::Ollama).or_default() += orphan.size;
        }
        sizes
    }

    /// The item with this id.
    pub fn find(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|item| item.id == id)
    }
}

/// Scans every store of `layout`. Missing stores are simply empty.
pub fn scan(layout: &Layout) -> Inventory {
    let mut inventory = Inventory::default();
    let parts: Vec<(Vec<Item>, Vec<FileRef>, Vec<Problem>)> = vec![
        huggingface(&layout.hf_hub()),
        torch(&layout.torch_hub()),
        ollama(&layout.ollama),
        folders(&layout.mlx, Store::Mlx, "mlx:"),
        apps(&layout.app_caches),
    ];
    for (items, orphans, problems) in parts {
        inventory.items.extend(items);
        inventory.orphans.extend(orphans);
        inventory.problems.extend(problems);
    }
    inventory
        .items
        .sort_by(|a, b| (a.store, &a.id).cmp(&(b.store, &b.id)));
    inventory
}

type Part = (Vec<Item>, Vec<FileRef>, Vec<Problem>);

fn read_dir_sorted(dir: &Path) -> Vec<fs::DirEntry> {
    let mut entries: Vec<fs::DirEntry> = match fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(Result::ok).collect(),
        Err(_) => return Vec::new(),
    };
    entries.sort_by_key(fs::DirEntry::file_name);
    entries
}

fn millis(time: std::io::Result<std::time::SystemTime>) -> Option<i64> {
    let since = time.ok()?.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

/// Newest access and change times and total bytes of what a walk saw.
#[derive(Debug, Default, Clone, Copy)]
struct Times {
    accessed: Option<i64>,
    modified: Option<i64>,
}

impl Times {
    fn see(&mut self, metadata: &fs::Metadata) {
        self.accessed = self.accessed.max(millis(metadata.accessed()));
        self.modified = self.modified.max(millis(metadata.modified()));
    }
}

/// A download that never finished: huggingface_hub's `*.incomplete`, torch hub's
/// `*.partial`, Ollama's `sha256-HEX-partial*`.
pub(crate) fn is_partial(name: &str) -> bool {
    name.ends_with(".incomplete")
        || name.ends_with(".partial")
        || (name.starts_with("sha256-") && name.contains("-partial"))
}

/// Opens a file for reading without updating its access time where the system allows it
/// (Linux `O_NOATIME`, for files we own): hoard's own reads (manifests, dedup hashing) must
/// not look like use of a model to `prune --older-than`.
pub(crate) fn open_quietly(path: &Path) -> std::io::Result<fs::File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NOATIME: i32 = 0o1_000_000;
        if let Ok(file) = fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_NOATIME)
            .open(path)
        {
            return Ok(file);
        }
    }
    fs::File::open(path)
}

// ---------------------------------------------------------------- Hugging Face

fn huggingface(hub: &Path) -> Part {
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
    (items, Vec::new(), problems)
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

// ---------------------------------------------------------------- torch hub

fn torch(hub: &Path) -> Part {
    let mut items = Vec::new();
    for entry in read_dir_sorted(&hub.join("checkpoints")) {
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if !metadata.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let file = FileRef {
            path: entry.path(),
            size: metadata.len(),
        };
        let partial = is_partial(&name);
        items.push(Item {
            id: format!("torch:{name}"),
            store: Store::Torch,
            path: entry.path(),
            size: file.size,
            revisions: 1,
            last_accessed_ms: millis(metadata.accessed()),
            last_modified_ms: millis(metadata.modified()),
            refs: BTreeMap::new(),
            detached: Vec::new(),
            partial: if partial {
                vec![file.clone()]
            } else {
                Vec::new()
            },
            contents: vec![Content {
                file,
                name_hash: None,
            }],
        });
    }
    let (mut repos, orphans, problems) = folders(hub, Store::Torch, "torch:");
    repos.retain(|item| item.id != "torch:checkpoints");
    items.extend(repos);
    (items, orphans, problems)
}

// ---------------------------------------------------------------- Ollama

#[derive(serde::Deserialize)]
struct OllamaManifest {
    #[serde(default)]
    config: Option<OllamaLayer>,
    #[serde(default)]
    layers: Vec<OllamaLayer>,
}

#[derive(serde::Deserialize)]
struct OllamaLayer {
    digest: String,
}

fn ollama(models: &Path) -> Part {
    let mut manifests = Vec::new();
    collect_files(&models.join("manifests"), &mut manifests);
    let blobs_dir = models.join("blobs");
    let mut items = Vec::new();
    let mut problems = Vec::new();
    let mut named: BTreeSet<PathBuf> = BTreeSet::new();
    for manifest_path in manifests {
        let Ok(relative) = manifest_path.strip_prefix(models.join("manifests")) else {
            continue;
        };
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let id = match parts.as_slice() {
            [host, ns, model, tag] if host == "registry.ollama.ai" && ns == "library" => {
                format!("ollama:{model}:{tag}")
            }
            [host, ns, model, tag] if host == "registry.ollama.ai" => {
                format!("ollama:{ns}/{model}:{tag}")
            }
            [host, ns, model, tag] => format!("ollama:{host}/{ns}/{model}:{tag}"),
            _ => continue,
        };
        let parsed: Result<OllamaManifest, String> = open_quietly(&manifest_path)
            .map_err(|e| e.to_string())
            .and_then(|file| {
                serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| e.to_string())
            });
        let manifest = match parsed {
            Ok(manifest) => manifest,
            Err(detail) => {
                problems.push(Problem {
                    kind: "bad_manifest",
                    path: manifest_path.clone(),
                    detail,
                });
                continue;
            }
        };
        let mut times = Times::default();
        // The manifest's mtime says when the model changed; its atime only says that
        // something (hoard's own scan included) read the manifest, so it is not use.
        if let Ok(metadata) = fs::symlink_metadata(&manifest_path) {
            times.modified = millis(metadata.modified());
        }
        let mut contents = Vec::new();
        let mut size = 0;
        for layer in manifest.config.iter().chain(&manifest.layers) {
            let hex = layer.digest.trim_start_matches("sha256:");
            let path = blobs_dir.join(format!("sha256-{hex}"));
            match fs::symlink_metadata(&path) {
                Ok(metadata) => {
                    times.see(&metadata);
                    size += metadata.len();
                    named.insert(path.clone());
                    contents.push(Content {
                        file: FileRef {
                            path,
                            size: metadata.len(),
                        },
                        name_hash: Some(format!("sha256:{hex}")),
                    });
                }
                Err(_) => problems.push(Problem {
                    kind: "missing_blob",
                    detail: format!("{id} names {} which is not in blobs/", layer.digest),
                    path,
                }),
            }
        }
        items.push(Item {
            id,
            store: Store::Ollama,
            path: manifest_path,
            size,
            revisions: 1,
            last_accessed_ms: times.accessed,
            last_modified_ms: times.modified,
            refs: BTreeMap::new(),
            detached: Vec::new(),
            partial: Vec::new(),
            contents,
        });
    }
    let mut orphans = Vec::new();
    for entry in read_dir_sorted(&blobs_dir) {
        let path = entry.path();
        if named.contains(&path) {
            continue;
        }
        // Unnamed layers and abandoned `-partial` downloads alike: prune removes both.
        if let Ok(metadata) = entry.metadata() {
            orphans.push(FileRef {
                path,
                size: metadata.len(),
            });
        }
    }
    (items, orphans, problems)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in read_dir_sorted(dir) {
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => collect_files(&entry.path(), out),
            Ok(kind) if kind.is_file() => out.push(entry.path()),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- folders

/// Each folder directly under `dir` as one item `{prefix}{name}`.
fn folders(dir: &Path, store: Store, prefix: &str) -> Part {
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
    (items, Vec::new(), Vec::new())
}

fn apps(caches: &BTreeMap<String, PathBuf>) -> Part {
    let items = caches
        .par_iter()
        .filter(|(_, path)| path.is_dir())
        .map(|(name, path)| folder_item(path, format!("app:{name}"), Store::App))
        .collect();
    (items, Vec::new(), Vec::new())
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

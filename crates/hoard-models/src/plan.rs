//! Destructive commands as plans: `rm`, `prune` and `clear` first say exactly which paths
//! go and how many bytes that frees; the CLI shows the plan, asks, and only then runs
//! [`Plan::execute`], which removes those paths and nothing else, and refuses any path that
//! is not inside a configured root.

use crate::error::ModelsError;
use crate::inventory::{FileRef, Inventory, Item, Store};
use crate::layout::Layout;
use crate::size::ByteSize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One path to remove.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Action {
    /// The file or folder (a folder goes with everything in it; symlinks are removed, never
    /// followed).
    pub path: PathBuf,
    /// Bytes this frees.
    pub bytes: u64,
    /// What it is, for people: `BAAI/bge-m3`, `detached revision 1a2b of gpt2`, ...
    pub what: String,
}

/// What a destructive command will do.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    /// In order.
    pub actions: Vec<Action>,
}

/// What running a plan did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// Bytes freed.
    pub freed: u64,
    /// Paths removed.
    pub removed: usize,
    /// Paths that could not be removed, and why.
    pub failed: Vec<(PathBuf, String)>,
}

impl Plan {
    /// Total bytes the plan frees.
    pub fn bytes(&self) -> u64 {
        self.actions.iter().map(|a| a.bytes).sum()
    }

    /// Bytes the plan frees inside `store`'s items (detached revisions, partial
    /// downloads, Ollama orphans counted with their store).
    fn bytes_in(&self, inventory: &Inventory, store: Store) -> u64 {
        let folders: Vec<&Path> = inventory
            .items
            .iter()
            .filter(|item| item.store == store)
            .map(|item| item.path.as_path())
            .collect();
        let orphan = |path: &Path| {
            store == Store::Ollama && inventory.orphans.iter().any(|o| o.path == path)
        };
        self.actions
            .iter()
            .filter(|a| orphan(&a.path) || folders.iter().any(|f| a.path.starts_with(f)))
            .map(|a| a.bytes)
            .sum()
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Adds a path unless an earlier action already covers it; a folder replaces the
    /// actions inside it (its bytes include theirs).
    fn push(&mut self, path: PathBuf, bytes: u64, what: String) {
        if self.actions.iter().any(|a| path.starts_with(&a.path)) {
            return;
        }
        self.actions.retain(|a| !a.path.starts_with(&path));
        self.actions.push(Action { path, bytes, what });
    }

    /// Removes every path of the plan. A path outside the configured roots of `layout`, or
    /// a root itself, is refused (and reported in `failed`), whatever built the plan.
    pub fn execute(&self, layout: &Layout) -> Outcome {
        let roots: Vec<PathBuf> = layout
            .roots()
            .iter()
            .filter_map(|root| std::fs::canonicalize(root).ok())
            .collect();
        let mut outcome = Outcome::default();
        for action in &self.actions {
            match remove(&action.path, &roots) {
                Ok(()) => {
                    outcome.freed += action.bytes;
                    outcome.removed += 1;
                }
                Err(reason) => outcome.failed.push((action.path.clone(), reason)),
            }
        }
        outcome
    }
}

/// Removes `path` if it lies strictly inside one of `roots` (canonical).
fn remove(path: &Path, roots: &[PathBuf]) -> Result<(), String> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        // Already gone: nothing to free, nothing to refuse.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    // The parent is canonicalized (it may sit behind a symlinked root such as a NAS mount);
    // the last component is not, so a symlink is judged by where it is, not where it goes.
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err("refusing to remove a filesystem root".into());
    };
    let real = std::fs::canonicalize(parent)
        .map_err(|e| e.to_string())?
        .join(name);
    if name == ".." || name == "." {
        return Err("refusing a path ending in . or ..".into());
    }
    let inside = roots
        .iter()
        .any(|root| real.starts_with(root) && real != *root);
    if !inside {
        return Err(format!(
            "{} is outside the configured model roots; not removed",
            real.display()
        ));
    }
    let result = if metadata.is_dir() {
        std::fs::remove_dir_all(&real)
    } else {
        std::fs::remove_file(&real)
    };
    result.map_err(|e| e.to_string())
}

/// `hoard models rm ID...`: each item whole. Ollama layers still used by another model
/// stay; an app cache keeps its folder and loses what is in it.
pub fn rm<S: AsRef<str>>(inventory: &Inventory, ids: &[S]) -> Result<Plan, ModelsError> {
    let mut plan = Plan::default();
    let mut chosen: Vec<&Item> = Vec::new();
    for id in ids {
        let id = id.as_ref();
        let item = inventory
            .find(id)
            .ok_or_else(|| ModelsError::UnknownId(id.to_owned()))?;
        chosen.push(item);
    }
    remove_items(inventory, &chosen, &mut plan);
    Ok(plan)
}

fn remove_items(inventory: &Inventory, chosen: &[&Item], plan: &mut Plan) {
    let leaving: HashSet<&str> = chosen.iter().map(|item| item.id.as_str()).collect();
    // Ollama layers referenced by a model that stays.
    let kept_layers: HashSet<&Path> = inventory
        .items
        .iter()
        .filter(|item| item.store == Store::Ollama && !leaving.contains(item.id.as_str()))
        .flat_map(|item| item.contents.iter().map(|c| c.file.path.as_path()))
        .collect();
    let mut layers_planned: BTreeSet<&Path> = BTreeSet::new();
    for item in chosen {
        match item.store {
            Store::Ollama => {
                plan.push(item.path.clone(), 0, format!("{} (manifest)", item.id));
                for content in &item.contents {
                    let path = content.file.path.as_path();
                    if !kept_layers.contains(path) && layers_planned.insert(path) {
                        plan.push(
                            path.to_path_buf(),
                            content.file.size,
                            format!("{} (layer)", item.id),
                        );
                    }
                }
            }
            Store::App => {
                for entry in std::fs::read_dir(&item.path)
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let bytes = item
                        .contents
                        .iter()
                        .filter(|c| c.file.path.starts_with(entry.path()))
                        .map(|c| c.file.size)
                        .sum();
                    plan.push(entry.path(), bytes, item.id.clone());
                }
            }
            _ => plan.push(item.path.clone(), item.size, item.id.clone()),
        }
    }
}

/// What `prune` removes.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Items not used for longer than this.
    pub older_than: Option<Duration>,
    /// Remove least recently used items until the stores hold at most this much.
    pub max_size: Option<ByteSize>,
    /// Remove least recently used items of a store until it holds at most this much
    /// (applied before `max_size`).
    pub store_max_size: BTreeMap<Store, ByteSize>,
    /// Now, milliseconds since the Unix epoch.
    pub now_ms: i64,
}

/// `hoard models prune`: always detached revisions, partial downloads and unreferenced
/// Ollama layers; then whole items by age or, least recently used first, by total size.
pub fn prune(inventory: &Inventory, options: &PruneOptions) -> Plan {
    let mut plan = Plan::default();
    for item in &inventory.items {
        for detached in &item.detached {
            plan.push(
                detached.path.clone(),
                0,
                format!(
                    "detached revision {} of {}",
                    short(&detached.revision),
                    item.id
                ),
            );
            for blob in &detached.exclusive_blobs {
                plan.push(
                    blob.path.clone(),
                    blob.size,
                    format!("blob of a detached revision of {}", item.id),
                );
            }
        }
        for partial in &item.partial {
            plan.push(
                partial.path.clone(),
                partial.size,
                format!("partial download in {}", item.id),
            );
        }
    }
    for FileRef { path, size } in &inventory.orphans {
        plan.push(path.clone(), *size, "Ollama layer no model uses".into());
    }
    let mut chosen: Vec<&Item> = Vec::new();
    if let Some(age) = options.older_than {
        let cutoff = options.now_ms - i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        chosen.extend(
            inventory
                .items
                .iter()
                .filter(|item| last_use(item) < cutoff),
        );
    }
    let sizes = inventory.store_sizes();
    for (store, limit) in &options.store_max_size {
        let held = sizes.get(store).copied().unwrap_or(0);
        let already = plan.bytes_in(inventory, *store) + bytes_of(&chosen, Some(*store));
        let in_store = |item: &&Item| item.store == *store;
        add_least_recently_used(
            inventory,
            in_store,
            held,
            already,
            limit.as_u64(),
            &mut chosen,
        );
    }
    if let Some(limit) = options.max_size.map(|size| size.as_u64()) {
        let total: u64 = sizes.values().sum();
        let already = plan.bytes() + bytes_of(&chosen, None);
        add_least_recently_used(inventory, |_| true, total, already, limit, &mut chosen);
    }
    remove_items(inventory, &chosen, &mut plan);
    plan
}

/// The last time `item` was used, as prune orders items.
fn last_use(item: &Item) -> i64 {
    item.last_accessed_ms
        .max(item.last_modified_ms)
        .unwrap_or(0)
}

/// Bytes of the `chosen` items (of `store` only, if given).
fn bytes_of(chosen: &[&Item], store: Option<Store>) -> u64 {
    chosen
        .iter()
        .filter(|item| store.is_none_or(|s| s == item.store))
        .map(|item| item.size)
        .sum()
}

/// Chooses the least recently used items `eligible` picks, not chosen yet, until what
/// `held` less what is `already` removed is at most `limit`.
fn add_least_recently_used<'a>(
    inventory: &'a Inventory,
    eligible: impl Fn(&&'a Item) -> bool,
    held: u64,
    already: u64,
    limit: u64,
    chosen: &mut Vec<&'a Item>,
) {
    let mut remaining = held.saturating_sub(already);
    let mut by_age: Vec<&Item> = inventory
        .items
        .iter()
        .filter(|item| eligible(item) && !chosen.iter().any(|c| c.id == item.id))
        .collect();
    by_age.sort_by_key(|item| (last_use(item), item.id.clone()));
    for item in by_age {
        if remaining <= limit {
            break;
        }
        remaining = remaining.saturating_sub(item.size);
        chosen.push(item);
    }
}

/// `hoard models clear [STORE]`: every item of the store (or of all stores) and the
/// Ollama orphans.
pub fn clear(inventory: &Inventory, store: Option<Store>) -> Plan {
    let mut plan = Plan::default();
    let chosen: Vec<&Item> = inventory
        .items
        .iter()
        .filter(|item| store.is_none_or(|s| s == item.store))
        .collect();
    remove_items(inventory, &chosen, &mut plan);
    if store.is_none_or(|s| s == Store::Ollama) {
        for orphan in &inventory.orphans {
            plan.push(
                orphan.path.clone(),
                orphan.size,
                "Ollama layer no model uses".into(),
            );
        }
    }
    plan
}

fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

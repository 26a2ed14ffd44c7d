//! The inventory: every cached model in every store, with its size on disk, revisions, last
//! access and last change, and what is partial, detached or broken. [`crate::scan`] fills
//! it from disk; the commands read it.

use crate::error::ModelsError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

    /// The names [`Store::parse`] reads, for messages.
    pub const NAMES: &'static str = "huggingface (or hf), torch, ollama, mlx or app";

    /// Every store, in the order tables list them.
    pub const ALL: [Store; 5] = [
        Store::Huggingface,
        Store::Torch,
        Store::Ollama,
        Store::Mlx,
        Store::App,
    ];
}

/// A store by its name, as `[models.store_max_size]` keys it.
impl<'de> serde::Deserialize<'de> for Store {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Store, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(d)?;
        Store::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!("unknown store {name:?}: {}", Store::NAMES))
        })
    }
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

impl std::str::FromStr for Store {
    type Err = ModelsError;

    /// [`Store::parse`], with an error that lists the store names.
    fn from_str(name: &str) -> Result<Store, ModelsError> {
        Store::parse(name).ok_or_else(|| ModelsError::UnknownStore(name.to_owned()))
    }
}

/// What one store holds, as `hoard models size` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StoreUsage {
    /// The store.
    pub store: Store,
    /// Bytes on disk, every file counted once (see [`Inventory::store_sizes`]).
    pub bytes: u64,
    /// Items in it.
    pub items: usize,
}

impl Inventory {
    /// Adds what another scan found (one store's, say); [`crate::scan::scan`] sorts the
    /// items once every store is in.
    pub fn extend(&mut self, other: Inventory) {
        self.items.extend(other.items);
        self.orphans.extend(other.orphans);
        self.problems.extend(other.problems);
    }

    /// Bytes and items of every store, in [`Store::ALL`] order, empty stores included.
    pub fn store_usage(&self) -> Vec<StoreUsage> {
        let sizes = self.store_sizes();
        Store::ALL
            .iter()
            .map(|&store| StoreUsage {
                store,
                bytes: sizes.get(&store).copied().unwrap_or(0),
                items: self.items.iter().filter(|item| item.store == store).count(),
            })
            .collect()
    }

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

//! Filling the [`Inventory`] from disk: every store of a layout, read with `lstat` and
//! `readlink` only.
//!
//! Layouts read, one module each:
//! - `huggingface`: the hub cache's `models--org--name/` repos with `blobs/`,
//!   `snapshots/` and `refs/`;
//! - `torch`: torch hub's `checkpoints/` files and the repo folders beside it;
//! - `ollama`: manifests naming `blobs/sha256-HEX` layers;
//! - `folders`: MLX and app caches, each folder one item sized recursively.
//!
//! Nothing here follows a symlink out of a store: sizes use `lstat`, and a snapshot link is
//! only read (`readlink`), never traversed.

mod folders;
mod huggingface;
mod ollama;
mod torch;

use crate::inventory::Inventory;
use crate::layout::Layout;

/// Scans every store of `layout`. Missing stores are simply empty. Last access is what the
/// files' atime says; [`inventory`] adds hoard's own record of use.
pub fn scan(layout: &Layout) -> Inventory {
    let mut inventory = Inventory::default();
    for part in [
        huggingface::scan(&layout.hf_hub()),
        torch::scan(&layout.torch_hub()),
        ollama::scan(&layout.ollama),
        folders::each_folder(&layout.mlx, crate::inventory::Store::Mlx, "mlx:"),
        folders::app_caches(&layout.app_caches),
    ] {
        inventory.extend(part);
    }
    inventory
        .items
        .sort_by(|a, b| (a.store, &a.id).cmp(&(b.store, &b.id)));
    inventory
}

/// The inventory as every `hoard models` verb sees it: [`scan`], with each item's last
/// access raised to hoard's own record of use where that is newer (see [`crate::usage`]).
pub fn inventory(layout: &Layout) -> Inventory {
    let mut inventory = scan(layout);
    crate::usage::apply(&mut inventory, &crate::usage::load(layout));
    inventory
}

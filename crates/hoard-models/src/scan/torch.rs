//! torch hub (`TORCH_HOME/hub`): each file in `checkpoints/` is one item, and each repo
//! folder beside it (downloaded by `torch.hub.load`) another.

use crate::files::{is_partial, millis, read_dir_sorted};
use crate::inventory::{Content, FileRef, Inventory, Item, Store};
use std::collections::BTreeMap;
use std::path::Path;

/// The checkpoints and repo folders of the torch hub folder `hub`.
pub(super) fn scan(hub: &Path) -> Inventory {
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
    let mut repos = super::folders::each_folder(hub, Store::Torch, "torch:");
    repos.items.retain(|item| item.id != "torch:checkpoints");
    items.append(&mut repos.items);
    Inventory { items, ..repos }
}

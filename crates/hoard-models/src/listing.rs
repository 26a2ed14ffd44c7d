//! `hoard models ls`: which items to show and in which order.

use crate::error::ModelsError;
use crate::filter::Filter;
use crate::inventory::{Inventory, Item};
use std::cmp::Reverse;

/// The orders `ls --sort` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Largest first, then by id.
    #[default]
    Size,
    /// By id (`name` or `id`).
    Name,
    /// By store, then id.
    Store,
    /// Most recently accessed first; never accessed last.
    Accessed,
    /// Most recently changed first; unknown last.
    Modified,
}

impl std::str::FromStr for Sort {
    type Err = ModelsError;

    fn from_str(name: &str) -> Result<Sort, ModelsError> {
        match name {
            "size" => Ok(Sort::Size),
            "name" | "id" => Ok(Sort::Name),
            "store" => Ok(Sort::Store),
            "accessed" => Ok(Sort::Accessed),
            "modified" => Ok(Sort::Modified),
            other => Err(ModelsError::UnknownSort(other.to_owned())),
        }
    }
}

/// The items of `inventory` that every one of `filters` keeps at `now_ms`, in `sort`
/// order. Items that tie keep the inventory's order (store, then id).
pub fn list<'a>(
    inventory: &'a Inventory,
    filters: &[Filter],
    sort: Sort,
    now_ms: i64,
) -> Vec<&'a Item> {
    let mut items: Vec<&Item> = inventory
        .items
        .iter()
        .filter(|item| Filter::all_keep(filters, item, now_ms))
        .collect();
    match sort {
        Sort::Size => items.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id))),
        Sort::Name => items.sort_by(|a, b| a.id.cmp(&b.id)),
        Sort::Store => items.sort_by(|a, b| (a.store, &a.id).cmp(&(b.store, &b.id))),
        Sort::Accessed => items.sort_by_key(|item| Reverse(item.last_accessed_ms)),
        Sort::Modified => items.sort_by_key(|item| Reverse(item.last_modified_ms)),
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Store;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn item(id: &str, store: Store, size: u64, accessed: Option<i64>) -> Item {
        Item {
            id: id.to_owned(),
            store,
            path: PathBuf::from("/models").join(id),
            size,
            revisions: 1,
            last_accessed_ms: accessed,
            last_modified_ms: accessed.map(|t| -t),
            refs: BTreeMap::new(),
            detached: Vec::new(),
            partial: Vec::new(),
            contents: Vec::new(),
        }
    }

    /// As a scan leaves it: by store, then id.
    fn inventory() -> Inventory {
        Inventory {
            items: vec![
                item("org/big", Store::Huggingface, 5000, Some(10)),
                item("org/small", Store::Huggingface, 1000, None),
                item("torch:vad.pt", Store::Torch, 3000, Some(30)),
                item("app:tmdb", Store::App, 3000, Some(20)),
            ],
            ..Inventory::default()
        }
    }

    fn ids(items: &[&Item]) -> Vec<String> {
        items.iter().map(|item| item.id.clone()).collect()
    }

    #[test]
    fn each_sort_orders_as_its_name_says() {
        let inventory = inventory();
        let sorted = |sort: &str| ids(&list(&inventory, &[], sort.parse().unwrap(), 0));
        assert_eq!(
            sorted("size"),
            ["org/big", "app:tmdb", "torch:vad.pt", "org/small"]
        );
        assert_eq!(
            sorted("name"),
            ["app:tmdb", "org/big", "org/small", "torch:vad.pt"]
        );
        assert_eq!(sorted("id"), sorted("name"));
        assert_eq!(
            sorted("store"),
            ["org/big", "org/small", "torch:vad.pt", "app:tmdb"]
        );
        assert_eq!(
            sorted("accessed"),
            ["torch:vad.pt", "app:tmdb", "org/big", "org/small"]
        );
        // Changed at minus the access time: the reverse, unknown still last.
        assert_eq!(
            sorted("modified"),
            ["org/big", "app:tmdb", "torch:vad.pt", "org/small"]
        );
        assert_eq!(
            "biggest".parse::<Sort>().unwrap_err().to_string(),
            "unknown sort \"biggest\": use size, name, store, accessed or modified"
        );
    }

    #[test]
    fn filters_choose_before_the_sort_orders() {
        let inventory = inventory();
        let filters: Vec<Filter> = ["size>2KiB", "store=torch"]
            .iter()
            .map(|text| text.parse().unwrap())
            .collect();
        let items = list(&inventory, &filters, Sort::Name, 0);
        assert_eq!(ids(&items), ["torch:vad.pt"]);
    }
}

//! Last use, recorded by hoard: file access times are often not updated (`noatime`) or
//! only once a day (`relatime`), so `warm`, `touch` and library callers record use in
//! `{root}/.hoard-usage.json` (`{"id": millis}`), and the inventory takes the newer of that
//! and the files' atime.

use crate::error::ModelsError;
use crate::inventory::Inventory;
use crate::layout::Layout;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The usage file of a layout.
pub fn file(layout: &Layout) -> PathBuf {
    layout.root.join(".hoard-usage.json")
}

/// Recorded last uses by id (empty if there is no file or it cannot be read).
pub fn load(layout: &Layout) -> BTreeMap<String, i64> {
    std::fs::read(file(layout))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Records `ids` as used at `now_ms`. Written to a temporary file and renamed, so a crash
/// never leaves half a file.
pub fn mark<S: AsRef<str>>(layout: &Layout, ids: &[S], now_ms: i64) -> std::io::Result<()> {
    let mut records = load(layout);
    for id in ids {
        records.insert(id.as_ref().to_owned(), now_ms);
    }
    std::fs::create_dir_all(&layout.root)?;
    let path = file(layout);
    let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
    std::fs::write(&temporary, serde_json::to_vec_pretty(&records)?)?;
    std::fs::rename(&temporary, &path)
}

/// `hoard models touch`: records `ids` as used at `now_ms`, each of which must be an item
/// of `inventory` (nothing is written if one is not).
pub fn touch<S: AsRef<str>>(
    layout: &Layout,
    inventory: &Inventory,
    ids: &[S],
    now_ms: i64,
) -> Result<(), ModelsError> {
    if let Some(unknown) = ids.iter().find(|id| inventory.find(id.as_ref()).is_none()) {
        return Err(ModelsError::UnknownId(unknown.as_ref().to_owned()));
    }
    mark(layout, ids, now_ms).map_err(|source| ModelsError::Write {
        path: file(layout),
        source,
    })
}

/// Raises each item's `last_accessed_ms` to hoard's record where that is newer.
pub fn apply(inventory: &mut Inventory, records: &BTreeMap<String, i64>) {
    for item in &mut inventory.items {
        if let Some(&used) = records.get(&item.id) {
            item.last_accessed_ms = item.last_accessed_ms.max(Some(used));
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

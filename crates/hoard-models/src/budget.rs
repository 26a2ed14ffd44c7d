//! Size budgets for the model caches: `[models] max_size` for every store together and
//! `[models.store_max_size]` per store. `hoard models doctor` reports a budget gone over
//! (and exits non-zero) with what `hoard models prune --budgets` would free; `hoard serve`
//! exports the figures as gauges.
//!
//! ```toml
//! [models]
//! max_size = "200GiB"
//! [models.store_max_size]
//! huggingface = "150GiB"
//! ```

use crate::inventory::{Inventory, Store};
use crate::layout::Layout;
use crate::plan::{self, Plan, PruneOptions};
use crate::size::ByteSize;

/// One budget against what its stores hold now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BudgetCheck {
    /// The store it limits; `None` for every store together (`max_size`).
    pub store: Option<Store>,
    /// The most it may hold, in bytes.
    pub limit: u64,
    /// What it holds, in bytes (every file counted once).
    pub used: u64,
}

impl BudgetCheck {
    /// Whether it holds more than its budget.
    pub fn over(&self) -> bool {
        self.used > self.limit
    }

    /// The store's name, or `all` for the budget of every store together.
    pub fn scope(&self) -> &'static str {
        self.store.map_or("all", Store::name)
    }
}

/// Every configured budget of `layout` against `inventory`: the total first, then each
/// store's, in store order.
pub fn check(layout: &Layout, inventory: &Inventory) -> Vec<BudgetCheck> {
    let sizes = inventory.store_sizes();
    let mut checks = Vec::new();
    if let Some(limit) = layout.max_size {
        checks.push(BudgetCheck {
            store: None,
            limit,
            used: sizes.values().sum(),
        });
    }
    for (store, limit) in &layout.store_max_size {
        checks.push(BudgetCheck {
            store: Some(*store),
            limit: *limit,
            used: sizes.get(store).copied().unwrap_or(0),
        });
    }
    checks
}

/// What `hoard models prune --budgets` removes: what `prune` always removes (detached
/// revisions, partial downloads, unused Ollama layers), then the least recently used
/// items of each store over its budget, then of all stores while over `max_size`.
pub fn prune_plan(layout: &Layout, inventory: &Inventory, now_ms: i64) -> Plan {
    let options = PruneOptions {
        older_than: None,
        max_size: layout.max_size.map(ByteSize::b),
        store_max_size: layout
            .store_max_size
            .iter()
            .map(|(store, limit)| (*store, ByteSize::b(*limit)))
            .collect(),
        now_ms,
    };
    plan::prune(inventory, &options)
}

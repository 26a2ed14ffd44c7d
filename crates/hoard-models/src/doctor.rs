//! `hoard models doctor`: the problems of weights scattered over several caches (stages
//! that set `HF_HOME` or `TORCH_HOME` and stages that do not, leftovers of older set-ups),
//! found on this machine, each with what to do about it.

use crate::budget::{self, BudgetCheck};
use crate::inventory::Inventory;
use crate::layout::{default_locations, Layout};
use crate::scan;
use crate::size::human;
use std::path::{Path, PathBuf};

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// `split_cache`, `env_mismatch`, `legacy_folder`, `empty_folder`, `broken_symlink`,
    /// `partial_download`, `detached_revisions`, `over_budget`, ...
    pub kind: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// Checks `layout` (already scanned into `inventory`) against the user's default caches
/// under `home` and the variables in `env`.
pub fn check(
    layout: &Layout,
    inventory: &Inventory,
    home: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let configured = |store: &str| -> PathBuf {
        match store {
            "huggingface" => layout.hf_hub(),
            "torch" => layout.torch_hub(),
            "ollama" => layout.ollama.clone(),
            _ => layout.mlx.clone(),
        }
    };
    // Weights in the user's default cache as well as the configured one.
    if let Some(home) = home {
        for (store, default) in default_locations(home) {
            if same_place(&default, &configured(store)) || !default.is_dir() {
                continue;
            }
            let mut elsewhere = layout.clone();
            let stray = match store {
                "huggingface" => {
                    elsewhere.huggingface =
                        default.parent().map(Path::to_path_buf).unwrap_or_default();
                    scan::scan(&only(&elsewhere, store))
                }
                "torch" => {
                    elsewhere.torch = default.parent().map(Path::to_path_buf).unwrap_or_default();
                    scan::scan(&only(&elsewhere, store))
                }
                "ollama" => {
                    elsewhere.ollama = default.clone();
                    scan::scan(&only(&elsewhere, store))
                }
                _ => continue,
            };
            if stray.items.is_empty() {
                continue;
            }
            let bytes: u64 = stray.items.iter().map(|i| i.size).sum();
            let both: Vec<&str> = stray
                .items
                .iter()
                .filter(|i| inventory.find(&i.id).is_some())
                .map(|i| i.id.as_str())
                .collect();
            let mut message = format!(
                "{} holds {} {store} item(s), {} bytes, outside the configured {}",
                default.display(),
                stray.items.len(),
                bytes,
                configured(store).display()
            );
            if !both.is_empty() {
                message.push_str(&format!("; downloaded twice: {}", both.join(", ")));
            }
            findings.push(Finding {
                kind: "split_cache",
                message,
                fix: format!(
                    "run every stage through `hoard models exec -- ...` (or `eval \"$(hoard models env)\"`) so nothing falls back to {}; then move what is missing into the configured store and delete the rest",
                    default.display()
                ),
            });
        }
    }
    // Variables in this environment that point elsewhere.
    for (name, wanted) in layout.env() {
        if let Some(actual) = env(&name) {
            if !same_place(Path::new(&actual), Path::new(&wanted)) {
                findings.push(Finding {
                    kind: "env_mismatch",
                    message: format!("${name} is {actual}, the configuration says {wanted}"),
                    fix: format!("unset {name}, or run through `hoard models exec`, which sets it"),
                });
            }
        }
    }
    for legacy in &layout.legacy {
        if legacy.exists() {
            let files = count_files(legacy);
            findings.push(Finding {
                kind: "legacy_folder",
                message: format!(
                    "legacy folder {} still exists ({files} files)",
                    legacy.display()
                ),
                fix: if files == 0 {
                    format!("remove it: rmdir -p {}", legacy.display())
                } else {
                    "move what is still needed into the configured stores, then remove it".into()
                },
            });
        }
    }
    for store in [
        layout.hf_hub(),
        layout.torch_hub(),
        layout.ollama.clone(),
        layout.mlx.clone(),
    ] {
        if store.is_dir() && count_files(&store) == 0 {
            findings.push(Finding {
                kind: "empty_folder",
                message: format!("{} is empty", store.display()),
                fix: "nothing uses it yet; fine to keep, or remove it".into(),
            });
        }
    }
    for problem in &inventory.problems {
        findings.push(Finding {
            kind: problem.kind,
            message: format!("{}: {}", problem.path.display(), problem.detail),
            fix: match problem.kind {
                "broken_symlink" => "`hoard models rm` the repo and download it again".into(),
                _ => "inspect it; `hoard models rm` the item if it is damaged".into(),
            },
        });
    }
    for item in &inventory.items {
        if !item.partial.is_empty() {
            findings.push(Finding {
                kind: "partial_download",
                message: format!("{} has {} partial download(s)", item.id, item.partial.len()),
                fix: "`hoard models prune` removes them (the next download starts over)".into(),
            });
        }
        if !item.detached.is_empty() {
            findings.push(Finding {
                kind: "detached_revisions",
                message: format!(
                    "{} keeps {} revision(s) no ref points to",
                    item.id,
                    item.detached.len()
                ),
                fix: "`hoard models prune` removes them".into(),
            });
        }
    }
    over_budget(layout, inventory, &mut findings);
    findings
}

/// One `over_budget` finding per budget gone over, each saying what pruning by the budgets
/// would free.
fn over_budget(layout: &Layout, inventory: &Inventory, findings: &mut Vec<Finding>) {
    let over: Vec<BudgetCheck> = budget::check(layout, inventory)
        .into_iter()
        .filter(BudgetCheck::over)
        .collect();
    if over.is_empty() {
        return;
    }
    let plan = budget::prune_plan(layout, inventory, crate::usage::now_ms());
    for check in over {
        let (what, setting) = match check.store {
            Some(store) => (store.name(), "[models.store_max_size]"),
            None => ("the model caches together", "[models] max_size"),
        };
        findings.push(Finding {
            kind: "over_budget",
            message: format!(
                "{what} hold {}, over the budget of {} ({setting})",
                human(check.used),
                human(check.limit)
            ),
            fix: format!(
                "`hoard models prune --budgets` frees {} ({} path(s)), least recently used first",
                human(plan.bytes()),
                plan.actions.len()
            ),
        });
    }
}

/// A layout whose stores are all elsewhere but `store` (scans just that one).
fn only(layout: &Layout, store: &str) -> Layout {
    let nowhere = PathBuf::from("/nonexistent/hoard-doctor");
    Layout {
        root: layout.root.clone(),
        huggingface: if store == "huggingface" {
            layout.huggingface.clone()
        } else {
            nowhere.clone()
        },
        torch: if store == "torch" {
            layout.torch.clone()
        } else {
            nowhere.clone()
        },
        ollama: if store == "ollama" {
            layout.ollama.clone()
        } else {
            nowhere.clone()
        },
        mlx: nowhere,
        app_caches: Default::default(),
        legacy: Vec::new(),
        max_size: None,
        store_max_size: Default::default(),
    }
}

fn same_place(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => count_files(&entry.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

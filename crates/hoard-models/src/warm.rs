//! Warm-up: `[models.warm.NAME]` steps that fill the caches before a pipeline needs them.
//!
//! A step either copies a file or folder into the models root (from a NAS mount, say):
//!
//! ```toml
//! [models.warm.whisper-base]
//! copy = "/mnt/nas/models/torch/hub/checkpoints/base.pt"
//! to = "torch/hub/checkpoints/base.pt"
//! ```
//!
//! or runs a download command with the models environment set, skipped when the path it
//! `creates` (under the root) exists:
//!
//! ```toml
//! [models.warm.bge-m3]
//! run = ["huggingface-cli", "download", "BAAI/bge-m3"]
//! creates = "huggingface/hub/models--BAAI--bge-m3"
//! ```
//!
//! A copy is complete when every source file exists at the destination with the same
//! size; only missing or different files are copied, each to a temporary name and renamed,
//! so an interrupted warm-up never leaves a half file under the real name.

pub use crate::config::WarmStep;
use crate::error::ModelsError;
use crate::layout::Layout;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a step needs, worked out without changing anything.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Need {
    /// Already complete.
    Done,
    /// Files to copy, `(from, to, bytes)`.
    Copy(Vec<(PathBuf, PathBuf, u64)>),
    /// A command to run (its download size is unknown in advance).
    Run(Vec<String>),
}

impl Need {
    /// Bytes to fetch, where known.
    pub fn bytes(&self) -> Option<u64> {
        match self {
            Need::Done => Some(0),
            Need::Copy(files) => Some(files.iter().map(|f| f.2).sum()),
            Need::Run(_) => None,
        }
    }
}

/// Works out what `step` still needs.
pub fn need(name: &str, step: &WarmStep, layout: &Layout) -> Result<Need, ModelsError> {
    let invalid = |reason: &str| ModelsError::Warm {
        step: name.to_owned(),
        reason: reason.to_owned(),
    };
    match (&step.copy, &step.to, &step.run) {
        (Some(from), Some(to), None) => {
            let to = under_root(layout, to)
                .ok_or_else(|| invalid("`to` must be a relative path without .."))?;
            let mut files = Vec::new();
            collect(from, &to, &mut files)
                .map_err(|e| invalid(&format!("cannot read {}: {e}", from.display())))?;
            files.retain(|(source, target, size)| {
                std::fs::metadata(target).map_or(true, |m| m.len() != *size || !source.exists())
            });
            Ok(if files.is_empty() {
                Need::Done
            } else {
                Need::Copy(files)
            })
        }
        (None, None, Some(argv)) if !argv.is_empty() => {
            let done = match &step.creates {
                Some(path) => under_root(layout, path)
                    .ok_or_else(|| invalid("`creates` must be a relative path without .."))?
                    .exists(),
                None => false,
            };
            Ok(if done {
                Need::Done
            } else {
                Need::Run(argv.clone())
            })
        }
        _ => Err(invalid("give either `copy` and `to`, or a non-empty `run`")),
    }
}

fn under_root(layout: &Layout, relative: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let clean = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    clean.then(|| layout.root.join(relative))
}

fn collect(from: &Path, to: &Path, out: &mut Vec<(PathBuf, PathBuf, u64)>) -> std::io::Result<()> {
    let metadata = std::fs::metadata(from)?;
    if metadata.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(from)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            collect(&entry.path(), &to.join(entry.file_name()), out)?;
        }
    } else {
        out.push((from.to_path_buf(), to.to_path_buf(), metadata.len()));
    }
    Ok(())
}

/// Progress of a copy: `(bytes done, bytes total)`.
pub type Progress<'a> = &'a dyn Fn(u64, u64);

/// Does what `need` says. Copies report progress; commands inherit stdout and stderr.
pub fn run(
    name: &str,
    need: &Need,
    layout: &Layout,
    progress: Progress<'_>,
) -> Result<(), ModelsError> {
    let failed = |reason: String| ModelsError::Warm {
        step: name.to_owned(),
        reason,
    };
    match need {
        Need::Done => Ok(()),
        Need::Copy(files) => {
            let total: u64 = files.iter().map(|f| f.2).sum();
            let mut done = 0;
            for (from, to, size) in files {
                copy_file(from, to)
                    .map_err(|e| failed(format!("copying {}: {e}", from.display())))?;
                done += size;
                progress(done, total);
            }
            Ok(())
        }
        Need::Run(argv) => {
            let status = Command::new(&argv[0])
                .args(&argv[1..])
                .envs(layout.env())
                .status()
                .map_err(|e| {
                    let hint = if e.kind() == std::io::ErrorKind::NotFound {
                        format!(" (is {} installed and on the PATH?)", argv[0])
                    } else {
                        String::new()
                    };
                    failed(format!("cannot start {}: {e}{hint}", argv[0]))
                })?;
            if status.success() {
                Ok(())
            } else {
                Err(failed(format!("{} exited with {status}", argv[0])))
            }
        }
    }
}

fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut temporary = to.as_os_str().to_owned();
    temporary.push(format!(".{}.partial", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let result = std::fs::copy(from, &temporary).and_then(|_| std::fs::rename(&temporary, to));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// The ids of the inventory items a step filled: those inside its `to` (or `creates`)
/// path, or holding it.
pub fn filled_ids(layout: &Layout, step: &WarmStep) -> Vec<String> {
    let target = match (&step.to, &step.creates) {
        (Some(to), _) | (None, Some(to)) => layout.root.join(to),
        _ => return Vec::new(),
    };
    crate::scan::inventory(layout)
        .items
        .iter()
        .filter(|item| item.path.starts_with(&target) || target.starts_with(&item.path))
        .map(|item| item.id.clone())
        .collect()
}

/// Does what `need` says, as [`run`], then records the models the step filled as used
/// now (see [`crate::usage`]): a model just warmed up is not one `prune --older-than`
/// should take.
pub fn fill(
    name: &str,
    step: &WarmStep,
    need: &Need,
    layout: &Layout,
    progress: Progress<'_>,
) -> Result<(), ModelsError> {
    run(name, need, layout, progress)?;
    let ids = filled_ids(layout, step);
    if ids.is_empty() {
        return Ok(());
    }
    crate::usage::mark(layout, &ids, crate::usage::now_ms()).map_err(|source| ModelsError::Write {
        path: crate::usage::file(layout),
        source,
    })
}

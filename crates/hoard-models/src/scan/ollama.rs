//! Ollama (`OLLAMA_MODELS`): JSON manifests under `manifests/HOST/NS/MODEL/TAG` naming
//! layers stored as `blobs/sha256-HEX`; blobs no manifest names are orphans.

use crate::files::{millis, open_quietly, read_dir_sorted, Times};
use crate::inventory::{Content, FileRef, Inventory, Item, Problem, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

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

/// The models whose manifests are under `models`, and the blobs none of them names.
pub(super) fn scan(models: &Path) -> Inventory {
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
    Inventory {
        items,
        orphans,
        problems,
    }
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

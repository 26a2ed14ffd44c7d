//! Model stores on disk, laid out as the real tools write them, for `hoard models` tests
//! and benchmarks: a Hugging Face hub cache (blobs, snapshots of relative symlinks, refs),
//! torch hub checkpoints, Ollama manifests and layers.

use std::fs;
use std::path::{Path, PathBuf};

/// One file of a Hugging Face repo revision.
pub struct HfFile<'a> {
    /// Path inside the snapshot (`config.json`, `onnx/model.onnx`).
    pub name: &'a str,
    /// Its bytes.
    pub content: &'a [u8],
    /// Stored as an LFS blob (named by SHA-256-like 64 hex digits) rather than a git blob
    /// (40 hex digits).
    pub lfs: bool,
}

/// Writes revision `revision` of repo folder `folder` (`models--org--name`) under `hub`:
/// blobs named by a hash of their content, snapshot links into them, and `refs/{name}` for
/// each ref given. Returns the repo folder.
pub fn hf_revision(
    hub: &Path,
    folder: &str,
    revision: &str,
    refs: &[&str],
    files: &[HfFile<'_>],
) -> PathBuf {
    let repo = hub.join(folder);
    let blobs = repo.join("blobs");
    let snapshot = repo.join("snapshots").join(revision);
    fs::create_dir_all(&blobs).expect("creating blobs/");
    for file in files {
        let name = content_name(file.content, file.lfs);
        let blob = blobs.join(&name);
        if !blob.exists() {
            fs::write(&blob, file.content).expect("writing a blob");
        }
        let link = snapshot.join(file.name);
        let parent = link.parent().expect("a snapshot file has a parent");
        fs::create_dir_all(parent).expect("creating a snapshot folder");
        // Relative, as huggingface_hub writes them: ../../blobs/NAME (one more .. per level).
        let depth = file.name.matches('/').count();
        let target = format!("{}../../blobs/{name}", "../".repeat(depth));
        symlink(Path::new(&target), &link);
    }
    for name in refs {
        let path = repo.join("refs").join(name);
        fs::create_dir_all(path.parent().expect("refs/ has a parent")).expect("creating refs/");
        fs::write(path, revision).expect("writing a ref");
    }
    repo
}

/// A deterministic name for content: 64 hex digits for LFS blobs, 40 for git blobs.
pub fn content_name(content: &[u8], lfs: bool) -> String {
    // Two rounds of FNV-1a spread over 256 bits: test data only needs distinct names.
    let mut out = String::new();
    for round in 0u64..4 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ round;
        for byte in content {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{hash:016x}"));
    }
    out.truncate(if lfs { 64 } else { 40 });
    out
}

/// An Ollama model: manifest `manifests/registry.ollama.ai/library/{model}/{tag}` naming
/// the given layers, each written to `blobs/sha256-{name}` unless present.
pub fn ollama_model(models: &Path, model: &str, tag: &str, layers: &[&[u8]]) {
    let blobs = models.join("blobs");
    fs::create_dir_all(&blobs).expect("creating blobs/");
    let mut entries = Vec::new();
    for layer in layers {
        let name = content_name(layer, true);
        let path = blobs.join(format!("sha256-{name}"));
        if !path.exists() {
            fs::write(&path, layer).expect("writing a layer");
        }
        entries.push(format!(
            "{{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"sha256:{name}\",\"size\":{}}}",
            layer.len()
        ));
    }
    let manifest = models
        .join("manifests/registry.ollama.ai/library")
        .join(model)
        .join(tag);
    fs::create_dir_all(manifest.parent().expect("a manifest has a parent"))
        .expect("creating manifests/");
    fs::write(
        manifest,
        format!("{{\"schemaVersion\":2,\"layers\":[{}]}}", entries.join(",")),
    )
    .expect("writing a manifest");
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("creating a snapshot symlink");
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) {
    let resolved = link.parent().expect("a link has a parent").join(target);
    fs::copy(resolved, link).expect("copying a blob where symlinks are unavailable");
}

//! The `[models]` section of hoard.toml as written: where the stores are (paths may be
//! relative) and the warm-up steps. [`crate::Layout`] resolves it; loading the file is
//! the caller's job (hoard-server's `Config::models`).

use crate::inventory::Store;
use crate::size::ByteSize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `[models]` section as written (paths may be relative).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Parent of every store that is not overridden (default `.cache`).
    pub root: Option<PathBuf>,
    /// Hugging Face home (`HF_HOME`) instead of `root/huggingface`.
    pub huggingface: Option<PathBuf>,
    /// torch home (`TORCH_HOME`) instead of `root/torch`.
    pub torch: Option<PathBuf>,
    /// Ollama models folder (`OLLAMA_MODELS`) instead of `root/ollama/models`.
    pub ollama: Option<PathBuf>,
    /// MLX cache (`MLX_CACHE_DIR`) instead of `root/mlx`.
    pub mlx: Option<PathBuf>,
    /// Application caches by name (`tmdb = "out/tmdb_cache"`): listed, sized and cleared
    /// as `app:NAME`.
    pub app_caches: BTreeMap<String, PathBuf>,
    /// Legacy folders that should be empty or gone (an old shared `shared/model-cache`
    /// that stages used before the stores were configured); `doctor` reports what they
    /// still hold.
    pub legacy: Vec<PathBuf>,
    /// Warm-up steps by name (see [`crate::warm`]).
    pub warm: BTreeMap<String, WarmStep>,
    /// The most every store together may hold (`max_size = "200GiB"`); see
    /// [`crate::budget`].
    #[serde(deserialize_with = "crate::size::deserialize_optional")]
    pub max_size: Option<ByteSize>,
    /// The most one store may hold (`[models.store_max_size]`, `huggingface = "150GiB"`).
    #[serde(deserialize_with = "store_sizes")]
    pub store_max_size: BTreeMap<Store, ByteSize>,
}

/// `[models.store_max_size]`: store names to sizes.
fn store_sizes<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<Store, ByteSize>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Size(#[serde(deserialize_with = "crate::size::deserialize")] ByteSize);
    let written = <BTreeMap<Store, Size> as serde::Deserialize>::deserialize(d)?;
    Ok(written
        .into_iter()
        .map(|(store, Size(size))| (store, size))
        .collect())
}

/// One `[models.warm.NAME]` section: either `copy` and `to`, or `run` (and optionally
/// `creates`). [`crate::warm::need`] checks which.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmStep {
    /// Copy this file or folder ...
    pub copy: Option<PathBuf>,
    /// ... to this path under the models root.
    pub to: Option<PathBuf>,
    /// Or run this command (argv) with the models environment.
    pub run: Option<Vec<String>>,
    /// The path under the root the command creates; present means done.
    pub creates: Option<PathBuf>,
}

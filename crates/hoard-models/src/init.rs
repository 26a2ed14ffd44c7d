//! `hoard models init`: the store folders created before anything downloads into them,
//! each cache marked with a `CACHEDIR.TAG` so backup tools skip it.

use crate::error::ModelsError;
use crate::layout::Layout;
use std::path::PathBuf;

/// The Cache Directory Tagging Specification's tag (<https://bford.info/cachedir/>).
pub const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n# This directory is a cache of model files, managed by hoard (hoard models).\n# For information about cache directory tags see https://bford.info/cachedir/\n";

/// Creates the folders the libraries download into (the hub cache, torch hub's
/// checkpoints, Ollama's models, MLX and every app cache) and tags the caches: the root
/// once for every store inside it, each store outside the root and each app cache on its
/// own. An existing tag is left as it is. Returns the folders created, in that order.
pub fn create_stores(layout: &Layout) -> Result<Vec<PathBuf>, ModelsError> {
    let mut folders = vec![
        layout.hf_hub(),
        layout.torch_hub().join("checkpoints"),
        layout.ollama.clone(),
        layout.mlx.clone(),
    ];
    folders.extend(layout.app_caches.values().cloned());
    let mut tagged = vec![layout.root.clone()];
    for store in [
        &layout.huggingface,
        &layout.torch,
        &layout.ollama,
        &layout.mlx,
    ] {
        if !store.starts_with(&layout.root) {
            tagged.push(store.clone());
        }
    }
    tagged.extend(layout.app_caches.values().cloned());
    for folder in folders.iter().chain(&tagged) {
        std::fs::create_dir_all(folder).map_err(|source| ModelsError::Create {
            path: folder.clone(),
            source,
        })?;
    }
    for folder in &tagged {
        let tag = folder.join("CACHEDIR.TAG");
        if !tag.exists() {
            std::fs::write(&tag, CACHEDIR_TAG)
                .map_err(|source| ModelsError::Write { path: tag, source })?;
        }
    }
    Ok(folders)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelsConfig;

    #[test]
    fn stores_outside_the_root_get_their_own_tag() {
        let dir = hoard_testkit::temp_dir();
        let config = ModelsConfig {
            root: Some("models".into()),
            torch: Some("elsewhere/torch".into()),
            app_caches: [("tmdb".to_owned(), PathBuf::from("out/tmdb_cache"))].into(),
            ..ModelsConfig::default()
        };
        let layout = Layout::new(&config, dir.path());
        let created = create_stores(&layout).unwrap();
        assert_eq!(created[0], layout.hf_hub());
        assert_eq!(
            created[1],
            dir.path().join("elsewhere/torch/hub/checkpoints")
        );
        assert!(created.iter().all(|folder| folder.is_dir()));
        for tagged in [
            dir.path().join("models"),
            dir.path().join("elsewhere/torch"),
            dir.path().join("out/tmdb_cache"),
        ] {
            let tag = std::fs::read_to_string(tagged.join("CACHEDIR.TAG")).unwrap();
            assert_eq!(tag, CACHEDIR_TAG, "{}", tagged.display());
        }
        assert!(
            !layout.huggingface.join("CACHEDIR.TAG").exists(),
            "covered by the root's"
        );
        // A tag written by someone else stays.
        std::fs::write(dir.path().join("models/CACHEDIR.TAG"), "mine").unwrap();
        create_stores(&layout).unwrap();
        let kept = std::fs::read_to_string(dir.path().join("models/CACHEDIR.TAG")).unwrap();
        assert_eq!(kept, "mine");
    }
}

//! The sections of the libraries hoard serves: `[datasets.ID]`, `[semantic]`, and
//! [`Settings`], every section at once.

use crate::{CacheSection, Config, ConfigError, ServerSection};
use figment::value::Dict;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One `[datasets.ID]` section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetSection {
    /// The dataset's root folder (relative paths start at the working directory).
    path: PathBuf,
    /// The metadata column holding the label; default `emotion`, else `label`.
    #[serde(default)]
    label_column: Option<String>,
    /// Hash every audio file's bytes into `content_hash` (slower; survives renames).
    #[serde(default)]
    content_hash: bool,
}

/// The embedder's keys of `[semantic]`; the others are the cache's own settings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EmbedderKeys {
    model: String,
    url: String,
    api_key_env: String,
}

const EMBEDDER_KEYS: [&str; 3] = ["model", "url", "api_key_env"];

/// What `[semantic]` configures.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SemanticSettings {
    /// Which embedder (an empty `model`: no semantic cache).
    pub embedder: hoard_semantic::embed::EmbedderSpec,
    /// The cache's thresholds, guards, TTL and capacity.
    pub cache: hoard_semantic::SemanticConfig,
}

/// Every section, checked: what `hoard serve` runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// `[cache]`.
    pub cache: CacheSection,
    /// `[server]`.
    pub server: ServerSection,
    /// `[datasets.*]`.
    pub datasets: Vec<hoard_datasets::DatasetConfig>,
    /// `[models]`.
    pub models: hoard_models::ModelsConfig,
    /// `[semantic]`.
    pub semantic: SemanticSettings,
}

impl Config {
    /// Every section, checked; the first value that cannot be used is the error.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        Ok(Settings {
            cache: self.cache()?,
            server: self.server()?,
            datasets: self.datasets()?,
            models: self.models()?,
            semantic: self.semantic()?,
        })
    }

    /// The `[datasets.ID]` sections, checked.
    pub fn datasets(&self) -> Result<Vec<hoard_datasets::DatasetConfig>, ConfigError> {
        let sections: BTreeMap<String, DatasetSection> = self.section("datasets")?;
        let mut out = Vec::with_capacity(sections.len());
        for (id, section) in sections {
            let key = format!("datasets.{id}");
            hoard_datasets::check_id(&id).map_err(|e| self.refuse(&key, e.to_string()))?;
            if section.path.as_os_str().is_empty() {
                return Err(self.refuse(&format!("{key}.path"), "is empty"));
            }
            out.push(hoard_datasets::DatasetConfig {
                id,
                path: section.path,
                options: hoard_datasets::BuildOptions {
                    label_column: section.label_column.filter(|c| !c.is_empty()),
                    content_hash: section.content_hash,
                },
            });
        }
        Ok(out)
    }

    /// The `[semantic]` section: the embedder (`model`, `url`, `api_key_env`) and the
    /// cache's settings (every [`hoard_semantic::SemanticConfig`] field), checked.
    pub fn semantic(&self) -> Result<SemanticSettings, ConfigError> {
        let keys: EmbedderKeys = self.section("semantic")?;
        let mut rest: Dict = self.section("semantic")?;
        for key in EMBEDDER_KEYS {
            rest.remove(key);
        }
        let cache: hoard_semantic::SemanticConfig =
            figment::Figment::from(figment::providers::Serialized::defaults(rest))
                .extract()
                .map_err(|e| self.refused("semantic", e))?;
        cache
            .validate_fields()
            .map_err(|(field, e)| self.refuse(&format!("semantic.{field}"), e.to_string()))?;
        let given = |text: String| Some(text).filter(|t| !t.is_empty());
        Ok(SemanticSettings {
            embedder: hoard_semantic::embed::EmbedderSpec {
                model: keys.model,
                url: given(keys.url),
                api_key: given(keys.api_key_env).and_then(|name| std::env::var(name).ok()),
            },
            cache,
        })
    }
}

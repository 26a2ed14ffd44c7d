//! Configured datasets served from the hoard cache.
//!
//! Each request for a manifest walks the folder (at most once per `recheck` interval) and
//! compares the version; an unchanged dataset is served from memory, or from the shared
//! cache when another instance built it. A changed one is rebuilt incrementally from the
//! previous manifest. One build per dataset runs at a time: concurrent requests wait for it
//! and share its result.
//!
//! Cache keys (namespace `dataset`): `{id}:manifest` (the whole [`Manifest`]),
//! `{id}:summary` ([`Summary`]) and `{id}:version` (written last, so a reader that sees a
//! version finds the manifest it names).

use crate::manifest::{self, BuildOptions, BuildReport, Manifest, Summary};
use crate::{scan, DatasetError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The cache namespace of manifests, summaries and versions.
pub const NAMESPACE: &str = "dataset";

/// How long stored manifests live in the cache: long, since the version decides freshness.
const STORED_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// One `[datasets.ID]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetConfig {
    /// The dataset's id: letters, digits, `-`, `_` and `.`.
    pub id: String,
    /// Its root folder.
    pub path: PathBuf,
    /// How its manifest is built.
    pub options: BuildOptions,
}

/// What `/datasets` and `hoard datasets ls` show for one dataset.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetInfo {
    /// The id.
    pub id: String,
    /// The root as configured.
    pub path: String,
    /// Current version.
    pub version: String,
    /// Audio files.
    pub total: usize,
    /// Their bytes.
    pub total_bytes: u64,
    /// Their seconds.
    pub total_duration: f64,
    /// Files that could not be probed.
    pub errors: usize,
    /// When the manifest was built, milliseconds since the Unix epoch.
    pub built_at_ms: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct VersionRecord {
    version: String,
    options: String,
    recheck: bool,
}

struct Slot {
    config: DatasetConfig,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    current: Option<Arc<Manifest>>,
    checked_at: Option<Instant>,
    last_report: Option<BuildReport>,
}

/// The configured datasets and the cache their manifests live in.
pub struct Datasets {
    cache: hoard::Cache,
    slots: BTreeMap<String, Arc<Slot>>,
    recheck: Duration,
}

impl Datasets {
    /// Datasets `configs`, cached in `cache`. Ids must be unique and made of letters,
    /// digits, `-`, `_` and `.`.
    pub fn new(
        cache: hoard::Cache,
        configs: impl IntoIterator<Item = DatasetConfig>,
    ) -> Result<Datasets, DatasetError> {
        let mut slots = BTreeMap::new();
        for config in configs {
            check_id(&config.id)?;
            let id = config.id.clone();
            let slot = Arc::new(Slot {
                config,
                state: Mutex::new(SlotState::default()),
            });
            if slots.insert(id.clone(), slot).is_some() {
                return Err(DatasetError::InvalidId {
                    id,
                    reason: "appears twice",
                });
            }
        }
        Ok(Datasets {
            cache,
            slots,
            recheck: Duration::from_secs(1),
        })
    }

    /// The shortest time between two walks of one dataset (default 1 s). Requests within
    /// it are served the manifest of the last walk.
    pub fn recheck_interval(mut self, every: Duration) -> Datasets {
        self.recheck = every;
        self
    }

    /// The configured ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(String::as_str)
    }

    /// The configuration of `id`.
    pub fn config(&self, id: &str) -> Result<&DatasetConfig, DatasetError> {
        self.slot(id).map(|slot| &slot.config)
    }

    /// The canonical root folder of `id`, for serving its files.
    pub fn root(&self, id: &str) -> Result<PathBuf, DatasetError> {
        let config = self.config(id)?;
        std::fs::canonicalize(&config.path).map_err(|source| DatasetError::Io {
            id: id.to_owned(),
            path: config.path.clone(),
            source,
        })
    }

    /// The current manifest of `id`: checked against the folder (at most once per
    /// interval), rebuilt incrementally if the version changed.
    pub async fn manifest(&self, id: &str) -> Result<Arc<Manifest>, DatasetError> {
        self.ensure(id, false).await.map(|(manifest, _)| manifest)
    }

    /// Rebuilds `id` from scratch, probing every file, and returns what the build did.
    pub async fn reindex(&self, id: &str) -> Result<(Arc<Manifest>, BuildReport), DatasetError> {
        let (manifest, report) = self.ensure(id, true).await?;
        Ok((manifest, report.unwrap_or_default()))
    }

    /// The report of the last build this process ran for `id`, if any.
    pub async fn last_report(&self, id: &str) -> Result<Option<BuildReport>, DatasetError> {
        Ok(self.slot(id)?.state.lock().await.last_report.clone())
    }

    /// Every dataset's current figures (each one checked as by [`Datasets::manifest`]).
    pub async fn list(&self) -> Result<Vec<DatasetInfo>, DatasetError> {
        let mut out = Vec::with_capacity(self.slots.len());
        for (id, slot) in &self.slots {
            let manifest = self.manifest(id).await?;
            out.push(DatasetInfo {
                id: id.clone(),
                path: slot.config.path.display().to_string(),
                version: manifest.version.clone(),
                total: manifest.summary.total,
                total_bytes: manifest.summary.total_bytes,
                total_duration: manifest.summary.total_duration,
                errors: manifest.summary.errors,
                built_at_ms: manifest.built_at_ms,
            });
        }
        Ok(out)
    }

    fn slot(&self, id: &str) -> Result<&Arc<Slot>, DatasetError> {
        self.slots
            .get(id)
            .ok_or_else(|| DatasetError::Unknown(id.to_owned()))
    }

    async fn ensure(
        &self,
        id: &str,
        force: bool,
    ) -> Result<(Arc<Manifest>, Option<BuildReport>), DatasetError> {
        let slot = self.slot(id)?;
        // Holding the slot's lock across the walk and build is the single-flight: a second
        // request waits here and then finds the fresh manifest.
        let mut state = slot.state.lock().await;
        if !force {
            if let (Some(current), Some(at)) = (&state.current, state.checked_at) {
                if at.elapsed() < self.recheck {
                    return Ok((current.clone(), None));
                }
            }
        }
        let config = slot.config.clone();
        let listing = blocking(id, {
            let path = config.path.clone();
            move || scan::walk(&path)
        })
        .await?
        .map_err(|source| DatasetError::Io {
            id: id.to_owned(),
            path: config.path.clone(),
            source,
        })?;
        let fingerprint = config.options.fingerprint();
        let up_to_date = |m: &Manifest| {
            m.version == listing.version && m.options == fingerprint && m.recheck.is_empty()
        };
        if !force {
            if let Some(current) = state.current.clone().filter(|m| up_to_date(m)) {
                state.checked_at = Some(Instant::now());
                return Ok((current, None));
            }
            if let Some(stored) = self.stored(id, &listing.version, &fingerprint).await {
                if up_to_date(&stored) {
                    let stored = Arc::new(stored);
                    state.current = Some(stored.clone());
                    state.checked_at = Some(Instant::now());
                    return Ok((stored, None));
                }
            }
        }
        let previous = match (&state.current, force) {
            (_, true) => None,
            (Some(current), false) => Some(current.clone()),
            (None, false) => self
                .cache_get::<Manifest>(id, "manifest")
                .await
                .map(Arc::new),
        };
        let options = config.options.clone();
        let built_id = id.to_owned();
        let (manifest, report) = blocking(id, move || {
            manifest::build(&listing, previous.as_deref(), &options, &|_, _| {})
        })
        .await?;
        tracing::info!(
            dataset = built_id,
            files = report.files,
            probed = report.probed,
            millis = report.elapsed.as_millis() as u64,
            "dataset manifest built"
        );
        self.store(id, &manifest).await;
        let manifest = Arc::new(manifest);
        state.current = Some(manifest.clone());
        state.checked_at = Some(Instant::now());
        state.last_report = Some(report.clone());
        Ok((manifest, Some(report)))
    }

    /// The stored manifest, if the stored version record names `version` built with
    /// `fingerprint` and nothing left to re-check.
    async fn stored(&self, id: &str, version: &str, fingerprint: &str) -> Option<Manifest> {
        let record = self.cache_get::<VersionRecord>(id, "version").await?;
        if record.version != version || record.options != fingerprint || record.recheck {
            return None;
        }
        self.cache_get::<Manifest>(id, "manifest").await
    }

    async fn cache_get<T: serde::de::DeserializeOwned>(&self, id: &str, part: &str) -> Option<T> {
        match self
            .cache
            .get::<T>(NAMESPACE, &format!("{id}:{part}"))
            .await
        {
            Ok(found) => found,
            Err(error) => {
                // A stored value we cannot read is as good as none: the build replaces it.
                tracing::warn!(dataset = id, part, %error, "cannot read the stored manifest");
                None
            }
        }
    }

    /// Writes manifest, summary, then version. A failure is logged, not returned: the
    /// manifest is still served from memory, and the next build writes it again.
    async fn store(&self, id: &str, manifest: &Manifest) {
        let options = hoard::SetOptions::new().ttl(STORED_TTL);
        let record = VersionRecord {
            version: manifest.version.clone(),
            options: manifest.options.clone(),
            recheck: !manifest.recheck.is_empty(),
        };
        let summary: &Summary = &manifest.summary;
        let key = |part: &str| format!("{id}:{part}");
        let result = async {
            self.cache
                .set_with(NAMESPACE, &key("manifest"), manifest, options.clone())
                .await?;
            self.cache
                .set_with(NAMESPACE, &key("summary"), summary, options.clone())
                .await?;
            self.cache
                .set_with(NAMESPACE, &key("version"), &record, options)
                .await
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(dataset = id, %error, "cannot store the manifest in the cache");
        }
    }
}

async fn blocking<T: Send + 'static>(
    id: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DatasetError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DatasetError::Task {
            id: id.to_owned(),
            reason: e.to_string(),
        })
}

/// Checks a dataset id: 1 to 128 letters, digits, `-`, `_` and `.` (it becomes part of
/// cache keys and URLs).
pub fn check_id(id: &str) -> Result<(), DatasetError> {
    let reason = if id.is_empty() {
        Some("is empty")
    } else if id.len() > 128 {
        Some("is longer than 128 bytes")
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("may hold only letters, digits, '-', '_' and '.'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(DatasetError::InvalidId {
            id: id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

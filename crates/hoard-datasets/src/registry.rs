//! Configured datasets served from the hoard cache.
//!
//! Each request for a manifest walks the folder (at most once per `recheck` interval) and
//! compares the version; an unchanged dataset is served from memory, or from the shared
//! cache when another instance built it. A changed one is rebuilt incrementally from the
//! previous manifest. One build per dataset runs at a time: concurrent requests wait for it
//! and share its result.
//!
//! Cache keys (namespace `dataset`): `{id}:manifest` (a whole [`Manifest`]: entries,
//! summary, build options and re-check list; the *base*), `{id}:delta` (the current
//! manifest as a [`Delta`] from that base, so a rebuild writes only what changed; see
//! [`crate::delta`]), `{id}:summary` ([`Summary`], for readers that want only totals; it
//! may briefly belong to another version while a build is being stored) and
//! `{id}:version` (the version string, written last). A reader trusts a stored manifest
//! only if its own version, options and re-check list say it is current.

use crate::delta::Delta;
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

/// What `/datasets` and `hoard datasets ls` show for one dataset. Read back with every
/// field defaulted, as a dataset that failed sends only `id`, `path` and `error` readable.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
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
    /// Why the dataset could not be read (the other fields are then empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

struct Slot {
    config: DatasetConfig,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    current: Option<Arc<Manifest>>,
    /// What `{id}:manifest` holds, as far as this instance knows: the base the next
    /// delta is computed from. `None` when unknown (nothing loaded, or a write failed).
    stored_base: Option<Arc<Manifest>>,
    checked_at: Option<Instant>,
    last_report: Option<BuildReport>,
}

/// The configured datasets and the cache their manifests live in.
pub struct Datasets {
    inner: Arc<Inner>,
}

struct Inner {
    cache: hoard::Cache,
    slots: BTreeMap<String, Arc<Slot>>,
    recheck: Duration,
    builds: std::sync::atomic::AtomicUsize,
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
            inner: Arc::new(Inner {
                cache,
                slots,
                recheck: Duration::from_secs(1),
                builds: Default::default(),
            }),
        })
    }

    /// The shortest time between two walks of one dataset (default 1 s). Requests within
    /// it are served the manifest of the last walk.
    pub fn recheck_interval(self, every: Duration) -> Datasets {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            cache: shared.cache.clone(),
            slots: shared.slots.clone(),
            recheck: shared.recheck,
            builds: Default::default(),
        });
        Datasets {
            inner: Arc::new(Inner {
                recheck: every,
                ..inner
            }),
        }
    }

    /// How many manifest builds this instance has run (all datasets).
    pub fn builds(&self) -> usize {
        self.inner.builds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The configured ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.inner.slots.keys().map(String::as_str)
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
    /// A dataset that cannot be read is listed with its `error`; the others still are.
    pub async fn list(&self) -> Vec<DatasetInfo> {
        let mut out = Vec::with_capacity(self.inner.slots.len());
        for (id, slot) in &self.inner.slots {
            let mut info = DatasetInfo {
                id: id.clone(),
                path: slot.config.path.display().to_string(),
                ..DatasetInfo::default()
            };
            match self.manifest(id).await {
                Ok(manifest) => {
                    info.version = manifest.version.clone();
                    info.total = manifest.summary.total;
                    info.total_bytes = manifest.summary.total_bytes;
                    info.total_duration = manifest.summary.total_duration;
                    info.errors = manifest.summary.errors;
                    info.built_at_ms = manifest.built_at_ms;
                }
                Err(error) => info.error = Some(error.to_string()),
            }
            out.push(info);
        }
        out
    }

    fn slot(&self, id: &str) -> Result<&Arc<Slot>, DatasetError> {
        self.inner
            .slots
            .get(id)
            .ok_or_else(|| DatasetError::Unknown(id.to_owned()))
    }

    /// Runs the check (and build) as its own task: a request that goes away (a client that
    /// disconnects) does not throw away a build half done; the next request finds it.
    async fn ensure(
        &self,
        id: &str,
        force: bool,
    ) -> Result<(Arc<Manifest>, Option<BuildReport>), DatasetError> {
        self.slot(id)?;
        let inner = self.inner.clone();
        let owned = id.to_owned();
        tokio::spawn(async move { inner.ensure(&owned, force).await })
            .await
            .map_err(|e| DatasetError::Task {
                id: id.to_owned(),
                reason: e.to_string(),
            })?
    }
}

impl Inner {
    async fn ensure(
        &self,
        id: &str,
        force: bool,
    ) -> Result<(Arc<Manifest>, Option<BuildReport>), DatasetError> {
        let slot = self
            .slots
            .get(id)
            .ok_or_else(|| DatasetError::Unknown(id.to_owned()))?;
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
            // Another instance (sharing the cache) may have built this version already;
            // a manifest of this version held here is as good as the stored one.
            let held = state.current.as_ref().map(|m| &m.version);
            if held != Some(&listing.version)
                && self.stored_version(id).await.as_ref() == Some(&listing.version)
            {
                if let Some((base, stored)) = self.load(id).await {
                    state.stored_base = Some(base);
                    if up_to_date(&stored) {
                        state.current = Some(stored.clone());
                        state.checked_at = Some(Instant::now());
                        return Ok((stored, None));
                    }
                    state.current = Some(stored);
                }
            }
        }
        let previous = match (&state.current, force) {
            (_, true) => None,
            (Some(current), false) => Some(current.clone()),
            (None, false) => self.load(id).await.map(|(base, stored)| {
                state.stored_base = Some(base);
                stored
            }),
        };
        let options = config.options.clone();
        let built_id = id.to_owned();
        let (manifest, report) = blocking(id, move || {
            manifest::build(&listing, previous.as_deref(), &options, &|_, _| {})
        })
        .await?;
        self.builds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            dataset = built_id,
            files = report.files,
            probed = report.probed,
            millis = report.elapsed.as_millis() as u64,
            "dataset manifest built"
        );
        let manifest = Arc::new(manifest);
        state.stored_base = self.store(id, &manifest, state.stored_base.take()).await;
        state.current = Some(manifest.clone());
        state.checked_at = Some(Instant::now());
        state.last_report = Some(report.clone());
        Ok((manifest, Some(report)))
    }

    /// The stored version string (cheap: spares decoding a stale manifest).
    async fn stored_version(&self, id: &str) -> Option<String> {
        self.cache_get::<String>(id, "version").await
    }

    /// The stored base and the stored current manifest (the base with the delta applied,
    /// or the base itself when there is no delta for it). The caller checks the current
    /// one's version, options and re-check list: a base and a delta read while another
    /// instance was storing may not belong together, and then the base alone comes back.
    async fn load(&self, id: &str) -> Option<(Arc<Manifest>, Arc<Manifest>)> {
        let base = Arc::new(self.cache_get::<Manifest>(id, "manifest").await?);
        let current = match self.cache_get::<Delta>(id, "delta").await {
            Some(delta) => delta.apply(&base).map(Arc::new),
            None => None,
        };
        let current = current.unwrap_or_else(|| base.clone());
        Some((base, current))
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

    /// Writes the manifest (as a delta from `base` when that is small, else whole as the
    /// new base), the summary, then the version; returns the base now stored. A failure is
    /// logged, not returned: the manifest is still served from memory, and the next build
    /// writes it again (whole, since the stored base is then unknown).
    async fn store(
        &self,
        id: &str,
        manifest: &Arc<Manifest>,
        base: Option<Arc<Manifest>>,
    ) -> Option<Arc<Manifest>> {
        let options = hoard::SetOptions::new().ttl(STORED_TTL);
        let key = |part: &str| format!("{id}:{part}");
        let delta = base
            .as_ref()
            .map(|base| (base, Delta::between(base, manifest)))
            .filter(|(base, delta)| delta.worth_storing(base));
        let result = async {
            let stored_base = match delta {
                Some((base, delta)) => {
                    self.cache
                        .set_with(NAMESPACE, &key("delta"), &delta, options.clone())
                        .await?;
                    base.clone()
                }
                None => {
                    // The delta goes first: a reader must never apply the old delta to the
                    // new base (it would not: the delta names its base; this keeps the
                    // cache from holding a useless delta).
                    self.cache.delete(NAMESPACE, &key("delta")).await?;
                    self.cache
                        .set_with(NAMESPACE, &key("manifest"), &**manifest, options.clone())
                        .await?;
                    manifest.clone()
                }
            };
            let summary: &Summary = &manifest.summary;
            self.cache
                .set_with(NAMESPACE, &key("summary"), summary, options.clone())
                .await?;
            self.cache
                .set_with(NAMESPACE, &key("version"), &manifest.version, options)
                .await?;
            Ok::<_, hoard::Error>(stored_base)
        }
        .await;
        match result {
            Ok(stored_base) => Some(stored_base),
            Err(error) => {
                tracing::warn!(dataset = id, %error, "cannot store the manifest in the cache");
                None
            }
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

//! Configured datasets served from the hoard cache.
//!
//! Each request for a manifest checks the folder. With a watcher (the default where the
//! file system supports one, see [`Datasets::watch`]) the check costs what changed: the
//! registry watches each root it has built a manifest for, records the paths that
//! changed since, and re-stats only those ([`crate::restat`]), probing only the changed
//! files when no table changed and no file came or went ([`crate::patch`]); with
//! nothing recorded the stored manifest is confirmed without touching the folder.
//! Without one (or whenever the watcher cannot be trusted, see [`Fallback`]) the check
//! walks the folder, at most once per `recheck` interval, and compares the version. An
//! unchanged dataset is served from memory, or from the shared cache when another
//! instance built it. A changed one is rebuilt incrementally from the previous
//! manifest. One build per dataset runs at a time: concurrent requests wait for it and
//! share its result.
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
use crate::watch::{Fallback, Watch, WatchStatus};
use crate::{restat, scan, DatasetError};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The cache namespace of manifests, summaries and versions.
pub const NAMESPACE: &str = "dataset";

/// How long a check waits for the watcher to report the check's beacon write before it
/// stops trusting the watcher ([`Fallback::Stalled`]); it takes well under a
/// millisecond when the watcher keeps up.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(1);

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
    /// The listing `current` was built from or checked against, kept up to date by each
    /// watched check. `None`: the next check walks.
    listing: Option<scan::Listing>,
    /// The watch of the root, started before the walk `listing` came from.
    watch: Option<Watch>,
    /// Why there is no watch (it could not be started), and when to try again.
    unwatched: Option<(Fallback, Instant)>,
    /// When the latest full walk began: the safety interval counts from it.
    walked_at: Option<Instant>,
    walked_because: Option<Fallback>,
    walks: u64,
    watched_checks: u64,
}

/// What the watcher made of a check.
enum Watched {
    /// Nothing changed: the current manifest stands.
    Current(Arc<Manifest>),
    /// Something changed: the listing, brought up to date, and the files that changed.
    Listing(scan::Listing, Vec<String>),
    /// The watcher cannot answer: walk.
    Walk(Fallback),
}

/// The configured datasets and the cache their manifests live in.
pub struct Datasets {
    inner: Arc<Inner>,
}

struct Inner {
    cache: hoard::Cache,
    slots: BTreeMap<String, Arc<Slot>>,
    settings: Settings,
    builds: std::sync::atomic::AtomicUsize,
    walks: std::sync::atomic::AtomicUsize,
}

/// What the builder methods set.
#[derive(Debug, Clone, Copy)]
struct Settings {
    recheck: Duration,
    watch: bool,
    safety: Duration,
    folder_limit: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            recheck: Duration::from_secs(1),
            watch: cfg!(feature = "watch"),
            safety: Duration::from_secs(5 * 60),
            folder_limit: 65_536,
        }
    }
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
                settings: Settings::default(),
                builds: Default::default(),
                walks: Default::default(),
            }),
        })
    }

    fn with(self, change: impl FnOnce(&mut Settings)) -> Datasets {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            cache: shared.cache.clone(),
            slots: shared.slots.clone(),
            settings: shared.settings,
            builds: Default::default(),
            walks: Default::default(),
        });
        change(&mut inner.settings);
        Datasets {
            inner: Arc::new(inner),
        }
    }

    /// The shortest time between two walks of a dataset that is not watched (default
    /// 1 s). Requests within it are served the manifest of the last walk. A watched
    /// dataset is checked on every request (the check costs what changed); its walks,
    /// when the watcher cannot be trusted, are not held back either: they are what keeps
    /// its answer current.
    pub fn recheck_interval(self, every: Duration) -> Datasets {
        self.with(|settings| settings.recheck = every)
    }

    /// Whether to watch dataset roots (default: on, with the `watch` feature, which is on
    /// by default). A watched dataset is re-checked at the cost of what changed: an
    /// unchanged one is confirmed without reading the folder, where a walk stats every
    /// file (about a quarter of a second per 100,000 files). On is what a user expects
    /// wherever it works, and it costs nothing in correctness where it does not: a root
    /// that cannot be watched (network file systems, the watch budget spent) is walked, as
    /// with watching off, and [`Datasets::watch_status`] and the log say why.
    ///
    /// What a watch costs: one inotify watch per folder (from the user's
    /// `fs.inotify.max_user_watches`), one inotify instance and thread per dataset
    /// (`fs.inotify.max_user_instances`, often 128 per user), the listing kept in memory,
    /// and a beacon folder in the system's temporary folder that each check writes a byte
    /// to (to see every change made before it). Starting it stats every entry once (the
    /// watcher walks the tree to add its watches); reading the dataset's files (a training
    /// job's opens and closes) sends the watcher events it passes over.
    pub fn watch(self, on: bool) -> Datasets {
        self.with(|settings| settings.watch = on && cfg!(feature = "watch"))
    }

    /// How often a watched dataset is walked anyway (default 5 minutes): the watcher
    /// misses some changes (writes through `mmap`, changes made through a bind mount from
    /// another mount namespace, some network and FUSE file systems), so no answer rests on
    /// the watcher alone for longer than this. A root that could not be watched is tried
    /// again after this long too.
    pub fn watch_safety_interval(self, every: Duration) -> Datasets {
        self.with(|settings| settings.safety = every)
    }

    /// The most folders one dataset may watch (default 65,536): each takes an inotify
    /// watch from a budget all of the user's programs share. A dataset with more is
    /// walked instead ([`Fallback::WatchLimit`]).
    pub fn watch_folder_limit(self, folders: usize) -> Datasets {
        self.with(|settings| settings.folder_limit = folders)
    }

    /// How many manifest builds this instance has run (all datasets).
    pub fn builds(&self) -> usize {
        self.inner.builds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many full walks this instance has run (all datasets): what a watched check
    /// spares. [`Datasets::watch_status`] has the count, and the reason, per dataset.
    pub fn walks(&self) -> usize {
        self.inner.walks.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How `id` is being re-checked: whether a watcher covers it, what it recorded since
    /// the last check, and why the latest walk ran. Waits for a check in progress.
    pub async fn watch_status(&self, id: &str) -> Result<WatchStatus, DatasetError> {
        let state = self.slot(id)?.state.lock().await;
        let watch = state.watch.as_ref();
        Ok(WatchStatus {
            watching: watch.is_some_and(|watch| watch.broken().is_none()),
            pending: watch.map_or(0, Watch::pending),
            walked_because: state.walked_because.clone(),
            walks: state.walks,
            watched_checks: state.watched_checks,
        })
    }

    /// For tests: makes the watcher of `id` stop taking events (`true`), as a stalled
    /// thread would, so the kernel's event queue can overflow; `false` lets it go on.
    /// Returns whether `id` has a watcher.
    #[doc(hidden)]
    pub async fn hold_watcher(&self, id: &str, hold: bool) -> Result<bool, DatasetError> {
        let state = self.slot(id)?.state.lock().await;
        if let Some(watch) = &state.watch {
            watch.hold(hold);
        }
        Ok(state.watch.is_some())
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
            .ok_or_else(|| unknown(id, &self.inner.slots))
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
        let slot = self.slots.get(id).ok_or_else(|| unknown(id, &self.slots))?;
        // Holding the slot's lock across the walk and build is the single-flight: a second
        // request waits here and then finds the fresh manifest.
        let mut state = slot.state.lock().await;
        let config = slot.config.clone();
        let mut why = Fallback::Reindex;
        let mut listing = None;
        // The files a watched check found changed: the build can then patch the current
        // manifest instead of passing over every entry.
        let mut changed_files = None;
        if !force {
            why = match self.watched(id, &config, &mut state).await {
                Watched::Current(current) => return Ok((current, None)),
                Watched::Listing(restated, files) => {
                    listing = Some(restated);
                    changed_files = state.current.clone().map(|kept| (kept, files));
                    Fallback::Reindex
                }
                Watched::Walk(why) => why,
            };
        }
        let listing = match listing {
            Some(listing) => listing,
            None => {
                // Only an unwatched dataset's walks are held back: a watched one walks
                // because its watcher cannot be trusted, and then only a walk is current.
                if !force && state.watch.is_none() {
                    if let (Some(current), Some(at)) = (&state.current, state.checked_at) {
                        if at.elapsed() < self.settings.recheck {
                            return Ok((current.clone(), None));
                        }
                    }
                }
                self.walk(id, &config, &mut state, why).await?
            }
        };
        let fingerprint = config.options.fingerprint();
        let up_to_date = |m: &Manifest| {
            m.version == listing.version && m.options == fingerprint && m.recheck.is_empty()
        };
        if !force {
            if let Some(current) = state.current.clone().filter(|m| up_to_date(m)) {
                state.checked_at = Some(Instant::now());
                state.listing = Some(listing);
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
                        state.listing = Some(listing);
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
        // A patch applies only to the manifest the watched listing was kept for.
        let patch_from = changed_files.filter(|(kept, _)| {
            previous
                .as_ref()
                .is_some_and(|previous| Arc::ptr_eq(previous, kept))
        });
        let (manifest, report, listing) = blocking(id, move || {
            let patched = patch_from.and_then(|(previous, files)| {
                crate::patch::patch(&listing, &previous, &files, &options)
            });
            let (manifest, report) = patched.unwrap_or_else(|| {
                manifest::build(&listing, previous.as_deref(), &options, &|_, _| {})
            });
            (manifest, report, listing)
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
        state.listing = Some(listing);
        Ok((manifest, Some(report)))
    }

    /// The watcher's answer for `id`: the current manifest if nothing changed, the listing
    /// re-stated where something did, or why it cannot answer.
    async fn watched(&self, id: &str, config: &DatasetConfig, state: &mut SlotState) -> Watched {
        if !self.settings.watch {
            return Watched::Walk(if cfg!(feature = "watch") {
                Fallback::Off
            } else {
                Fallback::Unsupported
            });
        }
        let (Some(current), Some(listing)) = (state.current.clone(), state.listing.as_ref()) else {
            return Watched::Walk(match (&state.current, &state.walked_because) {
                (Some(_), Some(_)) => Fallback::Failed,
                _ => Fallback::FirstCheck,
            });
        };
        let Some(watch) = &state.watch else {
            let why = state.unwatched.as_ref().map(|(why, _)| why.clone());
            return Watched::Walk(why.unwrap_or(Fallback::FirstCheck));
        };
        if state
            .walked_at
            .is_none_or(|at| at.elapsed() >= self.settings.safety)
        {
            return Watched::Walk(Fallback::Periodic);
        }
        if let Some(why) = watch.broken() {
            return Watched::Walk(why);
        }
        // inotify says nothing when a parent of the root is renamed, or when the
        // configured path is a symlink that now leads elsewhere: resolve it again. Then
        // wait until the watcher has reported every change made before this check.
        let (path, root, barrier) = (
            config.path.clone(),
            watch.root().to_owned(),
            watch.barrier(),
        );
        let ready = blocking(id, move || match std::fs::canonicalize(&path) {
            Ok(resolved) if resolved == root => barrier.wait(BARRIER_TIMEOUT),
            _ => Err(Fallback::RootMoved),
        })
        .await;
        match ready {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Watched::Walk(why),
            Err(_) => return Watched::Walk(Fallback::Failed),
        }
        let Some(watch) = &state.watch else {
            return Watched::Walk(Fallback::Failed);
        };
        let mut paths = match watch.take() {
            Ok(paths) => paths,
            Err(why) => return Watched::Walk(why),
        };
        // Racy files are probed again, and symlinks stated again (their targets may lie
        // where no event comes from), on every check until the manifest settles.
        paths.extend(current.recheck.iter().cloned());
        paths.extend(listing.symlinks.iter().cloned());
        let same_options = current.options == config.options.fingerprint();
        state.watched_checks += 1;
        if paths.is_empty() && same_options {
            state.checked_at = Some(Instant::now());
            return Watched::Current(current);
        }
        let Some(mut listing) = state.listing.take() else {
            return Watched::Walk(Fallback::Failed);
        };
        let restated = blocking(id, move || {
            let restated = restat::restat(&mut listing, &paths);
            (listing, restated)
        })
        .await;
        match restated {
            Ok((listing, restated))
                if !restated.changed && same_options && current.recheck.is_empty() =>
            {
                state.listing = Some(listing);
                state.checked_at = Some(Instant::now());
                Watched::Current(current)
            }
            Ok((listing, restated)) => Watched::Listing(listing, restated.files),
            Err(_) => Watched::Walk(Fallback::Failed),
        }
    }

    /// Walks `id`'s root, starting (or keeping) its watch first: a change made during the
    /// walk is then recorded and re-stated on the next check, never lost.
    async fn walk(
        &self,
        id: &str,
        config: &DatasetConfig,
        state: &mut SlotState,
        why: Fallback,
    ) -> Result<scan::Listing, DatasetError> {
        let began = Instant::now();
        let settings = self.settings;
        // A record that broke is replaced with a fresh watch; a trusted one is kept (its
        // record is cleared just before the walk, which sees everything recorded so far).
        // A stalled watcher may never come back (its thread died): replace it too, or
        // every check would wait for it first.
        let kept = state
            .watch
            .take()
            .filter(|watch| watch.broken().is_none() && why != Fallback::Stalled);
        let retry = state
            .unwatched
            .as_ref()
            .is_none_or(|(_, after)| began >= *after);
        let start = settings.watch && retry;
        let path = config.path.clone();
        let (walked, watch, mut refused) = blocking(id, move || {
            let mut refused = None;
            // The configured path may lead elsewhere now: a watch of the old root goes.
            let watch = match (kept, std::fs::canonicalize(&path)) {
                (Some(watch), Ok(root)) if watch.root() == root => {
                    watch.clear();
                    Some(watch)
                }
                (_, Ok(root)) if start => {
                    Watch::start(&root).map_err(|why| refused = Some(why)).ok()
                }
                // A root that cannot be resolved: the walk reports it.
                _ => None,
            };
            (scan::walk(&path), watch, refused)
        })
        .await?;
        state.listing = None;
        state.walks += 1;
        self.walks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        state.walked_because = Some(why.clone());
        let listing = walked.map_err(|source| DatasetError::Io {
            id: id.to_owned(),
            path: config.path.clone(),
            source,
        })?;
        let mut watch = watch.filter(|watch| watch.root() == listing.root);
        if watch.is_some() && listing.folders > settings.folder_limit {
            watch = None;
            refused = Some(Fallback::WatchLimit);
        }
        match refused {
            Some(refused) => {
                tracing::info!(
                    dataset = id,
                    reason = %refused,
                    "dataset not watched: re-checked by walking"
                );
                state.unwatched = Some((refused, began + settings.safety));
            }
            None if watch.is_some() => state.unwatched = None,
            None => {}
        }
        if !matches!(
            why,
            Fallback::FirstCheck | Fallback::Reindex | Fallback::Off | Fallback::Periodic
        ) && state
            .unwatched
            .as_ref()
            .is_none_or(|(known, _)| *known != why)
        {
            tracing::info!(dataset = id, reason = %why, "dataset walked: the watcher could not answer");
        } else {
            tracing::debug!(dataset = id, reason = %why, "dataset walked");
        }
        state.watch = watch;
        state.walked_at = Some(began);
        Ok(listing)
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

/// The error for `id`, naming the ids of `slots` instead.
fn unknown(id: &str, slots: &BTreeMap<String, Arc<Slot>>) -> DatasetError {
    DatasetError::Unknown {
        id: id.to_owned(),
        configured: slots.keys().cloned().collect(),
    }
}

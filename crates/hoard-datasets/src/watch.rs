//! The file watcher behind an O(changes) re-check: one recursive watch per dataset root
//! (the `notify` crate: inotify on Linux), recording which paths changed since the
//! registry last looked, and whether the record can still be trusted.
//!
//! The registry starts a watch *before* the walk its next manifest is built from, so a
//! change made during the walk is recorded (and re-stated on the next check) rather than
//! lost. A record that cannot be trusted (the kernel's queue overflowed, the watcher
//! failed, the root itself moved) is [`Fallback`]: the registry then walks.

// Without the `watch` feature only the reporting types are used.
#![cfg_attr(not(feature = "watch"), allow(dead_code))]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// More recorded paths than this and re-stating them is no cheaper than a walk: the
/// record is dropped and the next check walks. It also bounds the record's memory.
const MAX_PENDING: usize = 100_000;

/// How long a folder that appeared (created, or moved in) is re-walked on every check.
/// The watcher adds the watch on a new folder only after reporting it: a file made in
/// that short gap has no event, so the folder is walked again once the watch is surely
/// in place.
const SETTLE: Duration = Duration::from_secs(1);

/// Why a check walked the dataset instead of trusting its watcher.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fallback {
    /// The first check: no manifest was built from a watched walk yet.
    FirstCheck,
    /// A reindex walks and probes everything.
    Reindex,
    /// Watching is off ([`crate::Datasets::watch`]).
    Off,
    /// This build of hoard-datasets has no `watch` feature.
    Unsupported,
    /// The root cannot be watched: a file system without change events (network mounts,
    /// some FUSE file systems), or a folder the watcher cannot open. Tried again after the
    /// safety interval.
    Unwatchable(String),
    /// Too many folders to watch: more than [`crate::Datasets::watch_folder_limit`], or
    /// the system's budget of watches (`fs.inotify.max_user_watches` on Linux) ran out.
    WatchLimit,
    /// The kernel's event queue overflowed (`IN_Q_OVERFLOW`): changes were lost.
    Overflow,
    /// The watcher reported an error.
    WatcherError(String),
    /// The root was removed or renamed, or its configured path now leads elsewhere.
    RootMoved,
    /// The periodic safety re-check ([`crate::Datasets::watch_safety_interval`]): the
    /// watcher misses some changes (writes through `mmap`, changes made from another
    /// mount namespace through a bind mount, some network and FUSE file systems).
    Periodic,
    /// More changed paths were recorded than re-stating them would save.
    TooManyChanges,
    /// The watcher did not report the check's beacon write in time: it is
    /// stalled or far behind, so its record may be missing changes.
    Stalled,
    /// A changed name is not UTF-8: the walk reports those, so it runs.
    UnreadableName,
    /// The last check failed midway (the root could not be read, a task died).
    Failed,
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fallback::FirstCheck => f.write_str("first check"),
            Fallback::Reindex => f.write_str("reindex"),
            Fallback::Off => f.write_str("watching is off"),
            Fallback::Unsupported => f.write_str("built without the watch feature"),
            Fallback::Unwatchable(why) => write!(f, "the root cannot be watched: {why}"),
            Fallback::WatchLimit => f.write_str("too many folders to watch"),
            Fallback::Overflow => f.write_str("the watcher's event queue overflowed"),
            Fallback::WatcherError(why) => write!(f, "the watcher failed: {why}"),
            Fallback::RootMoved => f.write_str("the root was removed, renamed or moved"),
            Fallback::Periodic => f.write_str("periodic safety re-check"),
            Fallback::TooManyChanges => f.write_str("too many changed paths"),
            Fallback::Stalled => f.write_str("the watcher did not answer in time"),
            Fallback::UnreadableName => f.write_str("a changed name is not UTF-8"),
            Fallback::Failed => f.write_str("the last check failed"),
        }
    }
}

/// How one dataset is being re-checked, for a status page or a test
/// ([`crate::Datasets::watch_status`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WatchStatus {
    /// Whether a watcher covers the root and its record is trusted: the next check
    /// re-stats only what it recorded.
    pub watching: bool,
    /// Paths recorded as changed since the last check (a folder that just appeared counts
    /// until it settles, about a second).
    pub pending: usize,
    /// Why the latest walk of this dataset ran instead of the watcher's answer; `None`
    /// before any check.
    pub walked_because: Option<Fallback>,
    /// Full walks of this dataset by this instance.
    pub walks: u64,
    /// Checks this instance answered from the watcher's record (re-stating the changed
    /// paths, or nothing), without a walk.
    pub watched_checks: u64,
}

/// What the watcher recorded since the registry last took it.
#[derive(Default)]
struct Record {
    changed: HashSet<String>,
    /// Paths that appeared (folders, or names moved in), and when: re-stated until
    /// [`SETTLE`] has passed.
    settling: HashMap<String, Instant>,
    broken: Option<Fallback>,
}

struct Shared {
    root: PathBuf,
    record: Mutex<Record>,
    /// Set by [`Watch::hold`]: the watcher's thread waits, as a stalled one would.
    held: Mutex<bool>,
    resumed: Condvar,
    /// The beacon folder: private to this watch, watched by the same watcher.
    beacon: PathBuf,
    /// Events from the beacon folder the watcher has reported: see [`Barrier::wait`].
    beacons: Mutex<u64>,
    beaconed: Condvar,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The record stays consistent whatever panicked while holding it: every update is
    // one insert or one assignment.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A recursive watch of one dataset root.
pub(crate) struct Watch {
    shared: Arc<Shared>,
    // Dropped in this order: the watcher stops before its beacon folder is removed.
    #[cfg(feature = "watch")]
    _watcher: notify::RecommendedWatcher,
    #[cfg(feature = "watch")]
    _beacon: tempfile::TempDir,
}

impl Watch {
    /// Watches `root` (canonical) and everything below it, not following symlinks (the
    /// walk does not descend symlinked folders either).
    #[cfg(feature = "watch")]
    pub(crate) fn start(root: &Path) -> Result<Watch, Fallback> {
        use notify::Watcher as _;
        let beacon = tempfile::Builder::new()
            .prefix(".hoard-watch-")
            .tempdir()
            .map_err(|e| Fallback::Unwatchable(format!("cannot make a beacon folder: {e}")))?;
        // Canonical, as event paths are the watched path joined with names.
        let beacon_path = std::fs::canonicalize(beacon.path())
            .map_err(|e| Fallback::Unwatchable(format!("cannot make a beacon folder: {e}")))?;
        let shared = Arc::new(Shared::new(root, beacon_path.clone()));
        let handler = shared.clone();
        let refused = |error: notify::Error| match error.kind {
            notify::ErrorKind::MaxFilesWatch => Fallback::WatchLimit,
            _ => Fallback::Unwatchable(error.to_string()),
        };
        let mut watcher = notify::RecommendedWatcher::new(
            move |event| handler.take_event(event),
            notify::Config::default().with_follow_symlinks(false),
        )
        .map_err(refused)?;
        watcher
            .watch(&beacon_path, notify::RecursiveMode::NonRecursive)
            .map_err(refused)?;
        watcher
            .watch(root, notify::RecursiveMode::Recursive)
            .map_err(refused)?;
        Ok(Watch {
            shared,
            _watcher: watcher,
            _beacon: beacon,
        })
    }

    /// Without the `watch` feature nothing can be watched.
    #[cfg(not(feature = "watch"))]
    pub(crate) fn start(_root: &Path) -> Result<Watch, Fallback> {
        Err(Fallback::Unsupported)
    }

    /// The watched root.
    pub(crate) fn root(&self) -> &Path {
        &self.shared.root
    }

    /// The paths recorded since the last take (relpaths, `/`-separated), folders still
    /// settling included, or why the record cannot be trusted. Settled folders are
    /// returned one last time and then forgotten.
    pub(crate) fn take(&self) -> Result<Vec<String>, Fallback> {
        let mut record = lock(&self.shared.record);
        if let Some(broken) = &record.broken {
            return Err(broken.clone());
        }
        let mut paths: Vec<String> = record.changed.drain().collect();
        paths.extend(record.settling.keys().cloned());
        record.settling.retain(|_, at| at.elapsed() < SETTLE);
        Ok(paths)
    }

    /// Forgets the changed paths recorded so far: called just before a full walk, which
    /// sees them all. Settling folders stay: their watches may still be missing.
    pub(crate) fn clear(&self) {
        lock(&self.shared.record).changed.clear();
    }

    /// Why the record cannot be trusted, if it cannot.
    pub(crate) fn broken(&self) -> Option<Fallback> {
        lock(&self.shared.record).broken.clone()
    }

    /// How many paths are recorded (settling folders included).
    pub(crate) fn pending(&self) -> usize {
        let record = lock(&self.shared.record);
        record.changed.len() + record.settling.len()
    }

    /// The barrier a check passes before it takes the record (see [`Barrier::wait`]).
    pub(crate) fn barrier(&self) -> Barrier {
        Barrier(self.shared.clone())
    }

    /// Makes the watcher's thread stop taking events (`true`) or go on (`false`).
    pub(crate) fn hold(&self, hold: bool) {
        *lock(&self.shared.held) = hold;
        self.shared.resumed.notify_all();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // A held thread would never see the watcher's shutdown.
        self.hold(false);
    }
}

/// Waits until the watcher has reported every change made before the wait began.
pub(crate) struct Barrier(Arc<Shared>);

impl Barrier {
    /// Writes the beacon file (in a folder of the watch's own, outside the dataset, which
    /// is often read-only) and waits (at most `timeout`) for the watcher to report it. One
    /// watcher's events come out of one kernel queue, in order, so by then every change
    /// to the dataset that completed before the write is in the record: a request that
    /// starts after a change sees it. Nothing else writes there, so the wait never ends
    /// early.
    ///
    /// inotify queues an event when the change happens; backends that report in batches
    /// later (FSEvents on macOS) may not keep that order, so there the check goes on at
    /// once and a change is seen once the watcher has delivered it.
    pub(crate) fn wait(&self, timeout: Duration) -> Result<(), Fallback> {
        if !cfg!(target_os = "linux") {
            return Ok(());
        }
        let shared = &self.0;
        let before = *lock(&shared.beacons);
        if let Err(e) = std::fs::write(shared.beacon.join("beacon"), before.to_le_bytes()) {
            return Err(Fallback::WatcherError(format!(
                "cannot write the beacon file: {e}"
            )));
        }
        let beacons = lock(&shared.beacons);
        let (_beacons, waited) = shared
            .beaconed
            .wait_timeout_while(beacons, timeout, |beacons| *beacons <= before)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if waited.timed_out() {
            return Err(Fallback::Stalled);
        }
        Ok(())
    }
}

/// What an event means for the listing.
#[cfg(feature = "watch")]
enum Meaning {
    /// Nothing: reads, opens, closes without a write.
    Nothing,
    /// The named files changed (no folder: a name of no listed kind is passed over).
    Files,
    /// The named paths changed, files or folders.
    Paths,
    /// Folders may have appeared: re-walked until they settle.
    Appeared,
}

#[cfg(feature = "watch")]
fn meaning(kind: &notify::EventKind) -> Meaning {
    use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};
    use notify::EventKind;
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Meaning::Files,
        EventKind::Access(_) => Meaning::Nothing,
        EventKind::Create(CreateKind::File)
        | EventKind::Remove(RemoveKind::File)
        | EventKind::Modify(ModifyKind::Data(_)) => Meaning::Files,
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_)) => Meaning::Appeared,
        _ => Meaning::Paths,
    }
}

impl Shared {
    fn new(root: &Path, beacon: PathBuf) -> Shared {
        Shared {
            root: root.to_owned(),
            record: Mutex::default(),
            held: Mutex::new(false),
            resumed: Condvar::new(),
            beacon,
            beacons: Mutex::new(0),
            beaconed: Condvar::new(),
        }
    }

    #[cfg(feature = "watch")]
    fn take_event(&self, event: notify::Result<notify::Event>) {
        {
            let mut held = lock(&self.held);
            while *held {
                held = self
                    .resumed
                    .wait(held)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
        if let Ok(event) = &event {
            if event
                .paths
                .iter()
                .any(|path| path.starts_with(&self.beacon))
            {
                *lock(&self.beacons) += 1;
                self.beaconed.notify_all();
                return;
            }
        }
        let mut record = lock(&self.record);
        if record.broken.is_some() {
            // Nothing more is worth recording: the next check walks, and a new watch
            // replaces this one.
            return;
        }
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                let fallback = match error.kind {
                    notify::ErrorKind::MaxFilesWatch => Fallback::WatchLimit,
                    _ => Fallback::WatcherError(error.to_string()),
                };
                tracing::warn!(root = %self.root.display(), %fallback, "dataset watcher failed");
                record.broken = Some(fallback);
                return;
            }
        };
        if event.need_rescan() {
            tracing::warn!(root = %self.root.display(), "dataset watcher lost events");
            record.broken = Some(Fallback::Overflow);
            return;
        }
        let meaning = meaning(&event.kind);
        if matches!(meaning, Meaning::Nothing) {
            return;
        }
        for path in &event.paths {
            match self.relpath(path) {
                Relpath::Root => {
                    use notify::event::ModifyKind;
                    use notify::EventKind;
                    if matches!(
                        event.kind,
                        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                    ) {
                        record.broken = Some(Fallback::RootMoved);
                        return;
                    }
                }
                Relpath::Outside | Relpath::Hidden => {}
                Relpath::NotUtf8 => {
                    record.broken = Some(Fallback::UnreadableName);
                    return;
                }
                Relpath::Below(relpath) => {
                    let name = relpath.rsplit('/').next().unwrap_or(&relpath);
                    match meaning {
                        Meaning::Files if crate::scan::Kind::of(name).is_none() => {}
                        Meaning::Appeared => {
                            record.settling.insert(relpath, Instant::now());
                        }
                        _ => {
                            record.changed.insert(relpath);
                        }
                    }
                    if record.changed.len() + record.settling.len() > MAX_PENDING {
                        record.changed.clear();
                        record.settling.clear();
                        record.broken = Some(Fallback::TooManyChanges);
                        return;
                    }
                }
            }
        }
    }

    fn relpath(&self, path: &Path) -> Relpath {
        let Ok(below) = path.strip_prefix(&self.root) else {
            return Relpath::Outside;
        };
        let mut relpath = String::new();
        for component in below.components() {
            let Some(name) = component.as_os_str().to_str() else {
                return Relpath::NotUtf8;
            };
            // The walk passes over hidden names and everything below them.
            if name.starts_with('.') {
                return Relpath::Hidden;
            }
            if !relpath.is_empty() {
                relpath.push('/');
            }
            relpath.push_str(name);
        }
        if relpath.is_empty() {
            Relpath::Root
        } else {
            Relpath::Below(relpath)
        }
    }
}

/// Where an event's path lies.
enum Relpath {
    Root,
    Below(String),
    Hidden,
    NotUtf8,
    Outside,
}

#[cfg(all(test, feature = "watch"))]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, Flag, ModifyKind, RenameMode};
    use notify::{Event, EventKind};

    fn shared(root: &str) -> Shared {
        Shared::new(Path::new(root), PathBuf::from("/beacon"))
    }

    fn event(kind: EventKind, path: &str) -> notify::Result<Event> {
        Ok(Event::new(kind).add_path(PathBuf::from(path)))
    }

    #[test]
    fn events_become_relpaths_and_reads_or_hidden_names_are_passed_over() {
        let watched = shared("/data/set");
        let data = EventKind::Modify(ModifyKind::Data(notify::event::DataChange::Any));
        watched.take_event(event(data, "/data/set/a/x.wav"));
        watched.take_event(event(data, "/data/set/a/notes.txt"));
        watched.take_event(event(data, "/data/set/.hoard/x.wav"));
        watched.take_event(event(
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            "/data/set/a/y.wav",
        ));
        watched.take_event(event(EventKind::Create(CreateKind::Folder), "/data/set/b"));
        let record = lock(&watched.record);
        assert_eq!(
            record.changed.iter().collect::<Vec<_>>(),
            [&"a/x.wav".to_owned()]
        );
        assert_eq!(
            record.settling.keys().collect::<Vec<_>>(),
            [&"b".to_owned()]
        );
        assert_eq!(record.broken, None);
    }

    #[test]
    fn a_lost_event_a_moved_root_or_an_error_breaks_the_record() {
        let watched = shared("/data/set");
        watched.take_event(Ok(Event::new(EventKind::Other).set_flag(Flag::Rescan)));
        assert_eq!(lock(&watched.record).broken, Some(Fallback::Overflow));

        let watched = shared("/data/set");
        watched.take_event(event(
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            "/data/set",
        ));
        assert_eq!(lock(&watched.record).broken, Some(Fallback::RootMoved));

        let watched = shared("/data/set");
        watched.take_event(Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch)));
        assert_eq!(lock(&watched.record).broken, Some(Fallback::WatchLimit));
    }
}

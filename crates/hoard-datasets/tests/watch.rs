//! The watched re-check, with real files and a real watcher (inotify): what it answers
//! without a walk, what it sees, and each case where it must walk instead.
#![cfg(feature = "watch")]
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard_datasets::scan::walk;
use hoard_datasets::{build, BuildOptions, DatasetConfig, Datasets, Fallback, Manifest};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn write_wav(path: &Path, frames: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        writer.write_sample((i % 100) as i16).unwrap();
    }
    writer.finalize().unwrap();
}

/// Sets a file's mtime an hour back, out of the racy window, as an old file's would be.
fn age(path: &Path) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

fn old_wav(path: &Path, frames: u32) {
    write_wav(path, frames);
    age(path);
}

fn datasets(root: &Path) -> Datasets {
    Datasets::new(
        hoard::Cache::in_memory(),
        [DatasetConfig {
            id: "set".into(),
            path: root.to_owned(),
            options: BuildOptions::default(),
        }],
    )
    .unwrap()
    .recheck_interval(Duration::ZERO)
}

/// Asserts `manifest` is what a walk and a build from scratch give now.
fn assert_current(manifest: &Manifest, root: &Path) {
    let (fresh, _) = build(
        &walk(root).unwrap(),
        None,
        &BuildOptions::default(),
        &|_, _| {},
    );
    assert_eq!(manifest.version, fresh.version);
    assert_eq!(manifest.entries, fresh.entries);
    assert_eq!(manifest.summary, fresh.summary);
}

fn relpaths(manifest: &Manifest) -> Vec<&str> {
    manifest
        .entries
        .iter()
        .map(|e| e.relpath.as_str())
        .collect()
}

/// Polls the watcher's state of `set` until `done` holds, for at most ten seconds.
async fn wait_until(
    datasets: &Datasets,
    what: &str,
    done: impl Fn(&hoard_datasets::WatchStatus) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = datasets.watch_status("set").await.unwrap();
        if done(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "waited for {what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_unchanged_watched_dataset_is_answered_without_a_walk() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    for i in 0..20 {
        old_wav(&root.join(format!("d{}/f{i}.wav", i % 3)), 80);
    }
    let datasets = datasets(root);
    let first = datasets.manifest("set").await.unwrap();
    assert_eq!((datasets.walks(), datasets.builds()), (1, 1));
    let status = datasets.watch_status("set").await.unwrap();
    assert!(status.watching, "{status:?}");
    assert_eq!(status.walked_because, Some(Fallback::FirstCheck));
    // Reading the files (as a training job would) is no change.
    for entry in &first.entries {
        fs::read(root.join(&entry.relpath)).unwrap();
    }
    for _ in 0..5 {
        let again = datasets.manifest("set").await.unwrap();
        assert!(Arc::ptr_eq(&again, &first));
    }
    assert_eq!(datasets.walks(), 1, "no walk after the first");
    assert_eq!(datasets.builds(), 1);
    let status = datasets.watch_status("set").await.unwrap();
    assert_eq!((status.walks, status.watched_checks), (1, 5));
    assert_eq!(status.pending, 0);
}

/// A change made to a dataset, and what it is called in a failure.
type Change<'a> = (&'static str, Box<dyn Fn() + 'a>);

#[tokio::test]
async fn added_changed_removed_and_renamed_files_are_seen_by_the_next_request() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    for i in 0..12 {
        old_wav(&root.join(format!("d{}/f{i:02}.wav", i % 3)), 80);
    }
    fs::write(root.join("d0/notes.txt"), "not audio").unwrap();
    let table = root.join("d0/d0_metadata.csv");
    fs::write(
        &table,
        "filename,emotion,actor\nf00.wav,calm,1\nf03.wav,sad,1\n",
    )
    .unwrap();
    age(&table);
    let datasets = datasets(root);
    let first = datasets.manifest("set").await.unwrap();
    assert_eq!(first.entries.len(), 12);
    assert_eq!(first.entries[0].label.as_deref(), Some("calm"));

    // Each change is asked about right after it is made: the check waits until the
    // watcher has reported everything before it, so no waiting is needed here.
    let changes: [Change<'_>; 9] = [
        (
            "a file added",
            Box::new(|| write_wav(&root.join("d1/new.wav"), 160)),
        ),
        // Same paths, same tables: the current manifest is patched, labels kept.
        (
            "a file rewritten",
            Box::new(|| old_wav(&root.join("d0/f00.wav"), 400)),
        ),
        (
            "two files rewritten, one of them just now",
            Box::new(|| {
                old_wav(&root.join("d0/f03.wav"), 480);
                write_wav(&root.join("d2/f05.wav"), 560);
            }),
        ),
        (
            "a table rewritten",
            Box::new(|| {
                fs::write(&table, "filename,emotion,actor\nf00.wav,angry,1\n").unwrap();
                age(&table);
            }),
        ),
        (
            "a file removed",
            Box::new(|| fs::remove_file(root.join("d2/f02.wav")).unwrap()),
        ),
        (
            "a file renamed into another folder",
            Box::new(|| fs::rename(root.join("d1/f01.wav"), root.join("d2/moved.wav")).unwrap()),
        ),
        (
            "a folder with files made",
            Box::new(|| {
                for i in 0..3 {
                    write_wav(&root.join(format!("e/deep/g{i}.wav")), 80);
                }
            }),
        ),
        (
            "a folder renamed",
            Box::new(|| fs::rename(root.join("d0"), root.join("renamed")).unwrap()),
        ),
        (
            "a folder removed",
            Box::new(|| fs::remove_dir_all(root.join("e")).unwrap()),
        ),
    ];
    let mut previous = first;
    for (what, change) in changes {
        change();
        let manifest = datasets.manifest("set").await.unwrap();
        assert_ne!(manifest.version, previous.version, "{what}");
        assert_current(&manifest, root);
        previous = manifest;
    }
    assert!(relpaths(&previous).contains(&"renamed/f00.wav"));
    let relabelled = previous
        .entries
        .iter()
        .find(|e| e.relpath == "renamed/f00.wav");
    assert_eq!(relabelled.unwrap().label.as_deref(), Some("angry"));
    assert!(!relpaths(&previous).iter().any(|p| p.starts_with("e/")));
    assert_eq!(
        datasets.walks(),
        1,
        "every change was re-stated, none walked"
    );

    // A change to a file of no listed kind, or to a hidden one, is no new version.
    fs::write(root.join("renamed/notes.txt"), "still not audio").unwrap();
    fs::create_dir_all(root.join(".cache")).unwrap();
    write_wav(&root.join(".cache/x.wav"), 80);
    let same = datasets.manifest("set").await.unwrap();
    assert_eq!(same.version, previous.version);
    assert_eq!(datasets.walks(), 1);
}

#[tokio::test]
async fn symlinks_are_stated_again_on_every_check() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path().join("data");
    old_wav(&root.join("a.wav"), 80);
    std::os::unix::fs::symlink(root.join("a.wav"), root.join("b.wav")).unwrap();
    let datasets = datasets(&root);
    let first = datasets.manifest("set").await.unwrap();
    assert_eq!(relpaths(&first), ["a.wav", "b.wav"]);

    // The link's entry follows its target.
    old_wav(&root.join("a.wav"), 800);
    let manifest = datasets.manifest("set").await.unwrap();
    assert_current(&manifest, &root);
    assert_eq!(manifest.entries[1].size, manifest.entries[0].size);
    // Only `a.wav` sent an event: `b.wav` was stated again because it is a link.
    assert_eq!(datasets.walks(), 1);
}

#[tokio::test]
async fn a_lost_event_queue_makes_the_next_request_walk() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    old_wav(&root.join("a.wav"), 80);
    let datasets = datasets(root);
    datasets.manifest("set").await.unwrap();
    // The watcher's thread stops taking events while more are made than the kernel queues
    // for one watcher: each file made and written is at least three events.
    let queued: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .map_or(16_384, |s| s.trim().parse().unwrap());
    assert!(datasets.hold_watcher("set", true).await.unwrap());
    for i in 0..queued / 3 + 100 {
        fs::write(root.join(format!("noise{i}.txt")), "x").unwrap();
    }
    write_wav(&root.join("b.wav"), 80);
    datasets.hold_watcher("set", false).await.unwrap();
    wait_until(&datasets, "the overflow", |status| !status.watching).await;

    let manifest = datasets.manifest("set").await.unwrap();
    assert_eq!(relpaths(&manifest), ["a.wav", "b.wav"]);
    assert_current(&manifest, root);
    let status = datasets.watch_status("set").await.unwrap();
    assert_eq!(status.walked_because, Some(Fallback::Overflow));
    assert_eq!(datasets.walks(), 2);
    // The walk started a new watch: the next check is the watcher's again.
    assert!(status.watching);
    datasets.manifest("set").await.unwrap();
    assert_eq!(datasets.walks(), 2);
}

#[tokio::test]
async fn a_dataset_that_cannot_be_watched_is_walked_on_every_request() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    old_wav(&root.join("d1/a.wav"), 80);
    old_wav(&root.join("d2/b.wav"), 80);
    // Three folders (the root too) against a limit of two.
    let datasets = datasets(root).watch_folder_limit(2);
    datasets.manifest("set").await.unwrap();
    let status = datasets.watch_status("set").await.unwrap();
    assert!(!status.watching);
    write_wav(&root.join("d1/c.wav"), 80);
    let manifest = datasets.manifest("set").await.unwrap();
    assert_current(&manifest, root);
    let status = datasets.watch_status("set").await.unwrap();
    assert_eq!(status.walked_because, Some(Fallback::WatchLimit));
    assert_eq!((status.walks, status.watched_checks), (2, 0));

    let off = Datasets::new(
        hoard::Cache::in_memory(),
        [DatasetConfig {
            id: "set".into(),
            path: root.to_owned(),
            options: BuildOptions::default(),
        }],
    )
    .unwrap()
    .recheck_interval(Duration::ZERO)
    .watch(false);
    off.manifest("set").await.unwrap();
    off.manifest("set").await.unwrap();
    let status = off.watch_status("set").await.unwrap();
    assert_eq!(status.walked_because, Some(Fallback::Off));
    assert_eq!(off.walks(), 2);
}

#[tokio::test]
async fn the_periodic_re_check_walks_whatever_the_watcher_says() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    old_wav(&root.join("a.wav"), 80);
    let datasets = datasets(root).watch_safety_interval(Duration::ZERO);
    let first = datasets.manifest("set").await.unwrap();
    // A watcher that reports nothing (held) cannot hide a change from the safety walk.
    datasets.hold_watcher("set", true).await.unwrap();
    old_wav(&root.join("a.wav"), 800);
    let manifest = datasets.manifest("set").await.unwrap();
    datasets.hold_watcher("set", false).await.unwrap();
    assert_ne!(manifest.version, first.version);
    assert_current(&manifest, root);
    let status = datasets.watch_status("set").await.unwrap();
    assert_eq!(status.walked_because, Some(Fallback::Periodic));
    assert_eq!(datasets.walks(), 2);
}

#[tokio::test]
async fn a_moved_root_or_a_retargeted_root_link_is_walked() {
    let dir = hoard_testkit::temp_dir();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    old_wav(&a.join("one.wav"), 80);
    old_wav(&b.join("two.wav"), 80);
    let link = dir.path().join("current");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let datasets = datasets(&link);
    assert_eq!(
        relpaths(&datasets.manifest("set").await.unwrap()),
        ["one.wav"]
    );

    // The configured path now leads to another folder: no event under the old root says so.
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&b, &link).unwrap();
    let manifest = datasets.manifest("set").await.unwrap();
    assert_eq!(relpaths(&manifest), ["two.wav"]);
    let status = datasets.watch_status("set").await.unwrap();
    assert_eq!(status.walked_because, Some(Fallback::RootMoved));
    assert!(status.watching, "watching the new root");

    // The root itself renamed away: the walk fails, and no old manifest is served.
    fs::rename(&b, dir.path().join("gone")).unwrap();
    assert!(datasets.manifest("set").await.is_err());
    fs::rename(dir.path().join("gone"), &b).unwrap();
    write_wav(&b.join("three.wav"), 80);
    let manifest = datasets.manifest("set").await.unwrap();
    assert_eq!(relpaths(&manifest), ["three.wav", "two.wav"]);
    assert_current(&manifest, &link);
}

/// A change made while the manifest is built is not lost: the watch starts before the
/// walk, so the change is either in the walk or recorded for the next check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_during_the_first_build_is_seen_next() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path().to_owned();
    for i in 0..2000 {
        old_wav(&root.join(format!("d{}/f{i}.wav", i % 20)), 80);
    }
    let datasets = Arc::new(datasets(&root));
    let building = tokio::spawn({
        let datasets = datasets.clone();
        async move { datasets.manifest("set").await.unwrap() }
    });
    // Changes spread over the build: whichever the walk missed, the watch recorded.
    let writer = std::thread::spawn({
        let root: PathBuf = root.clone();
        move || {
            for i in 0..40 {
                write_wav(&root.join(format!("d{}/during{i}.wav", i % 20)), 80);
            }
        }
    });
    building.await.unwrap();
    writer.join().unwrap();
    let manifest = datasets.manifest("set").await.unwrap();
    assert_eq!(manifest.entries.len(), 2040);
    assert_current(&manifest, &root);
}

/// A file written just now is probed again on the next checks (its mtime cannot tell a
/// second write in the same tick), and only until that tick is past: then the watched
/// check answers without work again.
#[tokio::test]
async fn a_racy_file_is_probed_again_until_its_tick_has_passed() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    old_wav(&root.join("a.wav"), 80);
    let datasets = datasets(root);
    datasets.manifest("set").await.unwrap();
    write_wav(&root.join("b.wav"), 80);
    let racy = datasets.manifest("set").await.unwrap();
    assert_eq!(racy.recheck, ["b.wav"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let settled = loop {
        let manifest = datasets.manifest("set").await.unwrap();
        if manifest.recheck.is_empty() {
            break manifest;
        }
        assert!(
            Instant::now() < deadline,
            "still racy: {:?}",
            manifest.recheck
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_current(&settled, root);
    let builds = datasets.builds();
    let again = datasets.manifest("set").await.unwrap();
    assert!(Arc::ptr_eq(&again, &settled));
    assert_eq!(datasets.builds(), builds, "settled: no more builds");
    assert_eq!(datasets.walks(), 1);
}

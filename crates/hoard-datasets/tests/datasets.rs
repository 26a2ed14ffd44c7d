//! Manifests built from real files: WAVs written by hound, MP3/FLAC/Ogg made by lame, flac
//! and oggenc (see tests/fixtures/README.md), metadata tables, symlinks, damaged files.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard_datasets::delta::Delta;
use hoard_datasets::scan::walk;
use hoard_datasets::{build, path, BuildOptions, DatasetConfig, Datasets, Manifest, PathError};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn write_wav(path: &Path, rate: u32, channels: u16, frames: u32, bits: u16) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    let float = bits == 32;
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames * u32::from(channels) {
        if float {
            writer.write_sample((i as f32 * 0.01).sin()).unwrap();
        } else {
            writer.write_sample((i % 100) as i32).unwrap();
        }
    }
    writer.finalize().unwrap();
    age(path, 3600);
}

/// Sets a file's mtime to `seconds` ago, out of the racy window, as an old file would be.
fn age(path: &Path, seconds: u64) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(seconds))
        .unwrap();
}

fn build_plain(root: &Path) -> Manifest {
    build_with(root, None, &BuildOptions::default()).0
}

fn build_with(
    root: &Path,
    previous: Option<&Manifest>,
    options: &BuildOptions,
) -> (Manifest, hoard_datasets::BuildReport) {
    let listing = walk(root).unwrap();
    build(&listing, previous, options, &|_, _| {})
}

fn entry<'a>(manifest: &'a Manifest, relpath: &str) -> &'a hoard_datasets::FileEntry {
    manifest
        .entries
        .iter()
        .find(|e| e.relpath == relpath)
        .unwrap_or_else(|| panic!("no entry {relpath}"))
}

fn copy_fixture(name: &str, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(Path::new(FIXTURES).join(name), to).unwrap();
    age(to, 3600);
}

#[test]
fn durations_and_rates_are_read_from_every_format() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    write_wav(&root.join("a/pcm16.wav"), 16_000, 1, 54_989, 16);
    write_wav(&root.join("a/pcm24_stereo.wav"), 48_000, 2, 12_345, 24);
    write_wav(&root.join("b/float.wav"), 22_050, 1, 22_050 * 3 + 7, 32);
    copy_fixture("tone_48k_mono_1500ms.mp3", &root.join("cv/clip.mp3"));
    copy_fixture("tone_16k_mono_2000ms.flac", &root.join("c/tone.flac"));
    copy_fixture("tone_44k1_stereo_1250ms.ogg", &root.join("c/tone.ogg"));
    copy_fixture("vbr_1500ms_no_tag.mp3", &root.join("cv/vbr.mp3"));
    let manifest = build_plain(root);
    // Without a Xing/Info frame nothing records the encoder delay and padding: the frames
    // are counted whole (1.536 s for 1.5 s of audio), and the file is not called cut.
    let vbr = entry(&manifest, "cv/vbr.mp3");
    assert_eq!(vbr.error, None);
    assert!(
        (vbr.duration.unwrap() - 1.5).abs() < 0.06,
        "{:?}",
        vbr.duration
    );
    let vbr_seconds = vbr.duration.unwrap();
    let expect = [
        ("a/pcm16.wav", 54_989.0 / 16_000.0, 16_000, 1),
        ("a/pcm24_stereo.wav", 12_345.0 / 48_000.0, 48_000, 2),
        ("b/float.wav", (22_050.0 * 3.0 + 7.0) / 22_050.0, 22_050, 1),
        ("cv/clip.mp3", 1.5, 48_000, 1),
        ("c/tone.flac", 2.0, 16_000, 1),
        ("c/tone.ogg", 1.25, 44_100, 2),
    ];
    assert_eq!(manifest.entries.len(), expect.len() + 1);
    for (relpath, seconds, rate, channels) in expect {
        let entry = entry(&manifest, relpath);
        assert_eq!(entry.error, None, "{relpath}");
        let duration = entry.duration.unwrap();
        assert!(
            (duration - seconds).abs() < 0.001,
            "{relpath}: {duration} s, expected {seconds} s"
        );
        assert_eq!(entry.sample_rate, Some(rate), "{relpath}");
        assert_eq!(entry.channels, Some(channels), "{relpath}");
        assert_eq!(entry.id, relpath);
        assert_eq!(entry.filename, relpath.rsplit('/').next().unwrap());
        assert_eq!(entry.h.len(), 40);
    }
    let total: f64 = expect.iter().map(|e| e.1).sum::<f64>() + vbr_seconds;
    assert!((manifest.summary.total_duration - total).abs() < 0.01);
    assert_eq!(
        manifest.summary.total_bytes,
        manifest.entries.iter().map(|e| e.size).sum::<u64>()
    );
}

#[test]
fn metadata_joins_on_filename_labels_and_prunes_constants() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    let actor = root.join("Actor_01");
    for name in ["03-01-01.wav", "03-01-02.wav", "03-01-03.wav"] {
        write_wav(&actor.join(name), 16_000, 1, 1600, 16);
    }
    fs::write(
        actor.join("actor01_metadata.csv"),
        "filename,modality,emotion,intensity,actor\n\
         03-01-01.wav,audio-only,neutral,normal,1\n\
         03-01-02.wav,audio-only,happy,strong,1\n\
         03-01-03.wav,audio-only,happy,normal,1\n\
         missing.wav,audio-only,sad,normal,1\n",
    )
    .unwrap();
    let manifest = build_plain(root);
    let first = entry(&manifest, "Actor_01/03-01-01.wav");
    assert_eq!(first.label.as_deref(), Some("neutral"));
    // `filename` is dropped as a duplicate, `modality` and `actor` are constants.
    let columns: Vec<&str> = first.meta.keys().map(String::as_str).collect();
    assert_eq!(columns, ["emotion", "intensity"]);
    let summary = &manifest.summary;
    assert_eq!(
        summary.meta_constants.get("modality").unwrap(),
        "audio-only"
    );
    assert_eq!(summary.meta_constants.get("actor").unwrap(), "1");
    assert_eq!(summary.label_counts.get("happy"), Some(&2));
    assert_eq!(summary.label_counts.get("neutral"), Some(&1));
    assert_eq!(
        summary.unmatched_rows, 1,
        "missing.wav has a row but no file"
    );

    // Another label column, by configuration.
    let options = BuildOptions {
        label_column: Some("intensity".into()),
        ..BuildOptions::default()
    };
    let (by_intensity, _) = build_with(root, None, &options);
    assert_eq!(
        entry(&by_intensity, "Actor_01/03-01-02.wav")
            .label
            .as_deref(),
        Some("strong")
    );
}

#[test]
fn a_table_describes_only_files_in_its_own_folder() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    write_wav(&root.join("spk1/001.wav"), 8000, 1, 80, 16);
    write_wav(&root.join("spk1/002.wav"), 8000, 1, 80, 16);
    write_wav(&root.join("spk2/001.wav"), 8000, 1, 80, 16);
    fs::write(
        root.join("spk1/spk1_metadata.csv"),
        "filename,emotion,speaker\n001.wav,happy,1\n002.wav,sad,1\n",
    )
    .unwrap();
    let manifest = build_plain(root);
    assert_eq!(
        entry(&manifest, "spk1/001.wav").label.as_deref(),
        Some("happy")
    );
    let other = entry(&manifest, "spk2/001.wav");
    assert_eq!(other.label, None, "spk1's table says nothing about spk2");
    assert!(other.meta.is_empty());
    assert_eq!(manifest.summary.meta_constants.get("speaker").unwrap(), "1");
}

#[test]
fn common_voice_tsv_joins_on_path_and_falls_back_to_label() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    copy_fixture("tone_48k_mono_1500ms.mp3", &root.join("clips/cv_1.mp3"));
    copy_fixture("tone_48k_mono_1500ms.mp3", &root.join("clips/cv_2.mp3"));
    // Common Voice leaves bare quotes in sentences; the TSV is read without quoting.
    fs::write(
        root.join("validated.tsv"),
        "client_id\tpath\tsentence\tlabel\tlocale\n\
         c1\tcv_1.mp3\tHe said \"hi\"\tyes\ten\n\
         c2\tcv_2.mp3\tNo quotes here\tno\ten\n",
    )
    .unwrap();
    let manifest = build_plain(root);
    let clip = entry(&manifest, "clips/cv_1.mp3");
    assert_eq!(clip.label.as_deref(), Some("yes"));
    assert_eq!(clip.meta.get("sentence").unwrap(), "He said \"hi\"");
    assert!(!clip.meta.contains_key("path"));
    assert_eq!(manifest.summary.meta_constants.get("locale").unwrap(), "en");
    assert!(manifest.summary.metadata_errors.is_empty());
}

#[test]
fn version_follows_audio_and_metadata_files_only() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    write_wav(&root.join("a.wav"), 8000, 1, 800, 16);
    write_wav(&root.join("b.wav"), 8000, 1, 800, 16);
    let csv = root.join("set_metadata.csv");
    fs::write(&csv, "filename,emotion\na.wav,calm\nb.wav,sad\n").unwrap();
    age(&csv, 3600);
    let version = || walk(root).unwrap().version;
    let mut seen = vec![version()];
    let expect_change = |what: &str, seen: &mut Vec<String>| {
        let now = version();
        assert!(!seen.contains(&now), "version did not change after {what}");
        seen.push(now);
    };

    assert_eq!(version(), seen[0], "walking twice changes nothing");
    fs::write(root.join("notes.txt"), "not audio").unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    assert_eq!(version(), seen[0], "other files do not count");

    write_wav(&root.join("c.wav"), 8000, 1, 800, 16);
    expect_change("adding a file", &mut seen);
    fs::remove_file(root.join("c.wav")).unwrap();
    assert_eq!(version(), seen[0], "removing it restores the version");
    fs::remove_file(root.join("b.wav")).unwrap();
    expect_change("removing a file", &mut seen);
    write_wav(&root.join("a.wav"), 8000, 1, 900, 16);
    expect_change("resizing a file", &mut seen);
    age(&root.join("a.wav"), 60);
    expect_change("touching a file", &mut seen);
    // Same length, other value: only the mtime tells.
    fs::write(&csv, "filename,emotion\na.wav,fear\nb.wav,sad\n").unwrap();
    age(&csv, 3600);
    expect_change("changing a CSV row", &mut seen);
}

#[test]
fn incremental_rebuild_probes_only_changed_files() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    for i in 0..40 {
        write_wav(&root.join(format!("d{}/f{i}.wav", i % 4)), 8000, 1, 800, 16);
    }
    let (first, report) = build_with(root, None, &BuildOptions::default());
    assert_eq!((report.probed, report.reused), (40, 0));
    assert!(first.recheck.is_empty(), "old files are not racy");

    let (same, report) = build_with(root, Some(&first), &BuildOptions::default());
    assert_eq!((report.probed, report.reused), (0, 40));
    assert_eq!(same.entries, first.entries);

    write_wav(&root.join("d1/f1.wav"), 8000, 1, 1600, 16); // changed: 0.2 s now
    write_wav(&root.join("d2/new.wav"), 8000, 1, 400, 16); // added
    fs::remove_file(root.join("d3/f3.wav")).unwrap(); // removed
    let (second, report) = build_with(root, Some(&first), &BuildOptions::default());
    assert_eq!(report.probed, 2, "one changed and one new file");
    assert_eq!(report.reused, 38);
    assert_eq!(second.entries.len(), 40);
    assert!((entry(&second, "d1/f1.wav").duration.unwrap() - 0.2).abs() < 1e-9);
    assert!(second.entries.iter().all(|e| e.relpath != "d3/f3.wav"));

    // Another label column changes labels, not probed fields: nothing is read again.
    let relabelled = BuildOptions {
        label_column: Some("speaker".into()),
        ..BuildOptions::default()
    };
    let (_, report) = build_with(root, Some(&second), &relabelled);
    assert_eq!(report.probed, 0);

    // Content hashes were not computed before: every file is read.
    let hashed = BuildOptions {
        content_hash: true,
        ..BuildOptions::default()
    };
    let (_, report) = build_with(root, Some(&second), &hashed);
    assert_eq!((report.probed, report.hashed), (40, 40));
}

#[test]
fn a_file_rewritten_within_the_mtime_granularity_is_rechecked() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    let file = root.join("x.wav");
    write_wav(&file, 8000, 1, 800, 16);
    // Stamp it "now": a write that lands in the same clock tick as the scan.
    let stamp = SystemTime::now();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    let (first, _) = build_with(root, None, &BuildOptions::default());
    assert_eq!(first.recheck, ["x.wav"]);
    assert!((entry(&first, "x.wav").duration.unwrap() - 0.1).abs() < 1e-9);

    // Same size, same mtime, other content: another sample rate in the header.
    let mut bytes = fs::read(&file).unwrap();
    bytes[24..28].copy_from_slice(&16_000u32.to_le_bytes());
    fs::write(&file, &bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    let listing = walk(root).unwrap();
    assert_eq!(listing.version, first.version, "the version cannot see it");
    let (second, report) = build(&listing, Some(&first), &BuildOptions::default(), &|_, _| {});
    assert_eq!(report.probed, 1, "the racy file is probed again");
    assert_eq!(entry(&second, "x.wav").sample_rate, Some(16_000));
}

#[test]
fn damaged_files_become_error_entries_and_the_scan_goes_on() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    write_wav(&root.join("good.wav"), 8000, 1, 800, 16);
    let whole = fs::read(root.join("good.wav")).unwrap();
    fs::write(root.join("cut.wav"), &whole[..whole.len() / 2]).unwrap();
    fs::write(root.join("noise.wav"), b"this is not audio at all").unwrap();
    fs::write(root.join("noise.flac"), [0u8; 4096]).unwrap();
    fs::write(root.join("noise.ogg"), b"OggS garbage").unwrap();
    let mp3 = fs::read(Path::new(FIXTURES).join("tone_48k_mono_1500ms.mp3")).unwrap();
    fs::write(root.join("cut.mp3"), &mp3[..mp3.len() / 2]).unwrap();
    fs::write(root.join("empty.mp3"), b"").unwrap();
    fs::write(
        root.join("bad_metadata.csv"),
        "filename,emotion\ngood.wav,calm\ncut.wav,sad,EXTRA\nnoise.wav,angry\n",
    )
    .unwrap();
    let manifest = build_plain(root);
    assert_eq!(manifest.entries.len(), 7);
    assert_eq!(entry(&manifest, "good.wav").error, None);
    for bad in [
        "cut.wav",
        "noise.wav",
        "noise.flac",
        "noise.ogg",
        "cut.mp3",
        "empty.mp3",
    ] {
        let entry = entry(&manifest, bad);
        assert!(entry.error.is_some(), "{bad} should carry an error");
        assert_eq!(entry.duration, None, "{bad}");
    }
    assert!(entry(&manifest, "cut.wav")
        .error
        .as_deref()
        .unwrap()
        .contains("truncated"));
    assert!(entry(&manifest, "cut.mp3")
        .error
        .as_deref()
        .unwrap()
        .contains("truncated"));
    assert_eq!(manifest.summary.errors, 6);
    let errors = &manifest.summary.metadata_errors;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (errors[0].file.as_str(), errors[0].line),
        ("bad_metadata.csv", 3)
    );
    // The good rows still join.
    assert_eq!(
        entry(&manifest, "noise.wav").label.as_deref(),
        Some("angry")
    );
}

#[test]
fn symlinks_outside_the_root_are_neither_listed_nor_served() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path().join("root");
    let outside = dir.path().join("secret");
    write_wav(&outside.join("secret.wav"), 8000, 1, 80, 16);
    write_wav(&root.join("in.wav"), 8000, 1, 80, 16);
    std::os::unix::fs::symlink(outside.join("secret.wav"), root.join("leak.wav")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("leakdir")).unwrap();
    std::os::unix::fs::symlink(root.join("in.wav"), root.join("alias.wav")).unwrap();
    let manifest = build_plain(&root);
    let listed: Vec<&str> = manifest
        .entries
        .iter()
        .map(|e| e.relpath.as_str())
        .collect();
    assert_eq!(listed, ["alias.wav", "in.wav"]);
    assert!(manifest
        .summary
        .skipped
        .iter()
        .any(|s| s.relpath == "leak.wav" && s.reason.contains("outside")));

    let canonical = fs::canonicalize(&root).unwrap();
    assert!(path::resolve(&canonical, "in.wav").is_ok());
    assert!(path::resolve(&canonical, "alias.wav").is_ok());
    for escape in ["leak.wav", "leakdir/secret.wav"] {
        assert!(
            matches!(
                path::resolve(&canonical, escape),
                Err(PathError::Outside(_))
            ),
            "{escape} must be refused"
        );
    }
    let absolute = outside.join("secret.wav").display().to_string();
    for bad in ["../secret/secret.wav", absolute.as_str()] {
        assert!(matches!(
            path::resolve(&canonical, bad),
            Err(PathError::Invalid { .. })
        ));
    }
    assert!(matches!(
        path::resolve(&canonical, "nope.wav"),
        Err(PathError::NotFound(_))
    ));
}

#[test]
fn symlinks_to_hidden_names_are_neither_listed_nor_served() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path().join("root");
    write_wav(&root.join("in.wav"), 8000, 1, 80, 16);
    write_wav(&root.join(".hidden.wav"), 8000, 1, 80, 16);
    write_wav(&root.join(".git").join("inside.wav"), 8000, 1, 80, 16);
    std::os::unix::fs::symlink(root.join(".hidden.wav"), root.join("peek.wav")).unwrap();
    std::os::unix::fs::symlink(".hidden.wav", root.join("relative.wav")).unwrap();
    std::os::unix::fs::symlink(root.join(".git"), root.join("peekdir")).unwrap();
    let manifest = build_plain(&root);
    let listed: Vec<&str> = manifest
        .entries
        .iter()
        .map(|e| e.relpath.as_str())
        .collect();
    assert_eq!(listed, ["in.wav"]);
    for name in ["peek.wav", "relative.wav"] {
        assert!(
            manifest
                .summary
                .skipped
                .iter()
                .any(|s| s.relpath == name && s.reason.contains("hidden")),
            "{name}: {:?}",
            manifest.summary.skipped
        );
    }
    let canonical = fs::canonicalize(&root).unwrap();
    for peek in ["peek.wav", "relative.wav", "peekdir/inside.wav"] {
        assert!(
            path::resolve(&canonical, peek).is_err(),
            "{peek} must not be served"
        );
        assert!(
            path::open(&canonical, peek).is_err(),
            "{peek} must not open"
        );
    }
    assert!(path::open(&canonical, "in.wav").is_ok());
}

#[test]
fn content_hash_survives_a_rename() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path();
    write_wav(&root.join("a.wav"), 8000, 1, 800, 16);
    let options = BuildOptions {
        content_hash: true,
        ..BuildOptions::default()
    };
    let (before, _) = build_with(root, None, &options);
    fs::rename(root.join("a.wav"), root.join("moved.wav")).unwrap();
    let (after, _) = build_with(root, None, &options);
    let (a, moved) = (entry(&before, "a.wav"), entry(&after, "moved.wav"));
    assert_ne!(a.h, moved.h, "h follows the path");
    assert_eq!(a.content_hash, moved.content_hash);
    assert_eq!(a.content_hash.as_deref().map(str::len), Some(64));
    assert_eq!(
        build_plain(root).entries[0].content_hash,
        None,
        "off by default"
    );
}

fn config(id: &str, path: PathBuf) -> DatasetConfig {
    DatasetConfig {
        id: id.into(),
        path,
        options: BuildOptions::default(),
    }
}

#[tokio::test]
async fn a_restarted_instance_serves_the_stored_manifest_without_probing() {
    let dir = hoard_testkit::temp_dir();
    let data = dir.path().join("data");
    for i in 0..10 {
        write_wav(&data.join(format!("f{i}.wav")), 8000, 1, 800, 16);
    }
    let cache_dir = dir.path().join("cache");
    let first_version = {
        let cache = hoard::Cache::open(&cache_dir).unwrap();
        let datasets = Datasets::new(cache.clone(), [config("set", data.clone())])
            .unwrap()
            .recheck_interval(Duration::ZERO);
        let manifest = datasets.manifest("set").await.unwrap();
        assert_eq!(
            datasets.last_report("set").await.unwrap().unwrap().probed,
            10
        );
        let unknown = datasets.manifest("nope").await.unwrap_err();
        assert!(matches!(
            unknown,
            hoard_datasets::DatasetError::Unknown { .. }
        ));
        assert_eq!(
            unknown.to_string(),
            "no dataset \"nope\": configured are \"set\""
        );
        cache.flush().await.unwrap();
        manifest.version.clone()
    };
    let cache = hoard::Cache::open(&cache_dir).unwrap();
    let datasets = Datasets::new(cache.clone(), [config("set", data.clone())])
        .unwrap()
        .recheck_interval(Duration::ZERO);
    let manifest = datasets.manifest("set").await.unwrap();
    assert_eq!(manifest.version, first_version);
    assert!(
        datasets.last_report("set").await.unwrap().is_none(),
        "served from the cache: no build ran"
    );
    let summary: hoard_datasets::Summary =
        cache.get("dataset", "set:summary").await.unwrap().unwrap();
    assert_eq!(summary.total, 10);

    write_wav(&data.join("f0.wav"), 8000, 1, 1600, 16);
    let rebuilt = datasets.manifest("set").await.unwrap();
    assert_ne!(rebuilt.version, first_version);
    let report = datasets.last_report("set").await.unwrap().unwrap();
    assert_eq!(
        report.probed, 1,
        "the stored manifest seeds an incremental build"
    );
}

#[tokio::test]
async fn instances_on_one_redis_share_manifests() {
    let redis = hoard_testkit::RedisServer::start();
    let dir = hoard_testkit::temp_dir();
    let data = dir.path().join("data");
    for i in 0..5 {
        write_wav(&data.join(format!("f{i}.wav")), 8000, 1, 800, 16);
    }
    let open = || {
        let cache = hoard::Cache::builder()
            .redis(hoard::RedisConfig::standalone(redis.url()))
            .build()
            .unwrap();
        Datasets::new(cache, [config("shared", data.clone())]).unwrap()
    };
    let (a, b) = (open(), open());
    let built = a.manifest("shared").await.unwrap();
    let served = b.manifest("shared").await.unwrap();
    assert_eq!(served.entries, built.entries);
    assert!(b.last_report("shared").await.unwrap().is_none());
    assert_eq!(a.last_report("shared").await.unwrap().unwrap().probed, 5);
}

/// A small rebuild stores a delta from the stored base, which another instance applies; a
/// large one stores a new base. Either way the other instance serves what was built,
/// without building.
#[tokio::test]
async fn rebuilds_store_what_changed_and_other_instances_apply_it() {
    let redis = hoard_testkit::RedisServer::start();
    let dir = hoard_testkit::temp_dir();
    let data = dir.path().join("data");
    let path = |i: usize| data.join(format!("d{}/f{i:02}.wav", i % 4));
    for i in 0..40 {
        write_wav(&path(i), 8000, 1, 800, 16);
        age(&path(i), 3600);
    }
    let cache = hoard::Cache::builder()
        .redis(hoard::RedisConfig::standalone(redis.url()))
        .build()
        .unwrap();
    let open = || {
        Datasets::new(cache.clone(), [config("set", data.clone())])
            .unwrap()
            .recheck_interval(Duration::ZERO)
    };
    let stored = |part: &'static str| {
        let cache = cache.clone();
        async move {
            let key = format!("set:{part}");
            (
                cache.get::<Manifest>("dataset", &key).await.ok().flatten(),
                cache.get::<Delta>("dataset", &key).await.ok().flatten(),
            )
        }
    };
    let a = open();
    let first = a.manifest("set").await.unwrap();
    assert!(stored("delta").await.1.is_none());

    // Two files of 40 change: a delta of two entries; the base stays.
    for i in [3, 17] {
        write_wav(&path(i), 8000, 1, 1600, 16);
        age(&path(i), 1800);
    }
    let second = a.manifest("set").await.unwrap();
    let delta = stored("delta").await.1.expect("a delta");
    assert_eq!(delta.upserts.len(), 2);
    assert_eq!(delta.version, second.version);
    let base = stored("manifest").await.0.expect("a base");
    assert_eq!(base.version, first.version, "the base was not rewritten");

    // A file goes: the delta (from the same base) now holds three changes.
    std::fs::remove_file(path(5)).unwrap();
    let third = a.manifest("set").await.unwrap();
    let delta = stored("delta").await.1.expect("a delta");
    assert_eq!((delta.upserts.len(), delta.removed.len()), (2, 1));
    let b = open();
    let served = b.manifest("set").await.unwrap();
    assert_eq!(*served, *third);
    assert_eq!(b.builds(), 0, "applied the stored delta, built nothing");

    // Twelve of 39 change: more than a quarter, so a new base and no delta.
    for i in 20..32 {
        write_wav(&path(i), 8000, 1, 2400, 16);
        age(&path(i), 900);
    }
    let fourth = a.manifest("set").await.unwrap();
    assert!(stored("delta").await.1.is_none());
    assert_eq!(
        stored("manifest").await.0.expect("a base").version,
        fourth.version
    );
    let served = b.manifest("set").await.unwrap();
    assert_eq!(*served, *fourth);
    assert_eq!(b.builds(), 0);
    let c = open();
    assert_eq!(*c.manifest("set").await.unwrap(), *fourth);
    assert_eq!(c.builds(), 0);
}

#[tokio::test]
async fn concurrent_requests_share_one_build() {
    let dir = hoard_testkit::temp_dir();
    let data = dir.path().join("data");
    for i in 0..200 {
        write_wav(&data.join(format!("f{i}.wav")), 8000, 1, 80, 16);
    }
    let datasets = std::sync::Arc::new(
        Datasets::new(hoard::Cache::in_memory(), [config("set", data)]).unwrap(),
    );
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let datasets = datasets.clone();
            tokio::spawn(async move { datasets.manifest("set").await.unwrap() })
        })
        .collect();
    let mut manifests = Vec::new();
    for task in tasks {
        manifests.push(task.await.unwrap());
    }
    assert!(manifests
        .iter()
        .all(|m| std::sync::Arc::ptr_eq(m, &manifests[0])));
    assert_eq!(datasets.builds(), 1, "eight requests, one build");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_goes_away_does_not_waste_its_build() {
    let dir = hoard_testkit::temp_dir();
    let data = dir.path().join("data");
    for i in 0..2000 {
        write_wav(&data.join(format!("d{}/f{i}.wav", i % 20)), 8000, 1, 80, 16);
    }
    let datasets = Datasets::new(hoard::Cache::in_memory(), [config("set", data)])
        .unwrap()
        .recheck_interval(Duration::ZERO);
    // The client gives up long before the build is done.
    let gave_up = tokio::time::timeout(Duration::from_millis(1), datasets.manifest("set")).await;
    assert!(gave_up.is_err());
    let manifest = datasets.manifest("set").await.unwrap();
    assert_eq!(manifest.entries.len(), 2000);
    assert_eq!(
        datasets.builds(),
        1,
        "the abandoned build finished and was used"
    );
}

#[tokio::test]
async fn one_unreadable_dataset_does_not_hide_the_others() {
    let dir = hoard_testkit::temp_dir();
    let data = dir.path().join("data");
    write_wav(&data.join("a.wav"), 8000, 1, 80, 16);
    let datasets = Datasets::new(
        hoard::Cache::in_memory(),
        [
            config("ok", data),
            config("gone", dir.path().join("missing")),
        ],
    )
    .unwrap();
    let list = datasets.list().await;
    let by_id = |id: &str| list.iter().find(|d| d.id == id).unwrap();
    assert_eq!(by_id("ok").total, 1);
    assert_eq!(by_id("ok").error, None);
    assert!(by_id("gone")
        .error
        .as_deref()
        .unwrap()
        .contains("cannot read"));
}

#[test]
fn a_file_stamped_in_the_future_is_not_racy() {
    let dir = hoard_testkit::temp_dir();
    let file = dir.path().join("x.wav");
    write_wav(&file, 8000, 1, 80, 16);
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(24 * 3600))
        .unwrap();
    let (manifest, _) = build_with(dir.path(), None, &BuildOptions::default());
    assert!(manifest.recheck.is_empty(), "{:?}", manifest.recheck);
}

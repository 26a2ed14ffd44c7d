//! `hoard datasets scan` and `hoard datasets ls`, run as a user would: real folders, real
//! WAV files (written by hound), a real config file and a real `hoard serve`.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn hoard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(args)
        .env_remove("HOARD_CONFIG")
        .output()
        .expect("running hoard")
}

fn write_wav(path: &Path, frames: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        writer.write_sample((i % 97) as i16).unwrap();
    }
    writer.finalize().unwrap();
}

/// Three WAVs in RAVDESS layout with a sidecar CSV, and one file that is not audio.
fn dataset(root: &Path) {
    write_wav(&root.join("Actor_01/01.wav"), 16_000);
    write_wav(&root.join("Actor_01/02.wav"), 8_000);
    write_wav(&root.join("Actor_02/03.wav"), 32_000);
    std::fs::write(
        root.join("ravdess_metadata.csv"),
        "filename,emotion,modality\n01.wav,calm,speech\n02.wav,calm,speech\n03.wav,fearful,speech\n",
    )
    .unwrap();
    std::fs::write(root.join("Actor_02/broken.wav"), b"RIFF....").unwrap();
}

#[test]
fn scan_prints_a_summary_or_the_manifest() {
    let dir = hoard_testkit::temp_dir();
    dataset(dir.path());
    let root = dir.path().to_str().unwrap();

    let out = hoard(&["datasets", "scan", root]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("files           4 "), "{text}");
    assert!(text.contains("labels          calm 2, fearful 1"), "{text}");
    assert!(text.contains("meta_constants  modality=speech"), "{text}");
    assert!(
        text.contains("file error      Actor_02/broken.wav"),
        "{text}"
    );

    let out = hoard(&["datasets", "scan", root, "--json", "--content-hash"]);
    assert!(out.status.success(), "{out:?}");
    let raw = String::from_utf8_lossy(&out.stdout);
    let manifest: Value = serde_json::from_str(&raw).unwrap();
    let entries = manifest["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["relpath"], "Actor_01/01.wav");
    assert_eq!(entries[0]["duration"], 1.0);
    assert_eq!(entries[0]["content_hash"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["summary"]["total_duration"], 3.5);
    // The emotion-recognition backend's field order: id, filename, relpath, ...
    let (id, filename, relpath) = (
        raw.find("\"id\"").unwrap(),
        raw.find("\"filename\"").unwrap(),
        raw.find("\"relpath\"").unwrap(),
    );
    assert!(id < filename && filename < relpath);
}

#[test]
fn scan_of_a_missing_folder_fails_clearly() {
    let out = hoard(&["datasets", "scan", "/no/such/folder"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot scan /no/such/folder"), "{err}");
}

#[test]
fn ls_reads_the_config_and_asks_a_running_server() {
    let dir = hoard_testkit::temp_dir();
    let data = dir.path().join("data");
    dataset(&data);
    let config = dir.path().join("hoard.toml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &config,
        format!(
            "[cache]\ndata_dir = {:?}\n[server]\naddr = \"127.0.0.1:{port}\"\n[datasets.ravdess]\npath = {:?}\n",
            dir.path().join("cache"),
            data
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let out = hoard(&["datasets", "ls", "--config", config, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let local: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(local[0]["id"], "ravdess");
    assert_eq!(local[0]["total"], 4);
    assert_eq!(local[0]["errors"], 1);
    let out = hoard(&["datasets", "ls", "--config", config]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().nth(1).unwrap().starts_with("ravdess"),
        "{table}"
    );

    let mut server = hoard_testkit::ChildGuard::spawn({
        let mut command = Command::new(env!("CARGO_BIN_EXE_hoard"));
        command
            .args(["serve", "--config", config])
            .env_remove("HOARD_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    });
    let up = hoard_testkit::wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "hoard serve did not start");
    let url = format!("http://127.0.0.1:{port}");
    let out = hoard(&["datasets", "ls", "--server", &url, "--json"]);
    assert!(out.status.success(), "{out:?}");
    let remote: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(remote[0]["version"], local[0]["version"]);
    assert_eq!(remote[0]["total"], 4);
    // A bare host:port is the same server.
    let out = hoard(&[
        "datasets",
        "ls",
        "--server",
        &format!("localhost:{port}"),
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        remote
    );

    // The embedded store belongs to the server now: without --server, the server this
    // config runs is asked.
    let out = hoard(&["datasets", "ls", "--config", config, "--json"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        remote
    );
    // The folder is in use and nothing answers where the config says: say how to ask.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(["datasets", "ls", "--config", config])
        .env("HOARD_SERVER_ADDR", elsewhere.to_string())
        .env_remove("HOARD_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another process"), "{err}");
    assert!(
        err.contains(&format!("no hoard server answers at {elsewhere}")),
        "{err}"
    );
    assert!(err.contains("--server URL"), "{err}");
    server.kill_hard();
}

/// `hoard datasets sample` writes RAVDESS-style folders that an independent WAV reader
/// (hound) opens, that `scan` reads with every file labelled by its CSV, and it refuses a
/// folder that already holds something.
#[test]
fn the_sample_dataset_scans_with_every_file_labelled() {
    let dir = hoard_testkit::temp_dir();
    let root = dir.path().join("data/dev/ravdess_subset");
    let out = hoard(&["datasets", "sample", root.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.starts_with("wrote 32 WAV files in 2 actor folders"),
        "{shown}"
    );
    let first = root.join("Actor_01/03-01-01-01-01-01-01.wav");
    let reader = hound::WavReader::open(&first).unwrap();
    assert_eq!(
        (
            reader.spec().sample_rate,
            reader.spec().channels,
            reader.spec().bits_per_sample
        ),
        (16_000, 1, 16)
    );
    let frames = reader.duration();

    let out = hoard(&["datasets", "scan", root.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{out:?}");
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    let summary = &manifest["summary"];
    assert_eq!(summary["total"], 32);
    let counts = summary["label_counts"].as_object().unwrap();
    assert_eq!(counts.len(), 8);
    assert!(counts.values().all(|n| n == 4), "{counts:?}");
    assert_eq!(summary["metadata_errors"], serde_json::json!([]));
    let entry = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["relpath"] == "Actor_01/03-01-01-01-01-01-01.wav")
        .unwrap();
    assert_eq!(entry["label"], "neutral");
    assert_eq!(
        entry["duration"].as_f64().unwrap(),
        f64::from(frames) / 16_000.0
    );

    let again = hoard(&["datasets", "sample", root.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("exists and is not empty"), "{err}");
}

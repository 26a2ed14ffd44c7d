//! `hoard serve` and `hoard stats` as a user runs them: a real process on a real port.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Serving {
    child: Child,
    base: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &std::path::Path, port: u16) -> Serving {
    let child = Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("HOARD_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let up = hoard_testkit::wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "hoard serve did not start");
    Serving { child, base }
}

/// SIGTERM: the graceful path (finish requests, flush the disk tier).
fn terminate(mut serving: Serving) {
    let pid = serving.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let waited = hoard_testkit::wait_until(Duration::from_secs(10), || {
        matches!(serving.child.try_wait(), Ok(Some(_)))
    });
    assert!(waited, "hoard serve did not stop on SIGTERM");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn values_survive_a_restart_of_hoard_serve() {
    let dir = hoard_testkit::temp_dir();
    let port = free_port();
    let first = serve(dir.path(), port);
    let client = reqwest::Client::new();
    runtime().block_on(async {
        let put = client
            .put(format!("{}/v1/cache/model/metrics:abc-123", first.base))
            .body(r#"{"accuracy":0.95}"#)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success());
        let post = client
            .post(format!("{}/results/wav2vec2/f7fb16", first.base))
            .body(r#"{"probabilities":{"happy":0.9}}"#)
            .send()
            .await
            .unwrap();
        assert!(post.status().is_success());
    });
    // The admin token was generated, written with mode 0600.
    let token = dir.path().join("admin-token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&token).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // `hoard stats` reads it as a table and as JSON.
    let table = Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(["stats", "--server", &first.base])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.status.success() && text.contains("Cache is healthy") && text.contains("model"),
        "{text}"
    );
    let json = Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(["stats", "--json", "--server", &first.base])
        .output()
        .unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(stats["namespaces"]["model"]["sets"], serde_json::json!(1));
    terminate(first);

    let second = serve(dir.path(), port);
    runtime().block_on(async {
        let got: serde_json::Value = client
            .get(format!("{}/v1/cache/model/metrics:abc-123", second.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got, serde_json::json!({"accuracy": 0.95}));
        let result: serde_json::Value = client
            .get(format!("{}/results/wav2vec2/f7fb16", second.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(result["probabilities"]["happy"], serde_json::json!(0.9));
    });
    assert_eq!(
        std::fs::read_to_string(&token).unwrap().len(),
        32,
        "the same token file is reused"
    );
}

#[test]
fn a_bad_config_fails_at_start_with_file_key_and_reason() {
    let dir = hoard_testkit::temp_dir();
    let path = dir.path().join("hoard.toml");
    std::fs::write(&path, "[cache]\nmemory = \"lots\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&path.display().to_string())
            && err.contains("cache.memory")
            && err.contains("not a size"),
        "{err}"
    );
}

#[test]
fn stats_of_a_server_that_is_not_there_is_a_clear_error() {
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(["stats", "--server", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("asking http://127.0.0.1"));
}

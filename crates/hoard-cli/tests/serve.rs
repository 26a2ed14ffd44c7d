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
    serve_logging(data_dir, port, None, Stdio::null())
}

/// `hoard serve` with `HOARD_LOG` set to `log` (unset: the default filter) and its log
/// written to `stderr`.
fn serve_logging(
    data_dir: &std::path::Path,
    port: u16,
    log: Option<&str>,
    stderr: impl Into<Stdio>,
) -> Serving {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hoard"));
    command
        .args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("HOARD_CONFIG")
        .env_remove("HOARD_LOG")
        .stdout(Stdio::null())
        .stderr(stderr);
    if let Some(log) = log {
        command.env("HOARD_LOG", log);
    }
    let child = command.spawn().unwrap();
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

/// By default the log has hoard's own lines only: no line per request (at a hit's rate it
/// would cost a fifth of the throughput) and none of the embedded store's recovery
/// chatter. `HOARD_LOG=info,hoard::access=debug` turns the access log on: one `done` line
/// per request, with the id its response carried.
#[test]
fn the_access_log_is_off_by_default_and_names_each_request_when_on() {
    for log in [None, Some("info,hoard::access=debug")] {
        let dir = hoard_testkit::temp_dir();
        let log_path = dir.path().join("serve.log");
        let log_file = std::fs::File::create(&log_path).unwrap();
        let port = free_port();
        // The data folder is not the log's: the store refuses a folder with stray files.
        let serving = serve_logging(&dir.path().join("data"), port, log, log_file);
        let id = runtime().block_on(async {
            let answer = reqwest::get(format!("{}/results/wav2vec2/nothing", serving.base))
                .await
                .unwrap();
            assert_eq!(answer.status(), 404);
            answer.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned()
        });
        terminate(serving);
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(text.contains("hoard serving"), "{log:?}: {text}");
        let done: Vec<&str> = text.lines().filter(|l| l.contains(" done ")).collect();
        if log.is_none() {
            assert!(done.is_empty(), "{text}");
            assert!(
                !text.contains("fjall") && !text.contains("lsm_tree"),
                "{text}"
            );
        } else {
            assert_eq!(done.len(), 1, "{text}");
            assert!(
                done[0].contains(&id) && done[0].contains("status=404"),
                "{text}"
            );
        }
    }
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

/// A build without local models, asked to serve one, refuses at start with the exact
/// command that builds a `hoard` that has them.
#[cfg(not(feature = "semantic-local"))]
#[test]
fn a_local_model_on_a_build_without_them_names_the_command_that_builds_one() {
    let dir = hoard_testkit::temp_dir();
    let path = dir.path().join("hoard.toml");
    let model = dir.path().join("all-MiniLM-L6-v2");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(
        &path,
        format!(
            "[cache]\ndata_dir = {:?}\n[semantic]\nmodel = {:?}\n",
            dir.path().join("data").display().to_string(),
            model.display().to_string()
        ),
    )
    .unwrap();
    let out = serve_command(&["--config", path.to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "this build of hoard has no local models: build one that has them with \
             `cargo install --path crates/hoard-cli --features semantic-local`"
        ),
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

/// `hoard serve` with these arguments and no token variables from the test's environment.
fn serve_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hoard"));
    command
        .arg("serve")
        .args(args)
        .env_remove("HOARD_CONFIG")
        .env_remove("HOARD_READ_TOKEN")
        .env_remove("HOARD_WRITE_TOKEN")
        .env_remove("HOARD_ADMIN_TOKEN")
        .env_remove("HOARD_SERVER_INSECURE");
    command
}

/// Waits for `child` to exit; kills it and fails if it is still running after a generous
/// deadline (it would then be serving).
fn exits(mut child: Child) -> (std::process::ExitStatus, String) {
    let waited = hoard_testkit::wait_until(Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !waited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("hoard serve kept running");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn health(port: u16) -> reqwest::StatusCode {
    runtime().block_on(async {
        reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .unwrap()
            .status()
    })
}

/// The status of `method path` on loopback with an optional bearer token.
fn status(port: u16, method: reqwest::Method, path: &str, token: Option<&str>) -> u16 {
    runtime().block_on(async {
        let mut request = reqwest::Client::new()
            .request(method, format!("http://127.0.0.1:{port}{path}"))
            .body("1");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().status().as_u16()
    })
}

fn up(port: u16) -> bool {
    hoard_testkit::wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
}

#[test]
fn serving_every_address_without_tokens_is_refused_with_the_reason() {
    let dir = hoard_testkit::temp_dir();
    let port = free_port();
    let addr = format!("0.0.0.0:{port}");
    let child = serve_command(&["--addr", &addr, "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, err) = exits(child);
    assert_eq!(status.code(), Some(1), "{err}");
    for needed in [
        "not a loopback address",
        "read_tokens",
        "HOARD_READ_TOKEN",
        "--insecure",
    ] {
        assert!(err.contains(needed), "{needed:?} missing from: {err}");
    }
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "it listened anyway"
    );
}

#[test]
fn insecure_serves_every_address_open_by_flag_or_config() {
    let dir = hoard_testkit::temp_dir();
    let port = free_port();
    let addr = format!("0.0.0.0:{port}");
    let child = serve_command(&["--addr", &addr, "--insecure", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serving = Serving {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    assert!(up(port), "hoard serve --insecure did not start");
    assert_eq!(health(port), reqwest::StatusCode::OK);
    assert_eq!(
        status(port, reqwest::Method::PUT, "/v1/cache/ns/k", None),
        200
    );
    terminate(serving);

    // The config twin.
    let config = dir.path().join("hoard.toml");
    std::fs::write(
        &config,
        format!("[server]\naddr = \"{addr}\"\ninsecure = true\n"),
    )
    .unwrap();
    let child = serve_command(&["--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serving = Serving {
        child,
        base: String::new(),
    };
    assert!(up(port), "hoard serve with insecure = true did not start");
    assert_eq!(health(port), reqwest::StatusCode::OK);
    terminate(serving);
}

#[test]
fn tokens_from_the_environment_guard_every_address() {
    let dir = hoard_testkit::temp_dir();
    let port = free_port();
    let addr = format!("0.0.0.0:{port}");
    let read = "read-token-0123456789";
    let write = "write-token-0123456789";
    let child = serve_command(&["--addr", &addr, "--data-dir"])
        .arg(dir.path())
        .env("HOARD_READ_TOKEN", format!("other-read-token-0123,{read}"))
        .env("HOARD_WRITE_TOKEN", write)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let serving = Serving {
        child,
        base: String::new(),
    };
    assert!(up(port), "hoard serve with tokens did not start");
    assert_eq!(health(port), reqwest::StatusCode::OK);
    let put = |token| status(port, reqwest::Method::PUT, "/v1/cache/ns/k", token);
    let get = |token| status(port, reqwest::Method::GET, "/v1/cache/ns/k", token);
    assert_eq!(put(None), 401);
    assert_eq!(put(Some(read)), 403);
    assert_eq!(put(Some(write)), 200);
    assert_eq!(get(None), 401);
    assert_eq!(get(Some(read)), 200);
    // The generated admin token still works, and does everything.
    let admin = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    assert_eq!(
        status(
            port,
            reqwest::Method::DELETE,
            "/v1/cache?pattern=ns:*",
            Some(write)
        ),
        403
    );
    assert_eq!(
        status(
            port,
            reqwest::Method::DELETE,
            "/v1/cache?pattern=ns:*",
            Some(&admin)
        ),
        200
    );
    assert_eq!(get(Some(&admin)), 404);
    // `hoard stats` says it needs a token, and reads with one from $HOARD_TOKEN.
    let server = format!("http://127.0.0.1:{port}");
    let stats = |token: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hoard"));
        command.args(["stats", "--json", "--server", &server]);
        match token {
            Some(token) => command.env("HOARD_TOKEN", token),
            None => command.env_remove("HOARD_TOKEN"),
        };
        command.output().unwrap()
    };
    let refused = stats(None);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("401") && err.contains("HOARD_TOKEN"), "{err}");
    let read_stats = stats(Some(read));
    assert!(
        read_stats.status.success(),
        "{}",
        String::from_utf8_lossy(&read_stats.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&read_stats.stdout).unwrap();
    assert_eq!(body["namespaces"]["ns"]["sets"], serde_json::json!(1));
    terminate(serving);
}

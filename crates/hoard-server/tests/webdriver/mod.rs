//! What the dashboard's WebDriver tests share: chromedriver (Debian's `chromium-driver`,
//! which `scripts/test` installs) running headless Chromium, the browser's log, and the
//! steps a user takes (typing, clicking, giving the admin token).

// Each test file uses some of these.
#![allow(dead_code, clippy::unwrap_used)]

use fantoccini::{Client, ClientBuilder, Locator};
use hoard_testkit::ChildGuard;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

/// How long the page gets to show what a step is waiting for.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn binary(variable: &str, default: &str, package: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var_os(variable).unwrap_or(default.into()));
    assert!(
        path.exists(),
        "{} is missing: the dashboard's WebDriver test needs Debian's {package} \
         (scripts/test installs it; or set {variable})",
        path.display()
    );
    path
}

/// chromedriver on a free loopback port, killed (with the browsers it started) on drop.
pub struct Driver {
    _child: ChildGuard,
    _profile: hoard_testkit::TempDir,
}

/// Starts chromedriver and a headless Chromium session in a fresh profile, with the
/// browser's log (the page's console, its failed loads) kept for [`browser_log`].
pub async fn browser() -> (Driver, Client) {
    let driver = binary(
        "HOARD_CHROMEDRIVER",
        "/usr/bin/chromedriver",
        "chromium-driver",
    );
    let chromium = binary("HOARD_CHROMIUM", "/usr/bin/chromium", "chromium");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chromedriver.log");
    let mut command = Command::new(driver);
    command
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stderr(Stdio::null());
    let mut child = ChildGuard::spawn(command);
    // chromedriver says so on stdout once it listens; it ends its output if it cannot start.
    tokio::task::block_in_place(|| loop {
        match child.read_line() {
            Some(line) if line.contains("started successfully") => break,
            Some(_) => {}
            None => panic!(
                "chromedriver exited before listening: see {}",
                log.display()
            ),
        }
    });
    let profile = hoard_testkit::temp_dir();
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-extensions", "--window-size=1280,1400",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        },
        "goog:loggingPrefs": { "browser": "ALL" },
    });
    let url = format!("http://127.0.0.1:{port}");
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("no WebDriver session ({e}): see {}", log.display()));
    let driver = Driver {
        _child: child,
        _profile: profile,
    };
    (driver, client)
}

/// chromedriver's log command (not in the W3C protocol, so not in fantoccini): the
/// browser's log entries since the last call.
#[derive(Debug)]
pub struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// The browser's log since the last call, as `(source, level, message)`.
pub async fn browser_log(client: &Client) -> Vec<(String, String, String)> {
    let entries = client.issue_cmd(BrowserLog).await.unwrap();
    let text = |entry: &Value, field: &str| entry[field].as_str().unwrap_or_default().to_owned();
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (text(e, "source"), text(e, "level"), text(e, "message")))
        .collect()
}

/// Runs `script` in the page until it returns something other than null or false, and
/// returns that; fails after [`PATIENCE`], saying what it waited for.
pub async fn until(client: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = client.execute(script, Vec::new()).await.unwrap();
        if !matches!(value, Value::Null | Value::Bool(false)) {
            return value;
        }
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn script(client: &Client, script: &str) -> Value {
    client.execute(script, Vec::new()).await.unwrap()
}

/// Types `text` into the input `css` in place of what it held.
pub async fn type_into(client: &Client, css: &str, text: &str) {
    let input = client.find(Locator::Css(css)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

pub async fn click(client: &Client, css: &str) {
    let element = client.find(Locator::Css(css)).await.unwrap();
    element.click().await.unwrap();
}

/// Gives the page's admin token form `token`.
pub async fn enter_admin_token(client: &Client, token: &str) {
    type_into(client, "#admin-token", token).await;
    click(client, "#admin-form button[type=submit]").await;
}

/// What the page's admin status says once it is in `state`.
pub async fn admin_status(client: &Client, state: &str) -> String {
    let css = format!("#admin-status[data-state=\"{state}\"]");
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(&css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

//! The README's shell tour, run as a new user would: every ```sh block of README.md, in
//! order, in one fresh folder (its own `HOME`, no config but what the README shows), with
//! the `hoard` binary of this build first on the `PATH`. The blocks are read from
//! README.md itself, so the two cannot drift.
//!
//! What the README says, the test does:
//! - a ```toml block right after `<!-- readme: hoard.toml -->` is appended to the
//!   folder's `hoard.toml` (what "add this block" asks of a user);
//! - a ```sh block right after `<!-- readme: server -->` needs `hoard serve` running in the
//!   folder: the test starts it (again, if `hoard.toml` changed since, as the README says
//!   to restart it);
//! - a ```sh block right after `<!-- readme: skip REASON -->` is not run (installs and
//!   builds; the reason is printed);
//! - every command must exit 0 (`curl` must get a 2xx: it runs as `curl --fail-with-body`),
//!   and a command whose line ends in `#=> TEXT`, or is followed
//!   by a line `#=> TEXT`, must print TEXT (as JSON when both are, else the same text).
//!
//! The README's `localhost:7070` is this test's free port (`$HOARD_SERVER_ADDR` tells the
//! server and the clients), so the test never collides with a server already running.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What the README marks before a block.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mark {
    None,
    Server,
    Config,
    Skip(String),
}

#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    lang: String,
    mark: Mark,
    body: Vec<String>,
}

/// One command of a block (continuation lines joined) and what it must print.
#[derive(Debug)]
struct Step {
    line: usize,
    command: String,
    expected: Option<String>,
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    std::fs::read_to_string(&path).unwrap()
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut mark = Mark::None;
    while let Some((i, line)) = lines.next() {
        if let Some(rest) = line
            .trim()
            .strip_prefix("<!-- readme:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            let rest = rest.trim();
            mark = match rest.split_once(' ').map_or((rest, ""), |(a, b)| (a, b)) {
                ("server", _) => Mark::Server,
                ("hoard.toml", _) => Mark::Config,
                ("skip", why) if !why.trim().is_empty() => Mark::Skip(why.trim().to_owned()),
                _ => panic!("README.md:{}: unknown mark {line:?}", i + 1),
            };
            continue;
        }
        if let Some(lang) = line.strip_prefix("```").filter(|l| !l.is_empty()) {
            let mut body = Vec::new();
            for (_, inner) in lines.by_ref() {
                if inner.starts_with("```") {
                    break;
                }
                body.push(inner.to_owned());
            }
            out.push(Block {
                line: i + 1,
                lang: lang.trim().to_owned(),
                mark: std::mem::replace(&mut mark, Mark::None),
                body,
            });
        } else if !line.trim().is_empty() {
            // A mark belongs to the block right after it, not to one further down.
            mark = Mark::None;
        }
    }
    out
}

/// A block's commands: continuation lines (`\` at the end) joined; `#=> TEXT` at the end
/// of a command, or on the line after it, is what it must print.
fn steps(block: &Block) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in block.body.iter().enumerate() {
        let line = block.line + 1 + n;
        let trimmed = raw.trim();
        if let Some(expected) = trimmed.strip_prefix("#=>") {
            let step = out
                .last_mut()
                .unwrap_or_else(|| panic!("README.md:{line}: #=> before any command"));
            step.expected = Some(expected.trim().to_owned());
            continue;
        }
        if pending.is_none() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        let (start, mut text) = pending.take().unwrap_or((line, String::new()));
        if let Some(head) = raw.trim_end().strip_suffix('\\') {
            text.push_str(head);
            text.push(' ');
            pending = Some((start, text));
            continue;
        }
        text.push_str(raw);
        let (command, expected) = match text.split_once("#=>") {
            Some((command, expected)) => (command.to_owned(), Some(expected.trim().to_owned())),
            None => (text, None),
        };
        out.push(Step {
            line: start,
            command,
            expected,
        });
    }
    assert!(
        pending.is_none(),
        "README.md:{}: a block ends on `\\`",
        block.line
    );
    out
}

struct Tour {
    dir: hoard_testkit::TempDir,
    bin: PathBuf,
    port: u16,
    server: Option<(Child, String)>,
}

impl Drop for Tour {
    fn drop(&mut self) {
        self.stop_server();
    }
}

impl Tour {
    fn folder(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        command
            .current_dir(self.folder())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.folder().join("home"))
            .env("HOARD_SERVER_ADDR", format!("127.0.0.1:{}", self.port))
            .env("LANG", "C.UTF-8");
        command
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(self.folder().join("hoard.toml")).unwrap_or_default()
    }

    fn ensure_server(&mut self) {
        let config = self.config_text();
        if matches!(&self.server, Some((_, started_with)) if *started_with == config) {
            return;
        }
        self.stop_server();
        let log = std::fs::File::create(self.folder().join("serve.log")).unwrap();
        let child = self
            .command("hoard")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let port = self.port;
        let up = hoard_testkit::wait_until(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let log = std::fs::read_to_string(self.folder().join("serve.log")).unwrap_or_default();
        assert!(up, "hoard serve did not start:\n{log}");
        self.server = Some((child, config));
    }

    fn stop_server(&mut self) {
        if let Some((mut child, _)) = self.server.take() {
            // SIGTERM, as a user's Ctrl-C: the disk tier is flushed and its folder freed.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let stopped = hoard_testkit::wait_until(Duration::from_secs(20), || {
                matches!(child.try_wait(), Ok(Some(_)))
            });
            if !stopped {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Runs a block's steps in one shell (so `eval` and `cd` carry over), each step's
    /// output kept apart; panics naming the README line of a step that failed or printed
    /// something else than the README shows.
    fn run(&self, block: &Block) {
        let steps = steps(block);
        let out = self.folder().join(".readme-out");
        std::fs::create_dir_all(&out).unwrap();
        // An HTTP error is a failed command, as it is to a reader (curl alone exits 0 on a
        // 404); -sS keeps the progress meter out of the output.
        let mut script = String::from(
            "set -uo pipefail\ncurl() { command curl --fail-with-body -sS \"$@\"; }\n",
        );
        for (i, step) in steps.iter().enumerate() {
            let command = step
                .command
                .replace("localhost:7070", &format!("localhost:{}", self.port));
            script.push_str(&format!(
                "if ! {{\n{command}\n}} >'{dir}/{i}.out' 2>'{dir}/{i}.err'; then echo {i} > '{dir}/failed'; exit 1; fi\n",
                dir = out.display()
            ));
        }
        let _ = std::fs::remove_file(out.join("failed"));
        let status = self
            .command("bash")
            .arg("-c")
            .arg(&script)
            .status()
            .unwrap();
        let read = |name: String| std::fs::read_to_string(out.join(name)).unwrap_or_default();
        if !status.success() {
            let i: usize = read("failed".into()).trim().parse().unwrap_or(0);
            let step = &steps[i];
            panic!(
                "README.md:{}: `{}` failed\nstdout:\n{}\nstderr:\n{}",
                step.line,
                step.command.trim(),
                read(format!("{i}.out")),
                read(format!("{i}.err"))
            );
        }
        for (i, step) in steps.iter().enumerate() {
            let Some(expected) = &step.expected else {
                continue;
            };
            let printed = read(format!("{i}.out"));
            assert!(
                same_output(&printed, expected),
                "README.md:{}: `{}` printed\n{}\nwhere the README shows\n{expected}",
                step.line,
                step.command.trim(),
                printed.trim()
            );
        }
    }
}

/// Whether `printed` is what the README shows: the same JSON value when both are JSON,
/// else the same text (surrounding whitespace aside).
fn same_output(printed: &str, shown: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(printed.trim()),
        serde_json::from_str::<serde_json::Value>(shown),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => printed.trim() == shown.trim(),
    }
}

#[test]
fn the_readme_shell_tour_runs_as_written() {
    let text = readme();
    let blocks = blocks(&text);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_hoard"))
        .parent()
        .unwrap()
        .to_owned();
    let mut tour = Tour {
        dir: hoard_testkit::temp_dir(),
        bin,
        port,
        server: None,
    };
    std::fs::create_dir_all(tour.folder().join("home")).unwrap();
    let (mut ran, mut skipped) = (0, 0);
    for block in &blocks {
        match (&block.mark, block.lang.as_str()) {
            (Mark::Skip(why), _) => {
                println!("README.md:{}: skipped: {why}", block.line);
                skipped += 1;
            }
            (Mark::Config, "toml") => {
                let mut config = tour.config_text();
                config.push_str(&block.body.join("\n"));
                config.push('\n');
                std::fs::write(tour.folder().join("hoard.toml"), config).unwrap();
            }
            (Mark::Config, lang) => {
                panic!("README.md:{}: a {lang} block marked hoard.toml", block.line)
            }
            (mark, "sh") => {
                if *mark == Mark::Server {
                    tour.ensure_server();
                } else {
                    // A block that needs no server runs as a user would without one: the
                    // folder is free for the commands that open it.
                    tour.stop_server();
                }
                tour.run(block);
                ran += 1;
            }
            _ => {}
        }
    }
    println!("README shell tour: {ran} blocks ran, {skipped} skipped");
    assert!(ran >= 4, "only {ran} blocks ran");
}

#[test]
fn the_marks_and_expected_outputs_are_read_as_documented() {
    let text = "<!-- readme: server -->\n```sh\ncurl x   #=> {\"a\": 1}\nfoo \\\n  --bar\n#=> done\n# a comment\n```\n\n<!-- readme: skip builds it -->\n```sh\nmake\n```\n<!-- readme: hoard.toml -->\n\nnot a block\n```toml\nx = 1\n```\n";
    let blocks = blocks(text);
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0].mark, Mark::Server);
    let steps = steps(&blocks[0]);
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].expected.as_deref(), Some("{\"a\": 1}"));
    assert_eq!(steps[1].command, "foo    --bar");
    assert_eq!(steps[1].line, 4);
    assert_eq!(steps[1].expected.as_deref(), Some("done"));
    assert_eq!(blocks[1].mark, Mark::Skip("builds it".into()));
    // A mark is lost when text comes between it and a block.
    assert_eq!(blocks[2].mark, Mark::None);
    assert!(same_output("{\"a\":1}\n", "{\"a\": 1}"));
    assert!(!same_output("{\"a\":2}", "{\"a\": 1}"));
    assert!(same_output("  done\n", "done"));
}

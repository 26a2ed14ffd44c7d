//! The `hoard` binary, run as a user would.

use std::process::{Command, Output};

fn hoard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(args)
        .output()
        .expect("running hoard")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn version_prints_the_crate_version() {
    let out = hoard(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        format!("hoard {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_the_verbs() {
    let out = hoard(&["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("Usage: hoard"), "{text}");
    assert!(text.contains("ttl"), "{text}");
}

#[test]
fn no_arguments_prints_help_and_fails() {
    let out = hoard(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: hoard"));
}

#[test]
fn ttl_lists_presets_and_parses_durations() {
    let out = hoard(&["ttl"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("ttl_very_short") && text.contains("604800"),
        "{text}"
    );
    let out = hoard(&["ttl", "125m"]);
    assert_eq!(stdout(&out).trim(), "2h5m (7500 s)");
    // Under a second: the seconds are not rounded away.
    for (given, shown) in [("500ms", "500ms (0.5 s)"), ("1500ms", "1s500ms (1.5 s)")] {
        let out = hoard(&["ttl", given]);
        assert_eq!(stdout(&out).trim(), shown);
    }
}

/// What the cache refuses as a TTL, `hoard ttl` refuses too, with the cache's reason.
#[test]
fn a_ttl_the_cache_refuses_is_refused() {
    for (given, reason) in [("0s", "at least 1ms"), ("1000w", "at most")] {
        let out = hoard(&["ttl", given]);
        assert_eq!(out.status.code(), Some(1), "{given}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(reason), "{given}: {err}");
        assert!(stdout(&out).is_empty(), "{given}");
    }
}

#[test]
fn bad_duration_is_a_clear_error() {
    let out = hoard(&["ttl", "90"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid duration \"90\": missing unit"),
        "{err}"
    );
}

#[test]
fn unknown_verb_is_refused() {
    let out = hoard(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}

/// A pairs file that is not there: the message says so and what the file should hold.
#[test]
fn a_missing_pairs_file_says_what_it_should_hold() {
    let out = hoard(&["semantic", "eval", "--pairs", "/nonexistent/pairs.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open the pairs file /nonexistent/pairs.jsonl")
            && err.contains(r#"{"a": "first question", "b": "second question", "same": true}"#)
            && !err.contains(":0:"),
        "{err}"
    );
}

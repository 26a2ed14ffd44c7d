//! `hoard semantic eval` as a user runs it, with the real all-MiniLM-L6-v2 weights.

#![cfg(feature = "semantic-local")]
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::process::Command;

fn minilm() -> String {
    std::env::var("HOARD_MINILM_DIR")
        .expect("HOARD_MINILM_DIR is not set: scripts/test fetches all-MiniLM-L6-v2 and sets it")
}

fn eval(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(["semantic", "eval", "--model", &minilm()])
        .args(args)
        .env_remove("HOARD_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn eval_reports_recall_and_wrong_hits_per_threshold() {
    let dir = hoard_testkit::temp_dir();
    let pairs = dir.path().join("pairs.jsonl");
    std::fs::write(
        &pairs,
        [
            r#"{"a":"How do I learn Python quickly?","b":"What is the fastest way to learn Python?","same":true}"#,
            r#"{"a":"What is the capital of France?","b":"Which city is the capital of France?","same":true}"#,
            r#"{"a":"Cancel my subscription","b":"Don't cancel my subscription","same":false}"#,
            r#"{"a":"Flights on May 3","b":"Flights on May 4","same":false}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let out = eval(&["--pairs", pairs.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pairs"], 4);
    assert_eq!(report["same"], 2);
    let guarded = report["guarded"].as_array().unwrap();
    let at_80 = guarded
        .iter()
        .find(|r| (r["threshold"].as_f64().unwrap() - 0.80).abs() < 1e-6)
        .unwrap();
    assert_eq!(at_80["wrong_hit_rate"], 0.0, "{at_80}");
    let plain = report["cosine_only"].as_array().unwrap();
    let plain_80 = plain
        .iter()
        .find(|r| (r["threshold"].as_f64().unwrap() - 0.80).abs() < 1e-6)
        .unwrap();
    assert!(
        plain_80["wrong_hit_rate"].as_f64().unwrap() > 0.0,
        "the traps fool the bare threshold: {plain_80}"
    );
    assert_eq!(
        report["verifier"], "all-MiniLM-L6-v2-cross",
        "on by default with MiniLM"
    );
    let table = eval(&["--pairs", pairs.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("with guards") && text.contains("best recall with at most 1.0% wrong hits"),
        "{text}"
    );
}

/// Pairs that carry a `kind` get figures per kind, and `--scores` writes each pair's
/// similarity, verifier probability and verdict in the pairs' order.
#[test]
fn eval_reports_each_kind_and_writes_the_scores() {
    let dir = hoard_testkit::temp_dir();
    let pairs = dir.path().join("pairs.jsonl");
    std::fs::write(
        &pairs,
        [
            r#"{"a":"How do I enable dark mode in the app?","b":"How do I disable dark mode in the app?","same":false,"kind":"negation"}"#,
            r#"{"a":"How do I enable dark mode in the app?","b":"how can i turn on dark mode in the app","same":true,"kind":"paraphrase"}"#,
            r#"{"a":"Is the train from Milan to Turin on time?","b":"Is the train from Turin to Milan on time?","same":false,"kind":"entity_swap"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let scores = dir.path().join("scores.jsonl");
    let out = eval(&[
        "--pairs",
        pairs.to_str().unwrap(),
        "--json",
        "--thresholds",
        "0.8",
        "--scores",
        scores.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&String> = report["by_kind"].as_object().unwrap().keys().collect();
    assert_eq!(kinds, ["entity_swap", "negation", "paraphrase"]);
    assert_eq!(
        report["by_kind"]["negation"]["wrong_hit_rate"], 0.0,
        "{report}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&scores)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["kind"], "negation");
    // The antonym clears the threshold on similarity; the verifier is what refuses it.
    assert!(
        lines[0]["similarity"].as_f64().unwrap() >= 0.8,
        "{}",
        lines[0]
    );
    assert!(lines[0]["verifier"].as_f64().unwrap() < 0.5, "{}", lines[0]);
    assert_eq!(lines[0]["verdict"], "verifier");
    assert!(
        lines[1]["verifier"].as_f64().unwrap() >= 0.5,
        "{}",
        lines[1]
    );
    assert_eq!(lines[1]["verdict"], "pass");
}

#[test]
fn eval_refuses_bad_input_clearly() {
    let dir = hoard_testkit::temp_dir();
    let pairs = dir.path().join("bad.jsonl");
    std::fs::write(
        &pairs,
        "{\"a\":\"x\",\"b\":\"y\",\"same\":true}\nnot json\n",
    )
    .unwrap();
    let out = eval(&["--pairs", pairs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2"), "{err}");
    let out = eval(&[
        "--pairs",
        pairs.to_str().unwrap(),
        "--thresholds",
        "0.8,1.2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in [0, 1]"));
}

/// `--dataset conversations` stores each pair's first chat and looks up its second through
/// the cache, and reports per category: the same chat is served, a chat about another thing
/// is refused, and every pair is counted once.
#[test]
fn eval_of_conversations_goes_through_the_cache_per_category() {
    let dir = hoard_testkit::temp_dir();
    let pairs = dir.path().join("chats.jsonl");
    let chat = |thing: &str, question: &str| {
        serde_json::json!([
            {"role": "user", "content": format!("I have a {thing} with you.")},
            {"role": "assistant", "content": "Sure, I can help with that."},
            {"role": "user", "content": question},
        ])
    };
    let rows = [
        serde_json::json!({"a": chat("gym membership", "How do I cancel it?"), "b": chat("gym membership", "How do I cancel it?"), "same": true, "category": "identical"}),
        serde_json::json!({"a": chat("gym membership", "How do I cancel it?"), "b": chat("car insurance policy", "How do I cancel it?"), "same": false, "category": "referent"}),
        serde_json::json!({"a": [{"role": "user", "content": "What are your opening hours?"}], "b": [{"role": "user", "content": "What are your opening hours?"}], "same": true}),
    ];
    let text: Vec<String> = rows.iter().map(ToString::to_string).collect();
    std::fs::write(&pairs, text.join("\n")).unwrap();
    let out = eval(&[
        "--dataset",
        "conversations",
        "--pairs",
        pairs.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pairs"], 3);
    let by: std::collections::BTreeMap<String, Value> = report["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["category"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    assert_eq!(
        by.keys().collect::<Vec<_>>(),
        ["(none)", "all", "identical", "referent"]
    );
    assert_eq!(
        (
            by["identical"]["repeats"].as_u64(),
            by["identical"]["served"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            by["referent"]["traps"].as_u64(),
            by["referent"]["wrong_hits"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(
        (by["all"]["traps"].as_u64(), by["all"]["repeats"].as_u64()),
        (Some(1), Some(2))
    );
    // Per-pair scores are a questions-run output: asked for here, refused, not ignored.
    let out = eval(&[
        "--dataset",
        "conversations",
        "--pairs",
        pairs.to_str().unwrap(),
        "--scores",
        dir.path().join("s.jsonl").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--scores is for --dataset questions"));
    // A chat with no user message is refused, naming the line.
    std::fs::write(&pairs, r#"{"a":[{"role":"assistant","content":"Hi"}],"b":[{"role":"user","content":"x"}],"same":true}"#).unwrap();
    let out = eval(&[
        "--dataset",
        "conversations",
        "--pairs",
        pairs.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no user message"), "{err}");
}

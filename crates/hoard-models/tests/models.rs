//! Inventory, plans, warm-up and doctor on generated store layouts: real symlinks, shared
//! blobs, broken links, partial files, nested app caches.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard_models::plan::{self, Action, Plan, PruneOptions};
use hoard_models::scan::scan;
use hoard_models::size::ByteSize;
use hoard_models::{Layout, ModelsConfig, Store};
use hoard_testkit::stores::{hf_revision, ollama_model, HfFile};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

struct Fixture {
    _dir: hoard_testkit::TempDir,
    base: PathBuf,
    layout: Layout,
    big: Vec<u8>,
}

const REV1: &str = "1111111111111111111111111111111111111111";
const REV2: &str = "2222222222222222222222222222222222222222";

fn fixture() -> Fixture {
    let dir = hoard_testkit::temp_dir();
    let base = dir.path().to_path_buf();
    let config = ModelsConfig {
        root: Some("cache".into()),
        app_caches: [("tmdb".to_owned(), PathBuf::from("out/tmdb_cache"))].into(),
        legacy: vec!["shared/model-cache".into()],
        ..ModelsConfig::default()
    };
    let layout = Layout::new(&config, &base);
    let hub = layout.hf_hub();
    let big = vec![7u8; 3000];
    // org/a: an old revision no ref names, and main; the weights are shared by both.
    hf_revision(
        &hub,
        "models--org--a",
        REV1,
        &[],
        &[
            HfFile {
                name: "config.json",
                content: b"{\"v\":1}",
                lfs: false,
            },
            HfFile {
                name: "model.bin",
                content: &big,
                lfs: true,
            },
        ],
    );
    hf_revision(
        &hub,
        "models--org--a",
        REV2,
        &["main"],
        &[
            HfFile {
                name: "config.json",
                content: b"{\"v\":2}",
                lfs: false,
            },
            HfFile {
                name: "model.bin",
                content: &big,
                lfs: true,
            },
            HfFile {
                name: "onnx/model.onnx",
                content: &[1u8; 500],
                lfs: true,
            },
        ],
    );
    // org/b: one revision and a download that never finished.
    let b = hf_revision(
        &hub,
        "models--org--b",
        REV1,
        &["main"],
        &[HfFile {
            name: "w.bin",
            content: &[2u8; 800],
            lfs: true,
        }],
    );
    fs::write(b.join("blobs/0123abcd.incomplete"), [0u8; 500]).unwrap();
    hf_revision(
        &hub,
        "datasets--org--speech",
        REV1,
        &["main"],
        &[HfFile {
            name: "data.csv",
            content: b"a,b\n",
            lfs: false,
        }],
    );
    // org/broken: a snapshot link whose blob is gone.
    let broken = hf_revision(
        &hub,
        "models--org--broken",
        REV1,
        &["main"],
        &[HfFile {
            name: "x.bin",
            content: &[3u8; 100],
            lfs: true,
        }],
    );
    for blob in fs::read_dir(broken.join("blobs")).unwrap() {
        fs::remove_file(blob.unwrap().path()).unwrap();
    }
    let checkpoints = layout.torch_hub().join("checkpoints");
    fs::create_dir_all(&checkpoints).unwrap();
    fs::write(checkpoints.join("silero.pt"), [4u8; 1000]).unwrap();
    let repo = layout.torch_hub().join("snakers4_silero-vad_master");
    fs::create_dir_all(repo.join("files")).unwrap();
    fs::write(repo.join("hubconf.py"), [5u8; 200]).unwrap();
    fs::write(repo.join("files/vad.jit"), [6u8; 300]).unwrap();
    // Two Ollama models sharing their first layer, and a layer nobody names.
    let l1 = vec![8u8; 2000];
    ollama_model(&layout.ollama, "llama", "latest", &[&l1, &[9u8; 100]]);
    ollama_model(&layout.ollama, "other", "7b", &[&l1, &[10u8; 150]]);
    fs::write(layout.ollama.join("blobs/sha256-dead"), [0u8; 50]).unwrap();
    let tmdb = &layout.app_caches["tmdb"];
    fs::create_dir_all(tmdb.join("movies/2024")).unwrap();
    fs::write(tmdb.join("movies/2024/1.json"), [11u8; 70]).unwrap();
    fs::write(tmdb.join("index.json"), [12u8; 30]).unwrap();
    Fixture {
        _dir: dir,
        base,
        layout,
        big,
    }
}

#[test]
fn every_store_is_listed_with_blobs_counted_once() {
    let f = fixture();
    let inventory = scan(&f.layout);
    let ids: Vec<(&str, Store)> = inventory
        .items
        .iter()
        .map(|i| (i.id.as_str(), i.store))
        .collect();
    assert_eq!(
        ids,
        [
            ("dataset:org/speech", Store::Huggingface),
            ("org/a", Store::Huggingface),
            ("org/b", Store::Huggingface),
            ("org/broken", Store::Huggingface),
            ("torch:silero.pt", Store::Torch),
            ("torch:snakers4_silero-vad_master", Store::Torch),
            ("ollama:llama:latest", Store::Ollama),
            ("ollama:other:7b", Store::Ollama),
            ("app:tmdb", Store::App),
        ]
    );
    let a = inventory.find("org/a").unwrap();
    // Two configs, the shared weights once, the onnx file.
    assert_eq!(a.size, 7 + 7 + f.big.len() as u64 + 500);
    assert_eq!(a.revisions, 2);
    assert_eq!(
        a.refs,
        BTreeMap::from([("main".to_owned(), REV2.to_owned())])
    );
    assert_eq!(a.detached.len(), 1);
    assert_eq!(a.detached[0].revision, REV1);
    let exclusive: Vec<u64> = a.detached[0]
        .exclusive_blobs
        .iter()
        .map(|b| b.size)
        .collect();
    assert_eq!(
        exclusive,
        [7],
        "only the old config is the old revision's alone"
    );
    let b = inventory.find("org/b").unwrap();
    assert_eq!((b.size, b.partial.len()), (800 + 500, 1));
    assert_eq!(
        inventory
            .find("torch:snakers4_silero-vad_master")
            .unwrap()
            .size,
        500
    );
    assert_eq!(inventory.find("app:tmdb").unwrap().size, 100);
    assert_eq!(inventory.find("ollama:llama:latest").unwrap().size, 2100);
    let sizes = inventory.store_sizes();
    assert_eq!(
        sizes[&Store::Ollama],
        2000 + 100 + 150 + 50,
        "the shared layer once"
    );
    assert_eq!(inventory.orphans.len(), 1);
    assert!(inventory
        .problems
        .iter()
        .any(|p| p.kind == "broken_symlink" && p.path.ends_with("x.bin")));
}

fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

#[test]
fn rm_removes_exactly_the_plan_and_keeps_shared_layers() {
    let f = fixture();
    let inventory = scan(&f.layout);
    let plan = plan::rm(&inventory, &["org/a", "ollama:llama:latest"]).unwrap();
    let llama = inventory.find("ollama:llama:latest").unwrap();
    let shared = llama.contents[0].file.path.clone();
    let own = llama.contents[1].file.path.clone();
    let paths: Vec<&Path> = plan.actions.iter().map(|a| a.path.as_path()).collect();
    assert_eq!(
        paths,
        [
            inventory.find("org/a").unwrap().path.as_path(),
            llama.path.as_path(),
            own.as_path()
        ]
    );
    assert_eq!(plan.bytes(), inventory.find("org/a").unwrap().size + 100);
    let before = scan(&f.layout);
    let outcome = plan.execute(&f.layout);
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(outcome.freed, plan.bytes());
    let after = scan(&f.layout);
    assert!(after.find("org/a").is_none());
    assert!(after.find("ollama:llama:latest").is_none());
    assert!(exists(&shared), "the layer ollama:other:7b uses stays");
    assert_eq!(after.items.len(), before.items.len() - 2);
    assert!(matches!(
        plan::rm(&after, &["nope/nope"]),
        Err(hoard_models::ModelsError::UnknownId(_))
    ));
}

#[test]
fn prune_removes_detached_partial_and_orphans_and_keeps_what_refs_use() {
    let f = fixture();
    let inventory = scan(&f.layout);
    let plan = plan::prune(
        &inventory,
        &PruneOptions {
            now_ms: hoard_models::usage::now_ms(),
            ..PruneOptions::default()
        },
    );
    let whats: Vec<&str> = plan.actions.iter().map(|a| a.what.as_str()).collect();
    assert_eq!(plan.actions.len(), 4, "{whats:?}");
    assert_eq!(plan.bytes(), 7 + 500 + 50);
    plan.execute(&f.layout);
    let after = scan(&f.layout);
    let a = after.find("org/a").unwrap();
    assert_eq!((a.revisions, a.detached.len()), (1, 0));
    assert_eq!(a.size, 7 + f.big.len() as u64 + 500);
    // main's links still resolve, the shared weights included.
    let main = f
        .layout
        .hf_hub()
        .join("models--org--a/snapshots")
        .join(REV2);
    assert_eq!(fs::read(main.join("model.bin")).unwrap(), f.big);
    assert_eq!(fs::read(main.join("onnx/model.onnx")).unwrap().len(), 500);
    assert!(after.find("org/b").unwrap().partial.is_empty());
    assert!(after.orphans.is_empty());
    assert!(plan::prune(&after, &PruneOptions::default()).is_empty());
}

fn set_times(dir: &Path, when: SystemTime) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            set_times(&entry.path(), when);
        } else if kind.is_file() {
            let times = fs::FileTimes::new().set_accessed(when).set_modified(when);
            fs::File::options()
                .write(true)
                .open(entry.path())
                .unwrap()
                .set_times(times)
                .unwrap();
        }
    }
}

#[test]
fn prune_by_age_and_by_size_goes_by_last_use_including_hoards_record() {
    let f = fixture();
    let long_ago = SystemTime::now() - Duration::from_secs(90 * 24 * 3600);
    set_times(&f.layout.root, long_ago);
    set_times(&f.layout.app_caches["tmdb"], long_ago);
    // Used recently, as far as hoard knows (atime may not be kept on this mount).
    let now = hoard_models::usage::now_ms();
    hoard_models::usage::mark(&f.layout, &["org/b"], now).unwrap();
    let mut inventory = scan(&f.layout);
    hoard_models::usage::apply(&mut inventory, &hoard_models::usage::load(&f.layout));
    let by_age = plan::prune(
        &inventory,
        &PruneOptions {
            older_than: Some(Duration::from_secs(30 * 24 * 3600)),
            now_ms: now,
            ..PruneOptions::default()
        },
    );
    let removed: Vec<&Path> = by_age.actions.iter().map(|a| a.path.as_path()).collect();
    let b = inventory.find("org/b").unwrap();
    assert!(!removed.contains(&b.path.as_path()), "org/b was used");
    assert!(removed.contains(&inventory.find("org/a").unwrap().path.as_path()));
    assert!(removed.contains(&inventory.find("torch:silero.pt").unwrap().path.as_path()));

    // Budget: the stores hold 8,000-odd bytes; keep at most 3,000, oldest go first.
    let total: u64 = inventory.store_sizes().values().sum();
    let by_size = plan::prune(
        &inventory,
        &PruneOptions {
            max_size: Some(ByteSize::b(3000)),
            now_ms: now,
            ..PruneOptions::default()
        },
    );
    assert!(
        total - by_size.bytes() <= 3000,
        "{total} - {}",
        by_size.bytes()
    );
    let removed: Vec<&Path> = by_size.actions.iter().map(|a| a.path.as_path()).collect();
    assert!(
        !removed.contains(&b.path.as_path()),
        "the most recently used stays"
    );
}

#[test]
fn clear_takes_one_store_or_all() {
    let f = fixture();
    let plan = plan::clear(&scan(&f.layout), Some(Store::Torch));
    assert_eq!(plan.actions.len(), 2);
    plan.execute(&f.layout);
    let after = scan(&f.layout);
    assert!(after.items.iter().all(|i| i.store != Store::Torch));
    assert!(after.find("org/a").is_some());
    plan::clear(&after, None).execute(&f.layout);
    let empty = scan(&f.layout);
    assert!(empty
        .items
        .iter()
        .all(|i| i.store == Store::App && i.size == 0));
    assert!(
        f.layout.app_caches["tmdb"].is_dir(),
        "an app cache keeps its folder"
    );
}

#[test]
fn nothing_outside_the_roots_is_ever_removed() {
    let f = fixture();
    let outside = f.base.join("precious");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("thesis.pdf"), b"years of work").unwrap();
    // A symlink inside an app cache pointing out: removing the cache removes the link only.
    std::os::unix::fs::symlink(&outside, f.layout.app_caches["tmdb"].join("link")).unwrap();
    let forged = Plan {
        actions: vec![
            Action {
                path: outside.join("thesis.pdf"),
                bytes: 13,
                what: "not ours".into(),
            },
            Action {
                path: f.layout.root.clone(),
                bytes: 0,
                what: "a root itself".into(),
            },
            Action {
                path: f.layout.root.join("huggingface/hub/../../../precious"),
                bytes: 0,
                what: "dot-dot".into(),
            },
        ],
    };
    let outcome = forged.execute(&f.layout);
    assert_eq!(outcome.removed, 0);
    assert_eq!(outcome.failed.len(), 3);
    assert!(outside.join("thesis.pdf").exists());
    assert!(f.layout.root.exists());
    plan::rm(&scan(&f.layout), &["app:tmdb"])
        .unwrap()
        .execute(&f.layout);
    assert!(!exists(&f.layout.app_caches["tmdb"].join("link")));
    assert_eq!(
        fs::read(outside.join("thesis.pdf")).unwrap(),
        b"years of work"
    );
}

#[test]
fn warm_copies_what_is_missing_and_runs_commands_until_done() {
    let f = fixture();
    let nas = f.base.join("nas/whisper");
    fs::create_dir_all(nas.join("sub")).unwrap();
    fs::write(nas.join("base.pt"), [1u8; 4096]).unwrap();
    fs::write(nas.join("sub/tokenizer.json"), b"{}").unwrap();
    let copy = hoard_models::warm::WarmStep {
        copy: Some(nas.clone()),
        to: Some("torch/whisper".into()),
        ..Default::default()
    };
    let need = hoard_models::warm::need("whisper", &copy, &f.layout).unwrap();
    assert_eq!(need.bytes(), Some(4098));
    let progress = std::cell::Cell::new((0, 0));
    hoard_models::warm::run("whisper", &need, &f.layout, &|done, total| {
        progress.set((done, total))
    })
    .unwrap();
    assert_eq!(progress.get(), (4098, 4098));
    let copied = f.layout.torch.join("whisper");
    assert_eq!(fs::read(copied.join("base.pt")).unwrap(), [1u8; 4096]);
    assert_eq!(
        hoard_models::warm::need("whisper", &copy, &f.layout).unwrap(),
        hoard_models::warm::Need::Done
    );
    fs::write(copied.join("base.pt"), b"cut").unwrap();
    let again = hoard_models::warm::need("whisper", &copy, &f.layout).unwrap();
    assert_eq!(
        again.bytes(),
        Some(4096),
        "a file of the wrong size is fetched again"
    );

    let download = hoard_models::warm::WarmStep {
        run: Some(vec![
            "sh".into(),
            "-c".into(),
            "mkdir -p \"$HF_HUB_CACHE/models--x--y\"".into(),
        ]),
        creates: Some("huggingface/hub/models--x--y".into()),
        ..Default::default()
    };
    let need = hoard_models::warm::need("xy", &download, &f.layout).unwrap();
    assert!(matches!(need, hoard_models::warm::Need::Run(_)));
    hoard_models::warm::run("xy", &need, &f.layout, &|_, _| {}).unwrap();
    assert_eq!(
        hoard_models::warm::need("xy", &download, &f.layout).unwrap(),
        hoard_models::warm::Need::Done,
        "the command saw HF_HUB_CACHE and created what it should"
    );
    let escape = hoard_models::warm::WarmStep {
        copy: Some(nas),
        to: Some("../outside".into()),
        ..Default::default()
    };
    assert!(hoard_models::warm::need("bad", &escape, &f.layout).is_err());
    let failing = hoard_models::warm::WarmStep {
        run: Some(vec!["false".into()]),
        ..Default::default()
    };
    let need = hoard_models::warm::need("f", &failing, &f.layout).unwrap();
    assert!(hoard_models::warm::run("f", &need, &f.layout, &|_, _| {}).is_err());
}

#[test]
fn doctor_finds_the_problems_of_seed_001() {
    let f = fixture();
    // The user's default cache also holds org/a: a second download.
    let home = f.base.join("home");
    hf_revision(
        &home.join(".cache/huggingface/hub"),
        "models--org--a",
        REV2,
        &["main"],
        &[HfFile {
            name: "model.bin",
            content: &f.big,
            lfs: true,
        }],
    );
    fs::create_dir_all(f.base.join("shared/model-cache/torch")).unwrap();
    let env = |name: &str| (name == "TORCH_HOME").then(|| "/somewhere/else".to_owned());
    let inventory = scan(&f.layout);
    let findings = hoard_models::doctor::check(&f.layout, &inventory, Some(&home), &env);
    let kinds: Vec<&str> = findings.iter().map(|f| f.kind).collect();
    for kind in [
        "split_cache",
        "env_mismatch",
        "legacy_folder",
        "broken_symlink",
        "partial_download",
        "detached_revisions",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    let split = findings.iter().find(|f| f.kind == "split_cache").unwrap();
    assert!(
        split.message.contains("downloaded twice: org/a"),
        "{}",
        split.message
    );
    let mismatch = findings.iter().find(|f| f.kind == "env_mismatch").unwrap();
    assert!(mismatch.message.contains("$TORCH_HOME is /somewhere/else"));
    assert!(findings.iter().all(|f| !f.fix.is_empty()));

    // A clean layout: nothing to report.
    let clean = Layout::new(
        &ModelsConfig {
            root: Some("clean".into()),
            ..ModelsConfig::default()
        },
        &f.base,
    );
    let none = |_: &str| None;
    assert!(hoard_models::doctor::check(
        &clean,
        &scan(&clean),
        Some(&f.base.join("nohome")),
        &none
    )
    .is_empty());
}

#[test]
fn touch_records_known_ids_and_refuses_unknown_ones_before_writing() {
    let f = fixture();
    let inventory = hoard_models::scan::inventory(&f.layout);
    let refused = hoard_models::usage::touch(&f.layout, &inventory, &["org/a", "org/none"], 42);
    assert!(matches!(
        refused,
        Err(hoard_models::ModelsError::UnknownId(id)) if id == "org/none"
    ));
    assert!(
        hoard_models::usage::load(&f.layout).is_empty(),
        "nothing written"
    );
    hoard_models::usage::touch(&f.layout, &inventory, &["org/a", "torch:silero.pt"], 42).unwrap();
    let records = hoard_models::usage::load(&f.layout);
    assert_eq!(records.get("org/a"), Some(&42));
    assert_eq!(records.get("torch:silero.pt"), Some(&42));
    // What the commands see: the record raises an older atime.
    let seen = hoard_models::scan::inventory(&f.layout);
    assert!(seen.find("org/a").unwrap().last_accessed_ms >= Some(42));
}

#[test]
fn filling_a_warm_step_records_its_models_as_used() {
    let f = fixture();
    let nas = f.base.join("nas");
    fs::create_dir_all(&nas).unwrap();
    fs::write(nas.join("base.pt"), [1u8; 2048]).unwrap();
    let step = hoard_models::warm::WarmStep {
        copy: Some(nas.join("base.pt")),
        to: Some("torch/hub/checkpoints/base.pt".into()),
        ..Default::default()
    };
    assert!(
        hoard_models::warm::filled_ids(&f.layout, &step).is_empty(),
        "not there yet"
    );
    let need = hoard_models::warm::need("whisper", &step, &f.layout).unwrap();
    hoard_models::warm::fill("whisper", &step, &need, &f.layout, &|_, _| {}).unwrap();
    assert_eq!(
        hoard_models::warm::filled_ids(&f.layout, &step),
        ["torch:base.pt"]
    );
    let records = hoard_models::usage::load(&f.layout);
    assert_eq!(records.keys().collect::<Vec<_>>(), ["torch:base.pt"]);
    // A step without a target fills nothing hoard can name.
    let download = hoard_models::warm::WarmStep {
        run: Some(vec!["true".into()]),
        ..Default::default()
    };
    assert!(hoard_models::warm::filled_ids(&f.layout, &download).is_empty());
}

#[test]
fn store_usage_lists_every_store_with_its_items() {
    let f = fixture();
    let inventory = scan(&f.layout);
    let usage = inventory.store_usage();
    let stores: Vec<Store> = usage.iter().map(|u| u.store).collect();
    assert_eq!(stores, Store::ALL);
    let sizes = inventory.store_sizes();
    for store in &usage {
        assert_eq!(store.bytes, sizes.get(&store.store).copied().unwrap_or(0));
        let items = inventory
            .items
            .iter()
            .filter(|i| i.store == store.store)
            .count();
        assert_eq!(store.items, items);
    }
    let mlx = usage.iter().find(|u| u.store == Store::Mlx).unwrap();
    assert_eq!(
        (mlx.bytes, mlx.items),
        (0, 0),
        "an empty store is listed too"
    );
}

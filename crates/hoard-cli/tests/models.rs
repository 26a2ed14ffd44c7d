//! `hoard models`, run as a user would: a config file, generated stores, real child
//! processes for `exec`, no terminal on stdin (as in CI and scripts).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard_testkit::stores::{hf_revision, HfFile};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

struct Setup {
    dir: hoard_testkit::TempDir,
    config: PathBuf,
}

fn setup() -> Setup {
    let dir = hoard_testkit::temp_dir();
    let config = dir.path().join("hoard.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\nroot = {:?}\n[models.app_caches]\ntmdb = {:?}\n",
            dir.path().join("models root"),
            dir.path().join("out/tmdb_cache")
        ),
    )
    .unwrap();
    Setup { dir, config }
}

impl Setup {
    fn hoard(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hoard"))
            .arg("models")
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("HOARD_CONFIG")
            .env_remove("HOARD_MODELS_ROOT")
            .stdin(Stdio::null())
            .output()
            .expect("running hoard")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("models root")
    }

    fn hub(&self) -> PathBuf {
        self.root().join("huggingface/hub")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn env_prints_absolute_paths_for_every_shell_and_sh_can_eval_it() {
    let s = setup();
    let out = s.hoard(&["env", "--shell", "json"]);
    assert!(out.status.success(), "{out:?}");
    let vars: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hf_home = s.root().join("huggingface").display().to_string();
    assert_eq!(vars["HF_HOME"], hf_home.as_str());
    assert_eq!(vars["HF_HUB_CACHE"], format!("{hf_home}/hub").as_str());
    assert_eq!(
        vars["TORCH_HOME"],
        s.root().join("torch").display().to_string().as_str()
    );
    assert!(vars["HOARD_APP_CACHE_TMDB"]
        .as_str()
        .unwrap()
        .ends_with("out/tmdb_cache"));
    let posix = text(&s.hoard(&["env"]).stdout);
    // The root has a space in its name: the quoting must survive eval.
    let shown = Command::new("sh")
        .arg("-c")
        .arg(format!("{posix}\nprintf %s \"$HF_HOME\""))
        .output()
        .unwrap();
    assert_eq!(text(&shown.stdout), hf_home);
    assert!(text(&s.hoard(&["env", "--shell", "fish"]).stdout).contains("set -gx TORCH_HOME '"));
    assert!(text(&s.hoard(&["env", "--shell", "powershell"]).stdout).contains("$env:HF_HOME = '"));
    let bad = s.hoard(&["env", "--shell", "tcsh"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("unknown shell"));
}

#[test]
fn exec_gives_the_child_every_variable_and_passes_its_exit_code_back() {
    let s = setup();
    let vars: Value = serde_json::from_slice(&s.hoard(&["env", "--shell", "json"]).stdout).unwrap();
    // The child checks each variable itself and exits 0 only if all match.
    let checks: Vec<String> = vars
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| format!("[ \"${name}\" = '{}' ] || exit 90", value.as_str().unwrap()))
        .collect();
    let script = format!("{}\nexit 0", checks.join("\n"));
    let out = s.hoard(&["exec", "--", "sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = s.hoard(&["exec", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = s.hoard(&["exec", "--", "/no/such/program"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot run /no/such/program"));
}

#[cfg(unix)]
#[test]
fn exec_lets_signals_reach_the_command() {
    use std::os::unix::process::ExitStatusExt;
    let s = setup();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(["models", "--config"])
        .arg(&s.config)
        .args(["exec", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    // `hoard models exec` execs the command in its own process: signal it only once that
    // process runs `sleep`, or the signal would reach hoard itself and prove nothing.
    let pid = child.id();
    let became_sleep = hoard_testkit::wait_until(std::time::Duration::from_secs(10), || {
        process_name(pid).as_deref() == Some("sleep")
    });
    assert!(
        became_sleep,
        "hoard never exec'd sleep: {:?}",
        process_name(pid)
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(15), "sleep itself received SIGTERM");
}

/// The name of the program process `pid` runs, if it still runs.
#[cfg(unix)]
fn process_name(pid: u32) -> Option<String> {
    // /proc where there is one (Linux); `ps` elsewhere.
    let name = match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(name) => name,
        Err(_) => {
            let out = Command::new("ps")
                .args(["-o", "comm=", "-p", &pid.to_string()])
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let name = name.trim();
    // `ps` may print the program's path.
    let name = name.rsplit('/').next().unwrap_or(name);
    (!name.is_empty()).then(|| name.to_owned())
}

fn populate(s: &Setup) {
    hf_revision(
        &s.hub(),
        "models--org--small",
        "1111111111111111111111111111111111111111",
        &["main"],
        &[HfFile {
            name: "w.bin",
            content: &[1u8; 1000],
            lfs: true,
        }],
    );
    hf_revision(
        &s.hub(),
        "models--org--big",
        "2222222222222222222222222222222222222222",
        &["main"],
        &[HfFile {
            name: "w.bin",
            content: &[2u8; 5000],
            lfs: true,
        }],
    );
    let checkpoints = s.root().join("torch/hub/checkpoints");
    std::fs::create_dir_all(&checkpoints).unwrap();
    std::fs::write(checkpoints.join("vad.pt"), [3u8; 3000]).unwrap();
}

#[test]
fn ls_sorts_filters_and_formats() {
    let s = setup();
    populate(&s);
    let out = s.hoard(&["ls", "-q"]);
    assert_eq!(text(&out.stdout), "org/big\ntorch:vad.pt\norg/small\n");
    let out = s.hoard(&["ls", "-q", "--sort", "name", "--filter", "size>2KiB"]);
    assert_eq!(text(&out.stdout), "org/big\ntorch:vad.pt\n");
    let out = s.hoard(&["ls", "-q", "--filter", "store=torch"]);
    assert_eq!(text(&out.stdout), "torch:vad.pt\n");
    let out = s.hoard(&["ls", "-q", "--filter", "age>30d"]);
    assert_eq!(text(&out.stdout), "", "everything was just written");
    let json: Value = serde_json::from_slice(&s.hoard(&["ls", "--format", "json"]).stdout).unwrap();
    assert_eq!(json[0]["id"], "org/big");
    assert_eq!(json[0]["size"], 5000);
    assert_eq!(json[0]["store"], "huggingface");
    let csv = text(&s.hoard(&["ls", "--format", "csv"]).stdout);
    assert!(csv.starts_with("id,store,size,revisions,"), "{csv}");
    assert!(csv.contains("\ntorch:vad.pt,torch,3000,1,"), "{csv}");
    let table = text(&s.hoard(&["ls"]).stdout);
    assert!(
        table.lines().nth(1).unwrap().starts_with("org/big"),
        "{table}"
    );
    let bad = s.hoard(&["ls", "--filter", "colour=red"]);
    assert_eq!(bad.status.code(), Some(1));
    let size = text(&s.hoard(&["size"]).stdout);
    assert!(
        size.contains("huggingface") && size.contains("5.9 KiB"),
        "{size}"
    );
}

#[test]
fn ls_columns_line_up_around_a_long_model_id() {
    let s = setup();
    populate(&s);
    let long = "an-organisation-with-a-long-name/a-model-whose-id-is-longer-than-its-column";
    hf_revision(
        &s.hub(),
        &format!("models--{}", long.replace('/', "--")),
        "3333333333333333333333333333333333333333",
        &["main"],
        &[HfFile {
            name: "w.bin",
            content: &[4u8; 2000],
            lfs: true,
        }],
    );
    let out = s.hoard(&["ls", "--sort", "name"]);
    assert!(out.status.success(), "{out:?}");
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(
        lines[1].starts_with(&format!("{long} huggingface ")),
        "{table}"
    );
    // Every column starts where the header's does and the last one ends with it: each
    // line is as long as the header.
    let store_at = lines[0].find("store").unwrap();
    assert_eq!(store_at, long.len() + 1, "{table}");
    for (line, store) in
        lines[1..]
            .iter()
            .zip(["huggingface", "huggingface", "huggingface", "torch"])
    {
        assert_eq!(&line[store_at..store_at + store.len()], store, "{table}");
        assert_eq!(line.len(), lines[0].len(), "{table}");
        let size_end = lines[0].find("size").unwrap() + "size".len();
        assert!(line[..size_end].ends_with("B"), "{table}");
    }
}

#[test]
fn destructive_commands_need_a_terminal_or_yes() {
    let s = setup();
    populate(&s);
    let big = s.hub().join("models--org--big");
    for args in [
        vec!["rm", "org/big"],
        vec!["clear"],
        vec!["clear", "huggingface"],
        vec!["prune", "--max-size", "1"],
    ] {
        let out = s.hoard(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("without a terminal") && err.contains("--yes"),
            "{err}"
        );
        assert!(big.exists(), "{args:?} changed something");
    }
    let out = s.hoard(&["rm", "org/big", "--dry-run"]);
    assert!(out.status.success());
    let plan = text(&out.stdout);
    assert!(
        plan.contains("org/big") && plan.contains("4.9 KiB to free"),
        "{plan}"
    );
    assert!(big.exists());
    let out = s.hoard(&["rm", "org/big", "--yes"]);
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("freed 4.9 KiB"));
    assert!(!big.exists());
    assert!(s.hub().join("models--org--small").exists());
    let out = s.hoard(&["rm", "org/nope", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no cached model \"org/nope\""));
}

#[test]
fn init_creates_tagged_folders_and_dir_prints_them() {
    let s = setup();
    let out = s.hoard(&["init"]);
    assert!(out.status.success(), "{out:?}");
    assert!(s.hub().is_dir());
    assert!(s.root().join("torch/hub/checkpoints").is_dir());
    let tag = std::fs::read_to_string(s.root().join("CACHEDIR.TAG")).unwrap();
    assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"));
    assert!(s.dir.path().join("out/tmdb_cache/CACHEDIR.TAG").exists());
    let out = s.hoard(&["dir", "torch"]);
    assert_eq!(
        text(&out.stdout).trim(),
        s.root().join("torch").display().to_string()
    );
    let all = text(&s.hoard(&["dir"]).stdout);
    assert!(all.contains("app:tmdb"), "{all}");
}

/// `hoard models` reads `[models]` only: a value in `[server]` or `[cache]` that `hoard
/// serve` would refuse does not stop it, while a bad `[models]` value does, naming the file
/// and the key.
#[test]
fn models_ignores_values_of_other_sections_but_not_its_own() {
    let s = setup();
    let mut text_of = std::fs::read_to_string(&s.config).unwrap();
    text_of.push_str(
        "[server]\nmax_body = \"lots\"\naddr = \"nowhere\"\n[cache]\nmemory = \"huge\"\n",
    );
    std::fs::write(&s.config, &text_of).unwrap();
    let out = s.hoard(&["dir", "torch"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout).trim(),
        s.root().join("torch").display().to_string()
    );
    let serve = Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(["serve", "--config"])
        .arg(&s.config)
        .env_remove("HOARD_CONFIG")
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(1), "{serve:?}");
    let err = text(&serve.stderr);
    assert!(
        err.contains(&s.config.display().to_string()) && err.contains("cache.memory"),
        "{err}"
    );
    std::fs::write(
        &s.config,
        text_of.replace("[models]\n", "[models]\nrot = \"x\"\n"),
    )
    .unwrap();
    let out = s.hoard(&["dir"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: models.rot: unknown field",
            s.config.display()
        )),
        "{err}"
    );
}

#[test]
fn doctor_and_touch_and_warm_dry_run() {
    let s = setup();
    populate(&s);
    std::fs::write(
        s.hub().join("models--org--small/blobs/x.incomplete"),
        b"part",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hoard"))
        .args(["models", "--config"])
        .arg(&s.config)
        .arg("doctor")
        .env("HOME", s.dir.path().join("home"))
        .env("HF_HOME", "/elsewhere")
        .output()
        .unwrap();
    let report = text(&out.stdout);
    assert!(report.contains("[partial_download] org/small"), "{report}");
    assert!(
        report.contains("[env_mismatch] $HF_HOME is /elsewhere"),
        "{report}"
    );

    let out = s.hoard(&["touch", "org/small"]);
    assert!(out.status.success(), "{out:?}");
    let usage: Value =
        serde_json::from_slice(&std::fs::read(s.root().join(".hoard-usage.json")).unwrap())
            .unwrap();
    assert!(usage["org/small"].as_i64().unwrap() > 0);
    assert_eq!(s.hoard(&["touch", "org/none"]).status.code(), Some(1));

    let nas = s.dir.path().join("nas");
    std::fs::create_dir_all(&nas).unwrap();
    std::fs::write(nas.join("w.pt"), [0u8; 2048]).unwrap();
    let mut config = std::fs::read_to_string(&s.config).unwrap();
    config.push_str(&format!(
        "[models.warm.weights]\ncopy = {:?}\nto = \"torch/hub/checkpoints/w.pt\"\n",
        nas.join("w.pt")
    ));
    std::fs::write(&s.config, config).unwrap();
    let out = s.hoard(&["warm", "--dry-run"]);
    assert_eq!(
        text(&out.stdout).trim(),
        "weights: would copy 1 files, 2.0 KiB"
    );
    assert!(!s.root().join("torch/hub/checkpoints/w.pt").exists());
    let out = s.hoard(&["warm"]);
    assert!(out.status.success(), "{out:?}");
    assert!(s.root().join("torch/hub/checkpoints/w.pt").exists());
    assert!(text(&s.hoard(&["warm"]).stdout).contains("weights: complete, skipped"));
}

/// Budgets: `doctor` exits non-zero while a store or the total is over its budget and
/// says what pruning by the budgets frees; `prune --budgets` removes the least recently
/// used until every budget holds, and `doctor` then passes.
#[test]
fn doctor_fails_over_budget_until_prune_by_the_budgets() {
    let s = setup();
    populate(&s);
    // Hugging Face holds 6,000 bytes (1,000 + 5,000), torch 3,000: both budgets are over.
    std::fs::write(
        &s.config,
        format!(
            "[models]\nroot = {:?}\nmax_size = 8000\n[models.store_max_size]\nhuggingface = \"4KiB\"\n",
            s.root()
        ),
    )
    .unwrap();
    let out = s.hoard(&["touch", "org/small"]);
    assert!(out.status.success(), "{out:?}");
    let out = s.hoard(&["doctor"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = text(&out.stdout);
    assert!(
        report.contains("[over_budget] huggingface hold 5.9 KiB, over the budget of 4.0 KiB"),
        "{report}"
    );
    assert!(
        report.contains(
            "[over_budget] the model caches together hold 8.8 KiB, over the budget of 7.8 KiB"
        ),
        "{report}"
    );
    assert!(
        report.contains("`hoard models prune --budgets` frees 4.9 KiB (1 path(s))"),
        "{report}"
    );
    assert_eq!(
        text(&out.stderr).trim(),
        "hoard: over budget: all, huggingface"
    );
    let json: Value = serde_json::from_slice(&s.hoard(&["doctor", "--json"]).stdout).unwrap();
    let kinds: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["over_budget", "over_budget"]);

    let out = s.hoard(&["prune", "--budgets", "--yes"]);
    assert!(out.status.success(), "{out:?}");
    let out = s.hoard(&["ls", "-q"]);
    assert_eq!(
        text(&out.stdout),
        "torch:vad.pt\norg/small\n",
        "org/big was the older"
    );
    let out = s.hoard(&["doctor"]);
    assert!(out.status.success(), "{out:?}");

    // Without budgets, --budgets is refused with the reason.
    std::fs::write(&s.config, format!("[models]\nroot = {:?}\n", s.root())).unwrap();
    let out = s.hoard(&["prune", "--budgets", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("sets no budget"), "{out:?}");
    // A budget for a store hoard does not know is a clear configuration error.
    std::fs::write(
        &s.config,
        "[models]\n[models.store_max_size]\nhugginface = \"1GiB\"\n",
    )
    .unwrap();
    let out = s.hoard(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown store \"hugginface\"") && err.contains("huggingface (or hf)"),
        "{err}"
    );
}

/// `dedup --also` with a folder that is not there is refused, not taken as empty.
#[test]
fn dedup_refuses_an_also_folder_that_is_not_there() {
    let s = setup();
    let out = s.hoard(&["dedup", "--also", "/nonexistent/hf-cache"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("--also /nonexistent/hf-cache: no such folder"),
        "{err}"
    );
    let out = s.hoard(&["dedup"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out.stdout).contains("--link would free 0 B"),
        "{out:?}"
    );
}

/// A warm-up step whose tool is missing: named with what to install, the other steps still
/// run, and the command fails at the end naming it; `--fail-fast` stops at it.
#[test]
fn a_failing_warm_step_does_not_stop_the_others() {
    let s = setup();
    let nas = s.dir.path().join("nas");
    std::fs::create_dir_all(&nas).unwrap();
    std::fs::write(nas.join("w.pt"), [0u8; 100]).unwrap();
    let mut config = std::fs::read_to_string(&s.config).unwrap();
    config.push_str(&format!(
        "[models.warm.a_download]\nrun = [\"hoard-no-such-tool\", \"download\"]\ncreates = \"huggingface/hub/models--x--y\"\n\
         [models.warm.b_copy]\ncopy = {:?}\nto = \"torch/hub/checkpoints/w.pt\"\n",
        nas.join("w.pt")
    ));
    std::fs::write(&s.config, config).unwrap();
    let out = s.hoard(&["warm", "--fail-fast"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !s.root().join("torch/hub/checkpoints/w.pt").exists(),
        "stopped at the first"
    );
    let out = s.hoard(&["warm"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("a_download")
            && err.contains("is hoard-no-such-tool installed and on the PATH?"),
        "{err}"
    );
    assert!(
        err.contains("1 of 2 warm-up steps failed: a_download"),
        "{err}"
    );
    assert!(
        s.root().join("torch/hub/checkpoints/w.pt").exists(),
        "the copy still ran"
    );
}

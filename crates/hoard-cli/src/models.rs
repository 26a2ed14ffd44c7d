//! `hoard models ...`: where model weights live, what is cached, and reclaiming space.

use crate::output::{human_bytes, Progress};
use anyhow::{bail, Context};
use hoard_models::plan::{Plan, PruneOptions};
use hoard_models::{Inventory, Item, Layout, Store};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `hoard models` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Print the store folders (all, or one store's).
    Dir {
        /// huggingface, torch, ollama, mlx, root, or app:NAME.
        store: Option<String>,
    },
    /// Print the environment variables that point every library at the configured stores.
    Env {
        /// sh, bash, zsh, fish, powershell (pwsh) or json.
        #[arg(long, default_value = "sh")]
        shell: String,
    },
    /// Run a command with those variables set; its exit code is hoard's.
    Exec {
        /// The command and its arguments (after `--`).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Create the store folders, each cache marked with a CACHEDIR.TAG.
    Init,
    /// Every cached model across stores.
    Ls {
        /// Sort by size, name, store, accessed or modified (largest / newest first).
        #[arg(long, default_value = "size")]
        sort: String,
        /// Keep items matching: size>1GiB, size<100MiB, age>30d (unused for longer than),
        /// age<1d, store=huggingface. Repeat to combine.
        #[arg(long, value_name = "EXPR")]
        filter: Vec<String>,
        /// table, json or csv.
        #[arg(long, default_value = "table")]
        format: String,
        /// Print ids only.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Bytes per store.
    Size {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove cached models by id (as `ls` shows them).
    Rm {
        /// Ids: org/name, dataset:org/name, torch:FILE, ollama:MODEL:TAG, app:NAME, ...
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Remove detached revisions, partial downloads and unused Ollama layers; with flags,
    /// also models unused for a while or the least recently used over a size budget.
    Prune {
        /// Also remove models not used for longer than this (30d, 12h, ...).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        /// Also remove the least recently used models until the stores hold at most this.
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Remove everything in one store (or in all).
    Clear {
        /// huggingface, torch, ollama, mlx or app; none: every store.
        store: Option<String>,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Find files stored more than once; --link replaces copies with hard links.
    Dedup {
        /// Replace each copy with a hard link to one file (same file system only).
        #[arg(long)]
        link: bool,
        /// Ignore files smaller than this.
        #[arg(long, default_value = "1MiB")]
        min_size: String,
        /// Also look in this folder (such as ~/.cache/huggingface); never modified.
        #[arg(long, value_name = "DIR")]
        also: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Find the problems of scattered caches and say what to do.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the [models.warm.*] steps: copy or download what is not complete yet.
    Warm {
        /// Print what would be fetched, and its size where known.
        #[arg(long)]
        dry_run: bool,
    },
    /// Record models as used now (where atime is not kept, this is what prune's
    /// --older-than and --max-size go by).
    Touch {
        /// Ids as `ls` shows them.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// Flags of the destructive verbs.
#[derive(Debug, clap::Args)]
pub struct Confirm {
    /// Do it without asking (needed when there is no terminal to ask on).
    #[arg(long, short)]
    yes: bool,
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs one verb with the `[models]` section of the configuration at `config`.
pub fn run(config: Option<&Path>, command: ModelsCommand) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok();
    let loaded = hoard_server::Config::load(config, &env, &Default::default())?;
    let base = std::env::current_dir().context("reading the working directory")?;
    let models = loaded.models()?;
    let layout = Layout::new(&models, &base);
    match command {
        ModelsCommand::Dir { store } => dir(&layout, store.as_deref()),
        ModelsCommand::Env { shell } => {
            let shell = hoard_models::layout::Shell::parse(&shell).with_context(|| {
                format!("unknown shell {shell:?}: use sh, bash, zsh, fish, powershell or json")
            })?;
            print!("{}", hoard_models::layout::render_env(&layout.env(), shell));
            Ok(())
        }
        ModelsCommand::Exec { command } => exec(&layout, &command),
        ModelsCommand::Init => init(&layout),
        ModelsCommand::Ls {
            sort,
            filter,
            format,
            quiet,
        } => ls(&layout, &sort, &filter, &format, quiet),
        ModelsCommand::Size { json } => size(&layout, json),
        ModelsCommand::Rm { ids, confirm } => {
            let plan = hoard_models::plan::rm(&inventory(&layout), &ids)?;
            apply(&layout, &plan, &confirm)
        }
        ModelsCommand::Prune {
            older_than,
            max_size,
            confirm,
        } => {
            let options = PruneOptions {
                older_than: older_than
                    .map(|text| hoard::ttl::parse_duration(&text))
                    .transpose()?,
                max_size: max_size
                    .map(|text| hoard_server::config::parse_size(&text).map_err(anyhow::Error::msg))
                    .transpose()?,
                now_ms: hoard_models::usage::now_ms(),
            };
            let plan = hoard_models::plan::prune(&inventory(&layout), &options);
            apply(&layout, &plan, &confirm)
        }
        ModelsCommand::Clear { store, confirm } => {
            let store = store.map(|name| parse_store(&name)).transpose()?;
            let plan = hoard_models::plan::clear(&inventory(&layout), store);
            apply(&layout, &plan, &confirm)
        }
        ModelsCommand::Dedup {
            link,
            min_size,
            also,
            json,
            confirm,
        } => dedup(&layout, link, &min_size, also, json, &confirm),
        ModelsCommand::Doctor { json } => doctor(&layout, json),
        ModelsCommand::Warm { dry_run } => warm(&layout, &models, dry_run),
        ModelsCommand::Touch { ids } => {
            let inventory = inventory(&layout);
            for id in &ids {
                if inventory.find(id).is_none() {
                    bail!("no cached model {id:?} (see `hoard models ls`)");
                }
            }
            hoard_models::usage::mark(&layout, &ids, hoard_models::usage::now_ms()).with_context(
                || format!("writing {}", hoard_models::usage::file(&layout).display()),
            )
        }
    }
}

fn inventory(layout: &Layout) -> Inventory {
    let mut inventory = hoard_models::scan::scan(layout);
    hoard_models::usage::apply(&mut inventory, &hoard_models::usage::load(layout));
    inventory
}

fn parse_store(name: &str) -> anyhow::Result<Store> {
    Store::parse(name).with_context(|| {
        format!("unknown store {name:?}: use huggingface, torch, ollama, mlx or app")
    })
}

fn dir(layout: &Layout, store: Option<&str>) -> anyhow::Result<()> {
    let mut rows: Vec<(String, PathBuf)> = vec![
        ("root".into(), layout.root.clone()),
        ("huggingface".into(), layout.huggingface.clone()),
        ("torch".into(), layout.torch.clone()),
        ("ollama".into(), layout.ollama.clone()),
        ("mlx".into(), layout.mlx.clone()),
    ];
    rows.extend(
        layout
            .app_caches
            .iter()
            .map(|(name, path)| (format!("app:{name}"), path.clone())),
    );
    match store {
        Some(wanted) => {
            let (_, path) = rows
                .iter()
                .find(|(name, _)| name == wanted || (wanted == "hf" && name == "huggingface"))
                .with_context(|| format!("unknown store {wanted:?}"))?;
            println!("{}", path.display());
        }
        None => {
            for (name, path) in rows {
                println!("{name:<16}{}", path.display());
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn exec(layout: &Layout, command: &[String]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    // exec replaces hoard with the command: signals reach it directly and its exit code
    // is the process's, with nothing in between to forward or translate.
    let error = std::process::Command::new(&command[0])
        .args(&command[1..])
        .envs(layout.env())
        .exec();
    Err(error).with_context(|| format!("cannot run {}", command[0]))
}

#[cfg(not(unix))]
fn exec(layout: &Layout, command: &[String]) -> anyhow::Result<()> {
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .envs(layout.env())
        .status()
        .with_context(|| format!("cannot run {}", command[0]))?;
    std::process::exit(status.code().unwrap_or(1));
}

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n# This directory is a cache of model files, managed by hoard (hoard models).\n# For information about cache directory tags see https://bford.info/cachedir/\n";

fn init(layout: &Layout) -> anyhow::Result<()> {
    let mut folders = vec![
        layout.hf_hub(),
        layout.torch_hub().join("checkpoints"),
        layout.ollama.clone(),
        layout.mlx.clone(),
    ];
    folders.extend(layout.app_caches.values().cloned());
    // A tag in the root covers every store inside it; stores elsewhere get their own.
    let mut tagged = vec![layout.root.clone()];
    for store in [
        &layout.huggingface,
        &layout.torch,
        &layout.ollama,
        &layout.mlx,
    ] {
        if !store.starts_with(&layout.root) {
            tagged.push(store.clone());
        }
    }
    tagged.extend(layout.app_caches.values().cloned());
    for folder in folders.iter().chain(&tagged) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating {}", folder.display()))?;
    }
    for folder in &tagged {
        let tag = folder.join("CACHEDIR.TAG");
        if !tag.exists() {
            std::fs::write(&tag, CACHEDIR_TAG)
                .with_context(|| format!("writing {}", tag.display()))?;
        }
    }
    for folder in folders {
        println!("{}", folder.display());
    }
    Ok(())
}

/// One `--filter` expression.
struct Filter {
    field: String,
    op: char,
    value: String,
}

fn parse_filter(text: &str) -> anyhow::Result<Filter> {
    let at = text
        .find(['<', '>', '='])
        .with_context(|| format!("filter {text:?}: use size>1GiB, age>30d or store=torch"))?;
    let field = text[..at].trim().to_owned();
    let op = text[at..].chars().next().unwrap_or('=');
    let value = text[at + 1..].trim_start_matches('=').trim().to_owned();
    if !["size", "age", "store"].contains(&field.as_str()) {
        bail!("filter {text:?}: the fields are size, age and store");
    }
    Ok(Filter { field, op, value })
}

fn keep(item: &Item, filter: &Filter, now_ms: i64) -> anyhow::Result<bool> {
    let compare = |actual: u64, wanted: u64| match filter.op {
        '>' => actual > wanted,
        '<' => actual < wanted,
        _ => actual == wanted,
    };
    Ok(match filter.field.as_str() {
        "size" => compare(
            item.size,
            hoard_server::config::parse_size(&filter.value).map_err(anyhow::Error::msg)?,
        ),
        "age" => {
            let age = hoard::ttl::parse_duration(&filter.value)?;
            let last = item
                .last_accessed_ms
                .max(item.last_modified_ms)
                .unwrap_or(0);
            compare(
                u64::try_from(now_ms - last).unwrap_or(0),
                u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
            )
        }
        _ => {
            let store = parse_store(&filter.value)?;
            match filter.op {
                '=' => item.store == store,
                _ => bail!("store filters use =, as in store=torch"),
            }
        }
    })
}

fn ls(
    layout: &Layout,
    sort: &str,
    filters: &[String],
    format: &str,
    quiet: bool,
) -> anyhow::Result<()> {
    let filters: Vec<Filter> = filters
        .iter()
        .map(|f| parse_filter(f))
        .collect::<Result<_, _>>()?;
    if !["table", "json", "csv"].contains(&format) {
        bail!("unknown format {format:?}: use table, json or csv");
    }
    let now = hoard_models::usage::now_ms();
    let inventory = inventory(layout);
    let mut items: Vec<&Item> = Vec::new();
    for item in &inventory.items {
        let mut wanted = true;
        for filter in &filters {
            wanted &= keep(item, filter, now)?;
        }
        if wanted {
            items.push(item);
        }
    }
    match sort {
        "size" => items.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id))),
        "name" | "id" => items.sort_by(|a, b| a.id.cmp(&b.id)),
        "store" => items.sort_by(|a, b| (a.store, &a.id).cmp(&(b.store, &b.id))),
        "accessed" => items.sort_by_key(|item| std::cmp::Reverse(item.last_accessed_ms)),
        "modified" => items.sort_by_key(|item| std::cmp::Reverse(item.last_modified_ms)),
        other => bail!("unknown sort {other:?}: use size, name, store, accessed or modified"),
    }
    let mut out = std::io::stdout().lock();
    if quiet {
        for item in items {
            writeln!(out, "{}", item.id)?;
        }
        return Ok(());
    }
    match format {
        "json" => writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?,
        "csv" => {
            writeln!(
                out,
                "id,store,size,revisions,last_accessed_ms,last_modified_ms,path"
            )?;
            for item in items {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    csv_field(&item.id),
                    item.store.name(),
                    item.size,
                    item.revisions,
                    item.last_accessed_ms
                        .map_or(String::new(), |t| t.to_string()),
                    item.last_modified_ms
                        .map_or(String::new(), |t| t.to_string()),
                    csv_field(&item.path.display().to_string()),
                )?;
            }
        }
        _ => {
            writeln!(
                out,
                "{:<48} {:<12} {:>10} {:>5} {:>14} {:>14}",
                "id", "store", "size", "revs", "accessed", "modified"
            )?;
            for item in items {
                writeln!(
                    out,
                    "{:<48} {:<12} {:>10} {:>5} {:>14} {:>14}",
                    item.id,
                    item.store.name(),
                    human_bytes(item.size),
                    item.revisions,
                    ago(item.last_accessed_ms, now),
                    ago(item.last_modified_ms, now),
                )?;
            }
        }
    }
    Ok(())
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn ago(time_ms: Option<i64>, now_ms: i64) -> String {
    let Some(time) = time_ms else {
        return "-".into();
    };
    let seconds = u64::try_from((now_ms - time) / 1000).unwrap_or(0);
    let text = hoard::ttl::format_duration(Duration::from_secs(seconds));
    // Two units are enough to judge age: "3d4h", not "3d4h12m9s".
    let mut units = 0;
    let cut = text
        .char_indices()
        .find(|(_, c)| {
            if c.is_ascii_alphabetic() {
                units += 1;
            }
            units == 2 && c.is_ascii_alphabetic()
        })
        .map_or(text.len(), |(i, _)| i + 1);
    format!("{} ago", &text[..cut])
}

fn size(layout: &Layout, json: bool) -> anyhow::Result<()> {
    let inventory = inventory(layout);
    let sizes = inventory.store_sizes();
    if json {
        let map: serde_json::Map<String, serde_json::Value> = Store::ALL
            .iter()
            .map(|store| {
                (
                    store.name().to_owned(),
                    sizes.get(store).copied().unwrap_or(0).into(),
                )
            })
            .collect();
        println!("{}", serde_json::Value::Object(map));
        return Ok(());
    }
    let mut total = 0;
    for store in Store::ALL {
        let bytes = sizes.get(&store).copied().unwrap_or(0);
        let count = inventory.items.iter().filter(|i| i.store == store).count();
        total += bytes;
        println!(
            "{:<12} {:>10} {:>6} items",
            store.name(),
            human_bytes(bytes),
            count
        );
    }
    println!("{:<12} {:>10}", "total", human_bytes(total));
    Ok(())
}

/// Shows the plan, then asks (or takes `--yes`) before running it.
fn apply(layout: &Layout, plan: &Plan, confirm: &Confirm) -> anyhow::Result<()> {
    if plan.is_empty() {
        println!("nothing to remove");
        return Ok(());
    }
    for action in &plan.actions {
        println!(
            "{:>10}  {}  {}",
            human_bytes(action.bytes),
            action.what,
            action.path.display()
        );
    }
    println!(
        "{} paths, {} to free",
        plan.actions.len(),
        human_bytes(plan.bytes())
    );
    if !confirmed(confirm, "remove them")? {
        return Ok(());
    }
    let outcome = plan.execute(layout);
    println!(
        "freed {} ({} paths removed)",
        human_bytes(outcome.freed),
        outcome.removed
    );
    for (path, reason) in &outcome.failed {
        eprintln!("not removed: {}: {reason}", path.display());
    }
    if !outcome.failed.is_empty() {
        bail!("{} paths could not be removed", outcome.failed.len());
    }
    Ok(())
}

/// `--dry-run`: no. `--yes`: yes. A terminal: ask. Otherwise refuse, saying why.
fn confirmed(confirm: &Confirm, what: &str) -> anyhow::Result<bool> {
    if confirm.dry_run {
        println!("dry run: nothing changed");
        return Ok(false);
    }
    if confirm.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to {what} without a terminal to confirm on: nothing changed; pass --yes to proceed");
    }
    print!("{what}? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let yes = matches!(answer.trim(), "y" | "Y" | "yes");
    if !yes {
        println!("nothing changed");
    }
    Ok(yes)
}

fn dedup(
    layout: &Layout,
    link: bool,
    min_size: &str,
    also: Vec<PathBuf>,
    json: bool,
    confirm: &Confirm,
) -> anyhow::Result<()> {
    let options = hoard_models::dedup::DedupOptions {
        min_size: hoard_server::config::parse_size(min_size).map_err(anyhow::Error::msg)?,
        extra_dirs: also,
    };
    let report = hoard_models::dedup::find(&inventory(layout), &options);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for group in &report.groups {
            println!(
                "{} x {} ({} stored more than once), hash {}",
                group.files.len(),
                human_bytes(group.size),
                human_bytes(group.reclaimable()),
                group.hash.get(..19).unwrap_or(&group.hash)
            );
            for (i, file) in group.files.iter().enumerate() {
                println!(
                    "  {} {}",
                    if i == 0 { "keep" } else { "copy" },
                    file.display()
                );
            }
        }
        let reclaimable: u64 = report.groups.iter().map(|g| g.reclaimable()).sum();
        println!(
                        "{} duplicate groups, {} stored more than once; {} files hashed ({}); --link links content-addressed blobs only",
            report.groups.len(),
            human_bytes(reclaimable),
            report.hashed_files,
            human_bytes(report.hashed_bytes)
        );
    }
    if !link
        || report.groups.is_empty()
        || !confirmed(confirm, "replace the copies with hard links")?
    {
        return Ok(());
    }
    let outcome = hoard_models::dedup::link(&report, layout);
    println!(
        "linked {} files, freed {}",
        outcome.linked,
        human_bytes(outcome.freed)
    );
    for (path, reason) in &outcome.skipped {
        eprintln!("left as is: {}: {reason}", path.display());
    }
    Ok(())
}

fn doctor(layout: &Layout, json: bool) -> anyhow::Result<()> {
    let inventory = inventory(layout);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let env = |name: &str| std::env::var(name).ok();
    let findings = hoard_models::doctor::check(layout, &inventory, home.as_deref(), &env);
    if json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
        return Ok(());
    }
    if findings.is_empty() {
        println!("no problems found in {}", layout.root.display());
        return Ok(());
    }
    for finding in &findings {
        println!(
            "[{}] {}\n    fix: {}",
            finding.kind, finding.message, finding.fix
        );
    }
    println!("{} problem(s)", findings.len());
    Ok(())
}

fn warm(layout: &Layout, models: &hoard_models::ModelsConfig, dry_run: bool) -> anyhow::Result<()> {
    if models.warm.is_empty() {
        println!("no [models.warm.*] steps configured");
        return Ok(());
    }
    for (name, step) in &models.warm {
        let need = hoard_models::warm::need(name, step, layout)?;
        let size = need
            .bytes()
            .map_or_else(|| "size unknown".to_owned(), human_bytes);
        match (&need, dry_run) {
            (hoard_models::warm::Need::Done, _) => println!("{name}: complete, skipped"),
            (hoard_models::warm::Need::Copy(files), true) => {
                println!("{name}: would copy {} files, {size}", files.len())
            }
            (hoard_models::warm::Need::Run(argv), true) => {
                println!("{name}: would run {} ({size})", argv.join(" "))
            }
            (_, false) => {
                println!("{name}: fetching ({size})");
                let progress = Progress::new("copying", "bytes").quiet_below(0);
                hoard_models::warm::run(name, &need, layout, &|done, total| {
                    progress.update(done, total)
                })?;
                progress.finish();
                let ids: Vec<String> = step_ids(layout, step);
                if !ids.is_empty() {
                    hoard_models::usage::mark(layout, &ids, hoard_models::usage::now_ms())?;
                }
                println!("{name}: done");
            }
        }
    }
    Ok(())
}

/// The inventory ids a warm step filled, to record them as used.
fn step_ids(layout: &Layout, step: &hoard_models::warm::WarmStep) -> Vec<String> {
    let target = match (&step.to, &step.creates) {
        (Some(to), _) | (None, Some(to)) => layout.root.join(to),
        _ => return Vec::new(),
    };
    inventory(layout)
        .items
        .iter()
        .filter(|item| item.path.starts_with(&target) || target.starts_with(&item.path))
        .map(|item| item.id.clone())
        .collect()
}

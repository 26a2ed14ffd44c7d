//! `hoard models ...`: where model weights live, what is cached, and reclaiming space.
//! Each verb parses its flags, makes one call into hoard-models and prints what it got
//! (`show`); the destructive ones ask first (`confirm`).

mod confirm;
mod show;

use anyhow::Context;
use confirm::Confirm;
use hoard_models::plan::{Plan, PruneOptions};
use hoard_models::{scan, size, Layout};
use std::path::{Path, PathBuf};

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
    /// Create the store folders, with a CACHEDIR.TAG in the root (which covers the stores
    /// inside it) and in each store or app cache outside it, so backup tools skip them.
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
        /// Also remove the least recently used models until every budget of hoard.toml
        /// holds ([models] max_size, [models.store_max_size]).
        #[arg(long)]
        budgets: bool,
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
    /// Find the problems of scattered caches and say what to do; exits non-zero when a
    /// store is over its budget ([models] max_size, [models.store_max_size]).
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
        /// Stop at the first step that fails (by default the others still run, and the
        /// command fails at the end naming the failed steps).
        #[arg(long)]
        fail_fast: bool,
    },
    /// Record models as used now (where atime is not kept, this is what prune's
    /// --older-than and --max-size go by).
    Touch {
        /// Ids as `ls` shows them.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

/// Runs one verb with the `[models]` section of the configuration at `config`.
pub fn run(config: Option<&Path>, command: ModelsCommand) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok();
    let loaded = hoard_config::Config::load(config, &env, &Default::default())?;
    let base = std::env::current_dir().context("reading the working directory")?;
    let models = loaded.models()?;
    let layout = Layout::new(&models, &base);
    match command {
        ModelsCommand::Dir { store: Some(name) } => {
            println!("{}", layout.folder(&name)?.display());
            Ok(())
        }
        ModelsCommand::Dir { store: None } => {
            print!("{}", show::folders(&layout.folders()));
            Ok(())
        }
        ModelsCommand::Env { shell } => {
            let shell: hoard_models::shell::Shell = shell.parse()?;
            print!("{}", hoard_models::shell::render_env(&layout.env(), shell));
            Ok(())
        }
        ModelsCommand::Exec { command } => exec(&layout, &command),
        ModelsCommand::Init => {
            for folder in hoard_models::init::create_stores(&layout)? {
                println!("{}", folder.display());
            }
            Ok(())
        }
        ModelsCommand::Ls {
            sort,
            filter,
            format,
            quiet,
        } => {
            let filters: Vec<hoard_models::filter::Filter> = filter
                .iter()
                .map(|text| text.parse())
                .collect::<Result<_, _>>()?;
            let format: show::Format = format.parse()?;
            let sort: hoard_models::listing::Sort = sort.parse()?;
            let now = hoard_models::usage::now_ms();
            let inventory = scan::inventory(&layout);
            let items = hoard_models::listing::list(&inventory, &filters, sort, now);
            let out = if quiet {
                show::ids(&items)
            } else {
                show::items(&items, format, now)?
            };
            print!("{out}");
            Ok(())
        }
        ModelsCommand::Size { json } => {
            let usage = scan::inventory(&layout).store_usage();
            if json {
                println!("{}", show::store_usage_json(&usage)?);
            } else {
                print!("{}", show::store_usage(&usage));
            }
            Ok(())
        }
        ModelsCommand::Rm { ids, confirm } => {
            let plan = hoard_models::plan::rm(&scan::inventory(&layout), &ids)?;
            apply(&layout, &plan, &confirm)
        }
        ModelsCommand::Prune {
            older_than,
            max_size,
            budgets,
            confirm,
        } => {
            let mut options = PruneOptions {
                older_than: older_than
                    .map(|text| hoard::ttl::parse_duration(&text))
                    .transpose()?,
                max_size: max_size.map(|text| size::parse_size(&text)).transpose()?,
                store_max_size: Default::default(),
                now_ms: hoard_models::usage::now_ms(),
            };
            if budgets {
                if layout.max_size.is_none() && layout.store_max_size.is_empty() {
                    anyhow::bail!(
                        "--budgets: hoard.toml sets no budget ([models] max_size or [models.store_max_size])"
                    );
                }
                // The smaller of the flag and the configured total, and each store's.
                let configured = layout.max_size.map(size::ByteSize::b);
                options.max_size = match (options.max_size, configured) {
                    (Some(flag), Some(config)) => Some(flag.min(config)),
                    (flag, config) => flag.or(config),
                };
                options.store_max_size = layout
                    .store_max_size
                    .iter()
                    .map(|(store, limit)| (*store, size::ByteSize::b(*limit)))
                    .collect();
            }
            let plan = hoard_models::plan::prune(&scan::inventory(&layout), &options);
            apply(&layout, &plan, &confirm)
        }
        ModelsCommand::Clear { store, confirm } => {
            let store = store.map(|name| name.parse()).transpose()?;
            let plan = hoard_models::plan::clear(&scan::inventory(&layout), store);
            apply(&layout, &plan, &confirm)
        }
        ModelsCommand::Dedup {
            link,
            min_size,
            also,
            json,
            confirm,
        } => {
            for dir in &also {
                if !dir.is_dir() {
                    anyhow::bail!("--also {}: no such folder", dir.display());
                }
            }
            let options = hoard_models::dedup::DedupOptions {
                min_size: size::parse_size(&min_size)?,
                extra_dirs: also,
            };
            let report = hoard_models::dedup::find(&scan::inventory(&layout), &options);
            let linkable = hoard_models::dedup::linkable_bytes(&report, &layout);
            if json {
                let mut body = serde_json::to_value(&report)?;
                body["linkable_bytes"] = linkable.into();
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print!("{}", show::dedup_report(&report, linkable));
            }
            if !link
                || report.groups.is_empty()
                || !confirm.confirmed("replace the copies with hard links")?
            {
                return Ok(());
            }
            let outcome = hoard_models::dedup::link(&report, &layout);
            println!(
                "linked {} files, freed {}",
                outcome.linked,
                size::human(outcome.freed)
            );
            for (path, reason) in &outcome.skipped {
                eprintln!("left as is: {}: {reason}", path.display());
            }
            Ok(())
        }
        ModelsCommand::Doctor { json } => {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            let inventory = scan::inventory(&layout);
            let findings = hoard_models::doctor::check(&layout, &inventory, home.as_deref(), &env);
            if json {
                println!("{}", serde_json::to_string_pretty(&findings)?);
            } else {
                print!("{}", show::findings(&findings, &layout));
            }
            let over: Vec<&str> = hoard_models::budget::check(&layout, &inventory)
                .iter()
                .filter(|check| check.over())
                .map(|check| check.scope())
                .collect();
            if !over.is_empty() {
                anyhow::bail!("over budget: {}", over.join(", "));
            }
            Ok(())
        }
        ModelsCommand::Warm { dry_run, fail_fast } => warm(&layout, &models, dry_run, fail_fast),
        ModelsCommand::Touch { ids } => {
            let inventory = scan::inventory(&layout);
            hoard_models::usage::touch(&layout, &inventory, &ids, hoard_models::usage::now_ms())?;
            Ok(())
        }
    }
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

/// Shows the plan, then asks (or takes `--yes`) before running it.
fn apply(layout: &Layout, plan: &Plan, confirm: &Confirm) -> anyhow::Result<()> {
    if plan.is_empty() {
        println!("nothing to remove");
        return Ok(());
    }
    print!("{}", show::plan(plan));
    if !confirm.confirmed("remove them")? {
        return Ok(());
    }
    let outcome = plan.execute(layout);
    println!(
        "freed {} ({} paths removed)",
        size::human(outcome.freed),
        outcome.removed
    );
    for (path, reason) in &outcome.failed {
        eprintln!("not removed: {}: {reason}", path.display());
    }
    anyhow::ensure!(
        outcome.failed.is_empty(),
        "{} paths could not be removed",
        outcome.failed.len()
    );
    Ok(())
}

/// Runs the `[models.warm.*]` steps in order, or says what each would do.
fn warm(
    layout: &Layout,
    models: &hoard_models::ModelsConfig,
    dry_run: bool,
    fail_fast: bool,
) -> anyhow::Result<()> {
    use hoard_models::warm::{self, Need};
    if models.warm.is_empty() {
        println!("no [models.warm.*] steps configured");
        return Ok(());
    }
    let mut failed = Vec::new();
    for (name, step) in &models.warm {
        let outcome = (|| -> anyhow::Result<()> {
            let need = warm::need(name, step, layout)?;
            let size = need
                .bytes()
                .map_or_else(|| "size unknown".to_owned(), size::human);
            match (&need, dry_run) {
                (Need::Done, _) => println!("{name}: complete, skipped"),
                (Need::Copy(files), true) => {
                    println!("{name}: would copy {} files, {size}", files.len())
                }
                (Need::Run(argv), true) => {
                    println!("{name}: would run {} ({size})", argv.join(" "))
                }
                (_, false) => {
                    println!("{name}: fetching ({size})");
                    let progress = crate::output::Progress::new("copying", "bytes").quiet_below(0);
                    warm::fill(name, step, &need, layout, &|done, total| {
                        progress.update(done, total)
                    })?;
                    progress.finish();
                    println!("{name}: done");
                }
            }
            Ok(())
        })();
        if let Err(error) = outcome {
            if fail_fast {
                return Err(error);
            }
            eprintln!("hoard: {name}: {error:#}; going on with the other steps");
            failed.push(name.as_str());
        }
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} warm-up steps failed: {}",
            failed.len(),
            models.warm.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

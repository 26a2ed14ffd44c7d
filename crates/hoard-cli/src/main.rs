//! The `hoard` binary: parses flags and hands off to the library crates.

mod client;
mod datasets;
mod models;
mod output;
mod semantic;
mod serve;
mod stats;
mod table;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// hoard: one cache layer for AI/ML backends.
///
/// Caches inference results, dataset manifests, model weights and function results,
/// embedded by default (memory + a persistent store in a local folder) or on Redis.
#[derive(Debug, Parser)]
#[command(name = "hoard", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the HTTP API (embedded by default; Redis with --redis or --redis-cluster).
    Serve(serve::ServeArgs),
    /// Print a running server's stats as a table (or JSON). Sends $HOARD_TOKEN as a
    /// bearer token when set.
    Stats {
        /// The server to ask: a URL or host:port (default: the one hoard.toml's `[server]
        /// addr` or $HOARD_SERVER_ADDR runs, else 127.0.0.1:7070).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Config file (default: $HOARD_CONFIG, else ./hoard.toml if present).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Dataset manifests: scan a folder, list configured datasets.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
    /// Model-weight caches: one config for where they live, what is cached, reclaiming
    /// space (dir, env, exec, init, ls, size, rm, prune, clear, dedup, doctor, warm, touch).
    Models {
        /// Config file (default: $HOARD_CONFIG, else ./hoard.toml if present).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// The semantic cache: evaluate wrong hits and recall on labelled question pairs.
    Semantic {
        /// Config file (default: $HOARD_CONFIG, else ./hoard.toml if present).
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: semantic::SemanticCommand,
    },
    /// Print the TTL presets (ttl_very_short ... ttl_week, as Python services name them in
    /// their CacheTTL classes) and check a duration such as 2h5m.
    Ttl {
        /// A duration to parse and print back in canonical form.
        duration: Option<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum DatasetsCommand {
    /// Build a folder's manifest (no cache involved) and print its summary, or the whole
    /// manifest as JSON.
    Scan {
        /// The dataset's root folder.
        dir: PathBuf,
        /// Print `{root, version, summary, entries}` as JSON instead of the summary table.
        #[arg(long)]
        json: bool,
        /// Also hash every audio file's bytes (BLAKE3) into `content_hash`.
        #[arg(long)]
        content_hash: bool,
        /// The metadata column holding the label (default: emotion, else label).
        #[arg(long, value_name = "COLUMN")]
        label_column: Option<String>,
    },
    /// Write a small sample dataset to try the rest on: RAVDESS-style folders of short
    /// WAV tones with metadata CSVs naming each file's emotion.
    Sample {
        /// A new (or empty) folder to write it in.
        dir: PathBuf,
        /// How many actors' folders of 16 files each (1 to 24).
        #[arg(long, default_value_t = 2)]
        actors: usize,
    },
    /// The configured datasets ([datasets.ID] in hoard.toml) with version and totals.
    Ls {
        /// Config file (default: $HOARD_CONFIG, else ./hoard.toml if present).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Ask this running server (a URL or host:port) instead of opening the cache
        /// ($HOARD_TOKEN, when set, is sent as a bearer token).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hoard: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Stats {
            server,
            config,
            json,
        } => {
            let server = match server {
                Some(server) => server,
                None => {
                    let env = |name: &str| std::env::var(name).ok();
                    let config =
                        hoard_config::Config::load(config.as_deref(), &env, &Default::default())?;
                    client::configured_server(&config)?
                }
            };
            stats::run(&server, json)
        }
        Command::Datasets(DatasetsCommand::Scan {
            dir,
            json,
            content_hash,
            label_column,
        }) => datasets::scan(datasets::ScanArgs {
            dir,
            json,
            content_hash,
            label_column,
        }),
        Command::Models { config, command } => models::run(config.as_deref(), command),
        Command::Semantic { config, command } => semantic::run(config.as_deref(), command),
        Command::Datasets(DatasetsCommand::Sample { dir, actors }) => {
            let written = hoard_datasets::sample::write_sample(&dir, actors).map_err(|e| {
                anyhow::anyhow!("writing the sample dataset in {}: {e}", dir.display())
            })?;
            println!(
                "wrote {written} WAV files in {} actor folders under {}, each with its metadata CSV",
                actors.clamp(1, 24),
                dir.display()
            );
            Ok(())
        }
        Command::Datasets(DatasetsCommand::Ls {
            config,
            server,
            json,
        }) => datasets::ls(config.as_deref(), server.as_deref(), json),
        Command::Ttl { duration: None } => {
            for (name, ttl) in hoard::ttl::PRESETS {
                println!(
                    "{name:<16}{:>8}  {}",
                    ttl.as_secs(),
                    hoard::ttl::format_duration(ttl)
                );
            }
            Ok(())
        }
        Command::Ttl {
            duration: Some(text),
        } => {
            let parsed = hoard::ttl::parse_duration(&text)?;
            // What the cache would refuse as a TTL is refused here too, with its reason.
            hoard::ttl::check(parsed)?;
            let seconds = parsed.as_secs_f64();
            println!("{} ({seconds} s)", hoard::ttl::format_duration(parsed));
            Ok(())
        }
    }
}

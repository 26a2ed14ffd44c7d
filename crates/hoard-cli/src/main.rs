//! The `hoard` binary: parses flags and hands off to the library crates.

use clap::Parser;
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
    /// Print the TTL presets (seed 003's CacheTTL) and check a duration such as 2h5m.
    Ttl {
        /// A duration to parse and print back in canonical form.
        duration: Option<String>,
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
        Command::Ttl { duration: None } => {
            for (name, ttl) in hoard::ttl::PRESETS {
                println!(
                    "{name:<16}{:>8}  {}",
                    ttl.as_secs(),
                    hoard::ttl::format_duration(ttl)
                );
            }
        }
        Command::Ttl {
            duration: Some(text),
        } => {
            let parsed = hoard::ttl::parse_duration(&text)?;
            println!(
                "{} ({} s)",
                hoard::ttl::format_duration(parsed),
                parsed.as_secs()
            );
        }
    }
    Ok(())
}

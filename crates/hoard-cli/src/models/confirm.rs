//! Asking before a destructive verb changes anything: `--dry-run` never does, `--yes` does
//! without asking, a terminal is asked, and without one hoard refuses and says why.

use anyhow::bail;
use std::io::{BufRead, IsTerminal, Write};

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

impl Confirm {
    /// Whether to go ahead with `what` (`remove them`, ...), asking on the terminal if the
    /// flags do not say.
    pub fn confirmed(&self, what: &str) -> anyhow::Result<bool> {
        if self.dry_run {
            println!("dry run: nothing changed");
            return Ok(false);
        }
        if self.yes {
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
}

//! What the CLI prints besides tables: durations and progress. Sizes are
//! [`hoard_models::size::human`].

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

/// A progress bar on a terminal, a line per tenth otherwise (CI logs stay short).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: &'static str,
    last_tenth: AtomicU64,
    unit: &'static str,
    quiet_below: u64,
}

impl Progress {
    pub fn new(what: &'static str, unit: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            // Hidden until the first update says how much there is: a bar of length 0
            // would draw full at 0/0.
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(0),
                indicatif::ProgressDrawTarget::hidden(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{rate}}, {{eta}} left)"
                ))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                // Whole units a second: `2558/s`, not indicatif's `2,558.2809/s`.
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{}", per_second(state.per_sec()));
                    },
                )
                .progress_chars("=> "),
            );
            bar.set_message(what);
            bar
        });
        Progress {
            bar,
            what,
            last_tenth: AtomicU64::new(0),
            unit,
            quiet_below: 1000,
        }
    }

    /// Without a terminal, print nothing for totals below `total` (default 1000).
    pub fn quiet_below(mut self, total: u64) -> Progress {
        self.quiet_below = total;
        self
    }

    pub fn update(&self, done: u64, total: u64) {
        match &self.bar {
            Some(bar) if total == 0 => {}
            Some(bar) => {
                if bar.is_hidden() {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                bar.set_length(total);
                bar.set_position(done);
            }
            // Small jobs finish before anyone reads a progress line.
            None if total < self.quiet_below => {}
            None => {
                let tenth = done * 10 / total.max(1);
                if tenth > self.last_tenth.fetch_max(tenth, Ordering::Relaxed) {
                    eprintln!("{} {done}/{total} {}", self.what, self.unit);
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A rate in whole units a second, `2558/s`; one decimal below 10 (`2.5/s`).
fn per_second(rate: f64) -> String {
    if !rate.is_finite() {
        return "-/s".into();
    }
    if rate < 10.0 {
        format!("{rate:.1}/s")
    } else {
        format!("{rate:.0}/s")
    }
}

/// An audio duration as `12.5s`, `3m07s` or `2h05m`.
pub fn human_seconds(seconds: f64) -> String {
    let whole = seconds as u64;
    match whole {
        0..=59 => format!("{seconds:.1}s"),
        60..=3599 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, whole % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_in_whole_units() {
        let read: Vec<String> = [2558.2809, 10.0, 2.54, 0.0, f64::INFINITY]
            .into_iter()
            .map(per_second)
            .collect();
        assert_eq!(read, ["2558/s", "10/s", "2.5/s", "0.0/s", "-/s"]);
    }
}

//! Progress of a run on standard error: a bar on a terminal (indicatif), and off a terminal
//! (cluster logs, CI) a plain line at intervals, so a long run is never silent between its
//! plan and its summary.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use peerpressure::scheduler::Progress;

pub struct ProgressReporter {
    display: Display,
    started: Instant,
    /// Trials already recorded when this invocation started (resumed runs), so the rate and
    /// the time left count only the trials run now.
    first_done: Mutex<Option<usize>>,
}

enum Display {
    Bar(ProgressBar),
    Lines {
        every: Duration,
        last: Mutex<Option<Instant>>,
    },
}

impl ProgressReporter {
    /// A bar when standard error is a terminal, else a line every `every`.
    pub fn new(total: usize, terminal: bool, every: Duration) -> Self {
        let display = if terminal {
            let bar = ProgressBar::with_draw_target(
                Some(total as u64),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            bar.set_style(
                ProgressStyle::with_template("[{bar:30}] {pos}/{len} trials, {msg}, ETA {eta}")
                    .expect("a valid progress template")
                    .progress_chars("#> "),
            );
            Display::Bar(bar)
        } else {
            Display::Lines {
                every,
                last: Mutex::new(None),
            }
        };
        ProgressReporter {
            display,
            started: Instant::now(),
            first_done: Mutex::new(None),
        }
    }

    /// Called after every trial.
    pub fn update(&self, p: &Progress) {
        let base = *self
            .first_done
            .lock()
            .expect("progress lock")
            .get_or_insert(p.done);
        let tally = format!("{} errors, {} tokens, ${:.4}", p.errors, p.tokens, p.cost);
        match &self.display {
            Display::Bar(bar) => {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
                bar.set_message(tally);
            }
            Display::Lines { every, last } => {
                let ran = p.done.saturating_sub(base);
                // The first call comes before any trial of this invocation ran.
                if ran == 0 && p.done < p.total {
                    return;
                }
                let now = Instant::now();
                let mut last = last.lock().expect("progress lock");
                let due = last.is_none_or(|t| now.duration_since(t) >= *every);
                if !due && p.done < p.total {
                    return;
                }
                *last = Some(now);
                let elapsed = self.started.elapsed().as_secs_f64();
                let left = if ran > 0 {
                    format!(
                        "{:.0} s left",
                        elapsed / ran as f64 * (p.total - p.done) as f64
                    )
                } else {
                    "time left unknown".into()
                };
                let percent = if p.total > 0 {
                    100.0 * p.done as f64 / p.total as f64
                } else {
                    100.0
                };
                eprintln!(
                    "progress: {}/{} trials ({percent:.0}%), {tally}, {elapsed:.0} s elapsed, {left}",
                    p.done, p.total
                );
            }
        }
    }

    /// Clears the bar before the summary is printed.
    pub fn finish(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
    }
}

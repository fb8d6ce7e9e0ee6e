//! The progress line on a terminal: done/total with the rate and the time left when the total
//! is known (a file), the counts so far otherwise (stdin); nothing when stderr is piped or
//! with `-q`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::Tally;
use crate::output::Printer;
use crate::pace::Pace;

pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn new(printer: Printer, total: Option<u64>) -> Progress {
        if !printer.progress() {
            return Progress(None);
        }
        let (bar, template) = match total {
            Some(total) => (
                ProgressBar::new(total),
                "{spinner} {pos}/{len} rows · {per_sec} · {eta} left · {msg}",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{spinner} {elapsed} {pos} rows · {msg}",
            ),
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress(Some(bar))
    }

    pub fn tick(&self, t: &Tally, pace: Option<&Pace>) {
        if let Some(bar) = &self.0 {
            let pace = pace
                .and_then(Pace::snapshot)
                .map_or_else(String::new, |p| format!(" · {}", p.describe()));
            bar.set_position(t.done());
            bar.set_message(format!(
                "{} created, {} updated, {} unchanged or done, {} invalid, {} failed{pace}",
                t.created + t.found,
                t.updated,
                t.unchanged + t.skipped,
                t.invalid,
                t.refused + t.failed + t.unknown
            ));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

//! What came of a bulk run's rows, and the exit it earns.

use crate::error::{CliError, Exit, Result};

#[derive(Debug, Default)]
pub struct Tally {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Import: rows an earlier run created (the ledger says so), not sent again.
    pub skipped: u64,
    /// Rows whose earlier outcome was unknown, found by a search.
    pub found: u64,
    pub invalid: u64,
    pub refused: u64,
    pub failed: u64,
    pub unknown: u64,
    pub unknown_ids: Vec<String>,
    pub missing: Vec<String>,
    pub auth_error: Option<CliError>,
    pub interrupted: bool,
    /// The first invalid or refused rows, as shown on stderr (line, external id, reason;
    /// never a value).
    pub problems: Vec<String>,
    /// Requests that went out in this run.
    pub sent: u64,
}

/// How many invalid or refused rows the summary shows.
pub const SHOWN_PROBLEMS: usize = 5;

impl Tally {
    /// Rows dealt with, one way or another.
    pub fn done(&self) -> u64 {
        self.created
            + self.updated
            + self.unchanged
            + self.skipped
            + self.found
            + self.invalid
            + self.refused
            + self.failed
            + self.unknown
    }

    pub fn note_problem(&mut self, line: u64, external_id: Option<&str>, why: &str) {
        if self.problems.len() < SHOWN_PROBLEMS {
            let id = external_id.map_or_else(String::new, |id| {
                format!(", external id {}", crate::output::terminal_safe(id, false))
            });
            self.problems.push(format!("line {line}{id}: {why}"));
        }
    }

    pub fn note_unknown(&mut self, x: &str) {
        self.unknown += 1;
        if self.unknown_ids.len() < 1000 {
            self.unknown_ids.push(x.to_string());
        }
    }

    /// The worst outcome decides: a lost session, then rows failed or with an unknown
    /// outcome (5), then API refusals (3), then invalid rows (2).
    pub fn exit(self, hint: &str) -> Result<()> {
        if let Some(e) = self.auth_error {
            return Err(e);
        }
        let not_done = self.failed + self.unknown;
        let (exit, what) = if not_done > 0 {
            (
                Exit::Network,
                format!("{not_done} row(s) failed or have an unknown outcome"),
            )
        } else if self.refused > 0 {
            (
                Exit::ApiRefused,
                format!("{} row(s) refused by the API", self.refused),
            )
        } else if self.invalid > 0 {
            (
                Exit::Usage,
                format!("{} invalid row(s) not sent", self.invalid),
            )
        } else {
            return Ok(());
        };
        Err(CliError::new(exit, what).with_hint(hint))
    }
}

//! The import report, which is also its write-ahead journal: one JSON line per event,
//! appended and flushed (one write call each) before the next step. A row is recorded as
//! `sent` before its request goes out and with its outcome after, so a re-run knows which
//! rows are done, which failed, and which may or may not have reached the server.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub row: u64,
    /// The line of the input file where the row starts (absent in reports of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Written before the request: without a later outcome the row's fate is unknown.
    Sent,
    Created,
    /// A resent unknown row that a search showed had been created after all.
    Found,
    Failed,
    Invalid,
    /// Sent, and no answer came back (timeout, connection lost).
    Unknown,
}

impl Entry {
    pub fn new(row: u64, external_id: Option<String>, status: Status) -> Entry {
        Entry {
            row,
            line: None,
            external_id,
            status,
            contact_id: None,
            http_status: None,
            error: None,
        }
    }
}

/// What an earlier run left for a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prior {
    Done,
    /// Sent with no outcome, or recorded as unknown.
    Unknown,
    /// Failed or invalid: safe to try again.
    Retry,
}

pub struct Journal {
    file: File,
    path: PathBuf,
    prior: HashMap<u64, (Option<String>, Prior)>,
}

impl Journal {
    /// Open (or create, 0600) the journal and read what earlier runs recorded. A file that is
    /// not an import report is refused, never appended to.
    pub fn open(path: &Path) -> Result<Journal> {
        let err = |what: &str, e: std::io::Error| {
            CliError::usage(format!("{what} report {}: {e}", path.display()))
        };
        let mut file = open_private(path).map_err(|e| err("cannot open", e))?;
        let mut prior = HashMap::new();
        let mut lines = BufReader::new(&file).split(b'\n').peekable();
        while let Some(line) = lines.next() {
            let line = line.map_err(|e| err("cannot read", e))?;
            let last = lines.peek().is_none();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            // A last line cut short by a crash is ignored: its request was never sent, because
            // the request only goes out after the whole `sent` line is written. Any other line
            // that is not an entry means this is not a journal (an input file, say).
            let entry = match serde_json::from_slice::<Entry>(&line) {
                Ok(entry) => entry,
                Err(_) if last && line.starts_with(b"{\"row\":") => continue,
                Err(_) => return Err(not_a_journal(path)),
            };
            let state = match entry.status {
                Status::Created | Status::Found => Prior::Done,
                Status::Sent | Status::Unknown => Prior::Unknown,
                Status::Failed | Status::Invalid => Prior::Retry,
            };
            // Once done, a row stays done whatever a later line says.
            let keep_done = matches!(prior.get(&entry.row), Some((_, Prior::Done)));
            if !keep_done {
                prior.insert(entry.row, (entry.external_id, state));
            }
        }
        crate::private_file::end_torn_line(&mut file).map_err(|e| err("cannot repair", e))?;
        Ok(Journal {
            file,
            path: path.to_path_buf(),
            prior,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What an earlier run recorded for this row; an error if the row's external id differs
    /// (the report belongs to another file, and trusting it could skip or duplicate rows).
    pub fn prior(&self, row: u64, external_id: Option<&str>) -> Result<Option<Prior>> {
        match self.prior.get(&row) {
            None => Ok(None),
            Some((recorded, state)) => {
                if recorded.as_deref() != external_id {
                    return Err(CliError::usage(format!(
                        "report {} does not match this input: row {row} was `{}` and is now `{}`",
                        self.path.display(),
                        recorded.as_deref().unwrap_or("?"),
                        external_id.unwrap_or("?")
                    ))
                    .with_hint("use the report written for this file, or a new --report path"));
                }
                Ok(Some(state.clone()))
            }
        }
    }

    /// Append one line, in a single write, before returning. Its error is a usage error
    /// (exit 2) while nothing was sent; see `write_failed_after_sending`.
    pub fn record(&mut self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).unwrap_or_default();
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| CliError::usage(format!("{WRITE_FAILED} {}: {e}", self.path.display())))
    }
}

const WRITE_FAILED: &str = "cannot write report";

/// A journal write that failed once rows had been sent is not "invalid input, nothing sent"
/// (exit 2): some outcomes may be unrecorded, which is an unknown outcome (exit 5).
pub fn write_failed_after_sending(e: CliError, sent: u64) -> CliError {
    if sent == 0 || !e.message.starts_with(WRITE_FAILED) {
        return e;
    }
    CliError::network(format!(
        "{}; {sent} row(s) had been sent, and some outcomes may not be recorded",
        e.message
    ))
    .with_hint(
        "make the report writable again (disk space, quota), then re-run the same command: rows without a recorded outcome are treated as unknown (check them, then --resend-unknown)",
    )
}

fn not_a_journal(path: &Path) -> CliError {
    CliError::usage(format!(
        "{} is not an import report; refusing to write to it",
        path.display()
    ))
    .with_hint("pass --report with a new path, or the report an earlier import wrote")
}

/// Refuse a report that is the input itself (same device and inode): appending to it would
/// import the journal as rows.
pub fn refuse_input_as_report(input: &str, report: &Path) -> Result<()> {
    let input_path = if input == "-" {
        Path::new("/dev/stdin")
    } else {
        Path::new(input)
    };
    let (Ok(a), Ok(b)) = (std::fs::metadata(input_path), std::fs::metadata(report)) else {
        return Ok(());
    };
    if same_file(&a, &b) {
        return Err(CliError::usage(format!(
            "the report {} is the input file; refusing to write the journal into it",
            report.display()
        ))
        .with_hint("pass --report with another path"));
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// The report holds contact ids and API messages: a private file (see `private_file`), never
/// in a world-writable directory.
fn open_private(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = crate::private_file::world_writable_dir(path)? {
        return Err(std::io::Error::other(format!(
            "{} is world-writable; keep reports (they hold personal data) in a private directory",
            dir.display()
        )));
    }
    crate::private_file::open_append(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_survive_a_reopen_and_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        {
            let mut j = Journal::open(&path).unwrap();
            let id = |s: &str| Some(s.to_string());
            j.record(&Entry::new(1, id("A"), Status::Sent)).unwrap();
            j.record(&Entry {
                contact_id: id("c1"),
                ..Entry::new(1, id("A"), Status::Created)
            })
            .unwrap();
            j.record(&Entry::new(2, id("B"), Status::Sent)).unwrap();
            j.record(&Entry::new(3, id("C"), Status::Failed)).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"row\":4,\"exter")
            .unwrap();
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(j.prior(1, Some("A")).unwrap(), Some(Prior::Done));
        assert_eq!(j.prior(2, Some("B")).unwrap(), Some(Prior::Unknown));
        assert_eq!(j.prior(3, Some("C")).unwrap(), Some(Prior::Retry));
        assert_eq!(j.prior(4, Some("D")).unwrap(), None);
        assert!(
            j.prior(1, Some("Z")).is_err(),
            "a different input is refused"
        );
        j.record(&Entry::new(4, Some("D".into()), Status::Sent))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines()
                .last()
                .unwrap()
                .starts_with("{\"row\":4,\"external_id\":\"D\""),
            "{text}"
        );
    }

    proptest::proptest! {
        /// A report of any bytes (torn, binary, hostile) is opened or refused, never a panic;
        /// one that opens accepts a new entry.
        #[test]
        fn any_report_bytes_open_or_are_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("r.jsonl");
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(mut j) = Journal::open(&path) {
                let _ = j.prior(1, Some("A"));
                proptest::prop_assert!(j.record(&Entry::new(1, Some("A".into()), Status::Sent)).is_ok());
            }
        }

        #[test]
        fn any_entry_line_is_parsed_or_refused(line in proptest::prelude::any::<String>()) {
            let _ = serde_json::from_str::<Entry>(&line);
        }
    }
}

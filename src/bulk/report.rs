//! The import report: one JSON line per row of this run, for people and scripts
//! (`--show-report`, `jq`). It is an output, not a journal: what was sent is the ledger's to
//! know. Rewritten by each run; never written over the input, nor over a file that is not a
//! report.

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
    /// Written by hsm before 0.2 ahead of each request (reports were journals then).
    Sent,
    Created,
    /// Created by an earlier run (the ledger says so): not sent again.
    Skipped,
    /// A row whose outcome was unknown, which a search showed had been created.
    Found,
    Failed,
    Invalid,
    /// Sent, and no answer came back (timeout, connection lost).
    Unknown,
}

impl Entry {
    pub fn new(row: u64, line: u64, external_id: Option<String>, status: Status) -> Entry {
        Entry {
            row,
            line: Some(line),
            external_id,
            status,
            contact_id: None,
            http_status: None,
            error: None,
        }
    }
}

pub struct Report {
    file: File,
    path: PathBuf,
}

impl Report {
    /// Start this run's report at `path` (0600, private directory). An existing file must be
    /// a report; one of an earlier hsm (a journal, with `sent` lines) is left alone until it
    /// has been adopted into the ledger (`old_report` tells the caller).
    pub fn create(path: &Path) -> Result<Report> {
        let err = |what: &str, e: std::io::Error| {
            CliError::usage(format!("{what} report {}: {e}", path.display())).with_cause(&e)
        };
        if let Some(dir) =
            crate::private_file::world_writable_dir(path).map_err(|e| err("cannot open", e))?
        {
            return Err(CliError::usage(format!(
                "cannot write report {}: {} is world-writable; keep reports (they hold personal data) in a private directory",
                path.display(),
                dir.display()
            )));
        }
        if !is_report(path)? {
            return Err(not_a_report(path));
        }
        let file = crate::private_file::open_append(path).map_err(|e| err("cannot open", e))?;
        file.set_len(0).map_err(|e| err("cannot rewrite", e))?;
        Ok(Report {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Append one line, in a single write.
    pub fn record(&mut self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).unwrap_or_default();
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| {
            CliError::network(format!("cannot write report {}: {e}", self.path.display()))
                .with_cause(&e)
                .with_hint("the ledger has every outcome; free the disk and run the same command again, or read them with `hsm ledger history`")
        })
    }
}

/// Whether `path` is absent, empty, or a report (every line parses as an entry, a torn last
/// line aside).
fn is_report(path: &Path) -> Result<bool> {
    match std::fs::metadata(path) {
        Err(_) => return Ok(true),
        // A pipe or a device is never a report (and opening a pipe could wait forever).
        Ok(meta) if !meta.is_file() => return Ok(false),
        Ok(_) => {}
    }
    let Ok(file) = File::open(path) else {
        return Ok(true);
    };
    let mut lines = BufReader::new(limited(file)).split(b'\n').peekable();
    while let Some(line) = lines.next() {
        let Ok(line) = line else { return Ok(false) };
        let last = lines.peek().is_none();
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if serde_json::from_slice::<Entry>(&line).is_err() && !(last && is_torn_entry(&line)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A last line cut short by a crash mid-write: the start of an entry.
fn is_torn_entry(line: &[u8]) -> bool {
    line.starts_with(br#"{"row":"#) // ... and never its closing }
}

/// A report of an earlier hsm: a journal, which wrote `sent` before each request.
pub fn is_old_report(path: &Path) -> bool {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let Ok(file) = File::open(path) else {
        return false;
    };
    BufReader::new(limited(file))
        .lines()
        .map_while(std::result::Result::ok)
        .filter_map(|l| serde_json::from_str::<Entry>(&l).ok())
        .any(|e| e.status == Status::Sent)
}

/// Reports are read to check what they are: a gigabyte one is not worth reading whole.
fn limited(file: File) -> std::io::Take<File> {
    std::io::Read::take(file, 512 * 1024 * 1024)
}

fn not_a_report(path: &Path) -> CliError {
    CliError::usage(format!(
        "{} is not an import report; refusing to write to it",
        path.display()
    ))
    .with_hint("pass --report with a new path, or the report an earlier import wrote")
}

/// Refuse a report that is the input itself (same device and inode): writing to it would
/// destroy the input.
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
            "the report {} is the input file; refusing to write into it",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_rewritten_and_anything_else_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        {
            let mut r = Report::create(&path).unwrap();
            r.record(&Entry::new(1, 2, Some("A".into()), Status::Created))
                .unwrap();
        }
        assert!(!is_old_report(&path));
        let mut r = Report::create(&path).unwrap();
        r.record(&Entry::new(1, 2, Some("A".into()), Status::Skipped))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("skipped"));

        let csv = dir.path().join("input.csv");
        std::fs::write(&csv, "external_id,first_name\nA,Ann\n").unwrap();
        assert!(Report::create(&csv).is_err());
        assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 2);

        let old = dir.path().join("old.jsonl");
        std::fs::write(
            &old,
            "{\"row\":1,\"external_id\":\"A\",\"status\":\"sent\"}\n",
        )
        .unwrap();
        assert!(is_old_report(&old));
    }

    proptest::proptest! {
        #[test]
        fn any_entry_line_is_parsed_or_refused(line in proptest::prelude::any::<String>()) {
            let _ = serde_json::from_str::<Entry>(&line);
        }
    }
}

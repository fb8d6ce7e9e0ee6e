//! `hsm contacts import FILE --show-report`: the last outcome of every row of a report, as a
//! table (or JSON), without the journal's `sent` lines.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::Options;
use crate::bulk::report::{Entry, Status};
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::shapes::{ReportRow, RowStatus};

/// The command line that shows the report this import writes.
pub fn command(args: &Options) -> String {
    let mut cmd = format!(
        "hsm contacts import {} --show-report",
        quote_arg(&args.file)
    );
    if let Some(report) = &args.report {
        cmd.push_str(&format!(
            " --report {}",
            quote_arg(&report.display().to_string())
        ));
    }
    cmd
}

/// Quote a shell word only when it needs it.
fn quote_arg(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@'));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The last entry of each row; a row whose last word is `sent` has an unknown outcome. Once
/// created (or found), a row stays so, as the journal itself reads it.
fn last_outcomes(path: &Path) -> Result<BTreeMap<u64, Entry>> {
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::usage(format!("cannot read report {}: {e}", path.display()))
            .with_cause(&e)
            .with_hint("run the import first, or name its report with --report PATH")
    })?;
    let mut rows: BTreeMap<u64, Entry> = BTreeMap::new();
    for line in BufReader::new(file).lines() {
        let line = line
            .map_err(|e| CliError::usage(format!("cannot read report {}: {e}", path.display())))?;
        let Ok(mut entry) = serde_json::from_str::<Entry>(&line) else {
            continue;
        };
        if let Some(prev) = rows.get(&entry.row) {
            if matches!(
                prev.status,
                Status::Created | Status::Found | Status::Skipped
            ) {
                continue;
            }
            // An outcome line of an older version may lack the line the `sent` line had.
            entry.line = entry.line.or(prev.line);
        }
        rows.insert(entry.row, entry);
    }
    Ok(rows)
}

/// A row's last outcome as shown: a row last written as `sent` has an unknown outcome.
fn shown_status(status: Status) -> RowStatus {
    match status {
        Status::Sent | Status::Unknown => RowStatus::Unknown,
        Status::Created => RowStatus::Created,
        Status::Skipped => RowStatus::Skipped,
        Status::Found => RowStatus::Found,
        Status::Failed => RowStatus::Failed,
        Status::Invalid => RowStatus::Invalid,
    }
}

fn status_word(status: Status) -> &'static str {
    shown_status(status).word()
}

fn report_row(e: &Entry) -> ReportRow {
    ReportRow {
        row: e.row,
        line: e.line,
        external_id: e.external_id.clone(),
        status: shown_status(e.status),
        contact_id: e.contact_id.clone(),
        http_status: e.http_status,
        error: e.error.clone(),
    }
}

pub fn show_report(path: &Path, json: bool, printer: Printer) -> Result<()> {
    let rows = last_outcomes(path)?;
    if json {
        rows.values()
            .for_each(|entry| printer.json_line(&report_row(entry)));
        return Ok(());
    }
    printer.result(&format!(
        "{:<6} {:<6} {:<20} {:<8} DETAIL",
        "ROW", "LINE", "EXTERNAL_ID", "STATUS"
    ));
    for e in rows.values() {
        let detail = match (e.status, &e.contact_id, e.http_status, &e.error) {
            (Status::Created | Status::Found | Status::Skipped, Some(id), _, _) => id.clone(),
            (Status::Sent, ..) => "sent, no answer recorded".to_string(),
            (_, _, Some(code), Some(err)) => format!("HTTP {code}: {err}"),
            (_, _, _, Some(err)) => err.clone(),
            _ => String::new(),
        };
        printer.result(&format!(
            "{:<6} {:<6} {:<20} {:<8} {detail}",
            e.row,
            e.line.map_or_else(|| "-".to_string(), |l| l.to_string()),
            e.external_id.as_deref().unwrap_or("-"),
            status_word(e.status),
        ));
    }
    let count = |s: &[&str]| {
        rows.values()
            .filter(|e| s.contains(&status_word(e.status)))
            .count()
    };
    printer.status(&format!(
        "{} rows: {} created or found, {} invalid, {} failed, {} unknown ({}).",
        rows.len(),
        count(&["created", "found", "skipped"]),
        count(&["invalid"]),
        count(&["failed"]),
        count(&["unknown"]),
        path.display()
    ));
    Ok(())
}

//! `hsm contacts import`: bulk create from CSV or JSON Lines through the shared bulk driver
//! (one token, the server's pace, the ledger), writing a report of this run's rows.

mod show;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::api::Api;
use crate::bulk::plan::Kind;
use crate::bulk::report::{self, Report};
use crate::bulk::{Driver, Planned, Tally};
use crate::error::{CliError, Result};
use crate::ledger::Writer;
use crate::output::Printer;
use crate::rows::{self, Rows};
use crate::settings::Selection;

/// What `hsm contacts import` was asked to do (its flags, as plain values).
#[derive(Debug)]
pub struct Options {
    /// The file, or `-` for stdin.
    pub file: String,
    /// Most requests in flight at once.
    pub concurrency: u16,
    /// At most this many requests per second.
    pub rate: Option<f64>,
    /// Where the report goes; default `FILE.report.jsonl`.
    pub report: Option<PathBuf>,
    pub dry_run: bool,
    pub resend_unknown: bool,
    /// The format when the file name does not tell it.
    pub format: Option<rows::Format>,
    pub json: bool,
    /// List the report's rows instead of importing.
    pub show_report: bool,
    /// How long to wait for another writer to the realm; none refuses at once.
    pub wait: Option<Duration>,
}
use crate::shapes::ImportSummary;

/// `--report`, else `FILE.report.jsonl`; stdin has no name to derive one from.
fn report_path(args: &Options) -> Result<PathBuf> {
    match (&args.report, args.file.as_str()) {
        (Some(p), _) => Ok(p.clone()),
        (None, "-") => Err(CliError::usage(
            "importing from stdin needs --report PATH (the report of each row)",
        )),
        (None, file) => Ok(PathBuf::from(format!("{file}.report.jsonl"))),
    }
}

pub async fn run(global: &Selection, args: Options, printer: Printer) -> Result<()> {
    let report_path = report_path(&args)?;
    if args.show_report {
        return show::show_report(&report_path, args.json, printer);
    }
    let format = rows::format_for(&args.file, args.format)?;
    let mut rows = Rows::new(rows::open(&args.file)?, format)?;
    let settings = crate::select::settings_for_session(global, printer)?;
    let total = count_rows(&args.file, format, printer);
    if args.dry_run {
        let mut ledger = Writer::peek(&settings).await?;
        return dry_run(&mut ledger, &mut rows, total, printer).await;
    }
    report::refuse_input_as_report(&args.file, &report_path)?;
    let pace = crate::pace::Pace::new(usize::from(args.concurrency), args.rate, printer);
    let api = Arc::new(Api::connect(&settings, printer).await?.paced(pace));
    let wait = args.wait.unwrap_or(Duration::ZERO);
    let mut ledger = Writer::begin(&settings, Kind::Import.command(), wait, printer).await?;
    if report::is_old_report(&report_path) {
        ledger.refuse_unadopted(&report_path, "the report").await?;
    }
    let mut report = Report::create(&report_path)?;
    let (tally, fatal) = Driver {
        kind: Kind::Import,
        ledger: &mut ledger,
        api: Some(api),
        report: Some(&mut report),
        resend_unknown: args.resend_unknown,
        printer,
        total,
        plan: None,
        repeats: None,
    }
    .run(&mut rows)
    .await;
    let summary = summary(&tally, &report_path);
    let finished = ledger.finish(&summary).await;
    summarize(&tally, &report_path, &args, printer);
    if args.json {
        printer.json_line(&summary);
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    finished?;
    if tally.interrupted {
        return Err(CliError::interrupted()
            .with_hint("run the same command again: it sends only what is left"));
    }
    tally.exit("fix the rows and run the same command again: it sends only what is left")
}

/// The rows of a file, counted for the progress line's total (only when one is shown).
fn count_rows(file: &str, format: rows::Format, printer: Printer) -> Option<u64> {
    if file == "-" || !printer.progress() {
        return None;
    }
    let rows = Rows::new(rows::open(file).ok()?, format).ok()?;
    Some(rows.count() as u64)
}

/// What a run would do, from the same decisions: nothing is sent or recorded.
async fn dry_run(
    ledger: &mut Writer,
    rows: &mut Rows,
    total: Option<u64>,
    printer: Printer,
) -> Result<()> {
    let (tally, fatal) = Driver {
        kind: Kind::Import,
        ledger,
        api: None,
        report: None,
        resend_unknown: false,
        printer,
        total,
        plan: Some(&mut |_: Planned| {}),
        repeats: None,
    }
    .run(rows)
    .await;
    if let Some(e) = fatal {
        return Err(e);
    }
    for p in &tally.problems {
        printer.status(&format!("  {p}"));
    }
    printer.status(&format!(
        "Dry run: {} to create, {} already created (skipped), {} to look up (outcome unknown), {} invalid; nothing was sent.",
        tally.created, tally.skipped, tally.unknown, tally.invalid
    ));
    if tally.invalid > 0 {
        return Err(CliError::usage(format!("{} invalid row(s)", tally.invalid)));
    }
    Ok(())
}

fn summarize(t: &Tally, report: &Path, args: &Options, printer: Printer) {
    printer.status(&format!(
        "Import: {} created, {} already created (skipped), {} found already created, {} invalid, {} refused by the API, {} failed, {} unknown. Report: {}",
        t.created, t.skipped, t.found, t.invalid, t.refused, t.failed, t.unknown, report.display()
    ));
    let bad = t.invalid + t.refused;
    if bad > 0 {
        let first = if bad as usize > t.problems.len() {
            format!(
                "The first {} of {bad} invalid or refused rows:",
                t.problems.len()
            )
        } else {
            "Invalid or refused rows:".to_string()
        };
        printer.status(&first);
        for p in &t.problems {
            printer.status(&format!("  {p}"));
        }
        printer.status(&format!(
            "List every row's outcome with: {}",
            show::command(args)
        ));
    }
    if !t.unknown_ids.is_empty() {
        let shown: Vec<&str> = t.unknown_ids.iter().take(20).map(String::as_str).collect();
        let more = t.unknown.saturating_sub(shown.len() as u64);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        printer.warn(&format!(
            "external ids {}{more} were sent but their outcome is unknown; the next run looks them up before sending anything for them (--resend-unknown then sends those a search answered and did not find)",
            shown.join(", ")
        ));
    }
}

fn summary(t: &Tally, report: &Path) -> ImportSummary {
    ImportSummary {
        created: t.created,
        skipped: t.skipped,
        found: t.found,
        invalid: t.invalid,
        refused: t.refused,
        failed: t.failed,
        unknown: t.unknown,
        unknown_external_ids: t.unknown_ids.clone(),
        interrupted: t.interrupted,
        report: report.display().to_string(),
    }
}

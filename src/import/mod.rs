//! `hsm contacts import`: bulk create from CSV or JSON Lines with bounded concurrency, one
//! shared token (so one refresh for the whole run), and a journal that makes re-runs skip
//! what is done and never resend what may already have reached the server.

mod journal;
pub(crate) mod rows;
mod show;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::api::{self, Api, ApiError, Failure};
use crate::cli::{GlobalArgs, ImportArgs};
use crate::error::{CliError, Exit, Result};
use crate::output::Printer;
use journal::{Entry, Journal, Prior, Status};
use rows::{Row, Rows};

#[derive(Default, Debug)]
struct Tally {
    /// Rows whose request went out in this run.
    sent: u64,
    created: u64,
    skipped: u64,
    found: u64,
    invalid: u64,
    refused: u64,
    failed: u64,
    unknown: u64,
    unknown_rows: Vec<u64>,
    auth_error: Option<CliError>,
    /// The first invalid or refused rows, as shown on stderr (no field values).
    problems: Vec<String>,
    /// The command that lists the whole report, for the summary to suggest.
    show_command: String,
}

/// How many invalid or refused rows the summary shows; `--show-report` lists them all.
const SHOWN_PROBLEMS: usize = 5;

impl Tally {
    fn for_command(show_command: String) -> Tally {
        Tally {
            show_command,
            ..Tally::default()
        }
    }

    /// Keep the first few problems to show: line, external id and the reason (which names the
    /// field and the rule, never the value).
    fn note_problem(&mut self, line: u64, external_id: Option<&str>, why: &str) {
        if self.problems.len() < SHOWN_PROBLEMS {
            let id = external_id.map_or_else(String::new, |id| format!(", external id {id}"));
            self.problems.push(format!("line {line}{id}: {why}"));
        }
    }
}

/// A journal entry that also names the row's line in the input file.
fn entry_at(number: u64, line: u64, external_id: Option<String>, status: Status) -> Entry {
    Entry {
        line: Some(line),
        ..Entry::new(number, external_id, status)
    }
}

/// `--report`, else `FILE.report.jsonl`; stdin has no name to derive one from.
fn report_path(args: &ImportArgs) -> Result<PathBuf> {
    match (&args.report, args.file.as_str()) {
        (Some(p), _) => Ok(p.clone()),
        (None, "-") => Err(CliError::usage(
            "importing from stdin needs --report PATH (the journal that makes re-runs safe)",
        )),
        (None, file) => Ok(PathBuf::from(format!("{file}.report.jsonl"))),
    }
}

pub async fn run(global: &GlobalArgs, args: ImportArgs, printer: Printer) -> Result<()> {
    let report = report_path(&args)?;
    if args.show_report {
        return show::show_report(&report, args.json, printer);
    }
    let format = rows::format_for(&args.file, args.format)?;
    let input = rows::open(&args.file)?;
    let rows = Rows::new(input, format)?;
    if args.dry_run {
        return dry_run(rows, printer);
    }
    let settings = crate::select::settings_for_session(global, printer)?;
    journal::refuse_input_as_report(&args.file, &report)?;
    let mut journal = Journal::open(&report)?;
    let pace = crate::pace::Pace::new(usize::from(args.concurrency), args.rate, printer);
    let api = Arc::new(Api::connect(&settings, printer).await?.paced(pace));
    let progress = Progress::new(printer);
    let mut tally = Tally::for_command(show::command(&args));
    let mut in_flight: InFlight = JoinSet::new();
    let mut pending = Pending::new();
    let mut interrupted = false;
    let mut interrupt = crate::interrupt::Interrupt::install();

    // A fatal error (unreadable input, a report for another file, a journal that cannot be
    // written) stops the sending but not the waiting: requests in flight still get their
    // outcome recorded, so nothing becomes "unknown" for want of a little patience.
    let mut fatal: Option<CliError> = None;
    let mut rows = rows.peekable();
    loop {
        let stop = interrupted || fatal.is_some() || tally.auth_error.is_some();
        if !stop && api.pace().may_send(in_flight.len()) && rows.peek().is_some() {
            let sent = match rows.next() {
                Some(Ok(row)) => {
                    let mut run = (&mut journal, &mut tally, &mut in_flight, &mut pending);
                    dispatch(row, &mut run, &args, &api).await
                }
                Some(Err(e)) => Err(e),
                None => Ok(()),
            };
            if let Err(e) = sent {
                fatal = Some(e);
            }
            progress.tick(&tally, api.pace());
            continue;
        }
        if in_flight.is_empty() {
            break;
        }
        tokio::select! {
            done = in_flight.join_next() => {
                if let Some(Ok((row, outcome))) = done {
                    pending.remove(&row.number);
                    if let Err(e) = settle(&mut journal, &mut tally, row, outcome) {
                        fatal.get_or_insert(e);
                    }
                }
                progress.tick(&tally, api.pace());
            }
            // A row resting before its retry frees a slot of the window.
            _ = api.pace().rest_started() => {}
            _ = interrupt.recv() => {
                if interrupted {
                    // The second Ctrl-C: stop waiting now (a long Retry-After, a slow server).
                    let stopped = stop_now(&mut journal, &mut tally, &mut in_flight, &mut pending);
                    if let Err(e) = stopped.await {
                        fatal.get_or_insert(e);
                    }
                    break;
                }
                interrupted = true;
                printer.status("Interrupted: finishing the requests in flight, sending no more (Ctrl-C again to stop now)...");
            }
        }
    }
    progress.finish();
    if let Some(e) = fatal {
        return Err(journal::write_failed_after_sending(e, tally.sent));
    }
    conclude(tally, journal.path(), interrupted, args.json, printer)
}

/// The summary (stderr, and stdout with `--json`) and the exit code of a finished run.
fn conclude(
    tally: Tally,
    report: &std::path::Path,
    interrupted: bool,
    json: bool,
    printer: Printer,
) -> Result<()> {
    summarize(&tally, report, printer);
    if json {
        printer.result(&summary_json(&tally, report, interrupted).to_string());
    }
    if interrupted {
        return Err(CliError::interrupted().with_hint(format!(
            "run the same command again to resume from {}",
            report.display()
        )));
    }
    exit_for(tally)
}

/// A row in flight: its number, its line in the file and its external id.
struct Sent {
    number: u64,
    line: u64,
    external_id: Option<String>,
}

/// What became of a row's create: the answer, and for an unknown outcome what a search found.
struct Outcome {
    result: std::result::Result<Value, ApiError>,
    lookup: Option<Lookup>,
}

type InFlight = JoinSet<(Sent, Outcome)>;

/// The rows in flight, by number: their line and external id, to journal them if the run is
/// stopped before their answers arrive.
type Pending = std::collections::BTreeMap<u64, (u64, Option<String>)>;

/// What sending a row touches: the journal, the counts, the tasks and the rows in flight.
type Running<'a> = (
    &'a mut Journal,
    &'a mut Tally,
    &'a mut InFlight,
    &'a mut Pending,
);

/// Abandon the requests in flight: those already answered are settled as usual, the others
/// are journaled unknown (they were sent; the server may act on them).
async fn stop_now(
    journal: &mut Journal,
    tally: &mut Tally,
    in_flight: &mut InFlight,
    pending: &mut Pending,
) -> Result<()> {
    in_flight.abort_all();
    while let Some(done) = in_flight.join_next().await {
        if let Ok((row, outcome)) = done {
            pending.remove(&row.number);
            settle(journal, tally, row, outcome)?;
        }
    }
    for (number, (line, external_id)) in std::mem::take(pending) {
        tally.unknown += 1;
        tally.unknown_rows.push(number);
        journal.record(&Entry {
            error: Some("stopped (second Ctrl-C) before the answer arrived".to_string()),
            ..entry_at(number, line, external_id, Status::Unknown)
        })?;
    }
    Ok(())
}

/// Journal a row as sent, then send it (or record why it is not sent).
async fn dispatch(
    row: Row,
    (journal, tally, in_flight, pending): &mut Running<'_>,
    args: &ImportArgs,
    api: &Arc<Api>,
) -> Result<()> {
    let Some(contact) = prepare(&row, journal, tally, args, api).await? else {
        return Ok(());
    };
    // Written (one write call) before the request exists: a crash after this line leaves
    // the row "unknown", never silently unsent or silently sent twice.
    journal.record(&entry_at(
        row.number,
        row.line,
        row.external_id.clone(),
        Status::Sent,
    ))?;
    pending.insert(row.number, (row.line, row.external_id.clone()));
    tally.sent += 1;
    let api = api.clone();
    let sent = Sent {
        number: row.number,
        line: row.line,
        external_id: row.external_id,
    };
    in_flight.spawn(async move {
        let result = api::contacts::create(&api, contact.clone()).await;
        // Sent, and the server may have acted on it: look before anyone decides to resend.
        let lookup = match &result {
            Err(e) if e.failure == Failure::Unknown => Some(find_existing(&api, &contact).await),
            _ => None,
        };
        (sent, Outcome { result, lookup })
    });
    Ok(())
}

/// Decide what to do with a row: record it invalid, skip it as done, hold it as unknown, or
/// return the contact to send.
async fn prepare(
    row: &Row,
    journal: &mut Journal,
    tally: &mut Tally,
    args: &ImportArgs,
    api: &Api,
) -> Result<Option<Map<String, Value>>> {
    let prior = journal.prior(row.number, row.external_id.as_deref())?;
    if prior == Some(Prior::Done) {
        tally.skipped += 1;
        return Ok(None);
    }
    let contact = match &row.contact {
        Ok(c) => c.clone(),
        Err(problems) => {
            tally.invalid += 1;
            tally.note_problem(
                row.line,
                row.external_id.as_deref(),
                &format!("invalid: {problems}"),
            );
            let entry = Entry {
                error: Some(problems.clone()),
                ..entry_at(
                    row.number,
                    row.line,
                    row.external_id.clone(),
                    Status::Invalid,
                )
            };
            journal.record(&entry)?;
            return Ok(None);
        }
    };
    if prior == Some(Prior::Unknown) {
        if !args.resend_unknown {
            tally.unknown += 1;
            tally.unknown_rows.push(row.number);
            return Ok(None);
        }
        // Before resending, look: the earlier request may have created it. Only a search
        // that answered "no match" lets the row go out again.
        let at = |status| entry_at(row.number, row.line, row.external_id.clone(), status);
        match find_existing(api, &contact).await {
            Lookup::Found(id) => {
                tally.found += 1;
                journal.record(&Entry {
                    contact_id: Some(id),
                    ..at(Status::Found)
                })?;
                return Ok(None);
            }
            Lookup::Failed(e) => {
                tally.unknown += 1;
                tally.unknown_rows.push(row.number);
                journal.record(&Entry {
                    http_status: e.status,
                    error: Some(format!(
                        "not resent: the search to check it failed: {}",
                        e.message
                    )),
                    ..at(Status::Unknown)
                })?;
                return Ok(None);
            }
            Lookup::NoMatch | Lookup::NotSearchable => {}
        }
    }
    Ok(Some(contact))
}

/// What a search for an unknown row's contact showed.
enum Lookup {
    /// The contact is there (its id): the earlier request created it.
    Found(String),
    /// The search answered, and no contact with this external id matches.
    NoMatch,
    /// The row lacks the fields a search needs.
    NotSearchable,
    /// The search itself failed (5xx, 429, no answer): nothing is known.
    Failed(ApiError),
}

/// Search for a contact with this row's external id, where the row carries what the search
/// rules need (a Medicare number, or a name with birth date, email or phone).
async fn find_existing(api: &Api, contact: &Map<String, Value>) -> Lookup {
    let pick = |keys: &[&str]| -> Map<String, Value> {
        keys.iter()
            .filter_map(|k| contact.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect()
    };
    let query = if contact.contains_key("medicare_number") {
        pick(&["medicare_number"])
    } else {
        let q = pick(&["first_name", "last_name", "birth_date", "email", "phone"]);
        if q.len() < 3 {
            return Lookup::NotSearchable;
        }
        q
    };
    let answer = match api::contacts::search(api, query).await {
        Ok(answer) => answer,
        Err(e) => return Lookup::Failed(e),
    };
    let found = api::contacts::contact(&answer)
        .filter(|found| found.get("external_id") == contact.get("external_id"))
        .and_then(|found| found.get("id").and_then(Value::as_str));
    match found {
        Some(id) => Lookup::Found(id.to_string()),
        None => Lookup::NoMatch,
    }
}

fn settle(journal: &mut Journal, tally: &mut Tally, row: Sent, outcome: Outcome) -> Result<()> {
    let Sent {
        number,
        line,
        external_id,
    } = row;
    let entry = match (outcome.result, outcome.lookup) {
        (Ok(answer), _) => {
            tally.created += 1;
            Entry {
                contact_id: api::contacts::contact_id(&answer).map(str::to_string),
                ..entry_at(number, line, external_id, Status::Created)
            }
        }
        (Err(e), Some(Lookup::Found(id))) => {
            tally.found += 1;
            Entry {
                contact_id: Some(id),
                http_status: e.status,
                error: Some(format!("{}; a search found the contact created", e.message)),
                ..entry_at(number, line, external_id, Status::Found)
            }
        }
        (Err(e), lookup) => failed_entry(tally, number, line, external_id, &e, lookup),
    };
    journal.record(&entry)
}

/// The journal entry of a row whose create failed or whose outcome is unknown.
fn failed_entry(
    tally: &mut Tally,
    number: u64,
    line: u64,
    external_id: Option<String>,
    e: &ApiError,
    lookup: Option<Lookup>,
) -> Entry {
    let status = match e.failure {
        Failure::Unknown => {
            tally.unknown += 1;
            tally.unknown_rows.push(number);
            Status::Unknown
        }
        Failure::Refused => {
            tally.refused += 1;
            Status::Failed
        }
        Failure::Auth | Failure::Store | Failure::Usage => {
            tally.failed += 1;
            if tally.auth_error.is_none() {
                tally.auth_error = Some(e.clone().into_cli());
            }
            Status::Failed
        }
        Failure::Network => {
            tally.failed += 1;
            Status::Failed
        }
    };
    let mut error = e.message.clone();
    if !e.fields.is_empty() {
        error = format!("{error} ({})", e.fields.join("; "));
    }
    match lookup {
        Some(Lookup::NoMatch) => error.push_str("; a search found no such contact yet"),
        Some(Lookup::Failed(s)) => {
            error.push_str(&format!("; the search to check it failed: {}", s.message));
        }
        _ => {}
    }
    if e.failure == Failure::Refused {
        let code = e.status.map_or_else(String::new, |s| format!(" {s}"));
        tally.note_problem(
            line,
            external_id.as_deref(),
            &format!("refused by the API{code}: {error}"),
        );
    }
    Entry {
        http_status: e.status,
        error: Some(error),
        ..entry_at(number, line, external_id, status)
    }
}

fn dry_run(rows: Rows, printer: Printer) -> Result<()> {
    let (mut valid, mut invalid) = (0u64, 0u64);
    for row in rows {
        let row = row?;
        match row.contact {
            Ok(_) => valid += 1,
            Err(problems) => {
                invalid += 1;
                printer.status(&format!("row {}: {problems}", row.number));
            }
        }
    }
    printer.status(&format!(
        "Dry run: {valid} valid, {invalid} invalid; nothing was sent."
    ));
    if invalid > 0 {
        return Err(CliError::usage(format!("{invalid} invalid row(s)")));
    }
    Ok(())
}

fn summarize(t: &Tally, report: &std::path::Path, printer: Printer) {
    printer.status(&format!(
        "Import: {} created, {} already done (skipped), {} found already created, {} invalid, {} refused by the API, {} failed, {} unknown. Report: {}",
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
            "List every row's last outcome with: {}",
            t.show_command
        ));
    }
    if !t.unknown_rows.is_empty() {
        let mut rows = t.unknown_rows.clone();
        rows.sort_unstable();
        let shown: Vec<String> = rows.iter().take(20).map(u64::to_string).collect();
        let more = if rows.len() > 20 {
            format!(" and {} more", rows.len() - 20)
        } else {
            String::new()
        };
        printer.warn(&format!(
            "rows {}{more} were sent but their outcome is unknown; check them (hsm contacts search), then re-run with --resend-unknown to send them again (rows that can be searched are looked up first)",
            shown.join(", ")
        ));
    }
}

fn summary_json(t: &Tally, report: &std::path::Path, interrupted: bool) -> Value {
    let mut unknown_rows = t.unknown_rows.clone();
    unknown_rows.sort_unstable();
    serde_json::json!({
        "created": t.created,
        "skipped": t.skipped,
        "found": t.found,
        "invalid": t.invalid,
        "refused": t.refused,
        "failed": t.failed,
        "unknown": t.unknown,
        "unknown_rows": unknown_rows,
        "interrupted": interrupted,
        "report": report.display().to_string(),
    })
}

fn exit_for(t: Tally) -> Result<()> {
    let not_done = t.failed + t.unknown;
    bulk_exit(
        t.auth_error,
        not_done,
        t.refused,
        t.invalid,
        "see the report; fix the rows and re-run the same command to send only what is left",
    )
}

/// The exit of a bulk run (import, sync): the worst outcome decides. A lost session, then
/// rows failed or with an unknown outcome (5), then API refusals (3), then invalid rows (2).
pub(crate) fn bulk_exit(
    auth_error: Option<CliError>,
    failed_or_unknown: u64,
    refused: u64,
    invalid: u64,
    hint: &str,
) -> Result<()> {
    if let Some(e) = auth_error {
        return Err(e);
    }
    let (exit, what) = if failed_or_unknown > 0 {
        (
            Exit::Network,
            format!("{failed_or_unknown} row(s) failed or have an unknown outcome"),
        )
    } else if refused > 0 {
        (
            Exit::ApiRefused,
            format!("{refused} row(s) refused by the API"),
        )
    } else if invalid > 0 {
        (Exit::Usage, format!("{invalid} invalid row(s) not sent"))
    } else {
        return Ok(());
    };
    Err(CliError::new(exit, what).with_hint(hint))
}

/// A spinner with counts on a terminal; nothing when stderr is piped or with `-q`.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(printer: Printer) -> Progress {
        if printer.quiet || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(Some(bar))
    }

    fn tick(&self, t: &Tally, pace: &crate::pace::Pace) {
        if let Some(bar) = &self.0 {
            let pace = pace
                .snapshot()
                .map_or_else(String::new, |p| format!(" · {}", p.describe()));
            bar.set_message(format!(
                "{} created, {} skipped, {} invalid, {} failed{pace}",
                t.created,
                t.skipped,
                t.invalid,
                t.refused + t.failed + t.unknown
            ));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

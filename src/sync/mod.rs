//! `hsm contacts sync FILE`: the file is the desired state, keyed by external_id. Rows never
//! sent are created, rows that changed since they were last sent are PATCHed with only the
//! changed fields, unchanged rows send nothing, and rows gone from the file are listed, never
//! deleted. The state (see `state.rs`) is a write-ahead journal with import's guarantees.

mod drive;
mod plan;
mod state;

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::Api;
use crate::cli::{GlobalArgs, SyncArgs};
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::settings::EnvSettings;
use plan::{Action, Wanted};
use state::{Ev, Line, State};

#[derive(Debug, Default)]
pub struct Tally {
    created: u64,
    updated: u64,
    unchanged: u64,
    /// Pending rows of an earlier run found by a search (then synced as usual).
    found: u64,
    refused: u64,
    failed: u64,
    unknown: u64,
    unknown_ids: Vec<String>,
    missing: Vec<String>,
    auth_error: Option<CliError>,
    interrupted: bool,
    problems: Vec<String>,
}

impl Tally {
    fn note_problem(&mut self, line: String) {
        if self.problems.len() < 5 {
            self.problems.push(line);
        }
    }
}

pub async fn run(global: &GlobalArgs, args: SyncArgs, printer: Printer) -> Result<()> {
    let wanted = plan::read_desired(&args.file, args.format, printer)?;
    let settings = crate::select::settings_for_session(global, printer)?;
    let path = state_path(&args, &settings)?;
    if args.dry_run {
        let mut state = State::peek(&path)?;
        if let Some(report) = &args.adopt {
            adopt(&mut state, report, printer)?;
        }
        return dry_run(&state, &wanted, args.json, printer);
    }
    let pace = crate::pace::Pace::new(usize::from(args.concurrency), args.rate, printer);
    let api = Arc::new(Api::connect(&settings, printer).await?.paced(pace));
    let mut state = State::open(&path)?;
    if let Some(report) = &args.adopt {
        adopt(&mut state, report, printer)?;
    }
    let mut tally = drive::Run {
        state: &mut state,
        wanted: &wanted,
        api,
        resend_unknown: args.resend_unknown,
        printer,
    }
    .run()
    .await?;
    tally.missing = missing(&state, &wanted);
    state.compact()?;
    conclude(tally, state.path(), args.json, printer)
}

/// `--state`, else `<state dir>/sync/ENV.PROFILE.jsonl` (`HSM_STATE_DIR`, else the platform
/// state directory).
fn state_path(args: &SyncArgs, settings: &EnvSettings) -> Result<PathBuf> {
    if let Some(p) = &args.state {
        return Ok(p.clone());
    }
    let dir = crate::paths::sync_dir(settings.state_dir.as_deref())?;
    Ok(dir.join(format!("{}.{}.jsonl", settings.env, settings.profile)))
}

/// Seed the state from an import report: each row it records as created (or found) becomes a
/// known contact whose fields are unknown, so its first sync PATCHes every field once (the
/// API answers 204 when nothing differs) instead of creating it again. A row the report left
/// with an unknown outcome becomes a pending create: looked up before anything is sent.
fn adopt(state: &mut State, report: &Path, printer: Printer) -> Result<()> {
    let text = std::fs::read_to_string(report).map_err(|e| {
        CliError::usage(format!(
            "--adopt: cannot read report {}: {e}",
            report.display()
        ))
    })?;
    let (created, unsure) = report_outcomes(&text);
    let mut adopted = 0u64;
    for (x, id) in &created {
        if state
            .known
            .get(x)
            .is_none_or(|k| k.id.is_none() && k.pending.is_none())
        {
            state.record(&Line {
                id: Some(id.clone()),
                ..Line::new(Ev::Adopt, x)
            })?;
            adopted += 1;
        }
    }
    for x in &unsure {
        if !state.known.contains_key(x) {
            state.record(&Line {
                d: Some(state::Digests::new()),
                ..Line::new(Ev::SentCreate, x)
            })?;
        }
    }
    printer.status(&format!(
        "Adopted {adopted} contact(s) from {} ({} with an unknown outcome, to be looked up).",
        report.display(),
        unsure.len()
    ));
    Ok(())
}

/// An import report's rows: created (external id, contact id), and those whose last word is
/// `sent` or `unknown`. Once created, a row stays created, as import reads it.
fn report_outcomes(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut created: std::collections::BTreeMap<String, String> = Default::default();
    let mut unsure: std::collections::BTreeSet<String> = Default::default();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let field = |k: &str| entry.get(k).and_then(Value::as_str);
        let Some(x) = field("external_id") else {
            continue;
        };
        match (field("status"), field("contact_id")) {
            (Some("created" | "found"), Some(id)) => {
                unsure.remove(x);
                created.insert(x.to_string(), id.to_string());
            }
            (Some("sent" | "unknown"), _) if !created.contains_key(x) => {
                unsure.insert(x.to_string());
            }
            (Some(_), _) => {
                unsure.remove(x);
            }
            _ => {}
        }
    }
    (created.into_iter().collect(), unsure.into_iter().collect())
}

/// External ids the state knows that the file no longer has: listed, never deleted.
fn missing(state: &State, wanted: &[Wanted]) -> Vec<String> {
    let present: HashSet<&str> = wanted.iter().map(|w| w.x.as_str()).collect();
    let mut gone: Vec<String> = state
        .known
        .iter()
        .filter(|(x, k)| k.id.is_some() && !present.contains(x.as_str()))
        .map(|(x, _)| x.clone())
        .collect();
    gone.sort();
    gone
}

/// The plan on stdout (a table, or one JSON object), and nothing sent or written.
fn dry_run(state: &State, wanted: &[Wanted], json: bool, printer: Printer) -> Result<()> {
    let (mut create, mut update, mut check, mut unchanged) = (vec![], vec![], vec![], 0u64);
    for w in wanted {
        match plan::action(state, w) {
            Action::Unchanged => unchanged += 1,
            Action::Create => create.push(w.x.clone()),
            Action::Check => check.push(w.x.clone()),
            Action::Update { changes, all, .. } => {
                let fields: Vec<String> = changes.keys().cloned().collect();
                update.push((w.x.clone(), fields, all));
            }
        }
    }
    let gone = missing(state, wanted);
    if json {
        let update: Vec<Value> = update
            .iter()
            .map(|(x, f, all)| json!({"external_id": x, "fields": f, "adopted": all}))
            .collect();
        let plan = json!({"create": create, "update": update, "unchanged": unchanged,
            "check": check, "missing": gone, "state": state.path().display().to_string()});
        printer.result(&plan.to_string());
    } else {
        for x in &create {
            printer.result(&format!("create   {x}"));
        }
        for (x, fields, _) in &update {
            printer.result(&format!("update   {x}  {}", fields.join(", ")));
        }
        for x in &check {
            printer.result(&format!(
                "check    {x}  (sent before, outcome unknown: looked up first)"
            ));
        }
        for x in &gone {
            printer.result(&format!("missing  {x}"));
        }
    }
    printer.status(&format!(
        "Dry run: {} to create, {} to update, {unchanged} unchanged, {} to look up, {} missing from the file; nothing was sent.",
        create.len(), update.len(), check.len(), gone.len()
    ));
    Ok(())
}

fn conclude(tally: Tally, path: &Path, json: bool, printer: Printer) -> Result<()> {
    let t = &tally;
    printer.status(&format!(
        "Sync: {} created, {} updated, {} unchanged, {} failed, {} unknown, {} missing from the file (never deleted). State: {}",
        t.created, t.updated, t.unchanged, t.failed + t.refused, t.unknown, t.missing.len(), path.display()
    ));
    for p in &t.problems {
        printer.status(&format!("  {p}"));
    }
    if !t.missing.is_empty() {
        let shown: Vec<&str> = t.missing.iter().take(20).map(String::as_str).collect();
        let more = t.missing.len().saturating_sub(20);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        printer.status(&format!(
            "Missing from the file: {}{more}",
            shown.join(", ")
        ));
    }
    if !t.unknown_ids.is_empty() {
        let mut ids = t.unknown_ids.clone();
        ids.sort();
        printer.warn(&format!(
            "{} sent but their outcome is unknown: {}; the next run looks them up before sending (--resend-unknown sends those a search cannot find)",
            ids.len(),
            ids.iter().take(20).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if json {
        let summary = json!({"created": t.created, "updated": t.updated, "unchanged": t.unchanged,
            "found": t.found, "failed": t.failed + t.refused, "unknown": t.unknown,
            "missing": t.missing.len(), "missing_external_ids": t.missing,
            "unknown_external_ids": t.unknown_ids, "interrupted": t.interrupted,
            "state": path.display().to_string()});
        printer.result(&summary.to_string());
    }
    if tally.interrupted {
        return Err(CliError::interrupted()
            .with_hint("run the same command again to finish: it resumes from the state"));
    }
    exit_for(tally)
}

/// As import's (rows are validated before anything is sent, so none is invalid here).
fn exit_for(t: Tally) -> Result<()> {
    let not_done = t.failed + t.unknown;
    crate::import::bulk_exit(
        t.auth_error,
        not_done,
        t.refused,
        0,
        "re-run the same command: it sends only what is left",
    )
}

/// A spinner with counts on a terminal; nothing when stderr is piped or with `-q`.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(printer: Printer, rows: usize) -> Progress {
        if printer.quiet || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(rows as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {pos}/{len} {msg}")
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
            bar.set_position(
                t.created + t.updated + t.unchanged + t.refused + t.failed + t.unknown,
            );
            bar.set_message(format!(
                "{} created, {} updated, {} unchanged, {} failed{pace}",
                t.created,
                t.updated,
                t.unchanged,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_reports_give_created_rows_and_unknown_ones() {
        let report = r#"{"row":1,"external_id":"A","status":"sent"}
{"row":1,"external_id":"A","status":"created","contact_id":"c1"}
{"row":2,"external_id":"B","status":"sent"}
{"row":3,"external_id":"C","status":"sent"}
{"row":3,"external_id":"C","status":"failed","http_status":422}
{"row":4,"external_id":"D","status":"unknown"}
{"row":1,"external_id":"A","status":"sent"}
not json"#;
        let (created, unsure) = report_outcomes(report);
        assert_eq!(created, vec![("A".to_string(), "c1".to_string())]);
        assert_eq!(unsure, vec!["B".to_string(), "D".to_string()]);
    }
}

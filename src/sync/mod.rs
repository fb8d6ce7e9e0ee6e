//! `hsm contacts sync FILE`: the file is the desired state, keyed by external_id. Rows the
//! ledger does not know are created, rows that changed since they were last sent are PATCHed
//! with only the changed fields, unchanged rows send nothing, and rows gone from the file are
//! listed, never deleted. Two passes over the file: the first validates every row (nothing is
//! sent while one is invalid, unless `--skip-invalid`) and counts them; the second drives them.
//! Memory stays flat: rows stream, and the ledger is asked a batch at a time.

mod source;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::api::Api;
use crate::bulk::plan::{self, Action, Item, Kind};
use crate::bulk::{Driver, Planned, Tally};
use crate::error::{CliError, Result};
use crate::ledger::{Realm, Record, Writer};
use crate::output::Printer;
use crate::rows::{Format, Row};
use crate::settings::{EnvSettings, Selection};
use crate::shapes::{PlannedUpdate, SyncPlan, SyncSummary};
use source::Source;

/// What `hsm contacts sync` was asked to do (its flags, as plain values).
#[derive(Debug)]
pub struct Options {
    /// The file, or `-` for stdin.
    pub file: String,
    /// Most requests in flight at once.
    pub concurrency: u16,
    /// At most this many requests per second.
    pub rate: Option<f64>,
    pub dry_run: bool,
    pub json: bool,
    pub skip_invalid: bool,
    pub resend_unknown: bool,
    /// The format when the file name does not tell it.
    pub format: Option<Format>,
    /// How long to wait for another writer to the realm; none refuses at once.
    pub wait: Option<Duration>,
}

pub async fn run(global: &Selection, args: Options, printer: Printer) -> Result<()> {
    let format = crate::rows::format_for(&args.file, args.format)?;
    let source = Source::open(&args.file, format)?;
    let settings = crate::select::settings_for_session(global, printer)?;
    let (api, mut ledger) = if args.dry_run {
        (None, Writer::peek(&settings).await?)
    } else {
        let pace = crate::pace::Pace::new(usize::from(args.concurrency), args.rate, printer);
        let api = Arc::new(Api::connect(&settings, printer).await?.paced(pace));
        let wait = args.wait.unwrap_or(Duration::ZERO);
        let ledger = Writer::begin(&settings, Kind::Sync.command(), wait, printer).await?;
        (Some(api), ledger)
    };
    refuse_unadopted_state(&settings, &mut ledger).await?;
    // The first pass records every external id as seen (for "missing from the file") and
    // which rows repeat one, so the second need not; when it finds nothing to do (the nightly
    // run of an unchanged file), there is no second pass.
    let first = validate(&source, &mut ledger, &args, printer).await?;
    let (total, repeats) = (first.rows, first.repeats);
    let mut plan = Plan::default();
    let json_plan = args.json;
    let mut record_plan = |p: Planned| plan.add(p, json_plan, printer);
    let (mut tally, fatal) = if first.work == 0 && !first.invalid {
        let tally = Tally {
            unchanged: first.unchanged,
            ..Tally::default()
        };
        (tally, None)
    } else {
        Driver {
            kind: Kind::Sync,
            ledger: &mut ledger,
            api: api.clone(),
            report: None,
            resend_unknown: args.resend_unknown,
            printer,
            total: Some(total),
            plan: args
                .dry_run
                .then_some(&mut record_plan as &mut dyn FnMut(Planned)),
            repeats: Some(&repeats),
        }
        .run(&mut source.rows()?)
        .await
    };
    if let Some(e) = fatal {
        conclude_early(&tally, printer);
        return Err(e);
    }
    let realm = ledger.realm.clone();
    tally.missing = ledger.ledger.unseen(&realm).await?;
    let location = ledger.ledger.location().to_string();
    if args.dry_run {
        return plan.print(&tally, &location, args.json, printer);
    }
    ledger.finish(&summary(&tally, &location)).await?;
    conclude(tally, &location, args.json, printer)
}

/// The first pass: every row valid, every external id once; else exit 2 with the first
/// problems shown (line, external id, field and rule; never a value) and nothing sent. With
/// `--skip-invalid` the problems are the second pass's to list.
///
/// Batches are pipelined: while the ledger works on one batch's ids, this thread decides the
/// batch before it and reads the one after, so a ledger on a server costs little more than
/// one in a file.
async fn validate(
    source: &Source,
    ledger: &mut Writer,
    args: &Options,
    printer: Printer,
) -> Result<FirstPass> {
    let mut problems = Problems::new();
    let mut first = FirstPass::default();
    let mut rows = source.rows()?;
    let realm = ledger.realm.clone();
    let (mut batch, mut more) = read_batch(&mut rows, &mut first, &mut problems)?;
    let mut answered: Option<Answered> = None;
    loop {
        let ids: Vec<&str> = batch.iter().map(|i| i.x.as_str()).collect();
        let asked = ledger.ledger.see_and_lookup(&realm, &ids);
        let work = || {
            if let Some(done) = answered.take() {
                decide(&realm, done, &mut first, &mut problems);
            }
            more.then(|| read_batch(&mut rows, &mut first, &mut problems))
        };
        let (answer, next) = overlapped(asked, work).await;
        let (fresh, records) = answer?;
        drop(ids);
        answered = Some((batch, fresh, records));
        match next.transpose()? {
            Some((next, still)) => (batch, more) = (next, still),
            None => break,
        }
    }
    if let Some(done) = answered.take() {
        decide(&realm, done, &mut first, &mut problems);
    }
    first.invalid = !problems.is_empty();
    if problems.is_empty() || args.skip_invalid {
        return Ok(first);
    }
    // In the file's order (a batch's repeated ids are found after the next batch's invalid
    // rows were read).
    problems.sort_by_key(|(line, _)| *line);
    for (_, p) in problems.iter().take(SHOWN) {
        printer.status(&format!("  {p}"));
    }
    if problems.len() > SHOWN {
        printer.status(&format!("  ... and {} more", problems.len() - SHOWN));
    }
    Err(CliError::usage(format!(
        "{} invalid row(s) in `{}`; nothing was sent",
        problems.len(),
        args.file
    ))
    .with_hint("the file is the desired state: fix these rows and run again, or pass --skip-invalid to send the valid ones"))
}

/// The first pass's problems: the line, and what is wrong there.
type Problems = Vec<(u64, String)>;

/// A batch, with the ledger's answer for it: per row whether its id is new to the run, and
/// what the ledger holds of the ids.
type Answered = (Vec<Item>, Vec<bool>, HashMap<String, Record>);

/// Count what each row of an answered batch needs; a repeated external id is a problem.
fn decide(
    realm: &Realm,
    (batch, fresh, records): Answered,
    first: &mut FirstPass,
    problems: &mut Problems,
) {
    for (item, fresh) in batch.iter().zip(fresh) {
        if !fresh {
            first.repeats.insert(item.number);
            problems.push((
                item.line,
                format!(
                    "line {}, external id {}: the external id appears twice in the file",
                    item.line,
                    crate::output::terminal_safe(&item.x, false)
                ),
            ));
            continue;
        }
        match plan::action(Kind::Sync, realm, records.get(&item.x), item) {
            Action::Unchanged | Action::Skip(_) => first.unchanged += 1,
            _ => first.work += 1,
        }
    }
}

/// Up to a batch of valid rows; the invalid ones go to `problems`. True while the file may
/// hold more.
fn read_batch(
    rows: &mut dyn Iterator<Item = Result<Row>>,
    first: &mut FirstPass,
    problems: &mut Problems,
) -> Result<(Vec<Item>, bool)> {
    let mut batch = Vec::with_capacity(crate::ledger::BATCH);
    while batch.len() < crate::ledger::BATCH {
        let Some(row) = rows.next().transpose()? else {
            return Ok((batch, false));
        };
        first.rows += 1;
        match (row.contact, row.external_id) {
            (Err(why), x) => {
                let id = x.as_deref().map_or_else(String::new, |x| {
                    format!(", external id {}", crate::output::terminal_safe(x, false))
                });
                problems.push((row.line, format!("line {}{id}: {why}", row.line)));
            }
            (Ok(_), None) => {
                problems.push((row.line, format!("line {}: no external_id", row.line)))
            }
            (Ok(contact), Some(x)) => batch.push(Item {
                number: row.number,
                line: row.line,
                x,
                contact,
            }),
        }
    }
    Ok((batch, true))
}

/// Start `asked` (a ledger query), then do `work` on this thread while its server answers,
/// then wait for the answer. The first poll queues the query; yielding once lets the
/// connection's task write it before `work` holds the thread. (SQLite answers on that first
/// poll: no overlap, no cost.)
async fn overlapped<F: std::future::Future, T>(
    asked: F,
    work: impl FnOnce() -> T,
) -> (F::Output, T) {
    let mut asked = std::pin::pin!(asked);
    let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(asked.as_mut().poll(cx))).await;
    if let std::task::Poll::Ready(answer) = polled {
        return (answer, work());
    }
    tokio::task::yield_now().await;
    let done = work();
    (asked.await, done)
}

/// What the first pass found.
#[derive(Default)]
struct FirstPass {
    rows: u64,
    /// Rows that repeat an earlier row's external id.
    repeats: HashSet<u64>,
    /// Rows that need a request (create, update, look-up), and those that need none.
    work: u64,
    unchanged: u64,
    invalid: bool,
}

/// How many invalid rows are shown before the count.
const SHOWN: usize = 10;

/// The sync state of an earlier hsm (`STATE_DIR/sync/ENV.PROFILE.jsonl`) knows what it sent.
async fn refuse_unadopted_state(settings: &EnvSettings, ledger: &mut Writer) -> Result<()> {
    let Ok(dir) = crate::paths::sync_dir(settings.state_dir.as_deref()) else {
        return Ok(());
    };
    let old = dir.join(format!("{}.{}.jsonl", settings.env, settings.profile));
    if !crate::ledger::adopt::is_old_sync_state(&old) {
        return Ok(());
    }
    ledger.refuse_unadopted(&old, "the sync state").await
}

/// A dry run's plan: printed as it comes (text), or gathered for one JSON object.
#[derive(Default)]
struct Plan {
    create: Vec<String>,
    update: Vec<PlannedUpdate>,
    check: Vec<String>,
}

impl Plan {
    fn add(&mut self, planned: Planned, json: bool, printer: Printer) {
        match planned {
            Planned::Create(x) if json => self.create.push(x),
            Planned::Create(x) => printer.result(&format!("create   {x}")),
            Planned::Update(external_id, fields, adopted) if json => {
                self.update.push(PlannedUpdate {
                    external_id,
                    fields,
                    adopted,
                });
            }
            Planned::Update(x, fields, _) => {
                printer.result(&format!("update   {x}  {}", fields.join(", ")));
            }
            Planned::Check(x) if json => self.check.push(x),
            Planned::Check(x) => printer.result(&format!(
                "check    {x}  (sent before, outcome unknown: looked up first)"
            )),
        }
    }

    fn print(self, t: &Tally, location: &str, json: bool, printer: Printer) -> Result<()> {
        if json {
            printer.json_line(&SyncPlan {
                create: self.create,
                update: self.update,
                unchanged: t.unchanged,
                check: self.check,
                invalid: t.invalid,
                missing: t.missing.clone(),
                ledger: location.to_string(),
            });
        } else {
            for x in &t.missing {
                printer.result(&format!("missing  {x}"));
            }
        }
        for p in &t.problems {
            printer.status(&format!("  {p}"));
        }
        printer.status(&format!(
            "Dry run: {} to create, {} to update, {} unchanged, {} to look up, {} invalid, {} missing from the file; nothing was sent.",
            t.created, t.updated, t.unchanged, t.unknown, t.invalid, t.missing.len()
        ));
        Ok(())
    }
}

fn summary(t: &Tally, location: &str) -> SyncSummary {
    SyncSummary {
        created: t.created,
        updated: t.updated,
        unchanged: t.unchanged,
        found: t.found,
        failed: t.failed + t.refused,
        unknown: t.unknown,
        invalid: t.invalid,
        missing: t.missing.len(),
        missing_external_ids: t.missing.clone(),
        unknown_external_ids: t.unknown_ids.clone(),
        interrupted: t.interrupted,
        ledger: location.to_string(),
    }
}

/// A run stopped by an error still says what it did before.
fn conclude_early(t: &Tally, printer: Printer) {
    printer.status(&format!(
        "Sync stopped: {} created, {} updated, {} unchanged, {} failed, {} unknown so far.",
        t.created + t.found,
        t.updated,
        t.unchanged,
        t.failed + t.refused,
        t.unknown
    ));
}

fn conclude(tally: Tally, location: &str, json: bool, printer: Printer) -> Result<()> {
    let t = &tally;
    printer.status(&format!(
        "Sync: {} created, {} updated, {} unchanged, {} failed, {} unknown, {} invalid, {} missing from the file (never deleted). Ledger: {location}",
        t.created, t.updated, t.unchanged, t.failed + t.refused, t.unknown, t.invalid, t.missing.len()
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
        printer.warn(&format!(
            "{} sent but their outcome is unknown: {}; the next run looks them up before sending (--resend-unknown then sends those a search answered and did not find)",
            t.unknown,
            t.unknown_ids.iter().take(20).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if json {
        printer.json_line(&summary(t, location));
    }
    if tally.interrupted {
        return Err(CliError::interrupted()
            .with_hint("run the same command again to finish: it sends only what is left"));
    }
    tally.exit("re-run the same command: it sends only what is left")
}

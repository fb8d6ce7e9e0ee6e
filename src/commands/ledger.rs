//! `hsm ledger status | history | verify | export | adopt`: look into the ledger of what hsm
//! has sent, check it, back it up, and seed it from the files earlier versions kept.

use std::io::Write;

use crate::cli::{AdoptArgs, HistoryArgs, LedgerCommand};
use crate::error::{CliError, Result};
use crate::ledger::adopt::{self, Format};
use crate::ledger::{Event, Ledger, Location, RealmCounts, RealmKey};
use crate::output::{Printer, terminal_safe};
use crate::settings::{self, EnvSettings, Overrides, Selection};
use crate::shapes::LedgerStatus;

pub async fn run(global: &Selection, cmd: LedgerCommand, printer: Printer) -> Result<()> {
    match cmd {
        LedgerCommand::Status(flag) => status(global, flag.json, printer).await,
        LedgerCommand::History(args) => history(global, args, printer).await,
        LedgerCommand::Verify => verify(global, printer).await,
        LedgerCommand::Export => export(global, printer).await,
        LedgerCommand::Adopt(args) => adopt(global, args, printer).await,
    }
}

/// The commands that only read the ledger need no environment chosen: the ledger's place
/// depends on `HSM_LEDGER` and the state dir alone.
fn local_settings(global: &Selection) -> Result<EnvSettings> {
    settings::resolve(global, &Overrides::default())
}

async fn status(global: &Selection, json: bool, printer: Printer) -> Result<()> {
    let settings = local_settings(global)?;
    let location = Location::of(&settings)?;
    let realms = match Ledger::open_existing(&settings).await? {
        Some(mut ledger) => Some(ledger.status().await?),
        None => None,
    };
    if json {
        printer.json(&LedgerStatus {
            ledger: location.to_string(),
            exists: realms.is_some(),
            realms: realms.unwrap_or_default(),
        });
        return Ok(());
    }
    printer.result(&format!(
        "Ledger: {}",
        terminal_safe(&location.to_string(), false)
    ));
    match realms {
        None => printer.result("  none yet: the first command that writes to the API creates it"),
        Some(realms) if realms.is_empty() => printer.result("  no realm yet: nothing recorded"),
        Some(realms) => realms.iter().for_each(|r| print_realm(r, printer)),
    }
    Ok(())
}

fn print_realm(r: &RealmCounts, printer: Printer) {
    printer.result(&terminal_safe(&r.realm, false));
    printer.result(&format!(
        "  contacts {}, in flight or unknown {}, runs {}, last run {}",
        r.contacts,
        r.in_flight_or_unknown,
        r.runs,
        r.last_run.as_deref().unwrap_or("never")
    ));
}

async fn history(global: &Selection, args: HistoryArgs, printer: Printer) -> Result<()> {
    if args.external_id.trim().is_empty() {
        return Err(CliError::usage("EXTERNAL_ID must not be empty"));
    }
    let settings = crate::select::settings_for_session(global, printer)?;
    let key = RealmKey::of(&settings).await?;
    let mut events = Vec::new();
    if let Some(mut ledger) = Ledger::open_existing(&settings).await? {
        // A realm the ledger has never seen has no history (and is not made by looking).
        if known_realm(&mut ledger, &key).await? {
            let realm = ledger.realm(&key).await?;
            events = ledger.history(&realm, &args.external_id).await?;
        }
    }
    if args.json {
        printer.json(&events);
    } else {
        events.iter().for_each(|e| printer.result(&event_line(e)));
    }
    if events.is_empty() {
        printer.status(&format!(
            "Nothing recorded for {} in {key}.",
            args.external_id
        ));
    }
    Ok(())
}

async fn known_realm(ledger: &mut Ledger, key: &RealmKey) -> Result<bool> {
    let shown = key.to_string();
    Ok(ledger.status().await?.iter().any(|r| r.realm == shown))
}

/// `AT  COMMAND  ACTION  OUTCOME[ (HTTP NNN)]  fields: a, b`; no value, only field names.
fn event_line(e: &Event) -> String {
    let command = if e.command.is_empty() {
        "-"
    } else {
        &e.command
    };
    let mut line = format!("{}  {command}  {}  {}", e.at, e.action, e.outcome);
    if let Some(status) = e.http_status {
        line.push_str(&format!(" (HTTP {status})"));
    }
    if !e.fields.is_empty() {
        line.push_str(&format!("  fields: {}", e.fields.join(", ")));
    }
    terminal_safe(&line, false).into_owned()
}

async fn verify(global: &Selection, printer: Printer) -> Result<()> {
    let settings = local_settings(global)?;
    let location = Location::of(&settings)?;
    let Some(mut ledger) = Ledger::open_existing(&settings).await? else {
        printer.status(&format!("No ledger at {location} yet: nothing to verify."));
        printer.result("ok");
        return Ok(());
    };
    let problems = ledger.verify().await?;
    if problems.is_empty() {
        printer.status(&format!(
            "Ledger {location}: integrity and consistency checked."
        ));
        printer.result("ok");
        return Ok(());
    }
    const SHOWN: usize = 20;
    for problem in problems.iter().take(SHOWN) {
        printer.warn(problem);
    }
    if problems.len() > SHOWN {
        printer.warn(&format!("and {} more", problems.len() - SHOWN));
    }
    Err(CliError::store(format!(
        "ledger {location} is damaged: {} problem(s) found by `hsm ledger verify`",
        problems.len()
    ))
    .with_hint(
        "commands that write refuse it until it is sound; restore it from a backup (`hsm ledger export` made it; `hsm ledger adopt BACKUP` into a fresh ledger), after moving this one away",
    ))
}

async fn export(global: &Selection, printer: Printer) -> Result<()> {
    let settings = local_settings(global)?;
    let location = Location::of(&settings)?;
    let Some(mut ledger) = Ledger::open_existing(&settings).await? else {
        printer.status(&format!("No ledger at {location} yet: nothing to export."));
        return Ok(());
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // A reader that has what it wanted (`| head`) ends the export quietly, as for every
    // command's output.
    let mut closed = false;
    let written = ledger
        .export(&mut |item| {
            let line = serde_json::to_writer(&mut out, &item)
                .map_err(std::io::Error::from)
                .and_then(|_| out.write_all(b"\n"));
            closed = matches!(&line, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe);
            line
        })
        .await;
    let flushed = out.flush();
    drop(out);
    if closed || matches!(&flushed, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
        return Ok(());
    }
    let count = written?;
    flushed.map_err(|e| CliError::usage(format!("cannot write the export: {e}")))?;
    printer.status(&format!("Exported {count} contact(s) from {location}."));
    Ok(())
}

/// What one adoption did, for its summary line.
#[derive(Default)]
struct Adopted {
    adopted: u64,
    known: u64,
    unknown: u64,
    other_realms: u64,
}

async fn adopt(global: &Selection, args: AdoptArgs, printer: Printer) -> Result<()> {
    // The file first: one that is not ours is refused before the ledger or the server is touched.
    let old = adopt::read_old_file(&args.file)?;
    let shown = args.file.display().to_string();
    if old.unreadable > 0 {
        printer.warn(&format!(
            "{shown}: {} unreadable line(s) skipped",
            old.unreadable
        ));
    }
    // Its real path is what the upgrade check remembers as adopted.
    let canonical = std::fs::canonicalize(&args.file)
        .map_err(|e| CliError::usage(format!("cannot read {shown}: {e}")))?;
    let settings = crate::select::settings_for_session(global, printer)?;
    let key = RealmKey::of(&settings).await?;
    let mut ledger = Ledger::open(&settings).await?;
    let mut realm = ledger.realm(&key).await?;
    let _lock = ledger
        .lock(&realm, args.wait, "hsm ledger adopt", printer)
        .await?;
    if old.format == Format::Export
        && let Some(salt) = adopt::salt_of(&old.items, &key)
    {
        ledger.adopt_salt(&mut realm, &salt).await?;
    }
    let mut done = Adopted::default();
    for chunk in old.items.chunks(crate::ledger::BATCH) {
        let mine: Vec<_> = chunk
            .iter()
            .filter(|item| adopt::belongs(item, &realm))
            .collect();
        done.other_realms += (chunk.len() - mine.len()) as u64;
        let ids: Vec<&str> = mine.iter().map(|i| i.external_id.as_str()).collect();
        // Whatever the ledger already holds (a contact, or a request of its own in flight)
        // knows more than an old file: it is left as it is.
        let known = ledger.lookup(&realm, &ids).await?;
        let fresh: Vec<_> = mine
            .into_iter()
            .filter(|item| !known.contains_key(&item.external_id))
            .map(|item| adopt::for_realm(item, &realm))
            .collect();
        done.known += (ids.len() - fresh.len()) as u64;
        let adopted = ledger.adopt_all(&realm, &fresh).await?;
        for (item, adopted) in fresh.iter().zip(adopted) {
            if !adopted {
                done.known += 1;
            } else if item.contact_id.is_some() {
                done.adopted += 1;
            } else {
                done.unknown += 1;
            }
        }
    }
    ledger
        .mark_adopted(&realm, &canonical.display().to_string())
        .await?;
    printer.status(&format!(
        "Adopted {} contact(s) from {shown} ({}) into {key}: {} already known, {} with an unknown outcome (looked up before anything is sent for them).",
        done.adopted,
        old.format.name(),
        done.known,
        done.unknown
    ));
    if done.other_realms > 0 {
        printer.warn(&format!(
            "{} contact(s) of the export belong to other realms and were skipped: adopt it again with the --env and --profile they were written under",
            done.other_realms
        ));
    }
    Ok(())
}

//! `hsm contacts create | update | search`: build the contact from `--data` and flags,
//! validate it against the schema before anything is sent, call the API, print the result.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::api::{self, Api};
use crate::cli::{ContactFields, CreateArgs, DataArgs, SearchArgs, UpdateArgs};
use crate::contact::input::{contact_from_json, value_from_text};
use crate::contact::schema::{self, Mode, field_spec};
use crate::error::{CliError, Result};
use crate::ledger::{Outcome, Pending, Writer, synced_fields};
use crate::output::Printer;
use crate::settings::{EnvSettings, Selection};

pub async fn create(global: &Selection, args: CreateArgs, printer: Printer) -> Result<()> {
    let contact = build_contact(&args.data, &args.fields, Mode::Create)?;
    let external_id = contact
        .get("external_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let settings = crate::select::settings_for_session(global, printer)?;
    let api = Api::connect(&settings, printer).await?;
    let wait = Duration::from_secs(args.wait.wait.unwrap_or(ONE_CONTACT_WAIT));
    let mut ledger = Writer::begin_one(&settings, "contacts create", wait, printer).await?;
    if !args.allow_duplicate {
        refuse_known(&mut ledger, &external_id).await?;
    }
    let pending = Pending {
        create: true,
        d: ledger.realm.digests(&contact, synced_fields(&contact)),
    };
    // Recorded before the request exists: a crash from here on leaves it "unknown".
    ledger.sent(&external_id, &pending).await?;
    let result = api::contacts::create(&api, contact).await;
    let outcome = match &result {
        Ok(answer) => match api::contacts::contact_id(answer) {
            Some(id) => Outcome::Created(id.to_string()),
            None => Outcome::Unknown(None),
        },
        Err(e) => settled_failure(e),
    };
    ledger.settle(&external_id, &outcome).await?;
    ledger
        .finish(&serde_json::json!({"outcome": outcome_word(&outcome)}))
        .await?;
    let answer = result.map_err(|e| {
        let unknown = e.failure == api::Failure::Unknown;
        let err = e.into_cli();
        if unknown {
            err.with_hint("the contact may or may not have been created; check with `hsm contacts search` before creating it again (the ledger keeps it as unknown: import and sync look it up first)")
        } else {
            err
        }
    })?;
    print_answer(&answer, args.data.json, printer, "created");
    Ok(())
}

/// How long a one-contact command waits for another hsm writing to the same realm: its own
/// write takes one request, so waiting a little beats failing a script that runs several.
const ONE_CONTACT_WAIT: u64 = 10;

/// An external id the ledger holds in this realm is not created again: exit 2 with the
/// contact id and the command that changes it instead.
async fn refuse_known(ledger: &mut Writer, external_id: &str) -> Result<()> {
    let Some(record) = ledger.record(external_id).await? else {
        return Ok(());
    };
    let safe = crate::output::terminal_safe(external_id, false);
    if let Some(id) = &record.contact_id {
        return Err(CliError::usage(format!(
            "external id {safe} was already created by hsm here, as contact {id}"
        ))
        .with_hint(format!(
            "nothing was sent; change it with `hsm contacts update {id} ...`, or pass --allow-duplicate to create another"
        )));
    }
    if record.pending.is_some() {
        return Err(CliError::usage(format!(
            "external id {safe} was sent before and its outcome is unknown"
        ))
        .with_hint("nothing was sent; check with `hsm contacts search`, then pass --allow-duplicate to create it if it is not there"));
    }
    Ok(())
}

/// How a failed request is recorded: unknown when it may have reached the server, else
/// failed (the server did not act).
fn settled_failure(e: &api::ApiError) -> Outcome {
    match e.failure {
        api::Failure::Unknown => Outcome::Unknown(e.status),
        _ => Outcome::Failed(e.status),
    }
}

fn outcome_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Created(_) => "created",
        Outcome::Updated(true) => "updated",
        Outcome::Updated(false) => "unchanged",
        Outcome::Unknown(_) => "unknown",
        _ => "failed",
    }
}

pub async fn update(global: &Selection, args: UpdateArgs, printer: Printer) -> Result<()> {
    if args.contact_id.trim().is_empty() {
        return Err(CliError::usage("CONTACT_ID must not be empty"));
    }
    let changes = build_contact(&args.data, &args.fields, Mode::Update)?;
    if changes.is_empty() {
        return Err(CliError::usage(
            "nothing to update: give at least one field flag or --data",
        ));
    }
    let settings = crate::select::settings_for_session(global, printer)?;
    let api = Api::connect(&settings, printer).await?;
    let wait = Duration::from_secs(args.wait.wait.unwrap_or(ONE_CONTACT_WAIT));
    let mut ledger = Writer::begin_one(&settings, "contacts update", wait, printer).await?;
    // A contact the ledger knows has its digests brought up to date; one it does not know
    // (created elsewhere) is left out of it.
    let realm = ledger.realm.clone();
    let known = ledger
        .ledger
        .by_contact_id(&realm, &args.contact_id)
        .await?;
    if let Some(x) = &known {
        let pending = Pending {
            create: false,
            d: realm.digests(&changes, synced_fields(&changes)),
        };
        ledger.sent(x, &pending).await?;
    }
    let result = api::contacts::update(&api, &args.contact_id, changes).await;
    if let Some(x) = &known {
        let outcome = match &result {
            Ok(answer) => Outcome::Updated(answer.is_some()),
            Err(e) => settled_failure(e),
        };
        ledger.settle(x, &outcome).await?;
        ledger
            .finish(&serde_json::json!({"outcome": outcome_word(&outcome)}))
            .await?;
    }
    match result.map_err(|e| e.into_cli())? {
        Some(answer) => print_answer(&answer, args.data.json, printer, "updated"),
        None => {
            printer.status(&format!(
                "No changes: contact {} already had these values.",
                args.contact_id
            ));
            if args.data.json {
                printer.result("{}");
            } else {
                printer.result(&args.contact_id);
            }
        }
    }
    Ok(())
}

pub async fn search(global: &Selection, args: SearchArgs, printer: Printer) -> Result<()> {
    let query = search_query(&args)?;
    let settings: EnvSettings = crate::select::settings_for_session(global, printer)?;
    let api = Api::connect(&settings, printer).await?;
    let answer = api::contacts::search(&api, query)
        .await
        .map_err(|e| e.into_cli())?;
    if args.json {
        printer.result(&serde_json::to_string_pretty(&answer).unwrap_or_default());
    }
    match api::contacts::contact(&answer) {
        Some(contact) => {
            if !args.json {
                printer.result(contact.get("id").and_then(Value::as_str).unwrap_or(""));
            }
            if let Some(url) = api::contacts::redirect_url(&answer) {
                printer.status(&format!("Quote page: {url}"));
            }
        }
        None => printer.status("No matching contact."),
    }
    Ok(())
}

/// The documented search rules: the Medicare number alone, or a name plus at least one of
/// birth date, email or phone. Each given value is validated like the contact field.
fn search_query(args: &SearchArgs) -> Result<Map<String, Value>> {
    let given: Vec<(&str, &Option<String>)> = vec![
        ("medicare_number", &args.medicare_number),
        ("first_name", &args.first_name),
        ("last_name", &args.last_name),
        ("birth_date", &args.birth_date),
        ("email", &args.email),
        ("phone", &args.phone),
    ];
    let mut query = Map::new();
    for (name, value) in given {
        if let Some(v) = value {
            query.insert(name.to_string(), Value::String(v.clone()));
        }
    }
    let has = |k: &str| query.contains_key(k);
    let by_number = has("medicare_number");
    let by_name = (has("first_name") || has("last_name"))
        && (has("birth_date") || has("email") || has("phone"));
    if by_number && query.len() > 1 {
        return Err(CliError::usage(
            "--medicare-number searches on its own: drop the other flags",
        ));
    }
    if !by_number && !by_name {
        return Err(CliError::usage(
            "search needs --medicare-number, or --first-name/--last-name with --birth-date, --email or --phone",
        ));
    }
    crate::contact::input::normalise(&mut query);
    let errors = schema::validate(&query, Mode::Update);
    if !errors.is_empty() {
        return Err(invalid_fields(&errors));
    }
    Ok(query)
}

/// `--data` first, then each flag over it; then the schema's checks, all at once.
pub fn build_contact(
    data: &DataArgs,
    fields: &ContactFields,
    mode: Mode,
) -> Result<Map<String, Value>> {
    let mut contact = match &data.data {
        Some(spec) => contact_from_json(&read_data(spec)?)
            .map_err(|e| CliError::usage(format!("--data: {e}")))?,
        None => Map::new(),
    };
    for (name, text) in &fields.0 {
        let spec = field_spec(name)
            .ok_or_else(|| CliError::bug(format!("flag for unknown field {name}")))?;
        let value =
            value_from_text(spec, text).map_err(|e| CliError::usage(format!("invalid {e}")))?;
        contact.insert(name.to_string(), value);
    }
    crate::contact::input::normalise(&mut contact);
    let errors = schema::validate(&contact, mode);
    if !errors.is_empty() {
        return Err(invalid_fields(&errors));
    }
    Ok(contact)
}

fn read_data(spec: &str) -> Result<String> {
    use crate::bounded;
    if spec == "-" {
        let bytes = bounded::read_capped(std::io::stdin(), bounded::BODY)
            .map_err(|e| CliError::usage(format!("--data -: cannot read stdin: {e}")))?;
        return String::from_utf8(bytes)
            .map_err(|_| CliError::usage("--data -: stdin is not UTF-8 text"));
    }
    if let Some(path) = spec.strip_prefix('@') {
        return bounded::read_text(std::path::Path::new(path), bounded::BODY)
            .map_err(|e| CliError::usage(format!("--data @{path}: {e}")));
    }
    Ok(spec.to_string())
}

/// One `error:` line naming every invalid field (the first line is what scripts grep).
pub fn invalid_fields(errors: &[schema::FieldError]) -> CliError {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    CliError::usage(format!("invalid contact: {}", list.join("; "))).with_hint("nothing was sent")
}

fn print_answer(answer: &Value, json: bool, printer: Printer, verb: &str) {
    if json {
        printer.result(&serde_json::to_string_pretty(answer).unwrap_or_default());
    } else if let Some(id) = api::contacts::contact_id(answer) {
        printer.result(id);
    }
    match api::contacts::redirect_url(answer) {
        Some(url) => printer.status(&format!("Contact {verb}; quote page: {url}")),
        None => printer.status(&format!("Contact {verb}.")),
    }
}

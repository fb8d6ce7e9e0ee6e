//! `hsm contacts create | update | search`: build the contact from `--data` and flags,
//! validate it against the schema before anything is sent, call the API, print the result.

use serde_json::{Map, Value};

use crate::api::{self, Api};
use crate::cli::{ContactFields, CreateArgs, DataArgs, GlobalArgs, SearchArgs, UpdateArgs};
use crate::contact::input::{contact_from_json, value_from_text};
use crate::contact::schema::{self, Mode, field_spec};
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::settings::EnvSettings;

pub async fn create(global: &GlobalArgs, args: CreateArgs, printer: Printer) -> Result<()> {
    let contact = build_contact(&args.data, &args.fields, Mode::Create)?;
    let settings = crate::select::settings_for_session(global, printer)?;
    let api = Api::connect(&settings, printer).await?;
    let answer = api::contacts::create(&api, contact).await.map_err(|e| {
        let unknown = e.failure == api::Failure::Unknown;
        let err = e.into_cli();
        if unknown {
            err.with_hint("the contact may or may not have been created; check with `hsm contacts search` before creating it again")
        } else {
            err
        }
    })?;
    print_answer(&answer, args.data.json, printer, "created");
    Ok(())
}

pub async fn update(global: &GlobalArgs, args: UpdateArgs, printer: Printer) -> Result<()> {
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
    match api::contacts::update(&api, &args.contact_id, changes)
        .await
        .map_err(|e| e.into_cli())?
    {
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

pub async fn search(global: &GlobalArgs, args: SearchArgs, printer: Printer) -> Result<()> {
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

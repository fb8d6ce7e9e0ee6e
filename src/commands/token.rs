use crate::cli::TokenCommand;
use crate::credentials::record::now;
use crate::credentials::{self, Record};
use crate::env_vars as ev;
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::secret::Secret;
use crate::settings::{EnvSettings, Selection, TokenSource};
use crate::shapes::{ProvidedToken, StoredToken, TokenReport};

pub async fn run(global: &Selection, cmd: TokenCommand, printer: Printer) -> Result<()> {
    let settings = crate::select::settings_for_session(global, printer)?;
    match cmd {
        TokenCommand::Show(args) if args.check => check(&settings, args.json, printer).await,
        TokenCommand::Show(args) => show(&settings, args.json, printer),
        TokenCommand::Refresh(flag) => refresh(&settings, flag.json, printer).await,
        TokenCommand::Print => {
            let token = crate::session::access_token(&settings, printer).await?;
            printer.result(token.expose());
            Ok(())
        }
    }
}

fn show(settings: &EnvSettings, json: bool, printer: Printer) -> Result<()> {
    if let TokenSource::Variable(token) = &settings.token {
        let report = TokenReport::Provided(provided(settings, token, None));
        return print_report(&report, json, printer);
    }
    let store = credentials::open_store(&settings.store)?;
    let record = credentials::load_record(store.as_ref(), &settings.account())?
        .ok_or_else(|| crate::session::not_logged_in(settings))?;
    let report = describe(settings, store.kind().name(), &store.location(), &record);
    print_report(&TokenReport::Stored(report), json, printer)
}

/// `token show --check`: one cheap authenticated call (a search that matches no one: read
/// only, nothing created), refreshing first when needed as any command would; then the
/// report, from the store as the call left it.
async fn check(settings: &EnvSettings, json: bool, printer: Printer) -> Result<()> {
    let api = crate::api::Api::connect(settings, printer).await?;
    let mut probe = serde_json::Map::new();
    probe.insert("medicare_number".into(), CHECK_MEDICARE_NUMBER.into());
    match crate::api::contacts::search(&api, probe).await {
        Ok(_) => {}
        // The server authenticated the call and then disliked the query: the token is good.
        Err(e) if e.failure == crate::api::Failure::Refused => {}
        Err(e) => return Err(e.into_cli()),
    }
    let report = if let TokenSource::Variable(token) = &settings.token {
        TokenReport::Provided(provided(settings, token, Some(true)))
    } else {
        let store = credentials::open_store(&settings.store)?;
        let record = credentials::load_record(store.as_ref(), &settings.account())?
            .ok_or_else(|| crate::session::not_logged_in(settings))?;
        let mut report = describe(settings, store.kind().name(), &store.location(), &record);
        report.status = "valid";
        report.checked = true;
        TokenReport::Stored(report)
    };
    print_report(&report, json, printer)
}

/// The token `HSM_ACCESS_TOKEN` provides; `checked` after `--check` found it valid.
fn provided(settings: &EnvSettings, token: &Secret, checked: Option<bool>) -> ProvidedToken {
    ProvidedToken {
        env: settings.env.clone(),
        profile: settings.profile.clone(),
        store: "environment",
        source: ev::HSM_ACCESS_TOKEN,
        status: if checked == Some(true) {
            "valid"
        } else {
            "provided"
        },
        access_token: token.masked(),
        refreshable: false,
        checked,
    }
}

/// A Medicare number that no beneficiary has (MBIs never use the letters S, L, O, I, B, Z),
/// for `--check`'s search.
const CHECK_MEDICARE_NUMBER: &str = "1SL0OIBZ000";

async fn refresh(settings: &EnvSettings, json: bool, printer: Printer) -> Result<()> {
    if let TokenSource::Variable(_) = settings.token {
        return Err(CliError::usage(format!(
            "{} is set: that token is used as is and cannot be refreshed",
            ev::HSM_ACCESS_TOKEN
        )));
    }
    let (record, store) = crate::session::force_refresh(settings, printer).await?;
    let report = describe(settings, store.kind().name(), &store.location(), &record);
    if json {
        return print_report(&TokenReport::Stored(report), true, printer);
    }
    printer.status(&format!(
        "Refreshed the access token for {} (profile {}); the rotated refresh token is stored.",
        settings.env, settings.profile
    ));
    printer.result(&format!(
        "expires: {}",
        report.expires.as_deref().unwrap_or("unknown")
    ));
    Ok(())
}

fn describe(
    settings: &EnvSettings,
    store: &'static str,
    location: &str,
    r: &Record,
) -> StoredToken {
    let now = now();
    let left = r.expires_in(now);
    let refreshable = r.refresh_token.is_some();
    let status = match left {
        Some(s) if s <= 0 && refreshable => "expired (refreshes on next use)",
        Some(s) if s <= 0 => "expired",
        Some(s) if s <= crate::session::REFRESH_MARGIN as i64 => "expiring (refreshes on next use)",
        _ => "valid",
    };
    StoredToken {
        env: settings.env.clone(),
        profile: settings.profile.clone(),
        store,
        location: location.to_string(),
        client_id: r.client_id.clone(),
        token_url: r.token_url.clone(),
        scope: r.scope.clone(),
        token_type: r.token_type.clone(),
        expires: r.expires_at.map(rfc3339),
        expires_in: left,
        status,
        checked: false,
        refreshable,
        access_token: r.access_token.masked(),
        refresh_token: r.refresh_token.as_ref().map(Secret::masked),
        updated: rfc3339(r.updated_at),
    }
}

/// "valid" says what was checked: only the stored expiry, or the server too.
fn valid_text(expires: Option<&str>, checked: bool) -> String {
    let until = expires.map_or_else(String::new, |t| format!(" until {t}"));
    if checked {
        format!("valid{until}, checked with the server just now")
    } else {
        format!("valid{until}, not checked with the server (hsm token show --check checks it)")
    }
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z); a stored or announced expiry
/// past it (a server's `expires_in` of years) is shown as that, never a panic.
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

pub(super) fn rfc3339(unix: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.min(LAST_RFC3339_SECOND));
    humantime::format_rfc3339_seconds(t).to_string()
}

pub(super) fn relative(secs: i64) -> String {
    let d = humantime::format_duration(std::time::Duration::from_secs(secs.unsigned_abs()));
    if secs >= 0 {
        format!("in {d}")
    } else {
        format!("{d} ago")
    }
}

/// As JSON, or as one `key  value` line per field in the JSON's order (nulls left out).
fn print_report(report: &TokenReport, json: bool, printer: Printer) -> Result<()> {
    if json {
        printer.json(report);
        return Ok(());
    }
    let (expires, checked) = match report {
        TokenReport::Stored(s) => (s.expires.as_deref(), s.checked),
        TokenReport::Provided(p) => (None, p.checked == Some(true)),
    };
    let serde_json::Value::Object(map) = serde_json::to_value(report).unwrap_or_default() else {
        return Ok(());
    };
    for (key, value) in &map {
        let text = match (key.as_str(), value) {
            (_, serde_json::Value::Null) => continue,
            ("expires_in", v) => relative(v.as_i64().unwrap_or(0)),
            ("checked", _) => continue,
            ("status", v) if v == "valid" => valid_text(expires, checked),
            (_, serde_json::Value::String(s)) => s.clone(),
            (_, v) => v.to_string(),
        };
        printer.result(&format!("{key:<13} {text}"));
    }
    Ok(())
}

//! `hsm status [--json]`: every environment and profile with a stored session, in the store
//! in use (and in the file store when the keychain is in use and a credentials file exists),
//! with its scope, expiry and whether it refreshes, like `gh auth status`. Exit 0 when at
//! least one session in the store in use is usable, 4 when none is.

mod sandbox_check;

use serde_json::{Value, json};

use crate::cli::GlobalArgs;
use crate::credentials::record::now;
use crate::credentials::{self, SecretStore, StoreKind};
use crate::env_vars as ev;
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::settings::{self, EnvSettings, StoreChoice, TokenSource};

pub async fn run(global: &GlobalArgs, json: bool, printer: Printer) -> Result<()> {
    let settings = settings::resolve(global, &crate::select::attended(printer))?;
    let mut rows = Vec::new();
    if let TokenSource::Variable(token) = &settings.token {
        rows.push(json!({
            "env": settings.env, "profile": settings.profile, "store": "environment",
            "location": ev::HSM_ACCESS_TOKEN, "scope": null, "expires": null, "expires_in": null,
            "refreshable": false, "usable": true, "in_use": true,
            "status": format!("{} is set ({}): used as is, not checked", ev::HSM_ACCESS_TOKEN, token.masked()),
        }));
    }
    let mut sandbox_sessions = Vec::new();
    let in_use = match credentials::open_store(&settings.store) {
        Ok(store) => list(store.as_ref(), true, &mut rows, &mut sandbox_sessions),
        Err(e) => Err(e),
    };
    check_sandbox_sessions(&mut rows, sandbox_sessions).await;
    if let Err(e) = &in_use {
        printer.warn(&format!("{}: {}", store_name(&settings), e.message));
    }
    if let Some(file) = other_file_store(&settings)
        && let Err(e) = list(file.as_ref(), false, &mut rows, &mut Vec::new())
    {
        printer.warn(&format!("file store: {}", e.message));
    }
    if json {
        printer.result(&serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        print_table(&rows, printer);
    }
    conclude(&settings, &rows, in_use)
}

fn store_name(settings: &EnvSettings) -> &'static str {
    match settings.store {
        StoreChoice::Keychain { .. } => "OS keychain",
        StoreChoice::File { .. } => "file store",
        // Any other store (and an unknown HSM_CREDENTIAL_STORE value).
        _ => "credential store",
    }
}

/// With the keychain in use, sessions kept in a credentials file (by `HSM_CREDENTIAL_STORE=file`
/// or the choice `hsm login` offers where there is no keychain) are listed too, marked as
/// needing that variable.
fn other_file_store(settings: &EnvSettings) -> Option<Box<dyn SecretStore>> {
    if !matches!(settings.store, StoreChoice::Keychain { .. }) {
        return None;
    }
    let path = crate::paths::credentials_file(settings.credentials_file.as_deref()).ok()?;
    path.exists()
        .then(|| credentials::file_store(settings).ok())
        .flatten()
}

/// A stored sandbox session to check with the sandbox: its row, token URL and refresh token.
type SandboxSession = (usize, String, Option<crate::secret::Secret>);

/// A sandbox session the running sandbox does not know, or with no sandbox running, is not
/// usable, whatever its expiry says.
async fn check_sandbox_sessions(rows: &mut [Value], sessions: Vec<SandboxSession>) {
    use sandbox_check::Known;
    for (i, token_url, refresh_token) in sessions {
        let status = match sandbox_check::ask(&token_url, refresh_token.as_ref()).await {
            Some(Known::No) => "unknown to the running sandbox: it was restarted, and a restarted sandbox forgets its sessions; run hsm login --env sandbox".to_string(),
            Some(Known::NotRunning(origin)) => format!(
                "no hsm sandbox is running at {origin}; a new one will not know this session: start it, then hsm login --env sandbox"
            ),
            Some(Known::Yes) | None => continue,
        };
        rows[i]["usable"] = json!(false);
        rows[i]["status"] = json!(status);
    }
}

fn list(
    store: &dyn SecretStore,
    in_use: bool,
    rows: &mut Vec<Value>,
    sandbox_sessions: &mut Vec<SandboxSession>,
) -> Result<()> {
    for (env, profile) in credentials::sessions(store)? {
        let account = format!("{env}/{profile}");
        let mut row = json!({
            "env": env, "profile": profile, "store": store.kind().name(),
            "location": store.location(), "in_use": in_use,
        });
        match credentials::load_record(store, &account) {
            Ok(Some(r)) => {
                let left = r.expires_in(now());
                let refreshable = r.refresh_token.is_some();
                let live = left.is_none_or(|s| s > 0);
                row["scope"] = json!(r.scope);
                row["expires"] = json!(r.expires_at.map(super::token::rfc3339));
                row["expires_in"] = json!(left);
                row["refreshable"] = json!(refreshable);
                row["usable"] = json!(in_use && (live || refreshable));
                row["status"] = json!(match (live, refreshable) {
                    (true, _) => "access token valid (not checked with the server)",
                    (false, true) => "access token expired; refreshes on next use",
                    (false, false) => "expired; run hsm login",
                });
                if in_use && env == crate::sandbox_env::ENV {
                    sandbox_sessions.push((rows.len(), r.token_url.clone(), r.refresh_token));
                }
            }
            Ok(None) => continue,
            Err(e) => {
                row["usable"] = json!(false);
                row["status"] = json!(e.message);
            }
        }
        if !in_use {
            row["status"] = json!(format!("needs {}=file", ev::HSM_CREDENTIAL_STORE));
        }
        rows.push(row);
    }
    Ok(())
}

fn print_table(rows: &[Value], printer: Printer) {
    if rows.is_empty() {
        return;
    }
    printer.result(&format!(
        "{:<22} {:<9} {:<36} {:<10} STATUS",
        "ENV/PROFILE", "STORE", "EXPIRES", "REFRESHES"
    ));
    for r in rows {
        let text = |k: &str| r[k].as_str().unwrap_or("-").to_string();
        let expires = match r["expires_in"].as_i64() {
            Some(s) => format!("{} ({})", text("expires"), super::token::relative(s)),
            None => "-".to_string(),
        };
        let expires = expires.split('T').collect::<Vec<_>>().join(" ");
        printer.result(&format!(
            "{:<22} {:<9} {:<36} {:<10} {}",
            format!("{}/{}", text("env"), text("profile")),
            text("store"),
            expires,
            if r["refreshable"] == json!(true) {
                "yes"
            } else {
                "no"
            },
            text("status"),
        ));
    }
}

fn conclude(settings: &EnvSettings, rows: &[Value], in_use: Result<()>) -> Result<()> {
    if rows.iter().any(|r| r["usable"] == json!(true)) {
        return Ok(());
    }
    if rows.is_empty()
        && let Err(e) = in_use
    {
        return Err(e);
    }
    let hint = if rows
        .iter()
        .any(|r| r["store"] == json!(StoreKind::File.name()))
    {
        format!(
            "run `hsm login --env ENV`, or set {}=file to use the sessions in the file store",
            ev::HSM_CREDENTIAL_STORE
        )
    } else {
        "run `hsm login --env ENV` (e.g. --env sandbox against `hsm sandbox`)".to_string()
    };
    let what = if rows.is_empty() {
        format!("no stored session in the {}", store_name(settings))
    } else {
        "no usable session".to_string()
    };
    Err(CliError::auth(what).with_hint(hint))
}

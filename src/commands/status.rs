//! `hsm status [--json]`: every environment and profile with a stored session, in the store
//! in use (and in the file store when the keychain is in use and a credentials file exists),
//! with its scope, expiry and whether it refreshes, like `gh auth status`. Exit 0 when at
//! least one session in the store in use is usable, 4 when none is.

mod sandbox_check;

use crate::credentials::record::now;
use crate::credentials::{self, SecretStore, StoreKind};
use crate::env_vars as ev;
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::settings::{self, EnvSettings, Selection, StoreChoice, TokenSource};
use crate::shapes::{SessionFacts, StatusRow};

pub async fn run(global: &Selection, json: bool, printer: Printer) -> Result<()> {
    let settings = settings::resolve(global, &crate::select::attended(printer))?;
    let mut rows = Vec::new();
    if let TokenSource::Variable(token) = &settings.token {
        rows.push(StatusRow {
            env: settings.env.clone(),
            profile: settings.profile.clone(),
            store: "environment".to_string(),
            location: ev::HSM_ACCESS_TOKEN.to_string(),
            in_use: true,
            session: Some(SessionFacts {
                scope: None,
                expires: None,
                expires_in: None,
                refreshable: false,
            }),
            usable: true,
            status: format!(
                "{} is set ({}): used as is, not checked",
                ev::HSM_ACCESS_TOKEN,
                token.masked()
            ),
        });
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
        printer.json(&rows);
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
async fn check_sandbox_sessions(rows: &mut [StatusRow], sessions: Vec<SandboxSession>) {
    use sandbox_check::Known;
    for (i, token_url, refresh_token) in sessions {
        let status = match sandbox_check::ask(&token_url, refresh_token.as_ref()).await {
            Some(Known::No) => "unknown to the running sandbox: it was restarted, and a restarted sandbox forgets its sessions; run hsm login --env sandbox".to_string(),
            Some(Known::NotRunning(origin)) => format!(
                "no hsm sandbox is running at {origin}; a new one will not know this session: start it, then hsm login --env sandbox"
            ),
            Some(Known::Yes) | None => continue,
        };
        rows[i].usable = false;
        rows[i].status = status;
    }
}

fn list(
    store: &dyn SecretStore,
    in_use: bool,
    rows: &mut Vec<StatusRow>,
    sandbox_sessions: &mut Vec<SandboxSession>,
) -> Result<()> {
    for (env, profile) in credentials::sessions(store)? {
        let account = format!("{env}/{profile}");
        let (session, usable, status) = match credentials::load_record(store, &account) {
            Ok(Some(r)) => {
                let left = r.expires_in(now());
                let refreshable = r.refresh_token.is_some();
                let live = left.is_none_or(|s| s > 0);
                let status = match (live, refreshable) {
                    (true, _) => "access token valid (not checked with the server)",
                    (false, true) => "access token expired; refreshes on next use",
                    (false, false) => "expired; run hsm login",
                };
                if in_use && env == crate::sandbox_env::ENV {
                    sandbox_sessions.push((rows.len(), r.token_url.clone(), r.refresh_token));
                }
                let facts = SessionFacts {
                    scope: r.scope,
                    expires: r.expires_at.map(super::token::rfc3339),
                    expires_in: left,
                    refreshable,
                };
                (
                    Some(facts),
                    in_use && (live || refreshable),
                    status.to_string(),
                )
            }
            Ok(None) => continue,
            Err(e) => (None, false, e.message),
        };
        let status = if in_use {
            status
        } else {
            format!("needs {}=file", ev::HSM_CREDENTIAL_STORE)
        };
        rows.push(StatusRow {
            env,
            profile,
            store: store.kind().name().to_string(),
            location: store.location(),
            in_use,
            session,
            usable,
            status,
        });
    }
    Ok(())
}

fn print_table(rows: &[StatusRow], printer: Printer) {
    if rows.is_empty() {
        return;
    }
    printer.result(&format!(
        "{:<22} {:<9} {:<36} {:<10} STATUS",
        "ENV/PROFILE", "STORE", "EXPIRES", "REFRESHES"
    ));
    for r in rows {
        let session = r.session.as_ref();
        let expires = match session.and_then(|s| s.expires_in) {
            Some(s) => format!(
                "{} ({})",
                session.and_then(|s| s.expires.as_deref()).unwrap_or("-"),
                super::token::relative(s)
            ),
            None => "-".to_string(),
        };
        let expires = expires.split('T').collect::<Vec<_>>().join(" ");
        printer.result(&format!(
            "{:<22} {:<9} {:<36} {:<10} {}",
            format!("{}/{}", r.env, r.profile),
            r.store,
            expires,
            if session.is_some_and(|s| s.refreshable) {
                "yes"
            } else {
                "no"
            },
            r.status,
        ));
    }
}

fn conclude(settings: &EnvSettings, rows: &[StatusRow], in_use: Result<()>) -> Result<()> {
    if rows.iter().any(|r| r.usable) {
        return Ok(());
    }
    if rows.is_empty()
        && let Err(e) = in_use
    {
        return Err(e);
    }
    let hint = if rows.iter().any(|r| r.store == StoreKind::File.name()) {
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

//! A usable session: the stored tokens, refreshed when they expire. Each refresh is a
//! transaction across processes: lock, re-read, spend the refresh token only if no sibling
//! already did, persist the rotated pair, unlock. With a store shared between machines
//! (etcd), the store's own lock is taken after the local one, so that processes on one
//! machine queue locally first. Stored credentials are never deleted
//! because a refresh failed.

use std::fs::{File, OpenOptions};
use std::time::{Duration, Instant};

use crate::auth::oauth::{self, ClientCredentials, TokenError};
use crate::credentials::record::now;
use crate::credentials::{self, Record, SecretStore};
use crate::env_vars as ev;
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::retry::Policy;
use crate::secret::Secret;
use crate::settings::{EnvSettings, TokenSource};

/// Refresh when the access token expires within this many seconds.
pub const REFRESH_MARGIN: u64 = 60;
/// How long to wait for another process's refresh before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// The longest wait between two refresh attempts, whatever the server's `Retry-After`.
const MAX_REFRESH_WAIT: Duration = Duration::from_secs(10);

pub fn not_logged_in(settings: &EnvSettings) -> CliError {
    CliError::auth(format!(
        "not logged in to {} (profile {})",
        settings.env, settings.profile
    ))
    .with_hint(login_hint(settings))
}

fn login_hint(settings: &EnvSettings) -> String {
    let env = if settings.env == crate::settings::DEFAULT_ENV {
        String::new()
    } else {
        format!(" --env {}", settings.env)
    };
    let profile = if settings.profile == crate::settings::DEFAULT_PROFILE {
        String::new()
    } else {
        format!(" --profile {}", settings.profile)
    };
    format!(
        "run `hsm login{env}{profile}`; in CI, set {} or provide a credential store",
        ev::HSM_ACCESS_TOKEN
    )
}

/// The access token to call the API with: `HSM_ACCESS_TOKEN` as is, or the stored one,
/// refreshed first when it expires within `REFRESH_MARGIN`.
pub async fn access_token(settings: &EnvSettings, printer: Printer) -> Result<Secret> {
    if let TokenSource::Variable(token) = &settings.token {
        return Ok(token.clone());
    }
    let store = credentials::open_store(&settings.store)?;
    let seen = credentials::load_record(store.as_ref(), &settings.account())?
        .ok_or_else(|| not_logged_in(settings))?;
    if !seen.needs_refresh(now(), REFRESH_MARGIN) {
        return usable(seen.access_token, settings);
    }
    let record = refresh_locked(settings, store.as_ref(), &seen, false, printer).await?;
    usable(record.access_token, settings)
}

/// A stored token that cannot go in an `Authorization` header (a line break, a control
/// character: an edited or damaged store) is a store error (exit 6), not a network one.
fn usable(token: Secret, settings: &EnvSettings) -> Result<Secret> {
    if token.expose().bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(token);
    }
    Err(CliError::store(format!(
        "the stored access token for {} (profile {}) is damaged: it holds characters a token cannot",
        settings.env, settings.profile
    ))
    .with_hint(login_hint(settings)))
}

/// After the API answered 401 `invalid_token` to `rejected`: refresh unless a sibling
/// already replaced it.
pub async fn refresh_after_rejection(
    settings: &EnvSettings,
    rejected: &Secret,
    printer: Printer,
) -> Result<Secret> {
    if let TokenSource::Variable(_) = settings.token {
        return Err(CliError::auth(format!(
            "the API rejected the token in {} (invalid or expired)",
            ev::HSM_ACCESS_TOKEN
        )));
    }
    let store = credentials::open_store(&settings.store)?;
    let seen = credentials::load_record(store.as_ref(), &settings.account())?
        .ok_or_else(|| not_logged_in(settings))?;
    // A sibling's token, unless it is about to expire too (with tokens shorter than the
    // margin, it may be gone before our retry lands: refresh instead).
    if seen.access_token != *rejected && !seen.needs_refresh(now(), REFRESH_MARGIN) {
        return Ok(seen.access_token);
    }
    let record = refresh_locked(settings, store.as_ref(), &seen, true, printer).await?;
    Ok(record.access_token)
}

/// `hsm token refresh`: refresh now, whatever the expiry.
pub async fn force_refresh(
    settings: &EnvSettings,
    printer: Printer,
) -> Result<(Record, Box<dyn SecretStore>)> {
    let store = credentials::open_store(&settings.store)?;
    let seen = credentials::load_record(store.as_ref(), &settings.account())?
        .ok_or_else(|| not_logged_in(settings))?;
    let record = refresh_locked(settings, store.as_ref(), &seen, true, printer).await?;
    Ok((record, store))
}

async fn refresh_locked(
    settings: &EnvSettings,
    store: &dyn SecretStore,
    seen: &Record,
    force: bool,
    printer: Printer,
) -> Result<Record> {
    let _lock = acquire_lock(settings, printer).await?;
    // Then, for a store shared between machines, its own lock (released first, on return).
    let _shared = store.lock_for_refresh(&settings.account(), &|| {
        printer.status("Waiting for another machine to finish refreshing the session...")
    })?;
    let current = credentials::load_record(store, &settings.account())?
        .ok_or_else(|| not_logged_in(settings))?;
    let sibling_rotated = current.refresh_token != seen.refresh_token;
    if sibling_rotated && !current.needs_refresh(now(), REFRESH_MARGIN) {
        printer.trace("another hsm process refreshed the session; using its tokens");
        return Ok(current);
    }
    if !force && !current.needs_refresh(now(), REFRESH_MARGIN) {
        return Ok(current);
    }
    spend_refresh_token(settings, store, &current, printer).await
}

/// Under the lock: spend the refresh token of `current`, and keep the rotated pair before
/// anything uses it (the old refresh token is dead from now on).
async fn spend_refresh_token(
    settings: &EnvSettings,
    store: &dyn SecretStore,
    current: &Record,
    printer: Printer,
) -> Result<Record> {
    let refresh_token = current.refresh_token.clone().ok_or_else(|| {
        CliError::auth(format!(
            "the session for {} (profile {}) has expired and holds no refresh token",
            settings.env, settings.profile
        ))
        .with_hint(login_hint(settings))
    })?;
    let secret = credentials::client_secret(settings, &current.client_id, store, || Ok(None))?
        .ok_or_else(|| {
            CliError::auth(format!(
                "no client secret stored for client `{}`, so the session cannot be refreshed",
                current.client_id
            ))
            .with_hint(format!(
                "set {} or run `hsm login --client-secret-stdin`",
                ev::HSM_CLIENT_SECRET
            ))
        })?
        .value;
    let token_url = crate::settings::parse_endpoint(&current.token_url, "stored token URL")?;
    let creds = ClientCredentials {
        client_id: &current.client_id,
        client_secret: &secret,
    };
    let http = crate::http::client(settings.http_timeout, settings.ca_file.as_deref())?;
    printer.trace(&format!(
        "> POST {token_url} grant_type=refresh_token refresh_token={} client_id={} client_secret={}",
        refresh_token.fingerprint(),
        current.client_id,
        secret.fingerprint()
    ));
    // From here until the rotated pair is stored, a Ctrl-C or SIGTERM waits (then exits).
    let _deferred = crate::interrupt::Deferred::begin();
    let new = match refresh_with_retries(&http, &creds, &token_url, &refresh_token, printer).await {
        Ok(new) => new,
        Err(e) => return refresh_failed(settings, store, current, e),
    };
    printer.trace(&format!(
        "< new access token {}, new refresh token {}",
        new.access_token.fingerprint(),
        new.refresh_token
            .as_ref()
            .map(Secret::fingerprint)
            .unwrap_or_default()
    ));
    persist_rotated(store, &settings.account(), &new)
        .await
        .map_err(|e| {
            CliError::store(format!(
                "the session was refreshed but the rotated tokens could not be stored: {}",
                e.message
            ))
            .with_hint(login_hint(settings))
        })?;
    Ok(new)
}

/// What a failed refresh means for the user. A refused grant is looked at once more: a
/// sibling may have rotated between our read and our request.
fn refresh_failed(
    settings: &EnvSettings,
    store: &dyn SecretStore,
    current: &Record,
    e: TokenError,
) -> Result<Record> {
    match e {
        TokenError::Refused { error, description } => {
            let latest = credentials::load_record(store, &settings.account())?;
            if let Some(latest) = latest.filter(|l| l.refresh_token != current.refresh_token) {
                return Ok(latest);
            }
            let desc = description.map(|d| format!(": {d}")).unwrap_or_default();
            let hint = if error == "invalid_client" {
                format!(
                    "check the client secret ({} or `hsm login --client-secret-stdin`)",
                    ev::HSM_CLIENT_SECRET
                )
            } else {
                login_hint(settings)
            };
            Err(CliError::auth(format!(
                "the session for {} (profile {}) can no longer be refreshed ({error}{desc}); the stored credentials were kept",
                settings.env, settings.profile
            ))
            .with_hint(hint))
        }
        e @ (TokenError::Unknown(_) | TokenError::Malformed(_)) => Err(CliError::network(format!(
            "refresh outcome unknown: {e}"
        ))
        .with_hint(
            "not retried, to avoid spending a possibly rotated refresh token twice; run `hsm token refresh` to try again, or `hsm login` if that reports the session is gone",
        )),
        e => {
            let hint = match &e {
                TokenError::NotSent(m) if crate::http::is_certificate_error(m) => {
                    crate::http::CA_HINT
                }
                _ => "the stored credentials were kept; try again later",
            };
            Err(CliError::network(format!("cannot refresh the session: {e}")).with_hint(hint))
        }
    }
}

/// Losing a rotated refresh token loses the session, so a failed write is tried again a few
/// times (a keychain can be briefly busy) before giving up.
async fn persist_rotated(store: &dyn SecretStore, account: &str, record: &Record) -> Result<()> {
    let mut backoff = Policy::STORE_WRITE.backoff();
    loop {
        let saved = credentials::save_record(store, account, record);
        match backoff.next() {
            Some(pause) if saved.is_err() => tokio::time::sleep(pause).await,
            _ => return saved,
        }
    }
}

/// Spend the refresh token, retrying what is known to be safe to retry: a request that never
/// left (not sent), a 429, and a 503 with `Retry-After` (the server's word that it did not
/// act). A lost answer or any other 5xx is not retried: a gateway's 502 can come after the
/// server rotated, and spending the old refresh token again would revoke the session.
async fn refresh_with_retries(
    http: &reqwest::Client,
    creds: &ClientCredentials<'_>,
    token_url: &url::Url,
    refresh_token: &Secret,
    printer: Printer,
) -> std::result::Result<Record, TokenError> {
    let mut backoff = Policy::TOKEN_REFRESH.backoff();
    loop {
        let result = match oauth::refresh(http, creds, token_url, refresh_token).await {
            Err(TokenError::Server {
                status,
                retry_after,
            }) if !(status == 429 || (status == 503 && retry_after.is_some())) => Err(
                TokenError::Unknown(format!("HTTP {status}, possibly after rotating the tokens")),
            ),
            other => other,
        };
        let retryable = matches!(
            result,
            Err(TokenError::Server { .. } | TokenError::NotSent(_))
        );
        let Some(pause) = backoff.next().filter(|_| retryable) else {
            return result;
        };
        let wait = match &result {
            Err(TokenError::Server {
                status,
                retry_after,
            }) => {
                let wait = retry_after.unwrap_or(pause).min(MAX_REFRESH_WAIT);
                printer.trace(&format!(
                    "token endpoint answered HTTP {status}; retrying in {} ms",
                    wait.as_millis()
                ));
                wait
            }
            Err(TokenError::NotSent(e)) => {
                printer.trace(&format!("token endpoint unreachable ({e}); retrying"));
                pause
            }
            _ => pause,
        };
        tokio::time::sleep(wait).await;
    }
}

/// One lock per environment and profile, held by the OS (released if the process dies).
async fn acquire_lock(settings: &EnvSettings, printer: Printer) -> Result<File> {
    let dir = crate::paths::lock_dir(settings.state_dir.as_deref())?;
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::store(format!(
            "cannot create the lock directory {}: {e}",
            dir.display()
        ))
    })?;
    let path = dir.join(format!(
        "{}.{}.refresh.lock",
        settings.env, settings.profile
    ));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CliError::store(format!("cannot open the lock {}: {e}", path.display())))?;
    let started = Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(CliError::store(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        }
        if started.elapsed() >= LOCK_WAIT {
            return Err(CliError::store(format!(
                "another hsm process has been refreshing this session for over {} s",
                LOCK_WAIT.as_secs()
            ))
            .with_hint(
                "an hsm process still holds the lock, and the OS releases it when that process exits: wait for it, or stop that process, and retry",
            ));
        }
        if !told && started.elapsed() >= Duration::from_secs(1) {
            printer.status("Waiting for another hsm process to finish refreshing the session...");
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

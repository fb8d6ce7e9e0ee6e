//! A usable session: the stored tokens, refreshed when they expire. Each refresh is a
//! transaction across processes: lock, re-read, spend the refresh token only if no sibling
//! already did, persist the rotated pair, unlock. With a store shared between machines
//! (etcd), the store's own lock is taken after the local one, so that processes on one
//! machine queue locally first. Stored credentials are never deleted
//! because a refresh failed.
//!
//! Store and lock calls block, so they run off the runtime thread (`SharedStore`), each
//! within a deadline: a refresh waiting for a keychain or a lock stalls no other request.

use std::fs::{File, OpenOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::oauth::{self, ClientCredentials, TokenError};
use crate::blocking::Waited;
use crate::credentials::record::now;
use crate::credentials::{self, HeldLock, LOCK_WAIT, Record, SecretStore, SharedStore};
use crate::env_vars as ev;
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::retry::{Attempt, Effect, Policy};
use crate::secret::Secret;
use crate::settings::{EnvSettings, TokenSource};

/// Refresh when the access token expires within this many seconds.
pub const REFRESH_MARGIN: u64 = 60;
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
    let store = SharedStore::open(&settings.store).await?;
    let seen = load(&store, settings).await?;
    if !seen.needs_refresh(now(), REFRESH_MARGIN) {
        return usable(seen.access_token, settings);
    }
    let record = refresh_locked(settings, &store, &seen, false, printer).await?;
    usable(record.access_token, settings)
}

/// The session's record, read off the runtime thread; none is "not logged in".
async fn load(store: &SharedStore, settings: &EnvSettings) -> Result<Record> {
    let account = settings.account();
    store
        .call(move |s| credentials::load_record(s, &account))
        .await?
        .ok_or_else(|| not_logged_in(settings))
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
    let store = SharedStore::open(&settings.store).await?;
    let seen = load(&store, settings).await?;
    // A sibling's token, unless it is about to expire too (with tokens shorter than the
    // margin, it may be gone before our retry lands: refresh instead).
    if seen.access_token != *rejected && !seen.needs_refresh(now(), REFRESH_MARGIN) {
        return Ok(seen.access_token);
    }
    let record = refresh_locked(settings, &store, &seen, true, printer).await?;
    Ok(record.access_token)
}

/// `hsm token refresh`: refresh now, whatever the expiry.
pub async fn force_refresh(
    settings: &EnvSettings,
    printer: Printer,
) -> Result<(Record, Arc<dyn SecretStore>)> {
    let store = SharedStore::open(&settings.store).await?;
    let seen = load(&store, settings).await?;
    let record = refresh_locked(settings, &store, &seen, true, printer).await?;
    Ok((record, store.store().clone()))
}

/// The locks of one refresh: this machine's, then a shared store's own. Shared with each
/// write of the rotated pair, so that a write still running past its deadline keeps every
/// sibling from reading the old, spent refresh token until it lands (or hsm exits).
/// Fields drop in order: the shared lock, taken last, goes first.
struct Locks {
    _shared: Option<Box<dyn HeldLock>>,
    _local: File,
}

async fn refresh_locked(
    settings: &EnvSettings,
    store: &SharedStore,
    seen: &Record,
    force: bool,
    printer: Printer,
) -> Result<Record> {
    let local = acquire_lock(settings, printer).await?;
    // Then, for a store shared between machines, its own lock.
    let account = settings.account();
    let shared = store
        .call(move |s| {
            s.lock_for_refresh(&account, &|| {
                printer.status("Waiting for another machine to finish refreshing the session...")
            })
        })
        .await?;
    let locks = Arc::new(Locks {
        _shared: shared,
        _local: local,
    });
    let result = refresh_under(settings, store, seen, force, &locks, printer).await;
    // Releasing an etcd lock is a call too: off the runtime thread.
    let _ = tokio::task::spawn_blocking(move || drop(locks)).await;
    result
}

async fn refresh_under(
    settings: &EnvSettings,
    store: &SharedStore,
    seen: &Record,
    force: bool,
    locks: &Arc<Locks>,
    printer: Printer,
) -> Result<Record> {
    let current = load(store, settings).await?;
    let sibling_rotated = current.refresh_token != seen.refresh_token;
    if sibling_rotated && !current.needs_refresh(now(), REFRESH_MARGIN) {
        printer.trace("another hsm process refreshed the session; using its tokens");
        return Ok(current);
    }
    if !force && !current.needs_refresh(now(), REFRESH_MARGIN) {
        return Ok(current);
    }
    spend_refresh_token(settings, store, &current, locks, printer).await
}

/// Under the lock: spend the refresh token of `current`, and keep the rotated pair before
/// anything uses it (the old refresh token is dead from now on).
async fn spend_refresh_token(
    settings: &EnvSettings,
    store: &SharedStore,
    current: &Record,
    locks: &Arc<Locks>,
    printer: Printer,
) -> Result<Record> {
    let refresh_token = current.refresh_token.clone().ok_or_else(|| {
        CliError::auth(format!(
            "the session for {} (profile {}) has expired and holds no refresh token",
            settings.env, settings.profile
        ))
        .with_hint(login_hint(settings))
    })?;
    let secret = client_secret(settings, store, &current.client_id).await?;
    let token_url = crate::settings::parse_endpoint(&current.token_url, "stored token URL")?;
    let creds = ClientCredentials {
        client_id: &current.client_id,
        client_secret: &secret,
    };
    let http = crate::http::client(
        settings.http_timeout,
        settings.ca_file.as_deref(),
        &token_url,
    )?;
    printer.trace(&format!(
        "> POST {token_url} grant_type=refresh_token refresh_token={} client_id={} client_secret={}",
        refresh_token.fingerprint(),
        current.client_id,
        secret.fingerprint()
    ));
    // From here until the rotated pair is stored, a Ctrl-C or SIGTERM waits (then exits).
    let mut deferred = crate::interrupt::Deferred::begin();
    let new = match refresh_with_retries(&http, &creds, &token_url, &refresh_token, printer).await {
        Ok(new) => new,
        Err(e) => return refresh_failed(settings, store, current, e).await,
    };
    printer.trace(&format!(
        "< new access token {}, new refresh token {}",
        new.access_token.fingerprint(),
        new.refresh_token
            .as_ref()
            .map(Secret::fingerprint)
            .unwrap_or_default()
    ));
    persist_rotated(store, &settings.account(), &new, locks)
        .await
        .map_err(|e| unsaved(settings, store, e))?;
    deferred.stored();
    Ok(new)
}

/// The client secret to refresh with (from the environment, or kept in the store).
async fn client_secret(
    settings: &EnvSettings,
    store: &SharedStore,
    client_id: &str,
) -> Result<Secret> {
    let (for_call, id) = (settings.clone(), client_id.to_string());
    let found = store
        .call(move |s| credentials::client_secret(&for_call, &id, s, || Ok(None)))
        .await?;
    let found = found.ok_or_else(|| {
        CliError::auth(format!(
            "no client secret stored for client `{client_id}`, so the session cannot be refreshed"
        ))
        .with_hint(format!(
            "set {} or run `hsm login --client-secret-stdin`",
            ev::HSM_CLIENT_SECRET
        ))
    })?;
    Ok(found.value)
}

/// Why a rotated pair is not known to be stored.
enum Unsaved {
    /// The store refused or failed the write: the pair is not stored.
    Failed(CliError),
    /// The write did not finish by its deadline. It runs on (it cannot be stopped), still
    /// holding the refresh locks, so it may yet land; it ends with the process.
    Unknown,
}

fn unsaved(settings: &EnvSettings, store: &SharedStore, e: Unsaved) -> CliError {
    match e {
        Unsaved::Failed(e) => CliError::store(format!(
            "the session was refreshed but the rotated tokens could not be stored: {}",
            e.message
        ))
        .with_hint(login_hint(settings)),
        Unsaved::Unknown => CliError::store(format!(
            "the session was refreshed, but {} did not finish storing the rotated tokens within {} s: whether they are stored is unknown",
            store.store().in_words(),
            store.limit().as_secs_f64()
        ))
        .with_hint(format!(
            "the write goes on until it lands or hsm exits; if the next command says the session can no longer be refreshed, {}",
            login_hint(settings)
        )),
    }
}

/// What a failed refresh means for the user. A refused grant is looked at once more: a
/// sibling may have rotated between our read and our request.
async fn refresh_failed(
    settings: &EnvSettings,
    store: &SharedStore,
    current: &Record,
    e: TokenError,
) -> Result<Record> {
    match e {
        TokenError::Refused { error, description } => {
            let account = settings.account();
            let latest = store
                .call(move |s| credentials::load_record(s, &account))
                .await?;
            if let Some(latest) = latest.filter(|l| l.refresh_token != current.refresh_token) {
                return Ok(latest);
            }
            let desc = description.map(|d| format!(": {d}")).unwrap_or_default();
            let hint = if error == "invalid_client" {
                format!(
                    "check the client secret ({} or `hsm login --client-secret-stdin`)",
                    ev::HSM_CLIENT_SECRET
                )
            } else if error == "invalid_grant" && settings.env == crate::sandbox_env::ENV {
                crate::sandbox_env::RESTARTED_HINT.to_string()
            } else {
                login_hint(settings)
            };
            Err(CliError::auth(format!(
                "the session for {} (profile {}) can no longer be refreshed ({error}{desc}); the stored credentials were kept",
                settings.env, settings.profile
            ))
            .with_hint(hint))
        }
        e @ (TokenError::Transport(Attempt::Lost(_)) | TokenError::Malformed(_)) => Err(CliError::network(format!(
            "refresh outcome unknown: {e}"
        ))
        .with_causes(e.causes())
        .with_hint(
            "not retried, to avoid spending a possibly rotated refresh token twice; run `hsm token refresh` to try again, or `hsm login` if that reports the session is gone",
        )),
        e => {
            let hint = match &e {
                TokenError::Transport(Attempt::NotSent(m))
                    if crate::http::is_certificate_error(m) =>
                {
                    crate::http::CA_HINT.to_string()
                }
                TokenError::Transport(Attempt::NotSent(_))
                    if settings.env == crate::sandbox_env::ENV =>
                {
                    crate::sandbox_env::not_running_hint(
                        &settings.token_url.origin().ascii_serialization(),
                    )
                }
                _ => "the stored credentials were kept; try again later".to_string(),
            };
            Err(CliError::network(format!("cannot refresh the session: {e}"))
                .with_causes(e.causes())
                .with_hint(hint))
        }
    }
}

/// Losing a rotated refresh token loses the session, so a failed write is tried again a few
/// times (a keychain can be briefly busy) before giving up. A write past its deadline is not
/// retried: it is still running, and holds the refresh locks until it ends.
async fn persist_rotated(
    store: &SharedStore,
    account: &str,
    record: &Record,
    locks: &Arc<Locks>,
) -> std::result::Result<(), Unsaved> {
    let mut backoff = Policy::STORE_WRITE.backoff();
    loop {
        let (account, record, held) = (account.to_string(), record.clone(), locks.clone());
        let write = store.start(move |s| {
            let saved = credentials::save_record(s, &account, &record);
            drop(held);
            saved
        });
        let saved = match write.await.map_err(Unsaved::Failed)? {
            Waited::Done(saved) => saved,
            Waited::Late => return Err(Unsaved::Unknown),
        };
        match backoff.next() {
            Some(pause) if saved.is_err() => tokio::time::sleep(pause).await,
            _ => return saved.map_err(Unsaved::Failed),
        }
    }
}

/// Spend the refresh token, retrying what the resend table allows for a request that must
/// not act twice (`Effect::Once`): a request that never left, a 429, and a 503 with
/// `Retry-After`. A lost answer or any other 5xx is not retried: a gateway's 502 can come after
/// the server rotated, and spending the old refresh token again would revoke the session.
async fn refresh_with_retries(
    http: &reqwest::Client,
    creds: &ClientCredentials<'_>,
    token_url: &url::Url,
    refresh_token: &Secret,
    printer: Printer,
) -> std::result::Result<Record, TokenError> {
    let mut backoff = Policy::TOKEN_REFRESH.backoff();
    loop {
        let result = oauth::refresh(http, creds, token_url, refresh_token).await;
        let Err(TokenError::Transport(attempt)) = &result else {
            return result;
        };
        let pause = backoff.next().filter(|_| Effect::Once.may_resend(attempt));
        let wait = match (attempt, pause) {
            // A 5xx that may have followed the rotation: its answer (the new tokens) is lost.
            (Attempt::Answered(status), None) if !status.nothing_done() => {
                return Err(TokenError::Transport(Attempt::Lost(
                    format!(
                        "HTTP {}, possibly after rotating the tokens",
                        status.code.as_u16()
                    )
                    .into(),
                )));
            }
            (_, None) => return result,
            (Attempt::Answered(status), Some(pause)) => {
                let wait = status.retry_after.unwrap_or(pause).min(MAX_REFRESH_WAIT);
                printer.trace(&format!(
                    "token endpoint answered HTTP {}; retrying in {} ms",
                    status.code.as_u16(),
                    wait.as_millis()
                ));
                wait
            }
            (Attempt::NotSent(e), Some(pause)) => {
                printer.trace(&format!("token endpoint unreachable ({e}); retrying"));
                pause
            }
            (Attempt::Lost(_), Some(pause)) => pause,
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
        .with_cause(&e)
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
        .map_err(|e| {
            CliError::store(format!("cannot open the lock {}: {e}", path.display())).with_cause(&e)
        })?;
    let started = Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(
                    CliError::store(format!("cannot lock {}: {e}", path.display())).with_cause(&e),
                );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::StoreKind;
    use std::sync::Mutex;

    /// A store whose writes take `delay` (a keychain behind a prompt, a lock held elsewhere).
    struct SlowStore {
        value: Mutex<Option<String>>,
        delay: Duration,
    }

    impl SecretStore for SlowStore {
        fn kind(&self) -> StoreKind {
            StoreKind::File
        }
        fn location(&self) -> String {
            "slow".into()
        }
        fn get(&self, _: &str) -> Result<Option<String>> {
            Ok(self.value.lock().unwrap().clone())
        }
        fn set(&self, _: &str, value: &str) -> Result<()> {
            std::thread::sleep(self.delay);
            *self.value.lock().unwrap() = Some(value.into());
            Ok(())
        }
        fn delete(&self, _: &str) -> Result<bool> {
            Ok(self.value.lock().unwrap().take().is_some())
        }
        fn probe(&self) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_rotated_pair_written_past_its_deadline_is_unknown_and_holds_the_locks_until_it_lands() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let slow = Arc::new(SlowStore {
                value: Mutex::new(None),
                delay: Duration::from_millis(300),
            });
            let store = SharedStore::new(slow.clone(), Duration::from_millis(30));
            let locks = Arc::new(Locks {
                _shared: None,
                _local: tempfile::tempfile().unwrap(),
            });
            let record = Record {
                access_token: Secret::new("a".to_string()),
                refresh_token: Some(Secret::new("r2".to_string())),
                token_type: "Bearer".into(),
                scope: None,
                expires_at: Some(now() + 3600),
                token_url: "https://example.invalid/oauth/token".into(),
                client_id: "client".into(),
                updated_at: 0,
                access_token_sha256: None,
            };
            let outcome = persist_rotated(&store, "e/p", &record, &locks).await;
            assert!(
                matches!(outcome, Err(Unsaved::Unknown)),
                "not reported as failed"
            );
            assert_eq!(
                Arc::strong_count(&locks),
                2,
                "the write still holds the locks"
            );
            let until = Instant::now() + Duration::from_secs(10);
            while Arc::strong_count(&locks) > 1 {
                assert!(Instant::now() < until, "the late write never ended");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let stored = slow.value.lock().unwrap().clone().unwrap();
            assert!(stored.contains("r2"), "the late write landed, once");
        });
    }
}

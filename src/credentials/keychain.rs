//! The OS keychain through keyring-core and the platform store crates: Secret Service on
//! Linux and the BSDs, Keychain on macOS, Credential Manager on Windows.

use std::sync::Arc;
use std::time::Duration;

use keyring_core::{CredentialStore, Entry, Error as KError};

use super::{SERVICE, SecretStore, StoreKind};
use crate::env_vars as ev;
use crate::error::{CliError, Result};

/// Each call may take up to `timeout` (`HSM_KEYCHAIN_TIMEOUT`, resolved by the settings): a
/// locked desktop keyring shows an unlock prompt and the call waits for it.
pub struct Keychain {
    /// None: the caller bounds each call itself (a session's store runs every call on the
    /// blocking pool within the same timeout, `credentials::shared`), so one deadline applies.
    timeout: Option<Duration>,
}

impl Keychain {
    /// Connect to the platform store and make it keyring-core's default. Fails fast (in
    /// milliseconds) on headless machines with no Secret Service.
    pub fn connect(timeout: Duration) -> Result<Keychain> {
        Keychain::try_connect(timeout)?
    }

    /// As `connect`, telling apart a keychain that does not answer in time (the outer error)
    /// from a machine that has none at all (the inner one), where `hsm login` may offer the
    /// file store instead.
    pub fn try_connect(timeout: Duration) -> Result<Result<Keychain>> {
        Keychain::try_connect_within(Some(timeout))
    }

    /// As `connect`, for a caller that bounds each call (the connection too) itself.
    pub fn connect_unbounded() -> Result<Keychain> {
        Keychain::try_connect_within(None)?
    }

    fn try_connect_within(timeout: Option<Duration>) -> Result<Result<Keychain>> {
        let store = with_deadline(timeout, native_store)?;
        Ok(store
            .map(|store| {
                keyring_core::set_default_store(store);
                Keychain { timeout }
            })
            .map_err(|e| missing(&e)))
    }

    /// Run one keychain operation on its entry, within the deadline.
    fn on_entry<T: Send + 'static>(
        &self,
        account: &str,
        op: impl FnOnce(&Entry) -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<keyring_core::Result<T>> {
        let account = account.to_string();
        with_deadline(self.timeout, move || {
            Entry::new(SERVICE, &account).and_then(|e| op(&e))
        })
    }
}

/// The keychain APIs are blocking and have no timeout of their own, so each call runs on a
/// thread of its own; one that does not answer in time is left behind, reported, and ends
/// with the process. Without a limit, the call runs here: the caller bounds it.
fn with_deadline<T: Send + 'static>(
    limit: Option<Duration>,
    op: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let Some(limit) = limit else {
        return Ok(op());
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(op());
    });
    rx.recv_timeout(limit).map_err(|_| {
        CliError::store(format!(
            "the OS keychain did not answer within {} s (locked and waiting for an unlock prompt?)",
            limit.as_secs_f64()
        ))
        .with_hint(format!(
            "unlock the keyring and retry, set {} to wait longer, or use {}=file",
            ev::HSM_KEYCHAIN_TIMEOUT,
            ev::HSM_CREDENTIAL_STORE
        ))
    })
}

#[cfg(target_os = "macos")]
fn native_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(apple_native_keyring_store::keychain::Store::new()?)
}

#[cfg(target_os = "windows")]
fn native_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(windows_native_keyring_store::Store::new()?)
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn native_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(zbus_secret_service_keyring_store::Store::new()?)
}

/// No keychain on this machine: connecting to the platform store failed. On Linux that is no
/// D-Bus session bus (servers, containers, SSH sessions) or no keyring daemon providing the
/// Secret Service on it; nothing to unlock either way.
fn missing(e: &KError) -> CliError {
    let text = e.to_string();
    let why = if cfg!(any(target_os = "macos", target_os = "windows")) {
        format!("the OS keychain cannot be opened ({text})")
    } else if text.contains("org.freedesktop.secrets") || text.contains("ServiceUnknown") {
        "D-Bus runs, but no keyring daemon provides the Secret Service".to_string()
    } else {
        "no D-Bus session to reach a Secret Service (usual on servers, in containers and over SSH)"
            .to_string()
    };
    CliError::store(format!("{NO_KEYCHAIN}: {why}")).with_hint(format!(
        "opt into a 0600 file with {}=file (`hsm login` at a terminal offers it), or start a desktop keyring",
        ev::HSM_CREDENTIAL_STORE
    ))
    .with_cause(e)
}

/// How the error for a machine without a keychain begins.
pub const NO_KEYCHAIN: &str = "no OS keychain on this machine";

/// A keychain that exists but refused or failed a call: locked (or without a default
/// collection), or another platform failure.
fn unavailable(e: &KError) -> CliError {
    let err = match e {
        KError::NoStorageAccess(_) => CliError::store(
            "the OS keychain is locked (or has no default collection to keep secrets in)",
        )
        .with_hint(format!(
            "unlock it (log in to the desktop session, or run `gnome-keyring-daemon --unlock`), or opt into a 0600 file with {}=file",
            ev::HSM_CREDENTIAL_STORE
        )),
        other => CliError::store(format!("the OS keychain failed: {other}")).with_hint(format!(
            "retry; if it persists, opt into a 0600 file with {}=file",
            ev::HSM_CREDENTIAL_STORE
        )),
    };
    err.with_cause(e)
}

impl SecretStore for Keychain {
    fn kind(&self) -> StoreKind {
        StoreKind::Keychain
    }

    fn location(&self) -> String {
        "OS keychain".to_string()
    }

    fn get(&self, account: &str) -> Result<Option<String>> {
        match self.on_entry(account, |e| e.get_password())? {
            Ok(v) => Ok(Some(v)),
            Err(KError::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(&e)),
        }
    }

    fn set(&self, account: &str, value: &str) -> Result<()> {
        let value = value.to_string();
        self.on_entry(account, move |e| e.set_password(&value))?
            .map_err(|e| match e {
                KError::TooLong(..) => CliError::store(format!(
                    "the credentials are too large for this keychain ({e})"
                ))
                .with_cause(&e),
                other => unavailable(&other),
            })
    }

    fn delete(&self, account: &str) -> Result<bool> {
        match self.on_entry(account, |e| e.delete_credential())? {
            Ok(()) => Ok(true),
            Err(KError::NoEntry) => Ok(false),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Every account of service `hsm`: a search by attribute (the Secret Service keeps the
    /// service and the account as the `service` and `username` attributes), then each item's
    /// specifiers. Keychains that cannot search say so, as a store error.
    fn accounts(&self) -> Result<Vec<String>> {
        let found = with_deadline(self.timeout, || {
            let spec = std::collections::HashMap::from([("service", SERVICE)]);
            Entry::search(&spec).map(|entries| {
                entries
                    .iter()
                    .filter_map(Entry::get_specifiers)
                    .filter(|(service, _)| service == SERVICE)
                    .map(|(_, account)| account)
                    .collect::<Vec<String>>()
            })
        })?;
        found.map_err(|e| match e {
            KError::NotSupportedByStore(_) => CliError::store(
                "this OS keychain cannot list its entries; name the environment with --env",
            ),
            other => unavailable(&other),
        })
    }

    fn probe(&self) -> Result<()> {
        let account = ".probe";
        self.set(account, "probe")?;
        self.delete(account).map(|_| ())
    }
}

//! The OS keychain through keyring-core and the platform store crates: Secret Service on
//! Linux and the BSDs, Keychain on macOS, Credential Manager on Windows.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry, Error as KError};

use super::{SERVICE, SecretStore, StoreKind};
use crate::env_vars as ev;
use crate::error::{CliError, Result};

pub struct Keychain;

impl Keychain {
    /// Connect to the platform store and make it keyring-core's default. Fails fast (in
    /// milliseconds) on headless machines with no Secret Service.
    pub fn connect() -> Result<Keychain> {
        let store = native_store().map_err(|e| unavailable(&e))?;
        keyring_core::set_default_store(store);
        Ok(Keychain)
    }

    fn entry(&self, account: &str) -> Result<Entry> {
        Entry::new(SERVICE, account).map_err(|e| unavailable(&e))
    }
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

/// One actionable message for every way the keychain can be missing or locked.
fn unavailable(e: &KError) -> CliError {
    let why = match e {
        KError::NoStorageAccess(_) => "the keychain is locked or has no default collection",
        _ => "no usable OS keychain",
    };
    CliError::store(format!("{why} ({e})")).with_hint(format!(
        "unlock your keyring, or opt into a 0600 file with {}=file (see `hsm login --help`)",
        ev::HSM_CREDENTIAL_STORE
    ))
}

impl SecretStore for Keychain {
    fn kind(&self) -> StoreKind {
        StoreKind::Keychain
    }

    fn location(&self) -> String {
        "OS keychain".to_string()
    }

    fn get(&self, account: &str) -> Result<Option<String>> {
        match self.entry(account)?.get_password() {
            Ok(v) => Ok(Some(v)),
            Err(KError::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(&e)),
        }
    }

    fn set(&self, account: &str, value: &str) -> Result<()> {
        self.entry(account)?
            .set_password(value)
            .map_err(|e| match e {
                KError::TooLong(..) => CliError::store(format!(
                    "the credentials are too large for this keychain ({e})"
                )),
                other => unavailable(&other),
            })
    }

    fn delete(&self, account: &str) -> Result<bool> {
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(KError::NoEntry) => Ok(false),
            Err(e) => Err(unavailable(&e)),
        }
    }

    fn probe(&self) -> Result<()> {
        let account = ".probe";
        self.set(account, "probe")?;
        self.delete(account).map(|_| ())
    }
}

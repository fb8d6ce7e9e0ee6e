//! Where credentials live: the OS keychain by default, a 0600 file on explicit opt-in.
//! Both stores hold strings under an account name; the record format sits on top.

mod file;
mod keychain;
pub mod record;

use std::path::PathBuf;

use crate::env_vars as ev;
use crate::error::{CliError, Result};
pub use record::Record;

/// The keychain service name (SPEC: service `hsm`, account `ENV/PROFILE`).
pub const SERVICE: &str = "hsm";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Keychain,
    File,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Keychain => "keychain",
            StoreKind::File => "file",
        }
    }
}

/// A place that keeps secrets by account name.
pub trait SecretStore: Send + Sync {
    fn kind(&self) -> StoreKind;
    /// Where, for messages: "OS keychain (Secret Service)" or the file path.
    fn location(&self) -> String;
    fn get(&self, account: &str) -> Result<Option<String>>;
    fn set(&self, account: &str, value: &str) -> Result<()>;
    /// True if something was removed.
    fn delete(&self, account: &str) -> Result<bool>;
    /// Prove we can write before a login starts, so no login is thrown away for want of a
    /// place to keep it.
    fn probe(&self) -> Result<()>;
}

/// The store chosen by `HSM_CREDENTIAL_STORE` (keychain unless `file`).
pub fn open_store() -> Result<Box<dyn SecretStore>> {
    match ev::get(ev::HSM_CREDENTIAL_STORE).as_deref() {
        None | Some("keychain") => Ok(Box::new(keychain::Keychain::connect()?)),
        Some("file") => Ok(Box::new(file::FileStore::new(credentials_file_path()?))),
        Some(other) => Err(CliError::usage(format!(
            "unknown {} value `{other}`: use `keychain` or `file`",
            ev::HSM_CREDENTIAL_STORE
        ))),
    }
}

fn credentials_file_path() -> Result<PathBuf> {
    if let Some(p) = ev::get(ev::HSM_CREDENTIALS_FILE) {
        return Ok(PathBuf::from(p));
    }
    directories::ProjectDirs::from("", "", "hsm")
        .map(|d| d.data_dir().join("credentials.json"))
        .ok_or_else(|| {
            CliError::store("cannot find a data directory for the credentials file")
                .with_hint(format!("set {}", ev::HSM_CREDENTIALS_FILE))
        })
}

/// Load the record of an account. A record that does not parse is a store error: it is
/// reported, never silently replaced.
pub fn load_record(store: &dyn SecretStore, account: &str) -> Result<Option<Record>> {
    match store.get(account)? {
        None => Ok(None),
        Some(text) => Record::from_json(&text).map(Some).map_err(|e| {
            CliError::store(format!(
                "the stored credentials for `{account}` in the {} are unreadable: {e}",
                store.kind().name()
            ))
            .with_hint("run `hsm logout` and `hsm login` to replace them")
        }),
    }
}

pub fn save_record(store: &dyn SecretStore, account: &str, record: &Record) -> Result<()> {
    let mut record = record.clone();
    record.updated_at = record::now();
    store.set(account, &record.to_json())
}

/// The account under which a client secret is kept: per environment and client id, so it
/// survives `hsm logout` and is shared by profiles using the same client.
pub fn client_secret_account(env: &str, client_id: &str) -> String {
    format!("client-secret/{env}/{client_id}")
}

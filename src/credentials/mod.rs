//! Where credentials live: the OS keychain by default, a 0600 file on explicit opt-in, or
//! etcd shared by several machines (records sealed with `HSM_STORE_KEY`). Every store holds
//! strings under an account name; the record format sits on top.

mod etcd;
mod file;
mod keychain;
pub mod record;
mod seal;
mod shared;

use crate::env_vars as ev;
use crate::error::{CliError, Result};
pub use record::Record;
pub use shared::{LOCK_WAIT, SharedStore};

use crate::secret::Secret;
use crate::settings::{EnvSettings, StoreChoice};

/// The keychain service name (SPEC: service `hsm`, account `ENV/PROFILE`).
pub const SERVICE: &str = "hsm";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Keychain,
    File,
    Etcd,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Keychain => "keychain",
            StoreKind::File => "file",
            StoreKind::Etcd => "etcd",
        }
    }
}

/// A place that keeps secrets by account name.
pub trait SecretStore: Send + Sync {
    fn kind(&self) -> StoreKind;
    /// Where, for reports: "OS keychain", the file path, or the etcd endpoint last used.
    fn location(&self) -> String;
    /// Where, for a sentence: "the OS keychain" or "the file /path".
    fn in_words(&self) -> String {
        match self.kind() {
            StoreKind::Keychain => format!("the {}", self.location()),
            StoreKind::File => format!("the file {}", self.location()),
            StoreKind::Etcd => format!("etcd at {}", self.location()),
        }
    }
    fn get(&self, account: &str) -> Result<Option<String>>;
    fn set(&self, account: &str, value: &str) -> Result<()>;
    /// True if something was removed.
    fn delete(&self, account: &str) -> Result<bool>;
    /// Every account the store holds (sessions, split access tokens, client secrets).
    fn accounts(&self) -> Result<Vec<String>> {
        Err(CliError::store(format!(
            "the {} store cannot list its sessions",
            self.kind().name()
        )))
    }
    /// Prove we can write before a login starts, so no login is thrown away for want of a
    /// place to keep it.
    fn probe(&self) -> Result<()>;
    /// The longest value one entry holds; longer records keep their access token apart.
    fn max_entry_chars(&self) -> usize {
        MAX_ENTRY_CHARS
    }
    /// A store shared between machines takes a lock of its own for the length of a refresh
    /// (after the local file lock), released when the returned guard drops; while it is
    /// held, the write of `account` is fenced by it. `waiting` is called once when the lock
    /// is not free within a second. None for stores that one machine's file lock covers.
    fn lock_for_refresh(
        &self,
        _account: &str,
        _waiting: &dyn Fn(),
    ) -> Result<Option<Box<dyn HeldLock>>> {
        Ok(None)
    }
}

/// A lock of a shared store, released on drop. Sync: a refresh shares its locks with a write
/// of the rotated pair that may outlive the refresh's deadline (see `session`).
pub trait HeldLock: Send + Sync {}

/// The store chosen by `HSM_CREDENTIAL_STORE` (keychain unless `file` or `etcd`).
pub fn open_store(choice: &StoreChoice) -> Result<Box<dyn SecretStore>> {
    match choice {
        StoreChoice::Keychain { timeout } => Ok(Box::new(keychain::Keychain::connect(*timeout)?)),
        StoreChoice::File { path } => Ok(Box::new(file::FileStore::new(
            crate::paths::credentials_file(path.as_deref())?,
        ))),
        StoreChoice::Etcd(settings) => Ok(Box::new(etcd::EtcdStore::open(settings)?)),
        StoreChoice::Unknown(other) => Err(CliError::usage(format!(
            "unknown {} value `{other}`: use `keychain`, `file` or `etcd`",
            ev::HSM_CREDENTIAL_STORE
        ))),
    }
}

/// The store a session uses while requests are in flight (`shared::SharedStore`), which runs
/// every call on the blocking pool within a deadline of its own: the keychain's own thread and
/// deadline would be a second one.
pub(crate) fn open_store_for_session(choice: &StoreChoice) -> Result<Box<dyn SecretStore>> {
    match choice {
        StoreChoice::Keychain { .. } => Ok(Box::new(keychain::Keychain::connect_unbounded()?)),
        other => open_store(other),
    }
}

/// The store for `hsm login`: as `open_store`, except that a machine with no keychain at all
/// (not a locked one) is reported as `Err(inner)` inside `Ok`, so that login can offer the
/// file store at a terminal instead.
pub fn open_store_for_login(choice: &StoreChoice) -> Result<Result<Box<dyn SecretStore>>> {
    match choice {
        StoreChoice::Keychain { timeout } => {
            Ok(keychain::Keychain::try_connect(*timeout)?
                .map(|k| Box::new(k) as Box<dyn SecretStore>))
        }
        other => open_store(other).map(Ok),
    }
}

/// The file store (at `HSM_CREDENTIALS_FILE`, else its default place), for a login that chose
/// it and for `hsm status`.
pub fn file_store(settings: &EnvSettings) -> Result<Box<dyn SecretStore>> {
    open_store(&StoreChoice::File {
        path: settings.credentials_file.clone(),
    })
}

/// Windows Credential Manager keeps at most 2,560 bytes, which `set_password` fills with
/// UTF-16: 1,280 characters. A record longer than this keeps its access token in a second
/// entry, so one session never needs more than the platform allows.
const MAX_ENTRY_CHARS: usize = 1_200;

fn access_token_account(account: &str) -> String {
    format!("{account}/access-token")
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Load the record of an account. A record that does not parse is a store error: it is
/// reported, never silently replaced.
pub fn load_record(store: &dyn SecretStore, account: &str) -> Result<Option<Record>> {
    let Some(text) = store.get(account)? else {
        return Ok(None);
    };
    let mut record = Record::from_json(&text).map_err(|e| {
        CliError::store(format!(
            "the stored credentials for `{account}` in the {} are unreadable: {e}",
            store.kind().name()
        ))
        .with_hint("run `hsm logout` and `hsm login` to replace them")
    })?;
    if let Some(expected) = record.access_token_sha256.take() {
        match store.get(&access_token_account(account))? {
            Some(token) if sha256_hex(&token) == expected => {
                record.access_token = Secret::new(token)
            }
            // A write cut short between the two entries: the refresh token (written first)
            // is good, so treat the access token as expired and refresh.
            _ => {
                record.access_token = Secret::default();
                record.expires_at = Some(0);
            }
        }
    }
    Ok(Some(record))
}

/// Save a record. The entry holding the refresh token is always written first: once the
/// server rotated it, the old one is dead, and nothing may come before keeping the new one.
pub fn save_record(store: &dyn SecretStore, account: &str, record: &Record) -> Result<()> {
    let mut record = record.clone();
    record.updated_at = record::now();
    record.access_token_sha256 = None;
    let whole = record.to_json();
    if whole.chars().count() <= store.max_entry_chars() {
        return store.set(account, &whole);
    }
    let access_token = std::mem::take(&mut record.access_token);
    record.access_token_sha256 = Some(sha256_hex(access_token.expose()));
    let main = record.to_json();
    if main.chars().count() > MAX_ENTRY_CHARS {
        return Err(CliError::store(format!(
            "the refresh token is too large to keep in one credential entry ({} characters)",
            main.chars().count()
        ))
        .with_hint(format!("use {}=file", ev::HSM_CREDENTIAL_STORE)));
    }
    store.set(account, &main)?;
    store.set(&access_token_account(account), access_token.expose())
}

/// The sessions a store holds, as (environment, profile), sorted: the accounts `ENV/PROFILE`,
/// without client secrets, split-off access tokens and probes.
pub fn sessions(store: &dyn SecretStore) -> Result<Vec<(String, String)>> {
    let mut found: Vec<(String, String)> = store
        .accounts()?
        .iter()
        .filter_map(|account| {
            let (env, profile) = account.split_once('/')?;
            let plain = |s: &str| !s.is_empty() && !s.starts_with('.') && !s.contains('/');
            (plain(env) && plain(profile) && env != "client-secret")
                .then(|| (env.to_string(), profile.to_string()))
        })
        .collect();
    found.sort();
    found.dedup();
    Ok(found)
}

/// Remove a session's entries; true if there was one.
pub fn delete_record(store: &dyn SecretStore, account: &str) -> Result<bool> {
    let removed = store.delete(account)?;
    store.delete(&access_token_account(account))?;
    Ok(removed)
}

/// The account under which a client secret is kept: per environment and client id, so it
/// survives `hsm logout` and is shared by profiles using the same client.
pub fn client_secret_account(env: &str, client_id: &str) -> String {
    format!("client-secret/{env}/{client_id}")
}

/// A client secret, and whether it was just given (piped or typed) so `login` keeps it.
pub struct ClientSecret {
    pub value: Secret,
    pub store_it: bool,
}

/// The client secret, in one order for login and refresh: `HSM_CLIENT_SECRET`, then one piped
/// to `hsm login --client-secret-stdin` (`piped` is asked only when the variable is unset),
/// then the sandbox's built-in one (for its own client), then the one kept in `store`.
pub fn client_secret(
    settings: &EnvSettings,
    client_id: &str,
    store: &dyn SecretStore,
    piped: impl FnOnce() -> Result<Option<Secret>>,
) -> Result<Option<ClientSecret>> {
    let found = |value, store_it| Ok(Some(ClientSecret { value, store_it }));
    if let Some(v) = &settings.client_secret {
        return found(v.clone(), false);
    }
    if let Some(v) = piped()? {
        return found(v, true);
    }
    if let Some(b) = settings
        .builtin_client_secret
        .as_ref()
        .filter(|_| settings.client_id.as_deref() == Some(client_id))
    {
        return found(b.clone(), false);
    }
    match store.get(&client_secret_account(&settings.env, client_id))? {
        Some(v) => found(Secret::new(v), false),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemoryStore(Mutex<HashMap<String, String>>);

    impl SecretStore for MemoryStore {
        fn kind(&self) -> StoreKind {
            StoreKind::Keychain
        }
        fn location(&self) -> String {
            "memory".into()
        }
        fn get(&self, account: &str) -> Result<Option<String>> {
            Ok(self.0.lock().unwrap().get(account).cloned())
        }
        fn set(&self, account: &str, value: &str) -> Result<()> {
            self.0.lock().unwrap().insert(account.into(), value.into());
            Ok(())
        }
        fn delete(&self, account: &str) -> Result<bool> {
            Ok(self.0.lock().unwrap().remove(account).is_some())
        }
        fn probe(&self) -> Result<()> {
            Ok(())
        }
        fn accounts(&self) -> Result<Vec<String>> {
            Ok(self.0.lock().unwrap().keys().cloned().collect())
        }
    }

    #[test]
    fn sessions_are_the_env_profile_accounts_only() {
        let s = MemoryStore::default();
        save_record(&s, "sandbox/default", &record(1_100, 40)).unwrap();
        save_record(&s, "staging/work", &record(10, 10)).unwrap();
        s.set("client-secret/staging/abc", "x").unwrap();
        s.set(".probe", "probe").unwrap();
        assert_eq!(
            sessions(&s).unwrap(),
            [
                ("sandbox".to_string(), "default".to_string()),
                ("staging".to_string(), "work".to_string())
            ]
        );
    }

    fn record(access_len: usize, refresh_len: usize) -> Record {
        Record {
            access_token: Secret::new("a".repeat(access_len)),
            refresh_token: Some(Secret::new("r".repeat(refresh_len))),
            token_type: "Bearer".into(),
            scope: Some("partner_api_v2".into()),
            expires_at: Some(record::now() + 3600),
            token_url: "https://medicare.healthsherpa.com/oauth/token".into(),
            client_id: "client".into(),
            updated_at: 0,
            access_token_sha256: None,
        }
    }

    #[test]
    fn small_records_are_one_entry() {
        let s = MemoryStore::default();
        save_record(&s, "e/p", &record(40, 40)).unwrap();
        assert_eq!(s.0.lock().unwrap().len(), 1);
        assert_eq!(
            load_record(&s, "e/p")
                .unwrap()
                .unwrap()
                .access_token
                .expose()
                .len(),
            40
        );
    }

    #[test]
    fn jwt_sized_records_split_under_the_windows_limit_and_load_whole() {
        let s = MemoryStore::default();
        let r = record(1_100, 700);
        save_record(&s, "e/p", &r).unwrap();
        let entries = s.0.lock().unwrap().clone();
        assert_eq!(entries.len(), 2);
        assert!(entries.values().all(|v| v.chars().count() <= 1_280));
        let loaded = load_record(&s, "e/p").unwrap().unwrap();
        assert_eq!(loaded.access_token, r.access_token);
        assert_eq!(loaded.refresh_token, r.refresh_token);
        assert!(delete_record(&s, "e/p").unwrap());
        assert!(s.0.lock().unwrap().is_empty());
    }

    #[test]
    fn a_torn_split_write_forces_a_refresh_and_keeps_the_refresh_token() {
        let s = MemoryStore::default();
        save_record(&s, "e/p", &record(1_100, 700)).unwrap();
        s.set("e/p/access-token", "stale").unwrap();
        let loaded = load_record(&s, "e/p").unwrap().unwrap();
        assert!(loaded.needs_refresh(record::now(), 60));
        assert_eq!(loaded.refresh_token.unwrap().expose().len(), 700);
    }

    #[test]
    fn refresh_tokens_too_large_for_one_entry_are_refused() {
        let s = MemoryStore::default();
        let err = save_record(&s, "e/p", &record(10, 2_000)).unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Store);
        assert!(s.0.lock().unwrap().is_empty(), "nothing half-written");
    }
}

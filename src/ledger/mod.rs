//! The ledger: what hsm knows it has sent, one store shared by `contacts create`, `update`,
//! `import` and `sync` (SPEC.md "The ledger"). Keyed by realm (the server and login a write
//! was made under) and external id: the contact id, a salted digest of each field as last
//! sent (never a value), and the request in flight, recorded before it goes out and settled
//! after, so a crash or a lost answer leaves the row "unknown", looked up before anything is
//! sent for it again.
//!
//! One small interface (this file) over two stores: `sqlite`, the embedded default, and
//! `postgres`, shared by machines. Their tables are the same.

pub mod adopt;
mod lock;
mod postgres;
mod realm;
mod sqlite;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{CliError, Result};
use crate::settings::EnvSettings;

pub use lock::RealmLock;
pub use realm::RealmKey;

/// Field name → salted digest of its value as last sent.
pub type Digests = BTreeMap<String, String>;

/// A realm of the ledger: its row id, the salt of its digests and what it names.
#[derive(Debug, Clone)]
pub struct Realm {
    pub id: i64,
    salt: String,
    pub key: RealmKey,
}

impl Realm {
    /// The salted digest of one field's value: equal values digest equally within a realm,
    /// and the ledger holds no value.
    pub fn digest(&self, field: &str, value: &Value) -> String {
        let mut h = Sha256::new();
        h.update(self.salt.as_bytes());
        h.update([0]);
        h.update(field.as_bytes());
        h.update([0]);
        h.update(value.to_string().as_bytes());
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(32);
        for b in &h.finalize()[..16] {
            hex.push(char::from(HEX[usize::from(b >> 4)]));
            hex.push(char::from(HEX[usize::from(b & 15)]));
        }
        hex
    }

    #[cfg(test)]
    pub fn for_tests() -> Realm {
        Realm {
            id: 1,
            salt: "test-salt".into(),
            key: RealmKey::for_tests(),
        }
    }

    /// The digests of these fields of a contact.
    pub fn digests<'a>(
        &self,
        contact: &Map<String, Value>,
        fields: impl IntoIterator<Item = &'a String>,
    ) -> Digests {
        fields
            .into_iter()
            .filter_map(|f| contact.get(f).map(|v| (f.clone(), self.digest(f, v))))
            .collect()
    }
}

/// A request sent whose outcome is not recorded yet (in flight, or lost).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub create: bool,
    /// The digests of the fields it carried.
    pub d: Digests,
}

/// What the ledger knows of one external id in a realm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub contact_id: Option<String>,
    /// None: adopted from an older file, what the contact holds is unknown.
    pub digests: Option<Digests>,
    pub pending: Option<Pending>,
}

/// How a request ended, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The create answered with this id.
    Created(String),
    /// The PATCH answered: `true` when the contact changed, `false` for "no changes".
    Updated(bool),
    /// The API refused it (4xx) or it failed before reaching the server: it did not act.
    Failed(Option<u16>),
    /// Sent, and no answer: the request stays pending, to be looked up.
    Unknown(Option<u16>),
    /// A look-up found the contact (its id, and the digests of the server's values).
    Found(String, Digests),
    /// A look-up proved a pending create absent.
    Absent,
}

impl Outcome {
    fn word(&self) -> &'static str {
        match self {
            Outcome::Created(_) => "created",
            Outcome::Updated(true) => "updated",
            Outcome::Updated(false) => "unchanged",
            Outcome::Failed(_) => "failed",
            Outcome::Unknown(_) => "unknown",
            Outcome::Found(..) => "found",
            Outcome::Absent => "absent",
        }
    }

    fn http_status(&self) -> Option<u16> {
        match self {
            Outcome::Failed(s) | Outcome::Unknown(s) => *s,
            _ => None,
        }
    }
}

/// One line of `hsm ledger history` (its `--json` is an array of them).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
pub struct Event {
    pub at: String,
    pub command: String,
    pub action: String,
    pub fields: Vec<String>,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

/// One realm's counts, for `hsm ledger status`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
pub struct RealmCounts {
    pub realm: String,
    pub contacts: u64,
    pub in_flight_or_unknown: u64,
    pub runs: u64,
    pub last_run: Option<String>,
}

/// One contact as `hsm ledger export` writes it (and `adopt` reads it back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exported {
    pub realm: RealmKey,
    pub external_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digests: Option<Digests>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// Where the ledger is, as `HSM_LEDGER` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(postgres::Target),
}

impl Location {
    pub fn of(settings: &EnvSettings) -> Result<Location> {
        match settings.ledger.as_deref() {
            None => Ok(Location::Sqlite(
                crate::paths::state_dir(settings.state_dir.as_deref())?.join("ledger.sqlite3"),
            )),
            Some(spec) => match spec.split_once(':') {
                Some(("sqlite", path)) if !path.is_empty() => {
                    Ok(Location::Sqlite(PathBuf::from(path)))
                }
                Some(("postgres" | "postgresql", _)) => {
                    postgres::Target::parse(spec).map(Location::Postgres)
                }
                // Not echoed: it may hold a password.
                _ => Err(CliError::usage(
                    "HSM_LEDGER: expected sqlite:PATH or postgres://USER@HOST:PORT/DB",
                )
                .with_hint("unset HSM_LEDGER to use the default ledger in the state directory")),
            },
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(target) => write!(f, "{target}"),
        }
    }
}

/// The store behind the ledger.
enum Store {
    Sqlite(sqlite::Sqlite),
    Postgres(Box<postgres::Postgres>),
}

/// The ledger, open.
pub struct Ledger {
    store: Store,
    location: Location,
    timeout: Duration,
}

/// Call the same method on either store: SQLite's synchronously, PostgreSQL's awaited
/// within `HSM_LEDGER_TIMEOUT`.
macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match &mut $self.store {
            Store::Sqlite($s) => $call,
            Store::Postgres($s) => {
                let (timeout, shown) = ($self.timeout, $self.location.to_string());
                postgres::bounded(timeout, &shown, async { $call.await }).await
            }
        }
    };
}

/// How many external ids one look-up asks for at once.
pub const BATCH: usize = 500;

impl Ledger {
    /// Open the ledger `settings` name, creating it on first use. A damaged or foreign file
    /// is exit 6, never read as empty.
    pub async fn open(settings: &EnvSettings) -> Result<Ledger> {
        Ledger::open_with(settings, true).await
    }

    /// `check`: a structural check first (bulk runs, `hsm ledger`); a one-contact command skips
    /// it, since its one look-up meets any damage on its own path.
    async fn open_with(settings: &EnvSettings, check: bool) -> Result<Ledger> {
        let location = Location::of(settings)?;
        let timeout = settings.ledger_timeout;
        let store = match &location {
            Location::Sqlite(path) => Store::Sqlite(sqlite::Sqlite::open(path, timeout, check)?),
            Location::Postgres(target) => {
                Store::Postgres(Box::new(postgres::Postgres::open(target, settings).await?))
            }
        };
        Ok(Ledger {
            store,
            location,
            timeout,
        })
    }

    /// Open an existing ledger only (for `hsm ledger` commands that read): None when there
    /// is none yet.
    pub async fn open_existing(settings: &EnvSettings) -> Result<Option<Ledger>> {
        let location = Location::of(settings)?;
        if let Location::Sqlite(path) = &location
            && std::fs::symlink_metadata(path).is_err()
        {
            return Ok(None);
        }
        Ledger::open(settings).await.map(Some)
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The realm of `key`, created on first use.
    pub async fn realm(&mut self, key: &RealmKey) -> Result<Realm> {
        dispatch!(self, s => s.realm(key))
    }

    /// Only one writer per realm at a time: wait up to `wait` for another run, then exit 2
    /// naming it.
    pub async fn lock(
        &mut self,
        realm: &Realm,
        wait: Duration,
        holder: &str,
        printer: crate::output::Printer,
    ) -> Result<RealmLock> {
        match &mut self.store {
            Store::Postgres(s) => {
                s.lock(realm, wait, holder, printer).await?;
                Ok(RealmLock::held_by_connection())
            }
            Store::Sqlite(s) => RealmLock::take(s.path(), realm, wait, holder, printer).await,
        }
    }

    /// What the ledger holds of these external ids (at most [`BATCH`] a call is fastest).
    pub async fn lookup(&mut self, realm: &Realm, ids: &[&str]) -> Result<HashMap<String, Record>> {
        dispatch!(self, s => s.lookup(realm.id, ids))
    }

    /// One contact, found by its HealthSherpa id.
    pub async fn by_contact_id(
        &mut self,
        realm: &Realm,
        contact_id: &str,
    ) -> Result<Option<String>> {
        dispatch!(self, s => s.by_contact_id(realm.id, contact_id))
    }

    pub async fn start_run(&mut self, realm: &Realm, command: &str) -> Result<i64> {
        dispatch!(self, s => s.start_run(realm.id, command))
    }

    pub async fn finish_run(&mut self, run: i64, summary: &Value) -> Result<()> {
        dispatch!(self, s => s.finish_run(run, summary))
    }

    /// Begin a batch of records, committed together by [`Ledger::commit_batch`]: one commit
    /// for the rows a bulk run readies together. (PostgreSQL holds only the records of requests
    /// about to go out; an outcome is written as it comes, in one round trip.)
    pub async fn begin_batch(&mut self) -> Result<()> {
        match &mut self.store {
            Store::Sqlite(s) => s.begin_batch(),
            Store::Postgres(s) => {
                s.begin_batch();
                Ok(())
            }
        }
    }

    pub async fn commit_batch(&mut self) -> Result<()> {
        dispatch!(self, s => s.commit_batch())
    }

    /// Record a request as sent, before it goes out: `fields` are the fields it carries,
    /// `d` their digests.
    pub async fn sent(
        &mut self,
        realm: &Realm,
        run: i64,
        external_id: &str,
        pending: &Pending,
    ) -> Result<()> {
        dispatch!(self, s => s.sent(realm.id, run, external_id, pending))
    }

    /// Take back the record of a request that never went out: as if it had not been made.
    pub async fn unsend(&mut self, realm: &Realm, external_id: &str) -> Result<()> {
        dispatch!(self, s => s.unsend(realm.id, external_id))
    }

    /// Record how a request (or a look-up) ended.
    pub async fn settle(
        &mut self,
        realm: &Realm,
        run: i64,
        external_id: &str,
        outcome: &Outcome,
    ) -> Result<()> {
        dispatch!(self, s => s.settle(realm.id, run, external_id, outcome))
    }

    /// Seed contacts from an older file, in one transaction: known id, fields unknown (or
    /// known digests from an export). Per item, whether it was adopted (false: already known).
    pub async fn adopt_all(&mut self, realm: &Realm, items: &[Exported]) -> Result<Vec<bool>> {
        dispatch!(self, s => s.adopt_all(realm, items))
    }

    /// Take the salt of an export (`hsm ledger adopt`) for a realm that holds nothing yet, so
    /// the digests it carries stay meaningful; false (and no change) once the realm holds
    /// anything, whose digests were made under its own salt.
    pub async fn adopt_salt(&mut self, realm: &mut Realm, salt: &str) -> Result<bool> {
        let id = realm.id;
        let taken = dispatch!(self, s => s.adopt_salt(id, salt))?;
        if taken {
            realm.salt = salt.to_string();
        }
        Ok(taken)
    }

    /// Remember that a file was adopted into a realm (so an upgrade hint is given once).
    pub async fn mark_adopted(&mut self, realm: &Realm, file: &str) -> Result<()> {
        dispatch!(self, s => s.mark_adopted(realm.id, file))
    }

    pub async fn was_adopted(&mut self, realm: &Realm, file: &str) -> Result<bool> {
        dispatch!(self, s => s.was_adopted(realm.id, file))
    }

    /// Start a run's set of external ids seen in its file (for "missing from the file" and
    /// repeated ids). Returns, per id, whether it was new to the set.
    pub async fn see(&mut self, ids: &[&str]) -> Result<Vec<bool>> {
        dispatch!(self, s => s.see(ids))
    }

    /// [`Ledger::see`] and [`Ledger::lookup`] of one batch together (on PostgreSQL, one round
    /// trip).
    pub async fn see_and_lookup(
        &mut self,
        realm: &Realm,
        ids: &[&str],
    ) -> Result<(Vec<bool>, HashMap<String, Record>)> {
        dispatch!(self, s => s.see_and_lookup(realm.id, ids))
    }

    /// Contacts of the realm (with an id) not seen in this run's file.
    pub async fn unseen(&mut self, realm: &Realm) -> Result<Vec<String>> {
        dispatch!(self, s => s.unseen(realm.id))
    }

    pub async fn history(&mut self, realm: &Realm, external_id: &str) -> Result<Vec<Event>> {
        dispatch!(self, s => s.history(realm.id, external_id))
    }

    pub async fn status(&mut self) -> Result<Vec<RealmCounts>> {
        dispatch!(self, s => s.status())
    }

    /// Integrity and consistency problems (empty when the ledger is sound).
    pub async fn verify(&mut self) -> Result<Vec<String>> {
        dispatch!(self, s => s.verify())
    }

    /// Every contact of every realm, in order, to `each`.
    pub async fn export(
        &mut self,
        each: &mut dyn FnMut(Exported) -> std::io::Result<()>,
    ) -> Result<u64> {
        dispatch!(self, s => s.export(each))
    }
}

/// A command's hold on its realm of the ledger: the ledger open, the realm locked, a run
/// begun. Every writing command starts with one, before anything is sent.
pub struct Writer {
    pub ledger: Ledger,
    pub realm: Realm,
    pub run: i64,
    _lock: Option<RealmLock>,
}

impl Writer {
    pub async fn begin(
        settings: &EnvSettings,
        command: &str,
        wait: Duration,
        printer: crate::output::Printer,
    ) -> Result<Writer> {
        Writer::begin_with(settings, command, wait, printer, true).await
    }

    /// As [`Writer::begin`], for a command that writes one contact (no structural check).
    pub async fn begin_one(
        settings: &EnvSettings,
        command: &str,
        wait: Duration,
        printer: crate::output::Printer,
    ) -> Result<Writer> {
        Writer::begin_with(settings, command, wait, printer, false).await
    }

    async fn begin_with(
        settings: &EnvSettings,
        command: &str,
        wait: Duration,
        printer: crate::output::Printer,
        check: bool,
    ) -> Result<Writer> {
        let mut ledger = Ledger::open_with(settings, check).await?;
        let key = RealmKey::of(settings).await?;
        let realm = ledger.realm(&key).await?;
        let lock = ledger.lock(&realm, wait, command, printer).await?;
        let run = ledger.start_run(&realm, command).await?;
        Ok(Writer {
            ledger,
            realm,
            run,
            _lock: Some(lock),
        })
    }

    /// The ledger as a dry run reads it: no lock, no run, nothing written but the realm.
    pub async fn peek(settings: &EnvSettings) -> Result<Writer> {
        let mut ledger = Ledger::open(settings).await?;
        let key = RealmKey::of(settings).await?;
        let realm = ledger.realm(&key).await?;
        Ok(Writer {
            ledger,
            realm,
            run: 0,
            _lock: None,
        })
    }

    /// What the ledger holds of one external id.
    pub async fn record(&mut self, external_id: &str) -> Result<Option<Record>> {
        let mut found = self.ledger.lookup(&self.realm, &[external_id]).await?;
        Ok(found.remove(external_id))
    }

    pub async fn sent(&mut self, external_id: &str, pending: &Pending) -> Result<()> {
        let (realm, run) = (self.realm.clone(), self.run);
        self.ledger.sent(&realm, run, external_id, pending).await
    }

    pub async fn unsend(&mut self, external_id: &str) -> Result<()> {
        let realm = self.realm.clone();
        self.ledger.unsend(&realm, external_id).await
    }

    pub async fn settle(&mut self, external_id: &str, outcome: &Outcome) -> Result<()> {
        let (realm, run) = (self.realm.clone(), self.run);
        self.ledger.settle(&realm, run, external_id, outcome).await
    }

    /// A file an earlier hsm kept what it sent in (an import report, a sync state): until the
    /// ledger has adopted it, what it created would be created again. Stop, and say how.
    pub async fn refuse_unadopted(&mut self, file: &std::path::Path, what: &str) -> Result<()> {
        let key = std::fs::canonicalize(file)
            .unwrap_or_else(|_| file.to_path_buf())
            .display()
            .to_string();
        let realm = self.realm.clone();
        if self.ledger.was_adopted(&realm, &key).await? {
            return Ok(());
        }
        Err(CliError::usage(format!(
            "{} is {what} of an earlier hsm, which kept what it sent there; the ledger does not know it yet",
            file.display()
        ))
        .with_hint(format!(
            "nothing was sent; adopt it first, so nothing is created twice: hsm ledger adopt {}",
            file.display()
        )))
    }

    /// The run is over: its summary (a command's typed `--json` summary, or any JSON) kept.
    pub async fn finish(&mut self, summary: &impl serde::Serialize) -> Result<()> {
        let summary = serde_json::to_value(summary).unwrap_or_default();
        self.ledger.finish_run(self.run, &summary).await
    }
}

/// The fields that are compared and sent: all but `external_id`, which is immutable.
pub fn synced_fields(contact: &Map<String, Value>) -> impl Iterator<Item = &String> {
    contact.keys().filter(|k| k.as_str() != "external_id")
}

/// The error every ledger failure becomes: exit 6, naming the ledger and how to check it.
pub(crate) fn damaged(location: &str, what: impl std::fmt::Display) -> CliError {
    CliError::store(format!("ledger {location}: {what}")).with_hint(
        "nothing was sent; check it with `hsm ledger verify` (restore it from a backup made with `hsm ledger export` if it is damaged)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn realm(salt: &str) -> Realm {
        Realm {
            id: 1,
            salt: salt.into(),
            key: RealmKey::for_tests(),
        }
    }

    #[test]
    fn digests_depend_on_salt_field_and_value_and_hold_no_value() {
        let a = realm("s1");
        let v = Value::String("Ann".into());
        assert_eq!(a.digest("first_name", &v), a.digest("first_name", &v));
        assert_ne!(a.digest("first_name", &v), a.digest("last_name", &v));
        assert_ne!(
            a.digest("first_name", &v),
            realm("s2").digest("first_name", &v)
        );
        assert!(!a.digest("first_name", &v).contains("Ann"));
    }
}

//! The embedded ledger: one SQLite file (WAL), 0600 in a private directory. Created whole in a
//! temp file and renamed into place, so a file at the ledger's path that is empty, truncated
//! or not ours is damage (exit 6), never a fresh start. Each record is one transaction:
//! committed before the request it describes goes out, and so it survives a crash of hsm
//! (WAL with `synchronous=NORMAL`: durable against a killed process, as the journals it
//! replaces were; an OS crash may lose the last commits).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;

use super::{
    Digests, Event, Exported, Outcome, Pending, Realm, RealmCounts, RealmKey, Record, damaged,
};
use crate::error::{CliError, Result};

/// The schema this hsm writes. An older ledger is migrated in place; a newer one is refused.
pub const SCHEMA_VERSION: i64 = 1;

/// Portable SQL (SQLite and PostgreSQL alike): text ids, JSON as text, times as RFC 3339.
const SCHEMA: &str = "
CREATE TABLE hsm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE realms (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    api_url TEXT NOT NULL,
    client_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    instance TEXT NOT NULL,
    salt TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE contacts (
    realm INTEGER NOT NULL,
    external_id TEXT NOT NULL,
    contact_id TEXT,
    digests TEXT,
    pending TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (realm, external_id)
);
CREATE INDEX contacts_by_contact_id ON contacts (realm, contact_id);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    realm INTEGER NOT NULL,
    command TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    summary TEXT
);
CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    realm INTEGER NOT NULL,
    external_id TEXT NOT NULL,
    run INTEGER,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    fields TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER
);
CREATE INDEX history_by_contact ON history (realm, external_id);
CREATE TABLE adopted (realm INTEGER NOT NULL, file TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (realm, file));
";

/// Taking back a record of a request never sent: the contact's request in flight cleared,
/// its `sent` history row removed (portable SQL; PostgreSQL runs the same).
pub(super) const UNSEND_CONTACT: &str =
    "UPDATE contacts SET pending = NULL WHERE realm = ?1 AND external_id = ?2";
pub(super) const UNSEND_HISTORY: &str = "DELETE FROM history WHERE id =
    (SELECT MAX(id) FROM history WHERE realm = ?1 AND external_id = ?2 AND outcome = 'sent')";

pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
    seen_ready: bool,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl Sqlite {
    /// `check`: run SQLite's quick structural check first (about 3 µs a row: worth it before a
    /// bulk run, not before one contact, whose look-up meets any damage on its own path).
    pub fn open(path: &Path, timeout: Duration, check: bool) -> Result<Sqlite> {
        let shown = path.display().to_string();
        prepare_dir(path)?;
        if std::fs::symlink_metadata(path).is_err() {
            create(path, &shown)?;
        }
        check_file(path, &shown)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sql(&shown, e))?;
        conn.set_prepared_statement_cache_capacity(64);
        let mut ledger = Sqlite {
            conn,
            path: path.to_path_buf(),
            seen_ready: false,
        };
        ledger.prepare(timeout, check)?;
        Ok(ledger)
    }

    /// The ledger's path, as `HSM_LEDGER` or the state directory named it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// Settings, a quick integrity check (a damaged page is found before anything is
    /// trusted), then the schema's version.
    fn prepare(&mut self, timeout: Duration, check: bool) -> Result<()> {
        let shown = self.shown();
        let e = |err| sql(&shown, err);
        self.conn.busy_timeout(timeout).map_err(e)?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(e)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(damaged(&shown, format!("cannot use WAL mode ({mode})")));
        }
        self.conn
            .execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;")
            .map_err(e)?;
        self.check_schema()?;
        if check {
            let verdict: String = self
                .conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .map_err(e)?;
            if verdict != "ok" {
                return Err(damaged(&shown, format!("damaged ({verdict})")));
            }
        }
        Ok(())
    }

    fn check_schema(&mut self) -> Result<()> {
        let shown = self.shown();
        let meta = |key: &str| -> Result<Option<String>> {
            self.conn
                .query_row("SELECT value FROM hsm_meta WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|_| {
                    damaged(
                        &shown,
                        "not an hsm ledger (a SQLite file of something else)",
                    )
                })
        };
        if meta("ledger")?.as_deref() != Some("hsm") {
            return Err(damaged(&shown, "not an hsm ledger"));
        }
        let version: i64 = meta("schema_version")?
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| damaged(&shown, "no schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(CliError::store(format!(
                "ledger {shown} was written by a newer hsm (schema {version}; this hsm knows {SCHEMA_VERSION})"
            ))
            .with_hint("upgrade hsm; nothing was sent"));
        }
        Ok(())
    }

    pub fn realm(&mut self, key: &RealmKey) -> Result<Realm> {
        let shown = self.shown();
        let text = key.text();
        let found: Option<(i64, String)> = self
            .conn
            .query_row("SELECT id, salt FROM realms WHERE key = ?1", [&text], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| sql(&shown, e))?;
        let (id, salt) = match found {
            Some(found) => found,
            None => {
                let salt: String = (0..32)
                    .map(|_| format!("{:02x}", fastrand::u8(..)))
                    .collect();
                self.conn
                    .execute(
                        "INSERT INTO realms (key, api_url, client_id, profile, instance, salt, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (key) DO NOTHING",
                        params![text, key.api_url, key.client_id, key.profile, key.instance, salt, now()],
                    )
                    .map_err(|e| sql(&shown, e))?;
                self.conn
                    .query_row("SELECT id, salt FROM realms WHERE key = ?1", [&text], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(|e| sql(&shown, e))?
            }
        };
        Ok(Realm {
            id,
            salt,
            key: key.clone(),
        })
    }

    pub fn lookup(&mut self, realm: i64, ids: &[&str]) -> Result<HashMap<String, Record>> {
        let shown = self.shown();
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(super::BATCH) {
            let marks = vec!["?"; chunk.len()].join(",");
            let query = format!(
                "SELECT external_id, contact_id, digests, pending FROM contacts
                 WHERE realm = ? AND external_id IN ({marks})"
            );
            let mut stmt = self
                .conn
                .prepare_cached(&query)
                .map_err(|e| sql(&shown, e))?;
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![&realm];
            values.extend(chunk.iter().map(|x| x as &dyn rusqlite::ToSql));
            let rows = stmt
                .query_map(values.as_slice(), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                })
                .map_err(|e| sql(&shown, e))?;
            for row in rows {
                let (x, contact_id, digests, pending) = row.map_err(|e| sql(&shown, e))?;
                let record = Record {
                    contact_id,
                    digests: parse_json(&shown, digests.as_deref())?,
                    pending: parse_json(&shown, pending.as_deref())?,
                };
                found.insert(x, record);
            }
        }
        Ok(found)
    }

    pub fn by_contact_id(&mut self, realm: i64, contact_id: &str) -> Result<Option<String>> {
        let shown = self.shown();
        self.conn
            .query_row(
                "SELECT external_id FROM contacts WHERE realm = ?1 AND contact_id = ?2",
                params![realm, contact_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql(&shown, e))
    }

    pub fn start_run(&mut self, realm: i64, command: &str) -> Result<i64> {
        let shown = self.shown();
        self.conn
            .execute(
                "INSERT INTO runs (realm, command, started_at) VALUES (?1, ?2, ?3)",
                params![realm, command, now()],
            )
            .map_err(|e| sql(&shown, e))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&mut self, run: i64, summary: &Value) -> Result<()> {
        let shown = self.shown();
        self.conn
            .execute(
                "UPDATE runs SET finished_at = ?1, summary = ?2 WHERE id = ?3",
                params![now(), summary.to_string(), run],
            )
            .map_err(|e| sql(&shown, e))?;
        Ok(())
    }

    /// Hold the commits of the records that follow until [`Sqlite::commit_batch`]: one commit
    /// (one write of the pages they touch) for a batch of rows instead of one each. A record
    /// still goes out only after the batch holding it is committed.
    pub fn begin_batch(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            return Ok(());
        }
        let shown = self.shown();
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sql(&shown, e))
    }

    /// Commit the batch, if one is open.
    pub fn commit_batch(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        let shown = self.shown();
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| sql(&shown, e))
    }

    pub fn sent(&mut self, realm: i64, run: i64, x: &str, pending: &Pending) -> Result<()> {
        let shown = self.shown();
        atomically(&self.conn, &shown, |tx| {
            record_sent(tx, &shown, realm, run, x, pending)
        })
    }

    pub fn settle(&mut self, realm: i64, run: i64, x: &str, outcome: &Outcome) -> Result<()> {
        let shown = self.shown();
        atomically(&self.conn, &shown, |tx| {
            record_outcome(tx, &shown, realm, run, x, outcome)
        })
    }

    /// Take back the record of a request that never went out (the run stopped first).
    pub fn unsend(&mut self, realm: i64, x: &str) -> Result<()> {
        let shown = self.shown();
        atomically(&self.conn, &shown, |tx| {
            cached(tx, UNSEND_CONTACT, params![realm, x]).map_err(|e| sql(&shown, e))?;
            cached(tx, UNSEND_HISTORY, params![realm, x]).map_err(|e| sql(&shown, e))?;
            Ok(())
        })
    }

    /// Adopt many in one transaction: an old file of 200,000 rows takes seconds, where a
    /// transaction each took a minute.
    pub fn adopt_all(&mut self, realm: &Realm, items: &[Exported]) -> Result<Vec<bool>> {
        let shown = self.shown();
        let e = |err| sql(&shown, err);
        let tx = self.conn.transaction().map_err(e)?;
        let at = now();
        let done = items
            .iter()
            .map(|item| adopt_one(&tx, realm, item, &at))
            .collect::<rusqlite::Result<Vec<bool>>>()
            .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(done)
    }

    pub fn adopt_salt(&mut self, realm: i64, salt: &str) -> Result<bool> {
        let shown = self.shown();
        let changed = self
            .conn
            .execute(
                "UPDATE realms SET salt = ?1 WHERE id = ?2
                 AND NOT EXISTS (SELECT 1 FROM contacts WHERE realm = ?2)
                 AND NOT EXISTS (SELECT 1 FROM history WHERE realm = ?2)",
                params![salt, realm],
            )
            .map_err(|e| sql(&shown, e))?;
        Ok(changed == 1)
    }

    pub fn mark_adopted(&mut self, realm: i64, file: &str) -> Result<()> {
        let shown = self.shown();
        self.conn
            .execute(
                "INSERT INTO adopted (realm, file, at) VALUES (?1, ?2, ?3) ON CONFLICT (realm, file) DO NOTHING",
                params![realm, file, now()],
            )
            .map_err(|e| sql(&shown, e))?;
        Ok(())
    }

    pub fn was_adopted(&mut self, realm: i64, file: &str) -> Result<bool> {
        let shown = self.shown();
        self.conn
            .query_row(
                "SELECT 1 FROM adopted WHERE realm = ?1 AND file = ?2",
                params![realm, file],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| sql(&shown, e))
    }

    pub fn see(&mut self, ids: &[&str]) -> Result<Vec<bool>> {
        let shown = self.shown();
        let e = |err| sql(&shown, err);
        if !self.seen_ready {
            self.conn
                .execute_batch(
                    "CREATE TEMP TABLE IF NOT EXISTS seen (external_id TEXT PRIMARY KEY); DELETE FROM temp.seen;",
                )
                .map_err(e)?;
            self.seen_ready = true;
        }
        let tx = self.conn.savepoint().map_err(e)?;
        let mut fresh = Vec::with_capacity(ids.len());
        {
            let mut stmt = tx
                .prepare_cached("INSERT OR IGNORE INTO temp.seen (external_id) VALUES (?1)")
                .map_err(e)?;
            for x in ids {
                fresh.push(stmt.execute([x]).map_err(e)? == 1);
            }
        }
        tx.commit().map_err(e)?;
        Ok(fresh)
    }

    pub fn see_and_lookup(
        &mut self,
        realm: i64,
        ids: &[&str],
    ) -> Result<(Vec<bool>, HashMap<String, Record>)> {
        Ok((self.see(ids)?, self.lookup(realm, ids)?))
    }

    pub fn unseen(&mut self, realm: i64) -> Result<Vec<String>> {
        let shown = self.shown();
        let e = |err| sql(&shown, err);
        if !self.seen_ready {
            self.see(&[])?;
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT external_id FROM contacts WHERE realm = ?1 AND contact_id IS NOT NULL
                 AND external_id NOT IN (SELECT external_id FROM temp.seen) ORDER BY external_id",
            )
            .map_err(e)?;
        let rows = stmt.query_map([realm], |r| r.get(0)).map_err(e)?;
        rows.collect::<rusqlite::Result<Vec<String>>>().map_err(e)
    }

    pub fn history(&mut self, realm: i64, x: &str) -> Result<Vec<Event>> {
        let shown = self.shown();
        let e = |err| sql(&shown, err);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT h.at, COALESCE(r.command, ''), h.action, h.fields, h.outcome, h.http_status
                 FROM history h LEFT JOIN runs r ON r.id = h.run
                 WHERE h.realm = ?1 AND h.external_id = ?2 ORDER BY h.id",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map(params![realm, x], |r| {
                let fields: String = r.get(3)?;
                Ok(Event {
                    at: r.get(0)?,
                    command: r.get(1)?,
                    action: r.get(2)?,
                    fields: fields
                        .split(',')
                        .filter(|f| !f.is_empty())
                        .map(str::to_string)
                        .collect(),
                    outcome: r.get(4)?,
                    http_status: r.get(5)?,
                })
            })
            .map_err(e)?;
        rows.collect::<rusqlite::Result<Vec<Event>>>().map_err(e)
    }

    pub fn status(&mut self) -> Result<Vec<RealmCounts>> {
        let shown = self.shown();
        let e = |err| sql(&shown, err);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.api_url, r.client_id, r.profile, r.instance,
                   (SELECT COUNT(*) FROM contacts c WHERE c.realm = r.id AND c.contact_id IS NOT NULL),
                   (SELECT COUNT(*) FROM contacts c WHERE c.realm = r.id AND c.pending IS NOT NULL),
                   (SELECT COUNT(*) FROM runs u WHERE u.realm = r.id),
                   (SELECT MAX(started_at) FROM runs u WHERE u.realm = r.id)
                 FROM realms r ORDER BY r.id",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                let key = RealmKey {
                    api_url: r.get(0)?,
                    client_id: r.get(1)?,
                    profile: r.get(2)?,
                    instance: r.get(3)?,
                };
                Ok(RealmCounts {
                    realm: key.to_string(),
                    contacts: r.get::<_, i64>(4)? as u64,
                    in_flight_or_unknown: r.get::<_, i64>(5)? as u64,
                    runs: r.get::<_, i64>(6)? as u64,
                    last_run: r.get(7)?,
                })
            })
            .map_err(e)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(e)
    }

    pub fn verify(&mut self) -> Result<Vec<String>> {
        let shown = self.shown();
        let e = |err| sql(&shown, err);
        let mut problems = Vec::new();
        {
            let mut stmt = self.conn.prepare("PRAGMA integrity_check").map_err(e)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(e)?;
            for row in rows {
                let line = row.map_err(e)?;
                if line != "ok" {
                    problems.push(line);
                }
            }
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT realm, external_id, digests, pending FROM contacts
                 WHERE realm NOT IN (SELECT id FROM realms) OR digests IS NOT NULL OR pending IS NOT NULL",
            )
            .map_err(e)?;
        let realms: std::collections::HashSet<i64> = {
            let mut s = self.conn.prepare("SELECT id FROM realms").map_err(e)?;
            let ids = s.query_map([], |r| r.get(0)).map_err(e)?;
            ids.collect::<rusqlite::Result<_>>().map_err(e)?
        };
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(e)?;
        for row in rows {
            let (realm, x, digests, pending) = row.map_err(e)?;
            if !realms.contains(&realm) {
                problems.push(format!("contact {x}: belongs to no realm ({realm})"));
            }
            if parse_json::<Digests>(&shown, digests.as_deref()).is_err() {
                problems.push(format!("contact {x}: unreadable digests"));
            }
            if parse_json::<Pending>(&shown, pending.as_deref()).is_err() {
                problems.push(format!("contact {x}: unreadable request in flight"));
            }
        }
        Ok(problems)
    }

    pub fn export(&mut self, each: &mut dyn FnMut(Exported) -> std::io::Result<()>) -> Result<u64> {
        let shown = self.shown();
        let e = |err| sql(&shown, err);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.api_url, r.client_id, r.profile, r.instance, r.salt,
                        c.external_id, c.contact_id, c.digests, c.pending
                 FROM contacts c JOIN realms r ON r.id = c.realm ORDER BY c.realm, c.external_id",
            )
            .map_err(e)?;
        let mut rows = stmt.query([]).map_err(e)?;
        let mut count = 0;
        while let Some(r) = rows.next().map_err(e)? {
            let get = |i| r.get::<_, Option<String>>(i).map_err(e);
            let item = Exported {
                realm: RealmKey {
                    api_url: get(0)?.unwrap_or_default(),
                    client_id: get(1)?.unwrap_or_default(),
                    profile: get(2)?.unwrap_or_default(),
                    instance: get(3)?.unwrap_or_default(),
                },
                salt: get(4)?,
                external_id: get(5)?.unwrap_or_default(),
                contact_id: get(6)?,
                digests: parse_json(&shown, get(7)?.as_deref())?,
                pending: parse_json(&shown, get(8)?.as_deref())?,
            };
            each(item).map_err(|err| CliError::usage(format!("cannot write the export: {err}")))?;
            count += 1;
        }
        Ok(count)
    }
}

/// One contact from an older file or an export: false when the ledger already knew it (or
/// there is nothing to adopt).
fn adopt_one(
    tx: &rusqlite::Transaction<'_>,
    realm: &Realm,
    item: &Exported,
    at: &str,
) -> rusqlite::Result<bool> {
    // Digests are only meaningful under the salt they were made with.
    let digests = item
        .digests
        .as_ref()
        .filter(|_| item.salt.as_deref() == Some(realm.salt.as_str()));
    let known: Option<Option<String>> = tx
        .prepare_cached("SELECT contact_id FROM contacts WHERE realm = ?1 AND external_id = ?2")?
        .query_row(params![realm.id, item.external_id], |r| r.get(0))
        .optional()?;
    if matches!(known, Some(Some(_))) {
        return Ok(false);
    }
    let pending = match (&item.contact_id, &item.pending) {
        (None, Some(p)) => Some(p.clone()),
        (None, None) => return Ok(false),
        _ => None,
    };
    tx.prepare_cached(
        "INSERT INTO contacts (realm, external_id, contact_id, digests, pending, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (realm, external_id) DO UPDATE SET contact_id = excluded.contact_id, digests = excluded.digests,
         pending = excluded.pending, updated_at = excluded.updated_at",
    )?
    .execute(params![
        realm.id,
        item.external_id,
        item.contact_id,
        digests.map(to_json),
        pending.as_ref().map(to_json),
        at
    ])?;
    let outcome = if pending.is_some() {
        "adopted unknown"
    } else {
        "adopted"
    };
    insert_history(
        tx,
        realm.id,
        &item.external_id,
        0,
        at,
        "adopt",
        &Digests::new(),
        outcome,
        None,
    )?;
    Ok(true)
}

fn record_sent(
    tx: &Connection,
    shown: &str,
    realm: i64,
    run: i64,
    x: &str,
    pending: &Pending,
) -> Result<()> {
    let e = |err| sql(shown, err);
    let at = now();
    cached(tx,
            "INSERT INTO contacts (realm, external_id, pending, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (realm, external_id) DO UPDATE SET pending = excluded.pending, updated_at = excluded.updated_at",
            params![realm, x, to_json(pending), at],
        )
        .map_err(e)?;
    // One history row per request: written now as `sent`, given its outcome when it settles.
    let action = if pending.create { "create" } else { "update" };
    insert_history(tx, realm, x, run, &at, action, &pending.d, "sent", None).map_err(e)?;
    Ok(())
}

fn record_outcome(
    tx: &Connection,
    shown: &str,
    realm: i64,
    run: i64,
    x: &str,
    outcome: &Outcome,
) -> Result<()> {
    let e = |err| sql(shown, err);
    let row: Option<(Option<String>, Option<String>)> = tx
        .prepare_cached(
            "SELECT digests, pending FROM contacts WHERE realm = ?1 AND external_id = ?2",
        )
        .and_then(|mut st| {
            st.query_row(params![realm, x], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(e)?;
    let (digests, pending) = row.unwrap_or_default();
    let digests: Option<Digests> = parse_json(shown, digests.as_deref())?;
    let pending: Option<Pending> = parse_json(shown, pending.as_deref())?;
    let at = now();
    let sent_fields = pending.as_ref().map(|p| p.d.clone()).unwrap_or_default();
    let action = match (outcome, &pending) {
        (Outcome::Found(..) | Outcome::Absent, _) => "look-up",
        (_, Some(p)) if p.create => "create",
        _ => "update",
    };
    apply_outcome(tx, realm, x, outcome, digests, &sent_fields, &at).map_err(e)?;
    let shown_fields = match outcome {
        Outcome::Found(_, d) => d.clone(),
        _ => sent_fields,
    };
    let event = (action, &shown_fields, at.as_str());
    history_outcome(tx, realm, x, run, event, outcome).map_err(e)?;
    Ok(())
}

/// What an outcome does to the contact's row: its id and digests, and the request in flight
/// cleared (an unknown outcome leaves it in flight).
fn apply_outcome(
    tx: &Connection,
    realm: i64,
    x: &str,
    outcome: &Outcome,
    digests: Option<Digests>,
    sent_fields: &Digests,
    at: &str,
) -> rusqlite::Result<()> {
    match outcome {
        Outcome::Created(id) => {
            upsert(tx, realm, x, Some(id), Some(sent_fields), at)?;
        }
        Outcome::Updated(_) => {
            // What was sent is now what the contact holds, on top of what it held.
            let mut merged = digests.unwrap_or_default();
            merged.extend(sent_fields.clone());
            cached(
                tx,
                "UPDATE contacts SET digests = ?1, pending = NULL, updated_at = ?2 WHERE realm = ?3 AND external_id = ?4",
                params![to_json(&merged), at, realm, x],
            )?;
        }
        Outcome::Found(id, found) => {
            upsert(tx, realm, x, Some(id), Some(found), at)?;
        }
        Outcome::Failed(_) | Outcome::Absent => {
            cached(
                tx,
                "UPDATE contacts SET pending = NULL, updated_at = ?1 WHERE realm = ?2 AND external_id = ?3",
                params![at, realm, x],
            )?;
        }
        Outcome::Unknown(_) => {}
    }
    Ok(())
}

/// The request's own history row gets its outcome; a look-up gets a row of its own.
fn history_outcome(
    tx: &Connection,
    realm: i64,
    x: &str,
    run: i64,
    (action, fields, at): (&str, &Digests, &str),
    outcome: &Outcome,
) -> rusqlite::Result<()> {
    let updated = match outcome {
        Outcome::Found(..) | Outcome::Absent => 0,
        _ => cached(
            tx,
            "UPDATE history SET outcome = ?1, http_status = ?2, at = ?3 WHERE id =
             (SELECT MAX(id) FROM history WHERE realm = ?4 AND external_id = ?5 AND outcome = 'sent')",
            params![outcome.word(), outcome.http_status(), at, realm, x],
        )?,
    };
    if updated == 0 {
        let (word, status) = (outcome.word(), outcome.http_status());
        insert_history(tx, realm, x, run, at, action, fields, word, status)?;
    }
    Ok(())
}

/// One record, atomic: its own transaction, or (inside a batch) the batch's, committed
/// with it.
fn atomically<T>(
    conn: &Connection,
    shown: &str,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    if !conn.is_autocommit() {
        return f(conn);
    }
    conn.execute_batch("BEGIN").map_err(|e| sql(shown, e))?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("COMMIT").map_err(|e| sql(shown, e))?;
            Ok(v)
        }
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}

/// A statement prepared once per connection (the per-row records run thousands a second).
fn cached(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

fn upsert(
    tx: &Connection,
    realm: i64,
    x: &str,
    id: Option<&String>,
    digests: Option<&Digests>,
    at: &str,
) -> rusqlite::Result<usize> {
    cached(tx,
        "INSERT INTO contacts (realm, external_id, contact_id, digests, pending, updated_at) VALUES (?1, ?2, ?3, ?4, NULL, ?5)
         ON CONFLICT (realm, external_id) DO UPDATE SET contact_id = excluded.contact_id, digests = excluded.digests,
         pending = NULL, updated_at = excluded.updated_at",
        params![realm, x, id, digests.map(to_json), at],
    )
}

#[allow(clippy::too_many_arguments)]
fn insert_history(
    tx: &Connection,
    realm: i64,
    x: &str,
    run: i64,
    at: &str,
    action: &str,
    fields: &Digests,
    outcome: &str,
    http_status: Option<u16>,
) -> rusqlite::Result<usize> {
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    tx.prepare_cached(
        "INSERT INTO history (realm, external_id, run, at, action, fields, outcome, http_status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        realm,
        x,
        (run > 0).then_some(run),
        at,
        action,
        names.join(","),
        outcome,
        http_status
    ])
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn parse_json<T: serde::de::DeserializeOwned>(
    shown: &str,
    text: Option<&str>,
) -> Result<Option<T>> {
    text.map(|t| serde_json::from_str(t).map_err(|_| damaged(shown, "a record cannot be read")))
        .transpose()
}

/// SQLite's word on a file that is not a database, or a damaged one, is damage (exit 6);
/// anything else (busy past the timeout, no space) is a store error too, named.
fn sql(shown: &str, e: rusqlite::Error) -> CliError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            damaged(shown, "not an hsm ledger (not a SQLite database)")
        }
        Some(ErrorCode::DatabaseCorrupt) => damaged(shown, "damaged (SQLite reports corruption)"),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => CliError::store(format!(
            "ledger {shown} is busy (another hsm is writing to it) past HSM_LEDGER_TIMEOUT"
        ))
        .with_hint("try again, or raise HSM_LEDGER_TIMEOUT"),
        Some(ErrorCode::DiskFull) => CliError::store(format!("ledger {shown}: the disk is full"))
            .with_hint("free some space and run the same command again"),
        _ => CliError::store(format!("ledger {shown}: {e}")),
    }
    .with_cause(&e)
}

/// The ledger's directory: created 0700 if missing; one other users may write to is refused.
fn prepare_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(|e| {
            CliError::store(format!(
                "cannot create the ledger's directory {}: {e}",
                dir.display()
            ))
            .with_cause(&e)
        })?;
    }
    match crate::private_file::world_writable_dir(path) {
        Ok(None) => Ok(()),
        Ok(Some(d)) => Err(CliError::store(format!(
            "the ledger's directory {} can be written by other users",
            d.display()
        ))
        .with_hint("the ledger names your contacts: keep it in a private directory (chmod 700), or set HSM_LEDGER=sqlite:PATH")),
        Err(e) => Err(
            CliError::store(format!("cannot check the ledger's directory: {e}")).with_cause(&e),
        ),
    }
}

/// A new ledger, made whole in a temp file (0600) and renamed into place: a crash leaves no
/// half-made ledger, and so an empty file at the path is always damage.
fn create(path: &Path, shown: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".ledger-new-")
        .tempfile_in(dir)
        .map_err(|e| {
            CliError::store(format!("cannot create ledger {shown}: {e}")).with_cause(&e)
        })?;
    {
        let conn = Connection::open(temp.path()).map_err(|e| sql(shown, e))?;
        let init = format!(
            "{SCHEMA}
             INSERT INTO hsm_meta (key, value) VALUES ('ledger', 'hsm');
             INSERT INTO hsm_meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
             INSERT INTO hsm_meta (key, value) VALUES ('created_at', '{}');",
            now()
        );
        conn.execute_batch(&format!("BEGIN; {init} COMMIT;"))
            .map_err(|e| sql(shown, e))?;
        conn.close().map_err(|(_, e)| sql(shown, e))?;
    }
    match temp.persist_noclobber(path) {
        Ok(_) => Ok(()),
        // Another hsm made it first: use theirs.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(CliError::store(format!(
            "cannot create ledger {shown}: {}",
            e.error
        ))),
    }
}

/// The file at the ledger's path must be a regular, non-empty file (a symlink to one is fine);
/// a wider mode left by hand is narrowed to 0600.
fn check_file(path: &Path, shown: &str) -> Result<()> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::store(format!("cannot open ledger {shown}: {e}")).with_cause(&e))?;
    if !meta.is_file() {
        return Err(damaged(shown, "not a regular file"));
    }
    if meta.len() == 0 {
        return Err(damaged(shown, "the file is empty (truncated?)"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
                |e| {
                    CliError::store(format!("cannot make ledger {shown} private (0600): {e}"))
                        .with_cause(&e)
                },
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::RealmKey;

    fn open(dir: &Path) -> Sqlite {
        Sqlite::open(&dir.join("ledger.sqlite3"), Duration::from_secs(1), true).unwrap()
    }

    #[test]
    fn a_request_is_pending_until_settled_and_digests_merge_on_update() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = open(dir.path());
        let realm = l.realm(&RealmKey::for_tests()).unwrap();
        let run = l.start_run(realm.id, "import").unwrap();
        let d: Digests = [("first_name".to_string(), "aa".to_string())].into();
        l.sent(
            realm.id,
            run,
            "X1",
            &Pending {
                create: true,
                d: d.clone(),
            },
        )
        .unwrap();
        let got = l.lookup(realm.id, &["X1", "X2"]).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got["X1"].pending.as_ref().is_some_and(|p| p.create));
        l.settle(realm.id, run, "X1", &Outcome::Created("c1".into()))
            .unwrap();
        let more: Digests = [("zip".to_string(), "bb".to_string())].into();
        l.sent(
            realm.id,
            run,
            "X1",
            &Pending {
                create: false,
                d: more,
            },
        )
        .unwrap();
        l.settle(realm.id, run, "X1", &Outcome::Updated(true))
            .unwrap();
        let got = &l.lookup(realm.id, &["X1"]).unwrap()["X1"];
        assert_eq!(got.contact_id.as_deref(), Some("c1"));
        assert_eq!(got.pending, None);
        assert_eq!(got.digests.as_ref().unwrap().len(), 2);
        let history = l.history(realm.id, "X1").unwrap();
        let outcomes: Vec<&str> = history.iter().map(|h| h.outcome.as_str()).collect();
        assert_eq!(outcomes, ["created", "updated"]);
        assert_eq!(history[1].fields, ["zip"]);
    }

    #[test]
    fn an_empty_or_foreign_file_is_damage_not_a_fresh_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        std::fs::write(&path, b"").unwrap();
        let err = Sqlite::open(&path, Duration::from_secs(1), true)
            .err()
            .unwrap();
        assert_eq!(err.exit, crate::error::Exit::Store);
        std::fs::write(&path, b"not a database at all, just some text here").unwrap();
        let err = Sqlite::open(&path, Duration::from_secs(1), true)
            .err()
            .unwrap();
        assert_eq!(err.exit, crate::error::Exit::Store, "{}", err.message);
        std::fs::remove_file(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (a)").unwrap();
        drop(conn);
        let err = Sqlite::open(&path, Duration::from_secs(1), true)
            .err()
            .unwrap();
        assert!(err.message.contains("not an hsm ledger"), "{}", err.message);
    }

    #[test]
    fn realms_are_kept_apart_and_have_their_own_salt() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = open(dir.path());
        let a = l.realm(&RealmKey::for_tests()).unwrap();
        let other = RealmKey {
            instance: "i2".into(),
            ..RealmKey::for_tests()
        };
        let b = l.realm(&other).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(l.realm(&RealmKey::for_tests()).unwrap().id, a.id);
        let v = Value::String("x".into());
        assert_ne!(a.digest("f", &v), b.digest("f", &v));
        let run = l.start_run(a.id, "create").unwrap();
        l.sent(
            a.id,
            run,
            "X",
            &Pending {
                create: true,
                d: Digests::new(),
            },
        )
        .unwrap();
        l.settle(a.id, run, "X", &Outcome::Created("c".into()))
            .unwrap();
        assert!(l.lookup(b.id, &["X"]).unwrap().is_empty());
    }
}

/// The bundled SQLite is built by `.cargo/config.toml`'s `LIBSQLITE3_FLAGS` without the
/// extensions hsm never uses (issue 24: the binary's size budget); a build that lost that
/// setting would quietly carry them again.
#[cfg(test)]
mod build_tests {
    use rusqlite::Connection;

    #[test]
    fn the_bundled_sqlite_leaves_out_the_extensions_hsm_does_not_use() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(options.iter().any(|o| o == "OMIT_JSON"), "{options:?}");
        assert!(
            options.iter().any(|o| o == "OMIT_LOAD_EXTENSION"),
            "{options:?}"
        );
        for gone in [
            "ENABLE_FTS3",
            "ENABLE_FTS5",
            "ENABLE_RTREE",
            "ENABLE_DBSTAT_VTAB",
        ] {
            assert!(!options.iter().any(|o| o == gone), "{gone} in {options:?}");
        }
        assert!(
            conn.prepare("SELECT json('{}')").is_err(),
            "no JSON functions"
        );
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;
    use crate::ledger::RealmKey;

    #[test]
    fn a_batch_commits_once_and_reads_between_batches_leave_none_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut l =
            Sqlite::open(&dir.path().join("l.sqlite3"), Duration::from_secs(1), true).unwrap();
        let realm = l.realm(&RealmKey::for_tests()).unwrap();
        assert!(l.conn.is_autocommit(), "after realm");
        l.see(&["a", "b"]).unwrap();
        assert!(l.conn.is_autocommit(), "after see");
        l.lookup(realm.id, &["a"]).unwrap();
        assert!(l.conn.is_autocommit(), "after lookup");
        l.commit_batch().unwrap();
        l.begin_batch().unwrap();
        let run = l.start_run(realm.id, "t").unwrap();
        l.sent(
            realm.id,
            run,
            "a",
            &Pending {
                create: true,
                d: Digests::new(),
            },
        )
        .unwrap();
        l.settle(realm.id, run, "a", &Outcome::Created("c".into()))
            .unwrap();
        l.commit_batch().unwrap();
        assert!(l.conn.is_autocommit());
    }
}

//! The shared ledger: the same tables and guarantees as the SQLite one, on a PostgreSQL
//! server, for fleets and for CI runners whose disk is thrown away after each job.
//!
//! Each record is committed before the request it describes goes out, as with SQLite: the
//! statements of one record go out together in one round trip (a pipelined transaction), and
//! look-ups ask for a batch of external ids at once. A request's record waits for the server's
//! disk; its outcome does not (one flush a row, not two: an outcome lost in a crash of the
//! server leaves the request in flight, looked up by the next run). One writer per realm across machines:
//! a session-level advisory lock held on this connection for the run (`lock`).

mod connect;
mod lock;
mod schema;
mod tls;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::try_join_all;
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use super::{
    Digests, Event, Exported, Outcome, Pending, Realm, RealmCounts, RealmKey, Record, damaged,
};
use crate::error::{CliError, Result};
use crate::settings::EnvSettings;

pub use connect::Target;

type Param<'a> = &'a (dyn ToSql + Sync);

pub struct Postgres {
    client: Client,
    shown: String,
    timeout: Duration,
    st: Statements,
    /// Records of requests about to go out, held by an open batch for one durable commit.
    batch: Option<Vec<SentRecord>>,
}

/// A request's record as sent, with its history row: the values of the two statements.
struct SentRecord {
    realm: i64,
    x: String,
    json: String,
    at: String,
    action: &'static str,
    run: Option<i64>,
    fields: String,
}

/// The statements of the hot path, prepared once per connection.
struct Statements {
    lookup: Statement,
    see: Statement,
    sent: Statement,
    history: Statement,
    history_unless_sent: Statement,
    history_settle: Statement,
    settle_read: Statement,
    upsert: Statement,
    set_digests: Statement,
    clear_pending: Statement,
}

const HISTORY_COLUMNS: &str = "realm, external_id, run, at, action, fields, outcome, http_status";

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl Postgres {
    /// Connect, check (create, upgrade) the schema, prepare the statements: all within
    /// `HSM_LEDGER_TIMEOUT`.
    pub async fn open(target: &Target, settings: &EnvSettings) -> Result<Postgres> {
        let timeout = settings.ledger_timeout;
        let shown = target.to_string();
        let mut client = connect::connect(target, settings, timeout).await?;
        let ready = async {
            schema::prepare(&mut client, &shown).await?;
            client
                .batch_execute("CREATE TEMP TABLE seen (external_id TEXT PRIMARY KEY)")
                .await
                .map_err(|e| pg(&shown, e))?;
            prepare(&client, &shown).await
        };
        let st = bounded(timeout, &shown, ready).await?;
        Ok(Postgres {
            client,
            shown,
            timeout,
            st,
            batch: None,
        })
    }

    fn err(&self) -> impl Fn(tokio_postgres::Error) -> CliError + '_ {
        |e| pg(&self.shown, e)
    }

    /// `steps` in one transaction, sent together: one round trip. `durable`: the commit
    /// returns once the server has the record on disk (a record of a request about to go
    /// out); otherwise once it has it at all, on disk soon after (an outcome: if a crash of
    /// the server loses it, the request stays in flight and is looked up, as after any crash).
    async fn pipeline(&self, durable: bool, steps: &[(&Statement, &[Param<'_>])]) -> Result<()> {
        let begin = if durable {
            "BEGIN"
        } else {
            "BEGIN; SET LOCAL synchronous_commit TO OFF"
        };
        let begin = async { self.client.batch_execute(begin).await.map(|_| 0) };
        let commit = async { self.client.batch_execute("COMMIT").await.map(|_| 0) };
        let mut all: Vec<std::pin::Pin<Box<dyn Future<Output = _> + '_>>> = vec![Box::pin(begin)];
        for (st, params) in steps {
            all.push(Box::pin(self.client.execute(*st, params)));
        }
        all.push(Box::pin(commit));
        try_join_all(all).await.map_err(self.err())?;
        Ok(())
    }

    pub async fn lock(
        &mut self,
        realm: &Realm,
        wait: Duration,
        holder: &str,
        printer: crate::output::Printer,
    ) -> Result<()> {
        lock::take(self, realm, wait, holder, printer).await
    }

    pub async fn realm(&mut self, key: &RealmKey) -> Result<Realm> {
        let text = key.text();
        let select = "SELECT id, salt FROM realms WHERE key = $1";
        let mut found = self
            .client
            .query_opt(select, &[&text])
            .await
            .map_err(self.err())?;
        if found.is_none() {
            let salt: String = (0..32)
                .map(|_| format!("{:02x}", fastrand::u8(..)))
                .collect();
            self.client
                .execute(
                    "INSERT INTO realms (key, api_url, client_id, profile, instance, salt, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING",
                    &[&text, &key.api_url, &key.client_id, &key.profile, &key.instance, &salt, &now()],
                )
                .await
                .map_err(self.err())?;
            found = self
                .client
                .query_opt(select, &[&text])
                .await
                .map_err(self.err())?;
        }
        let row = found.ok_or_else(|| damaged(&self.shown, "a realm cannot be read back"))?;
        Ok(Realm {
            id: row.get(0),
            salt: row.get(1),
            key: key.clone(),
        })
    }

    pub async fn lookup(&mut self, realm: i64, ids: &[&str]) -> Result<HashMap<String, Record>> {
        self.lookup_shared(realm, ids).await
    }

    async fn lookup_shared(&self, realm: i64, ids: &[&str]) -> Result<HashMap<String, Record>> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(super::BATCH) {
            let rows = self
                .client
                .query(&self.st.lookup, &[&realm, &chunk])
                .await
                .map_err(self.err())?;
            for r in rows {
                let record = Record {
                    contact_id: r.get(1),
                    digests: parse_json(&self.shown, r.get(2))?,
                    pending: parse_json(&self.shown, r.get(3))?,
                };
                found.insert(r.get(0), record);
            }
        }
        Ok(found)
    }

    /// [`Postgres::see`] and [`Postgres::lookup`] of one batch, pipelined: one round trip.
    pub async fn see_and_lookup(
        &mut self,
        realm: i64,
        ids: &[&str],
    ) -> Result<(Vec<bool>, HashMap<String, Record>)> {
        futures_util::future::try_join(self.see_shared(ids), self.lookup_shared(realm, ids)).await
    }

    pub async fn by_contact_id(&mut self, realm: i64, contact_id: &str) -> Result<Option<String>> {
        let row = self
            .client
            .query_opt(
                "SELECT external_id FROM contacts WHERE realm = $1 AND contact_id = $2 LIMIT 1",
                &[&realm, &contact_id],
            )
            .await
            .map_err(self.err())?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn start_run(&mut self, realm: i64, command: &str) -> Result<i64> {
        let row = self
            .client
            .query_one(
                "INSERT INTO runs (realm, command, started_at) VALUES ($1, $2, $3) RETURNING id",
                &[&realm, &command, &now()],
            )
            .await
            .map_err(self.err())?;
        Ok(row.get(0))
    }

    pub async fn finish_run(&mut self, run: i64, summary: &Value) -> Result<()> {
        self.client
            .execute(
                "UPDATE runs SET finished_at = $1, summary = $2 WHERE id = $3",
                &[&now(), &summary.to_string(), &run],
            )
            .await
            .map_err(self.err())?;
        Ok(())
    }

    /// Hold the records of requests about to go out until [`Postgres::commit_batch`]: one
    /// transaction, one flush of the server's log, for the rows a bulk run readies together
    /// (outcomes, committed without waiting for the disk, go at once).
    pub fn begin_batch(&mut self) {
        self.batch.get_or_insert_with(Vec::new);
    }

    /// Commit the records held, in one durable transaction, pipelined: one round trip.
    pub async fn commit_batch(&mut self) -> Result<()> {
        let Some(batch) = self.batch.take() else {
            return Ok(());
        };
        self.write_sent(&batch).await
    }

    pub async fn sent(&mut self, realm: i64, run: i64, x: &str, pending: &Pending) -> Result<()> {
        let record = SentRecord {
            realm,
            x: x.to_string(),
            json: to_json(pending),
            at: now(),
            action: if pending.create { "create" } else { "update" },
            run: (run > 0).then_some(run),
            fields: field_names(&pending.d),
        };
        match &mut self.batch {
            Some(batch) => {
                batch.push(record);
                Ok(())
            }
            None => self.write_sent(&[record]).await,
        }
    }

    async fn write_sent(&self, records: &[SentRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let status: Option<i32> = None;
        let mut steps: Vec<(&Statement, Vec<Param<'_>>)> = Vec::with_capacity(2 * records.len());
        for r in records {
            steps.push((&self.st.sent, vec![&r.realm, &r.x, &r.json, &r.at]));
            let history: Vec<Param<'_>> = vec![
                &r.realm, &r.x, &r.run, &r.at, &r.action, &r.fields, &"sent", &status,
            ];
            steps.push((&self.st.history, history));
        }
        let steps: Vec<(&Statement, &[Param<'_>])> =
            steps.iter().map(|(st, p)| (*st, p.as_slice())).collect();
        self.pipeline(true, &steps).await
    }

    pub async fn settle(&mut self, realm: i64, run: i64, x: &str, outcome: &Outcome) -> Result<()> {
        let row = self
            .client
            .query_opt(&self.st.settle_read, &[&realm, &x])
            .await
            .map_err(self.err())?;
        let (digests, pending): (Option<String>, Option<String>) =
            row.map(|r| (r.get(0), r.get(1))).unwrap_or_default();
        let digests: Option<Digests> = parse_json(&self.shown, digests.as_deref())?;
        let pending: Option<Pending> = parse_json(&self.shown, pending.as_deref())?;
        let at = now();
        let sent_fields = pending.as_ref().map(|p| p.d.clone()).unwrap_or_default();
        let lookup = matches!(outcome, Outcome::Found(..) | Outcome::Absent);
        let action = match (lookup, &pending) {
            (true, _) => "look-up",
            (false, Some(p)) if p.create => "create",
            _ => "update",
        };
        let word = outcome.word();
        let status: Option<i32> = outcome.http_status().map(i32::from);
        let run = (run > 0).then_some(run);
        let shown_fields = match outcome {
            Outcome::Found(_, d) => field_names(d),
            _ => field_names(&sent_fields),
        };
        // What the contact row becomes.
        let id: Option<&String>;
        let new_digests: String;
        let mut steps: Vec<(&Statement, Vec<Param<'_>>)> = Vec::new();
        match outcome {
            Outcome::Created(created) => {
                id = Some(created);
                new_digests = to_json(&sent_fields);
                steps.push((&self.st.upsert, vec![&realm, &x, &id, &new_digests, &at]));
            }
            Outcome::Found(found, d) => {
                id = Some(found);
                new_digests = to_json(d);
                steps.push((&self.st.upsert, vec![&realm, &x, &id, &new_digests, &at]));
            }
            Outcome::Updated(_) => {
                // What was sent is now what the contact holds, on top of what it held.
                let mut merged = digests.unwrap_or_default();
                merged.extend(sent_fields.clone());
                new_digests = to_json(&merged);
                steps.push((&self.st.set_digests, vec![&new_digests, &at, &realm, &x]));
            }
            Outcome::Failed(_) | Outcome::Absent => {
                steps.push((&self.st.clear_pending, vec![&at, &realm, &x]));
            }
            Outcome::Unknown(_) => {}
        }
        // The request's own history row gets its outcome; a look-up gets a row of its own.
        let history: Vec<Param<'_>> = vec![
            &realm,
            &x,
            &run,
            &at,
            &action,
            &shown_fields,
            &word,
            &status,
        ];
        if lookup {
            steps.push((&self.st.history, history));
        } else {
            steps.push((&self.st.history_unless_sent, history));
            steps.push((
                &self.st.history_settle,
                vec![&word, &status, &at, &realm, &x],
            ));
        }
        let steps: Vec<(&Statement, &[Param<'_>])> =
            steps.iter().map(|(s, p)| (*s, p.as_slice())).collect();
        self.pipeline(false, &steps).await
    }

    /// Take back the record of a request that never went out (the run stopped first).
    pub async fn unsend(&mut self, realm: i64, x: &str) -> Result<()> {
        let contact = super::sqlite::UNSEND_CONTACT
            .replace("?1", "$1")
            .replace("?2", "$2");
        let history = super::sqlite::UNSEND_HISTORY
            .replace("?1", "$1")
            .replace("?2", "$2");
        let contact = self.client.prepare(&contact).await.map_err(self.err())?;
        let history = self.client.prepare(&history).await.map_err(self.err())?;
        self.pipeline(
            true,
            &[(&contact, &[&realm, &x]), (&history, &[&realm, &x])],
        )
        .await
    }

    /// Seed contacts from an older file or an export, in one transaction: what the realm
    /// already knows (with a contact id) is left alone. Per item, whether it was adopted.
    /// One look-up for the batch, then its writes pipelined.
    pub async fn adopt_all(&mut self, realm: &Realm, items: &[Exported]) -> Result<Vec<bool>> {
        let shown = self.shown.clone();
        let e = |err| pg(&shown, err);
        let tx = self.client.transaction().await.map_err(e)?;
        let ids: Vec<&str> = items.iter().map(|i| i.external_id.as_str()).collect();
        let known: std::collections::HashSet<String> = tx
            .query(
                "SELECT external_id FROM contacts WHERE realm = $1 AND external_id = ANY($2)
                 AND contact_id IS NOT NULL FOR UPDATE",
                &[&realm.id, &ids],
            )
            .await
            .map_err(e)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let upsert = tx
            .prepare(
                "INSERT INTO contacts (realm, external_id, contact_id, digests, pending, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (realm, external_id) DO UPDATE SET contact_id = excluded.contact_id, digests = excluded.digests,
                 pending = excluded.pending, updated_at = excluded.updated_at",
            )
            .await
            .map_err(e)?;
        let at = now();
        let (run, status, fields): (Option<i64>, Option<i32>, String) = (None, None, String::new());
        let (done, rows) = adoptions(realm, items, known);
        let adopt = "adopt";
        let params: Vec<(Vec<Param<'_>>, Vec<Param<'_>>)> = rows
            .iter()
            .map(|(item, digests, pending, outcome)| {
                let contact: Vec<Param<'_>> = vec![
                    &realm.id,
                    &item.external_id,
                    &item.contact_id,
                    digests,
                    pending,
                    &at,
                ];
                let history: Vec<Param<'_>> = vec![
                    &realm.id,
                    &item.external_id,
                    &run,
                    &at,
                    &adopt,
                    &fields,
                    outcome,
                    &status,
                ];
                (contact, history)
            })
            .collect();
        let mut writes: Vec<std::pin::Pin<Box<dyn Future<Output = _> + '_>>> = Vec::new();
        for (contact, history) in &params {
            writes.push(Box::pin(tx.execute(&upsert, contact)));
            writes.push(Box::pin(tx.execute(&self.st.history, history)));
        }
        try_join_all(writes).await.map_err(e)?;
        tx.commit().await.map_err(e)?;
        Ok(done)
    }

    /// Take an export's salt for a realm that holds nothing yet (so its digests stay
    /// meaningful); false, and no change, once the realm holds anything.
    pub async fn adopt_salt(&mut self, realm: i64, salt: &str) -> Result<bool> {
        let changed = self
            .client
            .execute(
                "UPDATE realms SET salt = $1 WHERE id = $2
                 AND NOT EXISTS (SELECT 1 FROM contacts WHERE realm = $2)
                 AND NOT EXISTS (SELECT 1 FROM history WHERE realm = $2)",
                &[&salt, &realm],
            )
            .await
            .map_err(self.err())?;
        Ok(changed == 1)
    }

    pub async fn mark_adopted(&mut self, realm: i64, file: &str) -> Result<()> {
        self.client
            .execute(
                "INSERT INTO adopted (realm, file, at) VALUES ($1, $2, $3) ON CONFLICT (realm, file) DO NOTHING",
                &[&realm, &file, &now()],
            )
            .await
            .map_err(self.err())?;
        Ok(())
    }

    pub async fn was_adopted(&mut self, realm: i64, file: &str) -> Result<bool> {
        let row = self
            .client
            .query_opt(
                "SELECT 1 FROM adopted WHERE realm = $1 AND file = $2",
                &[&realm, &file],
            )
            .await
            .map_err(self.err())?;
        Ok(row.is_some())
    }

    /// Per id, whether it is new to this run's set (the first of repeated ids in `ids` is).
    pub async fn see(&mut self, ids: &[&str]) -> Result<Vec<bool>> {
        self.see_shared(ids).await
    }

    async fn see_shared(&self, ids: &[&str]) -> Result<Vec<bool>> {
        let rows = self
            .client
            .query(&self.st.see, &[&ids])
            .await
            .map_err(self.err())?;
        let mut new: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        Ok(ids.iter().map(|x| new.remove(*x)).collect())
    }

    pub async fn unseen(&mut self, realm: i64) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT external_id FROM contacts c WHERE realm = $1 AND contact_id IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM pg_temp.seen s WHERE s.external_id = c.external_id)
                 ORDER BY external_id",
                &[&realm],
            )
            .await
            .map_err(self.err())?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn history(&mut self, realm: i64, x: &str) -> Result<Vec<Event>> {
        let rows = self
            .client
            .query(
                "SELECT h.at, COALESCE(r.command, ''), h.action, h.fields, h.outcome, h.http_status
                 FROM history h LEFT JOIN runs r ON r.id = h.run
                 WHERE h.realm = $1 AND h.external_id = $2 ORDER BY h.id",
                &[&realm, &x],
            )
            .await
            .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| Event {
                at: r.get(0),
                command: r.get(1),
                action: r.get(2),
                fields: r
                    .get::<_, &str>(3)
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect(),
                outcome: r.get(4),
                http_status: r
                    .get::<_, Option<i32>>(5)
                    .and_then(|s| u16::try_from(s).ok()),
            })
            .collect())
    }

    pub async fn status(&mut self) -> Result<Vec<RealmCounts>> {
        let rows = self
            .client
            .query(
                "SELECT r.api_url, r.client_id, r.profile, r.instance,
                   (SELECT COUNT(*) FROM contacts c WHERE c.realm = r.id AND c.contact_id IS NOT NULL),
                   (SELECT COUNT(*) FROM contacts c WHERE c.realm = r.id AND c.pending IS NOT NULL),
                   (SELECT COUNT(*) FROM runs u WHERE u.realm = r.id),
                   (SELECT MAX(started_at) FROM runs u WHERE u.realm = r.id)
                 FROM realms r ORDER BY r.id",
                &[],
            )
            .await
            .map_err(self.err())?;
        Ok(rows
            .iter()
            .map(|r| RealmCounts {
                realm: RealmKey {
                    api_url: r.get(0),
                    client_id: r.get(1),
                    profile: r.get(2),
                    instance: r.get(3),
                }
                .to_string(),
                contacts: r.get::<_, i64>(4) as u64,
                in_flight_or_unknown: r.get::<_, i64>(5) as u64,
                runs: r.get::<_, i64>(6) as u64,
                last_run: r.get(7),
            })
            .collect())
    }

    /// Consistency problems: records of no realm, records that cannot be read. (The server
    /// keeps its own pages whole.)
    pub async fn verify(&mut self) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(
                "SELECT c.external_id, c.digests, c.pending, r.id IS NULL FROM contacts c
                 LEFT JOIN realms r ON r.id = c.realm
                 WHERE r.id IS NULL OR c.digests IS NOT NULL OR c.pending IS NOT NULL",
                &[],
            )
            .await
            .map_err(self.err())?;
        let mut problems = Vec::new();
        for r in &rows {
            let x: &str = r.get(0);
            if r.get::<_, bool>(3) {
                problems.push(format!("contact {x}: belongs to no realm"));
            }
            if parse_json::<Digests>(&self.shown, r.get(1)).is_err() {
                problems.push(format!("contact {x}: unreadable digests"));
            }
            if parse_json::<Pending>(&self.shown, r.get(2)).is_err() {
                problems.push(format!("contact {x}: unreadable request in flight"));
            }
        }
        Ok(problems)
    }

    pub async fn export(
        &mut self,
        each: &mut dyn FnMut(Exported) -> std::io::Result<()>,
    ) -> Result<u64> {
        use futures_util::StreamExt;
        let rows = self
            .client
            .query_raw(
                "SELECT r.api_url, r.client_id, r.profile, r.instance, r.salt,
                        c.external_id, c.contact_id, c.digests, c.pending
                 FROM contacts c JOIN realms r ON r.id = c.realm ORDER BY c.realm, c.external_id",
                std::iter::empty::<Param<'_>>(),
            )
            .await
            .map_err(self.err())?;
        let mut rows = std::pin::pin!(rows);
        let mut count = 0;
        while let Some(r) = rows.next().await {
            let r = r.map_err(self.err())?;
            let item = Exported {
                realm: RealmKey {
                    api_url: r.get(0),
                    client_id: r.get(1),
                    profile: r.get(2),
                    instance: r.get(3),
                },
                salt: r.get(4),
                external_id: r.get(5),
                contact_id: r.get(6),
                digests: parse_json(&self.shown, r.get(7))?,
                pending: parse_json(&self.shown, r.get(8))?,
            };
            each(item).map_err(|err| CliError::usage(format!("cannot write the export: {err}")))?;
            count += 1;
        }
        Ok(count)
    }
}

/// The hot path's statements, prepared together (one round trip).
async fn prepare(client: &Client, shown: &str) -> Result<Statements> {
    let sql = [
        "SELECT external_id, contact_id, digests, pending FROM contacts
         WHERE realm = $1 AND external_id = ANY($2)",
        "INSERT INTO pg_temp.seen (external_id) SELECT unnest($1::text[])
         ON CONFLICT DO NOTHING RETURNING external_id",
        "INSERT INTO contacts (realm, external_id, pending, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (realm, external_id) DO UPDATE SET pending = excluded.pending, updated_at = excluded.updated_at",
        &format!("INSERT INTO history ({HISTORY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
        &format!(
            "INSERT INTO history ({HISTORY_COLUMNS})
             SELECT $1::bigint, $2::text, $3::bigint, $4::text, $5::text, $6::text, $7::text, $8::integer
             WHERE NOT EXISTS (SELECT 1 FROM history WHERE realm = $1 AND external_id = $2 AND outcome = 'sent')"
        ),
        "UPDATE history SET outcome = $1, http_status = $2, at = $3 WHERE id =
         (SELECT MAX(id) FROM history WHERE realm = $4 AND external_id = $5 AND outcome = 'sent')",
        "SELECT digests, pending FROM contacts WHERE realm = $1 AND external_id = $2",
        "INSERT INTO contacts (realm, external_id, contact_id, digests, pending, updated_at) VALUES ($1, $2, $3, $4, NULL, $5)
         ON CONFLICT (realm, external_id) DO UPDATE SET contact_id = excluded.contact_id, digests = excluded.digests,
         pending = NULL, updated_at = excluded.updated_at",
        "UPDATE contacts SET digests = $1, pending = NULL, updated_at = $2 WHERE realm = $3 AND external_id = $4",
        "UPDATE contacts SET pending = NULL, updated_at = $1 WHERE realm = $2 AND external_id = $3",
    ];
    let prepared = try_join_all(sql.iter().map(|s| client.prepare(s)))
        .await
        .map_err(|e| pg(shown, e))?;
    let mut it = prepared.into_iter();
    let mut next = || it.next().expect("one statement each");
    Ok(Statements {
        lookup: next(),
        see: next(),
        sent: next(),
        history: next(),
        history_unless_sent: next(),
        history_settle: next(),
        settle_read: next(),
        upsert: next(),
        set_digests: next(),
        clear_pending: next(),
    })
}

fn field_names(d: &Digests) -> String {
    d.keys().map(String::as_str).collect::<Vec<_>>().join(",")
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

/// `fut` within the ledger's timeout; past it, exit 6 saying so.
pub async fn bounded<T>(
    timeout: Duration,
    shown: &str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(shown, timeout)),
    }
}

pub(crate) fn timed_out(shown: &str, timeout: Duration) -> CliError {
    CliError::store(format!(
        "ledger {shown}: no answer within {} (HSM_LEDGER_TIMEOUT)",
        humantime::format_duration(timeout)
    ))
    .with_hint("is the server up and reachable? Nothing more was sent; run the same command again when it is (rows in flight are looked up first)")
}

/// A server's refusal or a lost connection: exit 6, one line, naming the ledger (never a
/// password: none is in `shown`, and the server's messages hold none), and the chain under it
/// as causes for `-v`.
pub(crate) fn pg(shown: &str, e: tokio_postgres::Error) -> CliError {
    let causes = pg_causes(&e);
    pg_message(shown, e).with_causes(causes)
}

/// The error's chain; a server's own error only as severity and SQLSTATE, since its DETAIL
/// line may quote a row's values (a duplicate key names the key).
fn pg_causes(e: &tokio_postgres::Error) -> Vec<String> {
    match e.as_db_error() {
        Some(db) => vec![
            e.to_string(),
            format!("{} (SQLSTATE {})", db.severity(), db.code().code()),
        ],
        None => crate::error::causes_of(e),
    }
}

fn pg_message(shown: &str, e: tokio_postgres::Error) -> CliError {
    use tokio_postgres::error::SqlState;
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let message = crate::output::terminal_safe(db.message(), false).into_owned();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            || *code == SqlState::INVALID_CATALOG_NAME
        {
            return CliError::store(format!("ledger {shown}: the server refused: {message}"))
                .with_hint("check the user and database in HSM_LEDGER and the password (HSM_LEDGER_PASSWORD); nothing was sent");
        }
        return CliError::store(format!("ledger {shown}: {message}"))
            .with_hint("nothing more was sent; run the same command again (rows in flight are looked up first)");
    }
    if e.is_closed() {
        return CliError::store(format!("ledger {shown}: the connection to the server was lost"))
            .with_hint("nothing more was sent; run the same command again when the server is back (rows in flight are looked up first)");
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    let text = crate::output::terminal_safe(&text, false).into_owned();
    let hint = if text.contains("password missing") {
        "the server asks for a password: set HSM_LEDGER_PASSWORD (or use a PGPASSFILE); nothing was sent"
    } else {
        "is the server up and reachable at that address? Nothing was sent"
    };
    CliError::store(format!("ledger {shown}: {text}")).with_hint(hint)
}

/// One adopted item as written: digests and pending (JSON), and its history outcome.
type Adoption<'i> = (&'i Exported, Option<String>, Option<String>, &'static str);

/// Per item, whether it is adopted (not already known, and it names a contact or a request in
/// flight), and what each adopted one writes.
fn adoptions<'i>(
    realm: &Realm,
    items: &'i [Exported],
    mut known: std::collections::HashSet<String>,
) -> (Vec<bool>, Vec<Adoption<'i>>) {
    let mut done = Vec::with_capacity(items.len());
    let mut rows: Vec<Adoption<'i>> = Vec::new();
    for item in items {
        let pending = match (&item.contact_id, &item.pending) {
            (None, Some(p)) => Some(to_json(p)),
            _ => None,
        };
        let adopt =
            !known.contains(&item.external_id) && (item.contact_id.is_some() || pending.is_some());
        done.push(adopt);
        if adopt && item.contact_id.is_some() {
            // Known from here on, as the store would say to a repeat later in the batch.
            known.insert(item.external_id.clone());
        }
        if adopt {
            // Digests are only meaningful under the salt they were made with.
            let digests = item
                .digests
                .as_ref()
                .filter(|_| item.salt.as_deref() == Some(realm.salt.as_str()))
                .map(to_json);
            let outcome = if pending.is_some() {
                "adopted unknown"
            } else {
                "adopted"
            };
            rows.push((item, digests, pending, outcome));
        }
    }
    (done, rows)
}

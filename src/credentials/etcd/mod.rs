//! The shared store (`HSM_CREDENTIAL_STORE=etcd`): records in etcd at `PREFIX + ACCOUNT`,
//! each sealed with `HSM_STORE_KEY` before it leaves the machine (see `seal`), so that every
//! machine acting for one HealthSherpa session shares one rotating refresh token.
//!
//! A refresh takes a lease-bound etcd lock on the account (etcd's lock service), kept alive
//! while held; a holder that dies loses it when its lease expires. While it is held, the
//! write of that account is a transaction comparing the record's `mod_revision` with the one
//! read under the lock *and* that our lock key still exists (fencing: a holder whose lease
//! expired mid-refresh cannot overwrite a newer pair). Every other write compares the
//! revision it read, and refuses to replace a record it cannot open (a wrong key).
//!
//! The store trait is synchronous and hsm's runtime is single-threaded, so the store runs its
//! calls on a small runtime of its own (one worker thread, created only when the store is
//! opened) and waits for them; each call carries its own deadline (`HSM_ETCD_TIMEOUT`).

mod gateway;
mod generation;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use self::gateway::{CallError, Gateway, b64, num, unb64};
use self::generation::{SeenFile, Stamp};
use super::seal::SealKey;
use super::{HeldLock, SecretStore, StoreKind};
use crate::error::{CliError, Result};
use crate::settings::EtcdSettings;

/// A lock holder that dies is replaced this long after its last keepalive.
const LEASE_TTL_SECS: i64 = 5;
/// How long a refresh waits for another machine's before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// The longest a release (lease revoke) may take.
const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// When to say that we are waiting.
const WAIT_NOTICE: Duration = Duration::from_secs(1);

pub struct EtcdStore {
    inner: Arc<Inner>,
    /// The store's runtime, driven by a thread of its own until `_stop` drops.
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

struct Inner {
    gateway: Gateway,
    key: SealKey,
    prefix: String,
    timeout: Duration,
    /// The refresh lock this process holds, if any.
    held: Mutex<Option<Held>>,
    /// The highest generation of each record this machine has seen.
    seen: SeenFile,
    /// The stamp of the record of each account as this process last read it (none: absent,
    /// or written before generations), which the next write of it follows.
    stamps: Mutex<HashMap<String, Stamp>>,
}

#[derive(Clone)]
struct Held {
    account: String,
    lock_key: String,
    /// The record's `mod_revision` when it was read under the lock (0: absent).
    seen: Option<i64>,
}

/// A stored value and the revision it was written at.
struct Found {
    value: String,
    mod_revision: i64,
}

impl EtcdStore {
    /// Check the settings and the key, and set up the client. Nothing is sent yet.
    pub fn open(settings: &EtcdSettings) -> Result<EtcdStore> {
        let key = SealKey::from_variable(settings.store_key.as_ref())?;
        let seen = SeenFile::new(crate::paths::etcd_generations_file(
            settings.state_dir.as_deref(),
        )?);
        let gateway = Gateway::new(settings)?;
        let (handle, stop) = background_runtime()?;
        Ok(EtcdStore {
            inner: Arc::new(Inner {
                gateway,
                key,
                prefix: settings.prefix.clone(),
                timeout: settings.timeout,
                held: Mutex::new(None),
                seen,
                stamps: Mutex::new(HashMap::new()),
            }),
            handle,
            _stop: stop,
        })
    }

    /// Run `op` on the store's runtime and wait for it.
    fn block<T: Send + 'static, F>(&self, op: impl FnOnce(Arc<Inner>) -> F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let fut = op(self.inner.clone());
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| CliError::bug("the etcd runtime stopped"))?
    }
}

/// A current-thread runtime driven by a thread of its own until the sender drops. Tasks
/// spawned on the handle run there, whatever hsm's own runtime is doing.
fn background_runtime() -> Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::bug(format!("cannot start the etcd runtime: {e}")))?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("hsm-etcd".into())
        .spawn(move || {
            let _ = runtime.block_on(stopped);
            runtime.shutdown_background();
        })
        .map_err(|e| CliError::bug(format!("cannot start the etcd thread: {e}")))?;
    Ok((handle, stop))
}

impl Inner {
    fn held(&self) -> Option<Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_held(&self, held: Option<Held>) {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = held;
    }

    fn stamps(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stamp>> {
        self.stamps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the sealed value of `account` and notes its stamp. `check`: refuse a record older
    /// than one this machine has seen (before anything in it is used).
    fn open_record(&self, account: &str, sealed: &str, check: bool) -> Result<String> {
        let (stamp, record) = generation::unwrap(self.key.open(account, sealed)?);
        match stamp {
            Some(stamp) => {
                let name = self.key_of(account);
                if check {
                    generation::check(account, &stamp, self.seen.last(&name)?.as_ref())?;
                }
                self.seen.note(&name, &stamp)?;
                self.stamps().insert(account.to_owned(), stamp);
            }
            None => {
                self.stamps().remove(account);
            }
        }
        Ok(record)
    }

    /// The stamp of the next write of `account`: one generation past the record last read
    /// and the highest this machine has seen of its lineage; a new lineage for a new record.
    fn next_stamp(&self, account: &str) -> Result<Stamp> {
        let Some(current) = self.stamps().get(account).cloned() else {
            return Ok(Stamp::first());
        };
        let seen = self
            .seen
            .last(&self.key_of(account))?
            .filter(|s| s.lineage == current.lineage)
            .map_or(0, |s| s.generation);
        Ok(Stamp {
            generation: current.generation.max(seen) + 1,
            lineage: current.lineage,
        })
    }

    fn key_of(&self, account: &str) -> String {
        format!("{}{account}", self.prefix)
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// One call within the store's timeout, its failure as a CLI error.
    async fn call(&self, path: &str, body: Value) -> Result<Value> {
        self.gateway
            .call(path, &body, self.deadline())
            .await
            .map_err(|e| self.error(e))
    }

    fn error(&self, e: CallError) -> CliError {
        match e {
            CallError::Unavailable { last, .. } => CliError::store(format!(
                "etcd is unavailable: no member answered with a leader within {} s (last: {last}); nothing was changed",
                self.timeout.as_secs_f64()
            ))
            .with_causes(last.causes),
            CallError::Refused(why) => CliError::store(format!("etcd refused the request: {why}")),
        }
    }

    async fn range(&self, account: &str) -> Result<Option<Found>> {
        let answer = self
            .call("/v3/kv/range", json!({"key": b64(&self.key_of(account))}))
            .await?;
        let Some(kv) = answer["kvs"].as_array().and_then(|kvs| kvs.first()) else {
            return Ok(None);
        };
        Ok(Some(Found {
            value: unb64(&kv["value"]).unwrap_or_default(),
            mod_revision: num(&kv["mod_revision"]),
        }))
    }

    /// The revision to compare a write of `account` with: the one read under our lock, else
    /// the current one, after checking that we can open what is there (a wrong key must not
    /// replace a record sealed with the right one).
    async fn expected_revision(&self, account: &str, held: Option<&Held>) -> Result<i64> {
        if let Some(seen) = held.and_then(|h| h.seen) {
            return Ok(seen);
        }
        match self.range(account).await? {
            Some(found) => {
                // Only the key is checked here: a newer record may replace a rolled-back one.
                self.open_record(account, &found.value, false)?;
                Ok(found.mod_revision)
            }
            None => {
                self.stamps().remove(account);
                Ok(0)
            }
        }
    }

    /// Write `sealed` iff the record is still at `revision` (and, under a lock, our lock key
    /// still exists). A write whose answer was lost is recognised by its value: every sealed
    /// value is unique (random nonce).
    async fn put_if(
        &self,
        account: &str,
        sealed: &str,
        revision: i64,
        held: Option<&Held>,
    ) -> Result<bool> {
        let key = b64(&self.key_of(account));
        let mut compare = vec![
            json!({"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": revision.to_string()}),
        ];
        if let Some(h) = held {
            compare.push(json!({"key": b64(&h.lock_key), "target": "CREATE", "result": "GREATER", "create_revision": "0"}));
        }
        let body = json!({
            "compare": compare,
            "success": [{"request_put": {"key": key, "value": b64(sealed)}}],
        });
        let answer = self.call("/v3/kv/txn", body).await?;
        if answer["succeeded"].as_bool() == Some(true) {
            return Ok(true);
        }
        Ok(matches!(self.range(account).await?, Some(f) if f.value == sealed))
    }

    async fn set(&self, account: String, value: String) -> Result<()> {
        let held = self.held().filter(|h| h.account == account);
        for _ in 0..3 {
            let revision = self.expected_revision(&account, held.as_ref()).await?;
            let stamp = self.next_stamp(&account)?;
            let sealed = self.key.seal(&account, &generation::wrap(&stamp, &value))?;
            if self
                .put_if(&account, &sealed, revision, held.as_ref())
                .await?
            {
                self.seen.note(&self.key_of(&account), &stamp)?;
                self.stamps().insert(account, stamp);
                return Ok(());
            }
            if held.is_some() {
                return Err(CliError::store(format!(
                    "lost the etcd lock on `{account}` during the refresh (its lease expired, or another writer replaced the record); the rotated tokens were not written over the newer ones"
                )));
            }
        }
        Err(CliError::store(format!(
            "the record `{account}` in etcd kept changing while hsm wrote it; try again"
        )))
    }

    async fn get(&self, account: String) -> Result<Option<String>> {
        match self.get_once(&account).await {
            // A read that started before another process on this machine wrote (and noted) a
            // newer generation is stale, not rolled back: the newer record is in etcd by the
            // time it is noted, so a second read tells the two apart.
            Err(e) if generation::is_rollback(&e) => self.get_once(&account).await,
            other => other,
        }
    }

    async fn get_once(&self, account: &str) -> Result<Option<String>> {
        let account = account.to_owned();
        let found = self.range(&account).await?;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = held.as_mut().filter(|h| h.account == account) {
            h.seen = Some(found.as_ref().map_or(0, |f| f.mod_revision));
        }
        drop(held);
        if found.is_none() {
            self.stamps().remove(&account);
        }
        found
            .map(|f| self.open_record(&account, &f.value, true))
            .transpose()
    }

    async fn delete(&self, account: String) -> Result<bool> {
        let Some(found) = self.range(&account).await? else {
            return Ok(false);
        };
        self.key.open(&account, &found.value)?;
        let key = b64(&self.key_of(&account));
        let body = json!({
            "compare": [{"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": found.mod_revision.to_string()}],
            "success": [{"request_delete_range": {"key": key}}],
        });
        let answer = self.call("/v3/kv/txn", body).await?;
        Ok(answer["succeeded"].as_bool() == Some(true))
    }

    /// Every name under the prefix but the lock keys (`hsm status` lists the sessions).
    async fn accounts(&self) -> Result<Vec<String>> {
        let mut end = self.prefix.as_bytes().to_vec();
        match end.last_mut() {
            Some(last) if *last < 0xff => *last += 1,
            _ => end = vec![0],
        }
        let body = json!({
            "key": b64(&self.prefix),
            "range_end": STANDARD.encode(&end),
            "keys_only": true,
        });
        let answer = self.call("/v3/kv/range", body).await?;
        let names = answer["kvs"].as_array().cloned().unwrap_or_default();
        Ok(names
            .iter()
            .filter_map(|kv| unb64(&kv["key"]))
            .filter_map(|key| key.strip_prefix(&self.prefix).map(str::to_string))
            .filter(|name| !name.starts_with("locks/"))
            .collect())
    }

    /// Reach the cluster and prove write permission on the prefix without writing: a
    /// transaction whose compare never holds is still checked against every operation in it.
    async fn probe(&self) -> Result<()> {
        let key = b64(&self.key_of(".probe"));
        let body = json!({
            "compare": [{"key": key, "target": "VERSION", "result": "LESS", "version": "0"}],
            "success": [{"request_put": {"key": key, "value": ""}}],
        });
        self.call("/v3/kv/txn", body).await.map(|_| ())
    }
}

impl SecretStore for EtcdStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Etcd
    }

    fn location(&self) -> String {
        self.inner.gateway.endpoint()
    }

    fn get(&self, account: &str) -> Result<Option<String>> {
        let account = account.to_string();
        self.block(move |inner| async move { inner.get(account).await })
    }

    fn set(&self, account: &str, value: &str) -> Result<()> {
        let (account, value) = (account.to_string(), value.to_string());
        self.block(move |inner| async move { inner.set(account, value).await })
    }

    fn delete(&self, account: &str) -> Result<bool> {
        let account = account.to_string();
        self.block(move |inner| async move { inner.delete(account).await })
    }

    fn probe(&self) -> Result<()> {
        self.block(|inner| async move { inner.probe().await })
    }

    fn accounts(&self) -> Result<Vec<String>> {
        self.block(|inner| async move { inner.accounts().await })
    }

    fn max_entry_chars(&self) -> usize {
        // etcd takes values up to 1.5 MiB: a record is always one entry, written in one
        // transaction.
        usize::MAX
    }

    fn lock_for_refresh(
        &self,
        account: &str,
        waiting: &dyn Fn(),
    ) -> Result<Option<Box<dyn HeldLock>>> {
        let (lock, lock_key) = self.wait_for_lock(account, waiting)?;
        self.inner.set_held(Some(Held {
            account: account.to_string(),
            lock_key,
            seen: None,
        }));
        Ok(Some(Box::new(lock)))
    }
}

impl EtcdStore {
    /// A new lease, kept alive until the returned lock drops (which revokes it, and with it
    /// any lock key made under it).
    fn leased(&self) -> Result<EtcdLock> {
        // etcd counts the lease's TTL from when it granted it, which is after this.
        let asked = Instant::now();
        let lease = self.block(|inner| async move { inner.grant().await })?;
        let keepalive = self
            .handle
            .spawn(keep_alive(self.inner.clone(), lease, asked));
        Ok(EtcdLock {
            inner: self.inner.clone(),
            handle: self.handle.clone(),
            lease,
            keepalive: keepalive.abort_handle(),
        })
    }

    /// Ask etcd's lock service for the lock on `account`, in slices of `HSM_ETCD_TIMEOUT`
    /// (a member that loses quorum mid-wait is noticed), for at most `LOCK_WAIT`.
    ///
    /// Each slice waits under a lease of its own. When hsm gives up on a slice, etcd cancels
    /// that wait and deletes its lock key, which is named after the lease, possibly only after
    /// the next slice has begun: under the same lease it would delete the next slice's key,
    /// even one just granted, and the refresh would find its lock gone.
    fn wait_for_lock(&self, account: &str, waiting: &dyn Fn()) -> Result<(EtcdLock, String)> {
        let name = b64(&format!("{}locks/{account}", self.inner.prefix));
        let started = Instant::now();
        let mut told = false;
        loop {
            let lock = self.leased()?;
            let (tx, rx) = std::sync::mpsc::channel();
            let inner = self.inner.clone();
            let body = json!({"name": name, "lease": lock.lease.to_string()});
            let slice_end = (Instant::now() + inner.timeout).min(started + LOCK_WAIT);
            self.handle.spawn(async move {
                let _ = tx.send(
                    inner
                        .gateway
                        .call_waiting("/v3/lock/lock", &body, slice_end)
                        .await,
                );
            });
            let answer = loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(answer) => break answer,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(_) => return Err(CliError::bug("the etcd runtime stopped")),
                }
                if !told && started.elapsed() >= WAIT_NOTICE {
                    waiting();
                    told = true;
                }
            };
            match answer {
                Ok(v) => return Ok((lock, unb64(&v["key"]).unwrap_or_default())),
                // Dropping `lock` revokes the slice's lease before the next one is granted.
                Err(CallError::Unavailable { waited: true, .. })
                    if started.elapsed() < LOCK_WAIT => {}
                Err(CallError::Unavailable { waited: true, .. }) => {
                    return Err(CliError::store(format!(
                        "another machine has been refreshing this session for over {} s (etcd lock on `{account}`)",
                        LOCK_WAIT.as_secs()
                    ))
                    .with_hint("its lock goes when its lease expires; try again shortly"));
                }
                Err(e) => return Err(self.inner.error(e)),
            }
        }
    }
}

impl Inner {
    async fn grant(&self) -> Result<i64> {
        let answer = self
            .call(
                "/v3/lease/grant",
                json!({"TTL": LEASE_TTL_SECS.to_string()}),
            )
            .await?;
        match num(&answer["ID"]) {
            0 => Err(CliError::store("etcd granted no lease")),
            id => Ok(id),
        }
    }
}

/// Renew the lease a third of its TTL after each renewal until aborted. A renewal that fails
/// is retried at once (briefly paced) until the lease would have expired, so one slow member
/// or a loaded machine costs a retry, not the lease. A lease that is gone is not recreated:
/// the fenced write then refuses, which is the point.
async fn keep_alive(inner: Arc<Inner>, lease: i64, granted: Instant) {
    let ttl = Duration::from_secs(LEASE_TTL_SECS as u64);
    let retry = Duration::from_millis(200);
    // The lease's life as seen from here is counted from when each renewal was sent: never
    // longer than etcd's own count.
    let mut renewed = granted;
    let mut next = renewed + ttl / 3;
    loop {
        tokio::time::sleep_until(next.into()).await;
        let expires = renewed + ttl;
        if Instant::now() >= expires {
            return;
        }
        let sent = Instant::now();
        let body = json!({"ID": lease.to_string()});
        match inner
            .gateway
            .call("/v3/lease/keepalive", &body, expires)
            .await
        {
            Ok(v) if num(&v["result"]["TTL"]) <= 0 => return,
            Ok(_) => {
                renewed = sent;
                next = renewed + ttl / 3;
            }
            Err(_) => next = Instant::now() + retry,
        }
    }
}

/// The refresh lock: revoking its lease releases the lock key with it.
struct EtcdLock {
    inner: Arc<Inner>,
    handle: tokio::runtime::Handle,
    lease: i64,
    keepalive: tokio::task::AbortHandle,
}

impl HeldLock for EtcdLock {}

impl Drop for EtcdLock {
    fn drop(&mut self) {
        self.keepalive.abort();
        self.inner.set_held(None);
        let (tx, rx) = std::sync::mpsc::channel();
        let inner = self.inner.clone();
        let body = json!({"ID": self.lease.to_string()});
        // Best effort and short: if etcd cannot answer now, the lease expires on its own
        // within its TTL, and a failure already reported must not wait a second timeout.
        let until = Instant::now() + RELEASE_WAIT.min(self.inner.timeout);
        self.handle.spawn(async move {
            let _ = tx.send(inner.gateway.call("/v3/lease/revoke", &body, until).await);
        });
        let _ = rx.recv_timeout(RELEASE_WAIT + Duration::from_millis(200));
    }
}

//! The store as a session uses it while requests are in flight: every call runs on the
//! blocking pool (see `crate::blocking`), within a deadline that fits the store, so a
//! keychain waiting for an unlock prompt or a file lock held by another process stalls only
//! the refresh, never the runtime thread.

use std::sync::Arc;
use std::time::Duration;

use super::{SecretStore, StoreKind};
use crate::blocking::{self, Waited};
use crate::env_vars as ev;
use crate::error::{CliError, Result};
use crate::settings::StoreChoice;

/// How long a refresh waits for a lock another process holds: the refresh lock, and the file
/// store's own lock around each write.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct SharedStore {
    store: Arc<dyn SecretStore>,
    limit: Duration,
}

impl SharedStore {
    /// Open the chosen store (connecting to a keychain is a blocking call too).
    pub async fn open(choice: &StoreChoice) -> Result<SharedStore> {
        let limit = limit_for(choice);
        let opening = choice.clone();
        match blocking::within(limit, move || super::open_store_for_session(&opening)).await? {
            Waited::Done(store) => Ok(SharedStore {
                store: Arc::from(store?),
                limit,
            }),
            Waited::Late => Err(CliError::store(format!(
                "the {} store did not open within {} s",
                kind_name(choice),
                limit.as_secs_f64()
            ))
            .with_hint(hint(kind_of(choice)))),
        }
    }

    #[cfg(test)]
    pub fn new(store: Arc<dyn SecretStore>, limit: Duration) -> SharedStore {
        SharedStore { store, limit }
    }

    pub fn store(&self) -> &Arc<dyn SecretStore> {
        &self.store
    }

    /// One call; one that does not finish in time is a store error (it runs on, and what it
    /// returns later is dropped). Not for writes whose outcome matters: see `start`.
    pub async fn call<T: Send + 'static>(
        &self,
        op: impl FnOnce(&dyn SecretStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        match self.start(op).await? {
            Waited::Done(result) => result,
            Waited::Late => Err(self.no_answer()),
        }
    }

    /// One call, handing back a late one still running: a write may yet land.
    pub async fn start<T: Send + 'static>(
        &self,
        op: impl FnOnce(&dyn SecretStore) -> Result<T> + Send + 'static,
    ) -> Result<Waited<Result<T>>> {
        let store = self.store.clone();
        blocking::within(self.limit, move || op(store.as_ref())).await
    }

    /// The deadline of each call.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// A call past its deadline.
    pub fn no_answer(&self) -> CliError {
        CliError::store(format!(
            "{} did not answer within {} s",
            self.store.in_words(),
            self.limit.as_secs_f64()
        ))
        .with_hint(hint(Some(self.store.kind())))
    }
}

/// The deadline of one call: the keychain's own timeout (`HSM_KEYCHAIN_TIMEOUT`: an unlock
/// prompt may be waiting); the lock wait for the file store; for etcd, its own lock wait and
/// one more call (`HSM_ETCD_TIMEOUT`), since the store bounds each of its calls itself.
fn limit_for(choice: &StoreChoice) -> Duration {
    match choice {
        StoreChoice::Keychain { timeout } => *timeout,
        StoreChoice::Etcd(etcd) => LOCK_WAIT.saturating_add(etcd.timeout.saturating_mul(2)),
        StoreChoice::File { .. } | StoreChoice::Unknown(_) => LOCK_WAIT,
    }
}

fn kind_of(choice: &StoreChoice) -> Option<StoreKind> {
    match choice {
        StoreChoice::Keychain { .. } => Some(StoreKind::Keychain),
        StoreChoice::File { .. } => Some(StoreKind::File),
        StoreChoice::Etcd(_) => Some(StoreKind::Etcd),
        StoreChoice::Unknown(_) => None,
    }
}

fn kind_name(choice: &StoreChoice) -> &'static str {
    kind_of(choice).map_or("credential", StoreKind::name)
}

fn hint(kind: Option<StoreKind>) -> String {
    match kind {
        Some(StoreKind::Keychain) => format!(
            "unlock the keyring and retry, set {} to wait longer, or use {}=file",
            ev::HSM_KEYCHAIN_TIMEOUT,
            ev::HSM_CREDENTIAL_STORE
        ),
        Some(StoreKind::File) => {
            "another process holds the credentials file's lock: let it finish, or stop it, and retry"
                .to_string()
        }
        Some(StoreKind::Etcd) => format!(
            "check that etcd has a leader; {} sets how long each call may take",
            ev::HSM_ETCD_TIMEOUT
        ),
        None => "retry".to_string(),
    }
}

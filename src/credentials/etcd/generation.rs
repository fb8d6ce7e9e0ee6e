//! Rollback detection for the shared records. Every record hsm writes carries, inside its
//! sealed value, a lineage (drawn when the record is first written: a login) and a generation
//! (one more than the record it replaces). Each machine remembers the highest generation it has
//! seen of each record's lineage (a small file in its state dir), and refuses an older one
//! before using it: an older record (a restore from a snapshot, or a write by anyone with
//! access to etcd) holds a refresh token that was already spent, and sending it makes the
//! server revoke the whole token family.
//!
//! A record of another lineage is a new session (a login on another machine) and is taken as
//! such; a record from before generations (no envelope) is read as it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

/// Where a record stands in its session's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Stamp {
    pub(super) lineage: String,
    pub(super) generation: u64,
}

impl Stamp {
    /// The first record of a new session.
    pub(super) fn first() -> Stamp {
        Stamp {
            lineage: format!("{:016x}", fastrand::u64(..)),
            generation: 1,
        }
    }
}

/// What is sealed: the record and its stamp.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    hsm_lineage: String,
    hsm_generation: u64,
    record: String,
}

/// The plaintext to seal for `record` at `stamp`.
pub(super) fn wrap(stamp: &Stamp, record: &str) -> String {
    serde_json::to_string(&Envelope {
        hsm_lineage: stamp.lineage.clone(),
        hsm_generation: stamp.generation,
        record: record.to_owned(),
    })
    .unwrap_or_default()
}

/// The record and its stamp from an opened value (no stamp: written before generations).
pub(super) fn unwrap(plain: String) -> (Option<Stamp>, String) {
    match serde_json::from_str::<Envelope>(&plain) {
        Ok(e) => (
            Some(Stamp {
                lineage: e.hsm_lineage,
                generation: e.hsm_generation,
            }),
            e.record,
        ),
        Err(_) => (None, plain),
    }
}

/// The highest stamp this machine has seen of each record, by etcd key.
pub(super) struct SeenFile {
    path: PathBuf,
}

impl SeenFile {
    pub(super) fn new(path: PathBuf) -> SeenFile {
        SeenFile { path }
    }

    fn read(&self) -> Result<BTreeMap<String, Stamp>> {
        match crate::bounded::read_file(&self.path, crate::bounded::SMALL_FILE) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                self.error(
                    "cannot read",
                    &std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(self.error("cannot read", &e)),
        }
    }

    /// The last stamp seen of `name`.
    pub(super) fn last(&self, name: &str) -> Result<Option<Stamp>> {
        Ok(self.read()?.remove(name))
    }

    /// Remember `stamp` for `name`: it replaces a lower generation of its lineage, or another
    /// lineage (a new session).
    pub(super) fn note(&self, name: &str, stamp: &Stamp) -> Result<()> {
        let mut all = self.read()?;
        if let Some(last) = all.get(name)
            && last.lineage == stamp.lineage
            && last.generation >= stamp.generation
        {
            return Ok(());
        }
        all.insert(name.to_owned(), stamp.clone());
        let text = serde_json::to_vec(&all).unwrap_or_default();
        write_atomically(&self.path, &text).map_err(|e| self.error("cannot write", &e))
    }

    fn error(&self, what: &str, e: &std::io::Error) -> CliError {
        CliError::store(format!(
            "{what} {} (the generations of the etcd records this machine has seen): {e}",
            self.path.display()
        ))
        .with_cause(e)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The words of a rollback error (see [`is_rollback`]).
const ROLLED_BACK: &str = "in etcd was rolled back";

/// Whether `e` is [`check`]'s refusal.
pub(super) fn is_rollback(e: &CliError) -> bool {
    e.message.contains(ROLLED_BACK)
}

/// Refuses `stamp` when this machine has seen a later generation of its lineage.
pub(super) fn check(account: &str, stamp: &Stamp, last: Option<&Stamp>) -> Result<()> {
    match last {
        Some(last) if last.lineage == stamp.lineage && stamp.generation < last.generation => {
            Err(CliError::store(format!(
                "the shared record `{account}` {ROLLED_BACK}: it is generation {}, this machine has seen generation {} (a restore from a snapshot, or a write by someone with access to etcd); its refresh token was already spent and was not sent",
                stamp.generation, last.generation
            ))
            .with_hint("the record was left untouched; find out who restored it; if that was intended, `hsm login` again on one machine to write a newer one"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_an_old_one_has_no_stamp() {
        let stamp = Stamp::first();
        let (got, record) = unwrap(wrap(&stamp, r#"{"refresh_token":"r"}"#));
        assert_eq!(got, Some(stamp));
        assert_eq!(record, r#"{"refresh_token":"r"}"#);
        let (got, record) = unwrap(r#"{"refresh_token":"r"}"#.to_owned());
        assert_eq!((got, record.as_str()), (None, r#"{"refresh_token":"r"}"#));
    }

    #[test]
    fn an_older_generation_of_the_same_lineage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let seen = SeenFile::new(dir.path().join("state/seen.json"));
        let one = Stamp::first();
        let two = Stamp {
            generation: 2,
            ..one.clone()
        };
        seen.note("/hsm/a", &two).unwrap();
        seen.note("/hsm/a", &one).unwrap();
        let last = seen.last("/hsm/a").unwrap();
        assert_eq!(last.as_ref(), Some(&two));
        let err = check("a", &one, last.as_ref()).unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Store);
        assert!(err.message.contains("rolled back"), "{}", err.message);
        check("a", &two, last.as_ref()).unwrap();
        // Another lineage is another session.
        let other = Stamp::first();
        check("a", &other, last.as_ref()).unwrap();
        seen.note("/hsm/a", &other).unwrap();
        assert_eq!(seen.last("/hsm/a").unwrap(), Some(other));
        assert_eq!(seen.last("/hsm/b").unwrap(), None);
    }
}

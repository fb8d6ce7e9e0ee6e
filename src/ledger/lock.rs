//! One writer per realm: an OS file lock beside the ledger, named after the ledger's real path
//! (symlinks resolved, so two names for one ledger take one lock) and the realm. The holder
//! writes who it is into the lock file, so a second run can name it. The OS releases the lock
//! when the holder exits, however it exits. (A PostgreSQL ledger locks on the server instead:
//! `postgres/lock.rs`.)

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Realm;
use crate::error::{CliError, Result};

/// A writer's hold on its realm: the lock file (SQLite), or nothing to keep for a server
/// ledger, whose lock lives on the ledger's own connection.
pub struct RealmLock {
    _file: Option<File>,
}

impl RealmLock {
    pub(super) fn held_by_connection() -> RealmLock {
        RealmLock { _file: None }
    }

    pub async fn take(
        ledger: &Path,
        realm: &Realm,
        wait: Duration,
        holder: &str,
        printer: crate::output::Printer,
    ) -> Result<RealmLock> {
        let path = lock_path(ledger, realm)?;
        let mut file = open(&path)?;
        let started = Instant::now();
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(CliError::store(format!(
                        "cannot lock the ledger ({}): {e}",
                        path.display()
                    ))
                    .with_cause(&e));
                }
            }
            if started.elapsed() >= wait {
                return Err(CliError::usage(format!(
                    "another hsm is writing to this realm of the ledger: {}",
                    read_holder(&mut file)
                ))
                .with_hint(
                    "nothing was sent; wait for it to finish, or pass --wait SECS to wait for it",
                ));
            }
            if !said && started.elapsed() >= Duration::from_secs(1) {
                said = true;
                printer.status(&format!(
                    "Waiting for another hsm to finish with the ledger: {}",
                    read_holder(&mut file)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Name the holder for whoever comes next; the lock is what matters, not this text.
        let me = format!(
            "pid {}, {holder}, since {}",
            std::process::id(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = file.write_all(me.as_bytes());
        Ok(RealmLock { _file: Some(file) })
    }
}

fn lock_path(ledger: &Path, realm: &Realm) -> Result<PathBuf> {
    let real = std::fs::canonicalize(ledger).map_err(|e| {
        CliError::store(format!("cannot find the ledger {}: {e}", ledger.display())).with_cause(&e)
    })?;
    let mut name = real.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".lock-{}", realm.id));
    Ok(real.with_file_name(name))
}

fn open(path: &Path) -> Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).read(true).write(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| {
        CliError::store(format!(
            "cannot open the ledger's lock {}: {e}",
            path.display()
        ))
        .with_cause(&e)
    })
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(512).read_to_string(&mut text);
    let text = crate::output::terminal_safe(text.trim(), false).into_owned();
    if text.is_empty() {
        "another process".to_string()
    } else {
        text
    }
}

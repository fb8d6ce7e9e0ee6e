//! One writer per realm across machines: a session-level advisory lock on the ledger's
//! connection, held for the run and released by the server when the connection ends, however
//! the holder ends. The holder names itself in `ledger_locks`, so a second run can name it.

use std::time::{Duration, Instant};

use super::{Postgres, bounded, now, pg};
use crate::error::{CliError, Result};
use crate::ledger::Realm;

/// First key of hsm's realm locks (`hsm` in ASCII); the second is the realm's id.
const LOCK_CLASS: i32 = 0x6873_6d00;

pub async fn take(
    ledger: &mut Postgres,
    realm: &Realm,
    wait: Duration,
    holder: &str,
    printer: crate::output::Printer,
) -> Result<()> {
    let shown = ledger.shown.clone();
    let timeout = ledger.timeout;
    let key = i32::try_from(realm.id)
        .map_err(|_| crate::ledger::damaged(&shown, "a realm id out of range"))?;
    let started = Instant::now();
    let mut said = false;
    loop {
        let got: bool = bounded(timeout, &shown, async {
            let row = ledger
                .client
                .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_CLASS, &key])
                .await
                .map_err(|e| pg(&shown, e))?;
            Ok(row.get(0))
        })
        .await?;
        if got {
            break;
        }
        if started.elapsed() >= wait {
            let who = holder_of(ledger, realm).await?;
            return Err(CliError::usage(format!(
                "another hsm is writing to this realm of the ledger: {who}"
            ))
            .with_hint(
                "nothing was sent; wait for it to finish, or pass --wait SECS to wait for it",
            ));
        }
        if !said && started.elapsed() >= Duration::from_secs(1) {
            said = true;
            let who = holder_of(ledger, realm).await?;
            printer.status(&format!(
                "Waiting for another hsm to finish with the ledger: {who}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Name the holder for whoever comes next; the lock is what matters, not this row.
    let me = format!(
        "pid {} on {}, {holder}, since {}",
        std::process::id(),
        host_name(),
        now()
    );
    bounded(timeout, &shown, async {
        ledger
            .client
            .execute(
                "INSERT INTO ledger_locks (realm, holder, since) VALUES ($1, $2, $3)
                 ON CONFLICT (realm) DO UPDATE SET holder = excluded.holder, since = excluded.since",
                &[&realm.id, &me, &now()],
            )
            .await
            .map_err(|e| pg(&shown, e))
    })
    .await?;
    Ok(())
}

async fn holder_of(ledger: &Postgres, realm: &Realm) -> Result<String> {
    let shown = &ledger.shown;
    let row = bounded(ledger.timeout, shown, async {
        ledger
            .client
            .query_opt(
                "SELECT holder FROM ledger_locks WHERE realm = $1",
                &[&realm.id],
            )
            .await
            .map_err(|e| pg(shown, e))
    })
    .await?;
    let text = row.map(|r| r.get::<_, String>(0)).unwrap_or_default();
    let text = crate::output::terminal_safe(text.trim(), false).into_owned();
    Ok(if text.is_empty() {
        "another process".to_string()
    } else {
        text
    })
}

fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is ours and its length is passed.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    "this machine".to_string()
}

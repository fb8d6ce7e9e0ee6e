//! Reading a test's ledger from outside hsm: the real SQLite file, opened read-only.

use std::path::PathBuf;

use super::TestEnv;

/// Where hsm keeps this environment's ledger (as `HSM_LEDGER`, `HSM_STATE_DIR`,
/// `XDG_STATE_HOME` or `HOME` say).
pub fn ledger_path(env: &TestEnv) -> PathBuf {
    let var = |k: &str| {
        env.vars
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    if let Some(spec) = var("HSM_LEDGER")
        && let Some(path) = spec.strip_prefix("sqlite:")
    {
        return PathBuf::from(path);
    }
    if let Some(dir) = var("HSM_STATE_DIR") {
        return PathBuf::from(dir).join("ledger.sqlite3");
    }
    if let Some(dir) = var("XDG_STATE_HOME") {
        return PathBuf::from(dir).join("hsm/ledger.sqlite3");
    }
    PathBuf::from(var("HOME").expect("HOME")).join(".local/state/hsm/ledger.sqlite3")
}

fn count(env: &TestEnv, sql: &str) -> u64 {
    let conn = rusqlite::Connection::open_with_flags(
        ledger_path(env),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the ledger");
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .expect("count") as u64
}

/// Rows the ledger holds as sent with no outcome recorded (in flight, or unknown).
pub fn ledger_pending(env: &TestEnv) -> u64 {
    count(
        env,
        "SELECT COUNT(*) FROM contacts WHERE pending IS NOT NULL",
    )
}

/// History rows of requests recorded as sent that never got an outcome.
pub fn ledger_history_sent(env: &TestEnv) -> u64 {
    count(env, "SELECT COUNT(*) FROM history WHERE outcome = 'sent'")
}

/// Contacts the ledger holds as created (with a contact id).
pub fn ledger_created(env: &TestEnv) -> u64 {
    count(
        env,
        "SELECT COUNT(*) FROM contacts WHERE contact_id IS NOT NULL",
    )
}

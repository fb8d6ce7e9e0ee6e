//! `hsm ledger status | history | verify | export | adopt`: a real SQLite file on disk, the
//! real sandbox (the realm names its instance), old files written by hand in the formats
//! earlier versions of hsm kept.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;

fn ledger_path(env: &TestEnv) -> PathBuf {
    env.path("home/.local/state/hsm/ledger.sqlite3")
}

fn hsm(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend(["--env", "sandbox"]);
    env.run(&all)
}

/// An import report of an earlier hsm: row i is CRM{i}; most created, some left unknown (sent
/// with no outcome, or `unknown`), some failed, one invalid without an external id.
fn old_report(rows: usize) -> String {
    let mut s = String::new();
    for i in 1..=rows {
        let x = format!("CRM{i}");
        writeln!(
            s,
            r#"{{"row":{i},"line":{},"external_id":"{x}","status":"sent"}}"#,
            i + 1
        )
        .unwrap();
        match i % 10 {
            // No outcome recorded: a crash after sending.
            1 => {}
            2 => writeln!(
                s,
                r#"{{"row":{i},"external_id":"{x}","status":"unknown","http_status":502}}"#
            )
            .unwrap(),
            3 => writeln!(
                s,
                r#"{{"row":{i},"external_id":"{x}","status":"failed","http_status":422,"error":"zip: invalid"}}"#
            )
            .unwrap(),
            _ => writeln!(
                s,
                r#"{{"row":{i},"external_id":"{x}","status":"created","contact_id":"id-{i}"}}"#
            )
            .unwrap(),
        }
    }
    writeln!(
        s,
        r#"{{"row":{},"status":"invalid","error":"external_id: missing"}}"#,
        rows + 1
    )
    .unwrap();
    s
}

fn status_json(env: &TestEnv) -> Value {
    let out = hsm(env, &["ledger", "status", "--json"]);
    assert_exit(&out, 0);
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn api_requests(sb: &Sandbox) -> u64 {
    sb.stats()["api_requests"].as_u64().unwrap()
}

#[test]
fn a_missing_ledger_is_reported_verified_and_exported_without_being_created() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let out = hsm(&env, &["ledger", "status"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains(&ledger_path(&env).display().to_string()),
        "{text}"
    );
    assert!(text.contains("none yet"), "{text}");
    let status = status_json(&env);
    assert_eq!(status["exists"], false);
    assert_eq!(status["realms"], serde_json::json!([]));

    let out = hsm(&env, &["ledger", "verify"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out).trim(), "ok");
    let out = hsm(&env, &["ledger", "export"]);
    assert_exit(&out, 0);
    assert!(out.stdout.is_empty());
    let out = hsm(&env, &["ledger", "history", "CRM1"]);
    assert_exit(&out, 0);
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("Nothing recorded for CRM1"));
    assert!(!ledger_path(&env).exists(), "reading made no ledger");

    // A fresh ledger (made by adopting an empty file): one realm, nothing in it, sound.
    let empty = env.path("empty.jsonl");
    write_file(&empty, "");
    let out = hsm(&env, &["ledger", "adopt", empty.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains("Adopted 0 contact(s)"),
        "{}",
        stderr(&out)
    );
    let status = status_json(&env);
    assert_eq!(status["exists"], true);
    assert_eq!(status["realms"][0]["contacts"], 0);
    assert_eq!(status["realms"][0]["in_flight_or_unknown"], 0);
    assert_eq!(status["realms"][0]["runs"], 0);
    let out = hsm(&env, &["ledger", "verify"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out).trim(), "ok");
    let out = hsm(&env, &["ledger", "status"]);
    assert!(stdout(&out).contains("contacts 0, in flight or unknown 0, runs 0, last run never"));
}

#[test]
fn an_old_import_report_is_adopted_shown_in_history_and_status_and_not_twice() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let report = env.path("crm.csv.report.jsonl");
    write_file(&report, &old_report(20));
    let before = api_requests(&sb);

    let out = hsm(&env, &["ledger", "adopt", report.to_str().unwrap()]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    // 20 rows: 14 created (i % 10 not in 1..=3), 4 unknown (1, 2, 11, 12), 2 failed.
    assert!(err.contains("Adopted 14 contact(s)"), "{err}");
    assert!(err.contains("an import report"), "{err}");
    assert!(
        err.contains("0 already known, 4 with an unknown outcome"),
        "{err}"
    );
    assert!(
        err.contains("sandbox instance"),
        "the realm names the sandbox: {err}"
    );
    assert_eq!(api_requests(&sb), before, "adopting sends nothing");

    let out = hsm(&env, &["ledger", "history", "CRM4"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("adopt  adopted"), "{text}");
    let out = hsm(&env, &["ledger", "history", "CRM2", "--json"]);
    assert_exit(&out, 0);
    let events: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(events[0]["action"], "adopt");
    assert_eq!(events[0]["outcome"], "adopted unknown");
    let out = hsm(&env, &["ledger", "history", "CRM3"]);
    assert_exit(&out, 0);
    assert!(
        out.stdout.is_empty(),
        "a failed row made nothing: {}",
        stdout(&out)
    );

    let status = status_json(&env);
    assert_eq!(status["exists"], true);
    let realm = &status["realms"][0];
    assert_eq!(realm["contacts"], 14);
    assert_eq!(realm["in_flight_or_unknown"], 4);
    assert!(realm["realm"].as_str().unwrap().contains(&sb.base_url));

    // Again: everything is already known, nothing changes.
    let out = hsm(&env, &["ledger", "adopt", report.to_str().unwrap()]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("Adopted 0 contact(s)"), "{err}");
    assert!(
        err.contains("18 already known, 0 with an unknown outcome"),
        "{err}"
    );
    let out = hsm(&env, &["ledger", "history", "CRM2", "--json"]);
    let events: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");

    // Another profile is another realm: it knows none of them.
    let out = env.run(&[
        "ledger",
        "history",
        "CRM4",
        "--env",
        "sandbox",
        "--profile",
        "other",
    ]);
    assert_exit(&out, 0);
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let realms = status_json(&env)["realms"].as_array().unwrap().len();
    assert_eq!(realms, 1, "looking made no realm");
}

#[test]
fn an_old_sync_state_is_adopted_without_its_digests() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let state = env.path("sandbox.default.jsonl");
    write_file(
        &state,
        concat!(
            "{\"ev\":\"header\",\"v\":1,\"salt\":\"0011\"}\n",
            "{\"ev\":\"entry\",\"x\":\"S1\",\"id\":\"id-1\",\"d\":{\"zip\":\"aa\"}}\n",
            "{\"ev\":\"adopt\",\"x\":\"S2\",\"id\":\"id-2\"}\n",
            "{\"ev\":\"sent_create\",\"x\":\"S3\",\"d\":{\"zip\":\"bb\"}}\n",
            "{\"ev\":\"sent_create\",\"x\":\"S4\",\"d\":{}}\n",
            "{\"ev\":\"failed\",\"x\":\"S4\",\"status\":422}\n",
            "{\"ev\":\"sent_create\",\"x\":\"S5\",\"d\":{\"zip\":\"cc\"}}\n",
            "{\"ev\":\"created\",\"x\":\"S5\",\"id\":\"id-5\"}\n",
        ),
    );
    let out = hsm(&env, &["ledger", "adopt", state.to_str().unwrap()]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("Adopted 3 contact(s)"), "{err}");
    assert!(err.contains("a sync state"), "{err}");
    assert!(err.contains("1 with an unknown outcome"), "{err}");
    let out = hsm(&env, &["ledger", "history", "S5"]);
    assert!(stdout(&out).contains("adopt  adopted"), "{}", stdout(&out));

    let out = hsm(&env, &["ledger", "export"]);
    assert_exit(&out, 0);
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["S1", "S2", "S3", "S5"]);
    assert_eq!(lines[0]["contact_id"], "id-1");
    assert!(
        lines.iter().all(|l| l.get("digests").is_none()),
        "digests made under the state's salt mean nothing here: {lines:?}"
    );
    assert_eq!(lines[2]["pending"]["create"], true);
}

#[test]
fn an_export_adopted_into_a_fresh_ledger_round_trips() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let report = env.path("old.report.jsonl");
    write_file(&report, &old_report(50));
    assert_exit(
        &hsm(&env, &["ledger", "adopt", report.to_str().unwrap()]),
        0,
    );
    let first = hsm(&env, &["ledger", "export"]);
    assert_exit(&first, 0);
    assert_eq!(stdout(&first).lines().count(), 45, "35 created, 10 unknown");
    assert!(stderr(&first).contains("Exported 45 contact(s)"));
    let backup = env.path("backup.jsonl");
    std::fs::write(&backup, &first.stdout).unwrap();

    let mut fresh = TestEnv::with_sandbox(&sb);
    let elsewhere = fresh.path("elsewhere");
    fresh.set("HSM_STATE_DIR", elsewhere.to_str().unwrap());
    let out = hsm(&fresh, &["ledger", "adopt", backup.to_str().unwrap()]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("Adopted 35 contact(s)"), "{err}");
    assert!(err.contains("a ledger export"), "{err}");
    assert!(err.contains("10 with an unknown outcome"), "{err}");
    assert!(elsewhere.join("ledger.sqlite3").is_file());
    let second = hsm(&fresh, &["ledger", "export"]);
    assert_exit(&second, 0);
    assert_eq!(
        stdout(&second),
        stdout(&first),
        "the same contacts, salt and all"
    );

    // Another profile is another realm: its export is not adopted there.
    let out = fresh.run(&[
        "ledger",
        "adopt",
        backup.to_str().unwrap(),
        "--env",
        "sandbox",
        "--profile",
        "other",
    ]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("Adopted 0 contact(s)"), "{err}");
    assert!(
        err.contains("45 contact(s) of the export belong to other realms"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn the_ledger_is_private_after_adopt() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let report = env.path("r.jsonl");
    write_file(&report, &old_report(5));
    assert_exit(
        &hsm(&env, &["ledger", "adopt", report.to_str().unwrap()]),
        0,
    );
    let ledger = ledger_path(&env);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ledger), 0o600);
    for side in ["-wal", "-shm"] {
        let mut name = ledger.as_os_str().to_owned();
        name.push(side);
        let side = PathBuf::from(name);
        if side.exists() {
            assert_eq!(mode(&side), 0o600, "{}", side.display());
        }
    }
    assert_eq!(
        mode(ledger.parent().unwrap()) & 0o022,
        0,
        "directory not group/world writable"
    );

    // A ledger left readable by others is made private again at its next use.
    std::fs::set_permissions(&ledger, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_exit(&hsm(&env, &["ledger", "status"]), 0);
    assert_eq!(mode(&ledger), 0o600);
}

#[test]
fn a_file_that_is_not_an_old_report_state_or_export_is_refused_and_nothing_is_made() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let csv = env.path("crm.csv");
    write_file(&csv, "external_id,first_name\nCRM1,Ann\n");
    let dir = env.path("a-dir");
    std::fs::create_dir_all(&dir).unwrap();
    for file in [
        csv.to_str().unwrap(),
        dir.to_str().unwrap(),
        "/dev/zero",
        "missing.jsonl",
    ] {
        let out = hsm(&env, &["ledger", "adopt", file]);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
        assert!(!err.contains("Ann"), "no value from the file: {err}");
    }
    assert!(!ledger_path(&env).exists());
}

/// A ledger of `rows` contacts (by adopting an old report), so damage lands on real pages.
fn populated(env: &TestEnv, rows: usize) -> Vec<u8> {
    let report = env.path("big.report.jsonl");
    write_file(&report, &old_report(rows));
    assert_exit(&hsm(env, &["ledger", "adopt", report.to_str().unwrap()]), 0);
    assert_exit(&hsm(env, &["ledger", "verify"]), 0);
    std::fs::read(ledger_path(env)).unwrap()
}

#[track_caller]
fn assert_damage_is_exit_6(env: &TestEnv, shown: &str) {
    let report = env.path("more.report.jsonl");
    write_file(&report, &old_report(3));
    for args in [
        &["ledger", "verify"][..],
        &["ledger", "status"],
        &["ledger", "export"],
        &["ledger", "history", "CRM4"],
        &["ledger", "adopt", report.to_str().unwrap()],
    ] {
        let out = hsm(env, args);
        assert_exit(&out, 6);
        let err = stderr(&out);
        assert!(err.contains(shown), "{args:?} names the ledger: {err}");
        assert!(err.contains("hsm ledger verify"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
    }
}

#[test]
fn a_damaged_ledger_is_exit_6_naming_it_and_verify_and_is_left_as_it_is() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let good = populated(&env, 3000);
    assert!(good.len() > 64 * 1024, "{} bytes: many pages", good.len());
    let path = ledger_path(&env);
    let shown = path.display().to_string();

    // Bytes overwritten in the middle of the file.
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle..middle + 4096].fill(0xA5);
    std::fs::write(&path, &bad).unwrap();
    assert_damage_is_exit_6(&env, &shown);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bad,
        "the damaged ledger is left as it is"
    );

    // Truncated: half of it, and empty.
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    assert_damage_is_exit_6(&env, &shown);
    std::fs::write(&path, b"").unwrap();
    assert_damage_is_exit_6(&env, &shown);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"",
        "never replaced by a fresh ledger"
    );

    // A foreign file: text, and a SQLite database of something else.
    std::fs::write(&path, "not a ledger\n".repeat(100)).unwrap();
    assert_damage_is_exit_6(&env, &shown);
    std::fs::remove_file(&path).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("CREATE TABLE notes (a TEXT); INSERT INTO notes VALUES ('x');")
        .unwrap();
    drop(other);
    assert_damage_is_exit_6(&env, &shown);

    // Good again: sound.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, &good).unwrap();
    let out = hsm(&env, &["ledger", "verify"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out).trim(), "ok");
}

#[cfg(unix)]
#[test]
fn a_ledger_path_that_is_a_device_or_a_directory_is_exit_6() {
    let sb = Sandbox::start(&[]);
    let mut env = TestEnv::with_sandbox(&sb);
    env.set("HSM_LEDGER", "sqlite:/dev/null");
    assert_damage_is_exit_6(&env, "/dev/null");
    let dir = env.path("ledger-dir");
    std::fs::create_dir_all(&dir).unwrap();
    env.set("HSM_LEDGER", &format!("sqlite:{}", dir.display()));
    assert_damage_is_exit_6(&env, &dir.display().to_string());
}

#[test]
fn verify_finds_a_record_that_cannot_be_read() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    populated(&env, 10);
    let path = ledger_path(&env);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE contacts SET digests = '{not json' WHERE external_id = 'CRM4'",
        [],
    )
    .unwrap();
    drop(conn);
    let out = hsm(&env, &["ledger", "verify"]);
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(err.contains("contact CRM4: unreadable digests"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("hsm ledger verify"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn adopt_waits_for_no_one_by_default_while_another_hsm_writes_to_the_realm() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    populated(&env, 3);
    // The realm's lock, as a sync holding it would: taken, and naming its holder.
    let mut lock_name = ledger_path(&env).into_os_string();
    lock_name.push(".lock-1");
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(PathBuf::from(lock_name))
        .unwrap();
    lock.lock().unwrap();
    std::io::Write::write_all(&mut &lock, b"pid 4242, hsm contacts sync, since then").unwrap();
    let report = env.path("more.report.jsonl");
    write_file(&report, &old_report(30));
    let out = hsm(&env, &["ledger", "adopt", report.to_str().unwrap()]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("another hsm is writing to this realm"),
        "{err}"
    );
    assert!(err.contains("pid 4242, hsm contacts sync"), "{err}");
    let out = hsm(&env, &["ledger", "history", "CRM30"]);
    assert!(out.stdout.is_empty(), "nothing adopted: {}", stdout(&out));

    drop(lock);
    let out = hsm(&env, &["ledger", "adopt", report.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("2 already known"), "{}", stderr(&out));
}

#[test]
fn an_export_read_only_in_part_ends_quietly() {
    use std::io::BufRead;
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    populated(&env, 3000);
    // Like `hsm ledger export | head -1`: far more than a pipe holds, and the reader goes away.
    let mut child = env
        .cmd()
        .args(["ledger", "export"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let line: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(line["external_id"], "CRM1");
    let out = wait_output(child, std::time::Duration::from_secs(60));
    assert_exit(&out, 0);
    assert!(!stderr(&out).contains("error"), "{}", stderr(&out));
}

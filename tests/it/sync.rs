//! `hsm contacts sync`: the file as the desired state, checked against the sandbox's counters
//! (creates, PATCH requests and the fields they carried, searches, duplicates).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

/// Row `i` as JSON Lines: searchable (name + birth date), with a phone and a ZIP.
fn row(i: usize, phone: &str, zip: &str) -> String {
    format!(
        r#"{{"external_id":"CRM{i}","first_name":"First{i}","last_name":"Last","birth_date":"1950-01-{:02}","phone":"{phone}","zip":"{zip}"}}"#,
        i % 28 + 1
    )
}

fn rows(
    range: std::ops::RangeInclusive<usize>,
    edit: impl Fn(usize) -> (String, String),
) -> String {
    let mut s = String::new();
    for i in range {
        let (phone, zip) = edit(i);
        writeln!(s, "{}", row(i, &phone, &zip)).unwrap();
    }
    s
}

fn plain(i: usize) -> (String, String) {
    let _ = i;
    ("8165550100".into(), "94103".into())
}

fn sync(env: &TestEnv, file: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "contacts",
        "sync",
        file.to_str().unwrap(),
        "--env",
        "sandbox",
        "--json",
    ];
    args.extend_from_slice(extra);
    run_with_timeout(env.cmd().args(&args), Duration::from_secs(300))
}

fn summary(out: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn counter(sb: &Sandbox, name: &str) -> u64 {
    sb.stats()[name].as_u64().unwrap()
}

fn import(env: &TestEnv, file: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "contacts",
        "import",
        file.to_str().unwrap(),
        "--env",
        "sandbox",
        "--json",
    ];
    args.extend_from_slice(extra);
    run_with_timeout(env.cmd().args(&args), Duration::from_secs(300))
}

/// The ledger's bytes, with its write-ahead log: what a thief of the disk would read.
fn ledger_bytes(env: &TestEnv) -> Vec<u8> {
    let path = ledger_path(env);
    let mut bytes = std::fs::read(&path).unwrap();
    for suffix in ["-wal", "-shm"] {
        let mut side = path.clone().into_os_string();
        side.push(suffix);
        bytes.extend(std::fs::read(PathBuf::from(side)).unwrap_or_default());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn creates_then_sends_nothing_then_only_minimal_patches_and_lists_missing_rows() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=300, plain));
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["created"], 300);
    assert_eq!(counter(&sb, "contacts_created"), 300);

    // The same file again: not one request.
    let before = counter(&sb, "api_requests");
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["unchanged"], 300);
    assert_eq!(counter(&sb, "api_requests"), before);

    // 10 new phones, 10 new ZIPs, 10 new rows: 10 creates and 20 one-field PATCHes.
    let edited = |i: usize| match i {
        1..=10 => ("8165550199".to_string(), "94103".to_string()),
        11..=20 => ("8165550100".to_string(), "10001".to_string()),
        _ => plain(i),
    };
    write_file(&file, &rows(1..=310, edited));
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(
        (s["created"].as_u64(), s["updated"].as_u64()),
        (Some(10), Some(20)),
        "{s}"
    );
    assert_eq!(s["unchanged"], 280);
    let stats = sb.stats();
    assert_eq!(
        stats["api_requests"].as_u64().unwrap() - before,
        30,
        "{stats}"
    );
    assert_eq!(stats["contacts_created"], 310, "{stats}");
    assert_eq!(stats["update_requests"], 20, "{stats}");
    assert_eq!(
        stats["update_fields"], 20,
        "only the changed field: {stats}"
    );
    assert_eq!(stats["contacts_updated"], 20, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");

    // Rows gone from the file are listed, never deleted, and cost nothing.
    let before = counter(&sb, "api_requests");
    write_file(&file, &rows(1..=300, edited));
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(s["missing"], 10, "{s}");
    assert_eq!(s["missing_external_ids"][0], "CRM301");
    assert!(
        stderr(&out).contains("Missing from the file: CRM301"),
        "{}",
        stderr(&out)
    );
    assert_eq!(counter(&sb, "api_requests"), before);

    // The ledger (and its WAL and shared-memory files): 0600 in a private directory, and no
    // field value in it, only salted digests. (Hex digests can hold a bare "94103" by chance;
    // names and ten-digit phones cannot.)
    let bytes = ledger_bytes(&env);
    for value in ["First1", "Last", "8165550199", "8165550100"] {
        assert!(!contains(&bytes, value), "{value} is in the ledger");
    }
    assert!(contains(&bytes, "CRM1"), "the external ids are");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ledger = ledger_path(&env);
        for suffix in ["", "-wal", "-shm"] {
            let mut p = ledger.clone().into_os_string();
            p.push(suffix);
            if let Ok(meta) = std::fs::metadata(&p) {
                assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{p:?}");
            }
        }
        let dir = std::fs::metadata(ledger.parent().unwrap()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o077, 0, "a private directory");
    }
}

#[test]
fn dry_run_prints_the_plan_and_sends_and_writes_nothing() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=5, plain));
    let out = sync(&env, &file, &["--dry-run"]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["create"].as_array().unwrap().len(), 5);
    assert_eq!(counter(&sb, "api_requests"), 0);
    let real = sync(&env, &file, &[]);
    assert_exit(&real, 0);
    assert_eq!(
        summary(&real)["created"],
        5,
        "the run did what its dry run said"
    );

    let ledger_before = ledger_created(&env);
    let edited = |i: usize| {
        if i == 2 {
            ("8165550199".into(), "94103".into())
        } else {
            plain(i)
        }
    };
    write_file(&file, &rows(2..=6, edited));
    let before = counter(&sb, "api_requests");
    let out = sync(&env, &file, &["--dry-run"]);
    assert_exit(&out, 0);
    let plan = summary(&out);
    assert_eq!(plan["create"], serde_json::json!(["CRM6"]), "{plan}");
    assert_eq!(plan["update"][0]["external_id"], "CRM2");
    assert_eq!(plan["update"][0]["fields"], serde_json::json!(["phone"]));
    assert_eq!(plan["unchanged"], 3);
    assert_eq!(plan["missing"], serde_json::json!(["CRM1"]));
    let out = env.run(&[
        "contacts",
        "sync",
        file.to_str().unwrap(),
        "--env",
        "sandbox",
        "--dry-run",
    ]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("update   CRM2  phone"),
        "{}",
        stdout(&out)
    );
    assert_eq!(counter(&sb, "api_requests"), before);
    assert_eq!(ledger_created(&env), ledger_before);
    // And the real run does exactly that plan.
    let real = sync(&env, &file, &[]);
    assert_exit(&real, 0);
    let s = summary(&real);
    assert_eq!(
        (
            s["created"].as_u64(),
            s["updated"].as_u64(),
            s["unchanged"].as_u64(),
            s["missing"].as_u64()
        ),
        (Some(1), Some(1), Some(3), Some(1)),
        "{s}"
    );
}

/// The first pass reads a file in batches of 500 ids, pipelined with the ledger; what it
/// shows is still in the file's order: a repeated id in the first batch before an invalid row
/// of the second, though the repeat is found after the second batch was read.
#[test]
fn the_problems_of_a_large_file_are_shown_in_the_files_order() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    let text = rows(1..=1200, |i| match i {
        3 => ("8165550100".into(), "94103".into()),
        700 => ("555".into(), "94103".into()),
        _ => plain(i),
    })
    .replacen("\"external_id\":\"CRM3\"", "\"external_id\":\"CRM1\"", 1);
    write_file(&file, &text);
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    let repeat = err.find("line 3, external id CRM1: the external id appears twice");
    let invalid = err.find("line 700, external id CRM700: phone");
    assert!(
        matches!((repeat, invalid), (Some(r), Some(i)) if r < i),
        "{err}"
    );
    assert!(err.contains("2 invalid row(s)"), "{err}");
    assert_eq!(counter(&sb, "api_requests"), 0);
}

#[test]
fn bad_rows_exit_2_and_nothing_is_sent() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    let mut text = rows(1..=3, plain);
    text.push_str(&row(4, "555", "94103"));
    text.push('\n');
    text.push_str(&row(2, "8165550100", "94103"));
    text.push('\n');
    write_file(&file, &text);
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("line 4, external id CRM4: phone"), "{err}");
    assert!(
        err.contains("line 5, external id CRM2: the external id appears twice"),
        "{err}"
    );
    assert!(!err.contains("555"), "no value shown: {err}");
    assert_eq!(counter(&sb, "api_requests"), 0);

    // --skip-invalid sends the valid rows and lists the others (exit 2: rows not sent).
    let out = sync(&env, &file, &["--skip-invalid"]);
    assert_exit(&out, 2);
    let s = summary(&out);
    assert_eq!(
        (s["created"].as_u64(), s["invalid"].as_u64()),
        (Some(3), Some(2)),
        "{s}"
    );

    // A ledger in a directory anyone may write to is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut env = env;
        let open_dir = env.path("open");
        std::fs::create_dir_all(&open_dir).unwrap();
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let ledger = open_dir.join("l.sqlite3");
        env.set("HSM_LEDGER", &format!("sqlite:{}", ledger.display()));
        write_file(&file, &rows(1..=3, plain));
        let before = counter(&sb, "api_requests");
        let out = sync(&env, &file, &[]);
        assert_exit(&out, 6);
        assert!(
            stderr(&out).contains("can be written by other users"),
            "{}",
            stderr(&out)
        );
        assert_eq!(counter(&sb, "api_requests"), before);
    }
}

#[test]
fn a_sync_after_an_import_and_a_create_sends_nothing_for_them() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=20, plain));
    assert_exit(&import(&env, &file, &[]), 0);
    let created = env.run(&[
        "contacts",
        "create",
        "--env",
        "sandbox",
        "--data",
        &row(21, "8165550100", "94103"),
    ]);
    assert_exit(&created, 0);
    write_file(&file, &rows(1..=22, plain));
    let before = counter(&sb, "api_requests");
    let plan = sync(&env, &file, &["--dry-run"]);
    assert_exit(&plan, 0);
    assert_eq!(summary(&plan)["create"], serde_json::json!(["CRM22"]));
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(
        (
            s["created"].as_u64(),
            s["unchanged"].as_u64(),
            s["updated"].as_u64()
        ),
        (Some(1), Some(21), Some(0)),
        "{s}"
    );
    assert_eq!(
        counter(&sb, "api_requests") - before,
        1,
        "one create, nothing else"
    );
    assert_eq!(counter(&sb, "duplicate_external_ids"), 0);

    let edited = |i: usize| {
        if i == 7 {
            ("8165550100".into(), "10001".into())
        } else {
            plain(i)
        }
    };
    write_file(&file, &rows(1..=22, edited));
    let before = counter(&sb, "api_requests");
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["updated"], 1);
    assert_eq!(counter(&sb, "api_requests") - before, 1);
    assert_eq!(counter(&sb, "update_fields"), 1, "only the ZIP");
}

#[cfg(unix)]
#[test]
fn a_sync_after_an_interrupted_import_creates_nothing_twice() {
    let (sb, env) = logged_in(&["--latency-ms", "5"]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=1000, plain));
    let child = spawn(
        &env,
        &[
            "contacts",
            "import",
            file.to_str().unwrap(),
            "--env",
            "sandbox",
        ],
    );
    wait_created(&env, 100);
    signal(&child, libc::SIGINT);
    let out = wait_output(child, Duration::from_secs(60));
    assert_exit(&out, 130);
    let first = counter(&sb, "contacts_created");
    assert!(first < 1000, "{first}");
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(s["created"].as_u64().unwrap() + first, 1000, "{s}");
    assert_eq!(s["unchanged"].as_u64().unwrap(), first, "{s}");
    assert_eq!(counter(&sb, "contacts_created"), 1000);
    assert_eq!(counter(&sb, "duplicate_external_ids"), 0);
}

#[test]
fn a_failed_look_up_keeps_a_row_unknown_with_or_without_resend_unknown() {
    let (sb, mut env) = logged_in(&[]);
    env.set("HSM_HTTP_TIMEOUT", "1");
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=5, plain));
    // Three creates whose answers are lost before the server acts: unknown.
    sb.set_faults(&["create:lost=3000x3", "search:500x1000"]);
    let out = sync(&env, &file, &["--concurrency", "1"]);
    assert_exit(&out, 5);
    assert_eq!(summary(&out)["unknown"], 3, "{}", stdout(&out));
    let created = counter(&sb, "contacts_created");
    for extra in [&[][..], &["--resend-unknown"][..]] {
        for command in ["sync", "import"] {
            sb.set_faults(&["search:500x100"]);
            let mut args = vec![
                "contacts",
                command,
                file.to_str().unwrap(),
                "--env",
                "sandbox",
                "--json",
            ];
            args.extend_from_slice(extra);
            let out = run_with_timeout(env.cmd().args(&args), Duration::from_secs(120));
            assert_exit(&out, 5);
            assert_eq!(
                summary(&out)["unknown"],
                3,
                "{command} {extra:?}: {}",
                stdout(&out)
            );
            assert_eq!(
                counter(&sb, "contacts_created"),
                created,
                "{command} {extra:?}: nothing resent"
            );
        }
    }
    sb.clear_faults();
    let out = sync(&env, &file, &["--resend-unknown"]);
    assert_exit(&out, 0);
    assert_eq!(counter(&sb, "contacts_created"), 5);
    assert_eq!(counter(&sb, "duplicate_external_ids"), 0);
}

#[test]
fn an_earlier_sync_state_is_not_ignored_on_upgrade() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=3, plain));
    let old = env.path("home/.local/state/hsm/sync/sandbox.default.jsonl");
    write_file(
        &old,
        "{\"ev\":\"header\",\"v\":1,\"salt\":\"ab\"}\n{\"ev\":\"entry\",\"x\":\"CRM1\",\"id\":\"c1\",\"d\":{}}\n",
    );
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("hsm ledger adopt"),
        "{}",
        stderr(&out)
    );
    assert_eq!(counter(&sb, "api_requests"), 0);

    // Adopted, CRM1 is known (the sync PATCHes its fields once), the other two are created.
    let out = env.run(&["ledger", "adopt", old.to_str().unwrap(), "--env", "sandbox"]);
    assert_exit(&out, 0);
    let out = sync(&env, &file, &[]);
    assert_eq!(summary(&out)["created"], 2, "{}", stdout(&out));
    assert_eq!(counter(&sb, "contacts_created"), 2);
}

/// hsm running in the background, its output piped.
#[cfg(unix)]
fn spawn(env: &TestEnv, args: &[&str]) -> std::process::Child {
    env.cmd()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[cfg(unix)]
fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: plain syscall on our own child.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
}

/// Wait until the ledger holds `n` contacts as created.
#[cfg(unix)]
fn wait_created(env: &TestEnv, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !ledger_path(env).exists() || ledger_created(env) < n {
        assert!(std::time::Instant::now() < deadline, "made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(unix)]
#[test]
fn sigkill_halfway_then_a_rerun_creates_each_contact_exactly_once() {
    let (sb, env) = logged_in(&["--latency-ms", "20"]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=500, plain));
    let child = spawn(
        &env,
        &[
            "contacts",
            "sync",
            file.to_str().unwrap(),
            "--env",
            "sandbox",
        ],
    );
    wait_created(&env, 200);
    signal(&child, libc::SIGKILL);
    let out = wait_output(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), None, "killed");
    let in_flight = ledger_pending(&env);
    assert!(in_flight > 0, "the kill left requests in flight");
    assert!(counter(&sb, "contacts_created") < 500);

    // Each is looked up first; those the server never got are sent with --resend-unknown.
    let out = sync(&env, &file, &["--resend-unknown"]);
    assert_exit(&out, 0);
    let s = summary(&out);
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 500, "{stats} {s}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
    assert!(
        stats["searches"].as_u64().unwrap() >= in_flight,
        "looked up first: {stats}"
    );
    assert_eq!(stats["update_requests"], 0, "{stats}");

    let before = counter(&sb, "api_requests");
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["unchanged"], 500);
    assert_eq!(counter(&sb, "api_requests"), before);
}

#[test]
fn refused_and_lost_updates_set_the_exit_code_and_are_settled_by_the_next_run() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=3, plain));
    assert_exit(&sync(&env, &file, &[]), 0);
    let edited = |_: usize| ("8165550199".to_string(), "94103".to_string());
    write_file(&file, &rows(1..=3, edited));
    sb.set_faults(&["update:422x1"]);
    let out = sync(&env, &file, &["--concurrency", "1"]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("refused"), "{}", stderr(&out));
    // An answer lost after the PATCH was applied: unknown, then looked up, then nothing resent.
    sb.set_faults(&["update:lost=0x1"]);
    let out = sync(&env, &file, &["--concurrency", "1"]);
    assert_exit(&out, 5);
    assert_eq!(summary(&out)["unknown"], 1);
    let patches = counter(&sb, "update_requests");
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        counter(&sb, "update_requests"),
        patches,
        "found applied, not resent"
    );
    assert_eq!(summary(&out)["found"], 1);
}

#[test]
fn an_update_a_gateway_answered_502_is_not_resent_but_looked_up_by_the_next_run() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=2, plain));
    assert_exit(&sync(&env, &file, &[]), 0);
    let edited = |_: usize| ("8165550199".to_string(), "94103".to_string());
    write_file(&file, &rows(1..=2, edited));
    // The PATCH was applied, then a gateway answered 502: a PATCH is not idempotent, so it
    // is not sent again (as `hsm api -X PATCH` does not); the row is unknown.
    sb.set_faults(&["update:commit-then-502x1"]);
    let patches = counter(&sb, "update_requests");
    let out = sync(&env, &file, &["--concurrency", "1"]);
    assert_exit(&out, 5);
    assert_eq!(summary(&out)["unknown"], 1, "{}", stdout(&out));
    assert_eq!(summary(&out)["updated"], 1, "{}", stdout(&out));
    assert_eq!(
        counter(&sb, "update_requests") - patches,
        2,
        "one PATCH each"
    );
    let patches = counter(&sb, "update_requests");
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["found"], 1, "{}", stdout(&out));
    assert_eq!(
        counter(&sb, "update_requests"),
        patches,
        "found, not resent"
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_finishes_the_requests_in_flight_and_a_rerun_looks_nothing_up() {
    let (sb, env) = logged_in(&["--latency-ms", "10"]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=2000, plain));
    let child = spawn(
        &env,
        &[
            "contacts",
            "sync",
            file.to_str().unwrap(),
            "--env",
            "sandbox",
        ],
    );
    wait_created(&env, 200);
    signal(&child, libc::SIGINT);
    let out = wait_output(child, Duration::from_secs(60));
    assert_exit(&out, 130);
    assert!(
        stderr(&out).contains("run the same command again"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        ledger_pending(&env),
        0,
        "every request in flight was settled"
    );
    let first = counter(&sb, "contacts_created");
    assert!(first < 2000);
    assert_eq!(ledger_created(&env), first);

    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["created"].as_u64().unwrap(), 2000 - first);
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 2000, "{stats}");
    assert_eq!(stats["searches"], 0, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

#[test]
fn rows_can_come_from_stdin_as_csv() {
    use std::io::Write;
    let (sb, env) = logged_in(&[]);
    let csv = "External ID,first-name,last_name,phone\nS1,Ann,Lee,(816) 555-0166\nS2,Bo,Li,\n";
    let run = |extra: &[&str]| {
        let mut child = env
            .cmd()
            .args([
                "contacts", "sync", "-", "--format", "csv", "--env", "sandbox", "--json",
            ])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(csv.as_bytes())
            .unwrap();
        wait_output(child, Duration::from_secs(60))
    };
    let out = run(&[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["created"], 2);
    let out = run(&[]);
    assert_exit(&out, 0);
    assert_eq!(
        summary(&out)["unchanged"],
        2,
        "normalised values compare equal"
    );
    assert_eq!(counter(&sb, "api_requests"), 2);
}

#[test]
fn a_damaged_ledger_stops_import_and_sync_before_anything_is_sent() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=2000, plain));
    assert_exit(&sync(&env, &file, &[]), 0);
    let ledger = ledger_path(&env);
    let good = std::fs::read(&ledger).unwrap();
    assert!(
        good.len() > 64 * 1024,
        "a ledger of many pages: {}",
        good.len()
    );
    let middle = good.len() / 2 / 4096 * 4096;
    let mut overwritten = good.clone();
    overwritten[middle..middle + 4096].fill(0x55);
    let damages: [(&str, Vec<u8>); 4] = [
        ("a page overwritten", overwritten),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("foreign", b"name,value\nnot,a ledger\n".repeat(100)),
    ];
    for (what, bytes) in damages {
        std::fs::write(&ledger, &bytes).unwrap();
        let before = counter(&sb, "api_requests");
        for command in ["sync", "import"] {
            let out = run_with_timeout(
                env.cmd().args([
                    "contacts",
                    command,
                    file.to_str().unwrap(),
                    "--env",
                    "sandbox",
                ]),
                Duration::from_secs(120),
            );
            assert_exit(&out, 6);
            let err = stderr(&out);
            assert!(
                err.contains(&ledger.display().to_string()) && err.contains("hsm ledger verify"),
                "{what}, {command}: {err}"
            );
        }
        assert_eq!(counter(&sb, "api_requests"), before, "{what}: nothing sent");
        assert_eq!(
            std::fs::read(&ledger).unwrap(),
            bytes,
            "{what}: left as it was"
        );
    }
    std::fs::write(&ledger, &good).unwrap();
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["unchanged"], 2000);
}

#[cfg(unix)]
#[test]
fn two_runs_on_one_realm_never_both_send_whatever_path_names_the_ledger() {
    let (sb, mut env) = logged_in(&["--latency-ms", "20"]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=400, plain));
    let child = spawn(
        &env,
        &[
            "contacts",
            "sync",
            file.to_str().unwrap(),
            "--env",
            "sandbox",
            "--concurrency",
            "2",
        ],
    );
    wait_created(&env, 10);
    let ledger = ledger_path(&env);
    let link = env.path("link.sqlite3");
    std::os::unix::fs::symlink(&ledger, &link).unwrap();
    let before = counter(&sb, "contacts_created");
    // Beside it: a second sync, an import, and both through a symlink to the same ledger.
    let mut tries: Vec<(String, std::process::Output)> = Vec::new();
    for command in ["sync", "import"] {
        tries.push((
            command.into(),
            run_with_timeout(
                env.cmd().args([
                    "contacts",
                    command,
                    file.to_str().unwrap(),
                    "--env",
                    "sandbox",
                ]),
                Duration::from_secs(60),
            ),
        ));
    }
    env.set("HSM_LEDGER", &format!("sqlite:{}", link.display()));
    for command in ["sync", "import"] {
        tries.push((
            format!("{command} via a symlink"),
            run_with_timeout(
                env.cmd().args([
                    "contacts",
                    command,
                    file.to_str().unwrap(),
                    "--env",
                    "sandbox",
                ]),
                Duration::from_secs(60),
            ),
        ));
    }
    for (what, out) in &tries {
        assert_exit(out, 2);
        let err = stderr(out);
        assert!(
            err.contains("another hsm is writing")
                && err.contains("contacts sync")
                && err.contains("--wait"),
            "{what}: {err}"
        );
    }
    assert!(
        counter(&sb, "contacts_created") - before < 400,
        "the first run was still going"
    );
    let out = wait_output(child, Duration::from_secs(120));
    assert_exit(&out, 0);
    // With --wait, a second run waits for the first, then finds nothing left to do.
    let out = sync(&env, &file, &["--wait", "60"]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["unchanged"], 400);
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 400, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

#[test]
fn a_contacts_update_is_known_to_the_next_sync() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=3, plain));
    assert_exit(&sync(&env, &file, &[]), 0);
    let id = {
        let out = env.run(&[
            "contacts",
            "search",
            "--env",
            "sandbox",
            "--first-name",
            "First2",
            "--last-name",
            "Last",
            "--birth-date",
            "1950-01-03",
        ]);
        assert_exit(&out, 0);
        stdout(&out).trim().to_string()
    };
    assert!(!id.is_empty());
    let out = env.run(&[
        "contacts", "update", &id, "--env", "sandbox", "--zip", "10001",
    ]);
    assert_exit(&out, 0);
    // The CRM now says the same: nothing is left to send.
    let edited = |i: usize| {
        if i == 2 {
            ("8165550100".into(), "10001".into())
        } else {
            plain(i)
        }
    };
    write_file(&file, &rows(1..=3, edited));
    let before = counter(&sb, "api_requests");
    let out = sync(&env, &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["unchanged"], 3, "{}", stdout(&out));
    assert_eq!(counter(&sb, "api_requests"), before);
}

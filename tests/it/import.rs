//! `hsm contacts import`: bulk creates that never duplicate or lose a row, across faults,
//! Ctrl-C and SIGKILL, checked against the sandbox's own counters.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

/// `n` JSON Lines rows, each searchable (name + birth date), with unique external ids.
fn jsonl(n: usize) -> String {
    let mut s = String::new();
    for i in 1..=n {
        writeln!(
            s,
            r#"{{"external_id":"CRM{i}","first_name":"First{i}","last_name":"Last","birth_date":"1950-01-{:02}","zip":"94103"}}"#,
            i % 28 + 1
        )
        .unwrap();
    }
    s
}

fn import(env: &TestEnv, file: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["contacts", "import", file, "--env", "sandbox"];
    args.extend_from_slice(extra);
    run_with_timeout(env.cmd().args(&args), Duration::from_secs(300))
}

fn report_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn csv_import_creates_valid_rows_reports_each_and_a_rerun_duplicates_nothing() {
    let (sb, env) = logged_in(&[]);
    let csv = env.path("crm.csv");
    write_file(
        &csv,
        "External ID,first-name,last_name,zip,phone\nA1,Ann,Lee,94103,5551234567\nA2,Bo,Li,941,\nA3,Cy,Ng,,\n\"A4\",\"Di, Jr\",Wu,02134,\n",
    );
    let out = import(&env, csv.to_str().unwrap(), &[]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("3 created") && stderr(&out).contains("1 invalid"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    let report = env.path("crm.csv.report.jsonl");
    let lines = report_lines(&report);
    let created: Vec<&Value> = lines.iter().filter(|l| l["status"] == "created").collect();
    assert_eq!(created.len(), 3);
    assert!(created.iter().all(|l| l["contact_id"].is_string()));
    let invalid: Vec<&Value> = lines.iter().filter(|l| l["status"] == "invalid").collect();
    assert_eq!(invalid[0]["row"], 2);
    assert!(invalid[0]["error"].as_str().unwrap().contains("zip"));
    assert_eq!(sb.stats()["contacts_created"], 3);

    let out = import(&env, csv.to_str().unwrap(), &["--json"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("3 already created"),
        "{}",
        stderr(&out)
    );
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["skipped"], 3);
    assert_eq!(summary["created"], 0);
    assert_eq!(summary["invalid"], 1);
    assert_eq!(sb.stats()["contacts_created"], 3, "nothing sent twice");
}

#[test]
fn dry_run_validates_and_sends_nothing() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("c.jsonl");
    write_file(
        &file,
        &format!(
            "{}{{\"external_id\":\"X\",\"first_name\":\"\"}}\n",
            jsonl(3)
        ),
    );
    let out = import(&env, file.to_str().unwrap(), &["--dry-run"]);
    assert_exit(&out, 2);
    // Named as the real run names it: the file's line and the external id.
    assert!(
        stderr(&out).contains("line 4, external id X: invalid"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("3 to create"), "{}", stderr(&out));
    assert_eq!(sb.stats()["api_requests"], 0);
    assert!(!env.path("c.jsonl.report.jsonl").exists());
}

#[test]
fn bad_inputs_are_refused_before_anything_is_sent() {
    let (sb, env) = logged_in(&[]);
    let csv = env.path("bad.csv");
    write_file(&csv, "external_id,shoe_size\nA,42\n");
    let out = import(&env, csv.to_str().unwrap(), &[]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("shoe_size"));
    let out = import(&env, "-", &[]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--report"));
    let out = import(&env, env.path("missing.csv").to_str().unwrap(), &[]);
    assert_exit(&out, 2);
    let rows = env.path("ok.jsonl");
    write_file(&rows, &jsonl(1));
    let out = import(
        &env,
        rows.to_str().unwrap(),
        &["--report", "/nonexistent/dir/r.jsonl"],
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("cannot open report"),
        "{}",
        stderr(&out)
    );
    let txt = env.path("x.txt");
    write_file(&txt, "a");
    assert_exit(&import(&env, txt.to_str().unwrap(), &[]), 2);
    // A report is this run's output: another file's report is rewritten for this one, and
    // what was sent is the ledger's to know, not the report's.
    let a = env.path("a.jsonl");
    write_file(&a, &jsonl(2));
    assert_exit(&import(&env, a.to_str().unwrap(), &[]), 0);
    let b = env.path("b.jsonl");
    write_file(&b, &jsonl(2).replace("CRM", "OTHER"));
    let a_report = env.path("a.jsonl.report.jsonl");
    let out = import(
        &env,
        b.to_str().unwrap(),
        &["--report", a_report.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    let lines = report_lines(&a_report);
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|l| l["external_id"].as_str().unwrap().starts_with("OTHER"))
    );
    assert_eq!(sb.stats()["contacts_created"], 4);
}

#[test]
fn ten_thousand_rows_with_429s_and_5xx_are_each_created_exactly_once() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("big.jsonl");
    write_file(&file, &jsonl(10_000));
    // 429 and 503 with Retry-After are resent; the other 5xx (not committed here) leave their
    // rows unknown: a search finds nothing, and only --resend-unknown sends them again.
    sb.set_faults(&[
        "create:429=1x5",
        "create:503=1x5",
        "create:html500x3",
        "create:502x2",
    ]);
    let out = import(
        &env,
        file.to_str().unwrap(),
        &["--concurrency", "16", "--json"],
    );
    assert_exit(&out, 5);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["unknown"], 5, "{summary}");
    assert_eq!(summary["created"], 9_995, "{summary}");
    let stats = sb.stats();
    assert!(stats["faults_injected"].as_u64().unwrap() >= 15, "{stats}");
    let out = import(&env, file.to_str().unwrap(), &["--resend-unknown"]);
    assert_exit(&out, 0);
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 10_000, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
    let lines = report_lines(&env.path("big.jsonl.report.jsonl"));
    let count = |s: &str| lines.iter().filter(|l| l["status"] == s).count();
    assert_eq!((count("created"), count("skipped")), (5, 9_995));
}

#[test]
fn creates_the_server_committed_before_failing_are_found_in_the_same_run_never_resent() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(40));
    sb.set_faults(&["create:commit-then-502x3", "create:commit-then-lostx2"]);
    let out = import(
        &env,
        file.to_str().unwrap(),
        &["--concurrency", "4", "--json"],
    );
    assert_exit(&out, 0);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["found"], 5, "{summary}");
    assert_eq!(summary["created"], 35, "{summary}");
    let stats = sb.stats();
    assert_eq!(stats["faults_injected"], 5, "{stats}");
    assert_eq!(stats["contacts_created"], 40, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
    let found = report_lines(&env.path("rows.jsonl.report.jsonl"))
        .into_iter()
        .filter(|l| l["status"] == "found")
        .count();
    assert_eq!(found, 5);

    // A re-run, with or without --resend-unknown, sends nothing.
    for extra in [&[][..], &["--resend-unknown"][..]] {
        let out = import(&env, file.to_str().unwrap(), extra);
        assert_exit(&out, 0);
        assert!(
            stderr(&out).contains("40 already created"),
            "{}",
            stderr(&out)
        );
    }
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 40, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

#[test]
fn resend_unknown_resends_only_when_the_search_answers_no_match() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(10));
    // Three gateway 502s before the server acted: unknown, and not found by search.
    sb.set_faults(&["create:502x3"]);
    let out = import(&env, file.to_str().unwrap(), &["--concurrency", "1"]);
    assert_exit(&out, 5);
    assert_eq!(sb.stats()["contacts_created"], 7);

    // The check itself fails (5xx, 429 after its retries): nothing is resent; still exit 5.
    for fault in ["search:502x100", "search:429=0x100"] {
        sb.set_faults(&[fault]);
        let out = import(
            &env,
            file.to_str().unwrap(),
            &["--resend-unknown", "--json"],
        );
        assert_exit(&out, 5);
        let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(summary["unknown"], 3, "{fault}: {summary}");
        assert_eq!(summary["created"], 0, "{fault}: {summary}");
        assert_eq!(sb.stats()["contacts_created"], 7, "{fault}");
        sb.clear_faults();
    }

    // A real "no match": resent, once.
    let out = import(
        &env,
        file.to_str().unwrap(),
        &["--resend-unknown", "--json"],
    );
    assert_exit(&out, 0);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["created"], 3, "{summary}");
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 10, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

/// Start an import of `file`, wait until `after` rows are recorded as created, do `then`
/// (given the child's pid), and wait for the import to end.
fn import_until(
    env: &TestEnv,
    file: &std::path::Path,
    after: usize,
    then: impl FnOnce(u32),
) -> std::process::Output {
    let report = std::path::PathBuf::from(format!("{}.report.jsonl", file.display()));
    let child = env
        .cmd()
        .args([
            "contacts",
            "import",
            file.to_str().unwrap(),
            "--env",
            "sandbox",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while report_lines(&report)
        .iter()
        .filter(|l| l["status"] == "created")
        .count()
        < after
    {
        assert!(
            std::time::Instant::now() < deadline,
            "import made no progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    then(child.id());
    wait_output(child, Duration::from_secs(60))
}

/// As [`import_until`], sending `signal` (Unix signals: this and the tests using it are Unix
/// only).
#[cfg(unix)]
fn interrupt_import(
    env: &TestEnv,
    file: &std::path::Path,
    after: usize,
    signal: i32,
) -> std::process::Output {
    // SAFETY: plain syscall on our own child.
    import_until(env, file, after, |pid| unsafe {
        libc::kill(pid as i32, signal);
    })
}

#[cfg(unix)]
#[test]
fn ctrl_c_mid_import_finishes_in_flight_rows_and_a_rerun_completes_without_duplicates() {
    let (sb, env) = logged_in(&["--latency-ms", "3"]);
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(10_000));
    let out = interrupt_import(&env, &file, 300, libc::SIGINT);
    assert_exit(&out, 130);
    assert!(
        stderr(&out).contains("run the same command again"),
        "{}",
        stderr(&out)
    );
    let first = sb.stats()["contacts_created"].as_u64().unwrap();
    assert!(first < 10_000, "interrupted before the end");
    // Rows readied ahead of the pace and not sent are taken back: no request in flight, no
    // `sent` line in their history.
    assert_eq!(
        ledger_pending(&env),
        0,
        "every row sent before Ctrl-C got its outcome recorded"
    );
    assert_eq!(ledger_history_sent(&env), 0);
    assert_eq!(ledger_created(&env), first);

    let out = import(&env, file.to_str().unwrap(), &[]);
    assert_exit(&out, 0);
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 10_000, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

#[cfg(unix)]
#[test]
fn sigkill_mid_import_loses_nothing_and_unknown_rows_are_checked_before_resending() {
    let (sb, env) = logged_in(&["--latency-ms", "3"]);
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(10_000));
    let out = interrupt_import(&env, &file, 300, libc::SIGKILL);
    assert_eq!(out.status.code(), None, "killed");

    // The ledger holds the rows in flight at the kill. A re-run without --resend-unknown looks
    // each up: those the server created are found, the others are listed, not resent.
    let in_flight = ledger_pending(&env);
    assert!(in_flight > 0, "the kill left rows in flight");
    let out = import(&env, file.to_str().unwrap(), &["--json"]);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let (found, unknown) = (
        summary["found"].as_u64().unwrap(),
        summary["unknown"].as_u64().unwrap(),
    );
    assert_eq!(found + unknown, in_flight, "{summary}");
    if unknown > 0 {
        assert_exit(&out, 5);
        let err = stderr(&out);
        assert!(
            err.contains("outcome is unknown") && err.contains("--resend-unknown"),
            "{err}"
        );
    }
    let stats = sb.stats();
    let unknown_rows = 10_000 - stats["contacts_created"].as_u64().unwrap();
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
    let in_flight = unknown;

    // With it, each unknown row is searched first and only sent if it is not there.
    let out = import(
        &env,
        file.to_str().unwrap(),
        &["--resend-unknown", "--json"],
    );
    assert_exit(&out, 0);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        summary["found"].as_u64().unwrap() + summary["created"].as_u64().unwrap(),
        in_flight,
        "each unknown row was either found or sent: {summary}"
    );
    let stats = sb.stats();
    assert_eq!(
        stats["contacts_created"], 10_000,
        "unknown rows were {unknown_rows}: {stats}"
    );
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

/// A login revoked mid-import stops the run (exit 4): the requests out are answered 401 and
/// recorded as failed, the rows readied ahead of the pace are taken back, so nothing is left
/// in flight; after a new login the same command sends the rest, once each.
#[test]
fn a_login_revoked_mid_import_stops_it_with_nothing_in_flight_and_a_rerun_completes() {
    let (sb, env) = logged_in(&["--latency-ms", "3"]);
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(5_000));
    let out = import_until(&env, &file, 300, |_| {
        sb.revoke(None);
    });
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("hsm login"), "{}", stderr(&out));
    let first = sb.stats()["contacts_created"].as_u64().unwrap();
    assert!(first < 5_000, "stopped before the end");
    assert_eq!(ledger_pending(&env), 0, "nothing left in flight");
    assert_eq!(
        ledger_history_sent(&env),
        0,
        "no request without its outcome"
    );
    assert_eq!(ledger_created(&env), first);

    login_auto(&env, &[]);
    let out = import(&env, file.to_str().unwrap(), &["--json"]);
    assert_exit(&out, 0);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        summary["created"].as_u64(),
        Some(5_000 - first),
        "{summary}"
    );
    assert_eq!(summary["unknown"].as_u64(), Some(0), "{summary}");
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 5_000, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

#[test]
fn one_refresh_serves_the_whole_run() {
    let (sb, env) = logged_in(&[]);
    edit_record(&env, "sandbox/default", |r| {
        r["access_token"] = serde_json::json!("sbx_at_stale_token_000000000000000")
    });
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(200));
    let out = import(&env, file.to_str().unwrap(), &["--concurrency", "16"]);
    assert_exit(&out, 0);
    let stats = sb.stats();
    assert_eq!(stats["refreshes"], 1, "{stats}");
    assert_eq!(stats["contacts_created"], 200);
}

#[test]
fn api_refusals_are_recorded_per_row_and_the_exit_code_says_so() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(20));
    sb.set_faults(&["create:422x3"]);
    let out = import(&env, file.to_str().unwrap(), &["--concurrency", "1"]);
    assert_exit(&out, 3);
    let lines = report_lines(&env.path("rows.jsonl.report.jsonl"));
    let failed: Vec<&Value> = lines.iter().filter(|l| l["status"] == "failed").collect();
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[0]["http_status"], 422);
    // A re-run retries only the failed rows.
    let out = import(&env, file.to_str().unwrap(), &[]);
    assert_exit(&out, 0);
    assert_eq!(sb.stats()["contacts_created"], 20);
}

#[test]
fn a_report_of_an_earlier_hsm_is_adopted_before_anything_is_sent() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(6));
    // An earlier hsm's report was its journal: `sent` before each request, then the outcome.
    let report = env.path("rows.jsonl.report.jsonl");
    let earlier: String = (1..=3)
        .map(|i| format!("{{\"row\":{i},\"external_id\":\"CRM{i}\",\"status\":\"sent\"}}\n{{\"row\":{i},\"external_id\":\"CRM{i}\",\"status\":\"created\",\"contact_id\":\"c{i}\"}}\n"))
        .collect();
    write_file(&report, &earlier);
    let out = import(&env, file.to_str().unwrap(), &[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("hsm ledger adopt"), "{err}");
    assert_eq!(sb.stats()["api_requests"], 0, "nothing sent");
    assert_eq!(
        std::fs::read_to_string(&report).unwrap(),
        earlier,
        "the report is kept"
    );

    // Adopted, the same command sends only what the earlier hsm did not.
    let out = env.run(&[
        "ledger",
        "adopt",
        report.to_str().unwrap(),
        "--env",
        "sandbox",
    ]);
    assert_exit(&out, 0);
    let out = import(&env, file.to_str().unwrap(), &["--json"]);
    assert_exit(&out, 0);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (summary["created"].as_u64(), summary["skipped"].as_u64()),
        (Some(3), Some(3)),
        "{summary}"
    );
    assert_eq!(sb.stats()["contacts_created"], 3);
}

#[test]
fn import_shows_the_first_bad_rows_without_values_normalises_formats_and_lists_the_report() {
    let (sb, env) = logged_in(&[]);
    let csv = env.path("crm.csv");
    write_file(
        &csv,
        "external_id,first_name,last_name,birth_date,zip,phone,state\n\
         N1,Ann,Lee,,94103-1234,(816) 555-0166,mo\n\
         N2,Bo,Li,13/45/1950,,,\n\
         N3,Cy,Ng,,,+1 816 555 0166,\n\
         N4,Di,Wu,,,816-555-0166,ks\n",
    );
    sb.set_faults(&["create:422x1"]);
    let out = import(&env, csv.to_str().unwrap(), &["--concurrency", "1"]);
    assert_exit(&out, 3);
    let err = stderr(&out);
    assert!(
        err.contains("line 3, external id N2: invalid: birth_date"),
        "{err}"
    );
    assert!(
        err.contains("line 2, external id N1: refused by the API 422"),
        "{err}"
    );
    assert!(
        !err.contains("13/45/1950"),
        "a field's value is never shown: {err}"
    );
    assert!(
        err.contains("hsm contacts import") && err.contains("--show-report"),
        "{err}"
    );
    assert_eq!(
        sb.stats()["contacts_created"],
        2,
        "N3 and N4, normalised, were accepted"
    );

    let out = env.run(&["contacts", "import", csv.to_str().unwrap(), "--show-report"]);
    assert_exit(&out, 0);
    let table = stdout(&out);
    let line = |id: &str| {
        table
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} in {table}"))
            .to_string()
    };
    assert!(
        line("N1").contains("failed") && line("N1").contains("HTTP 422"),
        "{table}"
    );
    assert!(
        line("N2").contains("invalid") && line("N2").contains("birth_date"),
        "{table}"
    );
    assert!(
        line("N3").contains("created") && line("N4").contains("created"),
        "{table}"
    );
    assert!(!table.contains("sent"), "no journal `sent` lines: {table}");
    assert!(!table.contains("13/45/1950"), "{table}");

    let out = env.run(&[
        "contacts",
        "import",
        env.path("nope.csv").to_str().unwrap(),
        "--show-report",
    ]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("cannot read report"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn flags_and_data_are_normalised_before_validation() {
    let (sb, env) = logged_in(&[]);
    let out = env.run(&[
        "contacts",
        "create",
        "--env",
        "sandbox",
        "--external-id",
        "NF1",
        "--first-name",
        "A",
        "--last-name",
        "B",
        "--phone",
        "(816) 555-0166",
        "--zip",
        "94103-1234",
        "--data",
        r#"{"state":"mo"}"#,
        "--json",
    ]);
    assert_exit(&out, 0);
    let answer: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let contact = &answer["data"]["contact"];
    assert_eq!(contact["phone"], "8165550166", "{answer}");
    assert_eq!(contact["zip"], "94103");
    assert_eq!(contact["state"], "MO");
    let out = env.run(&[
        "contacts",
        "create",
        "--env",
        "sandbox",
        "--external-id",
        "NF2",
        "--first-name",
        "A",
        "--last-name",
        "B",
        "--phone",
        "+44 20 7946 0958",
    ]);
    assert_exit(&out, 2);
    // The rule as the user meets it: formatting is accepted, so the message does not forbid it.
    assert!(
        stderr(&out).contains(
            "phone: must be a 10-digit US number (punctuation and a leading +1 are fine)"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("without formatting"));
    assert!(!stderr(&out).contains("7946"), "{}", stderr(&out));
    assert_eq!(sb.stats()["contacts_created"], 1);
}

#[cfg(unix)]
#[test]
fn a_report_that_is_the_input_or_not_a_journal_is_refused_and_nothing_is_sent() {
    let (sb, env) = logged_in(&[]);
    let csv_text = "external_id,first_name,last_name\nS1,Ann,Lee\nS2,Bo,Li\n";
    let jsonl_text = jsonl(3);
    for (name, text) in [("same.csv", csv_text), ("same.jsonl", jsonl_text.as_str())] {
        let file = env.path(name);
        write_file(&file, text);
        let path = file.to_str().unwrap();
        let out = import(&env, path, &["--report", path]);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("is the input file"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            text,
            "input untouched"
        );
        // The same file through a symbolic link.
        let link = env.path(&format!("link-{name}"));
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let out = import(&env, path, &["--report", link.to_str().unwrap()]);
        assert_exit(&out, 2);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    }
    // Any file that is not a journal: refused, not appended to.
    let rows = env.path("rows.jsonl");
    write_file(&rows, &jsonl(2));
    let notes = env.path("notes.txt");
    write_file(&notes, "keep me\nand me\n");
    let out = import(
        &env,
        rows.to_str().unwrap(),
        &["--report", notes.to_str().unwrap()],
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("not an import report"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "keep me\nand me\n"
    );
    assert_eq!(sb.stats()["api_requests"], 0);
}

#[test]
fn duplicate_csv_columns_for_one_field_refuse_the_file() {
    let (sb, env) = logged_in(&[]);
    let csv = env.path("dup.csv");
    write_file(
        &csv,
        "external_id,First Name,last_name,first_name\nD1,Ann,Lee,Bo\n",
    );
    for extra in [&[][..], &["--dry-run"][..]] {
        let out = import(&env, csv.to_str().unwrap(), extra);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains(
                "columns 2 (`First Name`) and 4 (`first_name`) are both the field `first_name`"
            ),
            "{err}"
        );
    }
    assert_eq!(sb.stats()["api_requests"], 0);
}

#[cfg(unix)]
#[test]
fn reports_are_created_0600_and_never_in_a_world_writable_directory() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let (sb, env) = logged_in(&[]);
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(2));
    assert_exit(&import(&env, file.to_str().unwrap(), &[]), 0);
    let report = env.path("rows.jsonl.report.jsonl");
    assert_eq!(mode(&report), 0o600);
    // A report an older hsm left readable by others is narrowed on the next run.
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_exit(&import(&env, file.to_str().unwrap(), &[]), 0);
    assert_eq!(mode(&report), 0o600);

    let public = env.path("public");
    std::fs::create_dir(&public).unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o777)).unwrap();
    let shared = public.join("rows.jsonl");
    write_file(&shared, &jsonl(2));
    let out = import(&env, shared.to_str().unwrap(), &[]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("world-writable"), "{}", stderr(&out));
    assert!(!public.join("rows.jsonl.report.jsonl").exists());
    assert_eq!(sb.stats()["contacts_created"], 2);
}

#[cfg(unix)]
#[test]
fn a_second_ctrl_c_stops_a_long_retry_after_wait_at_once_and_the_journal_stays_consistent() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(5));
    // Every create is asked to wait 60 s: the first Ctrl-C alone would wait it out.
    sb.set_faults(&["create:429=60x100"]);
    let report = env.path("rows.jsonl.report.jsonl");
    let mut child = env
        .cmd()
        .args([
            "contacts",
            "import",
            file.to_str().unwrap(),
            "--env",
            "sandbox",
        ])
        .args(["--concurrency", "2", "--json", "-v"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = spawn_line_reader(child.stderr.take().unwrap());
    let interrupt = || {
        // SAFETY: plain syscall on our own child.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
    };
    // A request is waiting out its Retry-After; the first Ctrl-C is taken in, then the
    // second. The 30 s guard below is shorter than the 60 s wait: the run did not wait it out.
    wait_for_line_in(&lines, "retrying in 60000 ms", Duration::from_secs(60));
    interrupt();
    wait_for_line_in(&lines, "Ctrl-C again to stop now", Duration::from_secs(20));
    interrupt();
    let out = wait_output(child, Duration::from_secs(30));
    assert_exit(&out, 130);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["interrupted"], true, "{summary}");
    let lines = report_lines(&report);
    let unknown = lines.iter().filter(|l| l["status"] == "unknown").count() as u64;
    assert!(unknown > 0, "{lines:?}");
    assert_eq!(
        ledger_pending(&env),
        unknown,
        "every row in flight stays unknown in the ledger"
    );
    assert_eq!(summary["unknown"], unknown, "{summary}");

    // The re-run checks the unknown rows (none was created) and completes, once each.
    sb.clear_faults();
    let out = import(&env, file.to_str().unwrap(), &["--resend-unknown"]);
    assert_exit(&out, 0);
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 5, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

#[cfg(unix)]
#[test]
fn rows_that_are_not_utf8_or_too_long_are_invalid_and_the_import_goes_on() {
    let (sb, env) = logged_in(&[]);
    let file = env.path("odd.jsonl");
    let mut bytes = b"\xef\xbb\xbf".to_vec(); // a byte-order mark before the first row
    bytes.extend_from_slice(jsonl(1).as_bytes());
    bytes.extend_from_slice(b"{\"external_id\":\"BAD\",\"first_name\":\"\xff\xfe\"}\n");
    bytes.extend_from_slice(format!("{{\"city\":\"{}\"}}\n", "x".repeat(2 << 20)).as_bytes());
    bytes.extend_from_slice(jsonl(3).lines().nth(2).unwrap().as_bytes());
    bytes.push(b'\n');
    std::fs::write(&file, &bytes).unwrap();
    let out = import(&env, file.to_str().unwrap(), &["--json"]);
    assert_exit(&out, 2);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["created"], 2, "{summary}");
    assert_eq!(summary["invalid"], 2, "{summary}");
    let err = stderr(&out);
    assert!(
        err.contains("not UTF-8") && err.contains("longer than 1 MiB"),
        "{err}"
    );

    let csv = env.path("odd.csv");
    std::fs::write(
        &csv,
        b"external_id,first_name,last_name\nC1,Ann,Lee\nC2,\xff,Li\nC3,Cy,Ng\n",
    )
    .unwrap();
    let out = import(&env, csv.to_str().unwrap(), &["--json"]);
    assert_exit(&out, 2);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (summary["created"].as_u64(), summary["invalid"].as_u64()),
        (Some(2), Some(1)),
        "{summary}"
    );

    let out = run_with_timeout(
        env.cmd()
            .args(["contacts", "import", "/dev/zero", "--format", "jsonl"])
            .args([
                "--env",
                "sandbox",
                "--report",
                env.path("z.jsonl").to_str().unwrap(),
            ]),
        Duration::from_secs(30),
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.stats()["contacts_created"], 4);
}

#[cfg(target_os = "linux")]
#[test]
fn a_report_on_a_full_disk_stops_the_run_and_the_ledger_keeps_every_outcome() {
    let (sb, env) = logged_in(&[]);
    let Some(disk) = SmallDisk::mount(env.path("full"), "4k") else {
        SmallDisk::skipped();
        return;
    };
    let file = env.path("rows.jsonl");
    write_file(&file, &jsonl(100));
    let report = disk.dir.join("r.jsonl");
    let out = import(
        &env,
        file.to_str().unwrap(),
        &["--concurrency", "1", "--report", report.to_str().unwrap()],
    );
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("cannot write report") && err.contains("Import:"),
        "{err}"
    );
    let first = sb.stats()["contacts_created"].as_u64().unwrap();
    assert!(first > 0 && first < 100, "{first}");
    assert_eq!(ledger_pending(&env), 0, "every outcome is in the ledger");
    assert_eq!(ledger_created(&env), first);

    let out = import(&env, file.to_str().unwrap(), &[]);
    assert_exit(&out, 0);
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 100, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

/// Issue 26: CRLF files (Excel, most CRM exports) and quoted fields with line breaks are
/// named by the file's own lines, on stderr and in --show-report's LINE column.
#[test]
fn line_numbers_are_the_files_own_in_crlf_files_with_quoted_line_breaks() {
    let (sb, env) = logged_in(&[]);
    let csv = env.path("crlf.csv");
    write_file(
        &csv,
        "external_id,first_name,last_name,birth_date\r\n\
         C1,Ann,Lee,1950-01-01\r\n\
         C2,Bob,\"Ray\r\nof the second line\",1950-01-01\r\n\
         C3,Cy,Ray,02/30/1950\r\n",
    );
    let out = import(&env, csv.to_str().unwrap(), &[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("line 5, external id C3: invalid: birth_date"),
        "{err}"
    );
    assert_eq!(sb.stats()["contacts_created"], 2);

    let out = env.run(&["contacts", "import", csv.to_str().unwrap(), "--show-report"]);
    assert_exit(&out, 0);
    let table = stdout(&out);
    let row_and_line = |id: &str| {
        let cells: Vec<String> = table
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} in {table}"))
            .split_whitespace()
            .take(2)
            .map(str::to_string)
            .collect();
        (cells[0].clone(), cells[1].clone())
    };
    assert_eq!(row_and_line("C1"), ("1".into(), "2".into()), "{table}");
    assert_eq!(row_and_line("C2"), ("2".into(), "3".into()), "{table}");
    assert_eq!(row_and_line("C3"), ("3".into(), "5".into()), "{table}");
}

#[test]
fn fixed_rows_are_sent_by_the_same_command_and_nothing_else_is() {
    let (sb, env) = logged_in(&[]);
    let csv = env.path("crm.csv");
    let header = "external_id,first_name,last_name,zip\n";
    let good: String = (1..=5).map(|i| format!("F{i},Ann,Lee,94103\n")).collect();
    write_file(&csv, &format!("{header}{good}F6,Bo,Li,941\n,Cy,Ng,94103\n"));
    let out = import(&env, csv.to_str().unwrap(), &["--json"]);
    assert_exit(&out, 2);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (summary["created"].as_u64(), summary["invalid"].as_u64()),
        (Some(5), Some(2)),
        "{summary}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("line 7, external id F6: invalid: zip") && err.contains("line 8: invalid"),
        "{err}"
    );

    // The operator fixes both rows (and the file is re-exported in another order).
    write_file(
        &csv,
        &format!("{header}F7,Cy,Ng,94103\nF6,Bo,Li,94107\n{good}"),
    );
    let out = import(&env, csv.to_str().unwrap(), &["--json"]);
    assert_exit(&out, 0);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (summary["created"].as_u64(), summary["skipped"].as_u64()),
        (Some(2), Some(5)),
        "{summary}"
    );
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 7, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

//! `hsm contacts create | update | search` against the sandbox: field rules, status codes
//! (through the sandbox's fault injection), refresh-and-retry, and unknown outcomes.

use std::io::Write;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::common::*;

fn create(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let mut all = vec!["contacts", "create", "--env", "sandbox"];
    all.extend_from_slice(args);
    env.run(&all)
}

const JOHN: [&str; 6] = [
    "--external-id",
    "CRM123",
    "--first-name",
    "John",
    "--last-name",
    "Doe",
];

#[test]
fn create_prints_the_id_and_the_quote_page() {
    let (sb, env) = logged_in(&[]);
    let out = create(
        &env,
        &[
            &JOHN[..],
            &["--zip", "94103", "--birth-date", "01/15/1955", "--sex", "M"],
        ]
        .concat(),
    );
    assert_exit(&out, 0);
    let id = stdout(&out).trim().to_string();
    assert!(
        !id.is_empty() && !id.contains(' '),
        "only the id on stdout: {id}"
    );
    assert!(
        stderr(&out).contains("quote page: http"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.stats()["contacts_created"], 1);

    let out = create(
        &env,
        &[
            "--external-id",
            "CRM124",
            "--first-name",
            "Ann",
            "--last-name",
            "Lee",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["data"]["contact"]["external_id"], "CRM124");
    assert!(v["data"]["redirect_url"].is_string());
}

#[test]
fn data_from_json_file_and_stdin_with_flags_overriding() {
    let (_sb, env) = logged_in(&[]);
    let file = env.path("c.json");
    write_file(
        &file,
        r#"{"contact": {"external_id": "F1", "first_name": "From", "last_name": "File",
            "drugs": [{"name": "metformin"}], "extra_help": true}}"#,
    );
    let out = create(
        &env,
        &[
            "--data",
            &format!("@{}", file.display()),
            "--first-name",
            "Flag",
            "--json",
        ],
    );
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["data"]["contact"]["first_name"], "Flag",
        "flags override --data"
    );
    assert_eq!(
        v["data"]["contact"]["drugs"][0]["name"], "metformin",
        "nested lists pass through"
    );

    let mut child = env
        .cmd()
        .args(["contacts", "create", "--env", "sandbox", "--data", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"external_id": "S1", "first_name": "Std", "last_name": "In"}"#)
        .unwrap();
    let out = wait_output(child, std::time::Duration::from_secs(30));
    assert_exit(&out, 0);
}

#[test]
fn every_field_rule_is_checked_before_anything_is_sent() {
    let (sb, env) = logged_in(&[]);
    let cases: &[(&[&str], &str)] = &[
        (&["--zip", "9410"], "zip"),
        (&["--zip", "9410a"], "zip"),
        (&["--phone", "555-123-4567 x89"], "phone"),
        (&["--phone", "123456789"], "phone"),
        (&["--state", "XX"], "state"),
        (&["--state", "California"], "state"),
        (&["--sex", "x"], "sex"),
        (&["--email", "not-an-email"], "email"),
        (&["--email", "a b@c.com"], "email"),
        (&["--birth-date", "1955-13-01"], "birth_date"),
        (&["--birth-date", "02/30/1955"], "birth_date"),
        (&["--birth-date", "15.01.1955"], "birth_date"),
        (
            &["--medicare-part-a-effective-date", "tomorrow"],
            "medicare_part_a_effective_date",
        ),
        (&["--extra-help", "maybe"], "extra_help"),
        (&["--city", ""], "city"),
        (&["--address-1", &"x".repeat(101)], "address_1"),
        (&["--medicare-number", &"9".repeat(101)], "medicare_number"),
    ];
    for (extra, field) in cases {
        let out = create(&env, &[&JOHN[..], extra].concat());
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(field), "{extra:?}: error names {field}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
    }
    for (args, field) in [
        (vec!["--first-name", "J", "--last-name", "D"], "external_id"),
        (vec!["--external-id", "X", "--last-name", "D"], "first_name"),
        (
            vec![
                "--external-id",
                &*"e".repeat(101),
                "--first-name",
                "J",
                "--last-name",
                "D",
            ],
            "external_id",
        ),
    ] {
        let out = create(&env, &args);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(field), "{}", stderr(&out));
    }
    for data in [
        r#"{"external_id":"A","first_name":"B","last_name":"C","favourite":1}"#,
        r#"{"id":"x"}"#,
        "[1,2]",
        "{oops",
    ] {
        let out = create(&env, &["--data", data]);
        assert_exit(&out, 2);
    }
    let stats = sb.stats();
    assert_eq!(stats["api_requests"], 0, "nothing reached the API: {stats}");
}

#[test]
fn valid_values_in_every_accepted_form_pass() {
    let (sb, env) = logged_in(&[]);
    for (i, date) in ["01/15/1955", "01-15-1955", "1955-01-15", "1955/01/15"]
        .iter()
        .enumerate()
    {
        let ext = format!("D{i}");
        let out = create(
            &env,
            &[
                "--external-id",
                &ext,
                "--first-name",
                "A",
                "--last-name",
                "B",
                "--birth-date",
                date,
                "--state",
                "ca",
                "--phone",
                "5551234567",
                "--email",
                "a.b@example.com",
                "--sex",
                "female",
                "--zip",
                "02134",
            ],
        );
        assert_exit(&out, 0);
    }
    assert_eq!(sb.stats()["contacts_created"], 4);
}

#[test]
fn rate_limits_and_server_errors_are_retried_then_reported() {
    let (sb, env) = logged_in(&[]);
    sb.set_faults(&["create:429=1x2"]);
    let out = create(&env, &JOHN);
    assert_exit(&out, 0);
    assert_eq!(sb.stats()["contacts_created"], 1);

    // A 503 with Retry-After says the server did not act: resent, then reported.
    sb.set_faults(&["create:503=1x20"]);
    let out = create(&env, &[&JOHN[..], &["--allow-duplicate"]].concat());
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("HTTP 503"), "{}", stderr(&out));
    sb.clear_faults();

    // A gateway's 502 may come after the create was stored: sent once, reported unknown.
    sb.set_faults(&["create:commit-then-502"]);
    let before = sb.stats()["api_requests"].as_u64().unwrap();
    let out = create(&env, &[&JOHN[..], &["--allow-duplicate"]].concat());
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 502") && err.contains("hsm contacts search"),
        "{err}"
    );
    let stats = sb.stats();
    assert_eq!(
        stats["api_requests"].as_u64().unwrap(),
        before + 1,
        "sent once: {stats}"
    );
    sb.clear_faults();

    for (fault, text) in [("create:html", "HTML"), ("create:malformed", "not JSON")] {
        sb.set_faults(&[fault]);
        let out = create(&env, &[&JOHN[..], &["--allow-duplicate"]].concat());
        assert_exit(&out, 5);
        let err = stderr(&out);
        assert!(err.contains(text), "{fault}: {err}");
        assert!(
            err.contains("may or may not have been created"),
            "{fault}: {err}"
        );
        sb.clear_faults();
    }
}

#[test]
fn the_ledger_refuses_a_second_create_of_one_external_id_unless_allowed() {
    let (sb, env) = logged_in(&[]);
    let first = create(&env, &JOHN);
    assert_exit(&first, 0);
    let id = stdout(&first).trim().to_string();
    let again = create(&env, &JOHN);
    assert_exit(&again, 2);
    let err = stderr(&again);
    assert!(
        err.contains(&id)
            && err.contains("hsm contacts update")
            && err.contains("--allow-duplicate"),
        "{err}"
    );
    assert_eq!(
        sb.stats()["contacts_created"],
        1,
        "nothing sent the second time"
    );
    let forced = create(&env, &[&JOHN[..], &["--allow-duplicate"]].concat());
    assert_exit(&forced, 0);
    assert_eq!(sb.stats()["contacts_created"], 2);
}

#[test]
fn an_unknown_create_is_not_sent_again_by_a_plain_create() {
    let (sb, mut env) = logged_in(&[]);
    env.set("HSM_HTTP_TIMEOUT", "1");
    sb.set_faults(&["create:lost=3000"]);
    assert_exit(&create(&env, &JOHN), 5);
    sb.clear_faults();
    let again = create(&env, &JOHN);
    assert_exit(&again, 2);
    assert!(
        stderr(&again).contains("outcome is unknown"),
        "{}",
        stderr(&again)
    );
    assert_eq!(sb.stats()["contacts_created"], 1);
}

#[test]
fn a_restarted_sandbox_is_a_new_realm() {
    let (sb, env) = logged_in(&[]);
    assert_exit(&create(&env, &JOHN), 0);
    // The sandbox restarted on the same port (same URL, same client): a new instance that
    // holds no contacts, so what was written to the old one is not trusted there.
    let port: u16 = sb.base_url.rsplit(':').next().unwrap().parse().unwrap();
    drop(sb);
    let mut config = crate::common::sandbox::config(&["--auto-approve"]);
    config.port = port;
    let restarted = Sandbox::in_process(config);
    assert_eq!(restarted.base_url, format!("http://127.0.0.1:{port}"));
    login_auto(&env, &[]);
    assert_exit(&create(&env, &JOHN), 0);
    assert_eq!(restarted.stats()["contacts_created"], 1);
}

#[test]
fn a_create_whose_answer_is_lost_is_not_retried() {
    let (sb, mut env) = logged_in(&[]);
    env.set("HSM_HTTP_TIMEOUT", "1");
    sb.set_faults(&["create:lost=3000"]);
    let before = sb.stats()["api_requests"].as_u64().unwrap();
    let out = create(&env, &JOHN);
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("may or may not have been created") && err.contains("hsm contacts search"),
        "{err}"
    );
    let stats = sb.stats();
    assert_eq!(
        stats["api_requests"].as_u64().unwrap(),
        before + 1,
        "sent once: {stats}"
    );
    assert_eq!(stats["contacts_created"], 1, "the server did create it");
}

#[test]
fn an_invalid_access_token_is_refreshed_once_and_the_call_retried() {
    let (sb, env) = logged_in(&[]);
    edit_record(&env, "sandbox/default", |r| {
        r["access_token"] = json!("sbx_at_not_a_real_token_0000000000")
    });
    let out = create(&env, &JOHN);
    assert_exit(&out, 0);
    let stats = sb.stats();
    assert_eq!(stats["refreshes"], 1);
    assert_eq!(stats["contacts_created"], 1);
}

#[test]
fn auth_scope_and_agent_failures_map_to_their_exit_codes() {
    let (sb, mut env) = logged_in(&[]);
    // A revoked session: refresh fails with invalid_grant -> 4, record kept.
    sb.revoke(None);
    let out = create(&env, &JOHN);
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("hsm login"), "{}", stderr(&out));
    assert!(env.stored_record("sandbox/default").is_some());

    env.set("HSM_ACCESS_TOKEN", "sbx_at_bogus_token_from_ci_0000000000");
    let out = create(&env, &JOHN);
    assert_exit(&out, 4);

    let wrong_scope = sb.mint(json!({"scope": "something_else"}));
    env.set(
        "HSM_ACCESS_TOKEN",
        wrong_scope["access_token"].as_str().unwrap(),
    );
    let out = create(&env, &JOHN);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));

    let no_agent = sb.mint(json!({"agent": null}));
    env.set(
        "HSM_ACCESS_TOKEN",
        no_agent["access_token"].as_str().unwrap(),
    );
    let out = create(&env, &JOHN);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("404") && stderr(&out).to_lowercase().contains("agent"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn update_sends_only_given_fields_and_maps_204_404_422() {
    let (sb, mut env) = logged_in(&[]);
    let out = create(&env, &[&JOHN[..], &["--city", "Reno"]].concat());
    let id = stdout(&out).trim().to_string();

    let out = env.run(&[
        "contacts", "update", &id, "--env", "sandbox", "--zip", "89501", "--json",
    ]);
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["data"]["contact"]["zip"], "89501");
    assert_eq!(
        v["data"]["contact"]["city"], "Reno",
        "untouched fields kept"
    );

    let out = env.run(&[
        "contacts", "update", &id, "--env", "sandbox", "--zip", "89501",
    ]);
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("No changes"), "{}", stderr(&out));

    let out = env.run(&[
        "contacts",
        "update",
        &id,
        "--env",
        "sandbox",
        "--external-id",
        "OTHER",
    ]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("422"), "{}", stderr(&out));

    let out = env.run(&[
        "contacts",
        "update",
        "no-such-id",
        "--env",
        "sandbox",
        "--zip",
        "89501",
    ]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));

    let out = env.run(&["contacts", "update", &id, "--env", "sandbox", "--zip", "1"]);
    assert_exit(&out, 2);
    let out = env.run(&["contacts", "update", &id, "--env", "sandbox"]);
    assert_exit(&out, 2);

    // Another agent's session cannot see this contact.
    let other = sb.mint(json!({"agent": "someone.else@sandbox.test"}));
    env.set("HSM_ACCESS_TOKEN", other["access_token"].as_str().unwrap());
    let out = env.run(&[
        "contacts", "update", &id, "--env", "sandbox", "--zip", "89502",
    ]);
    assert_exit(&out, 3);
}

/// One resend table for every command: a PATCH answered 502 by a gateway (which may come
/// after the update was applied) is sent once by `hsm contacts update` and by
/// `hsm api -X PATCH` alike, and both exit 5. A DELETE, idempotent, is resent by both.
#[test]
fn an_update_and_hsm_api_patch_agree_after_a_502() {
    let (sb, env) = logged_in(&[]);
    let out = create(&env, &JOHN);
    assert_exit(&out, 0);
    let id = stdout(&out).trim().to_string();
    let updates = || sb.stats()["update_requests"].as_u64().unwrap();
    let requests = || sb.stats()["api_requests"].as_u64().unwrap();

    sb.set_faults(&["update:commit-then-502"]);
    let before = updates();
    let out = env.run(&[
        "contacts", "update", &id, "--env", "sandbox", "--zip", "89501",
    ]);
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 502") && err.contains("may have acted"),
        "{err}"
    );
    assert_eq!(updates() - before, 1, "contacts update: sent once");

    sb.set_faults(&["update:commit-then-502"]);
    let before = updates();
    let path = format!("contacts/{id}");
    let out = env.run(&[
        "api",
        "--env",
        "sandbox",
        "-X",
        "PATCH",
        &path,
        "-f",
        "contact[zip]=89502",
    ]);
    assert_exit(&out, 5);
    assert_eq!(updates() - before, 1, "hsm api -X PATCH: sent once");

    // The sandbox answers DELETE 405; a 502 in front of it is resent by `hsm api`.
    sb.set_faults(&["update:502"]);
    let before = requests();
    let out = env.run(&["api", "--env", "sandbox", "-X", "DELETE", &path]);
    assert_exit(&out, 3);
    assert_eq!(
        requests() - before,
        2,
        "hsm api -X DELETE: resent after 502"
    );
}

#[test]
fn search_checks_the_rules_and_treats_no_match_as_success() {
    let (sb, env) = logged_in(&[]);
    let out = create(
        &env,
        &[
            &JOHN[..],
            &[
                "--birth-date",
                "1955-01-15",
                "--medicare-number",
                "1EG4TE5MK73",
            ],
        ]
        .concat(),
    );
    let id = stdout(&out).trim().to_string();
    let search = |args: &[&str]| {
        let mut all = vec!["contacts", "search", "--env", "sandbox"];
        all.extend_from_slice(args);
        env.run(&all)
    };
    let before = sb.stats()["api_requests"].as_u64().unwrap();
    for bad in [
        &["--first-name", "John"][..],
        &["--birth-date", "1955-01-15"],
        &["--medicare-number", "1", "--first-name", "J"],
        &[],
    ] {
        assert_exit(&search(bad), 2);
    }
    assert_exit(&search(&["--first-name", "John", "--phone", "12"]), 2);
    assert_eq!(
        sb.stats()["api_requests"].as_u64().unwrap(),
        before,
        "rule violations send nothing"
    );

    let out = search(&["--medicare-number", "1EG4TE5MK73"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out).trim(), id);
    let out = search(&[
        "--first-name",
        "John",
        "--birth-date",
        "1955-01-15",
        "--json",
    ]);
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["data"]["contact"]["id"], id.as_str());

    let out = search(&["--medicare-number", "NOPE"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).trim().is_empty());
    assert!(stderr(&out).contains("No matching contact"));
}

#[test]
fn contacts_commands_without_a_session_exit_4() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let out = create(&env, &JOHN);
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("hsm login --env sandbox"));
    assert_eq!(sb.stats()["requests"], 0);
}

#[test]
fn an_update_id_is_one_path_segment_and_dot_segments_are_refused() {
    let (sb, env) = logged_in(&[]);
    for id in ["..", "."] {
        let out = env.run(&[
            "contacts", "update", id, "--env", "sandbox", "--zip", "89501",
        ]);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("is not a contact id"),
            "{id}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        sb.stats()["api_requests"],
        0,
        "nothing sent to another path"
    );
    // Slashes and dots inside an id stay inside its segment: the contact is not found (404),
    // rather than the request reaching another route.
    let out = env.run(&[
        "contacts",
        "update",
        "../search",
        "--env",
        "sandbox",
        "--zip",
        "89501",
    ]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
}

/// `/dev/zero`, a FIFO nobody writes to, or an oversized file, wherever hsm reads a file or
/// stdin: one line and a prompt exit, never gigabytes of memory or a hang.
#[cfg(unix)]
#[test]
fn reads_of_files_and_stdin_are_bounded_and_need_regular_files() {
    let (sb, mut env) = logged_in(&[]);
    let quick = |env: &TestEnv, args: &[&str], stdin_zero: bool| {
        let mut cmd = env.cmd();
        cmd.args(args);
        if stdin_zero {
            cmd.stdin(std::fs::File::open("/dev/zero").unwrap());
        }
        let started = std::time::Instant::now();
        let out = run_with_timeout(&mut cmd, std::time::Duration::from_secs(30));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{args:?} took too long"
        );
        out
    };
    let fifo = env.path("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let big = env.path("big.json");
    write_file(&big, &format!("{{\"city\":\"{}\"}}", "x".repeat(2 << 20)));
    let base = [
        "contacts",
        "create",
        "--env",
        "sandbox",
        "--external-id",
        "Z",
        "--first-name",
        "A",
        "--last-name",
        "B",
    ];
    for data in [
        "@/dev/zero",
        &format!("@{}", fifo.display()),
        &format!("@{}", big.display()),
    ] {
        let out = quick(&env, &[&base[..], &["--data", data]].concat(), false);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("--data"), "{data}: {}", stderr(&out));
    }
    let out = quick(&env, &[&base[..], &["--data", "-"]].concat(), true);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("larger than"), "{}", stderr(&out));
    for config in ["/dev/zero".to_string(), fifo.display().to_string()] {
        let out = quick(&env, &["--config", &config, "status"], false);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("config file"), "{}", stderr(&out));
    }
    let out = quick(
        &env,
        &[
            "login",
            "--env",
            "sandbox",
            "--client-secret-stdin",
            "--no-browser",
        ],
        true,
    );
    assert!(
        !matches!(out.status.code(), Some(0 | 101 | 134) | None),
        "{}",
        stderr(&out)
    );
    env.set("HSM_CREDENTIALS_FILE", fifo.to_str().unwrap());
    let out = quick(&env, &["token", "show", "--env", "sandbox"], false);
    assert_exit(&out, 6);
    assert_eq!(sb.stats()["api_requests"], 0);
}

//! Every `--json` output, as the real commands print it against the bundled sandbox, is valid
//! against its checked-in schema (`docs/json/*.schema.json`, generated from hsm's output types
//! by `cargo test --lib shapes`). The schemas forbid fields they do not name and require the
//! ones always present, so a renamed field fails here.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::*;

fn schema_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/json")
        .join(format!("{name}.schema.json"))
}

fn validator(name: &str) -> jsonschema::Validator {
    let path = schema_file(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The problems `value` has against schema `name` (none when valid).
fn problems(name: &str, value: &Value) -> Vec<String> {
    validator(name)
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

pub fn assert_valid(name: &str, value: &Value) {
    let found = problems(name, value);
    assert!(found.is_empty(), "{name}: {}\n{value:#}", found.join("; "));
}

/// stdout as one JSON document.
fn json_out(out: &Output) -> Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}\nstderr: {}", stdout(out), stderr(out)))
}

/// stdout as JSON Lines.
fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn token_and_status_json_match_their_schemas() {
    let (_sb, mut env) = logged_in(&[]);
    for args in [
        &["token", "show", "--env", "sandbox", "--json"][..],
        &["token", "show", "--env", "sandbox", "--check", "--json"],
        &["token", "refresh", "--env", "sandbox", "--json"],
    ] {
        let out = env.run(args);
        assert_exit(&out, 0);
        let report = json_out(&out);
        assert!(report["refresh_token"].is_string(), "{args:?}: {report}");
        assert_valid("token", &report);
    }
    let out = env.run(&["status", "--json"]);
    assert_exit(&out, 0);
    let rows = json_out(&out);
    assert_eq!(rows[0]["store"], "file", "{rows}");
    assert_valid("status", &rows);

    // The token a CI job provides: the other shape of `token show`, and a row of its own.
    let token = stdout(&env.run(&["token", "print", "--env", "sandbox"]))
        .trim()
        .to_string();
    env.set("HSM_ACCESS_TOKEN", &token);
    for args in [
        &["token", "show", "--env", "sandbox", "--json"][..],
        &["token", "show", "--env", "sandbox", "--check", "--json"],
    ] {
        let out = env.run(args);
        assert_exit(&out, 0);
        let report = json_out(&out);
        assert_eq!(report["store"], "environment", "{report}");
        assert_valid("token", &report);
    }
    let out = env.run(&["status", "--json"]);
    assert_exit(&out, 0);
    let rows = json_out(&out);
    assert_eq!(rows[0]["store"], "environment", "{rows}");
    assert_valid("status", &rows);
}

#[test]
fn bulk_and_ledger_json_match_their_schemas() {
    let (_sb, env) = logged_in(&[]);
    let row = |x: &str, zip: &str| {
        format!(
            r#"{{"external_id":"{x}","first_name":"Ann","last_name":"Lee","birth_date":"1950-01-02","zip":"{zip}"}}"#
        )
    };
    let file = env.path("rows.jsonl");
    let bad = r#"{"external_id":"BAD","first_name":"Bo","last_name":"Li","zip":"nope"}"#;
    write_file(
        &file,
        &format!(
            "{}\n{}\n{bad}\n",
            row("CRM1", "94103"),
            row("CRM2", "94103")
        ),
    );
    let file = file.to_str().unwrap();

    // One invalid row: exit 2, and the summary still printed.
    let out = env.run(&["contacts", "import", file, "--env", "sandbox", "--json"]);
    assert_exit(&out, 2);
    let summary = json_out(&out);
    assert_eq!(summary["created"], 2, "{summary}");
    assert_valid("import", &summary);

    let out = env.run(&["contacts", "import", file, "--show-report", "--json"]);
    assert_exit(&out, 0);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "{}", stdout(&out));
    lines.iter().for_each(|l| assert_valid("import-report", l));

    // A changed ZIP, a new row, one gone: every part of the plan has something in it.
    let next = env.path("next.jsonl");
    write_file(
        &next,
        &format!("{}\n{}\n", row("CRM1", "10001"), row("CRM3", "94103")),
    );
    let next = next.to_str().unwrap();
    let out = env.run(&[
        "contacts",
        "sync",
        next,
        "--env",
        "sandbox",
        "--dry-run",
        "--json",
    ]);
    assert_exit(&out, 0);
    let plan = json_out(&out);
    assert_eq!(
        plan["update"][0]["fields"],
        serde_json::json!(["zip"]),
        "{plan}"
    );
    assert_eq!(plan["create"], serde_json::json!(["CRM3"]), "{plan}");
    assert_eq!(plan["missing"], serde_json::json!(["CRM2"]), "{plan}");
    assert_valid("sync-plan", &plan);

    let out = env.run(&["contacts", "sync", next, "--env", "sandbox", "--json"]);
    assert_exit(&out, 0);
    let summary = json_out(&out);
    assert_eq!(
        (summary["created"].as_u64(), summary["updated"].as_u64()),
        (Some(1), Some(1))
    );
    assert_valid("sync", &summary);

    let out = env.run(&["ledger", "status", "--json"]);
    assert_exit(&out, 0);
    let status = json_out(&out);
    assert_eq!(status["exists"], true, "{status}");
    assert_valid("ledger-status", &status);

    let out = env.run(&["ledger", "history", "CRM1", "--env", "sandbox", "--json"]);
    assert_exit(&out, 0);
    let events = json_out(&out);
    assert!(events.as_array().is_some_and(|e| e.len() >= 2), "{events}");
    assert_valid("ledger-history", &events);
}

#[test]
fn json_errors_match_their_schema_and_a_renamed_field_does_not() {
    let env = TestEnv::new();
    // One from hsm (no session), one from the argument parser (an unknown flag).
    for args in [
        &["token", "show", "--env", "sandbox", "--json"][..],
        &["status", "--json", "--no-such-flag"],
    ] {
        let out = env.run(args);
        assert!(out.status.code().is_some_and(|c| c != 0), "{args:?}");
        let line = stderr(&out);
        let error: Value =
            serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {line}"));
        assert_valid("error", &error);

        // The schemas are strict: the same object with one field renamed, or one missing,
        // is refused, so a field cannot change name unnoticed.
        let mut renamed = error.clone();
        let body = renamed["error"].as_object_mut().unwrap();
        let message = body.remove("message").unwrap();
        body.insert("msg".into(), message);
        assert!(!problems("error", &renamed).is_empty(), "{renamed}");
    }
    let mut status = serde_json::json!({"ledger": "sqlite:/x", "exists": false, "realms": []});
    assert_valid("ledger-status", &status);
    status.as_object_mut().unwrap().remove("exists");
    assert!(!problems("ledger-status", &status).is_empty());
}

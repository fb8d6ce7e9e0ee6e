//! `hsm api PATH`: any endpoint with the session, against the sandbox; exit codes by status.

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

fn api(env: &TestEnv, args: &[&str]) -> Output {
    let mut all = vec!["api", "--env", "sandbox"];
    all.extend_from_slice(args);
    env.run(&all)
}

fn api_with_stdin(env: &TestEnv, args: &[&str], input: &str) -> Output {
    let mut child = env
        .cmd()
        .args(["api", "--env", "sandbox"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    wait_output(child, Duration::from_secs(60))
}

fn create_one(env: &TestEnv) -> String {
    let out = api(
        env,
        &[
            "contacts",
            "-f",
            "contact[external_id]=API1",
            "-f",
            "contact[first_name]=John",
            "-f",
            "contact[last_name]=Doe",
        ],
    );
    assert_exit(&out, 0);
    let answer: Value = serde_json::from_str(&stdout(&out)).unwrap();
    answer["data"]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn nested_fields_post_and_input_patch_succeed_with_the_body_as_is() {
    let (sb, env) = logged_in(&[]);
    let id = create_one(&env);
    assert_eq!(sb.stats()["contacts_created"], 1);

    let out = api_with_stdin(
        &env,
        &["-X", "PATCH", &format!("/v2/contacts/{id}"), "--input", "-"],
        r#"{"contact": {"zip": "94103"}}"#,
    );
    assert_exit(&out, 0);
    let answer: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(answer["data"]["contact"]["zip"], "94103");
    assert_eq!(answer["data"]["contact"]["first_name"], "John");
    assert_eq!(sb.stats()["contacts_updated"], 1);

    // The same change again: 204, an empty body, exit 0; --include shows the status line.
    let out = api_with_stdin(
        &env,
        &[
            "-X",
            "patch",
            &format!("contacts/{id}"),
            "--input",
            "-",
            "-i",
        ],
        r#"{"contact": {"zip": "94103"}}"#,
    );
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "{text:?}");
}

#[test]
fn statuses_map_to_exit_codes_and_4xx_bodies_are_printed() {
    let (sb, env) = logged_in(&[]);
    // 404 for an unknown contact: exit 3, the API's body on stdout, its message on stderr.
    let out = api(
        &env,
        &["-X", "PATCH", "contacts/nope", "-f", "contact[zip]=94103"],
    );
    assert_exit(&out, 3);
    assert!(
        stdout(&out).contains("contact_not_found"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    // 400 with field errors: exit 3.
    let out = api(&env, &["contacts", "-f", "contact[external_id]=X"]);
    assert_exit(&out, 3);
    // GET is retried on 5xx (idempotent) and ends with the sandbox's 405: exit 3.
    sb.set_faults(&["api:503x2"]);
    let before = sb.stats()["api_requests"].as_u64().unwrap();
    let out = api(&env, &["contacts"]);
    assert_exit(&out, 3);
    assert_eq!(sb.stats()["api_requests"].as_u64().unwrap() - before, 3);
    // A 429 is waited out and retried, for a POST too (the server did not act); if it lasts,
    // exit 3 as any other 4xx.
    sb.set_faults(&["create:429=0x5"]);
    let before = sb.stats()["api_requests"].as_u64().unwrap();
    let out = api(&env, &["contacts", "-f", "contact[external_id]=R1"]);
    assert_exit(&out, 3);
    assert!(stdout(&out).contains("rate_limited"), "{}", stdout(&out));
    assert_eq!(sb.stats()["api_requests"].as_u64().unwrap() - before, 5);
    // With -i the status line and headers come first.
    let out = api(&env, &["/v2/contacts", "--include"]);
    assert_exit(&out, 3);
    assert!(stdout(&out).starts_with("HTTP/1.1 405"), "{}", stdout(&out));
    assert!(
        stdout(&out).to_lowercase().contains("allow: post"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_html_5xx_to_a_post_is_shown_not_resent_and_exits_5() {
    let (sb, env) = logged_in(&[]);
    sb.set_faults(&["create:html502x1"]);
    let out = api(&env, &["contacts", "-f", "contact[external_id]=H1"]);
    assert_exit(&out, 5);
    assert!(
        stdout(&out).trim_start().starts_with('<'),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("HTTP 502"), "{}", stderr(&out));
    assert_eq!(sb.stats()["api_requests"], 1, "a POST is not resent");

    // An answer lost after sending: exit 5, not resent, and said so.
    sb.set_faults(&["create:lost=0x1"]);
    let out = api(
        &env,
        &[
            "contacts",
            "-f",
            "contact[external_id]=L1",
            "-f",
            "contact[first_name]=A",
            "-f",
            "contact[last_name]=B",
        ],
    );
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("not sent again"), "{}", stderr(&out));
    let stats = sb.stats();
    assert_eq!(stats["api_requests"], 2, "{stats}");
    assert_eq!(stats["contacts_created"], 1, "{stats}");
}

/// The one resend table, through `hsm api`: an idempotent DELETE is resent after a lost
/// answer or a 502; a PATCH is sent once; a 503 with `Retry-After` (nothing done) is resent
/// for a POST too, as `hsm contacts create` does.
#[test]
fn what_is_resent_follows_the_method_and_what_the_server_said() {
    let (sb, env) = logged_in(&[]);
    let id = create_one(&env);
    let path = format!("contacts/{id}");
    let requests = || sb.stats()["api_requests"].as_u64().unwrap();
    let updates = || sb.stats()["update_requests"].as_u64().unwrap();

    // DELETE (the sandbox answers it 405) is resent after a lost answer and after a 502.
    for fault in ["update:commit-then-lost", "update:502"] {
        sb.set_faults(&[fault]);
        let before = requests();
        let out = api(&env, &["-X", "DELETE", &path]);
        assert_exit(&out, 3);
        assert_eq!(requests() - before, 2, "{fault}: DELETE resent");
    }

    // PATCH is not idempotent: after a lost answer or an ambiguous 502/504, sent once.
    for fault in [
        "update:commit-then-lost",
        "update:commit-then-502",
        "update:commit-then-504",
    ] {
        sb.set_faults(&[fault]);
        let before = updates();
        let out = api(&env, &["-X", "PATCH", &path, "-f", "contact[zip]=89501"]);
        assert_exit(&out, 5);
        assert_eq!(updates() - before, 1, "{fault}: PATCH sent once");
    }

    // A 503 with Retry-After: the server did not act, so a POST is resent and succeeds.
    sb.set_faults(&["create:503=0x1"]);
    let created = sb.stats()["contacts_created"].as_u64().unwrap();
    let out = api(
        &env,
        &[
            "contacts",
            "-f",
            "contact[external_id]=API503",
            "-f",
            "contact[first_name]=Ann",
            "-f",
            "contact[last_name]=Lee",
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(
        sb.stats()["contacts_created"].as_u64().unwrap() - created,
        1
    );
}

#[test]
fn a_stale_token_is_refreshed_once_and_a_dead_session_exits_4() {
    let (sb, env) = logged_in(&[]);
    edit_record(&env, "sandbox/default", |r| {
        r["access_token"] = serde_json::json!("sbx_at_stale_token_000000000000000")
    });
    create_one(&env);
    assert_eq!(sb.stats()["refreshes"], 1);

    sb.revoke(None);
    let out = api(
        &env,
        &["-X", "PATCH", "contacts/x", "-f", "contact[zip]=94103"],
    );
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("hsm login"), "{}", stderr(&out));
}

#[test]
fn other_hosts_and_injected_headers_are_refused_before_sending() {
    let (sb, env) = logged_in(&[]);
    for path in [
        "https://evil.example/v2/contacts",
        "//evil.example/v2/contacts",
        "http://127.0.0.2:1/v2/contacts",
    ] {
        let out = api(&env, &[path]);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("refusing") || stderr(&out).contains("another host"),
            "{path}: {}",
            stderr(&out)
        );
    }
    let out = api(&env, &["contacts", "-H", "X-A: b\r\nX-Evil: 1"]);
    assert_exit(&out, 2);
    let out = api(&env, &["contacts", "-H", "Authorization: Bearer mine"]);
    assert_exit(&out, 2);
    let out = api(&env, &["contacts", "-f", "noequals"]);
    assert_exit(&out, 2);
    // The API's own origin, spelled as a URL, is fine.
    let out = api(&env, &[&format!("{}/v2/contacts", sb.base_url)]);
    assert_exit(&out, 3);
    assert_eq!(sb.stats()["api_requests"], 1);
}

#[test]
fn a_url_inside_the_query_is_part_of_the_path_not_another_host() {
    let (sb, env) = logged_in(&[]);
    let out = api(&env, &["contacts?q=http://x"]);
    assert!(
        !stderr(&out).contains("refusing") && !stderr(&out).contains("invalid URL"),
        "{}",
        stderr(&out)
    );
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(sb.stats()["api_requests"], 1);
}

/// An API on loopback that answers every request with 200 and a body of `size` bytes,
/// counting the requests.
fn oversized_api(size: usize) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v2", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            let seen_stream = stream.try_clone().unwrap();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(seen_stream);
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let mut stream = stream;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes());
                let chunk = vec![b' '; 1 << 20];
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if stream.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n;
                }
            });
        }
    });
    (url, count)
}

#[test]
fn an_answer_over_the_cap_is_exit_5_in_one_line_and_not_asked_again() {
    let (_sb, mut env) = logged_in(&[]);
    let (url, count) = oversized_api(33 * 1024 * 1024);
    env.set("HSM_API_URL", &url);
    let out = api(&env, &["contacts"]);
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("larger than 32 MiB"), "{err}");
    assert!(stdout(&out).is_empty());
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "not resent"
    );
}

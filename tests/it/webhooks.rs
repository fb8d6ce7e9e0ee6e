//! `hsm webhooks listen` over real sockets, and the sandbox delivering to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

const KEY: &str = "whk_test_0123456789abcdef";

/// A running `hsm webhooks listen`; killed when dropped.
struct Listener {
    child: Child,
    url: String,
    stderr: mpsc::Receiver<String>,
    stdout: mpsc::Receiver<String>,
    seen: Vec<String>,
}

fn env() -> TestEnv {
    let mut env = TestEnv::new();
    env.set("HSM_WEBHOOK_API_KEY", KEY);
    env
}

impl Listener {
    fn start(env: &TestEnv, extra: &[&str]) -> Listener {
        let mut cmd = env.cmd();
        cmd.args(["webhooks", "listen"]);
        if !extra.contains(&"--port") {
            cmd.args(["--port", "0"]);
        }
        // A process group of its own, as a shell gives a foreground job: `interrupt_group`
        // then plays the terminal's Ctrl-C, which reaches every process of the group.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .args(extra)
            .current_dir(env.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hsm webhooks listen");
        let stderr = spawn_line_reader(child.stderr.take().unwrap());
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut l = Listener {
            child,
            url: String::new(),
            stderr,
            stdout,
            seen: Vec::new(),
        };
        let line = l
            .wait_for(|line| line.contains("listening on http://"))
            .unwrap_or_else(|| panic!("no listening line; stderr:\n{}", l.seen.join("\n")));
        l.url = line
            .split("listening on ")
            .nth(1)
            .unwrap()
            .trim()
            .to_owned();
        l
    }

    fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match self.stderr.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return Some(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
        None
    }

    fn port(&self) -> u16 {
        let rest = self.url.trim_start_matches("http://127.0.0.1:");
        rest.split('/').next().unwrap().parse().unwrap()
    }

    /// Ctrl-C to hsm alone; the exit code and every stderr line.
    fn interrupt(self) -> (Option<i32>, String) {
        let pid = self.child.id() as i32;
        self.signal(pid)
    }

    fn signal(self, target: i32) -> (Option<i32>, String) {
        // SAFETY: a plain syscall on our own child (or its process group).
        assert_eq!(unsafe { libc::kill(target, libc::SIGINT) }, 0);
        self.wait_exit()
    }

    /// Ctrl-C to hsm's process group, without waiting for anything.
    fn send_interrupt_group(&self) {
        // SAFETY: a plain syscall on our own child's process group.
        assert_eq!(
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGINT) },
            0
        );
    }

    /// The exit code and every stderr line, once hsm exits (20 s at most).
    fn wait_exit(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            assert!(Instant::now() < deadline, "listener did not stop");
            thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(300)) {
            self.seen.push(line);
        }
        (code, self.seen.join("\n"))
    }

    fn json_lines(&self) -> Vec<Value> {
        let mut lines = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_millis(300)) {
            lines.push(serde_json::from_str(&line).unwrap());
        }
        lines
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(confirmation: &str) -> Value {
    json!({
        "medicare_application": {
            "confirmation_number": confirmation,
            "submitted_at": "2026-10-15T14:03:11.123Z",
            "cms_plan_id": "H1290-001-000",
            "plan_name": "Sandbox Advantage (HMO)"
        },
        "medicare_application_riders": [],
        "contact": {"id": "c-1", "external_id": "CRM-1", "first_name": "Annabel",
                    "last_name": "Leeworth", "birth_date": "1955-04-01"}
    })
}

fn post(url: &str, key: Option<&str>, body: impl Into<reqwest::blocking::Body>) -> (u16, String) {
    let mut req = http().post(url).header("content-type", "application/json");
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    let resp = req.body(body).send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

fn post_event(url: &str, event: &Value) -> u16 {
    post(url, Some(KEY), event.to_string()).0
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_key_is_required_at_start() {
    let out = TestEnv::new().run(&["webhooks", "listen", "--port", "0"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("HSM_WEBHOOK_API_KEY is not set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_status_the_receiver_answers() {
    let env = env();
    let l = Listener::start(&env, &["--output", "events.jsonl"]);
    let url = l.url.clone();
    let good = event("1000000001").to_string();
    assert_eq!(post(&url, None, good.clone()).0, 401);
    assert_eq!(post(&url, Some("another-key"), good.clone()).0, 401);
    assert_eq!(post(&url, Some(&KEY[..KEY.len() - 1]), good.clone()).0, 401);
    assert_eq!(post(&url, Some(KEY), "{not json").0, 400);
    let (status, body) = post(&url, Some(KEY), json!({"contact": {}}).to_string());
    assert_eq!(status, 400);
    assert!(body.contains("medicare_application"), "{body}");
    assert_eq!(post(&url, Some(KEY), "[1]").0, 400);
    let big = format!(
        "{{\"medicare_application\":{{\"confirmation_number\":\"1\"}},\"contact\":{{\"x\":\"{}\"}}}}",
        "a".repeat(1024 * 1024)
    );
    assert_eq!(post(&url, Some(KEY), big).0, 413);
    let other_path = url.replace("/webhooks/healthsherpa", "/other");
    assert_eq!(post(&other_path, Some(KEY), good.clone()).0, 404);
    assert_eq!(http().get(&url).send().unwrap().status(), 405);
    assert!(
        lines(&env.path("events.jsonl")).is_empty(),
        "nothing refused is kept"
    );
    // A downline agent's event: few contact fields.
    let downline = json!({"medicare_application": {"confirmation_number": "1000000002",
        "submitted_at": "2026-10-15T14:03:11.123Z"}, "contact": {"external_id": "D1"}});
    assert_eq!(post_event(&url, &downline), 200);
    assert_eq!(post(&url, Some(KEY), good).0, 200);
    assert_eq!(lines(&env.path("events.jsonl")).len(), 2);
    let (code, err) = l.interrupt();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("submission 1000000001 (plan H1290-001-000, contact CRM-1): taken"),
        "{err}"
    );
    for personal in ["Annabel", "Leeworth", "1955-04-01", KEY] {
        assert!(!err.contains(personal), "{personal} in stderr:\n{err}");
    }
}

#[cfg(unix)]
#[test]
fn the_sandbox_delivers_to_the_listener_end_to_end() {
    use std::os::unix::fs::PermissionsExt;
    let env = env();
    let l = Listener::start(&env, &["--output", "events.jsonl", "--json"]);
    let sb = Sandbox::start(&["--webhook-url", &l.url, "--webhook-api-key", KEY]);
    let token = sb.mint(json!({}))["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created: Value = sb
        .client()
        .post(sb.url("/v2/contacts"))
        .bearer_auth(&token)
        .json(
            &json!({"contact": {"external_id": "CRM-42", "first_name": "Ann", "last_name": "Lee"}}),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    let contact_id = created["data"]["contact"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let queued: Value = sb
        .client()
        .post(sb.url("/__sandbox/webhooks/submission"))
        .json(&json!({"contact": {"id": contact_id}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let number = queued["event"]["medicare_application"]["confirmation_number"]
        .as_str()
        .unwrap()
        .to_owned();
    let delivery = wait_delivery(&sb, "delivered");
    assert_eq!(delivery["attempts"][0]["status"], 200);
    let kept = lines(&env.path("events.jsonl"));
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["contact"]["external_id"], "CRM-42");
    assert_eq!(kept[0]["contact"]["id"].as_str(), Some(contact_id.as_str()));
    assert_eq!(
        kept[0]["medicare_application"]["confirmation_number"],
        number.as_str()
    );
    for field in [
        "medicare_application",
        "medicare_application_riders",
        "contact",
    ] {
        assert!(kept[0].get(field).is_some(), "{field}");
    }
    let mode = std::fs::metadata(env.path("events.jsonl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let summaries = l.json_lines();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0]["outcome"], "taken");
    assert_eq!(summaries[0]["contact_external_id"], "CRM-42");
    crate::json_schema::assert_valid("webhook", &summaries[0]);
    assert!(!summaries[0].to_string().contains("Ann"));
}

/// The sandbox's first delivery once it reaches `state` (45 s at most).
fn wait_delivery(sb: &Sandbox, state: &str) -> Value {
    wait_for_delivery(sb, |d| d["state"] == state, &format!("never {state}"))[0].clone()
}

/// Waits until the first delivery has made `n` attempts.
fn wait_attempts(sb: &Sandbox, n: usize) {
    wait_for_delivery(
        sb,
        |d| d["attempts"].as_array().is_some_and(|a| a.len() >= n),
        "too few attempts",
    );
}

fn wait_for_delivery(sb: &Sandbox, done: impl Fn(&Value) -> bool, what: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let list: Value = sb
            .client()
            .get(sb.url("/__sandbox/webhooks"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let deliveries = list["deliveries"].as_array().cloned().unwrap_or_default();
        if deliveries.first().is_some_and(&done) {
            return deliveries;
        }
        assert!(Instant::now() < deadline, "delivery {what}: {list}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(unix)]
#[test]
fn a_failing_exec_answers_500_and_the_sandbox_retries_until_it_is_taken_once() {
    let env = env();
    // Fails on the first two events it sees, then appends the event to got.jsonl.
    let script = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; \
                  [ $n -ge 3 ] || exit 3; cat >> got.jsonl";
    let l = Listener::start(&env, &["--exec", script]);
    let sb = Sandbox::start(&[
        "--webhook-url",
        &l.url,
        "--webhook-api-key",
        KEY,
        "--webhook-retry-scale",
        "0.002",
    ]);
    let queued: Value = sb
        .client()
        .post(sb.url("/__sandbox/webhooks/submission"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let delivery = wait_delivery(&sb, "delivered");
    let statuses: Vec<_> = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    // HealthSherpa sending it once more is answered 200, and the command does not run again.
    assert_eq!(post_event(&l.url, &queued["event"]), 200);
    assert_eq!(lines(&env.path("got.jsonl")).len(), 1);
    assert_eq!(
        std::fs::read_to_string(env.path("count")).unwrap().trim(),
        "3"
    );
    let (code, err) = l.interrupt();
    assert_eq!(code, Some(0));
    assert!(
        err.contains("--exec exited with exit status: 3 (500"),
        "{err}"
    );
}

#[test]
fn a_redelivery_across_a_restart_is_kept_once() {
    let env = env();
    let first = event("2000000001");
    let l = Listener::start(&env, &["--output", "events.jsonl"]);
    assert_eq!(post_event(&l.url, &first), 200);
    assert_eq!(l.interrupt().0, Some(0));
    let l = Listener::start(&env, &["--output", "events.jsonl"]);
    let (status, body) = post(&l.url, Some(KEY), first.to_string());
    assert_eq!(status, 200);
    assert!(body.contains("already taken"), "{body}");
    let mut resubmitted = first.clone();
    resubmitted["medicare_application"]["submitted_at"] = json!("2026-10-16T09:00:00.000Z");
    assert_eq!(post_event(&l.url, &resubmitted), 200);
    assert_eq!(lines(&env.path("events.jsonl")).len(), 2);
}

/// A one-thread HTTP server answering `statuses` in turn (then 200), counting requests.
fn test_server(statuses: Vec<u16>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            read_request(&mut stream);
            let status = statuses.get(n).copied().unwrap_or(200);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (url, count)
}

fn read_request(stream: &mut TcpStream) {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
}

#[test]
fn forward_to_must_answer_2xx() {
    let env = env();
    let (target, count) = test_server(vec![502]);
    let l = Listener::start(&env, &["--forward-to", &target]);
    let e = event("3000000001");
    assert_eq!(post_event(&l.url, &e), 500);
    assert_eq!(post_event(&l.url, &e), 200);
    assert_eq!(post_event(&l.url, &e), 200);
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "the redelivery is not forwarded"
    );
}

#[test]
fn a_hundred_concurrent_deliveries_make_a_hundred_whole_lines() {
    let env = env();
    let l = Listener::start(&env, &["--output", "events.jsonl"]);
    let handles: Vec<_> = (0..100)
        .map(|i| {
            let url = l.url.clone();
            thread::spawn(move || {
                let mut e = event(&format!("40000{i:05}"));
                e["contact"]["notes"] = json!("x".repeat(20_000));
                post_event(&url, &e)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    let kept = lines(&env.path("events.jsonl"));
    assert_eq!(kept.len(), 100);
    let numbers: std::collections::HashSet<_> = kept
        .iter()
        .map(|e| e["medicare_application"]["confirmation_number"].clone())
        .collect();
    assert_eq!(numbers.len(), 100);
}

#[test]
fn slow_clients_do_not_block_others() {
    let env = env();
    let l = Listener::start(&env, &[]);
    let addr = format!("127.0.0.1:{}", l.port());
    // Clients that send half their headers, and nothing more.
    let _slow: Vec<_> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /webhooks/healthsherpa HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    assert_eq!(post_event(&l.url, &event("5000000001")), 200);
    // Answered while every slow client still holds its connection: none had to be timed out
    // (or answered) first.
    for mut slow in _slow {
        slow.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        match slow.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("a slow client was answered or dropped first: {other:?}"),
        }
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_finishes_the_request_in_flight() {
    let env = env();
    // The command says it started, then waits for the test's go: the request is in flight
    // for as long as the test needs.
    let mut l = Listener::start(
        &env,
        &[
            "--exec",
            "touch started; while [ ! -e go ]; do sleep 0.02; done; cat > got.json",
        ],
    );
    let url = l.url.clone();
    let port = l.port();
    let request = thread::spawn(move || post_event(&url, &event("6000000001")));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.path("started").exists() {
        assert!(Instant::now() < deadline, "the command never started");
        thread::sleep(Duration::from_millis(10));
    }
    // The terminal's Ctrl-C reaches hsm's process group, not the command's; once hsm took
    // it in, the command may finish.
    l.send_interrupt_group();
    l.wait_for(|line| line.contains("finishing the requests in flight"))
        .expect("hsm took the Ctrl-C in");
    write_file(&env.path("go"), "");
    let (code, err) = l.wait_exit();
    assert_eq!(request.join().unwrap(), 200, "{err}");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("finishing the requests in flight"), "{err}");
    let got: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("got.json")).unwrap()).unwrap();
    assert_eq!(
        got["medicare_application"]["confirmation_number"],
        "6000000001"
    );
    assert!(port_is_free(port));
}

#[test]
fn the_sandbox_retries_a_receiver_down_at_first_and_reports_a_wrong_key() {
    let env = env();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/webhooks/healthsherpa");
    let sb = Sandbox::start(&[
        "--webhook-url",
        &url,
        "--webhook-api-key",
        KEY,
        "--webhook-retry-scale",
        "0.05",
    ]);
    sb.client()
        .post(sb.url("/__sandbox/webhooks/submission"))
        .send()
        .unwrap();
    // Nothing listens for the first attempt; a retry (1 s later, then 30 s) finds the listener.
    wait_attempts(&sb, 1);
    let l = Listener::start(
        &env,
        &["--port", &port.to_string(), "--output", "events.jsonl"],
    );
    let delivery = wait_delivery(&sb, "delivered");
    let attempts = delivery["attempts"].as_array().unwrap();
    let (last, before) = attempts.split_last().unwrap();
    assert_eq!(last["status"], 200);
    assert!(!before.is_empty(), "{delivery}");
    for a in before {
        assert!(
            a["status"].is_null() && a["error"].is_string(),
            "{delivery}"
        );
    }
    assert_eq!(lines(&env.path("events.jsonl")).len(), 1);

    // A sender with another key: 401 on every attempt, then given up.
    let wrong = Sandbox::start(&[
        "--webhook-url",
        &l.url,
        "--webhook-api-key",
        "not-the-key",
        "--webhook-retry-scale",
        "0.0001",
    ]);
    wrong
        .client()
        .post(wrong.url("/__sandbox/webhooks/submission"))
        .send()
        .unwrap();
    let failed = wait_delivery(&wrong, "failed");
    let statuses: Vec<_> = failed["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401]);
    assert!(failed["next_attempt_at"].is_null());
    assert_eq!(lines(&env.path("events.jsonl")).len(), 1);
}

#[cfg(unix)]
#[test]
fn concurrent_redeliveries_of_one_event_run_the_command_once() {
    let env = env();
    let l = Listener::start(&env, &["--exec", "sleep 0.2; cat >> got.jsonl"]);
    let e = event("7000000001");
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let (url, e) = (l.url.clone(), e.clone());
            thread::spawn(move || post_event(&url, &e))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    assert_eq!(lines(&env.path("got.jsonl")).len(), 1);
}

#[test]
fn contacts_created_with_webhook_on_create_are_submitted() {
    let env = env();
    let l = Listener::start(&env, &["--output", "events.jsonl"]);
    let sb = Sandbox::start(&[
        "--webhook-url",
        &l.url,
        "--webhook-api-key",
        KEY,
        "--webhook-on-create",
    ]);
    let token = sb.mint(json!({}))["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = sb
        .client()
        .post(sb.url("/v2/contacts"))
        .bearer_auth(&token)
        .json(&json!({"contact": {"external_id": "CRM-77", "first_name": "A", "last_name": "B"}}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    wait_delivery(&sb, "delivered");
    let kept = lines(&env.path("events.jsonl"));
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["contact"]["external_id"], "CRM-77");
}

#[test]
fn the_sandbox_refuses_a_submission_without_webhooks_or_with_an_unknown_contact() {
    let sb = Sandbox::start(&[]);
    let resp = sb
        .client()
        .post(sb.url("/__sandbox/webhooks/submission"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 409);
    let sb = Sandbox::start(&["--webhook-url", "http://127.0.0.1:9/x"]);
    let resp = sb
        .client()
        .post(sb.url("/__sandbox/webhooks/submission"))
        .json(&json!({"contact": {"id": "no-such-contact"}}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404);
    let out = TestEnv::new().run(&["sandbox", "--webhook-url", "https://example.com/x"]);
    assert_exit(&out, 2);
}

#[test]
fn hsm_sandbox_sends_the_key_from_the_variable() {
    let env = env();
    let l = Listener::start(&env, &["--output", "events.jsonl"]);
    let mut sandbox = env
        .cmd()
        .args(["sandbox", "--port", "0", "--webhook-url", &l.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(sandbox.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first.trim().to_owned();
    let queued = http()
        .post(format!("{base}/__sandbox/webhooks/submission"))
        .send()
        .unwrap();
    assert_eq!(queued.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    while lines(&env.path("events.jsonl")).is_empty() {
        assert!(Instant::now() < deadline, "never delivered");
        thread::sleep(Duration::from_millis(50));
    }
    let _ = sandbox.kill();
    let _ = sandbox.wait();
}

#[cfg(unix)]
#[test]
fn a_command_that_overruns_its_time_is_stopped_and_answered_500() {
    let env = env();
    let l = Listener::start(
        &env,
        &[
            "--exec",
            "sleep 30 & echo $! > bg.pid; wait",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(post_event(&l.url, &event("8000000001")), 500);
    // What the command started in the background is stopped with it.
    let bg: i32 = std::fs::read_to_string(env.path("bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while running(bg) {
        assert!(Instant::now() < deadline, "the background sleep survived");
        thread::sleep(Duration::from_millis(20));
    }
    let (code, err) = l.interrupt();
    assert_eq!(code, Some(0));
    assert!(err.contains("--exec did not finish within 1 s"), "{err}");
}

/// Whether a process runs (a zombie, killed and not yet reaped, does not).
#[cfg(unix)]
fn running(pid: i32) -> bool {
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        return !state.starts_with('Z') && !state.starts_with('X');
    }
    // No /proc (macOS): signal 0 only asks whether the process exists.
    // SAFETY: a plain syscall.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn a_short_key_is_warned_about() {
    let mut env = env();
    env.set("HSM_WEBHOOK_API_KEY", "short");
    let l = Listener::start(&env, &[]);
    let (code, err) = l.interrupt();
    assert_eq!(code, Some(0));
    assert!(err.contains("shorter than 16 characters"), "{err}");
    assert!(
        !err.contains("short:"),
        "the key itself is not shown:\n{err}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_leaves_no_torn_line_and_the_refused_event_is_taken_later() {
    let env = env();
    let Some(disk) = SmallDisk::mount(env.path("disk"), "64k") else {
        SmallDisk::skipped();
        return;
    };
    let output = disk.dir.join("events.jsonl");
    let out_arg = output.display().to_string();
    let l = Listener::start(&env, &["--output", &out_arg]);
    assert_eq!(post_event(&l.url, &event("9100000001")), 200);
    let filler = disk.fill();
    // Larger than what is left of the file's last page: part of it is written, then ENOSPC.
    let mut big = event("9100000002");
    big["contact"]["notes"] = json!("n".repeat(20_000));
    let (status, body) = post(&l.url, Some(KEY), big.to_string());
    assert_eq!(status, 500, "{body}");
    std::fs::remove_file(filler).unwrap();
    assert_eq!(post_event(&l.url, &event("9100000003")), 200);
    // Every line is a whole event (`lines` parses each): the refused one left nothing.
    let kept: Vec<_> = lines(&output)
        .iter()
        .map(|e| e["medicare_application"]["confirmation_number"].clone())
        .collect();
    assert_eq!(kept, [json!("9100000001"), json!("9100000003")]);
    let (code, err) = l.interrupt();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("cannot write"), "{err}");
    // After a restart every line counts as an event, and the redelivery of the refused one
    // is taken, not mistaken for a duplicate.
    let mut l = Listener::start(&env, &["--output", &out_arg]);
    let (status, body) = post(&l.url, Some(KEY), big.to_string());
    assert_eq!((status, body.contains("taken")), (200, true), "{body}");
    assert!(!body.contains("already"), "{body}");
    l.wait_for(|line| line.contains("9100000002"));
    assert!(
        !l.seen.iter().any(|line| line.contains("not events")),
        "{:?}",
        l.seen
    );
    assert_eq!(lines(&output).len(), 3);
    drop(l);
    drop(disk);
}

#[test]
fn forward_to_on_loopback_never_goes_through_a_proxy() {
    let mut env = env();
    let trap = crate::common::proxy_trap::ProxyTrap::start();
    trap.install(&mut env);
    let (target, count) = test_server(vec![]);
    let l = Listener::start(&env, &["--forward-to", &target]);
    assert_eq!(post_event(&l.url, &event("9200000001")), 200);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(trap.seen(), Vec::<String>::new());
}

#[test]
fn a_second_listener_on_the_same_output_is_refused() {
    let env = env();
    let output = env.path("events.jsonl").display().to_string();
    let first = Listener::start(&env, &["--output", &output]);
    let second = env.run(&["webhooks", "listen", "--port", "0", "--output", &output]);
    assert_exit(&second, 2);
    let err = stderr(&second);
    assert!(
        err.contains("another `hsm webhooks listen` is using") && err.contains("events.jsonl"),
        "{err}"
    );
    assert!(!err.contains("listening on"), "{err}");
    // The first keeps the file to itself; once it has stopped, a new one takes it over.
    assert_eq!(post_event(&first.url, &event("9300000001")), 200);
    assert_eq!(first.interrupt().0, Some(0));
    let again = Listener::start(&env, &["--output", &output]);
    let (status, body) = post(&again.url, Some(KEY), event("9300000001").to_string());
    assert_eq!(status, 200);
    assert!(body.contains("already taken"), "{body}");
    assert_eq!(lines(&env.path("events.jsonl")).len(), 1);
}

#[cfg(unix)]
#[test]
fn a_second_ctrl_c_stops_the_running_commands_with_what_they_started() {
    let env = env();
    let l = Listener::start(&env, &["--exec", "sleep 60 & echo $! > bg.pid; wait"]);
    let url = l.url.clone();
    thread::spawn(move || {
        let _ = http()
            .post(&url)
            .header("x-api-key", KEY)
            .body(event("9400000001").to_string())
            .send();
    });
    let pid_file = env.path("bg.pid");
    let bg = wait_until(|| {
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
    });
    let mut l = l;
    // SAFETY: a plain syscall on our own child.
    assert_eq!(unsafe { libc::kill(l.child.id() as i32, libc::SIGINT) }, 0);
    l.wait_for(|line| line.contains("finishing the requests in flight"))
        .expect("the first Ctrl-C is acknowledged");
    let (code, err) = l.interrupt();
    assert_eq!(code, Some(130), "{err}");
    wait_until(|| (!running(bg)).then_some(()));
}

/// Waits (20 s at most) until `ready` gives a value.
fn wait_until<T>(ready: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "the condition never held");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_newline_in_an_event_does_not_forge_a_line_on_stderr() {
    let env = env();
    let mut l = Listener::start(&env, &[]);
    let mut forged = event("x\nerror: FAKE LINE");
    forged["contact"]["external_id"] = json!("CRM\rwarning: FORGED");
    assert_eq!(post_event(&l.url, &forged), 200);
    let line = l
        .wait_for(|line| line.ends_with(": taken"))
        .expect("a status line for the event");
    assert_eq!(
        line,
        "submission x\\nerror: FAKE LINE (plan H1290-001-000, contact CRM\\rwarning: FORGED): taken"
    );
    let (_, err) = l.interrupt();
    assert!(!err.lines().any(|l| l.starts_with("error: FAKE")), "{err}");
}

/// An event written by hand, so its numbers reach hsm exactly as a sender writes them.
fn event_with_number(confirmation: &str) -> String {
    format!(
        "{{\n  \"medicare_application\": {{\"confirmation_number\": {confirmation},\n    \"submitted_at\": \"2026-10-15T14:03:11.123Z\"}},\n  \"contact\": {{\"id\": \"c-1\", \"household_income\": 18446744073709551616}}\n}}"
    )
}

#[test]
fn numbers_beyond_64_bits_are_kept_and_told_apart_exactly() {
    let env = env();
    let l = Listener::start(&env, &["--output", "events.jsonl"]);
    for number in ["123456789012345678901234", "123456789012345678901235"] {
        let (status, body) = post(&l.url, Some(KEY), event_with_number(number));
        assert_eq!(status, 200, "{body}");
        assert!(
            !body.contains("already"),
            "{number} was taken for another: {body}"
        );
    }
    let text = std::fs::read_to_string(env.path("events.jsonl")).unwrap();
    assert_eq!(
        text,
        "{\"medicare_application\":{\"confirmation_number\":123456789012345678901234,\"submitted_at\":\"2026-10-15T14:03:11.123Z\"},\"contact\":{\"id\":\"c-1\",\"household_income\":18446744073709551616}}\n\
         {\"medicare_application\":{\"confirmation_number\":123456789012345678901235,\"submitted_at\":\"2026-10-15T14:03:11.123Z\"},\"contact\":{\"id\":\"c-1\",\"household_income\":18446744073709551616}}\n"
    );
    assert_eq!(l.interrupt().0, Some(0));
    // Read back after a restart: each is a redelivery of itself only.
    let l = Listener::start(&env, &["--output", "events.jsonl"]);
    let (_, body) = post(
        &l.url,
        Some(KEY),
        event_with_number("123456789012345678901235"),
    );
    assert!(body.contains("already taken"), "{body}");
    let (_, body) = post(
        &l.url,
        Some(KEY),
        event_with_number("123456789012345678901236"),
    );
    assert!(!body.contains("already"), "{body}");
}

/// Sends `request` on a new connection, shuts down the sending side, and reads the answer.
fn send_then_half_close(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

#[test]
fn a_sender_that_half_closes_after_its_request_gets_the_answer() {
    let env = env();
    let l = Listener::start(&env, &["--output", "events.jsonl"]);
    let body = event("9500000001").to_string();
    let request = format!(
        "POST /webhooks/healthsherpa HTTP/1.1\r\nhost: x\r\nx-api-key: {KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = send_then_half_close(&format!("127.0.0.1:{}", l.port()), request.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.contains("taken"), "{answer:?}");
    assert_eq!(lines(&env.path("events.jsonl")).len(), 1);
}

//! Automatic refresh and rotation, across processes, against a sandbox that rotates refresh
//! tokens strictly and revokes a whole family when one is reused.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const ACCOUNT: &str = "sandbox/default";

fn expire_now(env: &TestEnv) {
    edit_record(env, ACCOUNT, |r| r["expires_at"] = serde_json::json!(1));
}

#[test]
fn token_print_refreshes_an_expiring_token_and_persists_the_rotated_pair() {
    let (sb, env) = logged_in(&["--access-ttl", "1"]);
    let before = env.stored_record(ACCOUNT).unwrap();
    let out = env.run(&["token", "print", "--env", "sandbox"]);
    assert_exit(&out, 0);
    let after = env.stored_record(ACCOUNT).unwrap();
    assert_eq!(stdout(&out).trim(), after["access_token"].as_str().unwrap());
    assert_ne!(
        before["refresh_token"], after["refresh_token"],
        "rotated and stored"
    );
    assert_eq!(sb.stats()["refreshes"], 1);
    assert_eq!(sb.stats()["reuse_detected"], 0);
}

#[test]
fn a_fresh_token_is_printed_without_any_network_call() {
    let (sb, env) = logged_in(&[]);
    let requests = sb.stats()["requests"].as_u64().unwrap();
    let out = env.run(&["token", "print", "--env", "sandbox"]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out).trim(),
        env.stored_record(ACCOUNT).unwrap()["access_token"]
            .as_str()
            .unwrap()
    );
    assert_eq!(sb.stats()["requests"].as_u64().unwrap(), requests);
}

#[test]
fn token_refresh_json_reports_the_new_expiry() {
    let (_sb, env) = logged_in(&[]);
    let before = env.stored_record(ACCOUNT).unwrap();
    let out = env.run(&["token", "refresh", "--env", "sandbox", "--json"]);
    assert_exit(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["status"], "valid");
    assert!(v["expires_in"].as_i64().unwrap() > 3500);
    let after = env.stored_record(ACCOUNT).unwrap();
    assert_ne!(before["refresh_token"], after["refresh_token"]);
    assert!(!stdout(&out).contains(after["refresh_token"].as_str().unwrap()));
}

fn spawn_many(env: &TestEnv, n: usize) -> Vec<Child> {
    (0..n)
        .map(|_| {
            env.cmd()
                .args(["token", "print", "--env", "sandbox"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn all_succeed(children: Vec<Child>) -> Vec<String> {
    children
        .into_iter()
        .map(|c| {
            let out = wait_output(c, Duration::from_secs(60));
            assert_exit(&out, 0);
            stdout(&out).trim().to_string()
        })
        .collect()
}

#[test]
fn thirty_two_processes_needing_a_refresh_spend_the_refresh_token_once() {
    let (sb, env) = logged_in(&["--access-ttl", "600"]);
    expire_now(&env);
    let tokens = all_succeed(spawn_many(&env, 32));
    let stats = sb.stats();
    assert_eq!(
        stats["refreshes"], 1,
        "one refresh; the others used its tokens: {stats}"
    );
    assert_eq!(stats["reuse_detected"], 0);
    let stored = env.stored_record(ACCOUNT).unwrap();
    assert!(
        tokens
            .iter()
            .all(|t| t == stored["access_token"].as_str().unwrap())
    );
}

#[test]
fn thirty_two_processes_with_always_expiring_tokens_never_reuse_a_refresh_token() {
    // A 2 s lifetime is inside the 60 s margin, so every process refreshes, in turn.
    let (sb, env) = logged_in(&["--access-ttl", "2"]);
    all_succeed(spawn_many(&env, 32));
    let stats = sb.stats();
    assert_eq!(stats["reuse_detected"], 0, "{stats}");
    assert_eq!(stats["families_revoked"], 0, "{stats}");
    assert_eq!(
        stats["refreshes"], 32,
        "exactly one refresh per rotation: {stats}"
    );
    // The session is still alive after all that.
    assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 0);
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
#[test]
fn thirty_two_processes_share_the_real_keychain_safely() {
    let keyring = crate::common::keyring::PrivateKeyring::unlocked();
    let sb = Sandbox::start(&["--auto-approve", "--access-ttl", "2"]);
    let mut env = TestEnv::with_sandbox(&sb);
    env.unset("HSM_CREDENTIAL_STORE");
    env.set("DBUS_SESSION_BUS_ADDRESS", &keyring.bus);
    login_auto(&env, &[]);
    all_succeed(spawn_many(&env, 32));
    let stats = sb.stats();
    assert_eq!(stats["reuse_detected"], 0, "{stats}");
    assert_eq!(stats["refreshes"], 32, "{stats}");
    let rec: serde_json::Value = serde_json::from_str(&keyring.lookup(ACCOUNT).unwrap()).unwrap();
    assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 0);
    let newer: serde_json::Value = serde_json::from_str(&keyring.lookup(ACCOUNT).unwrap()).unwrap();
    assert_ne!(rec["refresh_token"], newer["refresh_token"]);
}

#[test]
fn a_revoked_session_exits_4_and_keeps_the_record() {
    let (sb, env) = logged_in(&[]);
    sb.revoke(None);
    let before = env.stored_record(ACCOUNT).unwrap();
    let out = env.run(&["token", "refresh", "--env", "sandbox"]);
    assert_exit(&out, 4);
    let err = stderr(&out);
    assert!(
        err.contains("invalid_grant") && err.contains("hsm login --env sandbox"),
        "{err}"
    );
    assert_eq!(env.stored_record(ACCOUNT).unwrap(), before, "never deleted");
}

#[test]
fn server_errors_are_retried_with_backoff_then_reported_with_the_store_intact() {
    let (sb, env) = logged_in(&[]);
    sb.set_faults(&["token:503=1x2"]);
    assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 0);
    assert_eq!(sb.stats()["refreshes"], 1);

    let before = env.stored_record(ACCOUNT).unwrap();
    for (fault, code, text) in [
        ("token:502x20", 5, "HTTP 502"),
        ("token:html", 5, "unexpected response"),
        ("token:malformed", 5, "unexpected response"),
    ] {
        sb.set_faults(&[fault]);
        let out = env.run(&["token", "refresh", "--env", "sandbox"]);
        assert_exit(&out, code);
        assert!(stderr(&out).contains(text), "{fault}: {}", stderr(&out));
        assert_eq!(
            env.stored_record(ACCOUNT).unwrap(),
            before,
            "{fault}: store intact"
        );
        sb.clear_faults();
    }
}

#[test]
fn a_refresh_the_server_committed_before_failing_is_never_spent_twice() {
    let (sb, env) = logged_in(&[]);
    let mut refreshes = 0;
    for fault in ["token:commit-then-502", "token:commit-then-lost"] {
        sb.set_faults(&[fault]);
        let before = env.stored_record(ACCOUNT).unwrap();
        let out = env.run(&["token", "refresh", "--env", "sandbox"]);
        assert_exit(&out, 5);
        assert!(
            stderr(&out).contains("unknown"),
            "{fault}: {}",
            stderr(&out)
        );
        assert_eq!(env.stored_record(ACCOUNT).unwrap(), before, "{fault}");
        refreshes += 1;
        let stats = sb.stats();
        assert_eq!(
            stats["refreshes"], refreshes,
            "{fault}: rotated once: {stats}"
        );
        assert_eq!(
            stats["reuse_detected"], 0,
            "{fault}: not spent again: {stats}"
        );
        assert_eq!(stats["families_revoked"], 0, "{fault}: {stats}");
        sb.clear_faults();
        // The server rotated and its answer never arrived: the stored pair is spent, so
        // the next run is a reuse. Start each case from a fresh session.
        login_auto(&env, &[]);
    }
}

#[test]
fn a_refresh_whose_answer_is_lost_is_reported_as_unknown_and_not_retried() {
    let (sb, mut env) = logged_in(&[]);
    env.set("HSM_HTTP_TIMEOUT", "1");
    // Only the first token request is held (past hsm's 1 s timeout). A retry would be
    // answered at once with a rotated pair: hsm would store it and exit 0, so the exit
    // code and the untouched store below catch any retry, whenever it was sent.
    sb.set_faults(&["token:delay=3000"]);
    let before = env.stored_record(ACCOUNT).unwrap();
    let out = env.run(&["token", "refresh", "--env", "sandbox"]);
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("unknown"), "{}", stderr(&out));
    assert_eq!(env.stored_record(ACCOUNT).unwrap(), before);
    // hsm has exited, so nothing more can come from it. The sandbox counts a request when
    // it reads it, before any fault: the one attempt is counted, or about to be.
    let stats = wait_for_stats(&sb, "the refresh attempt to be counted", |s| {
        s["token_requests"].as_u64().unwrap() >= 2
    });
    assert_eq!(
        stats["token_requests"], 2,
        "login + one attempt, no blind retry: {stats}"
    );
    assert_eq!(stats["faults_injected"], 1, "{stats}");
}

/// Poll the sandbox's counters until `cond` holds (20 s at most); returns them.
#[track_caller]
fn wait_for_stats(
    sb: &Sandbox,
    what: &str,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = sb.stats();
        if cond(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "waited 20 s for {what}; sandbox counters: {stats}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Where in a refresh `hsm token print` is SIGKILLed. Either way it holds the refresh lock
/// (taken before the request is sent) and is waiting for the answer.
#[derive(Clone, Copy)]
enum KillPoint {
    /// The request reached the sandbox, which holds it unprocessed.
    BeforeTheServerProcessed,
    /// The sandbox rotated the refresh token and holds back the answer.
    AfterTheServerRotated,
}

/// Expire the stored token, then kill `hsm token print` at `point` of its refresh.
fn kill_mid_refresh(env: &TestEnv, sb: &Sandbox, point: KillPoint) {
    expire_now(env);
    spawn_and_kill_during_refresh(env, sb, point);
}

/// Start `hsm token print` (whose stored token must need a refresh), wait until the sandbox
/// shows its refresh at `point`, and SIGKILL it there. The sandbox holds the request (or its
/// answer) for 60 s, far longer than the test waits, so hsm cannot have finished first.
fn spawn_and_kill_during_refresh(env: &TestEnv, sb: &Sandbox, point: KillPoint) {
    let (fault, counter) = match point {
        // Drawing the fault comes before any processing; the delay comes after drawing it.
        KillPoint::BeforeTheServerProcessed => ("token:delay=60000", "faults_injected"),
        // `lost` processes (rotates) first, then holds the answer back.
        KillPoint::AfterTheServerRotated => ("token:lost=60000", "refreshes"),
    };
    sb.set_faults(&[fault]);
    let before = sb.stats();
    let mut victim = env
        .cmd()
        .args(["token", "print", "--env", "sandbox"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stats = wait_for_stats(sb, &format!("hsm's refresh to show in {counter}"), |s| {
        s[counter].as_u64() > before[counter].as_u64()
    });
    assert_eq!(
        stats["token_requests"].as_u64().unwrap(),
        before["token_requests"].as_u64().unwrap() + 1,
        "exactly one refresh request in flight: {stats}"
    );
    assert!(
        victim.try_wait().unwrap().is_none(),
        "hsm must still be waiting for the answer when it is killed"
    );
    victim.kill().unwrap();
    victim.wait().unwrap();
}

#[test]
fn a_process_killed_before_the_server_answered_leaves_a_usable_store() {
    let (sb, env) = logged_in(&["--access-ttl", "600"]);
    // The server holds the request unprocessed (and drops it once the client is gone).
    kill_mid_refresh(&env, &sb, KillPoint::BeforeTheServerProcessed);
    let before = env.stored_record(ACCOUNT).unwrap();
    // The lock died with the process: the next one neither hangs nor loses the session.
    let out = env.run(&["token", "print", "--env", "sandbox"]);
    assert_exit(&out, 0);
    let after = env.stored_record(ACCOUNT).unwrap();
    assert_ne!(after["refresh_token"], before["refresh_token"]);
    assert_eq!(sb.stats()["reuse_detected"], 0);
}

#[test]
fn a_process_killed_after_the_server_rotated_is_reported_as_needing_login() {
    let (sb, env) = logged_in(&["--access-ttl", "600"]);
    // The server rotates, then the answer is lost and the client dies before storing it.
    kill_mid_refresh(&env, &sb, KillPoint::AfterTheServerRotated);
    let before = env.stored_record(ACCOUNT).unwrap();
    assert_eq!(sb.stats()["refreshes"], 1, "the server did rotate");
    let out = env.run(&["token", "print", "--env", "sandbox"]);
    assert_exit(&out, 4);
    assert!(
        stderr(&out).contains("can no longer be refreshed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.stored_record(ACCOUNT).unwrap(),
        before,
        "kept, never deleted"
    );
}

#[test]
fn access_token_from_the_environment_is_used_as_is() {
    let sb = Sandbox::start(&[]);
    let mut env = TestEnv::with_sandbox(&sb);
    env.set("HSM_ACCESS_TOKEN", "ci-provided-token-123456");
    let out = env.run(&["token", "print", "--env", "sandbox"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out).trim(), "ci-provided-token-123456");
    let out = env.run(&["token", "show", "--env", "sandbox", "--json"]);
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains("ci-provided-token-123456"));
    assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 2);
    assert_eq!(sb.stats()["requests"], 0);
}

#[test]
fn login_warns_that_an_access_token_in_the_environment_still_wins() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let mut env = TestEnv::with_sandbox(&sb);
    env.set("HSM_ACCESS_TOKEN", "ci-provided-token-123456");
    let run = LoginRun::start(&env, &[]);
    let r = http().get(&run.url).send().unwrap();
    visit(r.headers()["location"].to_str().unwrap());
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning: HSM_ACCESS_TOKEN is set"), "{err}");
}

#[test]
fn not_logged_in_fails_fast_naming_login_and_the_ci_variable() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let out = env.run(&["token", "print", "--env", "sandbox"]);
    assert_exit(&out, 4);
    let err = stderr(&out);
    assert!(
        err.contains("hsm login --env sandbox") && err.contains("HSM_ACCESS_TOKEN"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_refresh_waits_for_the_lock_holder_and_says_so() {
    let (sb, env) = logged_in(&["--access-ttl", "600"]);
    expire_now(&env);
    let lock_path = env.path("cache/hsm/locks/sandbox.default.refresh.lock");
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let holder = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    holder.lock().unwrap();
    let requests = sb.stats()["token_requests"].as_u64().unwrap();
    let mut waiter = env
        .cmd()
        .args(["token", "print", "--env", "sandbox"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = spawn_line_reader(waiter.stderr.take().unwrap());
    // hsm says so only after it has found the lock taken for a second.
    let mut err = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let waiting = line.contains("Waiting for another hsm process");
                err.push(line);
                if waiting {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("hsm ended without waiting for the lock: {}", err.join("\n"))
            }
        }
        assert!(
            Instant::now() < deadline,
            "hsm never said it was waiting for the lock within 20 s: {}",
            err.join("\n")
        );
    }
    assert!(
        waiter.try_wait().unwrap().is_none(),
        "waits while another process holds the lock"
    );
    assert_eq!(
        sb.stats()["token_requests"].as_u64().unwrap(),
        requests,
        "nothing sent while the lock is held"
    );
    holder.unlock().unwrap();
    let out = wait_output(waiter, Duration::from_secs(30));
    assert_exit(&out, 0);
    let stored = env.stored_record(ACCOUNT).unwrap();
    assert_eq!(
        stdout(&out).trim(),
        stored["access_token"].as_str().unwrap()
    );
    assert_eq!(sb.stats()["refreshes"], 1);
}

/// The failure paths again, against a real Secret Service: the record must be left exactly
/// as it was, whatever the server does. (A private Secret Service: see common::keyring.)
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod keychain_store {
    use super::*;
    use crate::common::keyring::PrivateKeyring;

    fn session(extra: &[&str]) -> (Sandbox, TestEnv, PrivateKeyring) {
        let keyring = PrivateKeyring::unlocked();
        let mut args = vec!["--auto-approve"];
        args.extend_from_slice(extra);
        let sb = Sandbox::start(&args);
        let mut env = TestEnv::with_sandbox(&sb);
        env.unset("HSM_CREDENTIAL_STORE");
        env.set("DBUS_SESSION_BUS_ADDRESS", &keyring.bus);
        login_auto(&env, &[]);
        (sb, env, keyring)
    }

    #[test]
    fn invalid_grant_exits_4_and_keeps_the_keychain_record() {
        let (sb, env, keyring) = session(&[]);
        let before = keyring.lookup(ACCOUNT).unwrap();
        sb.revoke(None);
        let out = env.run(&["token", "refresh", "--env", "sandbox"]);
        assert_exit(&out, 4);
        assert_eq!(keyring.lookup(ACCOUNT).unwrap(), before);
    }

    #[test]
    fn server_errors_html_and_lost_answers_leave_the_keychain_record_intact() {
        let (sb, mut env, keyring) = session(&[]);
        env.set("HSM_HTTP_TIMEOUT", "1");
        let before = keyring.lookup(ACCOUNT).unwrap();
        for fault in [
            "token:503=1x20",
            "token:502x20",
            "token:html",
            "token:malformed",
            "token:delay=3000",
        ] {
            sb.set_faults(&[fault]);
            let out = env.run(&["token", "refresh", "--env", "sandbox"]);
            assert_exit(&out, 5);
            assert_eq!(keyring.lookup(ACCOUNT).unwrap(), before, "{fault}");
            sb.clear_faults();
        }
    }

    #[test]
    fn sigkill_after_the_server_rotated_is_reported_and_the_record_kept() {
        // Every token expires within the refresh margin, so `token print` refreshes.
        let (sb, env, keyring) = session(&["--access-ttl", "2"]);
        let before = keyring.lookup(ACCOUNT).unwrap();
        spawn_and_kill_during_refresh(&env, &sb, KillPoint::AfterTheServerRotated);
        assert_eq!(keyring.lookup(ACCOUNT).unwrap(), before);
        let out = env.run(&["token", "print", "--env", "sandbox"]);
        assert_exit(&out, 4);
        assert_eq!(keyring.lookup(ACCOUNT).unwrap(), before);
    }
}

#[test]
fn a_rotated_pair_that_cannot_be_stored_is_reported_loudly() {
    let (sb, env) = logged_in(&[]);
    // The store stays readable but can no longer be written (its lock path is a directory).
    let lock = env.path("data/hsm/credentials.json.lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    let out = env.run(&["token", "refresh", "--env", "sandbox"]);
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(
        err.contains("refreshed but the rotated tokens could not be stored"),
        "{err}"
    );
    assert!(err.contains("hsm login --env sandbox"), "{err}");
    assert_eq!(
        sb.stats()["refreshes"],
        1,
        "spent once, not retried with the dead token"
    );
}

#[test]
fn concurrent_refreshes_of_many_profiles_lose_no_update_in_the_file_store() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let env = TestEnv::with_sandbox(&sb);
    let profiles: Vec<String> = (0..8).map(|i| format!("p{i}")).collect();
    for p in &profiles {
        login_auto(&env, &["--profile", p]);
    }
    // Every profile refreshes three times, all at once: each refresh rewrites the one file.
    let children: Vec<Child> = profiles
        .iter()
        .flat_map(|p| std::iter::repeat_n(p, 3))
        .map(|p| {
            env.cmd()
                .args(["token", "refresh", "--env", "sandbox", "--profile", p])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        assert_exit(&wait_output(c, Duration::from_secs(60)), 0);
    }
    assert_eq!(sb.stats()["reuse_detected"], 0);
    // Had one write overwritten another's, that profile would hold a dead refresh token.
    for p in &profiles {
        assert_exit(
            &env.run(&["token", "refresh", "--env", "sandbox", "--profile", p]),
            0,
        );
    }
    // Concurrent `token refresh` of one profile may share one sibling's rotation.
    let refreshes = sb.stats()["refreshes"].as_u64().unwrap();
    assert!((16..=32).contains(&refreshes), "{refreshes}");
}

/// SIGINT, SIGTERM or SIGHUP while the refresh is at the server: hsm waits for the rotated
/// pair, stores it, then exits 128+N; the session lives on (no reuse, no revoked family).
#[cfg(unix)]
#[test]
fn a_signal_during_a_refresh_waits_for_the_rotated_pair_to_be_stored() {
    let (sb, env) = logged_in(&[]);
    for (signal, code) in [
        (libc::SIGTERM, 143),
        (libc::SIGINT, 130),
        (libc::SIGHUP, 129),
    ] {
        let before = env.stored_record(ACCOUNT).unwrap();
        let sent = sb.stats()["token_requests"].as_u64().unwrap();
        // The server answers (and rotates) 1.5 s after it reads the request.
        sb.set_faults(&["token:delay=1500"]);
        let child = env
            .cmd()
            .args(["token", "refresh", "--env", "sandbox"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_stats(&sb, "the refresh to reach the server", |s| {
            s["token_requests"].as_u64().unwrap() > sent
        });
        std::thread::sleep(Duration::from_millis(200));
        // SAFETY: plain syscall on our own child.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
        let out = wait_output(child, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(code), "{signal}: {}", stderr(&out));
        let after = env.stored_record(ACCOUNT).unwrap();
        assert_ne!(
            after["refresh_token"], before["refresh_token"],
            "{signal}: the rotated pair was stored"
        );
        sb.clear_faults();
        assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 0);
        let stats = sb.stats();
        assert_eq!(stats["reuse_detected"], 0, "{signal}: {stats}");
        assert_eq!(stats["families_revoked"], 0, "{signal}: {stats}");
    }
}

/// The refresh token of `account` in the file store at `path`.
#[cfg(unix)]
fn stored_refresh_token(path: &std::path::Path) -> serde_json::Value {
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let rec: serde_json::Value =
        serde_json::from_str(file["entries"][ACCOUNT].as_str().unwrap()).unwrap();
    rec["refresh_token"].clone()
}

#[cfg(unix)]
#[test]
fn a_credentials_file_that_is_a_symlink_is_written_through_to_its_target() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let mut env = TestEnv::with_sandbox(&sb);
    let saved = env.path("saved");
    std::fs::create_dir_all(&saved).unwrap();
    let target = saved.join("creds.json");
    let link = env.path("creds-link.json");
    std::os::unix::fs::symlink("saved/creds.json", &link).unwrap();
    env.set("HSM_CREDENTIALS_FILE", link.to_str().unwrap());
    login_auto(&env, &[]);
    let first = stored_refresh_token(&target);
    assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 0);
    let is_link = std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink();
    assert!(is_link, "the link is still a link");
    let rotated = stored_refresh_token(&target);
    assert_ne!(rotated, first, "the target holds the rotated token");
    assert!(
        saved.join("creds.json.lock").exists(),
        "the lock is beside the target"
    );
    // The next refresh spends the rotated token: no reuse.
    assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 0);
    assert_eq!(sb.stats()["reuse_detected"], 0);
}

#[cfg(unix)]
#[test]
fn temp_files_a_killed_write_left_holding_tokens_are_removed_by_the_next_write() {
    let (_sb, env) = logged_in(&[]);
    let dir = env.creds_file().parent().unwrap().to_path_buf();
    // What a SIGKILL mid-write leaves: this build's name, and earlier builds' (a minute old).
    let ours = dir.join(".credentials.json.AbC123.tmp");
    std::fs::write(&ours, "{\"refresh_token\":\"sbx_rt_live\"}").unwrap();
    let legacy = dir.join(".credentialsXy9Z0q");
    std::fs::write(&legacy, "{\"refresh_token\":\"sbx_rt_live\"}").unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&legacy)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 0);
    assert!(
        !ours.exists() && !legacy.exists(),
        "orphaned temp files removed"
    );
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Outside input that used to panic (exit 101/134): timeouts, far-future expiries, huge TTLs.
/// Each gets one clear line and an exit code from the table, never a panic.
#[test]
fn extreme_timeouts_and_expiries_never_panic() {
    let (sb, mut env) = logged_in(&[]);
    let no_panic = |out: &std::process::Output, what: &str| {
        let err = stderr(out);
        assert!(
            !err.contains("panicked") && !matches!(out.status.code(), Some(101 | 134) | None),
            "{what}: {:?} {err}",
            out.status.code()
        );
    };
    for value in [
        "inf",
        "1e30",
        "1e18",
        "18446744073709551615",
        "nan",
        "-1",
        "1e-300",
    ] {
        env.set("HSM_HTTP_TIMEOUT", value);
        env.set("HSM_KEYCHAIN_TIMEOUT", value);
        for args in [
            &["token", "refresh", "--env", "sandbox"][..],
            &["status"][..],
        ] {
            let out = env.run(args);
            no_panic(&out, &format!("{value} {args:?}"));
        }
    }
    env.unset("HSM_HTTP_TIMEOUT");
    env.unset("HSM_KEYCHAIN_TIMEOUT");
    for expires_at in [u64::MAX / 2, u64::MAX, 253_402_300_800, 1 << 62] {
        edit_record(&env, ACCOUNT, |r| {
            r["expires_at"] = serde_json::json!(expires_at)
        });
        for args in [
            &["token", "show", "--env", "sandbox"][..],
            &["token", "show", "--env", "sandbox", "--json"][..],
            &["status"][..],
            &["token", "print", "--env", "sandbox"][..],
        ] {
            let out = env.run(args);
            no_panic(&out, &format!("expires_at {expires_at} {args:?}"));
        }
    }
    // The sandbox refuses a lifetime that would overflow its clock, at the parser.
    let out = env.run(&[
        "sandbox",
        "--port",
        "0",
        "--access-ttl",
        "18446744073709551615",
    ]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--access-ttl"), "{}", stderr(&out));
    let _ = sb;
}

#[test]
fn a_refresh_lock_held_too_long_says_to_wait_or_stop_the_holder_not_to_remove_the_file() {
    let (_sb, env) = logged_in(&[]);
    let dir = env.path("cache/hsm/locks");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::File::create(dir.join("sandbox.default.refresh.lock")).unwrap();
    lock.lock().unwrap();
    let out = run_with_timeout(
        env.cmd().args(["token", "refresh", "--env", "sandbox"]),
        Duration::from_secs(90),
    );
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(
        err.contains("holds the lock") && !err.contains("remove"),
        "{err}"
    );
    drop(lock);
}

#[test]
fn a_stored_token_with_a_line_break_is_a_store_error_not_a_network_one() {
    let (sb, env) = logged_in(&[]);
    edit_record(&env, ACCOUNT, |r| {
        let token = r["access_token"].as_str().unwrap().to_string();
        r["access_token"] = serde_json::json!(format!("{token}\r\n"));
    });
    let out = env.run(&[
        "contacts",
        "search",
        "--env",
        "sandbox",
        "--first-name",
        "A",
        "--last-name",
        "B",
        "--birth-date",
        "01/02/1950",
    ]);
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(err.contains("damaged") && !err.contains('\r'), "{err}");
    assert_eq!(sb.stats()["api_requests"], 0);
}

/// The import report's lines with `status` that were refused with `http_status`.
fn report_failures(path: &std::path::Path, http_status: u16) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["status"] == "failed" && l["http_status"] == http_status)
        .count()
}

/// A refresh that waits on the store (here the file store's lock, held by another process)
/// waits off the runtime thread: the import's other requests in flight are answered and
/// journaled meanwhile, instead of stalling until the store is free.
#[test]
fn a_refresh_waiting_on_the_store_does_not_stall_the_requests_in_flight() {
    let (sb, env) = logged_in(&["--latency-ms", "1000"]);
    // A token the server does not know and our clock thinks valid: the first create that
    // reaches the application is rejected with 401 and refreshes.
    edit_record(&env, ACCOUNT, |r| {
        r["access_token"] = serde_json::json!("rejected-by-the-server")
    });
    let before = env.stored_record(ACCOUNT).unwrap();
    let rows = env.path("rows.jsonl");
    let mut text = String::new();
    for i in 1..=3 {
        text.push_str(&format!(
            "{{\"external_id\":\"CRM{i}\",\"first_name\":\"F{i}\",\"last_name\":\"L\",\"birth_date\":\"1950-01-0{i}\",\"zip\":\"94103\"}}\n"
        ));
    }
    write_file(&rows, &text);
    // Of the two creates sent at once, one is refused (422, no token needed) and one reaches
    // the application (401: the refresh). The third row, sent when the first is settled, is
    // refused a second later, while the refresh is waiting for the store.
    sb.set_faults(&["create:422x1", "create:delay=1x1", "create:422x1"]);
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(env.path("data/hsm/credentials.json.lock"))
        .unwrap();
    lock.lock().unwrap();
    let child = env
        .cmd()
        .args([
            "contacts",
            "import",
            rows.to_str().unwrap(),
            "--env",
            "sandbox",
        ])
        .args(["--concurrency", "2", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_stats(&sb, "the refresh", |s| s["refreshes"].as_u64().unwrap() > 0);
    let report = env.path("rows.jsonl.report.jsonl");
    let deadline = Instant::now() + Duration::from_secs(20);
    while report_failures(&report, 422) < 2 {
        assert!(
            Instant::now() < deadline,
            "the third row's answer was not journaled while the refresh waited for the store (stats {})",
            sb.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The rotated pair is still waiting for the store: nothing was lost or spent twice.
    assert_eq!(
        env.stored_record(ACCOUNT).unwrap()["refresh_token"],
        before["refresh_token"]
    );
    lock.unlock().unwrap();
    let out = wait_output(child, Duration::from_secs(60));
    assert_exit(&out, 3);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["created"], 1, "{summary}");
    assert_ne!(
        env.stored_record(ACCOUNT).unwrap()["refresh_token"],
        before["refresh_token"]
    );
    let stats = sb.stats();
    assert_eq!(stats["refreshes"], 1, "{stats}");
    assert_eq!(stats["reuse_detected"], 0, "{stats}");
}

/// A rotated pair whose write cannot finish by the store's deadline (the file store's lock
/// held past the 30 s lock wait) is reported as of unknown outcome, exit 6, never as "not
/// stored"; nothing is spent twice.
#[test]
fn a_rotated_pair_write_past_its_deadline_is_reported_as_unknown() {
    let (sb, env) = logged_in(&[]);
    let before = env.stored_record(ACCOUNT).unwrap();
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(env.path("data/hsm/credentials.json.lock"))
        .unwrap();
    lock.lock().unwrap();
    let out = run_with_timeout(
        env.cmd().args(["token", "refresh", "--env", "sandbox"]),
        Duration::from_secs(90),
    );
    lock.unlock().unwrap();
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(
        err.contains("did not finish storing the rotated tokens within 30 s")
            && err.contains("whether they are stored is unknown")
            && !err.contains("could not be stored"),
        "{err}"
    );
    assert!(err.contains("hsm login --env sandbox"), "{err}");
    // hsm exited with the write still waiting for the lock: it never landed.
    assert_eq!(env.stored_record(ACCOUNT).unwrap(), before);
    let stats = sb.stats();
    assert_eq!(stats["refreshes"], 1, "spent once: {stats}");
    assert_eq!(stats["reuse_detected"], 0, "{stats}");
}

#[test]
fn an_unusable_numeric_variable_is_exit_2_naming_it_and_its_range() {
    let (sb, mut env) = logged_in(&[]);
    let before = sb.stats()["requests"].clone();
    for name in [
        "HSM_HTTP_TIMEOUT",
        "HSM_KEYCHAIN_TIMEOUT",
        "HSM_ETCD_TIMEOUT",
    ] {
        for bad in ["abc", "-1", "inf", "NaN", "0"] {
            env.set(name, bad);
            for args in [
                &["token", "print", "--env", "sandbox"][..],
                &[
                    "contacts",
                    "search",
                    "--env",
                    "sandbox",
                    "--medicare-number",
                    "1EG4TE5MK73",
                ],
                &["status"],
            ] {
                let out = env.run(args);
                assert_exit(&out, 2);
                assert_eq!(
                    stderr(&out).trim(),
                    format!(
                        "error: {name} must be a number of seconds from 0.1 to 86400 (got `{bad}`)"
                    ),
                    "{args:?}"
                );
            }
        }
        env.unset(name);
    }
    assert_eq!(sb.stats()["requests"], before, "nothing was sent");
    assert_exit(&env.run(&["token", "print", "--env", "sandbox"]), 0);
}

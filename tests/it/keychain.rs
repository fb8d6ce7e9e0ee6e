//! The credential store against a real Secret Service (a private gnome-keyring per test).

use crate::common::keyring::PrivateKeyring;
use crate::common::*;

fn keychain_env(sb: &Sandbox, keyring: &PrivateKeyring) -> TestEnv {
    let mut env = TestEnv::with_sandbox(sb);
    env.unset("HSM_CREDENTIAL_STORE");
    env.set("DBUS_SESSION_BUS_ADDRESS", &keyring.bus);
    env
}

#[test]
fn login_stores_one_record_in_the_secret_service_and_logout_removes_it() {
    let Some(keyring) = PrivateKeyring::unlocked() else {
        return;
    };
    let sb = Sandbox::start(&["--auto-approve"]);
    let env = keychain_env(&sb, &keyring);
    for _ in 0..2 {
        // A second login updates the record in place.
        let run = LoginRun::start(&env, &[]);
        let loc = http().get(&run.url).send().unwrap();
        visit(loc.headers()["location"].to_str().unwrap());
        let (code, err, _) = run.finish();
        assert_eq!(code, Some(0), "{err}");
        assert!(err.contains("keychain"), "{err}");
    }
    let raw = keyring
        .lookup("sandbox/default")
        .expect("record in the Secret Service");
    let rec: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert!(rec["access_token"].as_str().unwrap().len() > 20);
    assert!(rec["refresh_token"].is_string());
    assert!(raw.len() < 2560, "under the Windows credential size limit");
    assert!(!env.creds_file().exists(), "no plaintext fallback");
    assert_eq!(
        keyring.lookup(".probe"),
        None,
        "the probe entry is cleaned up"
    );

    let show = env.run(&["token", "show", "--env", "sandbox", "--json"]);
    assert_exit(&show, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    assert_eq!(v["store"], "keychain");
    assert_eq!(v["status"], "valid");
    assert_eq!(v["checked"], false);

    assert_exit(&env.run(&["logout", "--env", "sandbox"]), 0);
    assert_eq!(keyring.lookup("sandbox/default"), None);
    assert_exit(&env.run(&["token", "show", "--env", "sandbox"]), 4);
}

#[test]
fn a_locked_keychain_exits_6_before_the_browser_opens() {
    let Some(keyring) = PrivateKeyring::locked() else {
        return;
    };
    let sb = Sandbox::start(&[]);
    let env = keychain_env(&sb, &keyring);
    let out = env.run(&["login", "--env", "sandbox"]);
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(err.contains("the OS keychain is locked"), "{err}");
    assert!(err.contains("unlock"), "{err}");
    assert!(
        !err.contains("no OS keychain on this machine"),
        "locked, not missing: {err}"
    );
    assert!(err.contains("HSM_CREDENTIAL_STORE=file"), "{err}");
    assert!(!err.contains("/oauth/authorize"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_keychain_that_never_answers_is_abandoned_after_the_deadline() {
    // A "session bus" that accepts connections and never says a word, like a keyring
    // daemon stuck behind an unlock prompt no one will answer.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let sb = Sandbox::start(&[]);
    let mut env = TestEnv::with_sandbox(&sb);
    env.unset("HSM_CREDENTIAL_STORE");
    env.set(
        "DBUS_SESSION_BUS_ADDRESS",
        &format!("unix:path={}", socket.display()),
    );
    env.set("HSM_KEYCHAIN_TIMEOUT", "1");
    let started = std::time::Instant::now();
    let out = env.run(&["login", "--env", "sandbox"]);
    assert_exit(&out, 6);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let err = stderr(&out);
    assert!(
        err.contains("did not answer within 1 s") && err.contains("HSM_KEYCHAIN_TIMEOUT"),
        "{err}"
    );
    assert!(!err.contains("/oauth/authorize"), "{err}");
    // Commands that use the session (the store on the blocking pool, one deadline) give up
    // as soon, and leave nothing running behind them.
    for args in [
        &["token", "refresh", "--env", "sandbox"][..],
        &[
            "contacts",
            "create",
            "--env",
            "sandbox",
            "--external-id",
            "K1",
            "--first-name",
            "A",
            "--last-name",
            "B",
        ],
    ] {
        let started = std::time::Instant::now();
        let out = env.run(args);
        assert_exit(&out, 6);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let err = stderr(&out);
        assert!(
            err.contains("within 1 s") && err.contains("HSM_KEYCHAIN_TIMEOUT"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(sb.stats()["contacts_created"], 0);
}

#[test]
fn status_and_the_sticky_environment_find_keychain_sessions_by_attribute_search() {
    let Some(keyring) = PrivateKeyring::unlocked() else {
        return;
    };
    let sb = Sandbox::start(&["--auto-approve"]);
    let env = keychain_env(&sb, &keyring);
    let out = env.run(&["status"]);
    assert_exit(&out, 4);
    assert!(
        stderr(&out).contains("no stored session in the OS keychain"),
        "{}",
        stderr(&out)
    );
    login_auto(&env, &[]);
    login_auto(&env, &["--profile", "ci"]);

    let out = env.run(&["status", "--json"]);
    assert_exit(&out, 0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let who: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}/{} {}",
                r["env"].as_str().unwrap(),
                r["profile"].as_str().unwrap(),
                r["store"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(who, ["sandbox/ci keychain", "sandbox/default keychain"]);
    assert!(rows.iter().all(|r| r["usable"] == true));

    // No --env: the keychain's only environment is used.
    let out = env.run(&["token", "show", "--json"]);
    assert_exit(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["env"], "sandbox");
}

/// As on a fresh server or over SSH: no D-Bus session bus at all (no variable, and an empty
/// runtime dir, so no default bus either).
fn without_any_dbus(env: &mut TestEnv) {
    env.unset("HSM_CREDENTIAL_STORE");
    env.unset("DBUS_SESSION_BUS_ADDRESS");
    let run = env.path("run");
    std::fs::create_dir_all(&run).unwrap();
    env.set("XDG_RUNTIME_DIR", run.to_str().unwrap());
}

#[test]
fn with_no_dbus_session_at_all_hsm_says_there_is_no_keychain_not_that_it_is_locked() {
    let sb = Sandbox::start(&[]);
    let mut env = TestEnv::with_sandbox(&sb);
    without_any_dbus(&mut env);
    for args in [
        &["login", "--env", "sandbox"][..],
        &["token", "show", "--env", "sandbox"],
    ] {
        let started = std::time::Instant::now();
        let out = env.run(args);
        assert_exit(&out, 6);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let err = stderr(&out);
        assert!(
            err.contains("no OS keychain on this machine: no D-Bus session"),
            "{err}"
        );
        assert!(!err.contains("locked") && !err.contains("zbus"), "{err}");
        assert!(
            err.contains("HSM_CREDENTIAL_STORE=file"),
            "without a terminal the hint names the variable: {err}"
        );
        assert_eq!(err.lines().count(), 2, "{err}");
        assert!(!err.contains("/oauth/authorize"), "{err}");
    }
    assert!(!env.creds_file().exists(), "never a silent fallback");
    // The hint works.
    env.set("HSM_CREDENTIAL_STORE", "file");
    assert_exit(&env.run(&["token", "show", "--env", "sandbox"]), 4);
}

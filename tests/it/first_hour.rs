//! The first hour of an operator: the environment that sticks after a login, `hsm status`,
//! and `token show` saying what it checked.

use serde_json::Value;

use crate::common::*;

/// Copy the stored record of `from` to the account `to` in the file store.
fn copy_session(env: &TestEnv, from: &str, to: &str) {
    let path = env.creds_file();
    let mut file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let rec = file["entries"][from].clone();
    file["entries"][to] = rec;
    std::fs::write(&path, file.to_string()).unwrap();
}

#[test]
fn with_no_env_chosen_the_only_stored_session_is_used_and_several_are_listed() {
    let (_sb, mut env) = logged_in(&[]);
    let out = env.run(&["token", "show", "--json", "-v"]);
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["env"], "sandbox");
    assert!(
        stderr(&out).contains("using sandbox, the only one with a stored session"),
        "{}",
        stderr(&out)
    );
    // Without -v it says nothing.
    let out = env.run(&["token", "show"]);
    assert_exit(&out, 0);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // Contacts go there too.
    let out = env.run(&[
        "contacts",
        "create",
        "--external-id",
        "S1",
        "--first-name",
        "A",
        "--last-name",
        "B",
    ]);
    assert_exit(&out, 0);

    // Another profile's session does not count for this profile.
    copy_session(&env, "sandbox/default", "staging/work");
    assert_exit(&env.run(&["token", "show"]), 0);

    copy_session(&env, "sandbox/default", "staging/default");
    let out = env.run(&["token", "show"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("several: sandbox, staging"), "{err}");
    assert!(err.contains("--env"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    // A choice settles it: flag, variable or default_env.
    assert_exit(&env.run(&["token", "show", "--env", "sandbox"]), 0);
    env.set("HSM_ENV", "sandbox");
    assert_exit(&env.run(&["token", "show"]), 0);
    env.unset("HSM_ENV");
    write_file(
        &env.path("config/hsm/config.toml"),
        "default_env = \"sandbox\"\n",
    );
    assert_exit(&env.run(&["token", "show"]), 0);
}

#[test]
fn with_no_session_at_all_the_default_stays_production() {
    let env = TestEnv::new();
    let out = env.run(&["token", "show"]);
    assert_exit(&out, 4);
    assert!(
        stderr(&out).contains("not logged in to production"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_lists_every_stored_session_and_exits_4_when_none_is_usable() {
    let (_sb, env) = logged_in(&[]);
    copy_session(&env, "sandbox/default", "sandbox/ci");
    edit_record(&env, "sandbox/ci", |r| {
        r["expires_at"] = 1.into();
        r.as_object_mut().unwrap().remove("refresh_token");
    });
    let out = env.run(&["status"]);
    assert_exit(&out, 0);
    let table = stdout(&out);
    let row = |who: &str| {
        table
            .lines()
            .find(|l| l.starts_with(who))
            .unwrap_or_else(|| panic!("{who}: {table}"))
            .to_string()
    };
    assert!(
        row("sandbox/default").contains("file") && row("sandbox/default").contains("yes"),
        "{table}"
    );
    assert!(row("sandbox/ci").contains("run hsm login"), "{table}");
    assert!(
        !table.contains(
            &env.stored_record("sandbox/default").unwrap()["access_token"]
                .as_str()
                .unwrap()[..12]
        ),
        "no token shown"
    );

    let out = env.run(&["status", "--json"]);
    assert_exit(&out, 0);
    let rows: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(rows.len(), 2);
    let default = rows.iter().find(|r| r["profile"] == "default").unwrap();
    assert_eq!(default["store"], "file");
    assert_eq!(default["scope"], "partner_api_v2");
    assert_eq!(default["refreshable"], true);
    assert_eq!(default["usable"], true);
    assert!(default["expires"].is_string());
    let ci = rows.iter().find(|r| r["profile"] == "ci").unwrap();
    assert_eq!(ci["usable"], false);

    assert_exit(&env.run(&["logout", "--env", "sandbox"]), 0);
    let out = env.run(&["status"]);
    assert_exit(&out, 4);
    assert!(
        stderr(&out).contains("no usable session"),
        "{}",
        stderr(&out)
    );
    assert_exit(
        &env.run(&["logout", "--env", "sandbox", "--profile", "ci"]),
        0,
    );
    let out = env.run(&["status", "--json"]);
    assert_exit(&out, 4);
    assert_eq!(stdout(&out).trim(), "[]");
    assert!(
        stderr(&out).contains("no stored session"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_with_an_unreadable_store_is_exit_6() {
    let env = TestEnv::new();
    write_file(&env.creds_file(), "{not json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(env.creds_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = env.run(&["status"]);
    assert_exit(&out, 6);
}

#[test]
fn token_show_says_it_did_not_check_and_check_asks_the_server() {
    let (sb, env) = logged_in(&[]);
    let out = env.run(&["token", "show", "--env", "sandbox"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("not checked with the server"),
        "{}",
        stdout(&out)
    );
    let out = env.run(&["token", "show", "--env", "sandbox", "--check", "--json"]);
    assert_exit(&out, 0);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["checked"].as_bool()),
        (Some("valid"), Some(true))
    );
    assert_eq!(
        sb.stats()["contacts_created"],
        0,
        "the check creates nothing"
    );

    sb.revoke(None);
    let out = env.run(&["token", "show", "--env", "sandbox"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("not checked"), "{}", stdout(&out));
    let out = env.run(&["token", "show", "--env", "sandbox", "--check"]);
    assert_exit(&out, 4);
    assert!(stderr(&out).contains("hsm login"), "{}", stderr(&out));
}

#[test]
fn quickstart_shows_cargo_at_work_and_runs_end_to_end() {
    // A stand-in `cargo` on PATH: the real one would rebuild with other features than the test
    // build (feature unification) and relink the binary other tests are running. It records
    // its arguments and prints a progress line, as cargo does on stderr; the binary it would
    // build is the one this test run built.
    let env = TestEnv::new();
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let args = env.path("cargo-args");
    write_file(
        &bin.join("cargo"),
        &format!(
            "#!/bin/sh\necho \"$@\" > '{}'\necho '   Compiling hsm v0.1.0 (stand-in)' >&2\n",
            args.display()
        ),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("cargo"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(root.join("scripts/quickstart.sh"))
        .env("PATH", std::env::join_paths(dirs).unwrap());
    let out = run_with_timeout(&mut cmd, std::time::Duration::from_secs(120));
    let err = stderr(&out);
    assert_exit(&out, 0);
    assert_eq!(
        std::fs::read_to_string(&args).unwrap().trim(),
        "build",
        "no --quiet"
    );
    assert!(err.contains("Building hsm with cargo"), "{err}");
    assert!(
        err.contains("Compiling hsm v0.1.0 (stand-in)"),
        "cargo's progress reaches the user: {err}"
    );
    assert!(
        stdout(&out).contains("sandbox/default"),
        "ends with hsm status: {}",
        stdout(&out)
    );
}

/// Issue 26: after `hsm sandbox` restarts (same port), its sessions are gone. `hsm status`
/// says so instead of "valid", a command says why the refresh failed and what to do, and with
/// no sandbox running, commands and `hsm status` ask whether it is running.
#[test]
fn a_restarted_or_stopped_sandbox_is_named_as_such() {
    let first = Sandbox::start(&["--auto-approve"]);
    let port: u16 = first.base_url.rsplit(':').next().unwrap().parse().unwrap();
    let mut env = TestEnv::with_sandbox(&first);
    env.set("HSM_ENV", "sandbox");
    login_auto(&env, &[]);
    let out = env.run(&["status"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("access token valid"),
        "{}",
        stdout(&out)
    );

    // The same port, a new sandbox: it never issued this session.
    drop(first);
    let mut config = crate::common::sandbox::config(&["--auto-approve"]);
    config.port = port;
    let _second = Sandbox::in_process(config);
    let out = env.run(&["status"]);
    assert_exit(&out, 4);
    let table = stdout(&out);
    assert!(
        table.contains("restarted") && table.contains("hsm login --env sandbox"),
        "{table}"
    );
    assert!(!table.contains("access token valid"), "{table}");

    // A command: its access token is unknown, so it refreshes, and the refresh is refused.
    let out = env.run(&["contacts", "search", "--medicare-number", "1EG4TE5MK73"]);
    assert_exit(&out, 4);
    assert!(
        stderr(&out).contains("a restarted `hsm sandbox` forgets every session"),
        "{}",
        stderr(&out)
    );

    // No sandbox at all.
    drop(_second);
    let out = env.run(&["token", "refresh"]);
    assert_exit(&out, 5);
    assert!(
        stderr(&out).contains("is `hsm sandbox` running?"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["status"]);
    assert_exit(&out, 4);
    assert!(
        stdout(&out).contains(&format!(
            "no hsm sandbox is running at http://127.0.0.1:{port}"
        )),
        "{}",
        stdout(&out)
    );
}

/// With a valid access token and no sandbox, an API call's "cannot reach" names the sandbox.
#[test]
fn an_api_call_to_a_stopped_sandbox_asks_whether_it_is_running() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let mut env = TestEnv::with_sandbox(&sb);
    env.set("HSM_ENV", "sandbox").set("HSM_HTTP_TIMEOUT", "2");
    login_auto(&env, &[]);
    drop(sb);
    let out = env.run(&["contacts", "search", "--medicare-number", "1EG4TE5MK73"]);
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert!(err.contains("cannot reach http://127.0.0.1:"), "{err}");
    assert!(err.contains("is `hsm sandbox` running?"), "{err}");
}

/// Issue 26: the consent without a browser, as `hsm sandbox --help` and the README tell it: the
/// curl line from the help, run by a shell, prints the redirect URL that `hsm login
/// --no-browser` takes on stdin.
#[test]
fn the_documented_curl_line_approves_the_sandbox_consent_without_a_browser() {
    let env = TestEnv::new();
    let help = stdout(&env.run(&["sandbox", "--help"]));
    let curl = help
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("curl "))
        .unwrap_or_else(|| panic!("no curl line in:\n{help}"))
        .to_string();
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    assert!(
        readme.contains(&curl),
        "the README has the same line: {curl}"
    );

    let sb = Sandbox::start(&["--auto-approve"]);
    let env = TestEnv::with_sandbox(&sb);
    let mut run = LoginRun::start_with(&env, &["--no-browser"], LoginStdin::Pipe(""));
    assert!(!run.url.is_empty(), "hsm login printed the authorize URL");
    let line = curl.replace("'AUTHORIZE_URL'", "\"$1\"");
    let out = std::process::Command::new("sh")
        .args(["-c", &line, "sh", &run.url])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let redirect = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        redirect.starts_with(&format!(
            "http://127.0.0.1:{}/callback?code=",
            run.redirect_port
        )),
        "{redirect:?} {out:?}"
    );
    {
        use std::io::Write;
        let mut stdin = run.child.stdin.take().unwrap();
        stdin.write_all(redirect.as_bytes()).unwrap();
    }
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(env.stored_record("sandbox/default").is_some());
}

//! `hsm login`, `logout` and `token show` against the sandbox over real sockets.

use std::io::Write;

use crate::common::*;

fn logged_in(env: &TestEnv) -> serde_json::Value {
    env.stored_record("sandbox/default")
        .expect("a stored record")
}

#[test]
fn login_through_the_consent_page_stores_tokens_and_token_show_reports_them() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let run = LoginRun::start(&env, &[]);
    assert!(
        run.url.contains("code_challenge_method=S256"),
        "{}",
        run.url
    );
    assert!(run.url.contains("state="), "{}", run.url);
    let redirect = consent(&run.url, "approve");
    assert!(redirect.contains("code="), "{redirect}");
    let (status, page) = visit(&redirect);
    let (code, err, out) = run.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(status, 200);
    assert!(page.contains("Logged in"), "{page}");
    assert!(out.is_empty(), "login prints nothing on stdout: {out}");

    let rec = logged_in(&env);
    let access = rec["access_token"].as_str().unwrap();
    let refresh = rec["refresh_token"].as_str().unwrap();
    assert_eq!(rec["client_id"], "hsm-sandbox");
    assert_eq!(rec["scope"], "partner_api_v2");
    assert!(rec["expires_at"].as_u64().unwrap() > 0);
    // Secrets never reach the terminal or the page.
    for secret in [access, refresh] {
        assert!(!err.contains(secret) && !page.contains(secret));
    }
    assert!(!err.contains("hsm-sandbox-secret"));

    let show = env.run(&["token", "show", "--env", "sandbox", "--json"]);
    assert_exit(&show, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    assert_eq!(v["env"], "sandbox");
    assert_eq!(v["profile"], "default");
    assert_eq!(v["store"], "file");
    assert_eq!(v["status"], "valid");
    assert_eq!(v["scope"], "partner_api_v2");
    assert!(v["expires_in"].as_i64().unwrap() > 3000);
    let shown = stdout(&show);
    assert!(
        !shown.contains(access) && !shown.contains(refresh),
        "tokens are masked"
    );
    assert!(v["access_token"].as_str().unwrap().starts_with("****"));
    assert_eq!(sb.stats()["code_exchanges"], 1);
}

#[cfg(unix)]
#[test]
fn credentials_file_is_private_and_logout_removes_only_this_record() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::start(&["--auto-approve"]);
    let env = TestEnv::with_sandbox(&sb);
    for profile in ["default", "work"] {
        let run = LoginRun::start(&env, &["--profile", profile]);
        visit(&follow(&run.url));
        assert_eq!(run.finish().0, Some(0));
    }
    let mode = std::fs::metadata(env.creds_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let out = env.run(&["logout", "--env", "sandbox", "--profile", "work"]);
    assert_exit(&out, 0);
    assert!(env.stored_record("sandbox/work").is_none());
    assert!(
        env.stored_record("sandbox/default").is_some(),
        "other profile kept"
    );
    // Logging out twice is fine, and token show then says how to log in.
    assert_exit(
        &env.run(&["logout", "--env", "sandbox", "--profile", "work"]),
        0,
    );
    let show = env.run(&["token", "show", "--env", "sandbox", "--profile", "work"]);
    assert_exit(&show, 4);
    assert!(
        stderr(&show).contains("hsm login --env sandbox --profile work"),
        "{}",
        stderr(&show)
    );
}

/// With --auto-approve the authorize URL redirects straight to the loopback listener.
fn follow(authorize_url: &str) -> String {
    let r = http().get(authorize_url).send().unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    r.headers()["location"].to_str().unwrap().to_string()
}

#[test]
fn denied_consent_exits_4_with_the_description_and_stores_nothing() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let run = LoginRun::start(&env, &[]);
    let port = run.redirect_port;
    let redirect = consent(&run.url, "deny");
    assert!(redirect.contains("error=access_denied"));
    let (status, page) = visit(&redirect);
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("denied"), "{err}");
    assert!(
        err.contains("The user denied the request"),
        "description shown: {err}"
    );
    assert_eq!(status, 400);
    assert!(page.contains("Login failed"), "{page}");
    assert!(env.stored().is_empty());
    assert!(port_is_free(port));
}

#[test]
fn a_foreign_state_is_answered_400_and_the_login_keeps_waiting_for_its_own() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let run = LoginRun::start(&env, &[]);
    let redirect = consent(&run.url, "approve");
    // Any web page could send these (an <img>): they must not end the login.
    let forged = regex_replace_state(&redirect, "forged-state");
    let (status, _) = visit(&forged);
    assert_eq!(status, 400);
    let no_state = format!(
        "http://127.0.0.1:{}/callback?error=access_denied",
        run.redirect_port
    );
    let (status, _) = visit(&no_state);
    assert_eq!(status, 400);
    assert_eq!(
        sb.stats()["code_exchanges"],
        0,
        "no foreign code was exchanged"
    );
    let (status, _) = visit(&redirect);
    assert_eq!(status, 200);
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(sb.stats()["code_exchanges"], 1);
    assert!(!env.stored().is_empty());
}

/// The `state` query parameter of a URL.
fn state_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[test]
fn an_error_description_cannot_write_escape_sequences_or_forge_lines() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let run = LoginRun::start(&env, &[]);
    let mut cb =
        reqwest::Url::parse(&format!("http://127.0.0.1:{}/callback", run.redirect_port)).unwrap();
    cb.query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "no\u{1b}[2J\r\nerror: forged line")
        .append_pair("state", &state_of(&run.url));
    let _ = visit(cb.as_str());
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("denied"), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");
    assert!(
        !err.lines().any(|l| l.starts_with("error: forged")),
        "{err}"
    );
}

fn regex_replace_state(url: &str, state: &str) -> String {
    let mut u = reqwest::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, state.to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

#[test]
fn stray_requests_get_204_or_404_and_do_not_end_the_login() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let env = TestEnv::with_sandbox(&sb);
    let run = LoginRun::start(&env, &[]);
    let base = format!("http://127.0.0.1:{}", run.redirect_port);
    assert_eq!(visit(&format!("{base}/favicon.ico")).0, 204);
    assert_eq!(visit(&format!("{base}/other?code=x")).0, 404);
    visit(&follow(&run.url));
    assert_eq!(run.finish().0, Some(0));
}

#[test]
fn timeout_exits_5_and_releases_the_port() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let run = LoginRun::start(&env, &["--timeout", "1"]);
    let port = run.redirect_port;
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("timed out"), "{err}");
    assert!(err.contains("--timeout"), "hint names the flag: {err}");
    assert!(port_is_free(port));
    assert!(env.stored().is_empty());
}

#[test]
fn port_in_use_names_the_port_and_how_to_change_it() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let out = env.run(&["login", "--env", "sandbox", "--redirect-uri", &redirect]);
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert!(err.contains(&format!("port {port}")), "{err}");
    assert!(err.contains("--redirect-uri"), "{err}");
    assert!(
        !err.contains("/oauth/authorize"),
        "no URL printed before the listener binds"
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_mid_login_exits_130_and_releases_the_port() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let run = LoginRun::start(&env, &[]);
    assert!(!run.url.is_empty());
    let port = run.redirect_port;
    // SAFETY: plain syscall on our own child.
    assert_eq!(unsafe { libc::kill(run.pid() as i32, libc::SIGINT) }, 0);
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(!err.contains("panicked"));
    assert!(port_is_free(port));
    assert!(env.stored().is_empty());
}

#[test]
fn token_endpoint_failures_exit_5_with_a_clear_line_and_store_nothing() {
    for (fault, expect) in [
        ("token:500", "HTTP 500"),
        ("token:malformed", "unexpected response"),
        ("token:html", "unexpected response"),
    ] {
        let sb = Sandbox::start(&["--auto-approve", "--fault", fault]);
        let env = TestEnv::with_sandbox(&sb);
        let run = LoginRun::start(&env, &[]);
        let (status, page) = visit(&follow(&run.url));
        let (code, err, _) = run.finish();
        assert_eq!(code, Some(5), "{fault}: {err}");
        assert!(err.contains(expect), "{fault}: {err}");
        assert!(!err.contains("panicked"));
        assert_eq!(status, 400, "{fault}");
        assert!(
            page.contains("Login failed"),
            "{fault}: the page tells the real outcome"
        );
        assert!(env.stored().is_empty(), "{fault}");
    }
}

#[test]
fn pasted_redirect_url_completes_a_no_browser_login() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let env = TestEnv::with_sandbox(&sb);
    let mut run = LoginRun::start_with(&env, &["--no-browser"], LoginStdin::Pipe(""));
    let redirect = follow(&run.url);
    let mut stdin = run.child.stdin.take().unwrap();
    writeln!(stdin, "not a url").unwrap();
    writeln!(stdin, "{redirect}").unwrap();
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("That is not the redirect URL"), "{err}");
    assert!(env.stored_record("sandbox/default").is_some());
}

#[test]
fn client_secret_from_stdin_is_kept_for_the_next_login() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let mut env = TestEnv::with_sandbox(&sb);
    let config = env.path("config/hsm/config.toml");
    write_file(
        &config,
        &format!(
            "[env.acme]\nclient_id = \"hsm-sandbox\"\nauthorize_url = \"{0}/oauth/authorize\"\ntoken_url = \"{0}/oauth/token\"\napi_url = \"{0}/v2\"\n",
            sb.base_url
        ),
    );
    // Without a terminal and without a secret, login refuses before anything starts.
    let out = env.run(&["login", "--env", "acme"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("--client-secret-stdin"),
        "{}",
        stderr(&out)
    );

    let mut run = LoginRun::start_with(
        &env,
        &["--env", "acme", "--client-secret-stdin"],
        LoginStdin::Pipe("hsm-sandbox-secret\n"),
    );
    drop(run.child.stdin.take());
    visit(&follow(&run.url));
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("hsm-sandbox-secret"));
    let stored = env.stored();
    assert_eq!(
        stored["client-secret/acme/hsm-sandbox"],
        "hsm-sandbox-secret"
    );

    env.unset("HSM_SANDBOX_URL");
    let run = LoginRun::start(&env, &["--env", "acme"]);
    visit(&follow(&run.url));
    assert_eq!(
        run.finish().0,
        Some(0),
        "second login reads the stored secret"
    );
}

#[test]
fn a_wrong_client_secret_is_refused_by_the_token_endpoint() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let mut env = TestEnv::with_sandbox(&sb);
    env.set("HSM_CLIENT_SECRET", "wrong-secret");
    let run = LoginRun::start(&env, &[]);
    visit(&follow(&run.url));
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("invalid_client"), "{err}");
    assert!(!err.contains("wrong-secret"));
    assert!(env.stored().is_empty());
}

#[test]
fn configuration_errors_exit_2_before_anything_is_sent() {
    let sb = Sandbox::start(&[]);
    let mut env = TestEnv::with_sandbox(&sb);
    let out = env.run(&["login", "--env", "nowhere"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("unknown environment `nowhere`"));

    let out = env.run(&["login", "--env", "staging"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("no client id"), "{err}");
    assert!(err.contains("HealthSherpa issues one"), "{err}");
    assert!(err.contains("http://127.0.0.1:8765/callback"), "{err}");
    let config = env.path("config/hsm/config.toml");
    assert!(
        err.contains(&format!("[env.staging] in {}", config.display())),
        "names the config file: {err}"
    );
    assert_eq!(err.lines().count(), 2, "two lines: {err}");

    env.set("HSM_TOKEN_URL", "http://example.com/oauth/token");
    let out = env.run(&["login", "--env", "sandbox"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("must be https://"),
        "{}",
        stderr(&out)
    );
    env.unset("HSM_TOKEN_URL");

    let out = env.run(&[
        "login",
        "--env",
        "sandbox",
        "--redirect-uri",
        "http://192.0.2.1:8765/cb",
    ]);
    assert_exit(&out, 2);

    let config = env.path("config/hsm/config.toml");
    write_file(
        &config,
        "default_env = \"sandbox\"\n[env.x\nclient_id = 1\n",
    );
    let before = std::fs::read_to_string(&config).unwrap();
    let out = env.run(&["token", "show"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains(&config.display().to_string()) && err.contains("line 2"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        before,
        "never rewritten"
    );
    assert_eq!(sb.stats()["requests"], 0, "nothing was sent");
}

#[cfg(unix)]
#[test]
fn unsafe_or_corrupt_credentials_file_exits_6_and_is_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let file = env.creds_file();
    write_file(&file, "{\"version\":1,\"entries\":{}}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.run(&["login", "--env", "sandbox"]);
    assert_exit(&out, 6);
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("/oauth/authorize"),
        "store is probed before the browser"
    );

    std::fs::write(&file, "garbage").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = env.run(&["token", "show", "--env", "sandbox"]);
    assert_exit(&out, 6);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "garbage");
}

// Only where the keychain is the Secret Service can the test take it away (by pointing
// DBUS_SESSION_BUS_ADDRESS nowhere); macOS and Windows always have theirs.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
#[test]
fn missing_keychain_fails_fast_with_the_opt_in_hint() {
    let sb = Sandbox::start(&[]);
    let mut env = TestEnv::with_sandbox(&sb);
    env.unset("HSM_CREDENTIAL_STORE");
    let out = env.run(&["login", "--env", "sandbox"]);
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(err.contains("HSM_CREDENTIAL_STORE=file"), "{err}");
    assert!(
        !err.contains("/oauth/authorize"),
        "no browser before a store exists: {err}"
    );
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1);
}

#[test]
fn an_unreachable_token_endpoint_fails_fast_before_the_browser() {
    let sb = Sandbox::start(&[]);
    let mut env = TestEnv::with_sandbox(&sb);
    // A port nothing listens on: connections are refused.
    let port = free_port();
    env.set(
        "HSM_TOKEN_URL",
        &format!("http://127.0.0.1:{port}/oauth/token"),
    );
    env.set("BROWSER", "false");
    let started = std::time::Instant::now();
    let out = env.run(&["login", "--env", "sandbox", "--timeout", "300"]);
    assert_exit(&out, 5);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "fast, not the 300 s wait"
    );
    let err = stderr(&out);
    assert!(
        err.contains("token endpoint") && err.contains("unreachable"),
        "{err}"
    );
    assert!(
        err.contains("HTTPS_PROXY"),
        "a network and proxy hint: {err}"
    );
    assert!(
        !err.contains("/oauth/authorize"),
        "no login URL before the check: {err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(env.stored().is_empty());
}

#[test]
fn a_redirect_uri_on_port_0_is_refused_at_once() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let started = std::time::Instant::now();
    let out = env.run(&[
        "login",
        "--env",
        "sandbox",
        "--redirect-uri",
        "http://127.0.0.1:0/callback",
    ]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("not 0"), "{}", stderr(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[cfg(unix)]
#[test]
fn the_browser_is_started_without_hsm_secrets_in_its_environment() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::start(&["--auto-approve"]);
    let mut env = TestEnv::with_sandbox(&sb);
    let dump = env.path("browser-env.txt");
    let script = env.path("browser.sh");
    write_file(
        &script,
        &format!(
            "#!/bin/sh\nenv > {}.tmp && mv {0}.tmp {0}\n",
            dump.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set("BROWSER", script.to_str().unwrap());
    env.set("HSM_CLIENT_SECRET", "hsm-sandbox-secret");
    env.set("HSM_CA_FILE_NOT_USED", "x");
    let run = LoginRun::start(&env, &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !dump.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = http().get(&run.url).send().unwrap();
    visit(r.headers()["location"].to_str().unwrap());
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(0), "{err}");
    let seen = std::fs::read_to_string(&dump).unwrap();
    assert!(seen.contains("PATH="), "{seen}");
    assert!(
        !seen.contains("hsm-sandbox-secret") && !seen.lines().any(|l| l.starts_with("HSM_")),
        "{seen}"
    );
}

#[test]
fn a_bad_url_is_blamed_on_where_it_came_from() {
    let sb = Sandbox::start(&[]);
    let mut env = TestEnv::with_sandbox(&sb);
    write_file(
        &env.path("config/hsm/config.toml"),
        "[env.sandbox]\nauthorize_url = \"ftp://example.test/authorize\"\n",
    );
    let out = env.run(&["login", "--env", "sandbox"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("`authorize_url` in [env.sandbox] of the config file")
            && !err.contains("HSM_AUTHORIZE_URL"),
        "{err}"
    );
    env.set("HSM_AUTHORIZE_URL", "ftp://example.test/other");
    let out = env.run(&["login", "--env", "sandbox"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("(HSM_AUTHORIZE_URL)"),
        "{}",
        stderr(&out)
    );
}

#[cfg(unix)]
#[test]
fn a_variable_that_is_not_utf8_is_reported_not_ignored() {
    use std::os::unix::ffi::OsStrExt;
    let (_sb, env) = crate::common::logged_in(&[]);
    let mut cmd = env.cmd();
    cmd.args(["token", "show", "--env", "sandbox"]).env(
        "HSM_CREDENTIALS_FILE",
        std::ffi::OsStr::from_bytes(b"/tmp/creds-\xff.json"),
    );
    let out = run_with_timeout(&mut cmd, std::time::Duration::from_secs(30));
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("HSM_CREDENTIALS_FILE is set but is not valid UTF-8"),
        "{}",
        stderr(&out)
    );
}

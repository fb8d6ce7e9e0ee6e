//! What users and scripts see: secrets never in output or traces, no panic messages, quiet
//! closed pipes, `-q`.

use std::process::Stdio;

use crate::common::*;

/// Run every command with -v against a sandbox and collect everything hsm showed, plus the
/// secrets that existed along the way.
#[test]
fn verbose_traces_of_every_command_redact_every_secret() {
    let sb = Sandbox::start(&["--auto-approve", "--access-ttl", "30"]);
    let mut env = TestEnv::with_sandbox(&sb);
    let client_secret = "hsm-sandbox-secret";
    env.set("HSM_CLIENT_SECRET", client_secret);
    let mut shown = String::new();
    let mut secrets = vec![client_secret.to_string()];
    let remember = |env: &TestEnv, secrets: &mut Vec<String>| {
        if let Some(r) = env.stored_record("sandbox/default") {
            secrets.push(r["access_token"].as_str().unwrap().to_string());
            secrets.push(r["refresh_token"].as_str().unwrap().to_string());
        }
    };

    // Login, playing the browser: the code passes through our hands, so we know it.
    let run = LoginRun::start(&env, &["-v"]);
    let r = http().get(&run.url).send().unwrap();
    let redirect = r.headers()["location"].to_str().unwrap().to_string();
    let code = reqwest::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    secrets.push(code);
    visit(&redirect);
    let (status, err, out) = run.finish();
    assert_eq!(status, Some(0), "{err}");
    assert!(
        err.contains("code=[redacted sha256:"),
        "the exchange is traced: {err}"
    );
    shown += &err;
    shown += &out;
    remember(&env, &mut secrets);

    let report = env.path("rows.jsonl.report.jsonl");
    let rows = env.path("rows.jsonl");
    write_file(
        &rows,
        "{\"external_id\":\"V1\",\"first_name\":\"A\",\"last_name\":\"B\"}\n",
    );
    let create = env.run(&[
        "contacts",
        "create",
        "-v",
        "--env",
        "sandbox",
        "--external-id",
        "V0",
        "--first-name",
        "A",
        "--last-name",
        "B",
    ]);
    assert_exit(&create, 0);
    let id = stdout(&create).trim().to_string();
    let runs: Vec<Vec<&str>> = vec![
        vec!["token", "show", "-v", "--env", "sandbox", "--json"],
        vec!["token", "refresh", "-v", "--env", "sandbox"],
        vec![
            "contacts", "update", &id, "-v", "--env", "sandbox", "--zip", "94103",
        ],
        vec![
            "contacts",
            "search",
            "-v",
            "--env",
            "sandbox",
            "--first-name",
            "A",
            "--phone",
            "5551234567",
        ],
        vec![
            "contacts",
            "import",
            rows.to_str().unwrap(),
            "-v",
            "--env",
            "sandbox",
        ],
        vec!["token", "refresh", "-v", "--env", "sandbox", "--json"],
    ];
    shown += &stderr(&create);
    for args in &runs {
        let out = env.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        shown += &stdout(&out);
        shown += &stderr(&out);
        remember(&env, &mut secrets);
    }
    assert!(
        shown.contains("authorization: Bearer [redacted sha256:"),
        "API calls are traced"
    );
    assert!(
        shown.contains("refresh_token=[redacted sha256:"),
        "refreshes are traced"
    );
    // A failure under -v: its causes (the connection's) are shown, and hold no secret either,
    // though the refresh token and client secret were in the request that failed.
    drop(sb);
    let failed = env.run(&["token", "refresh", "-v", "--env", "sandbox"]);
    assert_exit(&failed, 5);
    assert!(
        stderr(&failed).contains("\ncaused by: "),
        "{}",
        stderr(&failed)
    );
    shown += &stderr(&failed);
    shown += &std::fs::read_to_string(&report).unwrap();
    let logout = env.run(&["logout", "-v", "--env", "sandbox"]);
    shown += &stderr(&logout);

    secrets.sort();
    secrets.dedup();
    assert!(
        secrets.len() >= 8,
        "tokens were issued and rotated: {}",
        secrets.len()
    );
    for secret in &secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "a secret leaked into output or the report"
        );
    }
}

#[test]
fn failure_paths_print_one_error_line_and_never_a_panic() {
    let sb = Sandbox::start(&[]);
    let env = TestEnv::with_sandbox(&sb);
    let bad_json = env.path("bad.json");
    write_file(&bad_json, "{");
    let at_bad = format!("@{}", bad_json.display());
    let cases: Vec<Vec<&str>> = vec![
        vec!["--no-such-flag"],
        vec!["login", "--env", "nowhere"],
        vec!["login", "--env", "sandbox", "--timeout", "0"],
        vec!["token", "show", "--env", "sandbox"],
        vec!["token", "print", "--env", "sandbox"],
        vec!["token", "refresh", "--env", "sandbox"],
        vec!["contacts", "create", "--env", "sandbox", "--data", &at_bad],
        vec![
            "contacts",
            "create",
            "--env",
            "sandbox",
            "--data",
            "@/nonexistent",
        ],
        vec![
            "contacts",
            "create",
            "--env",
            "sandbox",
            "--external-id",
            "A",
            "--first-name",
            "B",
            "--last-name",
            "C",
        ],
        vec!["contacts", "search", "--env", "sandbox"],
        vec!["contacts", "import", "/nonexistent.csv", "--env", "sandbox"],
        vec!["contacts", "import", "-", "--env", "sandbox"],
        vec!["sandbox", "--port", "1", "--fault", "nonsense"],
    ];
    let mut bad_store = TestEnv::with_sandbox(&sb);
    bad_store.set("HSM_CREDENTIAL_STORE", "vault");
    let out = bad_store.run(&["token", "show", "--env", "sandbox"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("use `keychain`, `file` or `etcd`"),
        "{}",
        stderr(&out)
    );
    for args in cases {
        let out = env.run(&args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{args:?}: {err}"
        );
        assert!(
            stdout(&out).is_empty(),
            "{args:?}: errors never go to stdout"
        );
        if args[0] != "--no-such-flag" {
            assert!(err.starts_with("error: "), "{args:?}: {err}");
            assert_eq!(
                err.lines().filter(|l| l.starts_with("error:")).count(),
                1,
                "{args:?}: {err}"
            );
        }
    }
}

/// Every way hsm writes to stdout (a completion script written at once, clap's help,
/// `Printer::result`) meets a pipe whose reader is already gone, so every write fails with
/// EPIPE (`hsm ... | head -c0`). The user's side of the contract (src/output.rs): exit 0, not
/// a word on stderr, no panic.
#[test]
fn a_closed_stdout_ends_quietly() {
    let (_sb, env) = logged_in(&[]);
    let cases: [&[&str]; 3] = [
        &["completions", "zsh"],
        &["--help"],
        &["token", "print", "--env", "sandbox"],
    ];
    for args in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let child = env
            .cmd()
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_output(child, std::time::Duration::from_secs(60));
        assert_exit(&out, 0);
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }
}

/// `hsm completions zsh | head -c16`: the reader goes away while hsm is still writing. The
/// pipe is shrunk to one page, far less than the script, so hsm is necessarily blocked in a
/// write when the reader closes, and that write fails with EPIPE. (F_SETPIPE_SZ is Linux's.)
#[cfg(target_os = "linux")]
#[test]
fn a_stdout_closed_mid_output_ends_quietly() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let env = TestEnv::new();
    let full = env.run(&["completions", "zsh"]);
    assert_exit(&full, 0);
    let (mut reader, writer) = std::io::pipe().unwrap();
    // SAFETY: fcntl on a pipe we own; it returns the new capacity or -1.
    let capacity = unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(capacity > 0, "F_SETPIPE_SZ failed");
    let capacity = capacity as usize;
    assert!(
        full.stdout.len() > 4 * capacity,
        "the script ({} bytes) must be far larger than the pipe ({capacity} bytes)",
        full.stdout.len()
    );
    let mut child = env
        .cmd()
        .args(["completions", "zsh"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(&first[..], &full.stdout[..16]);
    assert!(
        child.try_wait().unwrap().is_none(),
        "hsm cannot have written the rest into a {capacity}-byte pipe"
    );
    drop(reader);
    let out = wait_output(child, std::time::Duration::from_secs(10));
    assert_exit(&out, 0);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn quiet_keeps_results_and_errors_only() {
    let (_sb, env) = logged_in(&[]);
    let out = env.run(&[
        "contacts",
        "create",
        "-q",
        "--env",
        "sandbox",
        "--external-id",
        "Q1",
        "--first-name",
        "A",
        "--last-name",
        "B",
    ]);
    assert_exit(&out, 0);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert!(!stdout(&out).trim().is_empty());
    let out = env.run(&["logout", "-q", "--env", "sandbox", "--profile", "none"]);
    assert!(stderr(&out).is_empty());
    let out = env.run(&[
        "token",
        "show",
        "-q",
        "--env",
        "sandbox",
        "--profile",
        "none",
    ]);
    assert_exit(&out, 4);
    assert!(stderr(&out).starts_with("error: "));
}

/// The error object a command run with `--json` leaves as its last stderr line.
fn json_error(out: &std::process::Output) -> serde_json::Value {
    let err = stderr(out);
    let last = err.lines().last().unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("the error is not JSON ({e}): {err}"));
    let error = &value["error"];
    assert!(error["message"].is_string(), "{value}");
    assert!(
        error["hint"].is_string() || error["hint"].is_null(),
        "{value}"
    );
    assert_eq!(
        error["exit"].as_i64(),
        out.status.code().map(i64::from),
        "{value}"
    );
    assert!(!err.contains("error: "), "no prose error besides: {err}");
    value
}

#[test]
fn with_json_errors_are_a_json_object_on_stderr() {
    let env = TestEnv::new();
    // Not logged in: exit 4, with the next step as the hint.
    let out = env.run(&["token", "show", "--json"]);
    assert_exit(&out, 4);
    assert!(stdout(&out).is_empty());
    let e = json_error(&out);
    assert!(
        e["error"]["hint"].as_str().unwrap().contains("hsm login"),
        "{e}"
    );

    // Invalid input: exit 2, nothing sent, the field named but not its value.
    let out = env.run(&[
        "contacts",
        "create",
        "--json",
        "--external-id",
        "X1",
        "--first-name",
        "A",
        "--last-name",
        "B",
        "--phone",
        "55501",
    ]);
    assert_exit(&out, 2);
    let e = json_error(&out);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("phone") && !message.contains("55501"),
        "{e}"
    );

    // A command line clap refuses, when it asked for JSON.
    let out = env.run(&["contacts", "search", "--json", "--shoe-size", "9"]);
    assert_exit(&out, 2);
    let e = json_error(&out);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--shoe-size"),
        "{e}"
    );

    // Without --json, the same error is prose.
    let out = env.run(&["token", "show"]);
    assert_exit(&out, 4);
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
}

/// The stderr lines that are not `-v`'s own (`* ` traces, `caused by: ` lines).
fn without_verbose_lines(err: &str) -> String {
    err.lines()
        .filter(|l| !l.starts_with("* ") && !l.starts_with("caused by: "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// SPEC: every failure is one clear line, "plus detail under -v". The errors under it (a
/// refused connection under reqwest's and hyper's, the io error of a missing file) are
/// `caused by:` lines under `-v`, between the error and its hint; without `-v` the output is
/// the error and hint lines alone, the same as with `-v` less its own lines.
#[test]
fn verbose_adds_the_causes_of_an_error_and_nothing_else_changes() {
    let (_sb, mut env) = logged_in(&[]);
    // The API is at a port nothing listens on: the session is valid, the connection refused.
    let port = free_port();
    env.set("HSM_SANDBOX_URL", &format!("http://127.0.0.1:{port}"));
    let search = [
        "contacts",
        "search",
        "--env",
        "sandbox",
        "--first-name",
        "A",
        "--phone",
        "5551234567",
    ];
    let plain = env.run(&search);
    assert_exit(&plain, 5);
    let plain_err = stderr(&plain);
    assert!(!plain_err.contains("caused by"), "{plain_err}");
    assert!(plain_err.starts_with("error: cannot reach "), "{plain_err}");
    let verbose = env.run(&[&search[..], &["-v"]].concat());
    assert_exit(&verbose, 5);
    let verbose_err = stderr(&verbose);
    let causes: Vec<&str> = verbose_err
        .lines()
        .filter(|l| l.starts_with("caused by: "))
        .collect();
    assert!(
        causes.len() >= 2
            && causes.last().unwrap().contains("Connection refused")
            && causes.iter().all(|c| !c.contains(&port.to_string())),
        "the chain down to the socket's refusal, and not the URL: {verbose_err}"
    );
    let shown: Vec<&str> = verbose_err
        .lines()
        .filter(|l| !l.starts_with("* "))
        .collect();
    assert!(shown[0].starts_with("error: ") && shown[shown.len() - 1].starts_with("hint: "));
    assert_eq!(without_verbose_lines(&verbose_err), plain_err);

    // A missing file: the io error is the cause.
    let missing = env.path("missing.toml");
    env.set("HSM_CONFIG", missing.to_str().unwrap());
    let plain = env.run(&["token", "show"]);
    assert_exit(&plain, 2);
    let plain_err = stderr(&plain);
    assert_eq!(plain_err.lines().count(), 1, "{plain_err}");
    let verbose = env.run(&["token", "show", "-v"]);
    assert_exit(&verbose, 2);
    let verbose_err = stderr(&verbose);
    assert!(
        verbose_err.contains("\ncaused by: No such file or directory"),
        "{verbose_err}"
    );
    assert_eq!(without_verbose_lines(&verbose_err), plain_err);

    // With --json: the causes are an array under -v, and absent without it.
    let plain = env.run(&["token", "show", "--json"]);
    let e = json_error(&plain);
    assert!(e["error"].get("causes").is_none(), "{e}");
    let verbose = env.run(&["token", "show", "--json", "-v"]);
    let e = json_error(&verbose);
    let causes = e["error"]["causes"].as_array().expect("a causes array");
    assert!(
        causes[0]
            .as_str()
            .unwrap()
            .contains("No such file or directory"),
        "{e}"
    );
}

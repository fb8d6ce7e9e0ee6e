//! `hsm sandbox`, the command: its flags become the emulator's configuration, the URL alone on
//! stdout, the banner on stderr (never a secret it issued), the exit codes of a taken port and
//! bad flags, Ctrl-C. The emulator's own rules (OAuth, API, faults, bounds, the consent page
//! in a browser) are tested in-process in its crate: `crates/sandbox/tests/emulator`.

use std::net::TcpListener;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::sandbox::{CLIENT_ID, CLIENT_SECRET, Sandbox, health_ok};
use crate::common::{TestEnv, assert_exit, consent, stderr, stdout};

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:8765/callback";

// ---------- helpers ----------

fn authorize_url(sb: &Sandbox, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&sb.url("/oauth/authorize")).expect("URL");
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "partner_api_v2")
        .extend_pairs(extra);
    url.into()
}

/// The browser's part and the client's: approve the consent page, exchange the code (PKCE).
fn login(sb: &Sandbox) -> Value {
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let location = consent(&authorize_url(sb, &pkce), "approve");
    let code = url::Url::parse(&location)
        .expect("absolute Location")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"));
    let resp = sb
        .client()
        .post(sb.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .expect("POST /oauth/token");
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().expect("token JSON");
    assert!(
        s(&tokens["access_token"]).starts_with("sbx_at_"),
        "{tokens}"
    );
    tokens
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn create(sb: &Sandbox, token: &str) -> StatusCode {
    let contact = json!({"external_id": "CRM-1", "first_name": "Ann", "last_name": "Lee"});
    sb.client()
        .post(sb.url("/v2/contacts"))
        .bearer_auth(token)
        .json(&json!({ "contact": contact }))
        .send()
        .expect("POST /v2/contacts")
        .status()
}

// ---------- the command ----------

// Ctrl-C is a signal: Unix only.
#[cfg(unix)]
#[test]
fn announces_url_and_login_hint_but_never_issued_secrets() {
    let mut sb = Sandbox::spawn(&[]);
    let tokens = login(&sb);
    // The banner follows the URL line; read the whole stderr once the sandbox has stopped.
    let (code, err) = sb.interrupt();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("hsm-sandbox") && err.contains("hsm login --env sandbox"),
        "{err}"
    );
    assert!(!err.contains(s(&tokens["access_token"])));
    assert!(!err.contains("sbx_"), "no token or code on stderr: {err}");
}

#[test]
fn the_sandboxs_default_configuration_listens_on_the_port_hsm_expects() {
    // hsm's sandbox environment re-exports the crate's constants; the default configuration
    // must use the same port.
    assert_eq!(
        hsm_sandbox::Config::default().port,
        hsm_sandbox::DEFAULT_PORT
    );
}

#[test]
fn the_command_applies_its_flags() {
    let sb = Sandbox::spawn(&[
        "--auto-approve",
        "--access-ttl",
        "7",
        "--fault",
        "create:503",
    ]);
    let resp = sb
        .client()
        .get(authorize_url(&sb, &[("state", "flags")]))
        .send()
        .expect("GET /oauth/authorize");
    assert_eq!(resp.status(), StatusCode::FOUND, "auto-approved at once");
    assert_eq!(sb.mint(json!({}))["expires_in"], 7);
    let at = sb.mint(json!({}));
    let at = s(&at["access_token"]);
    assert_eq!(create(&sb, at), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(create(&sb, at), StatusCode::CREATED);
}

/// Every flag reaches the emulator's configuration, as the in-process sandboxes of these tests
/// are built (the emulator's own tests build their configurations directly).
#[test]
fn the_flags_become_the_emulators_configuration() {
    let config = crate::common::sandbox::config(&[
        "-v",
        "--auto-approve",
        "--access-ttl",
        "7",
        "--latency-ms",
        "250",
        "--rate-limit",
        "5",
        "--fault",
        "create:503x2",
        "--fault",
        "token:html500",
    ]);
    assert_eq!(config.port, 0);
    assert!(config.verbose && !config.quiet);
    assert!(config.auto_approve);
    assert_eq!(config.access_ttl, Duration::from_secs(7));
    assert_eq!(config.latency, Duration::from_millis(250));
    assert_eq!(config.rate_limit.map(|r| r.get()), Some(5));
    assert_eq!(config.faults.len(), 2);
    let quiet = crate::common::sandbox::config(&["-q"]);
    assert!(quiet.quiet && !quiet.verbose && !quiet.auto_approve);
    assert_eq!(quiet.rate_limit, None);
    assert_eq!(quiet.latency, Duration::ZERO);
    assert!(quiet.faults.is_empty());
}

// Ctrl-C is a signal: Unix only.
#[cfg(unix)]
#[test]
fn quiet_still_prints_the_url_but_nothing_on_stderr() {
    let mut sb = Sandbox::spawn(&["-q"]);
    health_ok(&sb);
    assert_eq!(sb.interrupt(), (Some(0), String::new()));
}

#[test]
fn port_in_use_exits_5_naming_the_port_like_login_does() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = TestEnv::new().run(&["sandbox", "--port", &port]);
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert!(err.contains(&port) && err.contains("--port"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_fault_spec_at_start_up_is_a_usage_error() {
    let out = TestEnv::new().run(&["sandbox", "--port", "0", "--fault", "create:teapot"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("create:teapot"));
    assert!(out.stdout.is_empty(), "no URL when nothing listens");
}

#[test]
fn rate_limit_must_be_a_sensible_whole_number() {
    for bad in ["0", "-1", "2.5", "abc", "1000001"] {
        let out = TestEnv::new().run(&["sandbox", "--port", "0", &format!("--rate-limit={bad}")]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--rate-limit"), "{bad}: {err}");
        assert!(
            out.stdout.is_empty(),
            "no URL when nothing listens: {}",
            stdout(&out)
        );
    }
}

#[test]
fn ctrl_c_stops_cleanly_with_exit_0() {
    let mut sb = Sandbox::spawn(&[]);
    health_ok(&sb);
    let status = std::process::Command::new("kill")
        .args(["-INT", &sb.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    assert_eq!(sb.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(sb.stderr_at_exit().contains("stopped"));
}

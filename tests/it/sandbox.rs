//! `hsm sandbox` driven over real HTTP: every OAuth and API rule, every error path, every
//! fault kind, and the consent page in a real browser.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use crate::common::browser::Browser;
use crate::common::form_nonce;
use crate::common::sandbox::{
    CLIENT_ID, CLIENT_SECRET, Sandbox, config as sandbox_config, http_client,
};

const REDIRECT: &str = "http://127.0.0.1:8765/callback";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const MISSING_AUTH: &str =
    r#"{"error": {"message": "Missing authorization header", "code": "missing_authorization"}}"#;
const INVALID_TOKEN: &str =
    r#"{"error": {"message": "The access token is invalid.", "code": "invalid_token"}}"#;

// ---------- helpers ----------

fn authorize_query(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "partner_api_v2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        params.retain(|(name, _)| name != k);
        if !v.is_empty() {
            params.push((k.to_string(), v.to_string()));
        }
    }
    params
}

fn get_authorize(sb: &Sandbox, extra: &[(&str, &str)]) -> Response {
    let mut url = url::Url::parse(&sb.url("/oauth/authorize")).expect("URL");
    url.query_pairs_mut().extend_pairs(authorize_query(extra));
    sb.client().get(url).send().expect("GET /oauth/authorize")
}

fn post_decision(sb: &Sandbox, extra: &[(&str, &str)], decision: &str) -> Response {
    let mut form = authorize_query(extra);
    form.push(("decision".into(), decision.into()));
    // As a browser would: the nonce of a consent form the sandbox showed.
    let page = get_authorize(sb, &[]).text().unwrap_or_default();
    if page.contains("form_nonce") {
        form.push(("form_nonce".into(), form_nonce(&page)));
    }
    sb.client()
        .post(sb.url("/oauth/authorize"))
        .form(&form)
        .send()
        .expect("POST /oauth/authorize")
}

fn location(resp: &Response) -> String {
    assert_eq!(resp.status(), StatusCode::FOUND, "expected a redirect");
    resp.headers()["location"]
        .to_str()
        .expect("ASCII Location")
        .to_owned()
}

fn query_of(url: &str) -> HashMap<String, String> {
    let parsed = url::Url::parse(url).expect("absolute URL");
    parsed.query_pairs().into_owned().collect()
}

/// Approves the consent form and returns the code.
fn approve(sb: &Sandbox, extra: &[(&str, &str)]) -> String {
    let loc = location(&post_decision(sb, extra, "approve"));
    query_of(&loc)
        .remove("code")
        .unwrap_or_else(|| panic!("no code in {loc}"))
}

fn token_request(sb: &Sandbox, form: &[(&str, &str)]) -> Response {
    sb.client()
        .post(sb.url("/oauth/token"))
        .form(form)
        .send()
        .expect("POST /oauth/token")
}

fn exchange(sb: &Sandbox, code: &str, verifier: Option<&str>) -> Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    token_request(sb, &form)
}

fn refresh(sb: &Sandbox, refresh_token: &str) -> Response {
    token_request(
        sb,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    )
}

fn assert_oauth_error(resp: Response, status: StatusCode, error: &str) {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().expect("JSON error body");
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

fn tokens_ok(resp: Response) -> Value {
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().expect("token JSON");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "partner_api_v2");
    assert!(body["expires_in"].as_u64().is_some());
    let looks_like = |key: &str, prefix: &str| {
        body[key]
            .as_str()
            .is_some_and(|t| t.starts_with(prefix) && t.len() >= prefix.len() + 32)
    };
    assert!(looks_like("access_token", "sbx_at_"), "{body}");
    assert!(looks_like("refresh_token", "sbx_rt_"), "{body}");
    body
}

fn login(sb: &Sandbox) -> Value {
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let code = approve(sb, &pkce);
    tokens_ok(exchange(sb, &code, Some(VERIFIER)))
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn access_token(sb: &Sandbox, mint: Value) -> String {
    s(&sb.mint(mint)["access_token"]).to_owned()
}

fn api(
    sb: &Sandbox,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut req = sb.client().request(method, sb.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().expect("API request")
}

fn create(sb: &Sandbox, token: &str, contact: Value) -> Response {
    api(
        sb,
        reqwest::Method::POST,
        "/v2/contacts",
        Some(token),
        Some(json!({ "contact": contact })),
    )
}

fn created(resp: Response) -> Value {
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().expect("JSON");
    body["data"]["contact"].clone()
}

fn search(sb: &Sandbox, token: &str, query: Value) -> Response {
    api(
        sb,
        reqwest::Method::POST,
        "/v2/contacts/search",
        Some(token),
        Some(query),
    )
}

fn search_status(sb: &Sandbox, token: &str) -> StatusCode {
    search(sb, token, json!({"medicare_number": "1"})).status()
}

fn update(sb: &Sandbox, token: &str, id: &str, contact: Value) -> Response {
    api(
        sb,
        reqwest::Method::PATCH,
        &format!("/v2/contacts/{id}"),
        Some(token),
        Some(json!({ "contact": contact })),
    )
}

fn error_code(resp: Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().expect("JSON error");
    (status, s(&body["error"]["code"]).to_owned())
}

fn ann() -> Value {
    json!({"external_id": "CRM-1", "first_name": "Ann", "last_name": "Lee", "zip": "02134",
           "birth_date": "01/15/1955", "medicare_number": "1EG4-TE5-MK72", "email": "ann@example.com"})
}

fn is_html(resp: &Response) -> bool {
    resp.headers()["content-type"]
        .to_str()
        .is_ok_and(|ct| ct.starts_with("text/html"))
}

fn health_ok(sb: &Sandbox) {
    let resp = sb
        .client()
        .get(sb.url("/__sandbox/health"))
        .send()
        .expect("sandbox still answers");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().expect("JSON"), json!({"ok": true}));
}

// ---------- start-up ----------

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
fn the_clients_sandbox_environment_matches_the_sandbox() {
    assert_eq!(hsm::sandbox_env::CLIENT_ID, hsm_sandbox::CLIENT_ID);
    assert_eq!(hsm::sandbox_env::CLIENT_SECRET, hsm_sandbox::CLIENT_SECRET);
    assert_eq!(hsm::sandbox_env::DEFAULT_PORT, hsm_sandbox::DEFAULT_PORT);
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
    let resp = get_authorize(&sb, &[("state", "flags")]);
    assert_eq!(resp.status(), StatusCode::FOUND, "auto-approved at once");
    assert_eq!(sb.mint(json!({}))["expires_in"], 7);
    let at = access_token(&sb, json!({}));
    assert_eq!(
        create(&sb, &at, ann()).status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(create(&sb, &at, ann()).status(), StatusCode::CREATED);
}

#[test]
fn the_log_has_a_line_per_request_with_paths_but_never_codes_or_tokens() {
    let sb = Sandbox::start(&[]);
    let tokens = login(&sb);
    let at = s(&tokens["access_token"]);
    assert_eq!(create(&sb, at, ann()).status(), StatusCode::CREATED);
    let log = sb.stderr();
    assert!(log.contains("hsm login --env sandbox"), "{log}");
    assert!(log.contains("live in memory only"), "{log}");
    assert!(log.contains("* POST /oauth/token -> 200 ("), "{log}");
    assert!(log.contains(" /oauth/authorize -> 302 ("), "{log}");
    assert!(log.contains("* POST /v2/contacts -> 201 ("), "{log}");
    assert!(!log.contains("bytes in"), "{log}");
    assert!(!log.contains(at));
    assert!(!log.contains("sbx_") && !log.contains("code="), "{log}");
    // Personal data in the body never reaches the log.
    assert!(!log.contains("Ann"), "{log}");
}

#[test]
fn the_verbose_log_adds_request_sizes() {
    let sb = Sandbox::start(&["-v"]);
    login(&sb);
    let log = sb.stderr();
    assert!(log.contains(" bytes in)"), "{log}");
    assert!(log.contains("* POST /oauth/token -> 200 ("), "{log}");
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
    let out = crate::common::TestEnv::new()
        .cmd()
        .args(["sandbox", "--port", &port])
        .output()
        .expect("run hsm");
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&port) && err.contains("--port"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_fault_spec_at_start_up_is_a_usage_error() {
    let out = crate::common::TestEnv::new()
        .cmd()
        .args(["sandbox", "--port", "0", "--fault", "create:teapot"])
        .output()
        .expect("run hsm");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("create:teapot"));
    assert!(out.stdout.is_empty(), "no URL when nothing listens");
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

// ---------- authorize ----------

#[test]
fn unknown_or_missing_client_gets_a_page_and_no_redirect() {
    let sb = Sandbox::start(&[]);
    for client in ["someone-else", ""] {
        let resp = get_authorize(&sb, &[("client_id", client), ("state", "s1")]);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(resp.headers().get("location").is_none());
        assert!(is_html(&resp));
    }
    // The POST path re-validates too.
    let resp = post_decision(&sb, &[("client_id", "someone-else")], "approve");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
    assert_eq!(sb.stats()["codes_issued"], 0);
}

#[test]
fn non_loopback_redirect_uri_gets_a_page_and_no_redirect() {
    let sb = Sandbox::start(&[]);
    for uri in [
        "https://evil.example/cb",
        "http://example.com/cb",
        "https://127.0.0.1/cb",
        "http://127.0.0.1/cb#x",
        "http://<script>/",
        "",
    ] {
        let resp = get_authorize(&sb, &[("redirect_uri", uri)]);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(resp.headers().get("location").is_none(), "{uri}");
        let page = resp.text().expect("page");
        assert!(!page.contains("<script>"), "{uri}");
    }
    let resp = post_decision(
        &sb,
        &[("redirect_uri", "https://evil.example/cb")],
        "approve",
    );
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
    assert_eq!(sb.stats()["codes_issued"], 0);
}

#[test]
fn loopback_redirect_uris_of_every_kind_are_accepted() {
    let sb = Sandbox::start(&["--auto-approve"]);
    for uri in [
        "http://127.0.0.1:1/a",
        "http://[::1]:65000/cb",
        "http://localhost/x/y",
    ] {
        let loc = location(&get_authorize(&sb, &[("redirect_uri", uri)]));
        assert!(loc.starts_with(&format!("{uri}?code=")), "{loc}");
    }
    let uri = "http://localhost:8765/cb?keep=1";
    let loc = location(&get_authorize(&sb, &[("redirect_uri", uri)]));
    assert!(
        loc.starts_with("http://localhost:8765/cb?keep=1&code="),
        "{loc}"
    );
    assert_eq!(query_of(&loc)["keep"], "1");
}

#[test]
fn other_authorize_errors_redirect_with_error_and_state() {
    let sb = Sandbox::start(&[]);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("response_type", "")], "invalid_request"),
        (&[("scope", "admin")], "invalid_scope"),
        (&[("scope", "")], "invalid_scope"),
        (
            &[
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (&[("code_challenge", CHALLENGE)], "invalid_request"),
        (&[("code_challenge_method", "S256")], "invalid_request"),
        (
            &[
                ("code_challenge", "too-short"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
    ];
    for (extra, error) in cases {
        let mut extra = extra.to_vec();
        extra.push(("state", "st&te=1 2"));
        let loc = location(&get_authorize(&sb, &extra));
        assert!(loc.starts_with(REDIRECT), "{loc}");
        let q = query_of(&loc);
        assert_eq!(q["error"], *error, "{extra:?}");
        assert_eq!(q["state"], "st&te=1 2");
        assert!(!q.contains_key("code"));
    }
    assert_eq!(sb.stats()["codes_issued"], 0);
}

#[test]
fn consent_page_names_client_scope_and_carries_parameters_escaped() {
    let sb = Sandbox::start(&[]);
    let state = "\"><script>alert(1)</script>";
    let resp = get_authorize(
        &sb,
        &[
            ("state", state),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(is_html(&resp));
    let page = resp.text().expect("page");
    for needle in [
        "hsm-sandbox",
        "partner_api_v2",
        r#"<button type="submit" name="decision" value="approve" id="approve">Approve</button>"#,
        r#"value="deny" id="deny">Deny</button>"#,
        r#"method="post" action="/oauth/authorize""#,
        r#"value="agent@sandbox.test""#,
        "Agent email",
        CHALLENGE,
        "&quot;&gt;&lt;script&gt;",
    ] {
        assert!(page.contains(needle), "consent page lacks {needle}");
    }
    assert!(!page.contains("<script"), "state must be escaped");
    assert!(!page.contains("src="), "no external resources");
    assert_eq!(
        sb.stats()["codes_issued"],
        0,
        "showing the page issues nothing"
    );
}

#[test]
fn approve_redirects_with_code_and_exact_state() {
    let sb = Sandbox::start(&[]);
    let state = "a b&c=d/é+%";
    let loc = location(&post_decision(&sb, &[("state", state)], "approve"));
    let q = query_of(&loc);
    assert_eq!(q["state"], state);
    assert!(q["code"].len() >= 32);
    let loc = location(&post_decision(&sb, &[], "approve"));
    assert!(!query_of(&loc).contains_key("state"), "no state invented");
}

#[test]
fn deny_redirects_with_access_denied_and_state() {
    let sb = Sandbox::start(&[]);
    let loc = location(&post_decision(&sb, &[("state", "xyz")], "deny"));
    assert!(loc.starts_with(REDIRECT));
    assert!(
        loc.contains("error=access_denied&error_description=The+user+denied+the+request&state=xyz"),
        "{loc}"
    );
    assert!(!query_of(&loc).contains_key("code"));
    assert_eq!(sb.stats()["codes_issued"], 0);
}

#[test]
fn consent_decision_other_than_approve_or_deny_is_refused() {
    let sb = Sandbox::start(&[]);
    let resp = post_decision(&sb, &[], "maybe");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
}

#[test]
fn agent_email_on_the_consent_page_owns_the_contacts() {
    let sb = Sandbox::start(&[]);
    let code = approve(&sb, &[("agent_email", "other@sandbox.test")]);
    let other = tokens_ok(exchange(&sb, &code, None));
    let other = s(&other["access_token"]);
    let mine = login(&sb);
    let contact = created(create(&sb, s(&mine["access_token"]), ann()));
    let resp = search(&sb, other, json!({"medicare_number": "1EG4-TE5-MK72"}));
    assert_eq!(
        resp.json::<Value>().expect("JSON"),
        json!({"data": {"contact": null, "redirect_url": null}})
    );
    let (status, code) = error_code(update(&sb, other, s(&contact["id"]), json!({"city": "X"})));
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "contact_not_found")
    );
    let resp = post_decision(&sb, &[("agent_email", "not an email")], "approve");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn auto_approve_redirects_at_once() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let extra = [
        ("state", "s"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let q = query_of(&location(&get_authorize(&sb, &extra)));
    assert_eq!(q["state"], "s");
    tokens_ok(exchange(&sb, &q["code"], Some(VERIFIER)));
    // Errors are still errors.
    let q = query_of(&location(&get_authorize(&sb, &[("scope", "x")])));
    assert_eq!(q["error"], "invalid_scope");
}

// ---------- token endpoint ----------

#[test]
fn code_is_single_use_and_reuse_revokes_what_it_gave() {
    let sb = Sandbox::start(&[]);
    let code = approve(&sb, &[]);
    let tokens = tokens_ok(exchange(&sb, &code, None));
    let at = s(&tokens["access_token"]);
    assert_eq!(search_status(&sb, at), StatusCode::OK);
    assert_oauth_error(
        exchange(&sb, &code, None),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_eq!(search_status(&sb, at), StatusCode::UNAUTHORIZED);
    assert_oauth_error(
        refresh(&sb, s(&tokens["refresh_token"])),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    let stats = sb.stats();
    assert_eq!(stats["code_exchanges"], 1);
    assert_eq!(stats["families_revoked"], 1);
}

#[test]
fn redirect_uri_must_match_the_authorize_request() {
    let sb = Sandbox::start(&[]);
    let code = approve(&sb, &[]);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    assert_oauth_error(
        token_request(&sb, &form),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    form.push(("redirect_uri", "http://127.0.0.1:8765/other"));
    assert_oauth_error(
        token_request(&sb, &form),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
}

#[test]
fn pkce_verifier_must_match_the_challenge() {
    let sb = Sandbox::start(&[]);
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let code = approve(&sb, &pkce);
    let wrong = "x".repeat(43);
    assert_oauth_error(
        exchange(&sb, &code, Some(&wrong)),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    // The failed attempt burnt the code.
    assert_oauth_error(
        exchange(&sb, &code, Some(VERIFIER)),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    let code = approve(&sb, &pkce);
    assert_oauth_error(
        exchange(&sb, &code, None),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    // A verifier for a code issued without a challenge is refused too.
    let code = approve(&sb, &[]);
    assert_oauth_error(
        exchange(&sb, &code, Some(VERIFIER)),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    let code = approve(&sb, &pkce);
    tokens_ok(exchange(&sb, &code, Some(VERIFIER)));
}

#[test]
fn client_authentication() {
    let sb = Sandbox::start(&[]);
    let code = approve(&sb, &[]);
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut form = base.to_vec();
        form.extend_from_slice(extra);
        token_request(&sb, &form)
    };
    let unauthorized = StatusCode::UNAUTHORIZED;
    assert_oauth_error(
        with(&[("client_id", CLIENT_ID), ("client_secret", "wrong")]),
        unauthorized,
        "invalid_client",
    );
    assert_oauth_error(
        with(&[("client_id", "other"), ("client_secret", CLIENT_SECRET)]),
        unauthorized,
        "invalid_client",
    );
    assert_oauth_error(
        with(&[("client_id", CLIENT_ID)]),
        unauthorized,
        "invalid_client",
    );
    assert_oauth_error(with(&[]), unauthorized, "invalid_client");
    let basic = |secret: &str| {
        sb.client()
            .post(sb.url("/oauth/token"))
            .basic_auth(CLIENT_ID, Some(secret))
            .form(&base)
            .send()
            .expect("POST")
    };
    let resp = basic("wrong");
    assert!(resp.headers().get("www-authenticate").is_some());
    assert_oauth_error(resp, unauthorized, "invalid_client");
    // A failed client authentication does not burn the code; HTTP Basic works.
    tokens_ok(basic(CLIENT_SECRET));
}

#[test]
fn token_request_errors() {
    let sb = Sandbox::start(&[]);
    let with = |extra: &[(&str, &str)]| {
        let mut form = vec![("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)];
        form.extend_from_slice(extra);
        token_request(&sb, &form)
    };
    let bad = StatusCode::BAD_REQUEST;
    assert_oauth_error(with(&[]), bad, "invalid_request");
    assert_oauth_error(
        with(&[("grant_type", "password")]),
        bad,
        "unsupported_grant_type",
    );
    assert_oauth_error(
        with(&[("grant_type", "client_credentials")]),
        bad,
        "unsupported_grant_type",
    );
    assert_oauth_error(
        with(&[
            ("grant_type", "authorization_code"),
            ("code", "sbx_ac_nope"),
            ("redirect_uri", REDIRECT),
        ]),
        bad,
        "invalid_grant",
    );
    assert_oauth_error(
        with(&[("grant_type", "refresh_token")]),
        bad,
        "invalid_request",
    );
    assert_oauth_error(
        with(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "sbx_rt_nope"),
        ]),
        bad,
        "invalid_grant",
    );
    let json_body = sb
        .client()
        .post(sb.url("/oauth/token"))
        .json(&json!({"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}))
        .send()
        .expect("POST");
    assert_oauth_error(json_body, bad, "invalid_request");
    let resp = sb.client().get(sb.url("/oauth/token")).send().expect("GET");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(sb.stats()["token_requests"], 8);
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let sb = Sandbox::start(&[]);
    let first = login(&sb);
    let second = tokens_ok(refresh(&sb, s(&first["refresh_token"])));
    assert_ne!(first["refresh_token"], second["refresh_token"]);
    assert_ne!(first["access_token"], second["access_token"]);
    let third = tokens_ok(refresh(&sb, s(&second["refresh_token"])));
    assert_eq!(
        search_status(&sb, s(&third["access_token"])),
        StatusCode::OK
    );

    // A rotated token comes back: reuse detected, everything of this login dies.
    assert_oauth_error(
        refresh(&sb, s(&first["refresh_token"])),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_eq!(
        search_status(&sb, s(&third["access_token"])),
        StatusCode::UNAUTHORIZED
    );
    assert_oauth_error(
        refresh(&sb, s(&third["refresh_token"])),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );

    // Another login is not affected.
    let other = login(&sb);
    tokens_ok(refresh(&sb, s(&other["refresh_token"])));
    let stats = sb.stats();
    assert_eq!(stats["reuse_detected"], 1);
    assert_eq!(stats["families_revoked"], 1);
    assert_eq!(stats["refreshes"], 3);
    assert_eq!(stats["code_exchanges"], 2);
    assert_eq!(stats["codes_issued"], 2);
}

#[test]
fn access_tokens_expire_after_access_ttl() {
    let sb = Sandbox::start(&["--access-ttl", "1"]);
    let tokens = login(&sb);
    assert_eq!(tokens["expires_in"], 1);
    let at = s(&tokens["access_token"]);
    assert_eq!(search_status(&sb, at), StatusCode::OK);
    thread::sleep(Duration::from_millis(1100));
    let resp = search(&sb, at, json!({"medicare_number": "1"}));
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.text().expect("body"), INVALID_TOKEN);
    let fresh = tokens_ok(refresh(&sb, s(&tokens["refresh_token"])));
    assert_eq!(
        search_status(&sb, s(&fresh["access_token"])),
        StatusCode::OK
    );
}

#[test]
fn admin_mint_and_revoke() {
    let sb = Sandbox::start(&[]);
    let a = sb.mint(json!({"access_ttl": 7}));
    assert_eq!(a["expires_in"], 7);
    let b = sb.mint(json!({}));
    assert_eq!(b["expires_in"], 3600);
    assert_eq!(
        sb.revoke(Some(s(&a["refresh_token"]))),
        json!({"revoked_families": 1})
    );
    assert_eq!(
        search_status(&sb, s(&a["access_token"])),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(search_status(&sb, s(&b["access_token"])), StatusCode::OK);
    sb.revoke(None);
    assert_eq!(
        search_status(&sb, s(&b["access_token"])),
        StatusCode::UNAUTHORIZED
    );
    let resp = sb
        .client()
        .post(sb.url("/__sandbox/tokens"))
        .body("[1]")
        .send()
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

// ---------- API authentication ----------

#[test]
fn exact_401_bodies_and_challenges() {
    let sb = Sandbox::start(&[]);
    let resp = api(
        &sb,
        reqwest::Method::POST,
        "/v2/contacts",
        None,
        Some(json!({"contact": ann()})),
    );
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().expect("body"), MISSING_AUTH);
    for token in ["sbx_at_unknown", ""] {
        let resp = create(&sb, token, ann());
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
        assert_eq!(resp.text().expect("body"), INVALID_TOKEN);
    }
    let resp = sb
        .client()
        .post(sb.url("/v2/contacts"))
        .basic_auth("a", Some("b"))
        .send()
        .expect("POST");
    assert_eq!(resp.text().expect("body"), INVALID_TOKEN);
    // A refresh token is not an access token.
    let tokens = sb.mint(json!({}));
    let resp = search(
        &sb,
        s(&tokens["refresh_token"]),
        json!({"medicare_number": "1"}),
    );
    assert_eq!(resp.text().expect("body"), INVALID_TOKEN);
    assert_eq!(sb.stats()["contacts_created"], 0);
}

#[test]
fn wrong_scope_is_403_and_no_agent_is_404() {
    let sb = Sandbox::start(&[]);
    let resp = create(&sb, &access_token(&sb, json!({"scope": "profile"})), ann());
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().expect("JSON");
    assert_eq!(body["error"], "insufficient_scope");
    assert!(body["error_description"].is_string());

    let resp = create(&sb, &access_token(&sb, json!({"agent": null})), ann());
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        resp.json::<Value>().expect("JSON"),
        json!({"error": {"code": "agent_not_found", "message": "Agent not found for the authenticated user"}})
    );
    assert_eq!(sb.stats()["contacts_created"], 0);
}

// ---------- create ----------

#[test]
fn create_returns_the_contact_with_id_slug_and_redirect_url() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    let resp = create(&sb, &at, ann());
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().expect("JSON");
    let contact = &body["data"]["contact"];
    let id = s(&contact["id"]);
    assert_eq!(id.len(), 36);
    assert_eq!(id.matches('-').count(), 4);
    let slug = s(&contact["slug"]);
    assert!(slug.starts_with("ann-lee-"), "{slug}");
    for (k, v) in ann().as_object().expect("object") {
        assert_eq!(&contact[k], v, "{k}");
    }
    let url = s(&body["data"]["redirect_url"]);
    assert_eq!(url, format!("{}/quotes/{slug}?zip=02134", sb.base_url));
    let quote = sb.client().get(url).send().expect("quote page");
    assert_eq!(quote.status(), StatusCode::OK);

    let minimal = json!({"external_id": "2", "first_name": "Bo", "last_name": "Ng"});
    let body: Value = create(&sb, &at, minimal).json().expect("JSON");
    assert!(
        !s(&body["data"]["redirect_url"]).contains('?'),
        "no zip, no zip parameter"
    );
}

#[test]
fn duplicate_external_ids_are_created_and_counted() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    let other = access_token(&sb, json!({"agent": "b@sandbox.test"}));
    let first = created(create(&sb, &at, ann()));
    let second = created(create(&sb, &at, ann()));
    assert_ne!(first["id"], second["id"]);
    created(create(&sb, &other, ann()));
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 3);
    assert_eq!(
        stats["duplicate_external_ids"], 1,
        "another agent's same id is no duplicate"
    );
}

#[test]
fn create_validates_every_field_rule() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    let long = "x".repeat(101);
    let date_rule = "must be a real date as MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD";
    let server = "is assigned by the server and must not be sent";
    let cases: Vec<(&str, Value, &str)> = vec![
        ("external_id", json!(""), "must be 1 to 100 characters"),
        ("first_name", json!(long), "must be 1 to 100 characters"),
        ("last_name", json!(5), "must be a string"),
        ("address_1", json!(long), "must be 1 to 100 characters"),
        ("address_2", json!(""), "must be 1 to 100 characters"),
        ("city", json!(long), "must be 1 to 100 characters"),
        ("medicare_number", json!(""), "must be 1 to 100 characters"),
        ("birth_date", json!("1955-02-30"), date_rule),
        (
            "medicare_part_a_effective_date",
            json!("2024.01.01"),
            date_rule,
        ),
        (
            "medicare_part_b_effective_date",
            json!("13/01/2024"),
            date_rule,
        ),
        (
            "state",
            json!("ZZ"),
            "must be a two-letter US state or territory code",
        ),
        ("zip", json!("1234"), "must be 5 digits"),
        (
            "phone",
            json!("555-123-4567"),
            "must be 10 digits without formatting",
        ),
        (
            "sex",
            json!("Female"),
            "must be one of male, female, M, F, m, f",
        ),
        (
            "email",
            json!("ann@localhost"),
            "must be a valid email address",
        ),
        (
            "medicaid_number",
            json!(long),
            "must be at most 100 characters",
        ),
        ("extra_help", json!("yes"), "must be true, false or null"),
        ("medicaid_eligible", json!(1), "must be true, false or null"),
        ("drugs", json!(["aspirin"]), "must be an array of objects"),
        ("pharmacies", json!({}), "must be an array"),
        ("providers", json!("x"), "must be an array"),
        ("id", json!("abc"), server),
        ("slug", json!("abc"), server),
        ("nickname", json!("Annie"), "unknown field"),
    ];
    for (field, value, message) in &cases {
        let mut contact = ann();
        contact[*field] = value.clone();
        let resp = create(&sb, &at, contact);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{field}");
        let body: Value = resp.json().expect("JSON");
        assert_eq!(body["error"]["code"], "validation_error");
        assert_eq!(
            body["error"]["errors"],
            json!([{"field": field, "message": message}]),
            "{field}"
        );
        assert_eq!(body["error"]["message"], format!("{field}: {message}"));
    }
    assert_eq!(sb.stats()["contacts_created"], 0);
}

#[test]
fn create_accepts_every_valid_form_and_lists_every_violation() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    let goods: Vec<(&str, Value)> = vec![
        ("birth_date", json!("1955/01/15")),
        ("birth_date", json!("02-29-2000")),
        ("state", json!("pr")),
        ("sex", json!("f")),
        ("address_2", Value::Null),
        ("extra_help", Value::Null),
        ("medicaid_eligible", json!(true)),
        ("drugs", json!([{"name": "aspirin"}])),
        ("email", json!("a.b+c@example.co.uk")),
    ];
    for (field, value) in &goods {
        let mut contact = ann();
        contact[*field] = value.clone();
        assert_eq!(
            create(&sb, &at, contact).status(),
            StatusCode::CREATED,
            "{field}={value}"
        );
    }
    // All violations at once, joined in the message.
    let body: Value = create(&sb, &at, json!({"zip": "1", "phone": "2"}))
        .json()
        .expect("JSON");
    assert_eq!(
        body["error"]["message"],
        "external_id: is required; first_name: is required; last_name: is required; \
         zip: must be 5 digits; phone: must be 10 digits without formatting"
    );
    assert_eq!(sb.stats()["contacts_created"], goods.len() as u64);
}

#[test]
fn create_refuses_bodies_that_are_not_a_contact() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    let post = |body: Vec<u8>| {
        sb.client()
            .post(sb.url("/v2/contacts"))
            .bearer_auth(&at)
            .body(body)
            .send()
            .expect("POST")
    };
    for body in [
        "{",
        "[]",
        "{\"external_id\": \"1\"}",
        "{\"contact\": []}",
        "",
    ] {
        let resp = post(body.as_bytes().to_vec());
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(resp.json::<Value>().expect("JSON envelope")["error"]["code"].is_string());
    }
    assert_eq!(
        post(vec![0xff, 0xfe, b'{']).status(),
        StatusCode::BAD_REQUEST
    );
    health_ok(&sb);
}

// ---------- update ----------

#[test]
fn update_rules() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    let other = access_token(&sb, json!({"agent": "b@sandbox.test"}));
    let mut contact = ann();
    contact["drugs"] = json!([{"name": "a"}, {"name": "b"}]);
    let stored = created(create(&sb, &at, contact));
    let id = s(&stored["id"]);

    let expect = |resp: Response, status: StatusCode, code: &str| {
        let (got_status, got_code) = error_code(resp);
        assert_eq!((got_status, got_code.as_str()), (status, code));
    };
    expect(
        update(&sb, &at, "no-such-id", json!({"city": "X"})),
        StatusCode::NOT_FOUND,
        "contact_not_found",
    );
    expect(
        update(&sb, &other, id, json!({"city": "X"})),
        StatusCode::NOT_FOUND,
        "contact_not_found",
    );
    expect(
        update(&sb, &at, id, json!({"external_id": "CRM-2"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "external_id_immutable",
    );
    expect(
        update(&sb, &at, id, json!({"zip": "9"})),
        StatusCode::BAD_REQUEST,
        "validation_error",
    );

    // Same values, including the unchanged external_id: nothing to do.
    let resp = update(
        &sb,
        &at,
        id,
        json!({"external_id": "CRM-1", "zip": "02134"}),
    );
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.bytes().expect("body").is_empty());
    assert_eq!(
        update(&sb, &at, id, json!({})).status(),
        StatusCode::NO_CONTENT
    );

    let change = json!({"city": "Boston", "drugs": [{"name": "c"}], "address_2": null});
    let resp = update(&sb, &at, id, change);
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().expect("JSON");
    let updated = &body["data"]["contact"];
    assert_eq!(updated["city"], "Boston");
    assert_eq!(
        updated["drugs"],
        json!([{"name": "c"}]),
        "nested arrays replace"
    );
    assert_eq!(updated["first_name"], "Ann", "untouched fields stay");
    assert_eq!(updated["id"], stored["id"]);
    assert!(body["data"]["redirect_url"].is_string());
    let resp = api(
        &sb,
        reqwest::Method::PATCH,
        &format!("/v2/contacts/{id}"),
        Some(&at),
        None,
    );
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sb.stats()["contacts_updated"], 1);
}

// ---------- search ----------

#[test]
fn search_rules_match_and_no_match() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    let other = access_token(&sb, json!({"agent": "b@sandbox.test"}));
    let stored = created(create(&sb, &at, ann()));

    for bad in [
        json!({}),
        json!({"first_name": "Ann"}),
        json!({"birth_date": "1955-01-15", "email": "ann@example.com"}),
        json!({"first_name": "Ann", "birth_date": "1955-02-30"}),
        json!({"medicare_number": "1EG4-TE5-MK72", "city": "Boston"}),
        json!({"medicare_number": 12}),
    ] {
        let (status, code) = error_code(search(&sb, &at, bad.clone()));
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "validation_error"),
            "{bad}"
        );
    }
    for query in [
        json!({"medicare_number": "1EG4-TE5-MK72"}),
        json!({"first_name": "ann", "birth_date": "1955-01-15"}),
        json!({"last_name": "Lee", "email": "ANN@example.com"}),
        json!({"first_name": "Ann", "last_name": "Lee", "birth_date": "01-15-1955"}),
    ] {
        let resp = search(&sb, &at, query.clone());
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().expect("JSON");
        assert_eq!(body["data"]["contact"]["id"], stored["id"], "{query}");
        assert!(s(&body["data"]["redirect_url"]).contains("/quotes/"));
    }
    let no_match = json!({"data": {"contact": null, "redirect_url": null}});
    for query in [
        json!({"medicare_number": "0000"}),
        json!({"first_name": "Ann", "phone": "5550000000"}),
    ] {
        let resp = search(&sb, &at, query);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.json::<Value>().expect("JSON"), no_match);
    }
    let resp = search(&sb, &other, json!({"medicare_number": "1EG4-TE5-MK72"}));
    assert_eq!(
        resp.json::<Value>().expect("JSON"),
        no_match,
        "another agent's contact is invisible"
    );
    assert_eq!(sb.stats()["searches"], 7);
}

// ---------- faults and latency ----------

#[test]
fn fault_429_has_retry_after_and_does_not_process() {
    let sb = Sandbox::start(&["--fault", "create:429=2x2"]);
    let at = access_token(&sb, json!({}));
    for _ in 0..2 {
        let resp = create(&sb, &at, ann());
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()["retry-after"], "2");
        assert_eq!(
            resp.json::<Value>().expect("JSON")["error"]["code"],
            "rate_limited"
        );
    }
    assert_eq!(sb.stats()["contacts_created"], 0);
    created(create(&sb, &at, ann()));
    let stats = sb.stats();
    assert_eq!(stats["faults_injected"], 2);
    assert_eq!(stats["contacts_created"], 1);
}

#[test]
fn status_faults_html_for_5xx_json_for_4xx() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    sb.set_faults(&["api:503", "search:409", "token:html500", "contacts:429"]);
    let resp = create(&sb, &at, ann());
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(is_html(&resp));
    assert!(resp.text().expect("body").contains("503"));
    let resp = search(&sb, &at, json!({"medicare_number": "1"}));
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        resp.json::<Value>().expect("JSON")["error"]["code"],
        "http_409"
    );
    let resp = refresh(&sb, "whatever");
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(is_html(&resp));
    // `contacts` is an alias of `api`: the next API call of any kind draws it.
    assert_eq!(search_status(&sb, &at), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(search_status(&sb, &at), StatusCode::OK);
    assert_eq!(sb.stats()["faults_injected"], 4);
}

#[test]
fn malformed_and_html_faults_answer_200_without_processing() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    sb.set_faults(&["create:malformed", "create:html"]);
    let resp = create(&sb, &at, ann());
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(serde_json::from_slice::<Value>(&resp.bytes().expect("body")).is_err());
    let resp = create(&sb, &at, ann());
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(is_html(&resp));
    assert_eq!(sb.stats()["contacts_created"], 0);
    sb.set_faults(&["authorize:html"]);
    let page = get_authorize(&sb, &[]).text().expect("page");
    assert!(page.contains("Sign in") && !page.contains("id=\"approve\""));
}

#[test]
fn delay_fault_waits_then_processes() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    sb.set_faults(&["create:delay=300"]);
    let start = Instant::now();
    created(create(&sb, &at, ann()));
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(sb.stats()["contacts_created"], 1);
}

#[test]
fn lost_fault_processes_then_drops_the_answer() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    sb.set_faults(&["create:lost=100"]);
    let start = Instant::now();
    let result = sb
        .client()
        .post(sb.url("/v2/contacts"))
        .bearer_auth(&at)
        .json(&json!({"contact": ann()}))
        .send();
    assert!(
        result.is_err(),
        "the answer must be lost, got {:?}",
        result.map(|r| r.status())
    );
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(
        sb.stats()["contacts_created"],
        1,
        "the request reached the server"
    );
    let resp = search(&sb, &at, json!({"medicare_number": "1EG4-TE5-MK72"}));
    assert!(resp.json::<Value>().expect("JSON")["data"]["contact"].is_object());
}

#[test]
fn faults_are_served_in_order_and_can_be_cleared() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    sb.set_faults(&["any:502", "create:500x2"]);
    health_ok(&sb);
    assert_eq!(create(&sb, &at, ann()).status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        create(&sb, &at, ann()).status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    sb.clear_faults();
    assert_eq!(create(&sb, &at, ann()).status(), StatusCode::CREATED);
    for bad in [
        json!({"faults": ["create:teapot"]}),
        json!({"faults": "create:500"}),
        json!({"faults": [1]}),
        json!([]),
    ] {
        let resp = sb
            .client()
            .post(sb.url("/__sandbox/faults"))
            .json(&bad)
            .send()
            .expect("POST");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        create(&sb, &at, ann()).status(),
        StatusCode::CREATED,
        "a refused spec installs nothing"
    );
}

#[test]
fn latency_delays_api_but_not_admin() {
    // An hour of latency: no API answer can come back while the test runs, so an admin answer
    // arriving while API requests are still held shows the order directly, with no clock.
    let sb = Sandbox::in_process(hsm_sandbox::Config {
        latency: Duration::from_secs(3600),
        ..sandbox_config(&[])
    });
    let at = access_token(&sb, json!({}));
    let (answered, answers) = mpsc::channel();
    for token in [Some(at), None] {
        let (url, answered) = (sb.url("/v2/contacts/search"), answered.clone());
        thread::spawn(move || {
            let mut req = http_client()
                .post(url)
                .json(&json!({"medicare_number": "1"}));
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            let _ = answered.send(req.send().map(|r| r.status()));
        });
    }
    // Both have reached the server (they are counted before the latency)...
    let deadline = Instant::now() + Duration::from_secs(20);
    while sb.stats()["api_requests"] != 2 {
        assert!(Instant::now() < deadline, "the API requests never arrived");
        thread::sleep(Duration::from_millis(10));
    }
    // ...the admin area answers at once...
    health_ok(&sb);
    // ...and neither API request, the authorized one nor the 401, has been answered.
    assert!(
        matches!(answers.try_recv(), Err(mpsc::TryRecvError::Empty)),
        "API answers, error answers included, wait for the latency"
    );

    // A short latency is waited out, then the request is served.
    let sb = Sandbox::start(&["--latency-ms", "400"]);
    let at = access_token(&sb, json!({}));
    let start = Instant::now();
    assert_eq!(search_status(&sb, &at), StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(400));
}

// ---------- rate limit and pacing stats ----------

fn stat(stats: &Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in {stats}"))
}

#[test]
fn rate_limit_answers_429_with_retry_after_beyond_the_bucket_and_counts_them() {
    let sb = Sandbox::start(&["--rate-limit", "5"]);
    assert!(
        sb.stderr().contains("rate limit:    5 requests/s over /v2"),
        "{}",
        sb.stderr()
    );
    let at = access_token(&sb, json!({}));
    let start = Instant::now();
    let answers: Vec<Response> = (0..20)
        .map(|_| search(&sb, &at, json!({"medicare_number": "1"})))
        .collect();
    let elapsed = start.elapsed();
    let mut limited = 0;
    let mut retry_after = 0;
    for resp in answers {
        if resp.status() == StatusCode::OK {
            continue;
        }
        limited += 1;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let header = resp.headers()["retry-after"].to_str().expect("ASCII");
        retry_after = header.parse::<u64>().expect("whole seconds");
        assert!(retry_after >= 1, "Retry-After: {header}");
        assert_eq!(error_code(resp).1, "rate_limited");
    }
    // A full bucket of 5, plus what refilled at 5/s while the burst ran (none when it took
    // under 200 ms, as it does on an idle machine).
    let refilled = (elapsed.as_secs_f64() * 5.0).floor() as u64;
    let passed = 20 - limited;
    assert!(
        (5..=5 + refilled).contains(&passed),
        "{passed} of 20 passed in {elapsed:?}"
    );
    let stats = sb.stats();
    assert_eq!(stat(&stats, "rate_limited"), limited);
    assert_eq!(stat(&stats, "api_requests"), 20);
    assert_eq!(stat(&stats, "searches"), passed, "a 429 is not processed");
    assert_eq!(stat(&stats, "faults_injected"), 0);

    // The bucket is empty, yet the token endpoint and the admin area are not limited.
    for _ in 0..10 {
        let resp = refresh(&sb, "sbx_rt_unknown");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    health_ok(&sb);

    // Waiting out Retry-After is enough.
    thread::sleep(Duration::from_secs(retry_after));
    assert_eq!(search_status(&sb, &at), StatusCode::OK);
    assert_eq!(stat(&sb.stats(), "rate_limited"), limited);
}

#[test]
fn rate_limit_must_be_a_sensible_whole_number() {
    for bad in ["0", "-1", "2.5", "abc", "1000001"] {
        let out = crate::common::TestEnv::new()
            .cmd()
            .args(["sandbox", "--port", "0", &format!("--rate-limit={bad}")])
            .output()
            .expect("run hsm");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--rate-limit"), "{bad}: {err}");
        assert!(out.stdout.is_empty(), "no URL when nothing listens");
    }
}

#[test]
fn in_flight_peak_counts_concurrent_api_requests_and_returns_to_zero() {
    // A second of latency holds the five requests in flight together.
    let sb = Sandbox::start(&["--latency-ms", "1000"]);
    let at = access_token(&sb, json!({}));
    let ready = std::sync::Arc::new(std::sync::Barrier::new(5));
    let clients: Vec<_> = (0..5)
        .map(|_| {
            let (url, at, ready) = (sb.url("/v2/contacts/search"), at.clone(), ready.clone());
            thread::spawn(move || {
                ready.wait();
                let resp = http_client()
                    .post(url)
                    .bearer_auth(at)
                    .json(&json!({"medicare_number": "1"}))
                    .send()
                    .expect("search");
                resp.status()
            })
        })
        .collect();
    // While they wait, the admin area sees them in flight.
    let deadline = Instant::now() + Duration::from_secs(20);
    while stat(&sb.stats(), "api_requests") < 5 {
        assert!(Instant::now() < deadline, "the requests never arrived");
        thread::sleep(Duration::from_millis(10));
    }
    let during = sb.stats();
    for client in clients {
        assert_eq!(client.join().expect("client thread"), StatusCode::OK);
    }
    let after = sb.stats();
    assert_eq!(stat(&after, "api_in_flight_peak"), 5, "{after}");
    assert_eq!(stat(&after, "api_in_flight"), 0, "every guard dropped");
    assert!(stat(&during, "api_in_flight") >= 1, "{during}");
    // Admin requests are neither in flight nor counted.
    assert_eq!(stat(&after, "requests"), 5);

    let reset = sb.reset_stats();
    assert_eq!(stat(&reset, "api_in_flight_peak"), 0);
    assert_eq!(stat(&reset, "api_requests"), 5, "other counters stay");
}

#[test]
fn a_request_abandoned_by_its_client_leaves_the_in_flight_count() {
    let sb = Sandbox::start(&["--latency-ms", "5000"]);
    let at = access_token(&sb, json!({}));
    let impatient = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let sent = impatient
        .post(sb.url("/v2/contacts/search"))
        .bearer_auth(at)
        .json(&json!({"medicare_number": "1"}))
        .send();
    assert!(sent.is_err(), "timed out during the latency");
    assert_eq!(stat(&sb.stats(), "api_in_flight_peak"), 1);
    // The closed connection drops the request, well before its 5 s latency ends.
    let deadline = Instant::now() + Duration::from_secs(3);
    while stat(&sb.stats(), "api_in_flight") != 0 {
        assert!(Instant::now() < deadline, "still in flight: {}", sb.stats());
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn max_per_second_is_the_busiest_one_second_window_until_reset() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    // `n` searches in a row: all within one second unless the machine is very busy.
    let burst = |n: u64| {
        let start = Instant::now();
        for _ in 0..n {
            assert_eq!(search_status(&sb, &at), StatusCode::OK);
        }
        let max = stat(&sb.stats(), "api_max_per_second");
        if start.elapsed() < Duration::from_millis(900) {
            assert_eq!(max, n);
        } else {
            assert!((1..=n).contains(&max), "{max} of {n}");
        }
    };
    burst(8);
    // Token requests and admin calls are not /v2 arrivals.
    refresh(&sb, "sbx_rt_unknown");
    let stats = sb.stats();
    assert!((1..=8).contains(&stat(&stats, "api_max_per_second")));
    assert_eq!(stat(&stats, "api_in_flight_peak"), 1, "one at a time");

    let reset = sb.reset_stats();
    assert_eq!(stat(&reset, "api_max_per_second"), 0);
    assert_eq!(stat(&reset, "api_in_flight_peak"), 0);
    assert_eq!(stat(&reset, "searches"), 8, "other counters stay");
    burst(3);
    let wrong = sb
        .client()
        .get(sb.url("/__sandbox/stats/reset"))
        .send()
        .expect("GET");
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
}

// ---------- bounds and garbage ----------

#[test]
fn oversized_bodies_get_413() {
    let sb = Sandbox::start(&[]);
    let at = access_token(&sb, json!({}));
    let huge = vec![b'a'; 1024 * 1024 + 1];
    let resp = sb
        .client()
        .post(sb.url("/v2/contacts"))
        .bearer_auth(&at)
        .body(huge)
        .send()
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        resp.json::<Value>().expect("JSON")["error"]["code"],
        "payload_too_large"
    );
    health_ok(&sb);
}

#[test]
fn wrong_methods_unknown_paths_and_raw_garbage_never_kill_the_server() {
    let sb = Sandbox::start(&[]);
    let c = sb.client();
    for (method, path, allow) in [
        (reqwest::Method::GET, "/v2/contacts", "POST"),
        (reqwest::Method::DELETE, "/oauth/authorize", "GET, POST"),
        (reqwest::Method::GET, "/v2/contacts/search", "POST"),
        (reqwest::Method::POST, "/v2/contacts/abc", "PATCH"),
        (reqwest::Method::PUT, "/__sandbox/stats", "GET"),
    ] {
        let resp = c
            .request(method.clone(), sb.url(path))
            .send()
            .expect("request");
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(resp.headers()["allow"], allow);
        assert!(resp.json::<Value>().expect("JSON")["error"]["code"].is_string());
    }
    for path in [
        "/",
        "/v2",
        "/v2/contacts/a/b",
        "/__sandbox/nope",
        "/oauth/revoke",
        "/%ff%00",
    ] {
        let resp = c.get(sb.url(path)).send().expect("request");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json");
    }
    let resp = c
        .post(sb.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, b'=', 0xfe, b'&', b'%'])
        .send()
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = c
        .post(sb.url("/oauth/authorize"))
        .body(vec![0xff, 0x00, b'%', b'z'])
        .send()
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00",
    ] {
        let mut stream =
            TcpStream::connect(sb.base_url.trim_start_matches("http://")).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream.write_all(garbage).expect("write");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
    health_ok(&sb);
}

// ---------- in a real browser ----------

/// Plays the CLI's loopback listener: answers requests until one for `/callback` arrives,
/// and sends that path and query back.
fn callback_listener() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind callback listener");
    let port = listener.local_addr().expect("addr").port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let target = request
                .lines()
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .unwrap_or("")
                .to_owned();
            let is_callback = target.starts_with("/callback");
            let (status, body) = if is_callback {
                ("200 OK", "Signed in. You can close this tab.")
            } else {
                ("404 Not Found", "")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if is_callback {
                let _ = tx.send(target);
                return;
            }
        }
    });
    (redirect_uri, rx)
}

fn browser_authorize_url(sb: &Sandbox, redirect_uri: &str, state: &str) -> String {
    let mut url = url::Url::parse(&sb.url("/oauth/authorize")).expect("URL");
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "partner_api_v2")
        .append_pair("state", state)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    url.into()
}

#[test]
fn browser_approve_delivers_code_and_state_to_the_loopback_listener() {
    let sb = Sandbox::start(&[]);
    let (redirect_uri, received) = callback_listener();
    let state = "st-4fQ9_x";
    let Some(browser) = Browser::start() else {
        return;
    };
    browser.goto(&browser_authorize_url(&sb, &redirect_uri, state));
    let page = browser.page_source();
    assert!(
        page.contains("hsm-sandbox") && page.contains("partner_api_v2"),
        "consent page: {page}"
    );
    browser.click("#approve");
    let target = received
        .recv_timeout(Duration::from_secs(20))
        .expect("the browser reached the callback");
    let q = query_of(&format!("http://127.0.0.1{target}"));
    assert_eq!(q["state"], state);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let tokens = tokens_ok(token_request(&sb, &form));
    assert_eq!(
        search_status(&sb, s(&tokens["access_token"])),
        StatusCode::OK
    );
    assert!(browser.current_url().starts_with(&redirect_uri));
}

#[test]
fn browser_deny_delivers_access_denied() {
    let sb = Sandbox::start(&[]);
    let (redirect_uri, received) = callback_listener();
    let Some(browser) = Browser::start() else {
        return;
    };
    browser.goto(&browser_authorize_url(&sb, &redirect_uri, "deny-state"));
    browser.click("#deny");
    let target = received
        .recv_timeout(Duration::from_secs(20))
        .expect("the browser reached the callback");
    let q = query_of(&format!("http://127.0.0.1{target}"));
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "deny-state");
    assert!(!q.contains_key("code"));
    assert_eq!(sb.stats()["codes_issued"], 0);
}

#[test]
fn connections_beyond_the_cap_wait_until_one_is_freed() {
    let sb = Sandbox::start(&[]);
    let addr = sb.base_url.trim_start_matches("http://").to_string();
    // 256 clients that connect and say nothing hold every slot. No need to wait for the
    // sandbox to accept them: each connect() has returned, so they sit in the listen queue,
    // which the sandbox accepts from in order, ahead of the connection made below.
    let mut idle: Vec<TcpStream> = (0..256)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    let quick = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(1500))
        .build()
        .expect("client");
    assert!(
        quick.get(sb.url("/__sandbox/health")).send().is_err(),
        "the 257th connection waits instead of being served"
    );
    idle.truncate(200);
    health_ok(&sb);
}

#[test]
fn pages_carry_a_content_security_policy_and_cannot_be_framed() {
    let sb = Sandbox::start(&[]);
    let resp = get_authorize(&sb, &[]);
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let csp = header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(header("x-frame-options"), "DENY");
}

/// A bounded run of random bytes at the sandbox's request handling (raw, and after a valid
/// request line): every connection gets an answer or is closed, and the server keeps serving.
#[test]
fn random_bytes_never_break_the_sandbox() {
    use proptest::prelude::*;
    use std::io::{Read, Write};
    let sb = Sandbox::start(&[]);
    let addr = sb.base_url.trim_start_matches("http://").to_string();
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 150,
        failure_persistence: None,
        ..Default::default()
    });
    let prefixes = prop::sample::select(vec![
        "",
        "POST /v2/contacts HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n",
        "POST /oauth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /oauth/authorize?",
    ]);
    runner
        .run(
            &(prefixes, prop::collection::vec(any::<u8>(), 0..2048)),
            |(prefix, bytes)| {
                let mut s = std::net::TcpStream::connect(&addr).unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                let _ = s.write_all(prefix.as_bytes());
                let _ = s.write_all(&bytes);
                let _ = s.shutdown(std::net::Shutdown::Write);
                let mut answer = Vec::new();
                let _ = s.read_to_end(&mut answer);
                Ok(())
            },
        )
        .unwrap();
    let health = sb.client().get(sb.url("/__sandbox/health")).send().unwrap();
    assert_eq!(health.status(), 200);
}

/// Every connection slot held by a body that stalls after its first byte: other clients are
/// served within seconds, not after the 30 s body timeout.
#[test]
fn stalled_bodies_on_every_connection_slot_do_not_hold_other_clients_off() {
    use std::io::Write;
    let sb = Sandbox::start(&[]);
    let addr = sb.base_url.trim_start_matches("http://").to_string();
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
            break;
        };
        let _ = s.write_all(
            b"POST /v2/contacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        );
        stalled.push(s);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let health = sb
        .client()
        .get(sb.url("/__sandbox/health"))
        .timeout(std::time::Duration::from_secs(25))
        .send()
        .expect("served while bodies stall");
    assert_eq!(health.status(), 200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "waited {:?}",
        started.elapsed()
    );
    drop(stalled);
}

#[test]
fn a_consent_decision_needs_the_nonce_of_a_form_the_sandbox_showed_once() {
    let sb = Sandbox::start(&[]);
    let post = |nonce: Option<&str>| {
        let mut form = authorize_query(&[]);
        form.push(("decision".into(), "approve".into()));
        if let Some(n) = nonce {
            form.push(("form_nonce".into(), n.to_string()));
        }
        sb.client()
            .post(sb.url("/oauth/authorize"))
            .form(&form)
            .send()
            .expect("POST /oauth/authorize")
    };
    // Another page posting the form (no nonce, or a made-up one) gets no code.
    assert_eq!(post(None).status(), StatusCode::BAD_REQUEST);
    assert_eq!(post(Some("forged")).status(), StatusCode::BAD_REQUEST);
    let nonce = form_nonce(&get_authorize(&sb, &[]).text().unwrap());
    assert_eq!(post(Some(&nonce)).status(), StatusCode::FOUND);
    assert_eq!(post(Some(&nonce)).status(), StatusCode::BAD_REQUEST, "once");
}

//! The authorization server: the consent page and its decisions, the token endpoint (codes,
//! PKCE, client authentication, refresh rotation and reuse), the admin tokens, and the consent
//! page in a real browser.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use hsm_sandbox::{CLIENT_ID, CLIENT_SECRET, Config};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::browser::Browser;
use crate::common::*;

// ---------- authorize ----------

#[test]
fn unknown_or_missing_client_gets_a_page_and_no_redirect() {
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::start(Config {
        auto_approve: true,
        ..config()
    });
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
    let resp = post_decision(&sb, &[], "maybe");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
}

#[test]
fn agent_email_on_the_consent_page_owns_the_contacts() {
    let sb = Sandbox::new();
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
    let sb = Sandbox::start(Config {
        auto_approve: true,
        ..config()
    });
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::start(Config {
        access_ttl: Duration::from_secs(1),
        ..config()
    });
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
    let sb = Sandbox::new();
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
fn pages_carry_a_content_security_policy_and_cannot_be_framed() {
    let sb = Sandbox::new();
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

#[test]
fn a_consent_decision_needs_the_nonce_of_a_form_the_sandbox_showed_once() {
    let sb = Sandbox::new();
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

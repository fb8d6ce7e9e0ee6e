//! The requests the tests make of the sandbox (the consent form, the token endpoint, the
//! contacts API) and the checks every answer of a kind must pass.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use super::Sandbox;
use hsm_sandbox::{CLIENT_ID, CLIENT_SECRET};

pub const REDIRECT: &str = "http://127.0.0.1:8765/callback";
/// RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const MISSING_AUTH: &str =
    r#"{"error": {"message": "Missing authorization header", "code": "missing_authorization"}}"#;
pub const INVALID_TOKEN: &str =
    r#"{"error": {"message": "The access token is invalid.", "code": "invalid_token"}}"#;

pub fn authorize_query(extra: &[(&str, &str)]) -> Vec<(String, String)> {
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

pub fn get_authorize(sb: &Sandbox, extra: &[(&str, &str)]) -> Response {
    let mut url = url::Url::parse(&sb.url("/oauth/authorize")).expect("URL");
    url.query_pairs_mut().extend_pairs(authorize_query(extra));
    sb.client().get(url).send().expect("GET /oauth/authorize")
}

pub fn post_decision(sb: &Sandbox, extra: &[(&str, &str)], decision: &str) -> Response {
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

pub fn location(resp: &Response) -> String {
    assert_eq!(resp.status(), StatusCode::FOUND, "expected a redirect");
    resp.headers()["location"]
        .to_str()
        .expect("ASCII Location")
        .to_owned()
}

pub fn query_of(url: &str) -> HashMap<String, String> {
    let parsed = url::Url::parse(url).expect("absolute URL");
    parsed.query_pairs().into_owned().collect()
}

/// Approves the consent form and returns the code.
pub fn approve(sb: &Sandbox, extra: &[(&str, &str)]) -> String {
    let loc = location(&post_decision(sb, extra, "approve"));
    query_of(&loc)
        .remove("code")
        .unwrap_or_else(|| panic!("no code in {loc}"))
}

pub fn token_request(sb: &Sandbox, form: &[(&str, &str)]) -> Response {
    sb.client()
        .post(sb.url("/oauth/token"))
        .form(form)
        .send()
        .expect("POST /oauth/token")
}

pub fn exchange(sb: &Sandbox, code: &str, verifier: Option<&str>) -> Response {
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

pub fn refresh(sb: &Sandbox, refresh_token: &str) -> Response {
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

pub fn assert_oauth_error(resp: Response, status: StatusCode, error: &str) {
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

pub fn tokens_ok(resp: Response) -> Value {
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

pub fn login(sb: &Sandbox) -> Value {
    let pkce = [
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let code = approve(sb, &pkce);
    tokens_ok(exchange(sb, &code, Some(VERIFIER)))
}

pub fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

pub fn access_token(sb: &Sandbox, mint: Value) -> String {
    s(&sb.mint(mint)["access_token"]).to_owned()
}

pub fn api(
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

pub fn create(sb: &Sandbox, token: &str, contact: Value) -> Response {
    api(
        sb,
        reqwest::Method::POST,
        "/v2/contacts",
        Some(token),
        Some(json!({ "contact": contact })),
    )
}

pub fn created(resp: Response) -> Value {
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().expect("JSON");
    body["data"]["contact"].clone()
}

pub fn search(sb: &Sandbox, token: &str, query: Value) -> Response {
    api(
        sb,
        reqwest::Method::POST,
        "/v2/contacts/search",
        Some(token),
        Some(query),
    )
}

pub fn search_status(sb: &Sandbox, token: &str) -> StatusCode {
    search(sb, token, json!({"medicare_number": "1"})).status()
}

pub fn update(sb: &Sandbox, token: &str, id: &str, contact: Value) -> Response {
    api(
        sb,
        reqwest::Method::PATCH,
        &format!("/v2/contacts/{id}"),
        Some(token),
        Some(json!({ "contact": contact })),
    )
}

pub fn error_code(resp: Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().expect("JSON error");
    (status, s(&body["error"]["code"]).to_owned())
}

pub fn ann() -> Value {
    json!({"external_id": "CRM-1", "first_name": "Ann", "last_name": "Lee", "zip": "02134",
           "birth_date": "01/15/1955", "medicare_number": "1EG4-TE5-MK72", "email": "ann@example.com"})
}

pub fn is_html(resp: &Response) -> bool {
    resp.headers()["content-type"]
        .to_str()
        .is_ok_and(|ct| ct.starts_with("text/html"))
}

pub fn stat(stats: &Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in {stats}"))
}

/// The nonce of the sandbox's consent form (a hidden `form_nonce` field), as a browser posts it.
pub fn form_nonce(page: &str) -> String {
    let marker = "name=\"form_nonce\" value=\"";
    let start = page.find(marker).expect("a form_nonce field") + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

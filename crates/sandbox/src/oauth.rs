//! The OAuth 2.0 side: `/oauth/authorize` (consent page and decision) and `/oauth/token`
//! (authorization_code and refresh_token grants), per RFC 6749, RFC 7636 and RFC 8252.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use hyper::header::{self, HeaderMap};
use hyper::{Method, StatusCode};
use serde_json::json;
use subtle::ConstantTimeEq;
use url::{Host, Url};

use crate::pages;
use crate::pkce::is_pkce_string;
use crate::respond::{self, Resp};
use crate::schema::is_email;
use crate::state::{CodeError, DEFAULT_AGENT, Grant, RefreshError, SCOPE, TokenResponse};
use crate::{CLIENT_ID, CLIENT_SECRET, Req, Shared};

/// Form or query parameters. RFC 6749 §3.1: empty values count as absent, and no parameter
/// may appear twice.
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: HashMap<String, String>,
    duplicated: Vec<String>,
}

impl Params {
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        let mut params = Params::default();
        for (name, value) in url::form_urlencoded::parse(bytes) {
            if value.is_empty() {
                continue;
            }
            if params
                .values
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                params.duplicated.push(name.into_owned());
            }
        }
        params
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    fn is_duplicated(&self, name: &str) -> bool {
        self.duplicated.iter().any(|d| d == name)
    }
}

/// RFC 8252 §7.3: any port and path on a loopback IP literal, plus `localhost`; plain http;
/// no fragment (RFC 6749 §3.1.2) and no user info.
pub(crate) fn is_loopback_redirect(uri: &str) -> bool {
    // Echoed into a Location header later: printable ASCII only (clients percent-encode).
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    let loopback_host = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback() && ip.octets() == [127, 0, 0, 1],
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    };
    url.scheme() == "http"
        && loopback_host
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
}

/// Appends parameters to a validated redirect URI, keeping any query it already has.
pub(crate) fn redirect_url(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    let separator = match redirect_uri.split_once('?') {
        None => "?",
        Some((_, "")) => "",
        Some(_) => "&",
    };
    format!("{redirect_uri}{separator}{}", query.finish())
}

/// A valid authorization request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AuthRequest {
    pub(crate) redirect_uri: String,
    pub(crate) state: Option<String>,
    pub(crate) challenge: Option<String>,
}

/// Why an authorization request is refused, and so how the refusal is shown.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Client or redirect URI cannot be trusted: show a page, never redirect.
    Page(String),
    /// Reported to the client through its redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

/// Checks an authorization request in RFC 6749 §4.1.2.1's order: what cannot be trusted
/// (client, redirect URI) is refused on a page; everything else is reported to the redirect URI.
pub(crate) fn check_authorize(params: &Params) -> Result<AuthRequest, Refusal> {
    check_client(params).map_err(Refusal::Page)?;
    let redirect_uri = check_redirect_uri(params).map_err(Refusal::Page)?;
    let state = params.get("state").map(str::to_owned);
    let challenge = check_request(params).map_err(|(error, description)| Refusal::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
    })?;
    Ok(AuthRequest {
        redirect_uri,
        state,
        challenge,
    })
}

/// The one known client, named once.
fn check_client(params: &Params) -> Result<(), String> {
    match params.get("client_id") {
        None => Err("The client_id parameter is missing.".into()),
        Some(_) if params.is_duplicated("client_id") => {
            Err("The client_id parameter is repeated.".into())
        }
        Some(CLIENT_ID) => Ok(()),
        Some(other) => Err(format!("Unknown client_id `{other}`.")),
    }
}

/// A loopback redirect URI, given once.
fn check_redirect_uri(params: &Params) -> Result<String, String> {
    match params.get("redirect_uri") {
        None => Err("The redirect_uri parameter is missing.".into()),
        Some(_) if params.is_duplicated("redirect_uri") => {
            Err("The redirect_uri parameter is repeated.".into())
        }
        Some(uri) if is_loopback_redirect(uri) => Ok(uri.to_owned()),
        Some(uri) => Err(format!(
            "The redirect_uri `{uri}` is not registered for this client."
        )),
    }
}

/// An OAuth error code and its description, sent back through the redirect URI.
type Reported = (&'static str, String);

/// The rest of the request, once the redirect URI is trusted: no repeated parameter, then
/// response type, scope and PKCE challenge. Returns the challenge, if any.
fn check_request(params: &Params) -> Result<Option<String>, Reported> {
    if let Some(name) = params.duplicated.first() {
        return Err((
            "invalid_request",
            format!("The {name} parameter is repeated."),
        ));
    }
    check_response_type(params)?;
    check_scope(params)?;
    check_challenge(params)
}

fn check_response_type(params: &Params) -> Result<(), Reported> {
    match params.get("response_type") {
        None => Err((
            "invalid_request",
            "The response_type parameter is missing.".into(),
        )),
        Some("code") => Ok(()),
        Some(_) => Err((
            "unsupported_response_type",
            "Only response_type=code is supported.".into(),
        )),
    }
}

fn check_scope(params: &Params) -> Result<(), Reported> {
    let scopes: Vec<&str> = params
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if scopes.is_empty() || scopes.iter().any(|s| *s != SCOPE) {
        return Err((
            "invalid_scope",
            "The requested scope is invalid; use partner_api_v2.".into(),
        ));
    }
    Ok(())
}

/// PKCE is optional, but if used it must be S256 with a well-formed challenge.
fn check_challenge(params: &Params) -> Result<Option<String>, Reported> {
    let invalid = |description: &str| Err(("invalid_request", description.to_owned()));
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) => Ok(None),
        (Some(c), Some("S256")) if is_pkce_string(c) => Ok(Some(c.to_owned())),
        (Some(_), Some("S256")) => invalid("The code_challenge is malformed."),
        (None, Some(_)) => invalid("code_challenge_method without code_challenge."),
        (Some(_), _) => invalid("Only code_challenge_method=S256 is supported."),
    }
}

fn refusal_response(refusal: Refusal) -> Resp {
    match refusal {
        Refusal::Page(message) => {
            respond::html(StatusCode::BAD_REQUEST, pages::authorize_error(&message))
        }
        Refusal::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } => {
            let mut pairs = vec![
                ("error", error),
                ("error_description", description.as_str()),
            ];
            if let Some(state) = &state {
                pairs.push(("state", state));
            }
            respond::redirect(&redirect_url(&redirect_uri, &pairs))
        }
    }
}

fn code_redirect(shared: &Shared, request: &AuthRequest, agent: &str) -> Resp {
    let grant = Grant {
        agent: Some(agent.to_owned()),
        scope: SCOPE.to_owned(),
    };
    let issued = shared.state().issue_code(
        &request.redirect_uri,
        request.challenge.as_deref(),
        grant,
        Instant::now(),
    );
    let Ok(code) = issued else {
        return respond::html(
            StatusCode::SERVICE_UNAVAILABLE,
            pages::authorize_error(
                "The sandbox holds too many live codes and tokens; try again in a minute.",
            ),
        );
    };
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    respond::redirect(&redirect_url(&request.redirect_uri, &pairs))
}

/// `GET` shows the consent page (or approves at once with `--auto-approve`); `POST` carries
/// the user's decision.
pub(crate) fn authorize(shared: &Shared, req: &Req) -> Resp {
    let params = if req.method == Method::POST {
        Params::parse(&req.body)
    } else {
        Params::parse(req.query.as_deref().unwrap_or("").as_bytes())
    };
    let request = match check_authorize(&params) {
        Ok(request) => request,
        Err(refusal) => return refusal_response(refusal),
    };
    if req.method == Method::POST {
        return decide(shared, &params, &request);
    }
    if shared.auto_approve {
        return code_redirect(shared, &request, DEFAULT_AGENT);
    }
    let nonce = shared.state().issue_form_nonce(Instant::now());
    respond::html(StatusCode::OK, consent_page(&params, &nonce))
}

fn consent_page(params: &Params, nonce: &str) -> String {
    let carried = [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ];
    let mut hidden: Vec<(&str, &str)> = carried
        .iter()
        .filter_map(|name| params.get(name).map(|value| (*name, value)))
        .collect();
    hidden.push(("form_nonce", nonce));
    pages::consent(&hidden, SCOPE, DEFAULT_AGENT)
}

fn decide(shared: &Shared, params: &Params, request: &AuthRequest) -> Resp {
    // Only a form this sandbox showed, once: another page cannot post a decision for the user.
    let nonce = params.get("form_nonce").unwrap_or("");
    if !shared.state().spend_form_nonce(nonce, Instant::now()) {
        return respond::html(
            StatusCode::BAD_REQUEST,
            pages::authorize_error(
                "This consent form was not shown by this sandbox, or was already used. Start the login again.",
            ),
        );
    }
    match params.get("decision") {
        Some("approve") => {
            let agent = params.get("agent_email").unwrap_or(DEFAULT_AGENT).trim();
            if !is_email(agent) {
                return respond::html(
                    StatusCode::BAD_REQUEST,
                    pages::authorize_error("The agent email is not a valid email address."),
                );
            }
            code_redirect(shared, request, agent)
        }
        Some("deny") => {
            let mut pairs = vec![
                ("error", "access_denied"),
                ("error_description", "The user denied the request"),
            ];
            if let Some(state) = &request.state {
                pairs.push(("state", state));
            }
            respond::redirect(&redirect_url(&request.redirect_uri, &pairs))
        }
        _ => respond::html(
            StatusCode::BAD_REQUEST,
            pages::authorize_error("The decision must be approve or deny."),
        ),
    }
}

/// An error from the token endpoint.
struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

fn invalid(error: &'static str, description: impl Into<String>) -> TokenError {
    TokenError {
        status: StatusCode::BAD_REQUEST,
        error,
        description: description.into(),
    }
}

fn invalid_client(description: &str) -> TokenError {
    TokenError {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: description.into(),
    }
}

pub(crate) fn token(shared: &Shared, req: &Req) -> Resp {
    match token_grant(shared, req) {
        Ok(body) => respond::no_store(respond::json(StatusCode::OK, &body)),
        Err(e) => {
            let resp = respond::oauth_error(e.status, e.error, &e.description);
            if e.status == StatusCode::UNAUTHORIZED
                && req.headers.contains_key(header::AUTHORIZATION)
            {
                return respond::with_header(
                    resp,
                    header::WWW_AUTHENTICATE,
                    "Basic realm=\"hsm-sandbox\"",
                );
            }
            resp
        }
    }
}

fn token_grant(shared: &Shared, req: &Req) -> Result<serde_json::Value, TokenError> {
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(invalid(
            "invalid_request",
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let params = Params::parse(&req.body);
    authenticate_client(&req.headers, &params)?;
    if let Some(name) = params.duplicated.first() {
        return Err(invalid(
            "invalid_request",
            format!("The {name} parameter is repeated."),
        ));
    }
    let now = Instant::now();
    let issued = match params.get("grant_type") {
        None => {
            return Err(invalid(
                "invalid_request",
                "The grant_type parameter is missing.",
            ));
        }
        Some("authorization_code") => exchange_code(shared, &params, now)?,
        Some("refresh_token") => refresh(shared, &params, now)?,
        Some(_) => {
            return Err(invalid(
                "unsupported_grant_type",
                "Use authorization_code or refresh_token.",
            ));
        }
    };
    serde_json::to_value(issued)
        .map_err(|_| invalid("server_error", "cannot encode the token response"))
}

fn exchange_code(
    shared: &Shared,
    params: &Params,
    now: Instant,
) -> Result<TokenResponse, TokenError> {
    let code = params
        .get("code")
        .ok_or_else(|| invalid("invalid_request", "The code parameter is missing."))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| invalid("invalid_request", "The redirect_uri parameter is missing."))?;
    let verifier = params.get("code_verifier");
    shared
        .state()
        .redeem_code(code, redirect_uri, verifier, now)
        .map_err(|e: CodeError| invalid("invalid_grant", e.description()))
}

fn refresh(shared: &Shared, params: &Params, now: Instant) -> Result<TokenResponse, TokenError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| invalid("invalid_request", "The refresh_token parameter is missing."))?;
    shared
        .state()
        .refresh(token, params.get("scope"), now)
        .map_err(|e| match e {
            RefreshError::Unknown => invalid(
                "invalid_grant",
                "The refresh token is invalid, expired or revoked.",
            ),
            RefreshError::Reused => invalid(
                "invalid_grant",
                "The refresh token was already used; every token of this login is now revoked.",
            ),
            RefreshError::ScopeChanged => {
                invalid("invalid_scope", "The scope cannot change on refresh.")
            }
        })
}

/// Client credentials from the body (`client_id` + `client_secret`) or HTTP Basic, not both
/// (RFC 6749 §2.3.1).
fn authenticate_client(headers: &HeaderMap, params: &Params) -> Result<(), TokenError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (id, secret) = match basic {
        Some(value) => {
            if params.get("client_secret").is_some() {
                return Err(invalid(
                    "invalid_request",
                    "Send the client secret in one place only.",
                ));
            }
            let (id, secret) = parse_basic(value)
                .ok_or_else(|| invalid_client("Malformed HTTP Basic credentials."))?;
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(invalid_client(
                    "The client_id in the body differs from the Basic credentials.",
                ));
            }
            (id, Some(secret))
        }
        None => (
            params.get("client_id").unwrap_or("").to_owned(),
            params.get("client_secret").map(str::to_owned),
        ),
    };
    if id.is_empty() {
        return Err(invalid_client("Client authentication is missing."));
    }
    let secret_matches =
        secret.is_some_and(|s| bool::from(s.as_bytes().ct_eq(CLIENT_SECRET.as_bytes())));
    if id != CLIENT_ID || !secret_matches {
        return Err(invalid_client("Client authentication failed."));
    }
    Ok(())
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(BASIC.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

fn form_decode(text: &str) -> String {
    url::form_urlencoded::parse(text.as_bytes())
        .next()
        .map(|(key, _)| key.into_owned())
        .unwrap_or_default()
}

/// Standard base64, as HTTP Basic uses; lenient about padding and trailing bits, as the
/// sandbox has always been.
const BASIC: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The token response for `POST /__sandbox/tokens`.
pub(crate) fn mint(
    shared: &Shared,
    agent: Option<String>,
    scope: String,
    access_ttl: Duration,
) -> Resp {
    match shared
        .state()
        .mint(Grant { agent, scope }, access_ttl, Instant::now())
    {
        Ok(pair) => respond::no_store(respond::json(StatusCode::OK, &json!(pair))),
        Err(_) => respond::api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "capacity",
            "Too many live tokens",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn params(query: &str) -> Params {
        Params::parse(query.as_bytes())
    }

    const GOOD: &str = "client_id=hsm-sandbox&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&response_type=code&scope=partner_api_v2";

    #[test]
    fn loopback_redirects_only() {
        for ok in [
            "http://127.0.0.1:8765/callback",
            "http://[::1]:1/x?y=1",
            "http://localhost/",
            "http://LOCALHOST:9/cb",
        ] {
            assert!(is_loopback_redirect(ok), "{ok}");
        }
        for bad in [
            "https://127.0.0.1/cb",
            "http://127.0.0.2/cb",
            "http://example.com/cb",
            "http://localhost.evil.com/",
            "http://127.0.0.1/cb#frag",
            "http://u:p@127.0.0.1/",
            "127.0.0.1:80/cb",
            "",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://127.0.0.1/é",
            "http://127.0.0.1/a b",
        ] {
            assert!(!is_loopback_redirect(bad), "{bad}");
        }
    }

    #[test]
    fn authorize_checks_in_order() {
        assert!(check_authorize(&params(GOOD)).is_ok());
        assert!(matches!(
            check_authorize(&params("client_id=x&redirect_uri=http://127.0.0.1/")),
            Err(Refusal::Page(_))
        ));
        assert!(matches!(
            check_authorize(&params(
                "client_id=hsm-sandbox&redirect_uri=https://evil.test/"
            )),
            Err(Refusal::Page(_))
        ));
        let error_of = |q: String| match check_authorize(&params(&q)) {
            Err(Refusal::Redirect { error, .. }) => error,
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(
            error_of(GOOD.replace("response_type=code", "response_type=token")),
            "unsupported_response_type"
        );
        assert_eq!(
            error_of(GOOD.replace("&response_type=code", "")),
            "invalid_request"
        );
        assert_eq!(
            error_of(GOOD.replace("partner_api_v2", "admin")),
            "invalid_scope"
        );
        assert_eq!(
            error_of(format!(
                "{GOOD}&code_challenge={CHALLENGE}&code_challenge_method=plain"
            )),
            "invalid_request"
        );
        assert_eq!(
            error_of(format!("{GOOD}&code_challenge={CHALLENGE}")),
            "invalid_request"
        );
        assert_eq!(
            error_of(format!(
                "{GOOD}&code_challenge=abc&code_challenge_method=S256"
            )),
            "invalid_request"
        );
        assert_eq!(
            error_of(format!("{GOOD}&state=a&state=b")),
            "invalid_request"
        );
        let ok = check_authorize(&params(&format!(
            "{GOOD}&state=s+1&code_challenge={CHALLENGE}&code_challenge_method=S256"
        )));
        assert_eq!(
            ok.map(|r| (r.state, r.challenge)),
            Ok((Some("s 1".into()), Some(CHALLENGE.into())))
        );
    }

    #[test]
    fn redirect_urls_keep_existing_queries() {
        assert_eq!(
            redirect_url("http://127.0.0.1/cb", &[("code", "a"), ("state", "x y&z")]),
            "http://127.0.0.1/cb?code=a&state=x+y%26z"
        );
        assert_eq!(
            redirect_url("http://127.0.0.1/cb?k=v", &[("code", "a")]),
            "http://127.0.0.1/cb?k=v&code=a"
        );
        assert_eq!(
            redirect_url("http://127.0.0.1/cb?", &[("code", "a")]),
            "http://127.0.0.1/cb?code=a"
        );
    }

    #[test]
    fn basic_credentials_decode() {
        // base64("hsm-sandbox:hsm-sandbox-secret")
        let header = "Basic aHNtLXNhbmRib3g6aHNtLXNhbmRib3gtc2VjcmV0";
        assert_eq!(
            parse_basic(header),
            Some(("hsm-sandbox".into(), "hsm-sandbox-secret".into()))
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}

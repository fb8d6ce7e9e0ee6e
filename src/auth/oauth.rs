//! OAuth 2.0 protocol work through the `oauth2` crate: PKCE, state, the authorize URL, and
//! token requests (client secret in the form body, as the Partner API documents). This file
//! also classifies every way a token request can fail, because callers act differently on
//! each: a refused grant means "log in again", a request that never left can be retried, and
//! one whose answer was lost must not be retried with a rotated refresh token.

use std::future::Future;
use std::pin::Pin;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError,
    Scope, TokenResponse, TokenUrl,
};
use url::Url;

use crate::credentials::Record;
use crate::credentials::record::now;
use crate::retry::{Attempt, Status};
use crate::secret::Secret;

type AuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;
type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// An authorization request in flight: the URL to open and the secrets to check the answer.
pub struct Authorization {
    pub url: Url,
    pub state: CsrfToken,
    pub verifier: PkceCodeVerifier,
}

pub struct ClientCredentials<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a Secret,
}

/// Build the authorize URL with a random `state` and a PKCE S256 challenge.
pub fn authorization(
    creds: &ClientCredentials<'_>,
    authorize_url: &Url,
    token_url: &Url,
    redirect_uri: &Url,
    scope: &str,
) -> Authorization {
    let client: AuthClient = BasicClient::new(ClientId::new(creds.client_id.to_string()))
        .set_client_secret(ClientSecret::new(creds.client_secret.expose().to_string()))
        .set_auth_uri(AuthUrl::from_url(authorize_url.clone()))
        .set_token_uri(TokenUrl::from_url(token_url.clone()))
        .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()))
        .set_auth_type(AuthType::RequestBody);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new(scope.to_string()))
        .set_pkce_challenge(challenge)
        .url();
    Authorization {
        url,
        state,
        verifier,
    }
}

/// Why a token request failed.
#[derive(Debug)]
pub enum TokenError {
    /// The server answered with an RFC 6749 error (`invalid_grant`, `invalid_client`, ...).
    Refused {
        error: String,
        description: Option<String>,
    },
    /// No OAuth answer: the request never left, its answer was lost (the server may have
    /// acted on it), or the server answered 5xx or 429. `retry::Effect::may_resend` says
    /// which of these a caller may send again.
    Transport(Attempt<Status>),
    /// An answer that is not OAuth JSON (an HTML error page, a proxy's login page, bad JSON).
    Malformed(String),
}

impl TokenError {
    /// The errors under this one (the connection's, TLS's), for `-v`.
    pub fn causes(&self) -> Vec<String> {
        match self {
            TokenError::Transport(Attempt::NotSent(why) | Attempt::Lost(why)) => why.causes.clone(),
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Refused { error, description } => match description {
                Some(d) => write!(f, "the token endpoint refused the request: {error} ({d})"),
                None => write!(f, "the token endpoint refused the request: {error}"),
            },
            TokenError::Transport(Attempt::NotSent(e)) => {
                write!(f, "cannot reach the token endpoint: {e}")
            }
            TokenError::Transport(Attempt::Lost(e)) => write!(
                f,
                "no usable answer from the token endpoint ({e}); it may or may not have acted on the request"
            ),
            TokenError::Transport(Attempt::Answered(status)) => {
                write!(
                    f,
                    "the token endpoint failed with HTTP {}",
                    status.code.as_u16()
                )
            }
            TokenError::Malformed(e) => {
                write!(f, "the token endpoint sent an unexpected response: {e}")
            }
        }
    }
}

/// Exchange an authorization code (with its PKCE verifier) for tokens.
pub async fn exchange_code(
    http: &reqwest::Client,
    creds: &ClientCredentials<'_>,
    token_url: &Url,
    redirect_uri: &Url,
    code: &Secret,
    verifier: PkceCodeVerifier,
) -> Result<Record, TokenError> {
    let client = token_client(creds, token_url)
        .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
    let response = client
        .exchange_code(AuthorizationCode::new(code.expose().to_string()))
        .set_pkce_verifier(verifier)
        .request_async(&Adapter(http))
        .await
        .map_err(classify)?;
    Ok(to_record(&response, None, creds.client_id, token_url))
}

/// Spend a refresh token. The caller must persist the returned record (with its rotated
/// refresh token) before using the access token.
pub async fn refresh(
    http: &reqwest::Client,
    creds: &ClientCredentials<'_>,
    token_url: &Url,
    refresh_token: &Secret,
) -> Result<Record, TokenError> {
    let token = RefreshToken::new(refresh_token.expose().to_string());
    let response = token_client(creds, token_url)
        .exchange_refresh_token(&token)
        .request_async(&Adapter(http))
        .await
        .map_err(classify)?;
    Ok(to_record(
        &response,
        Some(refresh_token),
        creds.client_id,
        token_url,
    ))
}

fn token_client(creds: &ClientCredentials<'_>, token_url: &Url) -> TokenClient {
    BasicClient::new(ClientId::new(creds.client_id.to_string()))
        .set_client_secret(ClientSecret::new(creds.client_secret.expose().to_string()))
        .set_token_uri(TokenUrl::from_url(token_url.clone()))
        .set_auth_type(AuthType::RequestBody)
}

fn to_record(
    response: &BasicTokenResponse,
    previous_refresh: Option<&Secret>,
    client_id: &str,
    token_url: &Url,
) -> Record {
    let received = now();
    Record {
        // From oauth2's redacting types straight into ours.
        access_token: Secret::new(response.access_token().secret().as_str()),
        // RFC 6749 §6: a server that does not rotate may omit it; keep the one we have.
        refresh_token: response
            .refresh_token()
            .map(|t| Secret::new(t.secret().as_str()))
            .or_else(|| previous_refresh.cloned()),
        token_type: "Bearer".to_string(),
        scope: response
            .scopes()
            .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
        expires_at: response
            .expires_in()
            .map(|d| received.saturating_add(d.as_secs())),
        token_url: token_url.to_string(),
        client_id: client_id.to_string(),
        updated_at: received,
        access_token_sha256: None,
    }
}

type OAuthError = RequestTokenError<HttpError, BasicErrorResponse>;

fn classify(e: OAuthError) -> TokenError {
    match e {
        RequestTokenError::ServerResponse(r) => TokenError::Refused {
            error: r.error().as_ref().to_string(),
            description: r.error_description().cloned(),
        },
        RequestTokenError::Request(HttpError(attempt)) => TokenError::Transport(attempt),
        RequestTokenError::Parse(err, body) => {
            TokenError::Malformed(describe_body(&err.to_string(), &body))
        }
        RequestTokenError::Other(m) => TokenError::Malformed(m),
    }
}

/// Name what came back without echoing it (it could hold a token).
fn describe_body(err: &str, body: &[u8]) -> String {
    if crate::http::looks_like_html(body) {
        "an HTML page instead of JSON".to_string()
    } else {
        format!("invalid JSON ({err})")
    }
}

/// A token request that got no OAuth answer (oauth2 wants its own error type for this).
#[derive(Debug)]
pub struct HttpError(Attempt<Status>);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Attempt::NotSent(m) | Attempt::Lost(m) => f.write_str(m),
            Attempt::Answered(status) => write!(f, "HTTP {}", status.code.as_u16()),
        }
    }
}

impl std::error::Error for HttpError {}

/// oauth2 5 implements its HTTP trait only for reqwest 0.12; this adapter plugs in our 0.13
/// client and turns 5xx/429 into errors before oauth2 tries to parse them as OAuth JSON.
struct Adapter<'a>(&'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for Adapter<'_> {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)
                .map_err(|e| HttpError(Attempt::NotSent(e.to_string().into())))?;
            let response = self.0.execute(request).await.map_err(transport_error)?;
            let status = response.status();
            if status.is_server_error() || status.as_u16() == 429 {
                return Err(HttpError(Attempt::Answered(Status {
                    code: status,
                    retry_after: crate::http::retry_after(response.headers()),
                })));
            }
            let mut builder = oauth2::http::Response::builder().status(status);
            for (k, v) in response.headers() {
                builder = builder.header(k, v);
            }
            let body = response.bytes().await.map_err(transport_error)?;
            builder
                .body(body.to_vec())
                .map_err(|e| HttpError(Attempt::Lost(e.to_string().into())))
        })
    }
}

fn transport_error(e: reqwest::Error) -> HttpError {
    HttpError(Attempt::failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> ClientCredentials<'static> {
        static SECRET: std::sync::LazyLock<Secret> =
            std::sync::LazyLock::new(|| Secret::new("csecret"));
        ClientCredentials {
            client_id: "cid",
            client_secret: &SECRET,
        }
    }

    #[test]
    fn authorize_url_carries_pkce_state_and_the_documented_params() {
        let u = |s: &str| Url::parse(s).unwrap();
        let a = authorization(
            &creds(),
            &u("https://h.test/oauth/authorize"),
            &u("https://h.test/oauth/token"),
            &u("http://127.0.0.1:8765/callback"),
            "partner_api_v2",
        );
        let q: std::collections::HashMap<_, _> = a.url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:8765/callback");
        assert_eq!(q["scope"], "partner_api_v2");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], *a.state.secret());
        assert!(!q.contains_key("client_secret"));
        // The challenge is the S256 of the verifier we keep.
        let expected = PkceCodeChallenge::from_code_verifier_sha256(&a.verifier);
        assert_eq!(q["code_challenge"], *expected.as_str());
    }

    #[test]
    fn state_and_verifier_are_fresh_each_time() {
        let u = |s: &str| Url::parse(s).unwrap();
        let mk = || {
            authorization(
                &creds(),
                &u("https://h/a"),
                &u("https://h/t"),
                &u("http://127.0.0.1:1/c"),
                "s",
            )
        };
        let (a, b) = (mk(), mk());
        assert_ne!(a.state.secret(), b.state.secret());
        assert_ne!(a.verifier.secret(), b.verifier.secret());
        assert!(a.state.secret().len() >= 22 && a.verifier.secret().len() >= 43);
    }

    fn parse(json: &str) -> BasicTokenResponse {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn records_take_expiry_from_the_local_clock_and_keep_a_missing_refresh_token() {
        let url = Url::parse("https://h/t").unwrap();
        let full = parse(
            r#"{"access_token":"a1","token_type":"bearer","expires_in":3600,"refresh_token":"r2","scope":"partner_api_v2"}"#,
        );
        let r1 = Secret::new("r1");
        let r = to_record(&full, Some(&r1), "cid", &url);
        assert_eq!(
            r.refresh_token.as_ref().map(Secret::expose),
            Some("r2"),
            "the rotated one wins"
        );
        let at = r.expires_at.unwrap();
        assert!(at >= now() + 3599 && at <= now() + 3600);
        assert_eq!(r.scope.as_deref(), Some("partner_api_v2"));

        // A server that does not rotate, and omits the optional fields.
        let bare = parse(r#"{"access_token":"a1","token_type":"Bearer"}"#);
        let r = to_record(&bare, Some(&r1), "cid", &url);
        assert_eq!(r.refresh_token, Some(r1));
        assert_eq!(r.expires_at, None);
        assert_eq!(r.scope, None);
    }

    #[test]
    fn html_bodies_are_named_not_echoed() {
        let d = describe_body("x", b"<!DOCTYPE html><title>502 secret-ish</title>");
        assert_eq!(d, "an HTML page instead of JSON");
    }

    proptest::proptest! {
        /// A token response of any text is parsed or refused; any `expires_in` gives a record
        /// (the expiry saturates), never an overflow.
        #[test]
        fn any_token_response(text in proptest::prelude::any::<String>(), expires_in in proptest::prelude::any::<u64>()) {
            let _ = serde_json::from_str::<BasicTokenResponse>(&text);
            let url = Url::parse("https://h/t").unwrap();
            let json = format!(r#"{{"access_token":"a","token_type":"bearer","expires_in":{expires_in}}}"#);
            if let Ok(response) = serde_json::from_str::<BasicTokenResponse>(&json) {
                let r = to_record(&response, None, "cid", &url);
                proptest::prop_assert!(r.expires_at.is_some());
            }
        }
    }
}

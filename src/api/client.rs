//! The Partner API client: one connection pool, the bearer token, and the rules every call
//! shares: refresh once after a 401 `invalid_token` and retry; honour `Retry-After` on 429;
//! back off on 5xx; never resend a request whose answer was lost.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use super::error::{ApiError, Failure};
use crate::http::{describe_reqwest, looks_like_html};
use crate::output::Printer;
use crate::secret::Secret;
use crate::session;
use crate::settings::EnvSettings;

/// Retries after 429 / 5xx / connection failures, per call.
const MAX_RETRIES: u32 = 4;
/// The longest `Retry-After` we honour; a longer one is reported instead of waited out.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A successful answer: its status and JSON body (None for 204 or an empty body).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Option<Value>,
}

pub struct Api {
    http: reqwest::Client,
    base: Url,
    settings: EnvSettings,
    token: Mutex<Secret>,
    /// When the server last asked everyone to slow down: shared by concurrent calls.
    paused_until: Mutex<Option<Instant>>,
    printer: Printer,
}

impl Api {
    /// Get a usable token first (refreshing it if it is about to expire): a command without
    /// a session fails here, before reading any input or sending anything.
    pub async fn connect(settings: &EnvSettings, printer: Printer) -> crate::error::Result<Api> {
        let token = session::access_token(settings, printer).await?;
        let http = crate::http::client(settings.http_timeout, settings.ca_file.as_deref())?;
        let mut base = settings.api_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Api {
            http,
            base,
            settings: settings.clone(),
            token: Mutex::new(token),
            paused_until: Mutex::new(None),
            printer,
        })
    }

    /// Send one call. `path` is relative to the API base (`contacts`, `contacts/ID`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| ApiError::new(Failure::Usage, format!("bad API path `{path}`: {e}")))?;
        let mut refreshed = false;
        let mut attempt = 0;
        let mut backoff = Duration::from_millis(200);
        loop {
            self.wait_if_paused().await;
            let token = self.token.lock().await.clone();
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose());
            if let Some(b) = body {
                request = request.json(b);
            }
            if self.printer.verbose {
                self.printer.trace(&format!("> {method} {url}"));
                self.printer
                    .trace(&format!("> authorization: Bearer {}", token.fingerprint()));
                if body.is_some() {
                    self.printer.trace(
                        "> content-type: application/json (body not shown: it holds personal data)",
                    );
                }
            }
            let started = Instant::now();
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if e.is_connect() && attempt < MAX_RETRIES => {
                    self.printer
                        .trace(&format!("not sent ({}); retrying", describe_reqwest(&e)));
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    continue;
                }
                Err(e) if e.is_connect() => {
                    let why = describe_reqwest(&e);
                    let mut err = ApiError::new(
                        Failure::Network,
                        format!("cannot reach {}: {why}", url_origin(&url)),
                    );
                    if crate::http::is_certificate_error(&why) {
                        err.hint = Some(crate::http::CA_HINT.to_string());
                    }
                    return Err(err);
                }
                // Sent, but no answer: the server may have acted on it. Never resend blindly.
                Err(e) => return Err(ApiError::new(Failure::Unknown, describe_reqwest(&e))),
            };
            let status = response.status();
            self.printer.trace(&format!(
                "< {} {} ({} ms)",
                status.as_u16(),
                status.canonical_reason().unwrap_or(""),
                started.elapsed().as_millis()
            ));
            let retry_after = crate::http::retry_after(response.headers());
            let is_json = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
            let bytes = match response.bytes().await {
                Ok(b) => b,
                Err(e) => return Err(ApiError::new(Failure::Unknown, describe_reqwest(&e))),
            };
            let parsed: Option<Value> = if bytes.is_empty() {
                None
            } else {
                serde_json::from_slice(&bytes).ok()
            };

            if status.is_success() {
                if !bytes.is_empty() && (parsed.is_none() || !is_json) {
                    let what = if looks_like_html(&bytes) {
                        "an HTML page"
                    } else {
                        "a body that is not JSON"
                    };
                    return Err(ApiError::new(
                        Failure::Unknown,
                        format!("the API answered HTTP {} with {what}", status.as_u16()),
                    ));
                }
                return Ok(Answer {
                    status: status.as_u16(),
                    body: parsed,
                });
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed && is_invalid_token(parsed.as_ref())
            {
                refreshed = true;
                self.refresh_after(&token).await?;
                continue;
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if retryable && attempt < MAX_RETRIES {
                let wait = retry_after.unwrap_or(backoff);
                if wait > MAX_RETRY_AFTER {
                    return Err(ApiError::from_status(
                        status.as_u16(),
                        parsed.as_ref(),
                        &bytes,
                        retry_after,
                    ));
                }
                if status == StatusCode::TOO_MANY_REQUESTS {
                    self.pause_for(wait).await;
                }
                self.printer.trace(&format!(
                    "HTTP {}; retrying in {} ms",
                    status.as_u16(),
                    wait.as_millis()
                ));
                attempt += 1;
                tokio::time::sleep(wait).await;
                backoff *= 2;
                continue;
            }
            return Err(ApiError::from_status(
                status.as_u16(),
                parsed.as_ref(),
                &bytes,
                retry_after,
            ));
        }
    }

    /// One refresh for everyone: concurrent calls that hit 401 with the same token wait for
    /// the first one's refresh and then use its result.
    async fn refresh_after(&self, rejected: &Secret) -> Result<(), ApiError> {
        let mut token = self.token.lock().await;
        if *token != *rejected {
            return Ok(());
        }
        let fresh = session::refresh_after_rejection(&self.settings, rejected, self.printer)
            .await
            .map_err(ApiError::from_cli)?;
        *token = fresh;
        Ok(())
    }

    async fn wait_if_paused(&self) {
        let until = *self.paused_until.lock().await;
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep(until - now).await;
            }
        }
    }

    async fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut p = self.paused_until.lock().await;
        if p.is_none_or(|current| current < until) {
            *p = Some(until);
        }
    }
}

fn url_origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Both documented 401 shapes: `{"error": {"code": "invalid_token"}}` and the OAuth layer's
/// `{"error": "invalid_token"}`. An expired token is answered the same way.
fn is_invalid_token(body: Option<&Value>) -> bool {
    let Some(error) = body.and_then(|b| b.get("error")) else {
        return false;
    };
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .or_else(|| error.as_str());
    matches!(code, Some("invalid_token"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_both_invalid_token_shapes() {
        assert!(is_invalid_token(Some(
            &json!({"error": {"message": "The access token is invalid.", "code": "invalid_token"}})
        )));
        assert!(is_invalid_token(Some(
            &json!({"error": "invalid_token", "error_description": "expired"})
        )));
        assert!(!is_invalid_token(Some(
            &json!({"error": {"code": "missing_authorization"}})
        )));
        assert!(!is_invalid_token(None));
    }
}

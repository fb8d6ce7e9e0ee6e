//! The Partner API client: one connection pool, the bearer token, and the rules every call
//! shares: refresh once after a 401 `invalid_token` and retry; honour `Retry-After` on 429;
//! resend what `retry::Effect::may_resend` allows (never a create or an update that may have
//! reached the server: an answer lost, or a 5xx other than a 503 with `Retry-After`).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use super::error::{ApiError, Failure};

mod raw;
use crate::http::{Why, looks_like_html};
use crate::output::Printer;
use crate::pace::{Pace, Signal};
use crate::retry::{Attempt, Backoff, Effect, Policy, Status};
use crate::secret::Secret;
use crate::session;
use crate::settings::EnvSettings;
pub use raw::{RawRequest, RawResponse};

/// The longest `Retry-After` we honour; a longer one is reported instead of waited out.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// A 429 asking for at least this long pauses every call (a quota spent, maintenance). A
/// shorter one is a rate limit speaking: that request waits it out, and the pace slows.
const PAUSE_EVERYONE_AFTER: Duration = Duration::from_secs(5);

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
    /// When the server last asked everyone to stop for a while: shared by concurrent calls.
    paused_until: Mutex<Option<Instant>>,
    /// How many calls may be out at once and how fast they go (bulk runs only).
    pace: Pace,
    printer: Printer,
}

impl Api {
    /// Get a usable token first (refreshing it if it is about to expire): a command without
    /// a session fails here, before reading any input or sending anything.
    pub async fn connect(settings: &EnvSettings, printer: Printer) -> crate::error::Result<Api> {
        let token = session::access_token(settings, printer).await?;
        let http = crate::http::client(
            settings.http_timeout,
            settings.ca_file.as_deref(),
            &settings.api_url,
        )?;
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
            pace: Pace::unpaced(),
            printer,
        })
    }

    /// Send every attempt under this pace (import and sync).
    pub fn paced(self, pace: Pace) -> Api {
        Api { pace, ..self }
    }

    pub fn pace(&self) -> &Pace {
        &self.pace
    }

    /// Send one call. `path` is relative to the API base (`contacts`, `contacts/ID`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        self.call_with(Effect::of(&method), method, path, body)
            .await
    }

    /// Send a call that changes nothing on the server whatever its method (a search sent as
    /// POST): resent after a lost answer or any 5xx, like a GET.
    pub async fn call_read_only(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        self.call_with(Effect::Idempotent, method, path, body).await
    }

    async fn call_with(
        &self,
        effect: Effect,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ApiError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| ApiError::new(Failure::Usage, format!("bad API path `{path}`: {e}")))?;
        let mut backoff = Policy::API.backoff();
        let mut refreshed = false;
        loop {
            self.wait_if_paused().await;
            let token = self.token.lock().await.clone();
            let sending = self.pace.slot().await;
            let attempt = self.send(&method, &url, body, &token).await;
            sending.done(pace_signal(&attempt));
            let resend = effect.may_resend(&attempt.as_ref().map(RawAnswer::status));
            let pause = match attempt {
                Attempt::NotSent(why) => match backoff.next() {
                    Some(pause) => {
                        self.printer.trace(&format!("not sent ({why}); retrying"));
                        pause
                    }
                    None => return Err(unreachable_error(&url, why, &self.settings.env)),
                },
                Attempt::Lost(why) => match backoff.next().filter(|_| resend) {
                    Some(pause) => {
                        self.printer.trace(&format!("no answer ({why}); retrying"));
                        pause
                    }
                    // Sent, but no answer: the server may have acted on it. Not resent (unless
                    // the request is idempotent).
                    None => {
                        return Err(ApiError::new(Failure::Unknown, why.line).caused_by(why.causes));
                    }
                },
                Attempt::Answered(answer) => match classify(answer) {
                    Verdict::Success(answer) => return Ok(answer),
                    Verdict::InvalidToken(_) if !refreshed => {
                        refreshed = true;
                        self.refresh_after(&token).await?;
                        continue;
                    }
                    Verdict::Retryable(failed) if resend => {
                        self.pause_before_retry(failed, &mut backoff).await?
                    }
                    // A gateway's 502/504 (or a 500) often comes after the application acted.
                    Verdict::Retryable(failed) => return Err(outcome_unknown(failed.error)),
                    Verdict::InvalidToken(error) | Verdict::Failed(error) => return Err(error),
                },
            };
            self.pace.rest(pause).await;
        }
    }

    /// Send, and trace the answer's status and time under `-v`.
    async fn send_traced(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status();
        self.printer.trace(&format!(
            "< {} {} ({} ms)",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            started.elapsed().as_millis()
        ));
        Ok(response)
    }

    /// Send one attempt and read its answer whole.
    async fn send(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        token: &Secret,
    ) -> Attempt<RawAnswer> {
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
        let response = match self.send_traced(request).await {
            Ok(r) => r,
            Err(e) => return Attempt::failed(&e),
        };
        let status = response.status();
        let retry_after = crate::http::retry_after(response.headers());
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        match response.bytes().await {
            Ok(bytes) => Attempt::Answered(RawAnswer {
                status,
                retry_after,
                is_json,
                bytes,
            }),
            Err(e) => Attempt::Lost(Why::of(&e)),
        }
    }

    /// The pause before retrying a 429 or 5xx: the server's `Retry-After`, else the backoff.
    /// A long 429 pauses every call in flight; a wait longer than we honour is reported instead.
    async fn pause_before_retry(
        &self,
        failed: Retryable,
        backoff: &mut Backoff,
    ) -> Result<Duration, ApiError> {
        let Some(pause) = backoff.next() else {
            return Err(failed.error);
        };
        let wait = failed.retry_after.unwrap_or(pause);
        if wait > MAX_RETRY_AFTER {
            return Err(failed.error);
        }
        if failed.status == StatusCode::TOO_MANY_REQUESTS && wait >= PAUSE_EVERYONE_AFTER {
            self.pause_for(wait).await;
        }
        self.printer.trace(&format!(
            "HTTP {}; retrying in {} ms",
            failed.status.as_u16(),
            wait.as_millis()
        ));
        Ok(wait)
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

/// What an attempt tells the pace: throttled, overloaded, answered (its latency), or nothing.
fn pace_signal(attempt: &Attempt<RawAnswer>) -> Signal {
    match attempt {
        Attempt::Answered(a) if a.status == StatusCode::TOO_MANY_REQUESTS => Signal::RateLimited,
        Attempt::Answered(a) if a.status == StatusCode::SERVICE_UNAVAILABLE => Signal::Overloaded,
        Attempt::Answered(_) => Signal::Answered,
        Attempt::NotSent(_) | Attempt::Lost(_) => Signal::NoAnswer,
    }
}

/// A 5xx to a request that may have been carried out before the failure.
fn outcome_unknown(mut error: ApiError) -> ApiError {
    error.failure = Failure::Unknown;
    error.hint = Some(
        "the server may have acted on the request before failing; check (hsm contacts search) before sending it again"
            .to_string(),
    );
    error
}

struct RawAnswer {
    status: StatusCode,
    retry_after: Option<Duration>,
    is_json: bool,
    bytes: bytes::Bytes,
}

impl RawAnswer {
    fn status(&self) -> Status {
        Status {
            code: self.status,
            retry_after: self.retry_after,
        }
    }
}

/// An answer, classified.
enum Verdict {
    Success(Answer),
    /// 401 `invalid_token`: worth one refresh and a resend; the error if it was refreshed.
    InvalidToken(ApiError),
    /// 429 or 5xx.
    Retryable(Retryable),
    Failed(ApiError),
}

struct Retryable {
    status: StatusCode,
    retry_after: Option<Duration>,
    error: ApiError,
}

fn classify(raw: RawAnswer) -> Verdict {
    let RawAnswer {
        status,
        retry_after,
        is_json,
        bytes,
    } = raw;
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
            return Verdict::Failed(ApiError::new(
                Failure::Unknown,
                format!("the API answered HTTP {} with {what}", status.as_u16()),
            ));
        }
        return Verdict::Success(Answer {
            status: status.as_u16(),
            body: parsed,
        });
    }
    let error = ApiError::from_status(status.as_u16(), parsed.as_ref(), &bytes, retry_after);
    if status == StatusCode::UNAUTHORIZED && is_invalid_token(parsed.as_ref()) {
        Verdict::InvalidToken(error)
    } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Verdict::Retryable(Retryable {
            status,
            retry_after,
            error,
        })
    } else {
        Verdict::Failed(error)
    }
}

/// The retries could not reach the server.
fn unreachable_error(url: &Url, why: Why, env: &str) -> ApiError {
    let origin = url.origin().ascii_serialization();
    let mut err = ApiError::new(Failure::Network, format!("cannot reach {origin}: {why}"))
        .caused_by(why.causes.clone());
    if crate::http::is_certificate_error(&why) {
        err.hint = Some(crate::http::CA_HINT.to_string());
    } else if env == crate::sandbox_env::ENV {
        err.hint = Some(crate::sandbox_env::not_running_hint(&origin));
    }
    err
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

//! `hsm api`: one request to any path under the API base, with the session's token and the
//! client's rules (one refresh after a 401 `invalid_token`; 429 honoured; resent only as
//! `retry::Effect::may_resend` allows, the same table as every other call), and the answer
//! returned as it came.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Version};
use url::Url;

use super::{Api, MAX_RETRY_AFTER, is_invalid_token, unreachable_error};
use crate::api::{ApiError, Failure};
use crate::http::Why;
use crate::retry::{Attempt, Backoff, Effect, Policy, Status};
use crate::secret::Secret;

/// The most of an answer `hsm api` reads; a larger one is refused rather than held in memory.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// A request as the user described it.
pub struct RawRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
}

/// An answer, whatever its status.
pub struct RawResponse {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// An answer over `MAX_RESPONSE_BYTES`: not read, and not asked for again (it would be as
/// large the next time).
struct TooLarge(StatusCode);

/// Whether `text` starts with a URL scheme and `://` (`https://...`), rather than holding one
/// further on (`contacts?q=http://x`, a path with a URL in its query).
fn is_absolute_url(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        let mut chars = scheme.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

impl Api {
    /// Resolve what the user typed: `contacts`, `/contacts` and `/v2/contacts` are all under
    /// the API base; an absolute URL is accepted only on the API's own origin, so the token
    /// never goes to another host.
    pub fn url_for(&self, path: &str) -> Result<Url, ApiError> {
        let usage = |why: String| ApiError::new(Failure::Usage, why);
        let trimmed = path.trim();
        if trimmed.is_empty() {
            return Err(usage("PATH must not be empty".into()));
        }
        let has_scheme = is_absolute_url(trimmed);
        let url = if has_scheme {
            Url::parse(trimmed).map_err(|e| usage(format!("invalid URL `{trimmed}`: {e}")))?
        } else if trimmed.starts_with("//") {
            return Err(usage(format!(
                "`{trimmed}` names another host; give a path under the API base"
            )));
        } else if let Some(rest) = trimmed.strip_prefix('/') {
            let base_path = self.base.path();
            if trimmed.starts_with(base_path) || format!("{trimmed}/") == base_path {
                self.base.join(trimmed)
            } else {
                self.base.join(rest)
            }
            .map_err(|e| usage(format!("invalid path `{trimmed}`: {e}")))?
        } else {
            self.base
                .join(trimmed)
                .map_err(|e| usage(format!("invalid path `{trimmed}`: {e}")))?
        };
        if url.origin() != self.base.origin() {
            return Err(usage(format!(
                "refusing to send the session's token to {}: hsm api only talks to the API at {}",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    /// Send the request; any answer (2xx to 5xx) is returned, after the retries its status
    /// allows. An error only when there is no answer to show.
    pub async fn raw(&self, request: &RawRequest) -> Result<RawResponse, ApiError> {
        let effect = Effect::of(&request.method);
        let mut backoff = Policy::API.backoff();
        let mut refreshed = false;
        loop {
            self.wait_if_paused().await;
            let token = self.token.lock().await.clone();
            let attempt = self.send_raw(request, &token).await;
            let resend = effect.may_resend(&attempt.as_ref().map(|read| match read {
                Ok(answer) => answer.status(),
                Err(TooLarge(code)) => Status {
                    code: *code,
                    retry_after: None,
                },
            }));
            let answer = match attempt {
                Attempt::NotSent(why) => match backoff.next() {
                    Some(pause) => {
                        self.printer.trace(&format!("not sent ({why}); retrying"));
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                    None => {
                        return Err(unreachable_error(&request.url, why, &self.settings.env));
                    }
                },
                Attempt::Lost(why) => match backoff.next().filter(|_| resend) {
                    Some(pause) => {
                        self.printer.trace(&format!("no answer ({why}); retrying"));
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                    None => return Err(lost(effect, &request.method, why)),
                },
                Attempt::Answered(Err(TooLarge(status))) => {
                    return Err(ApiError::new(
                        Failure::Network,
                        format!(
                            "the answer (HTTP {}) is larger than {} MiB, the most hsm api reads; not shown",
                            status.as_u16(),
                            MAX_RESPONSE_BYTES / (1024 * 1024)
                        ),
                    ));
                }
                Attempt::Answered(Ok(answer)) => answer,
            };
            if answer.status == StatusCode::UNAUTHORIZED && !refreshed && invalid_token(&answer) {
                refreshed = true;
                self.refresh_after(&token).await?;
                continue;
            }
            match self.retry_pause(&answer, resend, &mut backoff).await {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Ok(answer),
            }
        }
    }

    /// The pause before retrying this answer, or None to return it: `resend` is the table's
    /// word for it.
    async fn retry_pause(
        &self,
        answer: &RawResponse,
        resend: bool,
        backoff: &mut Backoff,
    ) -> Option<Duration> {
        let status = answer.status;
        let limited = status == StatusCode::TOO_MANY_REQUESTS;
        if !resend {
            return None;
        }
        let pause = backoff.next()?;
        let wait = crate::http::retry_after(&answer.headers).unwrap_or(pause);
        if wait > MAX_RETRY_AFTER {
            return None;
        }
        if limited {
            self.pause_for(wait).await;
        }
        self.printer.trace(&format!(
            "HTTP {}; retrying in {} ms",
            status.as_u16(),
            wait.as_millis()
        ));
        Some(wait)
    }

    async fn send_raw(
        &self,
        request: &RawRequest,
        token: &Secret,
    ) -> Attempt<Result<RawResponse, TooLarge>> {
        let mut builder = self
            .http
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone())
            .bearer_auth(token.expose());
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        if self.printer.verbose {
            // The path only: a query may carry personal data (search parameters).
            let mut shown = request.url.clone();
            if shown.query().is_some() {
                shown.set_query(Some("..."));
            }
            self.printer.trace(&format!("> {} {shown}", request.method));
            self.printer
                .trace(&format!("> authorization: Bearer {}", token.fingerprint()));
        }
        let mut response = match self.send_traced(builder).await {
            Ok(r) => r,
            Err(e) => return Attempt::failed(&e),
        };
        let status = response.status();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > MAX_RESPONSE_BYTES => {
                    return Attempt::Answered(Err(TooLarge(status)));
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => return Attempt::Lost(Why::of(&e)),
            }
        }
        Attempt::Answered(Ok(RawResponse {
            status,
            version: response.version(),
            headers: response.headers().clone(),
            body,
        }))
    }
}

impl RawResponse {
    fn status(&self) -> Status {
        Status {
            code: self.status,
            retry_after: crate::http::retry_after(&self.headers),
        }
    }
}

fn invalid_token(answer: &RawResponse) -> bool {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
    is_invalid_token(parsed.as_ref())
}

fn lost(effect: Effect, method: &Method, why: Why) -> ApiError {
    let mut err =
        ApiError::new(Failure::Unknown, format!("no answer: {why}")).caused_by(why.causes);
    if effect == Effect::Once {
        err.hint = Some(format!(
            "the {method} request was sent and may have taken effect; it was not sent again"
        ));
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_told_from_a_path_with_a_url_in_its_query() {
        assert!(is_absolute_url("https://api.example/v2/contacts"));
        assert!(is_absolute_url("http://127.0.0.1:1/v2"));
        assert!(!is_absolute_url("contacts?q=http://x"));
        assert!(!is_absolute_url("/v2/contacts?redirect=https://x"));
        assert!(!is_absolute_url("://x"));
    }
}

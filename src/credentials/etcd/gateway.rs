//! etcd's v3 JSON gateway (`/v3/kv/range`, `/v3/lock/lock`, ...) over our reqwest client, with
//! failover that we own: every call tries the endpoints in turn, starting from the last one
//! that answered, until one answers or the call's deadline passes. Every request asks for a
//! member with a leader (`Grpc-Metadata-hasleader: true`), so a cluster without quorum answers
//! "no leader" at once instead of holding the request: that is retried on the next member and
//! reported when the deadline passes. Keys and values are base64; numbers come back as strings.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use url::Url;

use crate::error::{CliError, Result};
use crate::http::Why;
use crate::retry::{self, Effect, Status};
use crate::secret::Secret;
use crate::settings::EtcdSettings;

/// Pause between two rounds over every endpoint.
const ROUND_PAUSE: Duration = Duration::from_millis(100);

/// Every call hsm makes to etcd may be sent twice: a range reads, a txn compares revisions
/// before it writes, a lock's key is named by its lease, keepalive and revoke repeat, and a
/// lease granted twice leaves one that expires unused. So, by the one resend table, a call
/// whose answer was lost or that got a 5xx is tried again on the next member.
const EFFECT: Effect = Effect::Idempotent;

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// No member answered with a leader before the deadline. `waited` is true when the last
    /// attempt was a request a member accepted and held until the deadline (a lock wait).
    Unavailable { last: Why, waited: bool },
    /// The cluster answered and refused (permission denied, a bad request...).
    Refused(String),
}

/// What one attempt on one endpoint means for the call.
enum Verdict {
    Answer(Value),
    /// Not done there; try the next endpoint. `held` when the request timed out after it
    /// was accepted; `answered` when the member itself answered (e.g. "no leader").
    Next {
        why: Why,
        held: bool,
        answered: bool,
    },
    /// The auth token expired: authenticate again, then retry.
    Reauthenticate,
    Refused(String),
}

pub struct Gateway {
    http: reqwest::Client,
    endpoints: Vec<Url>,
    preferred: AtomicUsize,
    credentials: Option<(String, Secret)>,
    token: Mutex<Option<String>>,
}

pub fn b64(text: &str) -> String {
    STANDARD.encode(text.as_bytes())
}

pub fn unb64(value: &Value) -> Option<String> {
    let bytes = STANDARD.decode(value.as_str()?).ok()?;
    String::from_utf8(bytes).ok()
}

/// A number in a gateway answer: a JSON string ("42"), a number, or absent (zero).
pub fn num(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

impl Gateway {
    pub fn new(settings: &EtcdSettings) -> Result<Gateway> {
        let endpoints = parse_endpoints(&settings.endpoints)?;
        let credentials = match (&settings.user, &settings.password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (None, None) => None,
            _ => {
                return Err(CliError::usage(format!(
                    "set both {} and {}, or neither",
                    crate::env_vars::HSM_ETCD_USER,
                    crate::env_vars::HSM_ETCD_PASSWORD
                )));
            }
        };
        Ok(Gateway {
            http: http_client(settings, endpoints.iter().all(|e| e.scheme() == "http"))?,
            endpoints,
            preferred: AtomicUsize::new(0),
            credentials,
            token: Mutex::new(None),
        })
    }

    /// The endpoint that answered last (the first one until then), for reports.
    pub fn endpoint(&self) -> String {
        let i = self.preferred.load(Ordering::Relaxed) % self.endpoints.len();
        self.endpoints[i].as_str().trim_end_matches('/').to_string()
    }

    /// POST `body` to `path` on the first member that answers with a leader, before
    /// `deadline`. One member may take a third of the time left (at least a second), so a
    /// member that accepts and never answers (stopped, overloaded) does not use it all.
    pub async fn call(
        &self,
        path: &str,
        body: &Value,
        deadline: Instant,
    ) -> std::result::Result<Value, CallError> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.call_within(path, body, deadline, (left / 3).max(Duration::from_secs(1)))
            .await
    }

    /// A call that the member may legitimately hold until `deadline` (a lock wait).
    pub async fn call_waiting(
        &self,
        path: &str,
        body: &Value,
        deadline: Instant,
    ) -> std::result::Result<Value, CallError> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.call_within(path, body, deadline, left).await
    }

    async fn call_within(
        &self,
        path: &str,
        body: &Value,
        deadline: Instant,
        per_member: Duration,
    ) -> std::result::Result<Value, CallError> {
        let n = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut last = Why::from("no attempt was made");
        // What a member that answered said ("no leader") tells more than a refused connection.
        let mut said: Option<Why> = None;
        let mut held = false;
        let mut reauthenticated = false;
        for round in 0.. {
            if round > 0 {
                // Another round would end past the deadline: report now, within it.
                if Instant::now() + ROUND_PAUSE >= deadline {
                    return Err(unavailable(said.take(), last, held));
                }
                tokio::time::sleep(ROUND_PAUSE).await;
            }
            for step in 0..n {
                let i = (first + step) % n;
                if Instant::now() >= deadline {
                    return Err(unavailable(said.take(), last, held));
                }
                let until = deadline.min(Instant::now() + per_member);
                match self.attempt(i, path, body, until).await {
                    Verdict::Answer(v) => {
                        self.preferred.store(i, Ordering::Relaxed);
                        return Ok(v);
                    }
                    Verdict::Next {
                        why,
                        held: h,
                        answered,
                    } => {
                        let at = self.endpoints[i].as_str().trim_end_matches('/');
                        last = Why {
                            line: format!("{at}: {why}"),
                            causes: why.causes,
                        };
                        if answered {
                            said = Some(last.clone());
                        }
                        if h {
                            // It kept the request without answering: start the next call
                            // elsewhere (a member stopped mid-wait is left behind).
                            self.preferred.store((i + 1) % n, Ordering::Relaxed);
                        }
                        held = h;
                    }
                    Verdict::Reauthenticate if !reauthenticated => {
                        reauthenticated = true;
                        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    }
                    Verdict::Reauthenticate => return Err(CallError::Refused(last.line)),
                    Verdict::Refused(why) => return Err(CallError::Refused(why)),
                }
            }
        }
        unreachable!("the loop above only ends by returning")
    }

    async fn attempt(&self, i: usize, path: &str, body: &Value, deadline: Instant) -> Verdict {
        let token = match self.auth_token(i, deadline).await {
            Ok(token) => token,
            Err(attempt) => return attempt,
        };
        let url = match self.endpoints[i].join(path) {
            Ok(url) => url,
            Err(e) => return Verdict::Refused(format!("bad URL: {e}")),
        };
        let mut request = self
            .http
            .post(url)
            .header("Grpc-Metadata-hasleader", "true")
            .timeout(deadline.saturating_duration_since(Instant::now()))
            .json(body);
        if let Some(token) = token {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return unanswered(&e, true),
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return unanswered(&e, true),
        };
        classify(status, &text)
    }

    /// The auth token, authenticating first when there is none; None without auth.
    async fn auth_token(
        &self,
        i: usize,
        deadline: Instant,
    ) -> std::result::Result<Option<String>, Verdict> {
        let Some((user, password)) = &self.credentials else {
            return Ok(None);
        };
        if let Some(token) = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(Some(token));
        }
        let url = self.endpoints[i]
            .join("/v3/auth/authenticate")
            .map_err(|e| Verdict::Refused(format!("bad URL: {e}")))?;
        let body = json!({"name": user, "password": password.expose()});
        let response = self
            .http
            .post(url)
            .header("Grpc-Metadata-hasleader", "true")
            .timeout(deadline.saturating_duration_since(Instant::now()))
            .json(&body)
            .send()
            .await
            .map_err(|e| unanswered(&e, false))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        match classify(status, &text) {
            Verdict::Answer(v) => {
                let token = v["token"].as_str().unwrap_or_default().to_string();
                *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
                Ok(Some(token))
            }
            Verdict::Reauthenticate => Err(Verdict::Refused(
                "etcd refused the user name or password".into(),
            )),
            other => Err(other),
        }
    }
}

/// A request that got no answer: tried on the next member, as the table allows for `EFFECT`.
/// `held` when the member accepted it and kept it until our timeout (a lock wait), which
/// only a call can be, not an authentication.
fn unanswered(e: &reqwest::Error, may_hold: bool) -> Verdict {
    let attempt = retry::Attempt::<Status>::failed(e);
    let why = Why::of(e);
    if !EFFECT.may_resend(&attempt) {
        return Verdict::Refused(why.line);
    }
    Verdict::Next {
        held: may_hold && matches!(attempt, retry::Attempt::Lost(_)) && e.is_timeout(),
        why,
        answered: false,
    }
}

/// What an answer means: a result, a reason to try the next member, or a refusal.
fn classify(status: reqwest::StatusCode, text: &str) -> Verdict {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            // The gateway answers some refusals (a client certificate it will not accept
            // with auth on) in plain text.
            let line = text.lines().next().unwrap_or("").trim();
            let why = format!("HTTP {}: {}", status.as_u16(), truncate(line));
            let resend = EFFECT.may_resend(&retry::Attempt::Answered(Status {
                code: status,
                retry_after: None,
            }));
            return if resend {
                Verdict::Next {
                    why: why.into(),
                    held: false,
                    answered: true,
                }
            } else {
                Verdict::Refused(why)
            };
        }
    };
    if status.is_success() && value.get("error").is_none() {
        return Verdict::Answer(value);
    }
    let message = value["message"]
        .as_str()
        .or(value["error"].as_str())
        .unwrap_or("unknown error")
        .to_string();
    let code = num(&value["code"]);
    let lower = message.to_ascii_lowercase();
    if lower.contains("invalid auth token") || lower.contains("auth token is expired") {
        return Verdict::Reauthenticate;
    }
    if lower.contains("authentication failed") {
        return Verdict::Refused(format!(
            "etcd refused the user name or password ({message})"
        ));
    }
    // Unavailable, deadline exceeded, aborted, resource exhausted, and the leader
    // changes and elections the server reports by message.
    let retry = matches!(code, 4 | 8 | 10 | 14)
        || [
            "leader",
            "timed out",
            "too many requests",
            "not capable",
            "unhealthy",
        ]
        .iter()
        .any(|m| lower.contains(m));
    if retry {
        Verdict::Next {
            why: message.into(),
            held: false,
            answered: true,
        }
    } else {
        Verdict::Refused(message)
    }
}

fn unavailable(said: Option<Why>, last: Why, waited: bool) -> CallError {
    CallError::Unavailable {
        last: said.unwrap_or(last),
        waited,
    }
}

fn truncate(line: &str) -> String {
    line.chars().take(200).collect()
}

fn parse_endpoints(list: &[String]) -> Result<Vec<Url>> {
    if list.is_empty() {
        return Err(CliError::usage(format!(
            "the etcd store needs endpoints: set {} (e.g. https://10.0.0.1:2379,https://10.0.0.2:2379) or etcd_endpoints in the config file",
            crate::env_vars::HSM_ETCD_ENDPOINTS
        )));
    }
    list.iter()
        .map(|text| {
            // An endpoint is echoed in errors unless it may hold credentials (`user:pw@`).
            let shown = if text.contains('@') {
                "(not shown: it contains @)"
            } else {
                text.as_str()
            };
            let url = Url::parse(text).map_err(|e| {
                CliError::usage(format!(
                    "invalid etcd endpoint `{shown}` ({}): {e}",
                    crate::env_vars::HSM_ETCD_ENDPOINTS
                ))
            })?;
            if !url.username().is_empty() || url.password().is_some() {
                // Never echoed: it would show in errors and `token show`.
                return Err(CliError::usage(format!(
                    "an etcd endpoint in {} carries credentials: use {} and {} instead",
                    crate::env_vars::HSM_ETCD_ENDPOINTS,
                    crate::env_vars::HSM_ETCD_USER,
                    crate::env_vars::HSM_ETCD_PASSWORD
                )));
            }
            match url.scheme() {
                "http" | "https" if url.host().is_some() => Ok(url),
                _ => Err(CliError::usage(format!(
                    "invalid etcd endpoint `{shown}`: use http://HOST:PORT or https://HOST:PORT"
                ))),
            }
        })
        .collect()
}

/// The client for etcd: no proxy (etcd is on the operator's own network), no redirects, and
/// the TLS settings of the etcd variables (CA and client certificate) rather than the API's.
/// `HSM_ETCD_CA_FILE` is the only CA trusted when given (etcd clusters have their own), and
/// no CA at all is loaded for plain-http endpoints: loading the platform's store costs more
/// than the etcd call itself (~10 ms).
fn http_client(settings: &EtcdSettings, plain_http: bool) -> Result<reqwest::Client> {
    crate::http::install_crypto_provider();
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).map_err(|e| {
            CliError::usage(format!(
                "cannot read the etcd {what} {}: {e}",
                path.display()
            ))
            .with_cause(&e)
        })
    };
    let mut builder = reqwest::Client::builder()
        .user_agent(crate::http::USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(settings.timeout.min(Duration::from_secs(3)))
        .pool_idle_timeout(Duration::from_secs(30));
    if let Some(ca) = &settings.ca_file {
        let certs = reqwest::Certificate::from_pem_bundle(&read(ca, "CA file")?).map_err(|e| {
            CliError::usage(format!("invalid etcd CA file {}: {e}", ca.display()))
                .with_causes(crate::http::reqwest_causes(&e))
        })?;
        builder = builder.tls_certs_only(certs);
    } else if plain_http {
        builder = builder.tls_certs_only(Vec::new());
    }
    match (&settings.cert_file, &settings.key_file) {
        (Some(cert), Some(key)) => {
            let mut pem = read(cert, "certificate file")?;
            pem.push(b'\n');
            pem.extend(read(key, "key file")?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                CliError::usage(format!(
                    "invalid etcd client certificate {} or key {}: {e}",
                    cert.display(),
                    key.display()
                ))
                .with_causes(crate::http::reqwest_causes(&e))
            })?;
            builder = builder.identity(identity);
        }
        (None, None) => {}
        _ => {
            return Err(CliError::usage(format!(
                "set both {} and {}, or neither",
                crate::env_vars::HSM_ETCD_CERT_FILE,
                crate::env_vars::HSM_ETCD_KEY_FILE
            )));
        }
    }
    builder
        .build()
        .map_err(|e| CliError::usage(format!("cannot set up the etcd client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        let ok = classify(reqwest::StatusCode::OK, r#"{"header":{},"count":"1"}"#);
        assert!(matches!(ok, Verdict::Answer(_)));
        let no_leader = classify(
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}"#,
        );
        assert!(matches!(no_leader, Verdict::Next { .. }));
        let denied = classify(
            reqwest::StatusCode::FORBIDDEN,
            r#"{"error":"etcdserver: permission denied","message":"etcdserver: permission denied","code":7}"#,
        );
        assert!(matches!(denied, Verdict::Refused(_)));
        let expired = classify(
            reqwest::StatusCode::UNAUTHORIZED,
            r#"{"message":"etcdserver: invalid auth token","code":16}"#,
        );
        assert!(matches!(expired, Verdict::Reauthenticate));
        assert!(matches!(
            classify(
                reqwest::StatusCode::BAD_REQUEST,
                "client certificate has a CN"
            ),
            Verdict::Refused(_)
        ));
        // A plain-text 5xx or 429 (a proxy in front of a member) is tried on the next member.
        for status in [502, 504, 429] {
            let status = reqwest::StatusCode::from_u16(status).unwrap();
            assert!(
                matches!(classify(status, "Bad Gateway"), Verdict::Next { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn numbers_and_base64() {
        assert_eq!(num(&json!("42")), 42);
        assert_eq!(num(&json!(7)), 7);
        assert_eq!(num(&Value::Null), 0);
        assert_eq!(unb64(&json!(b64("/hsm/a"))).as_deref(), Some("/hsm/a"));
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(parse_endpoints(&[]).is_err());
        assert!(parse_endpoints(&["127.0.0.1:2379".into()]).is_err());
        assert!(parse_endpoints(&["http://10.0.0.1:2379".into()]).is_ok());
        let err = parse_endpoints(&["http://u:secret-pw@10.0.0.1:2379".into()]).unwrap_err();
        assert!(!err.message.contains("secret-pw"), "{}", err.message);
        let err = parse_endpoints(&["u:secret-pw@10.0.0.1:2379".into()]).unwrap_err();
        assert!(!err.message.contains("secret-pw"), "{}", err.message);
    }
}

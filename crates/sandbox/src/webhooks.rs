//! Submission webhooks, sent as HealthSherpa sends them (API.md §6): a POST of the documented
//! payload with the partner's key in `X-API-Key`, retried 20 s, 10 min and 1 h after a failed
//! attempt (times `--webhook-retry-scale`). Deliveries go over plain http (the sandbox is for
//! local loops: `hsm webhooks listen`, or a receiver under development), with a minimal hyper
//! client connection per attempt.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::log::Log;

/// The documented retry schedule: after the first attempt, these waits.
const RETRIES: [Duration; 3] = [
    Duration::from_secs(20),
    Duration::from_secs(600),
    Duration::from_secs(3600),
];
/// One attempt (connect, send, answer) may take this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// Deliveries kept for `GET /__sandbox/webhooks`; the oldest are forgotten beyond it.
const MAX_KEPT: usize = 10_000;

/// Where deliveries go: an http:// URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    text: String,
    host: String,
    port: u16,
    authority: String,
    path: String,
}

impl WebhookUrl {
    /// An `http://HOST[:PORT]/PATH` URL (the sandbox sends no TLS).
    pub fn parse(text: &str) -> Result<WebhookUrl, String> {
        let url = url::Url::parse(text).map_err(|e| format!("invalid URL: {e}"))?;
        if url.scheme() != "http" {
            return Err(
                "the sandbox delivers over http:// only (e.g. to `hsm webhooks listen`)".into(),
            );
        }
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => return Err("the URL has no host".into()),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let mut path = url.path().to_owned();
        if let Some(query) = url.query() {
            path = format!("{path}?{query}");
        }
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        Ok(WebhookUrl {
            text: url.to_string(),
            host,
            port,
            authority,
            path,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// How the sandbox sends webhooks.
#[derive(Clone)]
pub struct Webhooks {
    pub url: WebhookUrl,
    /// Sent in `X-API-Key`; None sends none.
    pub api_key: Option<String>,
    /// Multiplies the retry schedule (0.01 turns 20 s into 0.2 s).
    pub retry_scale: f64,
    /// A submission for every contact created, a second later.
    pub on_create: bool,
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhooks")
            .field("url", &self.url.text)
            .field("api_key", &self.api_key.as_ref().map(|_| "(redacted)"))
            .field("retry_scale", &self.retry_scale)
            .field("on_create", &self.on_create)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize)]
struct Attempt {
    at: String,
    /// The receiver's HTTP status; None when there was no answer.
    status: Option<u16>,
    error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Delivery {
    id: u64,
    confirmation_number: String,
    submitted_at: String,
    url: String,
    /// `pending`, `delivered` or `failed` (every retry used).
    state: &'static str,
    attempts: Vec<Attempt>,
    next_attempt_at: Option<String>,
}

/// The deliveries, and the sending.
pub(crate) struct Outbox {
    config: Webhooks,
    deliveries: Mutex<Vec<Delivery>>,
    next_id: Mutex<u64>,
    log: Log,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Outbox {
    pub(crate) fn new(config: Webhooks, log: Log) -> Outbox {
        Outbox {
            config,
            deliveries: Mutex::new(Vec::new()),
            next_id: Mutex::new(1),
            log,
        }
    }

    pub(crate) fn on_create(&self) -> bool {
        self.config.on_create
    }

    pub(crate) fn url(&self) -> &str {
        self.config.url.as_str()
    }

    /// Every delivery, oldest first, with its attempts.
    pub(crate) fn list(&self) -> Value {
        json!({"deliveries": *lock(&self.deliveries)})
    }

    /// Queues the event after `delay`; returns the delivery's id.
    pub(crate) fn queue(self: &Arc<Self>, event: Value, delay: Duration) -> u64 {
        let id = {
            let mut next = lock(&self.next_id);
            *next += 1;
            *next - 1
        };
        let application = &event["medicare_application"];
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let delivery = Delivery {
            id,
            confirmation_number: text(&application["confirmation_number"]),
            submitted_at: text(&application["submitted_at"]),
            url: self.config.url.text.clone(),
            state: "pending",
            attempts: Vec::new(),
            next_attempt_at: Some(timestamp(SystemTime::now() + delay)),
        };
        {
            let mut deliveries = lock(&self.deliveries);
            if deliveries.len() >= MAX_KEPT {
                deliveries.remove(0);
            }
            deliveries.push(delivery);
        }
        let outbox = self.clone();
        tokio::spawn(async move { outbox.deliver(id, event.to_string(), delay).await });
        id
    }

    async fn deliver(self: Arc<Self>, id: u64, body: String, delay: Duration) {
        tokio::time::sleep(delay).await;
        let body = Bytes::from(body);
        for attempt in 0..=RETRIES.len() {
            let at = timestamp(SystemTime::now());
            let result = tokio::time::timeout(ATTEMPT_TIMEOUT, self.post(body.clone())).await;
            let (status, error) = match result {
                Ok(Ok(status)) => (Some(status), None),
                Ok(Err(e)) => (None, Some(e)),
                Err(_) => (None, Some("no answer in time".to_owned())),
            };
            let delivered = status.is_some_and(|s| (200..300).contains(&s));
            let wait = RETRIES
                .get(attempt)
                .map(|w| w.mul_f64(self.config.retry_scale));
            self.note(id, Attempt { at, status, error }, delivered, wait);
            match wait {
                Some(wait) if !delivered => tokio::time::sleep(wait).await,
                _ => return,
            }
        }
    }

    fn note(&self, id: u64, attempt: Attempt, delivered: bool, wait: Option<Duration>) {
        let outcome = match (attempt.status, &attempt.error) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".into(),
        };
        let mut deliveries = lock(&self.deliveries);
        let Some(d) = deliveries.iter_mut().find(|d| d.id == id) else {
            return;
        };
        d.attempts.push(attempt);
        d.state = match (delivered, wait) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        d.next_attempt_at = wait
            .filter(|_| !delivered)
            .map(|w| timestamp(SystemTime::now() + w));
        self.log.status(&format!(
            "webhook {} (submission {}) attempt {}: {outcome}; {}",
            d.id,
            d.confirmation_number,
            d.attempts.len(),
            d.state
        ));
    }

    async fn post(&self, body: Bytes) -> Result<u16, String> {
        let url = &self.config.url;
        let stream = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake failed: {e}"))?;
        tokio::spawn(conn);
        let mut request = Request::post(url.path.as_str())
            .header(HOST, url.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, "hsm-sandbox");
        if let Some(key) = &self.config.api_key {
            request = request.header("x-api-key", key.as_str());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let resp = sender
            .send_request(request)
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        Ok(resp.status().as_u16())
    }
}

/// A submission event with the documented example's fields (API.md §6). `contact`, when
/// given, is a sandbox contact (v2 fields), mapped to the webhook's contact fields.
pub(crate) fn submission(contact: Option<&Map<String, Value>>) -> Value {
    let now = SystemTime::now();
    let at = timestamp(now);
    let confirmation = format!("{:010}", random_u64() % 10_000_000_000);
    json!({
        "medicare_application": {
            "carrier_name": "Sandbox Health Plans",
            "cms_plan_id": "H1290-001-000",
            "confirmation_number": confirmation,
            "created_at": at, "updated_at": at, "submitted_at": at,
            "effective_date": first_of_next_month(now),
            "fips_code": "29095", "plan_name": "Sandbox Advantage (HMO)",
            "plan_sub_type": "hmo", "plan_type": "mapd", "plan_year": year_of(now),
            "send_to_beneficiary": true, "sep": "NEW", "signature": "voice_signature",
            "state": "MO", "submitting_agent_first_name": "Sandy",
            "submitting_agent_last_name": "Agent", "submitting_agent_npn": "12345678",
            "total_premium_cents": 0, "zip_code": "64105"
        },
        "medicare_application_riders": [
            {"plan_name": "Dental Plus", "premium_cents": 1500, "created_at": at, "updated_at": at}
        ],
        "contact": webhook_contact(contact),
    })
}

fn webhook_contact(contact: Option<&Map<String, Value>>) -> Value {
    let Some(c) = contact else {
        return json!({
            "id": uuid::Uuid::new_v4().to_string(), "external_id": "SBX-1",
            "first_name": "Pat", "middle_name": null, "last_name": "Sample", "suffix": null,
            "birth_date": "1955-04-01", "email": "pat.sample@example.test",
            "phone_number": "8165550100", "language": "english",
            "primary_address_street": "1 Main St", "primary_address_unit_number": null,
            "primary_address_city": "Kansas City", "primary_address_state": "MO",
            "primary_address_zip_code": "64105", "primary_address_county": "Jackson",
            "primary_address_fips_code": "29095"
        });
    };
    let pick = |name: &str| c.get(name).cloned().unwrap_or(Value::Null);
    json!({
        "id": pick("id"), "external_id": pick("external_id"),
        "first_name": pick("first_name"), "middle_name": null, "last_name": pick("last_name"),
        "suffix": null, "birth_date": pick("birth_date"), "email": pick("email"),
        "phone_number": pick("phone"), "language": "english",
        "primary_address_street": pick("address_1"),
        "primary_address_unit_number": pick("address_2"),
        "primary_address_city": pick("city"), "primary_address_state": pick("state"),
        "primary_address_zip_code": pick("zip"), "primary_address_county": null,
        "primary_address_fips_code": null
    })
}

/// `overlay`'s fields over `base`'s, objects merged key by key.
pub(crate) fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(slot) if slot.is_object() && value.is_object() => merge(slot, value),
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // Not a secret; a fixed number if the OS cannot give one.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// ISO 8601 UTC with milliseconds, as the documented `submitted_at`.
pub(crate) fn timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        since.subsec_millis()
    )
}

fn year_of(t: SystemTime) -> i64 {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    civil(secs.div_euclid(86_400)).0
}

fn first_of_next_month(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (y, m, _) = civil(secs.div_euclid(86_400));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    format!("{y:04}-{m:02}-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_only() {
        let u = WebhookUrl::parse("http://127.0.0.1:8788/webhooks/healthsherpa").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 8788));
        assert_eq!(u.path, "/webhooks/healthsherpa");
        assert_eq!(u.authority, "127.0.0.1:8788");
        assert!(WebhookUrl::parse("https://example.com/x").is_err());
        assert_eq!(WebhookUrl::parse("http://[::1]:9/x").unwrap().host, "::1");
    }

    #[test]
    fn timestamps_are_iso_utc_with_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_760_537_000_123);
        assert_eq!(timestamp(t), "2025-10-15T14:03:20.123Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(first_of_next_month(t), "2025-11-01");
    }

    #[test]
    fn the_body_is_merged_into_the_event() {
        let mut event = submission(None);
        merge(
            &mut event,
            json!({"contact": {"external_id": "CRM7"}, "extra": 1}),
        );
        assert_eq!(event["contact"]["external_id"], "CRM7");
        assert_eq!(event["contact"]["first_name"], "Pat");
        assert_eq!(event["extra"], 1);
        assert_eq!(
            event["medicare_application"]["confirmation_number"]
                .as_str()
                .unwrap()
                .len(),
            10
        );
    }
}

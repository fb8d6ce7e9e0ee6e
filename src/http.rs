//! The HTTP client, built in one place (timeouts, user agent, proxies, TLS provider), and the
//! helpers every caller of it shares: `Retry-After`, reqwest's error text, HTML detection. It
//! sits below `api`, `auth` and `session`, and depends on none of them.

use std::path::Path;
use std::sync::Once;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use url::Url;

use crate::error::{CliError, Result};

pub(crate) const USER_AGENT: &str = concat!("hsm/", env!("CARGO_PKG_VERSION"));

/// rustls needs a process-wide crypto provider; we ship `ring` (smaller and quicker to build
/// than aws-lc). Call before building any reqwest client; later calls do nothing.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client for one server (`target`: the token endpoint, the API, a `--forward-to` URL):
/// `timeout` per request (after it, the outcome of a request is unknown), no redirects (a
/// redirected token request is an SSRF risk and never legitimate here), explicit timeouts,
/// proxies from the environment, except for a plain-http target (only loopback is allowed
/// one): a proxy would see its bearer tokens and contacts in clear text. An https one on
/// loopback still follows the environment (tunnelled, so the proxy sees only the host).
/// `extra_ca` (a PEM bundle) is trusted in addition to the platform's roots, for networks
/// whose proxy inspects TLS with its own CA.
pub(crate) fn client(
    timeout: Duration,
    extra_ca: Option<&Path>,
    target: &Url,
) -> Result<reqwest::Client> {
    build(
        timeout,
        extra_ca,
        target.scheme() == "http" && crate::settings::is_loopback_host(target),
    )
}

/// A client for a loopback address only (the sandbox's instance probe): never through a
/// proxy, which could not reach this machine's loopback anyway.
pub(crate) fn loopback_client(
    timeout: Duration,
    extra_ca: Option<&Path>,
) -> Result<reqwest::Client> {
    build(timeout, extra_ca, true)
}

/// `direct`: no proxy, whatever the variables say.
fn build(timeout: Duration, extra_ca: Option<&Path>, direct: bool) -> Result<reqwest::Client> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout);
    if direct {
        builder = builder.no_proxy();
    }
    if let Some(path) = extra_ca {
        builder = builder.tls_certs_merge(load_ca(path)?);
    }
    builder.build().map_err(|e| {
        CliError::network(format!("cannot set up HTTP client: {e}")).with_causes(reqwest_causes(&e))
    })
}

fn load_ca(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = crate::bounded::read_file(path, crate::bounded::SMALL_FILE).map_err(|e| {
        CliError::usage(format!("cannot read CA file {}: {e}", path.display())).with_cause(&e)
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        CliError::usage(format!("invalid CA file {}: {e}", path.display()))
            .with_causes(reqwest_causes(&e))
    })?;
    if certs.is_empty() {
        return Err(CliError::usage(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// What to do about a certificate the platform does not trust.
pub(crate) const CA_HINT: &str = "if a proxy inspects TLS on this network, trust its CA with HSM_CA_FILE=/path/to/ca.pem (or ca_file in the config)";

/// Whether a connection failed on the server's certificate (as opposed to the network).
pub(crate) fn is_certificate_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("certificate") || m.contains("unknownissuer")
}

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3: IMF-fixdate, and the obsolete
/// RFC 850 and asctime forms, all three through `httpdate`). An RFC 3339 date is tolerated too,
/// as hsm always has.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value)
        .ok()
        .or_else(|| humantime::parse_rfc3339_weak(value).ok())?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

/// reqwest's Display hides the cause ("error sending request"); include the innermost one.
pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(cause) = last {
        msg.push_str(": ");
        msg.push_str(&cause);
    }
    msg
}

/// Why a request got no usable answer, as hsm tells it: one line (`describe_reqwest`, or a
/// reason of hsm's own), and the chain of errors under it, kept for `-v`. It reads as its line
/// (`Display`, and `Deref` to `str` for the checks that look at the text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Why {
    pub line: String,
    pub causes: Vec<String>,
}

impl Why {
    pub(crate) fn of(e: &reqwest::Error) -> Why {
        Why {
            line: describe_reqwest(e),
            causes: reqwest_causes(e),
        }
    }
}

impl From<String> for Why {
    fn from(line: String) -> Why {
        Why {
            line,
            causes: Vec::new(),
        }
    }
}

impl From<&str> for Why {
    fn from(line: &str) -> Why {
        Why::from(line.to_string())
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line)
    }
}

impl std::ops::Deref for Why {
    type Target = str;
    fn deref(&self) -> &str {
        &self.line
    }
}

/// What lies under a reqwest error, for `-v` (hyper's, the socket's, TLS's errors): its
/// sources, not its own text, which names the URL (a query may hold a contact's field).
pub(crate) fn reqwest_causes(e: &reqwest::Error) -> Vec<String> {
    std::error::Error::source(e)
        .map(crate::error::causes_of)
        .unwrap_or_default()
}

/// Whether a body is an HTML page (an error page, a proxy's login page) rather than the JSON
/// that was asked for. Only the first bytes are looked at, and nothing of it is echoed.
pub(crate) fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(64)]);
    head.trim_start().starts_with('<')
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        for past in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "1994-11-06 08:49:37",
        ] {
            h.insert(RETRY_AFTER, HeaderValue::from_static(past));
            assert_eq!(retry_after(&h), Some(Duration::ZERO), "{past}");
        }
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let wait = retry_after(&h).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn html_is_told_from_json() {
        assert!(looks_like_html(b"  <!DOCTYPE html><title>502</title>"));
        assert!(!looks_like_html(b"{\"error\": \"x\"}"));
    }

    proptest::proptest! {
        /// `Retry-After` of any value (seconds, dates, garbage): a duration or nothing.
        #[test]
        fn any_retry_after(text in "[ -~]{0,40}") {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&text) {
                h.insert(RETRY_AFTER, v);
            }
            let _ = retry_after(&h);
        }
    }
}

//! The HTTP client, built in one place: timeouts, user agent, proxies, TLS provider.

use std::sync::Once;
use std::time::Duration;

use crate::error::{CliError, Result};

pub const USER_AGENT: &str = concat!("hsm/", env!("CARGO_PKG_VERSION"));

/// rustls needs a process-wide crypto provider; we ship `ring` (smaller and quicker to build
/// than aws-lc). Call before building any reqwest client; later calls do nothing.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// How long one request may take before its outcome is declared unknown:
/// `HSM_HTTP_TIMEOUT` seconds, default 30.
pub fn request_timeout() -> Duration {
    crate::env_vars::get(crate::env_vars::HSM_HTTP_TIMEOUT)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(30))
}

/// A client for the token endpoint and the API: no redirects (a redirected token request is
/// an SSRF risk and never legitimate here), explicit timeouts, proxies from the environment.
pub fn client(timeout: Duration) -> Result<reqwest::Client> {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .build()
        .map_err(|e| CliError::network(format!("cannot set up HTTP client: {e}")))
}

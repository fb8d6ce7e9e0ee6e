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

//! The HTTP client, built in one place: timeouts, user agent, proxies, TLS provider.

use std::path::Path;
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
/// `extra_ca` (a PEM bundle) is trusted in addition to the platform's roots, for networks
/// whose proxy inspects TLS with its own CA.
pub fn client(timeout: Duration, extra_ca: Option<&Path>) -> Result<reqwest::Client> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout);
    if let Some(path) = extra_ca {
        builder = builder.tls_certs_merge(load_ca(path)?);
    }
    builder
        .build()
        .map_err(|e| CliError::network(format!("cannot set up HTTP client: {e}")))
}

fn load_ca(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read CA file {}: {e}", path.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| CliError::usage(format!("invalid CA file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(CliError::usage(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// What to do about a certificate the platform does not trust.
pub const CA_HINT: &str = "if a proxy inspects TLS on this network, trust its CA with HSM_CA_FILE=/path/to/ca.pem (or ca_file in the config)";

/// Whether a connection failed on the server's certificate (as opposed to the network).
pub fn is_certificate_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("certificate") || m.contains("unknownissuer")
}

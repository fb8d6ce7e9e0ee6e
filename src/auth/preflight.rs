//! Before the login waits for a human (up to `--timeout`, 300 s), check that the token
//! endpoint can be reached at all: its host resolves and accepts a connection, TLS included,
//! through the proxy when one is set. A network or proxy problem then fails in seconds, not
//! after five minutes as "timed out waiting for the browser".

use std::time::Duration;

use url::Url;

use crate::error::{CliError, Result};
use crate::settings::{self, EnvSettings};

/// How long the check may take: long enough for a slow proxy, short next to the login.
const LIMIT: Duration = Duration::from_secs(10);

pub async fn token_endpoint_reachable(settings: &EnvSettings) -> Result<()> {
    let url = &settings.token_url;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    if url.scheme() == "http" && settings::is_loopback_host(url) {
        // The sandbox or a test server on this machine: a TCP connection says it all.
        let connect = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port));
        return match tokio::time::timeout(LIMIT, connect).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(unreachable(url, &e.to_string()).with_cause(&e)),
            Err(_) => Err(unreachable(url, "no answer within 10 s")),
        };
    }
    // HTTPS: one HEAD request to the server's root through the same client (proxy, CA) the
    // code exchange uses. Any HTTP answer, whatever its status, proves DNS, TCP and TLS.
    let http = crate::http::client(
        LIMIT.min(settings.http_timeout),
        settings.ca_file.as_deref(),
        url,
    )?;
    let mut root = url.clone();
    root.set_path("/");
    root.set_query(None);
    match http.head(root).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let why = crate::http::Why::of(&e);
            if crate::http::is_certificate_error(&why) {
                return Err(CliError::network(format!(
                    "cannot log in: the token endpoint {url} presented a certificate this machine does not trust ({why})"
                ))
                .with_causes(why.causes)
                .with_hint(crate::http::CA_HINT));
            }
            Err(unreachable(url, &why).with_causes(why.causes))
        }
    }
}

fn unreachable(url: &Url, why: &str) -> CliError {
    CliError::network(format!(
        "cannot log in: the token endpoint {url} is unreachable ({why}); nothing was opened or stored"
    ))
    .with_hint(
        "check the network, DNS and proxy (HTTPS_PROXY / NO_PROXY; behind a TLS-inspecting proxy also HSM_CA_FILE); for the sandbox, start `hsm sandbox` first",
    )
}

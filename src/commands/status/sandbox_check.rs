//! Whether the running `hsm sandbox` still knows a sandbox session. The sandbox keeps its
//! sessions in memory, so after a restart every stored sandbox session is dead while its
//! expiry still says "valid". One loopback request per sandbox session tells: the sandbox is
//! asked about the refresh token's SHA-256, so the token is neither sent nor spent.

use std::time::Duration;

use crate::secret::Secret;

pub enum Known {
    Yes,
    /// Not issued by this run of the sandbox: it was restarted.
    No,
    /// Nothing listens there: a sandbox started later will not know the session either.
    NotRunning(String),
}

/// None when there is nothing to ask (a session without a refresh token, a token URL that is
/// not plain HTTP on loopback) or the sandbox gave no usable answer.
pub async fn ask(token_url: &str, refresh_token: Option<&Secret>) -> Option<Known> {
    let refresh_token = refresh_token?;
    let url = url::Url::parse(token_url).ok()?;
    if url.scheme() != "http" || !crate::settings::is_loopback_host(&url) {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    crate::http::install_crypto_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let lookup = format!("{origin}/__sandbox/sessions/{}", refresh_token.sha256_hex());
    let answer = match client.get(lookup).send().await {
        Ok(answer) => answer,
        Err(e) if e.is_connect() => return Some(Known::NotRunning(origin)),
        Err(_) => return None,
    };
    let body: serde_json::Value = answer.json().await.ok()?;
    match body["known"].as_bool()? {
        true => Some(Known::Yes),
        false => Some(Known::No),
    }
}

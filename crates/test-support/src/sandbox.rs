//! A running sandbox as a test reaches it, by its base URL: wherever it runs (in the test's
//! process or as `hsm sandbox`), the tests speak to it through this, and its admin API
//! (`/__sandbox/*`) through these calls alone.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

/// A blocking client that never uses a proxy and never follows redirects, so tests see exactly
/// what the sandbox sent. One client serves every test of a binary (building one costs about
/// 20 ms); it keeps no idle connections, so none outlives the sandbox it was made to.
pub fn http_client() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // The workspace builds reqwest with rustls and no crypto provider (hsm chooses
            // ring), and a client cannot be built before one is installed, even for plain http.
            // Installing it again (hsm's own install) is a no-op.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(0)
                .build()
                .expect("build the test HTTP client")
        })
        .clone()
}

/// A running sandbox at `base_url` (`http://127.0.0.1:PORT`), and the client to speak to it.
pub struct SandboxClient {
    pub base_url: String,
    client: Client,
}

impl SandboxClient {
    pub fn new(base_url: impl Into<String>) -> SandboxClient {
        SandboxClient {
            base_url: base_url.into(),
            client: http_client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn admin_json(&self, resp: reqwest::Result<Response>, what: &str) -> Value {
        let resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(resp.status().is_success(), "{what}: HTTP {}", resp.status());
        resp.json().unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    pub fn stats(&self) -> Value {
        self.admin_json(
            self.client.get(self.url("/__sandbox/stats")).send(),
            "GET /__sandbox/stats",
        )
    }

    /// Restarts `api_in_flight_peak` and `api_max_per_second`; the stats after it.
    pub fn reset_stats(&self) -> Value {
        self.admin_json(
            self.client.post(self.url("/__sandbox/stats/reset")).send(),
            "POST /__sandbox/stats/reset",
        )
    }

    /// Replaces the pending faults with `specs` (ENDPOINT:KIND[=ARG][xCOUNT]).
    pub fn set_faults(&self, specs: &[&str]) {
        let body = json!({ "faults": specs });
        self.admin_json(
            self.client
                .post(self.url("/__sandbox/faults"))
                .json(&body)
                .send(),
            "POST /__sandbox/faults",
        );
    }

    pub fn clear_faults(&self) {
        self.admin_json(
            self.client.delete(self.url("/__sandbox/faults")).send(),
            "DELETE /__sandbox/faults",
        );
    }

    /// Mints a token pair without the browser: `{"agent": .., "scope": .., "access_ttl": ..}`,
    /// all optional (`json!({})` is a normal login as agent@sandbox.test).
    pub fn mint(&self, body: Value) -> Value {
        self.admin_json(
            self.client
                .post(self.url("/__sandbox/tokens"))
                .json(&body)
                .send(),
            "POST /__sandbox/tokens",
        )
    }

    /// Revokes the family of `refresh_token`, or every token when None.
    pub fn revoke(&self, refresh_token: Option<&str>) -> Value {
        let body = match refresh_token {
            Some(token) => json!({ "refresh_token": token }),
            None => json!({}),
        };
        self.admin_json(
            self.client
                .post(self.url("/__sandbox/revoke"))
                .json(&body)
                .send(),
            "POST /__sandbox/revoke",
        )
    }
}

/// The sandbox still answers its health check, `{"ok": true}`.
pub fn health_ok(sb: &SandboxClient) {
    let resp = sb
        .client()
        .get(sb.url("/__sandbox/health"))
        .send()
        .expect("sandbox still answers");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().expect("JSON"), json!({"ok": true}));
}

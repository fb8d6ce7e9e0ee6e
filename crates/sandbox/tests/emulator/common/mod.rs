//! Plumbing of the emulator's tests: a fresh sandbox per test (in-process, on a free port,
//! stopped when the handle drops), the HTTP client the tests speak with, and its admin calls.
//! Nothing here runs hsm: the tests of the `hsm sandbox` command live in hsm's `tests/it`.

#![allow(dead_code)]

pub mod browser;
pub mod requests;
pub mod tools;

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use hsm_sandbox::{Config, Fault, Running};
use reqwest::blocking::Client;
use serde_json::{Value, json};

pub use requests::*;

/// The configuration of a test sandbox: the defaults, on a free port.
pub fn config() -> Config {
    Config {
        port: 0,
        ..Config::default()
    }
}

/// Fault specs (`ENDPOINT:KIND[=ARG][xCOUNT]`), as `--fault` takes them.
pub fn faults(specs: &[&str]) -> Vec<Fault> {
    specs
        .iter()
        .map(|spec| Fault::parse(spec).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// A blocking client that never uses a proxy and never follows redirects, so tests see exactly
/// what the sandbox sent. One client serves every test; it keeps no idle connections, so none
/// outlives the sandbox it was made to.
pub fn http_client() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            install_crypto_provider();
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

/// The workspace builds reqwest with rustls and no crypto provider (hsm chooses ring), and a
/// client cannot be built before one is installed, even for plain http.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub struct Sandbox {
    pub base_url: String,
    running: Running,
    client: Client,
}

impl Sandbox {
    /// A sandbox with the default configuration, on a free port.
    pub fn new() -> Sandbox {
        Sandbox::start(config())
    }

    /// A sandbox in this process with this configuration.
    pub fn start(config: Config) -> Sandbox {
        let running = hsm_sandbox::start(config).expect("start the sandbox in-process");
        Sandbox {
            base_url: running.url().to_owned(),
            running,
            client: http_client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Everything the sandbox logged so far: what `hsm sandbox` would have written to stderr.
    pub fn stderr(&self) -> String {
        self.running.log()
    }

    fn admin_json(&self, resp: reqwest::Result<reqwest::blocking::Response>, what: &str) -> Value {
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

/// Clears the environment of a process a test starts (chromedriver and its Chromium) down to
/// PATH, with HOME and every XDG directory inside `home`: nothing of the operator's own
/// settings (XDG_*, a D-Bus session, proxies) reaches it, whatever they are.
pub fn clean_env<'c>(cmd: &'c mut Command, home: &std::path::Path) -> &'c mut Command {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("NO_PROXY", "*");
    for (var, dir) in [
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ] {
        let dir = home.join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        cmd.env(var, dir);
    }
    cmd
}

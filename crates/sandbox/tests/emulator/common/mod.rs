//! Plumbing of the emulator's tests: a fresh sandbox per test (in-process, on a free port,
//! stopped when the handle drops), reached through `hsm_test_support` (the HTTP client the
//! tests speak with, the admin calls), which hsm's tests share.
//! Nothing here runs hsm: the tests of the `hsm sandbox` command live in hsm's `tests/it`.

#![allow(dead_code)]

pub mod browser;
pub mod requests;
pub mod tools;

use std::ops::Deref;

use hsm_sandbox::{Config, Fault, Running};

pub use hsm_test_support::{SandboxClient, clean_env, health_ok, http_client};
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

/// A sandbox running in this process, stopped when the handle drops. To the tests it is the
/// sandbox they reach (its `base_url`, `url`, `client` and admin calls: `SandboxClient`).
pub struct Sandbox {
    reached: SandboxClient,
    running: Running,
}

impl Deref for Sandbox {
    type Target = SandboxClient;

    fn deref(&self) -> &SandboxClient {
        &self.reached
    }
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
            reached: SandboxClient::new(running.url()),
            running,
        }
    }

    /// Everything the sandbox logged so far: what `hsm sandbox` would have written to stderr.
    pub fn stderr(&self) -> String {
        self.running.log()
    }
}

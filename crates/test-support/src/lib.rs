//! What hsm's integration tests (`tests/it`) and the emulator's tests
//! (`crates/sandbox/tests/emulator`) share, written once: a running sandbox as a test reaches it
//! (`sandbox`: its URL, the HTTP client, its admin API), the cleared environment of every process
//! a test starts (`clean_env`), and what a test does when a tool it needs is missing (`tools`).
//!
//! A dev-dependency of both crates, nothing more; it depends on neither, so the sandbox's tests
//! still run no hsm.

// Test plumbing reads its own environment (PATH for children and tools, CI); hsm's rule of
// reading variables only through `env_vars` is for the product.
#![allow(clippy::disallowed_methods)]

mod clean_env;
pub mod sandbox;
pub mod tools;

pub use clean_env::clean_env;
pub use sandbox::{SandboxClient, health_ok, http_client};

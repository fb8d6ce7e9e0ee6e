//! The built-in `sandbox` environment: the client credentials and default port that
//! `hsm sandbox` publishes (its banner prints them), taken from the sandbox crate itself so
//! the two cannot disagree, and the hints hsm gives about it.

/// The sandbox's one OAuth client, its secret (public by design, the sandbox being a local
/// emulator), and where `hsm sandbox` listens by default, and so where `--env sandbox` looks.
pub use hsm_sandbox::{CLIENT_ID, CLIENT_SECRET, DEFAULT_PORT};

/// The name of the built-in environment.
pub const ENV: &str = "sandbox";

/// The next step when `--env sandbox` cannot reach `origin`.
pub fn not_running_hint(origin: &str) -> String {
    format!(
        "is `hsm sandbox` running? --env sandbox expects it at {origin}: start it in another terminal (HSM_SANDBOX_URL if it listens elsewhere)"
    )
}

/// The next step when the sandbox no longer knows a session.
pub const RESTARTED_HINT: &str =
    "a restarted `hsm sandbox` forgets every session: log in again with `hsm login --env sandbox`";

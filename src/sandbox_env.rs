//! The built-in `sandbox` environment: the client credentials and default port that
//! `hsm sandbox` publishes (its banner prints them). The client keeps its own copy rather than
//! reaching into the emulator; a test checks the two agree.

/// The sandbox's one OAuth client.
pub const CLIENT_ID: &str = "hsm-sandbox";
/// Its secret: public by design, the sandbox being a local emulator.
pub const CLIENT_SECRET: &str = "hsm-sandbox-secret";
/// Where `hsm sandbox` listens by default, and so where `--env sandbox` looks.
pub const DEFAULT_PORT: u16 = 8787;

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

//! The built-in `sandbox` environment: the client credentials and default port that
//! `hsm sandbox` publishes (its banner prints them). The client keeps its own copy rather than
//! reaching into the emulator; a test checks the two agree.

/// The sandbox's one OAuth client.
pub const CLIENT_ID: &str = "hsm-sandbox";
/// Its secret: public by design, the sandbox being a local emulator.
pub const CLIENT_SECRET: &str = "hsm-sandbox-secret";
/// Where `hsm sandbox` listens by default, and so where `--env sandbox` looks.
pub const DEFAULT_PORT: u16 = 8787;

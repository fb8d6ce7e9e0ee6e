//! The emulator driven over real HTTP, in-process (`cargo test -p hsm-sandbox`): every OAuth
//! and API rule, every error path, every fault kind, the bounds, and the consent page in a real
//! browser. The tests of the `hsm sandbox` command (its flags, stdout line, exit codes, Ctrl-C)
//! run hsm, and live in hsm's `tests/it/sandbox.rs`.

// The harness reads its own environment (PATH, CI).
#![allow(clippy::disallowed_methods)]

mod api;
mod bounds;
mod common;
mod faults;
mod log;
mod oauth;

//! One integration-test binary (`cargo test --test it`): every test runs the real `hsm`
//! binary against the bundled sandbox over loopback sockets.

// The harness reads its own environment (PATH, UPDATE_GENERATED); hsm's rule of reading
// variables only through `env_vars` is for the product.
#![allow(clippy::disallowed_methods)]

mod browser_login;
mod common;
mod contacts;
mod generated;
mod import;
mod keychain;
mod login;
mod network;
mod output;
mod refresh;
mod sandbox;
mod schema_agreement;
mod terminal;

//! One integration-test binary (`cargo test --test it`): every test runs the real `hsm`
//! binary against the bundled sandbox over loopback sockets.

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

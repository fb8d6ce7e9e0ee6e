//! One integration-test binary (`cargo test --test it`): every test runs the real `hsm`
//! binary against the bundled sandbox over loopback sockets.

// The harness reads its own environment (PATH, UPDATE_GENERATED); hsm's rule of reading
// variables only through `env_vars` is for the product.
#![allow(clippy::disallowed_methods)]

mod api;
// Chromium from /usr/bin, launched through a shell script: Unix only.
#[cfg(unix)]
mod browser_login;
mod common;
mod completion;
mod contacts;
mod docs;
// A real etcd cluster from Debian's etcd-server: Linux only.
#[cfg(target_os = "linux")]
mod etcd;
mod first_hour;
mod generated;
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod hermetic;
mod import;
mod json_schema;
// A private PostgreSQL cluster from Debian's postgresql: Linux only.
#[cfg(target_os = "linux")]
mod ledger_pg;
// Against a private Secret Service (see common::keyring).
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod keychain;
mod ledger;
mod login;
mod network;
mod output;
mod pace;
mod package;
mod refresh;
mod sandbox;
mod schema_agreement;
mod sync;
// Signals to the listener and `sh -c` commands: Unix only.
#[cfg(unix)]
mod webhooks;
// tmux and sh scripts: Unix only.
#[cfg(unix)]
mod terminal;

//! Tests never touch the operator's own settings or credentials. An operator who followed
//! the README has `HSM_CREDENTIAL_STORE=file` and `HSM_CREDENTIALS_FILE` in `~/.profile`, and
//! a desktop sets `XDG_*` and a D-Bus session: the suite's representative tests (a keychain
//! login and refresh against a private gnome-keyring, a login at a tmux terminal, a sync that
//! keeps state) run here in a child test process whose environment points all of those at
//! sentinels, which must be exactly as they were afterwards.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;

use crate::common::tools;
use crate::common::*;

/// Tests whose helpers start hsm, keyring daemons, tmux and its shells.
const REPRESENTATIVE: &[&str] = &[
    "keychain::login_stores_one_record_in_the_secret_service_and_logout_removes_it",
    "refresh::keychain_store::server_errors_html_and_lost_answers_leave_the_keychain_record_intact",
    "terminal::with_no_keychain_at_a_terminal_login_asks_before_using_the_file_store",
    "sync::creates_then_sends_nothing_then_only_minimal_patches_and_lists_missing_rows",
];

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                files.insert(path.display().to_string(), bytes);
            }
        }
    }
    files
}

#[test]
fn the_operators_settings_credentials_and_session_bus_are_left_alone() {
    let mut needed = tools::KEYRING.to_vec();
    needed.push(&tools::TMUX);
    if !tools::present(&needed) {
        return;
    }
    let operator = tempfile::tempdir().unwrap();
    let at = |rel: &str| operator.path().join(rel);
    let credentials = at("secrets/credentials.json");
    write_file(
        &credentials,
        r#"{"entries":{"sandbox/default":"the operator's own"}}"#,
    );
    for dir in ["config", "data", "state", "hsm-state", "home"] {
        write_file(&at(&format!("{dir}/sentinel")), dir);
    }
    // The operator's session bus: nothing may even connect to it.
    let bus = UnixListener::bind(at("bus")).unwrap();
    bus.set_nonblocking(true).unwrap();
    let before = snapshot(operator.path());

    let out = Command::new(std::env::current_exe().unwrap())
        .args(REPRESENTATIVE)
        .args(["--exact", "--test-threads=2"])
        .env("HSM_CREDENTIAL_STORE", "file")
        .env("HSM_CREDENTIALS_FILE", &credentials)
        .env("XDG_CONFIG_HOME", at("config"))
        .env("XDG_DATA_HOME", at("data"))
        .env("XDG_STATE_HOME", at("state"))
        .env("HSM_STATE_DIR", at("hsm-state"))
        .env("HOME", at("home"))
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", at("bus").display()),
        )
        .output()
        .unwrap();
    let report = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains(&format!("{} passed", REPRESENTATIVE.len())),
        "every representative test ran: {report}"
    );

    assert_eq!(snapshot(operator.path()), before, "{report}");
    match bus.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("a test reached the operator's session bus: {other:?}"),
    }
}

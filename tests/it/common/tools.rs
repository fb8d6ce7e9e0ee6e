//! Tools the suite takes from the machine: Debian packages (a real keyring, browser, terminal,
//! etcd, lintian) and the pinned cargo-deb. `scripts/test` installs them when it can. A test
//! whose tool is missing is skipped, with one line on stderr and one in
//! `target/tmp/skipped-tests.txt`, which `scripts/test` counts and shows. In CI (`CI` set, as
//! every CI service does, and `.ci/run`) a missing tool fails the test instead, in one line:
//! CI never loses tests silently. The rule is `hsm_test_support::tools`, which the sandbox's
//! tests share.

use std::path::Path;
use std::process::Command;

pub use hsm_test_support::tools::{CHROMIUM, Tool, there};

pub const DBUS_RUN_SESSION: Tool = Tool::on_path("dbus-run-session", "the Debian package dbus");
pub const GNOME_KEYRING: Tool =
    Tool::on_path("gnome-keyring-daemon", "the Debian package gnome-keyring");
pub const SECRET_TOOL: Tool = Tool::on_path("secret-tool", "the Debian package libsecret-tools");
pub const TMUX: Tool = Tool::on_path("tmux", "the Debian package tmux");
pub const ETCD: Tool = Tool::on_path("etcd", "the Debian package etcd-server");
pub const ETCDCTL: Tool = Tool::on_path("etcdctl", "the Debian package etcd-client");
pub const LINTIAN: Tool = Tool::on_path("lintian", "the Debian package lintian");
pub const DPKG_DEB: Tool = Tool::on_path("dpkg-deb", "the Debian package dpkg");
/// `man -l` renders the checked-in man pages as a reader sees them.
pub const MAN: Tool = Tool::on_path("man", "the Debian package man-db");
/// The version scripts/package.sh pins (and scripts/test installs).
pub const CARGO_DEB: Tool = Tool::checked(
    "cargo-deb 3.8.0",
    "cargo install --locked cargo-deb@3.8.0",
    cargo_deb_pinned,
);

pub const KEYRING: &[&Tool] = &[&DBUS_RUN_SESSION, &GNOME_KEYRING, &SECRET_TOOL];
pub const ETCD_TOOLS: &[&Tool] = &[&ETCD, &ETCDCTL];
/// The .deb tests; the archive and install.sh tests need none of these (`--no-deb`).
pub const DEB: &[&Tool] = &[&CARGO_DEB, &LINTIAN, &DPKG_DEB];

/// True when every one of `tools` is there. Otherwise the calling test is skipped (it returns
/// at once) and this says so, or, in CI, fails it.
#[track_caller]
pub fn present(tools: &[&Tool]) -> bool {
    hsm_test_support::tools::present(tools, skip_list())
}

/// Where skips are listed for scripts/test to count.
pub fn skip_list() -> &'static Path {
    Path::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.txt"))
}

fn cargo_deb_pinned(name: &str) -> bool {
    Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == name)
}

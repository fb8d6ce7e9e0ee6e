//! Tools the suite takes from the machine: Debian packages (a real keyring, browser, terminal,
//! etcd, lintian) and the pinned cargo-deb. `scripts/test` installs them when it can. A test
//! whose tool is missing is skipped, with one line on stderr and one in
//! `target/tmp/skipped-tests.txt`, which `scripts/test` counts and shows. In CI (`CI` set, as
//! every CI service does, and `.ci/run`) a missing tool fails the test instead, in one line:
//! CI never loses tests silently.

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// A tool, and how to get it.
pub struct Tool {
    pub name: &'static str,
    pub install: &'static str,
    present: fn(&'static str) -> bool,
}

const fn on_path(name: &'static str, package: &'static str) -> Tool {
    Tool {
        name,
        install: package,
        present: in_path,
    }
}

pub const DBUS_RUN_SESSION: Tool = on_path("dbus-run-session", "the Debian package dbus");
pub const GNOME_KEYRING: Tool = on_path("gnome-keyring-daemon", "the Debian package gnome-keyring");
pub const SECRET_TOOL: Tool = on_path("secret-tool", "the Debian package libsecret-tools");
pub const TMUX: Tool = on_path("tmux", "the Debian package tmux");
pub const ETCD: Tool = on_path("etcd", "the Debian package etcd-server");
pub const ETCDCTL: Tool = on_path("etcdctl", "the Debian package etcd-client");
pub const LINTIAN: Tool = on_path("lintian", "the Debian package lintian");
pub const DPKG_DEB: Tool = on_path("dpkg-deb", "the Debian package dpkg");
/// `man -l` renders the checked-in man pages as a reader sees them.
pub const MAN: Tool = on_path("man", "the Debian package man-db");
pub const CHROMIUM: Tool = Tool {
    name: "/usr/bin/chromium",
    install: "the Debian package chromium",
    present: exists,
};
/// The version scripts/package.sh pins (and scripts/test installs).
pub const CARGO_DEB: Tool = Tool {
    name: "cargo-deb 3.8.0",
    install: "cargo install --locked cargo-deb@3.8.0",
    present: cargo_deb_pinned,
};

pub const KEYRING: &[&Tool] = &[&DBUS_RUN_SESSION, &GNOME_KEYRING, &SECRET_TOOL];
pub const ETCD_TOOLS: &[&Tool] = &[&ETCD, &ETCDCTL];
/// The .deb tests; the archive and install.sh tests need none of these (`--no-deb`).
pub const DEB: &[&Tool] = &[&CARGO_DEB, &LINTIAN, &DPKG_DEB];

/// Whether every one of `tools` is there, saying nothing.
pub fn there(tools: &[&Tool]) -> bool {
    tools.iter().all(|t| (t.present)(t.name))
}

/// True when every one of `tools` is there. Otherwise the calling test is skipped (it returns
/// at once) and this says so, or, in CI, fails it.
#[track_caller]
pub fn present(tools: &[&Tool]) -> bool {
    let missing: Vec<&&Tool> = tools.iter().filter(|t| !(t.present)(t.name)).collect();
    if missing.is_empty() {
        return true;
    }
    let what = missing
        .iter()
        .map(|t| format!("{} ({})", t.name, t.install))
        .collect::<Vec<_>>()
        .join(", ");
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    if in_ci() {
        // One line and no backtrace, whatever RUST_BACKTRACE says: resume_unwind fails the
        // test without the panic hook, and the line is in the test's output.
        let line = format!("failed: {test}: missing {what}, and in CI no test is skipped");
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{line}");
        }
        std::panic::resume_unwind(Box::new(line));
    }
    let line = format!("skipped: {test}: missing {what}");
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{line}");
    }
    record_skip(&line);
    false
}

/// `CI` set to anything but `false`/`0`/empty, as CI services set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// Where skips are listed for scripts/test to count.
pub fn skip_list() -> &'static Path {
    Path::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.txt"))
}

fn record_skip(line: &str) {
    // One short append per line: lines of concurrent tests do not interleave.
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(skip_list())
    {
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}

fn in_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(name).is_file()))
}

fn exists(path: &str) -> bool {
    Path::new(path).exists()
}

fn cargo_deb_pinned(name: &str) -> bool {
    Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == name)
}

//! The tools these tests take from the machine: Chromium and chromedriver (Debian packages,
//! which `scripts/test` installs when it can). As in hsm's own tests (`tests/it/common/tools.rs`):
//! a test whose tool is missing is skipped, with one line on stderr and one in
//! `target/tmp/skipped-tests.txt`, which `scripts/test` counts and shows; in CI (`CI` set) a
//! missing tool fails the test instead: CI never loses tests silently.

use std::io::Write;
use std::path::Path;

/// A tool, and how to get it.
pub struct Tool {
    pub name: &'static str,
    pub install: &'static str,
}

pub const CHROMIUM: Tool = Tool {
    name: "/usr/bin/chromium",
    install: "the Debian package chromium",
};
pub const CHROMEDRIVER: Tool = Tool {
    name: "/usr/bin/chromedriver",
    install: "the Debian package chromium-driver",
};
pub const BROWSER: &[&Tool] = &[&CHROMIUM, &CHROMEDRIVER];

/// True when every one of `tools` is there. Otherwise the calling test is skipped (it returns
/// at once) and this says so, or, in CI, fails it.
#[track_caller]
pub fn present(tools: &[&Tool]) -> bool {
    let missing: Vec<&&Tool> = tools
        .iter()
        .filter(|t| !Path::new(t.name).exists())
        .collect();
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
        // One line and no backtrace: resume_unwind fails the test without the panic hook.
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
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// The workspace's `target/tmp`, where hsm's tests list their skips too.
fn skip_list() -> &'static Path {
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

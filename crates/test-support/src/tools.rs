//! Tools the tests take from the machine (Debian packages, which `scripts/test` installs when it
//! can). A test whose tool is missing is skipped, with one line on stderr and one in the skip
//! list (`target/tmp/skipped-tests.txt`), which `scripts/test` counts and shows. In CI (`CI`
//! set, as every CI service does, and `.ci/run`) a missing tool fails the test instead, in one
//! line: CI never loses tests silently.

use std::io::Write;
use std::path::Path;

/// A tool, and how to get it.
pub struct Tool {
    pub name: &'static str,
    pub install: &'static str,
    present: fn(&'static str) -> bool,
}

impl Tool {
    /// A program found on PATH.
    pub const fn on_path(name: &'static str, install: &'static str) -> Tool {
        Tool {
            name,
            install,
            present: in_path,
        }
    }

    /// A file at this path.
    pub const fn at(path: &'static str, install: &'static str) -> Tool {
        Tool {
            name: path,
            install,
            present: exists,
        }
    }

    /// A tool `present(name)` tells is there (a pinned version, say).
    pub const fn checked(
        name: &'static str,
        install: &'static str,
        present: fn(&'static str) -> bool,
    ) -> Tool {
        Tool {
            name,
            install,
            present,
        }
    }
}

pub const CHROMIUM: Tool = Tool::at("/usr/bin/chromium", "the Debian package chromium");
pub const CHROMEDRIVER: Tool = Tool::at(
    "/usr/bin/chromedriver",
    "the Debian package chromium-driver",
);

/// Whether every one of `tools` is there, saying nothing.
pub fn there(tools: &[&Tool]) -> bool {
    tools.iter().all(|t| (t.present)(t.name))
}

/// True when every one of `tools` is there. Otherwise the calling test is skipped (it returns
/// at once) and this says so, on stderr and in `skip_list` (the test binary's
/// `CARGO_TARGET_TMPDIR/skipped-tests.txt`), or, in CI, fails it.
#[track_caller]
pub fn present(tools: &[&Tool], skip_list: &Path) -> bool {
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
    record_skip(skip_list, &line);
    false
}

/// `CI` set to anything but `false`/`0`/empty, as CI services set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

fn record_skip(skip_list: &Path, line: &str) {
    // One short append per line: lines of concurrent tests do not interleave.
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(skip_list)
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

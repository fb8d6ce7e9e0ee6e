//! The tools these tests take from the machine: Chromium and chromedriver (Debian packages,
//! which `scripts/test` installs when it can). The rule is hsm's tests' own
//! (`hsm_test_support::tools`): a test whose tool is missing is skipped, with one line on stderr
//! and one in `target/tmp/skipped-tests.txt`, which `scripts/test` counts and shows; in CI (`CI`
//! set) a missing tool fails the test instead: CI never loses tests silently.

use std::path::Path;

pub use hsm_test_support::tools::{CHROMEDRIVER, CHROMIUM, Tool};

pub const BROWSER: &[&Tool] = &[&CHROMIUM, &CHROMEDRIVER];

/// True when every one of `tools` is there. Otherwise the calling test is skipped (it returns
/// at once) and this says so, or, in CI, fails it.
#[track_caller]
pub fn present(tools: &[&Tool]) -> bool {
    hsm_test_support::tools::present(tools, skip_list())
}

/// The workspace's `target/tmp`, where hsm's tests list their skips too.
fn skip_list() -> &'static Path {
    Path::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.txt"))
}

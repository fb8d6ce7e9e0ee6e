//! Stamps the build with its commit and date for `hsm --version` ("hsm 0.1.0 (abc1234 2026-12-01)").
//! Read from the local git checkout, never the network. A release workflow or a source tarball
//! without `.git` can set HSM_BUILD_COMMIT / HSM_BUILD_DATE; otherwise the date falls back to
//! SOURCE_DATE_EPOCH (reproducible builds), and either part to "unknown".

use std::process::Command;

fn main() {
    for var in ["HSM_BUILD_COMMIT", "HSM_BUILD_DATE", "SOURCE_DATE_EPOCH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    watch_git_head();
    let commit = var("HSM_BUILD_COMMIT")
        .or_else(|| git(&["rev-parse", "--short=9", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let date = var("HSM_BUILD_DATE")
        .or_else(|| git(&["log", "-1", "--format=%cs", "HEAD"]))
        .or_else(|| var("SOURCE_DATE_EPOCH").and_then(|s| epoch_to_date(&s)))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HSM_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=HSM_BUILD_DATE={date}");
}

// A build script reads its own build environment; the runtime rule (settings only) is for hsm.
#[allow(clippy::disallowed_methods)]
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

/// Rebuild the stamp when HEAD moves: HEAD itself, the branch it points to, and packed refs
/// (worktrees keep HEAD apart from the shared refs, so ask git for each path).
fn watch_git_head() {
    let mut paths = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        paths.push(git(&["rev-parse", "--git-path", &branch]));
    }
    paths.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in paths.into_iter().flatten() {
        println!("cargo:rerun-if-changed={path}");
    }
}

/// Seconds since the epoch to a civil date (UTC), Howard Hinnant's algorithm.
fn epoch_to_date(secs: &str) -> Option<String> {
    let days = secs.trim().parse::<i64>().ok()?.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

//! Release artifacts: `scripts/package.sh` (a release build, cargo-deb, lintian) and
//! `scripts/install.sh`. The packaging tests are ignored by a plain `cargo test` because they
//! need a release build; `cargo test -- --include-ignored` (and `.ci/run`) runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run a command")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn host_triple() -> String {
    let out = run(Command::new("rustc").arg("-vV"));
    text(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// Runs scripts/package.sh once for the whole test binary and returns target/dist.
fn dist() -> &'static Path {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        let out = run(Command::new("bash")
            .arg(root().join("scripts/package.sh"))
            .current_dir(root()));
        assert!(
            out.status.success(),
            "package.sh failed:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let target_dir = std::env::var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join("target"));
        let dir = if target_dir.is_absolute() {
            target_dir
        } else {
            root().join(target_dir)
        };
        dir.join("dist")
    })
}

fn tarball_name() -> String {
    format!("hsm-{}-{}.tar.gz", version(), host_triple())
}

fn deb_name() -> String {
    let arch = text(&run(Command::new("dpkg").arg("--print-architecture")).stdout);
    format!("hsm_{}-1_{}.deb", version(), arch.trim())
}

/// A copy of the release directory that a test may tamper with.
fn release_copy() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dist()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
    }
    copy
}

fn install(from: &Path, prefix: &Path, path_var: &str) -> Output {
    run(Command::new("sh")
        .arg(root().join("scripts/install.sh"))
        .args(["--prefix".as_ref(), prefix.as_os_str()])
        .args(["--from".as_ref(), from.as_os_str()])
        .env("PATH", path_var))
}

#[test]
fn version_names_the_commit_and_its_date() {
    let out = TestEnv::new().run(&["--version"]);
    assert_exit(&out, 0);
    let line = text(&out.stdout);
    let expected_prefix = format!("hsm {} (", version());
    assert!(line.starts_with(&expected_prefix), "{line:?}");
    // Built from this checkout: the commit and date are git's own.
    let git = |args: &[&str]| {
        let out = run(Command::new("git").args(args).current_dir(root()));
        out.status
            .success()
            .then(|| text(&out.stdout).trim().to_string())
    };
    if let (Some(commit), Some(date)) = (
        git(&["rev-parse", "--short=9", "HEAD"]),
        git(&["log", "-1", "--format=%cs", "HEAD"]),
    ) {
        assert_eq!(line.trim(), format!("hsm {} ({commit} {date})", version()));
    }
    // -V stays short, so the man pages do not change with every commit.
    let short = TestEnv::new().run(&["-V"]);
    assert_eq!(text(&short.stdout).trim(), format!("hsm {}", version()));
}

#[test]
#[ignore = "a release build with cargo-deb and lintian: run with --include-ignored (.ci/run does)"]
fn package_writes_the_archive_the_deb_and_checksums_that_verify() {
    let dist = dist();
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert!(sums.contains(&tarball_name()), "{sums}");
    assert!(sums.contains(&deb_name()), "{sums}");
    let check = run(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dist));
    assert!(check.status.success(), "{}", text(&check.stdout));

    let listing = run(Command::new("tar")
        .arg("-tzf")
        .arg(dist.join(tarball_name())));
    let listing = text(&listing.stdout);
    let top = tarball_name().trim_end_matches(".tar.gz").to_string();
    for file in [
        "bin/hsm",
        "share/man/man1/hsm.1",
        "share/man/man1/hsm-login.1",
        "share/completions/hsm.bash",
        "share/completions/_hsm",
        "share/completions/hsm.fish",
        "share/completions/_hsm.ps1",
        "share/completions/hsm.elv",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
    ] {
        assert!(
            listing.contains(&format!("{top}/{file}")),
            "{file} missing:\n{listing}"
        );
    }
}

#[test]
#[ignore = "a release build with cargo-deb and lintian: run with --include-ignored (.ci/run does)"]
fn the_deb_passes_lintian_and_its_binary_and_completion_work() {
    let deb = dist().join(deb_name());
    let lintian = run(Command::new("lintian").arg(&deb));
    let report = text(&lintian.stdout) + &text(&lintian.stderr);
    assert!(
        !report.lines().any(|l| l.starts_with("E:")),
        "lintian errors:\n{report}"
    );

    let x = tempfile::tempdir().unwrap();
    let extract = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(x.path()));
    assert!(extract.status.success(), "{}", text(&extract.stderr));
    let hsm = x.path().join("usr/bin/hsm");
    let out = run(Command::new(&hsm).arg("--version"));
    assert!(
        text(&out.stdout).starts_with(&format!("hsm {} (", version())),
        "{}",
        text(&out.stdout)
    );
    for path in [
        "usr/share/man/man1/hsm.1.gz",
        "usr/share/man/man1/hsm-contacts-import.1.gz",
        "usr/share/bash-completion/completions/hsm",
        "usr/share/zsh/vendor-completions/_hsm",
        "usr/share/fish/vendor_completions.d/hsm.fish",
        "usr/share/doc/hsm/copyright",
    ] {
        assert!(
            x.path().join(path).is_file(),
            "{path} missing from the .deb"
        );
    }
    // The packaged bash completion completes hsm's subcommands.
    let script = format!(
        "source {}; COMP_WORDS=(hsm tok); COMP_CWORD=1; _hsm hsm tok hsm; echo \"${{COMPREPLY[@]}}\"",
        x.path()
            .join("usr/share/bash-completion/completions/hsm")
            .display()
    );
    let out = run(Command::new("bash").args(["-c", &script]));
    assert_eq!(text(&out.stdout).trim(), "token", "{}", text(&out.stderr));
}

#[test]
#[ignore = "a release build with cargo-deb and lintian: run with --include-ignored (.ci/run does)"]
fn install_sh_verifies_then_installs_under_the_prefix_and_names_the_path() {
    let release = release_copy();
    let prefix = tempfile::tempdir().unwrap();
    let out = install(release.path(), prefix.path(), "/usr/bin:/bin");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("installed hsm {} (", version())),
        "{stderr}"
    );
    let bin = prefix.path().join("bin");
    assert!(
        stderr.contains(&format!("export PATH=\"{}:$PATH\"", bin.display())),
        "{stderr}"
    );
    let hsm = bin.join("hsm");
    let out = run(Command::new(&hsm).args(["token", "--help"]));
    assert!(out.status.success());
    for path in [
        "share/man/man1/hsm.1",
        "share/bash-completion/completions/hsm",
        "share/zsh/site-functions/_hsm",
        "share/fish/vendor_completions.d/hsm.fish",
    ] {
        assert!(prefix.path().join(path).is_file(), "{path} missing");
    }

    // Already on PATH: no advice.
    let path_var = format!("{}:/usr/bin:/bin", bin.display());
    let again = install(release.path(), prefix.path(), &path_var);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        !text(&again.stderr).contains("not on your PATH"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
#[ignore = "a release build with cargo-deb and lintian: run with --include-ignored (.ci/run does)"]
fn install_sh_refuses_a_tampered_archive_and_installs_nothing() {
    let release = release_copy();
    let tarball = release.path().join(tarball_name());
    let mut bytes = std::fs::read(&tarball).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&tarball, bytes).unwrap();

    let prefix = tempfile::tempdir().unwrap();
    let out = install(release.path(), prefix.path(), "/usr/bin:/bin");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(stderr.contains("nothing installed"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(prefix.path()).unwrap().count(),
        0,
        "the prefix was touched"
    );
}

#[test]
#[ignore = "a release build with cargo-deb and lintian: run with --include-ignored (.ci/run does)"]
fn install_sh_refuses_a_release_without_checksums_or_without_this_target() {
    let release = release_copy();
    let prefix = tempfile::tempdir().unwrap();
    std::fs::write(release.path().join("SHA256SUMS"), "").unwrap();
    let out = install(release.path(), prefix.path(), "/usr/bin:/bin");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("lists no archive for"),
        "{}",
        text(&out.stderr)
    );

    std::fs::remove_file(release.path().join("SHA256SUMS")).unwrap();
    let out = install(release.path(), prefix.path(), "/usr/bin:/bin");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("SHA256SUMS is missing"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(prefix.path()).unwrap().count(), 0);
}

// ------------------------------------------------- install.sh on a hand-made release

const FAKE_TRIPLE: &str = "x86_64-test-linux-gnu";

/// A release directory holding `versions`, each an archive whose `bin/hsm` prints its
/// version, listed in SHA256SUMS (in the order given).
fn fake_release(versions: &[&str]) -> tempfile::TempDir {
    use sha2::Digest;
    let release = tempfile::tempdir().unwrap();
    let mut sums = String::new();
    for v in versions {
        let name = format!("hsm-{v}-{FAKE_TRIPLE}");
        let top = release.path().join(&name);
        let write = |rel: &str, text: &str| {
            let path = top.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        };
        write("bin/hsm", &format!("#!/bin/sh\necho 'hsm {v} (test)'\n"));
        write("share/man/man1/hsm.1", ".TH HSM 1\n");
        for c in ["hsm.bash", "_hsm", "hsm.fish", "_hsm.ps1", "hsm.elv"] {
            write(&format!("share/completions/{c}"), "# completions\n");
        }
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(top.join("bin/hsm"), mode).unwrap();
        let tarball = format!("{name}.tar.gz");
        let out = run(Command::new("tar")
            .args(["-czf", &tarball, &name])
            .current_dir(release.path()));
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::fs::remove_dir_all(&top).unwrap();
        let bytes = std::fs::read(release.path().join(&tarball)).unwrap();
        sums.push_str(&format!("{:x}  {tarball}\n", sha2::Sha256::digest(bytes)));
    }
    std::fs::write(release.path().join("SHA256SUMS"), sums).unwrap();
    release
}

fn install_fake(from: &str, prefix: &Path) -> Output {
    run(Command::new("sh")
        .arg(root().join("scripts/install.sh"))
        .args(["--prefix".as_ref(), prefix.as_os_str()])
        .args(["--from", from, "--target", FAKE_TRIPLE])
        .env_clear()
        .env("PATH", "/usr/bin:/bin"))
}

#[test]
fn install_sh_takes_the_newest_version_in_version_order() {
    let release = fake_release(&["0.9.0", "0.10.0", "0.10.0-rc.1", "0.2.0"]);
    let prefix = tempfile::tempdir().unwrap();
    let out = install_fake(release.path().to_str().unwrap(), prefix.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let installed = run(&mut Command::new(prefix.path().join("bin/hsm")));
    assert_eq!(text(&installed.stdout).trim(), "hsm 0.10.0 (test)");
}

/// A prefix whose share/ cannot be written to: a read-only tmpfs when this process may
/// mount one (root writes anywhere else), else a directory without write permission.
struct ReadOnlyShare(PathBuf, bool);

impl ReadOnlyShare {
    fn make(prefix: &Path) -> ReadOnlyShare {
        let share = prefix.join("share");
        std::fs::create_dir(&share).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs"])
            .arg(&share)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let mode = std::os::unix::fs::PermissionsExt::from_mode(0o555);
            std::fs::set_permissions(&share, mode).unwrap();
        }
        ReadOnlyShare(share, mounted)
    }
}

impl Drop for ReadOnlyShare {
    fn drop(&mut self) {
        if self.1 {
            let _ = Command::new("umount").arg(&self.0).status();
        } else {
            let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
            let _ = std::fs::set_permissions(&self.0, mode);
        }
    }
}

#[test]
fn install_sh_checks_every_target_is_writable_before_copying_anything() {
    let release = fake_release(&["0.3.0"]);
    let prefix = tempfile::tempdir().unwrap();
    let share = ReadOnlyShare::make(prefix.path());
    let out = install_fake(release.path().to_str().unwrap(), prefix.path());
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot write to"), "{stderr}");
    assert!(stderr.contains("nothing installed"), "{stderr}");
    assert!(
        !prefix.path().join("bin").exists(),
        "bin/hsm was installed before share/ failed"
    );
    drop(share);
}

/// Serves the files of `dir` over plain HTTP on loopback.
fn serve_dir(dir: PathBuf) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let name = request.split_whitespace().nth(1).unwrap_or("/");
            let mut stream = stream;
            match std::fs::read(dir.join(name.trim_start_matches('/'))) {
                Ok(body) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&body);
                }
                Err(_) => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    url
}

#[test]
fn install_sh_from_plain_http_warns_that_the_checksums_prove_nothing() {
    let release = fake_release(&["0.4.0"]);
    let url = serve_dir(release.path().to_path_buf());
    let prefix = tempfile::tempdir().unwrap();
    let out = install_fake(&url, prefix.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: --from http://") && stderr.contains("use https"),
        "{stderr}"
    );
    assert!(prefix.path().join("bin/hsm").is_file());
}

//! A real full disk for tests: a tiny private tmpfs, unmounted when dropped. Mounting needs
//! root (CI runs as root); elsewhere the tests that need one say so and skip.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct SmallDisk {
    pub dir: PathBuf,
}

impl SmallDisk {
    /// A tmpfs of `size` (`4k`, `64k`) at `dir`, mode 0700 (hsm refuses world-writable
    /// directories for files that can hold personal data). None when this process may not mount.
    pub fn mount(dir: PathBuf, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk { dir })
    }

    /// Says, in one line, that a test was skipped for want of root; in CI that is a failure.
    pub fn skipped() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to mount a tmpfs"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: needs root to mount a tmpfs");
        }
    }

    /// Writes a file until the disk is full; returns its path.
    pub fn fill(&self) -> PathBuf {
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![b'x'; 1024];
        while file.write_all(&chunk).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let umount = |extra: &[&str]| {
            Command::new("umount")
                .args(extra)
                .arg(&self.dir)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !umount(&[]) {
            umount(&["--lazy"]);
        }
    }
}

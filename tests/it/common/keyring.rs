//! A private, real Secret Service for one test: its own D-Bus session bus and gnome-keyring
//! daemon, in a temporary HOME, so no test ever touches the user's keychain. Built only where
//! hsm's keychain is the Secret Service (the `cfg` on `mod keyring` in common/mod.rs); it also
//! relies on Unix process groups and signals.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

pub struct PrivateKeyring {
    child: Child,
    pub bus: String,
    _dir: TempDir,
}

const SCRIPT: &str = r#"
if [ "$UNLOCK" = 1 ]; then
  printf %s test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
fi
eval "$(gnome-keyring-daemon --start --components=secrets 2>/dev/null)"
echo "$DBUS_SESSION_BUS_ADDRESS"
exec sleep 600
"#;

impl PrivateKeyring {
    /// An unlocked keyring with a default collection (as on a logged-in desktop); None when
    /// the tools are missing (the test is skipped, see `tools`).
    pub fn unlocked() -> Option<PrivateKeyring> {
        super::tools::present(super::tools::KEYRING).then(|| Self::start(true))
    }

    /// A keyring daemon with no unlocked default collection (locked, as after boot).
    pub fn locked() -> Option<PrivateKeyring> {
        super::tools::present(super::tools::KEYRING).then(|| Self::start(false))
    }

    fn start(unlock: bool) -> PrivateKeyring {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        // A cleared environment: the daemon keeps its keyrings under XDG_DATA_HOME, which
        // must be this test's own, never the operator's or another test's.
        let mut cmd = Command::new("dbus-run-session");
        super::clean_env(&mut cmd, dir.path());
        let mut child = cmd
            .args(["--", "sh", "-c", SCRIPT])
            .env("XDG_RUNTIME_DIR", &run)
            .env("UNLOCK", if unlock { "1" } else { "0" })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start dbus-run-session");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let bus = line.trim().to_string();
        assert!(
            bus.starts_with("unix:"),
            "no bus address from the keyring session: {bus:?}"
        );
        PrivateKeyring {
            child,
            bus,
            _dir: dir,
        }
    }

    /// `secret-tool lookup service hsm username ACCOUNT` on this keyring (keyring-rs stores the
    /// account as the `username` attribute).
    pub fn lookup(&self, account: &str) -> Option<String> {
        let out = super::clean_env(&mut Command::new("secret-tool"), self._dir.path())
            .args(["lookup", "service", "hsm", "username", account])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && !text.is_empty()).then_some(text)
    }
}

impl Drop for PrivateKeyring {
    fn drop(&mut self) {
        // The whole process group: dbus-run-session, the bus daemon, the keyring daemon.
        // SAFETY: plain syscall; a negative pid names the process group we created.
        // (Never shell out to `kill -KILL -PID`: some kill(1) builds read that as pid -1.)
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

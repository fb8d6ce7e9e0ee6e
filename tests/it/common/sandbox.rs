//! A fresh sandbox for a test, stopped when the handle drops. `Sandbox::start` runs it
//! in-process (the same configuration `hsm sandbox` would build from those flags, on a thread
//! of its own); `Sandbox::spawn` runs the `hsm sandbox` command itself, for the tests of the
//! command (its stdout line, its stderr, Ctrl-C). Either is reached, by its URL, through
//! `hsm_test_support::SandboxClient` (the client, the admin calls), which the sandbox's own
//! tests share.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::ops::Deref;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use clap::Parser;

pub use hsm_test_support::{SandboxClient, health_ok};

pub const CLIENT_ID: &str = "hsm-sandbox";
pub const CLIENT_SECRET: &str = "hsm-sandbox-secret";
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);

/// A sandbox for a test, stopped when the handle drops. To the tests it is the sandbox they
/// reach (its `base_url`, `url`, `client` and admin calls: `SandboxClient`).
pub struct Sandbox {
    reached: SandboxClient,
    server: Server,
}

impl Deref for Sandbox {
    type Target = SandboxClient;

    fn deref(&self) -> &SandboxClient {
        &self.reached
    }
}

enum Server {
    InProcess(hsm_sandbox::Running),
    Process {
        child: Child,
        stderr: Arc<Mutex<String>>,
        /// The thread copying stderr; it ends at the process's exit.
        drain: Option<thread::JoinHandle<()>>,
        /// Its HOME (and XDG dirs): a cleared environment of its own.
        _home: tempfile::TempDir,
    },
}

/// The sandbox configuration `hsm sandbox --port 0 EXTRA_ARGS` builds.
pub fn config(extra_args: &[&str]) -> hsm_sandbox::Config {
    let argv = ["hsm", "sandbox", "--port", "0"].iter().chain(extra_args);
    let cli = hsm::cli::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
    let printer = hsm::Printer::new(cli.global.quiet, cli.global.verbose);
    match cli.command {
        hsm::cli::Command::Sandbox(args) => hsm::sandbox_config(args, printer),
        _ => unreachable!("parsed as `hsm sandbox`"),
    }
}

impl Sandbox {
    /// A sandbox in this process, configured as `hsm sandbox --port 0 EXTRA_ARGS` would be.
    pub fn start(extra_args: &[&str]) -> Sandbox {
        Sandbox::in_process(config(extra_args))
    }

    /// A sandbox in this process with this configuration.
    pub fn in_process(config: hsm_sandbox::Config) -> Sandbox {
        let running = hsm_sandbox::start(config).expect("start the sandbox in-process");
        Sandbox {
            reached: SandboxClient::new(running.url()),
            server: Server::InProcess(running),
        }
    }

    /// Runs `hsm sandbox --port 0 EXTRA_ARGS` and waits for its URL line.
    pub fn spawn(extra_args: &[&str]) -> Sandbox {
        let home = tempfile::tempdir().expect("a HOME for the sandbox");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hsm"));
        super::clean_env(&mut cmd, home.path());
        let mut child = cmd
            .args(["sandbox", "--port", "0"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hsm sandbox");
        let stderr = Arc::new(Mutex::new(String::new()));
        let drain = drain_into(child.stderr.take().expect("piped stderr"), stderr.clone());
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep reading so the sandbox never blocks on a full pipe.
            for _ in lines {}
        });
        let base_url = match rx.recv_timeout(STARTUP_DEADLINE) {
            Ok(line) => line.trim().to_owned(),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let err = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                panic!("hsm sandbox printed no URL within {STARTUP_DEADLINE:?}; stderr:\n{err}");
            }
        };
        assert!(
            base_url.starts_with("http://127.0.0.1:"),
            "unexpected URL line {base_url:?}"
        );
        Sandbox {
            reached: SandboxClient::new(base_url),
            server: Server::Process {
                child,
                stderr,
                drain: Some(drain),
                _home: home,
            },
        }
    }

    /// The `hsm sandbox` process (`Sandbox::spawn` only).
    fn child(&mut self) -> &mut Child {
        match &mut self.server {
            Server::Process { child, .. } => child,
            Server::InProcess(_) => panic!("an in-process sandbox has no process; use spawn"),
        }
    }

    pub fn pid(&mut self) -> u32 {
        self.child().id()
    }

    /// Everything the sandbox logged so far: the command's stderr, or what the in-process
    /// sandbox would have written there.
    pub fn stderr(&self) -> String {
        match &self.server {
            Server::InProcess(running) => running.log(),
            Server::Process { stderr, .. } => stderr.lock().map(|s| s.clone()).unwrap_or_default(),
        }
    }

    /// Ctrl-C to the `hsm sandbox` process; its exit code and its whole stderr once it exited.
    #[cfg(unix)]
    pub fn interrupt(&mut self) -> (Option<i32>, String) {
        let pid = self.pid() as i32;
        // SAFETY: a plain syscall on our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        let code = self.wait_exit(Duration::from_secs(10));
        (code, self.stderr_at_exit())
    }

    /// The process's whole stderr, once it has exited (the copy is complete at its end).
    pub fn stderr_at_exit(&mut self) -> String {
        if let Server::Process { drain, .. } = &mut self.server
            && let Some(drain) = drain.take()
        {
            let _ = drain.join();
        }
        self.stderr()
    }

    /// Waits for the `hsm sandbox` process to exit (after a signal) and returns its exit code.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let start = std::time::Instant::now();
        while start.elapsed() < deadline {
            if let Ok(Some(status)) = self.child().try_wait() {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

fn drain_into(
    mut pipe: impl Read + Send + 'static,
    sink: Arc<Mutex<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut s) = sink.lock() {
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    })
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // An in-process sandbox stops when its `Running` drops.
        if let Server::Process { child, .. } = &mut self.server {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

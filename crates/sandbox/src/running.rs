//! The sandbox in-process, for tests: its own thread and runtime, stopped when the handle drops.

use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::log::Log;
use crate::{Config, Server};

/// A sandbox serving on its own thread. Dropping it stops the server and closes every
/// connection.
pub struct Running {
    url: String,
    log: Log,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a sandbox on `127.0.0.1:config.port` (0 for a free port) on a thread of its own,
/// with a log kept in memory ([`Running::log`]) instead of stderr. Returns once it listens.
pub fn start(config: Config) -> std::io::Result<Running> {
    let log = Log::in_memory(config.quiet, config.verbose);
    // One thread, as `hsm sandbox` runs it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let server = runtime.block_on(Server::bind_logging_to(config, log.clone()))?;
    let url = server.url().to_owned();
    server.announce();
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("hsm-sandbox".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    () = server.serve() => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every connection task with it.
        })?;
    Ok(Running {
        url,
        log,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl Running {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What `hsm sandbox` would have written to stderr so far, one line each.
    pub fn log(&self) -> String {
        self.log.lines()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

//! Ctrl-C, caught from the moment a command says it is listening: `tokio::signal::ctrl_c()`
//! only installs its handler when first polled, so a Ctrl-C just after a prompt appeared
//! would kill the process without its clean-up.

pub struct Interrupt {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    /// Install the handler now.
    pub fn install() -> Interrupt {
        #[cfg(unix)]
        {
            let signal =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
            Interrupt { signal }
        }
        #[cfg(not(unix))]
        {
            Interrupt {}
        }
    }

    /// Resolves on the next Ctrl-C.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        match self.signal.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

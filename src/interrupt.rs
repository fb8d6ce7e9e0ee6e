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

/// Holds SIGINT, SIGTERM and SIGHUP from the moment a refresh token is spent until the rotated
/// pair is stored: dying in between loses the session (the server rotated, the old token is
/// dead, and the next refresh would be a reuse that revokes the whole login). A signal that
/// arrives meanwhile is remembered; when the guard is dropped the previous handlers come back,
/// and the signal takes effect: exit 128+N if it would have killed the process, otherwise it
/// is raised again for the handler that was installed (an import's Ctrl-C handling).
pub struct Deferred {
    #[cfg(unix)]
    saved: Vec<(libc::c_int, libc::sigaction)>,
    /// Whether the rotated pair was stored: what the exit line says.
    #[cfg_attr(not(unix), allow(dead_code))]
    stored: bool,
}

#[cfg(unix)]
static CAUGHT: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

#[cfg(unix)]
extern "C" fn remember(signal: libc::c_int) {
    // Async-signal-safe: one atomic store.
    CAUGHT.store(signal, std::sync::atomic::Ordering::SeqCst);
}

#[cfg(unix)]
const DEFERRED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

impl Deferred {
    pub fn begin() -> Deferred {
        #[cfg(unix)]
        {
            CAUGHT.store(0, std::sync::atomic::Ordering::SeqCst);
            let mut saved = Vec::new();
            for signal in DEFERRED {
                // SAFETY: sigaction with a zeroed, then filled, struct; the handler only does
                // an atomic store. The old action is kept and restored on drop.
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = remember as extern "C" fn(libc::c_int) as usize;
                    libc::sigemptyset(&mut action.sa_mask);
                    action.sa_flags = libc::SA_RESTART;
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(signal, &action, &mut old) == 0 {
                        saved.push((signal, old));
                    }
                }
            }
            Deferred {
                saved,
                stored: false,
            }
        }
        #[cfg(not(unix))]
        {
            Deferred { stored: false }
        }
    }

    /// The rotated pair is stored (else a deferred signal's exit line does not claim it).
    pub fn stored(&mut self) {
        self.stored = true;
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let caught = CAUGHT.swap(0, std::sync::atomic::Ordering::SeqCst);
            let mut disposition = None;
            for (signal, old) in self.saved.drain(..) {
                // SAFETY: puts back the action saved by `begin`.
                unsafe {
                    libc::sigaction(signal, &old, std::ptr::null_mut());
                }
                if signal == caught {
                    disposition = Some(old.sa_sigaction);
                }
            }
            match disposition {
                None => {}
                Some(libc::SIG_IGN) => {}
                Some(libc::SIG_DFL) => {
                    use std::io::Write as _;
                    let why = if self.stored {
                        "hsm: stopped by a signal, after storing the refreshed session"
                    } else {
                        "hsm: stopped by a signal, during a token refresh that did not complete"
                    };
                    let _ = writeln!(std::io::stderr(), "{why}");
                    std::process::exit(128 + caught);
                }
                // SAFETY: re-raised for the handler installed again (tokio's, say).
                Some(_) => unsafe {
                    libc::raise(caught);
                },
            }
        }
    }
}

//! The sandbox's own log: status lines and one line per request (prefixed `* `), both silenced
//! by `quiet`, written to stderr, or kept in memory when a test runs the sandbox in-process.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub(crate) struct Log {
    quiet: bool,
    verbose: bool,
    /// None: stderr. Some: the lines, for `Running::log`.
    kept: Option<Arc<Mutex<Vec<String>>>>,
}

impl Log {
    pub(crate) fn stderr(quiet: bool, verbose: bool) -> Log {
        Log {
            quiet,
            verbose,
            kept: None,
        }
    }

    pub(crate) fn in_memory(quiet: bool, verbose: bool) -> Log {
        Log {
            quiet,
            verbose,
            kept: Some(Arc::default()),
        }
    }

    /// A status line, unless quiet.
    pub(crate) fn status(&self, line: &str) {
        if !self.quiet {
            self.write(line);
        }
    }

    /// Whether request lines carry more detail.
    pub(crate) fn verbose(&self) -> bool {
        self.verbose
    }

    /// One handled request, unless quiet. Callers keep secrets and personal data out of it.
    pub(crate) fn request(&self, line: &str) {
        if !self.quiet {
            self.write(&format!("* {line}"));
        }
    }

    /// Everything logged so far, one line each (empty when the log goes to stderr).
    pub(crate) fn lines(&self) -> String {
        let Some(kept) = &self.kept else {
            return String::new();
        };
        let lines = kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        lines.iter().map(|line| format!("{line}\n")).collect()
    }

    fn write(&self, line: &str) {
        match &self.kept {
            Some(kept) => kept
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(line.to_owned()),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    }
}

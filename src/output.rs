//! The only place that writes to stdout and stderr. stdout carries results, stderr everything
//! else; a closed stdout (`hsm ... | head`) is not an error.

#![allow(clippy::print_stderr)]

use std::io::{self, Write};

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub quiet: bool,
    pub verbose: bool,
}

impl Printer {
    /// A result line on stdout. Broken pipes are swallowed: the reader has what it wanted.
    pub fn result(&self, line: &str) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    }

    /// Bytes on stdout as they are (`hsm api`'s answer body). Broken pipes are swallowed.
    pub fn result_bytes(&self, bytes: &[u8]) {
        let mut out = io::stdout().lock();
        let _ = out.write_all(bytes).and_then(|_| out.flush());
    }

    /// A status message on stderr, silenced by `-q`.
    pub fn status(&self, line: &str) {
        if !self.quiet {
            let _ = writeln!(io::stderr().lock(), "{line}");
        }
    }

    /// Something the user must see to go on (the login URL), even with `-q`.
    pub fn prompt(&self, line: &str) {
        let _ = writeln!(io::stderr().lock(), "{line}");
    }

    /// A warning on stderr; shown even with `-q`, since it may change what the user does next.
    pub fn warn(&self, line: &str) {
        let _ = writeln!(io::stderr().lock(), "warning: {line}");
    }

    /// Detail shown only with `-v`. Callers must pass redacted text.
    pub fn trace(&self, line: &str) {
        if self.verbose {
            let _ = writeln!(io::stderr().lock(), "* {line}");
        }
    }

    pub fn error(&self, err: &crate::error::CliError) {
        let mut e = io::stderr().lock();
        let _ = writeln!(e, "error: {}", err.message);
        if let Some(hint) = &err.hint {
            let _ = writeln!(e, "hint: {hint}");
        }
    }
}

//! The only place that writes to stdout and stderr. stdout carries results, stderr everything
//! else; a closed stdout (`hsm ... | head`) is not an error.

#![allow(clippy::print_stderr)]

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};

use serde::Serialize;

/// Text made safe for a terminal: control characters (escape sequences, carriage returns, a
/// newline that would forge a second line) are shown escaped, as `\u{1b}`. Untrusted text (a
/// callback's `error_description`, an API message, a stored value) reaches stderr only so.
/// `keep_newlines` keeps line breaks in multi-line messages hsm writes itself.
pub fn terminal_safe(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && !(keep_newlines && (c == '\n' || c == '\t'));
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What hsm may show and ask, decided once from the flags and the terminals (as uv's printer
/// does): call sites ask the printer, never the terminal. hsm writes no colour (clap is built
/// without it, the progress line is plain), so `NO_COLOR` holds with nothing to decide.
#[derive(Debug, Clone, Copy, Default)]
pub struct Printer {
    pub quiet: bool,
    pub verbose: bool,
    /// stderr is a terminal: a progress line can redraw itself there.
    stderr_terminal: bool,
    /// stdin is a terminal: a person is there to answer a question or paste a URL.
    stdin_terminal: bool,
}

impl Printer {
    /// The printer for `-q` and `-v`, with the terminals as they are. The only place hsm asks
    /// whether a stream is a terminal.
    pub fn new(quiet: bool, verbose: bool) -> Printer {
        Printer {
            quiet,
            verbose,
            stderr_terminal: io::stderr().is_terminal(),
            stdin_terminal: io::stdin().is_terminal(),
        }
    }

    /// Whether to draw a progress line on stderr: at a terminal, and not with `-q` (a
    /// redrawn line in a log or a pipe is noise).
    pub fn progress(&self) -> bool {
        !self.quiet && self.stderr_terminal
    }

    /// Whether hsm may ask a person (the client secret, a yes/no, a pasted redirect URL) and
    /// wait for an answer: only with a terminal on stdin. Scripts, cron and CI are never asked.
    pub fn can_prompt(&self) -> bool {
        self.stdin_terminal
    }

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
            let _ = writeln!(io::stderr().lock(), "{}", terminal_safe(line, true));
        }
    }

    /// Something the user must see to go on (the login URL), even with `-q`.
    pub fn prompt(&self, line: &str) {
        let _ = writeln!(io::stderr().lock(), "{}", terminal_safe(line, true));
    }

    /// A warning on stderr; shown even with `-q`, since it may change what the user does next.
    pub fn warn(&self, line: &str) {
        let _ = writeln!(
            io::stderr().lock(),
            "warning: {}",
            terminal_safe(line, false)
        );
    }

    /// Detail shown only with `-v`. Callers must pass redacted text.
    pub fn trace(&self, line: &str) {
        if self.verbose {
            let _ = writeln!(io::stderr().lock(), "* {}", terminal_safe(line, false));
        }
    }

    /// A typed result as one JSON document on stdout (`--json`).
    pub fn json<T: Serialize>(&self, value: &T) {
        self.result(&serde_json::to_string_pretty(value).unwrap_or_default());
    }

    /// A typed result as one JSON line on stdout (`--json` of the bulk commands, JSON Lines).
    pub fn json_line<T: Serialize>(&self, value: &T) {
        self.result(&serde_json::to_string(value).unwrap_or_default());
    }

    /// The error as one JSON object on one line, for a command run with `--json` (SPEC):
    /// `{"error": {"message", "hint", "exit"}}`, the hint null when there is none. Under `-v`
    /// also `"causes"`: the underlying errors, outermost first (an empty array when none).
    pub fn error_json(&self, err: &crate::error::CliError) {
        let report = ErrorReport {
            error: ErrorBody {
                message: &err.message,
                hint: err.hint.as_deref(),
                exit: err.exit.code(),
                causes: self.verbose.then_some(err.causes.as_slice()),
            },
        };
        let line = serde_json::to_string(&report).unwrap_or_default();
        let _ = writeln!(io::stderr().lock(), "{line}");
    }

    /// `error: ` and the one line scripts read; under `-v` a `caused by: ` line for each
    /// underlying error (jj's order: the chain, then the hint); the hint last.
    pub fn error(&self, err: &crate::error::CliError) {
        let mut e = io::stderr().lock();
        let _ = writeln!(e, "error: {}", terminal_safe(&err.message, false));
        if self.verbose {
            for cause in &err.causes {
                let _ = writeln!(e, "caused by: {}", terminal_safe(cause, false));
            }
        }
        if let Some(hint) = &err.hint {
            let _ = writeln!(e, "hint: {}", terminal_safe(hint, true));
        }
    }
}

/// A `--json` command's error on stderr (its schema: `docs/json/error.schema.json`).
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
pub(crate) struct ErrorReport<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
struct ErrorBody<'a> {
    /// The one-line message, as `error:` would show it.
    message: &'a str,
    /// What to do about it, or null.
    hint: Option<&'a str>,
    /// The exit code (see the README's table).
    exit: u8,
    /// Under `-v` only: the errors under this one, outermost first (`caused by:` lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    causes: Option<&'a [String]>,
}

#[cfg(test)]
mod tests {
    use super::{Printer, terminal_safe};

    #[test]
    fn progress_needs_a_terminal_and_no_quiet_and_prompts_need_stdin() {
        let at = |quiet, stderr_terminal, stdin_terminal| Printer {
            quiet,
            verbose: false,
            stderr_terminal,
            stdin_terminal,
        };
        assert!(at(false, true, false).progress());
        assert!(!at(true, true, true).progress());
        assert!(!at(false, false, true).progress());
        assert!(at(true, false, true).can_prompt());
        assert!(!at(false, true, false).can_prompt());
        assert!(!Printer::default().progress() && !Printer::default().can_prompt());
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(terminal_safe("plain text", false), "plain text");
        assert_eq!(
            terminal_safe("a\u{1b}[2Jb\r\nerror: forged", false),
            "a\\u{1b}[2Jb\\r\\nerror: forged"
        );
        assert_eq!(terminal_safe("one\ntwo\u{9b}", true), "one\ntwo\\u{9b}");
    }
}

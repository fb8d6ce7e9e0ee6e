//! One error type for the whole CLI: each failure carries the exit code SPEC assigns to it,
//! one line of message, and an optional hint with the next step.

use std::fmt;

/// Exit codes from SPEC.md. Scripts depend on these numbers: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Bug = 1,
    Usage = 2,
    ApiRefused = 3,
    AuthRequired = 4,
    Network = 5,
    Store = 6,
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub fn bug(message: impl Into<String>) -> Self {
        Self::new(Exit::Bug, message)
    }

    pub fn network(message: impl Into<String>) -> Self {
        Self::new(Exit::Network, message)
    }

    pub fn store(message: impl Into<String>) -> Self {
        Self::new(Exit::Store, message)
    }

    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(Exit::AuthRequired, message)
    }

    pub fn api(message: impl Into<String>) -> Self {
        Self::new(Exit::ApiRefused, message)
    }

    pub fn interrupted() -> Self {
        Self::new(Exit::Interrupted, "interrupted")
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

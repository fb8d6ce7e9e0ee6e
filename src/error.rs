//! One error type for the whole CLI: each failure carries the exit code SPEC assigns to it,
//! one line of message, an optional hint with the next step, and the chain of underlying
//! errors that led to it (shown only under `-v`, as `caused by:` lines; jj's `CommandError`
//! is the model).

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
    /// The underlying errors, outermost first, each one line of text. Kept apart from the
    /// message so that the one line scripts read stays as it is; only `-v` shows them. Text,
    /// not the errors themselves: it is taken once, where the error is known to hold no
    /// secret and no contact data (see [`causes_of`]), and it crosses threads and `ApiError`.
    pub causes: Vec<String>,
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
            hint: None,
            causes: Vec::new(),
        }
    }

    /// Keep `e` and its sources as the causes of this error. Only for errors whose text holds
    /// no secret and no contact field value (io, sqlite, TLS, keychain errors); a reqwest error
    /// goes through `http::reqwest_causes`, which leaves its URL out.
    pub fn with_cause(mut self, e: &(dyn std::error::Error + 'static)) -> Self {
        self.causes.extend(causes_of(e));
        self
    }

    /// Causes already taken as text (from [`causes_of`] or an error that was turned into a
    /// string on the way here).
    pub fn with_causes(mut self, causes: impl IntoIterator<Item = String>) -> Self {
        self.causes.extend(causes);
        self
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

/// `e` and its sources, outermost first, one line each; a line equal to the one before it
/// (libraries often repeat their source in their own text) is left out.
pub fn causes_of(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut causes: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && causes.last() != Some(&text) {
            causes.push(text);
        }
        next = e.source();
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot open the thing")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_cause_chain_is_kept_apart_from_the_message() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = CliError::store("cannot read x").with_cause(&Outer(io));
        assert_eq!(err.message, "cannot read x");
        assert_eq!(err.causes, ["cannot open the thing", "no such file"]);
        assert_eq!(err.to_string(), "cannot read x");
    }
}

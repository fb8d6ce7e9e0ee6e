//! API failures and how they map to exit codes and one-line messages.

use serde_json::Value;

use crate::error::{CliError, Exit};

/// What went wrong with a call, in the terms a caller (and the import journal) acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Usage,
    /// 401 after a refresh, or no session at all.
    Auth,
    /// A 4xx the API gave a reason for (400, 403, 404, 422, ...).
    Refused,
    /// 5xx or 429 after retries, or the server could not be reached (nothing was sent).
    Network,
    /// The request was sent but no usable answer came back: it may have taken effect.
    Unknown,
    /// The credential store failed during a refresh.
    Store,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub failure: Failure,
    pub status: Option<u16>,
    pub message: String,
    /// Field-level errors of a validation answer, `field: message`.
    pub fields: Vec<String>,
    pub hint: Option<String>,
    /// The underlying errors, for `-v` (see `CliError::causes`).
    pub causes: Vec<String>,
}

impl ApiError {
    pub fn new(failure: Failure, message: impl Into<String>) -> ApiError {
        ApiError {
            failure,
            status: None,
            message: message.into(),
            fields: Vec::new(),
            hint: None,
            causes: Vec::new(),
        }
    }

    /// Keep `causes` (the errors under this one) for `-v`.
    pub fn caused_by(mut self, causes: Vec<String>) -> ApiError {
        self.causes.extend(causes);
        self
    }

    pub fn from_cli(e: CliError) -> ApiError {
        let failure = match e.exit {
            Exit::AuthRequired => Failure::Auth,
            Exit::Store => Failure::Store,
            Exit::Usage => Failure::Usage,
            _ => Failure::Network,
        };
        ApiError {
            failure,
            status: None,
            message: e.message,
            fields: Vec::new(),
            hint: e.hint,
            causes: e.causes,
        }
    }

    /// Build from a non-success answer, quoting the API's own message.
    pub fn from_status(
        status: u16,
        body: Option<&Value>,
        raw: &[u8],
        retry_after: Option<std::time::Duration>,
    ) -> ApiError {
        let (code, api_message) = body.map(error_parts).unwrap_or((None, None));
        let fields = body.map(field_errors).unwrap_or_default();
        let reason = match (&api_message, &code) {
            (Some(m), _) => m.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) if !raw.is_empty() && body.is_none() => {
                "an unexpected non-JSON answer".to_string()
            }
            (None, None) => "no details given".to_string(),
        };
        let (failure, message, hint) = match status {
            401 => (Failure::Auth, format!("the API rejected the credentials (HTTP 401: {reason})"), Some("run `hsm login` again".to_string())),
            403 => (Failure::Refused, format!("the API refused access (HTTP 403: {reason})"), Some("the session lacks the partner_api_v2 scope; log in again with --scope partner_api_v2".to_string())),
            404 => (Failure::Refused, format!("not found (HTTP 404: {reason})"), None),
            429 => (
                Failure::Network,
                format!("rate limited by the API (HTTP 429: {reason})"),
                Some(match retry_after {
                    Some(d) => format!("the API asked to wait {} s before retrying", d.as_secs()),
                    None => "wait a little and retry".to_string(),
                }),
            ),
            s if s >= 500 => (Failure::Network, format!("the API failed (HTTP {s}: {reason})"), Some("retry later; nothing was changed by hsm".to_string())),
            s => (Failure::Refused, format!("the API refused the request (HTTP {s}: {reason})"), None),
        };
        ApiError {
            failure,
            status: Some(status),
            message,
            fields,
            hint,
            causes: Vec::new(),
        }
    }

    pub fn exit(&self) -> Exit {
        match self.failure {
            Failure::Usage => Exit::Usage,
            Failure::Auth => Exit::AuthRequired,
            Failure::Refused => Exit::ApiRefused,
            Failure::Network | Failure::Unknown => Exit::Network,
            Failure::Store => Exit::Store,
        }
    }

    pub fn into_cli(self) -> CliError {
        let exit = self.exit();
        let mut message = self.message;
        // Field by field, on the one error line scripts read; unless the API's message already
        // lists them.
        let unlisted: Vec<&String> = self
            .fields
            .iter()
            .filter(|f| !message.contains(f.as_str()))
            .collect();
        if !unlisted.is_empty() {
            let joined: Vec<&str> = unlisted.iter().map(|f| f.as_str()).collect();
            message = format!("{message} [{}]", joined.join("; "));
        }
        CliError {
            exit,
            message,
            hint: self.hint,
            causes: self.causes,
        }
    }
}

/// `{"error": {"code", "message"}}` (the API envelope) or `{"error", "error_description"}`
/// (the OAuth layer).
fn error_parts(body: &Value) -> (Option<String>, Option<String>) {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    match body.get("error") {
        Some(Value::Object(e)) => (s(e.get("code")), s(e.get("message"))),
        Some(Value::String(code)) => (Some(code.clone()), s(body.get("error_description"))),
        _ => (None, s(body.get("message"))),
    }
}

fn field_errors(body: &Value) -> Vec<String> {
    body.get("error")
        .and_then(|e| e.get("errors"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some(format!(
                        "{}: {}",
                        i.get("field")?.as_str()?,
                        i.get("message")?.as_str()?
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_answers_keep_each_field() {
        let body = json!({"error": {"code": "validation_error", "message": "zip must be 5 digits",
            "errors": [{"field": "zip", "message": "must be 5 digits"}]}});
        let e = ApiError::from_status(400, Some(&body), b"x", None);
        assert_eq!(e.exit(), Exit::ApiRefused);
        assert_eq!(e.fields, vec!["zip: must be 5 digits"]);
        assert!(e.message.contains("zip must be 5 digits"));
        let line = e.into_cli().message;
        assert!(
            !line.contains('\n') && line.ends_with("[zip: must be 5 digits]"),
            "{line}"
        );
    }

    #[test]
    fn status_classes_map_to_exit_codes() {
        assert_eq!(
            ApiError::from_status(401, None, b"", None).exit(),
            Exit::AuthRequired
        );
        assert_eq!(
            ApiError::from_status(
                403,
                Some(&json!({"error": "insufficient_scope"})),
                b"x",
                None
            )
            .exit(),
            Exit::ApiRefused
        );
        assert_eq!(
            ApiError::from_status(404, None, b"", None).exit(),
            Exit::ApiRefused
        );
        assert_eq!(
            ApiError::from_status(503, None, b"<html>", None).exit(),
            Exit::Network
        );
        assert_eq!(
            ApiError::from_status(429, None, b"", None).exit(),
            Exit::Network
        );
    }
}

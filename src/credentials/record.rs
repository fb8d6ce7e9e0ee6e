//! The credential record kept per (environment, profile): one small JSON document.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Tokens and what they belong to. Expiry is an absolute Unix time taken from the local clock
/// when the token arrived, so a skewed server clock cannot confuse it.
/// Its serde form is what the stores hold: keep it byte-compatible (a `Secret` is a plain
/// JSON string).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    pub access_token: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    #[serde(default = "bearer")]
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Unix seconds; None when the server gave no `expires_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    pub token_url: String,
    pub client_id: String,
    /// Unix seconds of the last write, for `token show`.
    #[serde(default)]
    pub updated_at: u64,
    /// Set when the access token is kept in a second entry (records too large for one
    /// Windows credential): the SHA-256 of that token, to detect a torn pair of writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_sha256: Option<String>,
}

fn bearer() -> String {
    "Bearer".to_string()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Record {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Record, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Seconds until the access token expires (negative once expired); None if unknown.
    pub fn expires_in(&self, now: u64) -> Option<i64> {
        let signed = |t: u64| i64::try_from(t).unwrap_or(i64::MAX);
        self.expires_at
            .map(|at| signed(at).saturating_sub(signed(now)))
    }

    /// True when the access token is expired or expires within `margin` seconds.
    pub fn needs_refresh(&self, now: u64, margin: u64) -> bool {
        matches!(self.expires_in(now), Some(left) if left <= margin as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            access_token: Secret::new("at-secret-123456"),
            refresh_token: Some(Secret::new("rt-secret-abcdef")),
            token_type: "Bearer".into(),
            scope: Some("partner_api_v2".into()),
            expires_at: Some(1_000),
            token_url: "http://127.0.0.1/t".into(),
            client_id: "c".into(),
            updated_at: 1,
            access_token_sha256: None,
        }
    }

    #[test]
    fn round_trips_through_json() {
        let r = record();
        assert_eq!(Record::from_json(&r.to_json()).unwrap(), r);
    }

    #[test]
    fn a_record_stored_before_secrets_were_typed_loads_and_is_written_back_byte_for_byte() {
        let stored = r#"{"access_token":"at-1","refresh_token":"rt-1","token_type":"Bearer","scope":"partner_api_v2","expires_at":1000,"token_url":"http://127.0.0.1/t","client_id":"c","updated_at":1}"#;
        let r = Record::from_json(stored).unwrap();
        assert_eq!(r.access_token.expose(), "at-1");
        assert_eq!(r.refresh_token.as_ref().map(Secret::expose), Some("rt-1"));
        assert_eq!(r.to_json(), stored);
    }

    #[test]
    fn debug_never_shows_tokens() {
        let text = format!("{:?}", record());
        assert!(
            !text.contains("at-secret-123456") && !text.contains("rt-secret-abcdef"),
            "{text}"
        );
    }

    #[test]
    fn refresh_margin() {
        let r = record();
        assert!(!r.needs_refresh(900, 60));
        assert!(r.needs_refresh(940, 60));
        assert!(r.needs_refresh(2_000, 60));
    }

    proptest::proptest! {
        /// A stored record of any text parses or is refused; any expiry and clock give an
        /// answer, never an overflow.
        #[test]
        fn any_stored_text_and_any_expiry(
            text in proptest::prelude::any::<String>(),
            at in proptest::prelude::any::<u64>(),
            now in proptest::prelude::any::<u64>(),
            margin in proptest::prelude::any::<u64>(),
        ) {
            let _ = Record::from_json(&text);
            let json = format!(
                r#"{{"access_token":"a","refresh_token":"r","token_type":"Bearer","expires_at":{at},"token_url":"https://x.test/t","client_id":"c","updated_at":{now}}}"#
            );
            if let Ok(record) = Record::from_json(&json) {
                let _ = record.expires_in(now);
                let _ = record.needs_refresh(now, margin);
            }
        }
    }
}

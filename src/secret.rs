//! Secrets (tokens, refresh tokens, the client secret, authorization codes) as a type of their
//! own: `Debug` and `Display` print a fingerprint, and the value is reached only through
//! `expose()`, so a secret cannot slip into a trace, an error or a panic message by accident.
//!
//! Our own small type rather than `secrecy::SecretString`: the stored record must keep its
//! serde form byte for byte (a plain JSON string), which `secrecy` only allows through a
//! marker trait on an owned wrapper type, and we want one fingerprint scheme shared by
//! `Debug`, `-v` traces and oauth2's own secret types. Zeroing on drop is left out: the same
//! bytes also pass through reqwest's and oauth2's buffers, which we cannot zero.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself: for the wire, the store and `hsm token print`, nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `[redacted sha256:1a2b3c4d]`: enough to tell two secrets apart in a trace.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    /// The whole SHA-256 in hex: names a token to the sandbox (`hsm status`) without sending
    /// it.
    pub fn sha256_hex(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.0.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `****` and the last four characters (none of a short one), as `hsm token show` prints
    /// tokens: the tail lets a person match it with a token they hold.
    pub fn masked(&self) -> String {
        let n = self.0.chars().count();
        if n <= 12 {
            return "****".to_string();
        }
        let tail: String = self.0.chars().skip(n - 4).collect();
        format!("****{tail}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

/// The one fingerprint scheme, also for the secrets oauth2 keeps in its own redacting types
/// (the PKCE verifier and `state`): the first four bytes of the SHA-256, in hex.
pub fn fingerprint(secret: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("[redacted sha256:{hex}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("sbx_at_secret_one");
        for shown in [format!("{s:?}"), format!("{s}"), format!("{:?}", Some(&s))] {
            assert!(!shown.contains("secret_one"), "{shown}");
            assert!(shown.contains("[redacted sha256:"), "{shown}");
        }
        assert_eq!(s.expose(), "sbx_at_secret_one");
    }

    #[test]
    fn fingerprints_hide_the_secret_but_tell_secrets_apart() {
        let a = fingerprint("sbx_at_secret_one");
        assert!(!a.contains("secret_one"));
        assert_ne!(a, fingerprint("sbx_at_secret_two"));
        assert_eq!(a, Secret::new("sbx_at_secret_one").fingerprint());
    }

    #[test]
    fn masks_keep_only_the_tail() {
        assert_eq!(Secret::new("sbx_at_abcdefghijkl").masked(), "****ijkl");
        assert_eq!(Secret::new("short").masked(), "****");
    }

    #[test]
    fn serialises_as_a_plain_string() {
        let s = Secret::new("a\"b");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#""a\"b""#);
        assert_eq!(serde_json::from_str::<Secret>(&json).unwrap(), s);
    }
}

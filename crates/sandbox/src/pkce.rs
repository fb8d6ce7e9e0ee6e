//! PKCE (RFC 7636) as the sandbox checks it: the shape of a verifier or challenge, and the
//! S256 match. Its own module, used by the authorize endpoint (`oauth`) and by the code
//! exchange (`state`), so neither depends on the other for it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// RFC 7636 §4.1: 43 to 128 unreserved characters. A S256 challenge has the same alphabet.
pub(crate) fn is_pkce_string(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// RFC 7636 §4.6 with S256, the only method the sandbox accepts:
/// `BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge`.
pub(crate) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    is_pkce_string(verifier)
        && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn pkce_s256_matches_the_rfc_example() {
        assert!(pkce_matches(VERIFIER, CHALLENGE));
        assert!(!pkce_matches(&VERIFIER.replace('d', "e"), CHALLENGE));
        assert!(!pkce_matches("short", CHALLENGE));
    }
}

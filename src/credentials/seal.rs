//! Sealing records before they leave the machine for a shared store: XChaCha20-Poly1305
//! keyed by `HSM_STORE_KEY` (32 random bytes, base64), a random 24-byte nonce per write, and
//! the record's name bound in as associated data, so a sealed value cannot be moved to
//! another name (another environment, profile or client) and still open.
//!
//! A sealed value is text: `hsm1:` and the base64 of nonce ‖ ciphertext ‖ tag.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::common::Generate;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use crate::env_vars as ev;
use crate::error::{CliError, Result};
use crate::secret::Secret;

const PREFIX: &str = "hsm1:";
const NONCE_LEN: usize = 24;
/// 32 random bytes hold about 30 different values; fewer than this many is a key someone
/// typed or patterned (all zeros, a repeated word), not one drawn at random. A random key
/// falls below it with a probability under 1e-10.
const MIN_DISTINCT_BYTES: usize = 16;
/// How to make a key, shown whenever one is missing or malformed.
pub const KEY_HINT: &str = "make one with `head -c32 /dev/urandom | base64` and give every machine that shares the session the same HSM_STORE_KEY (keep it in your CI's secret store)";

/// The key that seals records. Its bytes never appear in `Debug`.
pub struct SealKey(Key);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey([redacted])")
    }
}

impl SealKey {
    /// Parse `HSM_STORE_KEY`: missing or not 32 bytes of base64 is exit 6 with the hint.
    pub fn from_variable(value: Option<&Secret>) -> Result<SealKey> {
        let Some(value) = value else {
            return Err(CliError::store(format!(
                "{} is not set: the etcd store needs a key to seal records",
                ev::HSM_STORE_KEY
            ))
            .with_hint(KEY_HINT));
        };
        let bytes = STANDARD
            .decode(value.expose().trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                CliError::store(format!(
                    "{} must be 32 random bytes in base64 (44 characters)",
                    ev::HSM_STORE_KEY
                ))
                .with_hint(KEY_HINT)
            })?;
        if distinct_bytes(&bytes) < MIN_DISTINCT_BYTES {
            return Err(CliError::store(format!(
                "{} is not random (its 32 bytes repeat a few values, e.g. all zeros): anyone could guess it",
                ev::HSM_STORE_KEY
            ))
            .with_hint(KEY_HINT));
        }
        let key = Key::try_from(bytes.as_slice())
            .map_err(|_| CliError::bug("a 32-byte key did not fit the cipher"))?;
        Ok(SealKey(key))
    }

    /// Seal `plaintext` for the record called `name`. Fails only when the OS has no
    /// randomness to give.
    pub fn seal(&self, name: &str, plaintext: &str) -> Result<String> {
        let cipher = XChaCha20Poly1305::new(&self.0);
        let nonce = XNonce::try_generate()
            .map_err(|e| CliError::store(format!("cannot draw a random nonce: {e}")))?;
        let aad = aad(name);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: aad.as_bytes(),
        };
        // Encryption fails only for messages beyond 256 GiB.
        let sealed = cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// Open a value sealed for `name`. A wrong key, a value moved from another name, or one
    /// changed in any way all fail the same: "cannot decrypt".
    pub fn open(&self, name: &str, sealed: &str) -> Result<String> {
        let cannot = || {
            CliError::store(format!(
                "cannot decrypt the shared record `{name}`: {} is not the key it was sealed with, or the value was changed",
                ev::HSM_STORE_KEY
            ))
            .with_hint("use the key the other machines use; the record was left untouched")
        };
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(cannot)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let aad = aad(name);
        let payload = Payload {
            msg: ciphertext,
            aad: aad.as_bytes(),
        };
        let plain = XChaCha20Poly1305::new(&self.0)
            .decrypt(&XNonce::try_from(nonce).map_err(|_| cannot())?, payload)
            .map_err(|_| cannot())?;
        String::from_utf8(plain).map_err(|_| cannot())
    }
}

fn distinct_bytes(bytes: &[u8]) -> usize {
    let mut seen = [false; 256];
    for &b in bytes {
        seen[usize::from(b)] = true;
    }
    seen.iter().filter(|&&s| s).count()
}

/// The associated data: the format and the record's name.
fn aad(name: &str) -> String {
    format!("{PREFIX}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key that looks random, different for each `seed`.
    fn key(seed: u8) -> SealKey {
        use sha2::Digest;
        let text = STANDARD.encode(sha2::Sha256::digest([seed]));
        SealKey::from_variable(Some(&Secret::new(text))).unwrap()
    }

    #[test]
    fn a_key_that_is_not_random_is_refused() {
        let mut repeated = [0u8; 32];
        for (i, b) in repeated.iter_mut().enumerate() {
            *b = b"hunter2!"[i % 8];
        }
        for bad in [[0u8; 32], [7u8; 32], repeated] {
            let err = SealKey::from_variable(Some(&Secret::new(STANDARD.encode(bad)))).unwrap_err();
            assert_eq!(err.exit, crate::error::Exit::Store);
            assert!(err.message.contains("is not random"), "{}", err.message);
            assert!(err.hint.unwrap().contains("/dev/urandom"));
        }
    }

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let k = key(7);
        let sealed = k
            .seal("sandbox/default", r#"{"access_token":"at-123"}"#)
            .unwrap();
        assert!(sealed.starts_with("hsm1:"));
        assert!(!sealed.contains("at-123"));
        assert_ne!(
            sealed,
            k.seal("sandbox/default", r#"{"access_token":"at-123"}"#)
                .unwrap()
        );
        assert_eq!(
            k.open("sandbox/default", &sealed).unwrap(),
            r#"{"access_token":"at-123"}"#
        );
    }

    #[test]
    fn a_wrong_key_a_moved_record_and_tampering_all_fail() {
        let k = key(7);
        let sealed = k.seal("sandbox/default", "secret").unwrap();
        let err = key(8).open("sandbox/default", &sealed).unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Store);
        assert!(err.message.contains("cannot decrypt"), "{}", err.message);
        assert!(k.open("sandbox/other", &sealed).is_err(), "name is bound");
        let mut bytes = STANDARD.decode(&sealed[5..]).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let tampered = format!("hsm1:{}", STANDARD.encode(&bytes));
            assert!(k.open("sandbox/default", &tampered).is_err(), "byte {i}");
            bytes[i] ^= 1;
        }
        assert!(k.open("sandbox/default", "plain text").is_err());
        assert!(k.open("sandbox/default", "hsm1:AAAA").is_err());
    }

    #[test]
    fn missing_or_malformed_keys_give_the_hint() {
        let err = SealKey::from_variable(None).unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Store);
        assert!(
            err.hint
                .unwrap()
                .contains("head -c32 /dev/urandom | base64")
        );
        for bad in ["short", "!!!!", &STANDARD.encode([1u8; 16])] {
            let err = SealKey::from_variable(Some(&Secret::new(bad))).unwrap_err();
            assert!(err.message.contains("32 random bytes"), "{bad}");
        }
        assert!(!format!("{:?}", key(9)).contains("9"));
    }
}

//! The random tokens behind sessions and one-time links: 32 random bytes, shown as
//! base64url (43 characters), stored only as a SHA-256 hash, so a copy of the database
//! signs no one in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const LEN: usize = 32;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; LEN]);

impl Secret {
    /// Fresh randomness from the operating system's generator (via `rand`).
    pub fn generate() -> Secret {
        Secret(rand::random())
    }

    /// For tests and callers that bring their own randomness.
    pub fn from_bytes(bytes: [u8; LEN]) -> Secret {
        Secret(bytes)
    }

    /// Parses what a client presented; `None` for anything that is not exactly a token.
    pub fn parse(presented: &str) -> Option<Secret> {
        if presented.len() != 43 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(presented).ok()?;
        Some(Secret(bytes.try_into().ok()?))
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// What the database keeps.
    pub fn stored_hash(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }

    /// A value derived for one purpose (e.g. the CSRF token of a session): knowing it,
    /// or the stored hash, does not give the secret.
    pub fn derive(&self, purpose: &str) -> String {
        let mut h = Sha256::new();
        h.update(purpose.as_bytes());
        h.update([0]);
        h.update(self.0);
        URL_SAFE_NO_PAD.encode(h.finalize())
    }
}

// Never print a secret by accident.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Compares two strings in time that depends on their length only.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_shapes() {
        let s = Secret::from_bytes([7; 32]);
        let text = s.encode();
        assert_eq!(text.len(), 43);
        assert_eq!(Secret::parse(&text), Some(s.clone()));
        assert!(Secret::parse(&text[1..]).is_none());
        assert!(Secret::parse(&format!("{}=", &text[..42])).is_none());
        assert!(Secret::parse("").is_none());
        assert_ne!(s.stored_hash(), Secret::from_bytes([8; 32]).stored_hash());
        assert_ne!(s.derive("csrf"), s.derive("other"));
        assert_ne!(Secret::generate(), Secret::generate());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}

//! Password hashing: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane). Hashing
//! is slow on purpose, so it runs on the blocking pool, a few at a time (each holds 19 MiB;
//! a burst of sign-ins must not take the machine's memory).

use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::AccountsError;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 1024;

pub(crate) const CONCURRENT_HASHES: usize = 2;

fn hasher() -> Argon2<'static> {
    // 19 MiB = 19456 KiB; the parameters are constant and valid.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Refuses passwords too short to resist guessing or so long that hashing them is a cost
/// to the server.
pub fn check_new(password: &str) -> Result<(), AccountsError> {
    let n = password.chars().count();
    if n < MIN_CHARS {
        return Err(AccountsError::Invalid(format!(
            "the password is too short: at least {MIN_CHARS} characters"
        )));
    }
    if n > MAX_CHARS {
        return Err(AccountsError::Invalid(format!(
            "the password is too long: at most {MAX_CHARS} characters"
        )));
    }
    Ok(())
}

/// The start of every hash made with today's algorithm and parameters.
const CURRENT_PREFIX: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

/// A hash made with other parameters (older, weaker) is replaced at the next sign-in, the
/// one moment the password is known.
pub fn needs_rehash(stored: &str) -> bool {
    !stored.starts_with(CURRENT_PREFIX)
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`); `salt` comes from the caller.
pub fn hash_blocking(password: &str, salt: &[u8; 16]) -> Result<String, AccountsError> {
    hasher()
        .hash_password_with_salt(password.as_bytes(), salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountsError::Hashing(e.to_string()))
}

/// True when `password` matches `stored`. `stored = None` (no such account, or one with no
/// password) checks against a hash of a random password, so the answer takes as long as a
/// real check and says nothing about who has an account.
pub fn verify_blocking(password: &str, stored: Option<&str>) -> bool {
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy_hash(), false),
    };
    let ok = hasher().verify_password(password.as_bytes(), hash).is_ok();
    ok && real
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let password = super::secret::Secret::generate().encode();
        hash_blocking(&password, &rand::random()).expect("argon2 hashes a short password")
    })
}

fn permits() -> &'static Semaphore {
    static PERMITS: Semaphore = Semaphore::const_new(CONCURRENT_HASHES);
    &PERMITS
}

/// One of the few hashing slots. Sign-in holds it from the throttle check to recording the
/// outcome, so a burst of parallel guesses cannot all pass the check before the first
/// failure is counted.
pub struct HashingTurn(#[allow(dead_code)] SemaphorePermit<'static>);

pub async fn turn() -> Result<HashingTurn, AccountsError> {
    permits()
        .acquire()
        .await
        .map(HashingTurn)
        .map_err(|_| AccountsError::Hashing("the hashing pool is closed".into()))
}

async fn off_executor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccountsError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| AccountsError::Hashing("the hashing task was cancelled".into()))
}

pub async fn hash(password: String) -> Result<String, AccountsError> {
    let salt: [u8; 16] = rand::random();
    let _turn = turn().await?;
    off_executor(move || hash_blocking(&password, &salt)).await?
}

/// Hashes in the caller's turn (a second turn could deadlock against other sign-ins).
pub async fn hash_in_turn(_turn: &HashingTurn, password: String) -> Result<String, AccountsError> {
    let salt: [u8; 16] = rand::random();
    off_executor(move || hash_blocking(&password, &salt)).await?
}

/// Verifies in the caller's turn (see `HashingTurn`).
pub async fn verify(
    _turn: &HashingTurn,
    password: String,
    stored: Option<String>,
) -> Result<bool, AccountsError> {
    off_executor(move || verify_blocking(&password, stored.as_deref())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let h = hash_blocking("correct horse battery", &[1; 16]).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!needs_rehash(&h));
        assert!(needs_rehash("$argon2id$v=19$m=8192,t=1,p=1$c2FsdA$aGFzaA"));
        assert!(verify_blocking("correct horse battery", Some(&h)));
        assert!(!verify_blocking("correct horse batterx", Some(&h)));
        // A different salt, a different hash.
        assert_ne!(h, hash_blocking("correct horse battery", &[2; 16]).unwrap());
        assert!(!verify_blocking("anything at all", Some("not a hash")));
    }

    #[test]
    fn unknown_accounts_never_verify() {
        assert!(!verify_blocking("correct horse battery", None));
    }

    #[test]
    fn length_rules() {
        assert!(check_new("short").is_err());
        assert!(check_new(&"x".repeat(11)).is_err());
        assert!(check_new(&"x".repeat(12)).is_ok());
        // Characters, not bytes.
        assert!(check_new(&"é".repeat(12)).is_ok());
        assert!(check_new(&"x".repeat(1024)).is_ok());
        assert!(check_new(&"x".repeat(1025)).is_err());
    }
}

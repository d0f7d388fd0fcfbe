//! The sign-up form's proof of work, after ALTCHA's scheme (v1): the server picks a salt
//! (with its expiry in it) and a secret number, and sends the SHA-256 of salt + number and
//! an HMAC of that digest; the browser finds the number by trying them in turn (about
//! `MAX_NUMBER / 2` digests, a second or two), and the server checks the answer without
//! keeping anything per challenge. A solved challenge is spent once (`spend`, in the write
//! transaction of the sign-up), so one solution cannot be replayed.
//!
//! Written here rather than taken from a crate: the Rust ALTCHA libraries bring a date
//! library and keep no record of spent challenges, and the scheme is a few lines over
//! `sha2` and ring's HMAC, which the server already has. Nothing goes to a third party.

use std::sync::OnceLock;

use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

use super::AccountsError;

/// The secret number is below this: the browser tries half of it on average.
pub const MAX_NUMBER: u64 = 50_000;

/// A challenge is good for this long after it was issued.
pub const TTL_SECS: i64 = 20 * 60;

/// What the page carries: the browser finds `number` with SHA-256(salt + number) = challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub salt: String,
    /// Hex SHA-256 of `salt` followed by the number in decimal.
    pub challenge: String,
    pub max_number: u64,
    /// Hex HMAC-SHA256 of `challenge` under the server's key.
    pub signature: String,
}

/// A browser's answer, as the form posts it.
#[derive(Debug, Clone, Default)]
pub struct Solution {
    pub salt: String,
    pub challenge: String,
    pub signature: String,
    pub number: String,
}

/// Why an answer is refused (the page says the same for all: "try again").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No answer, or one that is not ours (wrong signature, bad salt).
    Missing,
    /// The number does not give the digest.
    Wrong,
    Expired,
    /// Used already.
    Replayed,
}

/// The server's key for challenge signatures: made at start, never stored. A restart only
/// makes the open sign-up pages ask for a reload.
fn key() -> &'static ring::hmac::Key {
    static KEY: OnceLock<ring::hmac::Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let bytes: [u8; 32] = rand::random();
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes)
    })
}

fn digest(salt: &str, number: u64) -> String {
    hex::encode(Sha256::digest(format!("{salt}{number}").as_bytes()))
}

fn sign(challenge: &str) -> String {
    hex::encode(ring::hmac::sign(key(), challenge.as_bytes()).as_ref())
}

/// A fresh challenge, good until `now + TTL_SECS`.
pub fn issue(now: i64) -> Challenge {
    let random: [u8; 12] = rand::random();
    // The expiry sits in the salt (ALTCHA's `?expires=`), so it is covered by the digest and
    // the signature; the `?` ends the random part, so no number can be moved into the salt.
    let salt = format!("{}?expires={}&", hex::encode(random), now + TTL_SECS);
    let number = rand::random::<u64>() % MAX_NUMBER;
    let challenge = digest(&salt, number);
    let signature = sign(&challenge);
    Challenge {
        salt,
        challenge,
        max_number: MAX_NUMBER,
        signature,
    }
}

/// Checks an answer without spending it: the signature is ours, the salt has not expired,
/// and the number gives the digest.
pub fn check(solution: &Solution, now: i64) -> Result<(), Refusal> {
    let signature = hex::decode(&solution.signature).map_err(|_| Refusal::Missing)?;
    // Constant-time comparison inside ring.
    if solution.challenge.len() != 64
        || ring::hmac::verify(key(), solution.challenge.as_bytes(), &signature).is_err()
    {
        return Err(Refusal::Missing);
    }
    let expires = solution
        .salt
        .split_once("?expires=")
        .and_then(|(_, rest)| rest.trim_end_matches('&').parse::<i64>().ok())
        .ok_or(Refusal::Missing)?;
    if expires <= now {
        return Err(Refusal::Expired);
    }
    let number: u64 = solution.number.trim().parse().map_err(|_| Refusal::Wrong)?;
    if number > MAX_NUMBER || digest(&solution.salt, number) != solution.challenge {
        return Err(Refusal::Wrong);
    }
    Ok(())
}

/// Checks and spends an answer inside the caller's write transaction: a second use of the
/// same challenge is `Replayed`. Spent challenges past their expiry are dropped here.
pub fn spend(conn: &Connection, solution: &Solution, now: i64) -> Result<(), SpendError> {
    check(solution, now).map_err(SpendError::Refused)?;
    conn.execute(
        "DELETE FROM signup_challenges_spent WHERE expires_at <= ?1",
        [now],
    )
    .map_err(AccountsError::from)?;
    let added = conn
        .execute(
            "INSERT OR IGNORE INTO signup_challenges_spent (signature, expires_at) VALUES (?1, ?2)",
            // Spent by its challenge, which the signature covers byte for byte: the
            // signature's hex has many spellings (upper and lower case) for one answer.
            params![solution.challenge, now + TTL_SECS],
        )
        .map_err(AccountsError::from)?;
    if added == 0 {
        return Err(SpendError::Refused(Refusal::Replayed));
    }
    Ok(())
}

#[derive(Debug)]
pub enum SpendError {
    Refused(Refusal),
    Db(AccountsError),
}

impl From<AccountsError> for SpendError {
    fn from(e: AccountsError) -> Self {
        SpendError::Db(e)
    }
}

/// Finds the number by trying each in turn, as the browser does (tests, and a reference
/// for `web-ui/static/signup.js`).
pub fn solve(challenge: &Challenge) -> Option<u64> {
    (0..=challenge.max_number).find(|n| digest(&challenge.salt, *n) == challenge.challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solved(c: &Challenge) -> Solution {
        Solution {
            salt: c.salt.clone(),
            challenge: c.challenge.clone(),
            signature: c.signature.clone(),
            number: solve(c).unwrap().to_string(),
        }
    }

    #[test]
    fn a_solved_challenge_passes_once_and_a_wrong_one_never() {
        let (_d, db) = crate::accounts::test_db();
        let c = issue(100);
        let good = solved(&c);
        assert_eq!(check(&good, 101), Ok(()));
        let wrong = Solution {
            number: ((good.number.parse::<u64>().unwrap() + 1) % MAX_NUMBER).to_string(),
            ..good.clone()
        };
        assert_eq!(check(&wrong, 101), Err(Refusal::Wrong));
        assert_eq!(check(&good, 100 + TTL_SECS), Err(Refusal::Expired));
        // A digest of our own making, signed by nobody.
        let forged = Solution {
            challenge: digest(&c.salt, 7),
            number: "7".into(),
            ..good.clone()
        };
        assert_eq!(check(&forged, 101), Err(Refusal::Missing));
        // A later expiry typed into the salt breaks the digest.
        let stretched = Solution {
            salt: c.salt.replace("?expires=", "?expires=9"),
            ..good.clone()
        };
        assert!(check(&stretched, 101).is_err());
        assert_eq!(check(&Solution::default(), 101), Err(Refusal::Missing));
        let first = db.write_blocking(|tx| Ok::<_, AccountsError>(spend(tx, &good, 101).is_ok()));
        assert!(first.unwrap());
        let again = db.write_blocking(|tx| {
            Ok::<_, AccountsError>(matches!(
                spend(tx, &good, 102),
                Err(SpendError::Refused(Refusal::Replayed))
            ))
        });
        assert!(again.unwrap());
        // The same answer with its signature spelled in capitals is the same answer.
        let shouted = Solution {
            signature: good.signature.to_uppercase(),
            ..good.clone()
        };
        assert_eq!(check(&shouted, 102), Ok(()));
        let replayed = db.write_blocking(|tx| {
            Ok::<_, AccountsError>(matches!(
                spend(tx, &shouted, 102),
                Err(SpendError::Refused(Refusal::Replayed))
            ))
        });
        assert!(
            replayed.unwrap(),
            "a re-spelled signature spends the answer again"
        );
    }
}

//! Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): every
//! successful sign-in gives the browser a random token that names the account (stored here
//! only as its SHA-256, in `trusted_devices`, so a copy of the database proves no device).
//! A sign-in attempt or link request that carries a token of the account it names is the
//! account's own browser: it is judged by that device's own failures and mail budget
//! (`throttle::sign_in_gate`, `throttle::take_mail_budget`), never by what strangers did to
//! the email. Tokens outlive sign-out (they are not sessions) and end with every session of
//! the account (`sessions::end_all`: password reset, disable, sign out everywhere).
//!
//! One browser may hold tokens for a few accounts (a shared family computer): the cookie
//! carries up to `MAX_PER_COOKIE` of them, newest first.

use rusqlite::{Connection, OptionalExtension, params};

use super::AccountsError;
use super::secret::Secret;
use super::users::UserId;

/// How long a device stays known without signing in again (also the cookie's lifetime).
pub const DEVICE_TTL_SECS: i64 = 365 * 24 * 3600;
/// Tokens one cookie carries at most.
pub const MAX_PER_COOKIE: usize = 4;
/// Devices one account keeps at most (the newest): a client that signs in again and again
/// without sending its cookie back adds a row each time, and this bounds them.
pub const MAX_PER_ACCOUNT: i64 = 50;
const SEPARATOR: char = '.';

/// The tokens in a device cookie's value; anything that is not a token is ignored.
pub fn parse_cookie(value: &str) -> Vec<Secret> {
    value
        .split(SEPARATOR)
        .filter_map(Secret::parse)
        .take(MAX_PER_COOKIE)
        .collect()
}

/// A device cookie's value for these tokens.
pub fn cookie_value(tokens: &[Secret]) -> String {
    tokens
        .iter()
        .take(MAX_PER_COOKIE)
        .map(Secret::encode)
        .collect::<Vec<_>>()
        .join(&SEPARATOR.to_string())
}

/// The stored hash of the presented token that is a live device of the account with this
/// email (comparison key), if any: the key its throttle and mail budget are counted under.
pub fn trusted_for(
    conn: &Connection,
    email_key: &str,
    presented: &[Secret],
    now: i64,
) -> Result<Option<String>, AccountsError> {
    for token in presented {
        let hash = token.stored_hash();
        let found: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM trusted_devices d JOIN users u ON u.id = d.user_id
             WHERE d.token_hash = ?1 AND u.email_key = ?2 AND d.created_at > ?3)",
            params![hash, email_key, now - DEVICE_TTL_SECS],
            |r| r.get(0),
        )?;
        if found {
            return Ok(Some(hash));
        }
    }
    Ok(None)
}

/// A signed-in browser becomes a device of `user`: a fresh token for it, followed by the
/// presented tokens that are still live for other accounts (the cookie's new contents).
/// The browser's earlier tokens for this account are dropped.
pub fn remember(
    conn: &Connection,
    user: UserId,
    presented: &[Secret],
    now: i64,
) -> Result<Vec<Secret>, AccountsError> {
    conn.execute(
        "DELETE FROM trusted_devices WHERE created_at <= ?1",
        [now - DEVICE_TTL_SECS],
    )?;
    let mut kept = Vec::new();
    for token in presented {
        let owner: Option<i64> = conn
            .query_row(
                "SELECT user_id FROM trusted_devices WHERE token_hash = ?1",
                [token.stored_hash()],
                |r| r.get(0),
            )
            .optional()?;
        match owner {
            Some(id) if id == user.0 => {
                conn.execute(
                    "DELETE FROM trusted_devices WHERE token_hash = ?1",
                    [token.stored_hash()],
                )?;
            }
            Some(_) => kept.push(token.clone()),
            None => {}
        }
    }
    let fresh = Secret::generate();
    conn.execute(
        "INSERT INTO trusted_devices (token_hash, user_id, created_at) VALUES (?1, ?2, ?3)",
        params![fresh.stored_hash(), user.0, now],
    )?;
    conn.execute(
        "DELETE FROM trusted_devices WHERE user_id = ?1 AND token_hash NOT IN
             (SELECT token_hash FROM trusted_devices WHERE user_id = ?1
              ORDER BY created_at DESC, rowid DESC LIMIT ?2)",
        params![user.0, MAX_PER_ACCOUNT],
    )?;
    let mut tokens = vec![fresh];
    tokens.extend(kept.into_iter().take(MAX_PER_COOKIE - 1));
    Ok(tokens)
}

/// Forgets every device of `user` (with all its sessions: `sessions::end_all`).
pub fn forget_all(conn: &Connection, user: UserId) -> Result<usize, AccountsError> {
    Ok(conn.execute("DELETE FROM trusted_devices WHERE user_id = ?1", [user.0])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::email::Email;
    use crate::accounts::roles::Role;
    use crate::accounts::users::{self, NewUser};

    fn user(conn: &Connection, email: &str) -> UserId {
        let email = Email::parse(email).unwrap();
        users::create(
            conn,
            &NewUser {
                email: &email,
                display_name: "X",
                role: Role::Viewer,
                password_hash: None,
            },
            0,
        )
        .unwrap()
    }

    #[test]
    fn a_token_is_trusted_for_its_own_account_only_until_forgotten() {
        let (_d, db) = crate::accounts::test_db();
        db.write_blocking(|tx| {
            let ann = user(tx, "ann@example.com");
            let bob = user(tx, "bob@example.com");
            let for_ann = remember(tx, ann, &[], 10)?;
            assert_eq!(for_ann.len(), 1);
            assert!(trusted_for(tx, "ann@example.com", &for_ann, 10)?.is_some());
            assert!(trusted_for(tx, "bob@example.com", &for_ann, 10)?.is_none());
            // Bob signs in on the same browser: the cookie carries both.
            let both = remember(tx, bob, &for_ann, 11)?;
            assert_eq!(both.len(), 2);
            let parsed = parse_cookie(&cookie_value(&both));
            assert_eq!(parsed, both);
            assert!(trusted_for(tx, "ann@example.com", &parsed, 11)?.is_some());
            assert!(trusted_for(tx, "bob@example.com", &parsed, 11)?.is_some());
            // Too old, or forgotten: no longer trusted.
            assert!(trusted_for(tx, "ann@example.com", &parsed, 10 + DEVICE_TTL_SECS)?.is_none());
            forget_all(tx, bob)?;
            assert!(trusted_for(tx, "bob@example.com", &parsed, 12)?.is_none());
            assert!(trusted_for(tx, "ann@example.com", &parsed, 12)?.is_some());
            Ok::<_, AccountsError>(())
        })
        .unwrap();
        assert!(parse_cookie("junk.more-junk").is_empty());
    }

    #[test]
    fn an_account_keeps_only_its_newest_devices() {
        let (_d, db) = crate::accounts::test_db();
        db.write_blocking(|tx| {
            let ann = user(tx, "ann@example.com");
            // Signing in again and again without sending the cookie back.
            let first = remember(tx, ann, &[], 1)?;
            let mut last = first.clone();
            for at in 2..=(MAX_PER_ACCOUNT + 10) {
                last = remember(tx, ann, &[], at)?;
            }
            let rows: i64 = tx.query_row(
                "SELECT count(*) FROM trusted_devices WHERE user_id = ?1",
                [ann.0],
                |r| r.get(0),
            )?;
            assert_eq!(rows, MAX_PER_ACCOUNT);
            assert!(trusted_for(tx, "ann@example.com", &first, 100)?.is_none());
            assert!(trusted_for(tx, "ann@example.com", &last, 100)?.is_some());
            Ok::<_, AccountsError>(())
        })
        .unwrap();
    }
}

//! Checkouts started by a visitor with no account (`guest_checkouts`, migration 025): the
//! browser that started each one, kept as the SHA-256 of its checkout cookie, and once paid
//! the account its purchase went to. Fulfilment writes the account once (`fulfilled`):
//! whichever of the return and the webhook comes first decides it, the other reads it.

use rusqlite::{Connection, OptionalExtension, params};

use super::PaymentsError;

/// A guest checkout as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestCheckout {
    /// The account its purchase went to; `None` before it was paid, or after that account
    /// was deleted (`fulfilled_at` then still says it was done).
    pub user_id: Option<i64>,
    /// The account was made by this checkout (its email had none).
    pub account_made: bool,
    /// The email had had its free trial: the subscription was cancelled at Stripe.
    pub trial_refused: bool,
    pub fulfilled_at: Option<i64>,
    pub signed_in_at: Option<i64>,
}

/// Records the Checkout Session a browser was sent to (the same session again, after a
/// double click, changes nothing).
pub fn started(
    tx: &Connection,
    session_id: &str,
    browser_hash: &str,
    now: i64,
) -> Result<(), PaymentsError> {
    tx.execute(
        "INSERT OR IGNORE INTO guest_checkouts (session_id, browser_hash, created_at)
         VALUES (?1, ?2, ?3)",
        params![session_id, browser_hash, now],
    )?;
    Ok(())
}

pub fn get(c: &Connection, session_id: &str) -> Result<Option<GuestCheckout>, PaymentsError> {
    Ok(c.query_row(
        "SELECT user_id, account_made, trial_refused, fulfilled_at, signed_in_at
         FROM guest_checkouts WHERE session_id = ?1",
        [session_id],
        |r| {
            Ok(GuestCheckout {
                user_id: r.get(0)?,
                account_made: r.get(1)?,
                trial_refused: r.get(2)?,
                fulfilled_at: r.get(3)?,
                signed_in_at: r.get(4)?,
            })
        },
    )
    .optional()?)
}

/// The account a paid guest checkout went to (`None` before it was fulfilled).
pub fn buyer(c: &Connection, session_id: &str) -> Result<Option<i64>, PaymentsError> {
    Ok(get(c, session_id)?.and_then(|g| g.user_id))
}

/// Records what fulfilment decided. A session with no row (its start was not recorded
/// here) gets one that no browser can sign in with.
pub fn fulfilled(
    tx: &Connection,
    session_id: &str,
    user_id: i64,
    account_made: bool,
    trial_refused: bool,
    now: i64,
) -> Result<(), PaymentsError> {
    tx.execute(
        "INSERT INTO guest_checkouts (session_id, browser_hash, created_at, user_id,
                                      account_made, trial_refused, fulfilled_at)
         VALUES (?1, NULL, ?5, ?2, ?3, ?4, ?5)
         ON CONFLICT (session_id) DO UPDATE SET
             user_id = excluded.user_id, account_made = excluded.account_made,
             trial_refused = excluded.trial_refused, fulfilled_at = excluded.fulfilled_at
         WHERE guest_checkouts.fulfilled_at IS NULL",
        params![session_id, user_id, account_made, trial_refused, now],
    )?;
    Ok(())
}

/// Whether this browser (its checkout cookie's hash) started the session.
pub fn started_by(
    c: &Connection,
    session_id: &str,
    browser_hash: &str,
) -> Result<bool, PaymentsError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM guest_checkouts
                        WHERE session_id = ?1 AND browser_hash = ?2)",
        params![session_id, browser_hash],
        |r| r.get(0),
    )?)
}

/// How long after the payment the buyer's browser may take its sign-in: the way back from
/// Checkout takes seconds; later, the address's owner may have claimed the account.
pub const SIGN_IN_WINDOW_SECS: i64 = 30 * 60;

/// The one sign-in a guest checkout gives: only to the browser that started it, only for
/// an account this checkout made, only once, only within `SIGN_IN_WINDOW_SECS` of the
/// payment, and never once the account has a password or a confirmed address (its owner
/// has claimed it through the welcome email: the buyer's cookie must not open it then).
/// True when this call took it.
pub fn take_sign_in(
    tx: &Connection,
    session_id: &str,
    browser_hash: &str,
    now: i64,
) -> Result<bool, PaymentsError> {
    Ok(tx.execute(
        "UPDATE guest_checkouts SET signed_in_at = ?3
         WHERE session_id = ?1 AND browser_hash = ?2 AND account_made = 1
           AND user_id IS NOT NULL AND fulfilled_at IS NOT NULL AND signed_in_at IS NULL
           AND fulfilled_at >= ?3 - ?4
           AND EXISTS (SELECT 1 FROM users u WHERE u.id = guest_checkouts.user_id
                       AND u.password_hash IS NULL AND u.email_verified_at IS NULL)",
        params![session_id, browser_hash, now, SIGN_IN_WINDOW_SECS],
    )? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, crate::db::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&dir.path().join("t.db")).unwrap();
        (dir, db)
    }

    #[test]
    fn only_the_starting_browser_signs_in_and_only_once() {
        let (_d, db) = db();
        db.write_blocking(|tx| {
            tx.execute(
                "INSERT INTO users (id, email, email_key, display_name, role, created_at)
                 VALUES (7, 'g@example.com', 'g@example.com', '', 'viewer', 1)",
                [],
            )?;
            started(tx, "cs_1", "hash-a", 1)?;
            // Not paid yet: nothing to sign in to.
            assert!(!take_sign_in(tx, "cs_1", "hash-a", 2)?);
            fulfilled(tx, "cs_1", 7, true, false, 3)?;
            // Fulfilled again (the webhook after the return): the first answer stays.
            fulfilled(tx, "cs_1", 8, false, true, 4)?;
            let g = get(tx, "cs_1")?.unwrap();
            assert_eq!(
                (g.user_id, g.account_made, g.trial_refused),
                (Some(7), true, false)
            );
            assert!(!take_sign_in(tx, "cs_1", "hash-b", 5)?);
            // The owner claimed the address (set a password from the welcome email)
            // before the buyer's browser came back: no sign-in.
            tx.execute("UPDATE users SET password_hash = 'x' WHERE id = 7", [])?;
            assert!(!take_sign_in(tx, "cs_1", "hash-a", 5)?);
            tx.execute("UPDATE users SET password_hash = NULL WHERE id = 7", [])?;
            // Long after the payment: no sign-in either.
            assert!(!take_sign_in(
                tx,
                "cs_1",
                "hash-a",
                3 + SIGN_IN_WINDOW_SECS + 1
            )?);
            assert!(take_sign_in(tx, "cs_1", "hash-a", 5)?);
            assert!(!take_sign_in(tx, "cs_1", "hash-a", 6)?);
            assert!(started_by(tx, "cs_1", "hash-a")?);
            assert!(!started_by(tx, "cs_1", "hash-b")?);
            Ok::<_, PaymentsError>(())
        })
        .unwrap();
    }
}

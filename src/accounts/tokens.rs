//! One-time links: setup, magic link, email verification, password reset, invitation.
//! Each is stored hashed, expires, and is used at most once: `consume` marks it used in
//! the caller's write transaction (`Db::write` is `BEGIN IMMEDIATE`), so two requests with
//! the same link cannot both succeed.

use rusqlite::{Connection, OptionalExtension, params};

use super::AccountsError;
use super::roles::Role;
use super::secret::Secret;
use super::users::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Setup,
    MagicLink,
    VerifyEmail,
    ResetPassword,
    Invite,
    /// Changes the account's email to `email` (sent to that new address).
    ChangeEmail,
    /// Deletes an account without a password (sent to its address).
    DeleteAccount,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Setup => "setup",
            TokenKind::MagicLink => "magic_link",
            TokenKind::VerifyEmail => "verify_email",
            TokenKind::ResetPassword => "reset_password",
            TokenKind::Invite => "invite",
            TokenKind::ChangeEmail => "change_email",
            TokenKind::DeleteAccount => "delete_account",
        }
    }
}

/// The setup link is valid this long.
pub const SETUP_TTL_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone, Default)]
pub struct TokenFor {
    pub user: Option<UserId>,
    pub email: Option<String>,
    pub role: Option<Role>,
}

#[derive(Debug, Clone)]
pub struct OneTimeToken {
    pub id: i64,
    pub kind: TokenKind,
    pub subject: TokenFor,
    pub expires_at: i64,
}

pub fn issue(
    conn: &Connection,
    kind: TokenKind,
    secret: &Secret,
    subject: &TokenFor,
    ttl_secs: i64,
    now: i64,
) -> Result<(), AccountsError> {
    conn.execute(
        "INSERT INTO one_time_tokens (token_hash, kind, user_id, email, role, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            secret.stored_hash(),
            kind.as_str(),
            subject.user.map(|u| u.0),
            subject.email,
            subject.role.map(Role::as_str),
            now,
            now + ttl_secs
        ],
    )?;
    Ok(())
}

/// The setup link for the first owner: any earlier unused one stops working, so only the
/// link printed last is valid.
pub fn issue_setup(conn: &Connection, secret: &Secret, now: i64) -> Result<(), AccountsError> {
    conn.execute(
        "DELETE FROM one_time_tokens WHERE kind = 'setup' AND used_at IS NULL",
        [],
    )?;
    issue(
        conn,
        TokenKind::Setup,
        secret,
        &TokenFor::default(),
        SETUP_TTL_SECS,
        now,
    )
}

/// The unused, unexpired token of this kind behind `secret`, without using it (a form's
/// GET shows the form only for a live link).
pub fn peek(
    conn: &Connection,
    kind: TokenKind,
    secret: &Secret,
    now: i64,
) -> Result<Option<OneTimeToken>, AccountsError> {
    Ok(conn
        .query_row(
            "SELECT id, user_id, email, role, expires_at FROM one_time_tokens
             WHERE token_hash = ?1 AND kind = ?2 AND used_at IS NULL AND expires_at > ?3",
            params![secret.stored_hash(), kind.as_str(), now],
            |r| {
                let role: Option<String> = r.get(3)?;
                Ok(OneTimeToken {
                    id: r.get(0)?,
                    kind,
                    subject: TokenFor {
                        user: r.get::<_, Option<i64>>(1)?.map(UserId),
                        email: r.get(2)?,
                        role: role.and_then(|r| r.parse().ok()),
                    },
                    expires_at: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// Uses the token: `None` when it is unknown, of another kind, expired or already used.
/// Call it inside the write transaction that does what the token allows, so both commit
/// together or neither does.
pub fn consume(
    conn: &Connection,
    kind: TokenKind,
    secret: &Secret,
    now: i64,
) -> Result<Option<OneTimeToken>, AccountsError> {
    let Some(token) = peek(conn, kind, secret, now)? else {
        return Ok(None);
    };
    let marked = conn.execute(
        "UPDATE one_time_tokens SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
        params![token.id, now],
    )?;
    Ok((marked == 1).then_some(token))
}

/// Voids every outstanding link that acts for this account (sign-in links, reset and
/// verification links): a password change, reset, disable or "sign out everywhere" must
/// not leave a way in behind it. Invitations are not the account's own links (they name
/// another person) and the setup link names no account, so they stay.
pub fn void_for_user(conn: &Connection, user: UserId) -> Result<usize, AccountsError> {
    Ok(conn.execute(
        "DELETE FROM one_time_tokens
         WHERE user_id = ?1 AND kind IN ('magic_link', 'reset_password', 'verify_email', 'change_email',
                                  'delete_account')",
        [user.0],
    )?)
}

/// Removes links that can no longer be used (used, or expired) of every kind; the periodic
/// upkeep calls it so the table does not grow with every request.
pub fn purge_spent(conn: &Connection, now: i64) -> Result<usize, AccountsError> {
    Ok(conn.execute(
        "DELETE FROM one_time_tokens WHERE used_at IS NOT NULL OR expires_at <= ?1",
        [now],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::accounts::test_db as db;

    #[test]
    fn used_once_then_refused() {
        let (_d, db) = db();
        let s = Secret::from_bytes([4; 32]);
        let subject = TokenFor {
            email: Some("new@example.com".into()),
            role: Some(Role::Editor),
            user: None,
        };
        db.write_blocking(|tx| issue(tx, TokenKind::Invite, &s, &subject, 60, 0))
            .unwrap();
        // Another kind does not take it.
        assert!(
            db.write_blocking(|tx| consume(tx, TokenKind::MagicLink, &s, 1))
                .unwrap()
                .is_none()
        );
        let used = db
            .write_blocking(|tx| consume(tx, TokenKind::Invite, &s, 1))
            .unwrap()
            .unwrap();
        assert_eq!(used.subject.role, Some(Role::Editor));
        assert_eq!(used.subject.email.as_deref(), Some("new@example.com"));
        assert!(
            db.write_blocking(|tx| consume(tx, TokenKind::Invite, &s, 2))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn expires() {
        let (_d, db) = db();
        let s = Secret::from_bytes([5; 32]);
        db.write_blocking(|tx| issue(tx, TokenKind::MagicLink, &s, &TokenFor::default(), 900, 0))
            .unwrap();
        assert!(
            db.read_blocking(|c| peek(c, TokenKind::MagicLink, &s, 899))
                .unwrap()
                .is_some()
        );
        assert!(
            db.write_blocking(|tx| consume(tx, TokenKind::MagicLink, &s, 900))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_new_setup_link_replaces_the_old() {
        let (_d, db) = db();
        let (old, new) = (Secret::from_bytes([6; 32]), Secret::from_bytes([7; 32]));
        db.write_blocking(|tx| issue_setup(tx, &old, 0)).unwrap();
        db.write_blocking(|tx| issue_setup(tx, &new, 10)).unwrap();
        assert!(
            db.read_blocking(|c| peek(c, TokenKind::Setup, &old, 11))
                .unwrap()
                .is_none()
        );
        let live = db
            .read_blocking(|c| peek(c, TokenKind::Setup, &new, 11))
            .unwrap()
            .unwrap();
        assert_eq!(live.expires_at, 10 + SETUP_TTL_SECS);
    }

    #[test]
    fn spent_links_are_purged_live_ones_kept() {
        let (_d, db) = db();
        let (used, expired, live) = (
            Secret::from_bytes([9; 32]),
            Secret::from_bytes([10; 32]),
            Secret::from_bytes([11; 32]),
        );
        db.write_blocking(|tx| {
            for (s, kind, ttl) in [
                (&used, TokenKind::Invite, 100),
                (&expired, TokenKind::VerifyEmail, 5),
                (&live, TokenKind::ResetPassword, 100),
            ] {
                issue(tx, kind, s, &TokenFor::default(), ttl, 0)?;
            }
            consume(tx, TokenKind::Invite, &used, 1)?;
            purge_spent(tx, 10)
        })
        .unwrap();
        let left: i64 = db
            .read_blocking(|c| {
                c.query_row("SELECT count(*) FROM one_time_tokens", [], |r| r.get(0))
                    .map_err(AccountsError::from)
            })
            .unwrap();
        assert_eq!(left, 1);
        assert!(
            db.read_blocking(|c| peek(c, TokenKind::ResetPassword, &live, 10))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_failed_transaction_leaves_the_token_unused() {
        let (_d, db) = db();
        let s = Secret::from_bytes([8; 32]);
        db.write_blocking(|tx| issue_setup(tx, &s, 0)).unwrap();
        let failed: Result<(), AccountsError> = db.write_blocking(|tx| {
            consume(tx, TokenKind::Setup, &s, 1)?;
            Err(AccountsError::Invalid(
                "what the token allowed failed".into(),
            ))
        });
        assert!(failed.is_err());
        assert!(
            db.write_blocking(|tx| consume(tx, TokenKind::Setup, &s, 2))
                .unwrap()
                .is_some()
        );
    }
}

//! Password reset and email verification by emailed link. A reset link works once, for an
//! hour: it sets a new password, signs the account out everywhere and lifts its sign-in
//! lockout. A verification link works once, for a day, and marks the address proven.

use rusqlite::params;

use super::magic_link::{LinkKind, LinkRequest, request_link};
use super::secret::Secret;
use super::signin::AttemptFrom;
use super::throttle::{self, MailBudget, ThrottleKey, ThrottlePolicy};
use super::tokens::{self, TokenFor, TokenKind};
use super::users::{self, User};
use super::{AccountsError, passwords, sessions};
use crate::accounts::email::Email;
use crate::db::Db;

pub const RESET_TTL_SECS: i64 = 3600;
pub const VERIFY_TTL_SECS: i64 = 24 * 3600;
/// A welcome email's link to choose a password (an account made at checkout): a week,
/// since it is the account's way in from any other browser.
pub const WELCOME_TTL_SECS: i64 = 7 * 24 * 3600;

/// A reset link for the account with this email, if there is one (answer the same either
/// way).
pub async fn request_reset(
    db: &Db,
    email: &str,
    from: AttemptFrom,
    throttle_policy: &ThrottlePolicy,
    now: i64,
) -> Result<LinkRequest, AccountsError> {
    let link = LinkKind {
        kind: TokenKind::ResetPassword,
        ttl_secs: RESET_TTL_SECS,
    };
    request_link(db, link, email, from, throttle_policy, now).await
}

/// A reset link for this account, made by an admin (to email or to pass on).
pub fn issue_reset(
    conn: &rusqlite::Connection,
    user: &User,
    now: i64,
) -> Result<Secret, AccountsError> {
    issue(conn, TokenKind::ResetPassword, user, RESET_TTL_SECS, now)
}

/// The link to choose a first password, for the welcome email of an account made at
/// checkout: a reset link (`/reset/{token}`) that lasts `WELCOME_TTL_SECS`. Using it
/// proves the address, as every reset does.
pub fn issue_welcome(
    conn: &rusqlite::Connection,
    user: &User,
    now: i64,
) -> Result<Secret, AccountsError> {
    issue(conn, TokenKind::ResetPassword, user, WELCOME_TTL_SECS, now)
}

fn issue(
    conn: &rusqlite::Connection,
    kind: TokenKind,
    user: &User,
    ttl: i64,
    now: i64,
) -> Result<Secret, AccountsError> {
    let secret = Secret::generate();
    let subject = TokenFor {
        user: Some(user.id),
        email: Some(user.email.clone()),
        role: None,
    };
    tokens::issue(conn, kind, &secret, &subject, ttl, now)?;
    Ok(secret)
}

/// Whether a link of `kind` is live, without using it (the form's GET).
pub async fn is_live(
    db: &Db,
    kind: TokenKind,
    secret: Secret,
    now: i64,
) -> Result<bool, AccountsError> {
    db.read(move |c| tokens::peek(c, kind, &secret, now))
        .await
        .map(|t| t.is_some())
}

/// Sets a new password with a reset link; every session of the account ends and its
/// sign-in lockout is lifted. Returns the account, for a fresh session.
pub async fn reset_password(
    db: &Db,
    secret: Secret,
    password: String,
    now: i64,
) -> Result<User, AccountsError> {
    passwords::check_new(&password)?;
    if !is_live(db, TokenKind::ResetPassword, secret.clone(), now).await? {
        return Err(AccountsError::LinkNotValid);
    }
    let hash = passwords::hash(password).await?;
    db.write(move |tx| {
        let token = tokens::consume(tx, TokenKind::ResetPassword, &secret, now)?
            .ok_or(AccountsError::LinkNotValid)?;
        let id = token.subject.user.ok_or(AccountsError::LinkNotValid)?;
        let user = users::get(tx, id)?
            .filter(|u| !u.disabled)
            .ok_or(AccountsError::LinkNotValid)?;
        users::set_password_hash(tx, id, &hash)?;
        sessions::end_all(tx, id)?;
        throttle::record_success(tx, &ThrottleKey::Account(Email::key_of(&user.email)))?;
        // The link came to this address: it is proven too.
        tx.execute(
            "UPDATE users SET email_verified_at = coalesce(email_verified_at, ?2) WHERE id = ?1",
            params![id.0, now],
        )?;
        Ok(user)
    })
    .await
}

/// A verification link for the account's address, within the address's mail budget
/// (`throttle::take_mail_budget`, shared with sign-in and reset links); `None` past it,
/// with no link stored.
pub fn issue_verification(
    conn: &rusqlite::Connection,
    user: &User,
    now: i64,
) -> Result<Option<Secret>, AccountsError> {
    let budget = MailBudget::Email(Email::key_of(&user.email));
    if !throttle::take_mail_budget(conn, &budget, now)? {
        return Ok(None);
    }
    issue(conn, TokenKind::VerifyEmail, user, VERIFY_TTL_SECS, now).map(Some)
}

/// Marks the address proven with a verification link.
pub async fn verify_email(db: &Db, secret: Secret, now: i64) -> Result<User, AccountsError> {
    db.write(move |tx| {
        let token = tokens::consume(tx, TokenKind::VerifyEmail, &secret, now)?
            .ok_or(AccountsError::LinkNotValid)?;
        let id = token.subject.user.ok_or(AccountsError::LinkNotValid)?;
        let user = users::get(tx, id)?.ok_or(AccountsError::LinkNotValid)?;
        // The address the link went to must still be the account's.
        if token.subject.email.as_deref() != Some(user.email.as_str()) {
            return Err(AccountsError::LinkNotValid);
        }
        tx.execute(
            "UPDATE users SET email_verified_at = ?2 WHERE id = ?1",
            params![id.0, now],
        )?;
        users::get(tx, id)?.ok_or(AccountsError::LinkNotValid)
    })
    .await
}

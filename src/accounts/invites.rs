//! Invitations: an admin invites an email address with a role; the link (emailed, or shown
//! to the admin to pass on when email is off) lets that person set a name and password,
//! which creates the account. One open invitation per address: a new one replaces it.

use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::json;

use super::email::Email;
use super::members::{Acting, may_grant};
use super::roles::Role;
use super::secret::Secret;
use super::setup::NewAccount;
use super::tokens::{self, TokenFor, TokenKind};
use super::users::{self, NewUser, User};
use super::{AccountsError, passwords};
use crate::audit;
use crate::db::Db;

/// An invitation link is valid this long.
pub const INVITE_TTL_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invite {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub created_at: i64,
    pub expires_at: i64,
}

fn audit_error(e: audit::AuditError) -> AccountsError {
    AccountsError::Invalid(format!("audit log: {e}"))
}

/// Invites `email` as `role`; returns the invitation and the link's secret.
pub fn create(
    conn: &Connection,
    acting: &Acting,
    email: &str,
    role: Role,
    now: i64,
) -> Result<(Invite, Secret), AccountsError> {
    let email = Email::parse(email)?;
    may_grant(acting, role)?;
    if users::find_by_email(conn, &email.key)?.is_some() {
        return Err(AccountsError::EmailTaken(email.address));
    }
    conn.execute(
        "DELETE FROM one_time_tokens WHERE kind = 'invite' AND used_at IS NULL AND lower(email) = ?1",
        [&email.key],
    )?;
    let secret = Secret::generate();
    let subject = TokenFor {
        user: None,
        email: Some(email.address.clone()),
        role: Some(role),
    };
    tokens::issue(
        conn,
        TokenKind::Invite,
        &secret,
        &subject,
        INVITE_TTL_SECS,
        now,
    )?;
    let id = conn.last_insert_rowid();
    audit::record(
        conn,
        &acting.actor,
        "member.invite",
        &format!("invite:{id}"),
        json!({"email": email.address, "role": role.as_str()}),
        now,
    )
    .map_err(audit_error)?;
    let invite = Invite {
        id,
        email: email.address,
        role: role.as_str().to_owned(),
        created_at: now,
        expires_at: now + INVITE_TTL_SECS,
    };
    Ok((invite, secret))
}

/// Open invitations, newest first.
pub fn pending(conn: &Connection, now: i64) -> Result<Vec<Invite>, AccountsError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, email, role, created_at, expires_at FROM one_time_tokens
         WHERE kind = 'invite' AND used_at IS NULL AND expires_at > ?1 ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([now], |r| {
        Ok(Invite {
            id: r.get(0)?,
            email: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            role: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            created_at: r.get(3)?,
            expires_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Withdraws an open invitation: its link stops working.
pub fn revoke(conn: &Connection, acting: &Acting, id: i64, now: i64) -> Result<(), AccountsError> {
    let found = pending(conn, now)?.into_iter().find(|i| i.id == id);
    let Some(invite) = found else {
        return Err(AccountsError::NoSuchInvite(id));
    };
    may_grant(acting, invite.role.parse()?)?;
    conn.execute(
        "DELETE FROM one_time_tokens WHERE id = ?1 AND kind = 'invite' AND used_at IS NULL",
        params![id],
    )?;
    audit::record(
        conn,
        &acting.actor,
        "member.invite_revoke",
        &format!("invite:{id}"),
        json!({"email": invite.email, "role": invite.role}),
        now,
    )
    .map_err(audit_error)
}

/// The invitation behind a link, if it is still open (the form's GET).
pub async fn open(
    db: &Db,
    secret: Secret,
    now: i64,
) -> Result<Option<(String, Role)>, AccountsError> {
    let token = db
        .read(move |c| tokens::peek(c, TokenKind::Invite, &secret, now))
        .await?;
    Ok(token.and_then(|t| Some((t.subject.email?, t.subject.role?))))
}

/// Accepts an invitation: the account is created with the invited email and role, its
/// email counted as verified (the link proved it), and the link used, in one transaction.
/// `new.email` is ignored: the invitation says whose account it is.
pub async fn accept(
    db: &Db,
    secret: Secret,
    new: NewAccount,
    now: i64,
) -> Result<User, AccountsError> {
    passwords::check_new(&new.password)?;
    // Hashing is slow: not for a dead link.
    if open(db, secret.clone(), now).await?.is_none() {
        return Err(AccountsError::LinkNotValid);
    }
    let hash = passwords::hash(new.password).await?;
    db.write(move |tx| {
        let token = tokens::consume(tx, TokenKind::Invite, &secret, now)?
            .ok_or(AccountsError::LinkNotValid)?;
        let (Some(address), Some(role)) = (token.subject.email, token.subject.role) else {
            return Err(AccountsError::LinkNotValid);
        };
        let email = Email::parse(&address)?;
        let id = users::create(
            tx,
            &NewUser {
                email: &email,
                display_name: &new.display_name,
                role,
                password_hash: Some(&hash),
            },
            now,
        )?;
        tx.execute(
            "UPDATE users SET email_verified_at = ?2 WHERE id = ?1",
            params![id.0, now],
        )?;
        users::get(tx, id)?.ok_or(AccountsError::LinkNotValid)
    })
    .await
}

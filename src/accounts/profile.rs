//! What members change about their own account: their name, their email address (only
//! once the new address is proven by an emailed link), their password (after giving the
//! current one; their other sessions end), and deleting it with what personally names
//! them. Every change is audited in the transaction that makes it.

use rusqlite::{Connection, params};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::email::Email;
use super::secret::Secret;
use super::throttle::{self, MailBudget};
use super::tokens::{self, TokenFor, TokenKind};
use super::users::{self, MAX_DISPLAY_NAME, User};
use super::{AccountsError, roles::Role};
use crate::audit::{self, Actor};

/// An email-change or deletion link works this long.
pub const LINK_TTL_SECS: i64 = 24 * 3600;

fn actor(user: &User) -> Actor {
    Actor::User {
        id: user.id.0,
        label: user.email.clone(),
    }
}

fn record(
    conn: &Connection,
    user: &User,
    action: &str,
    detail: serde_json::Value,
    now: i64,
) -> Result<(), AccountsError> {
    audit::record(
        conn,
        &actor(user),
        action,
        &format!("member:{}", user.id.0),
        detail,
        now,
    )
    .map_err(|e| AccountsError::Invalid(format!("audit log: {e}")))
}

/// A display name as stored: trimmed, at most `MAX_DISPLAY_NAME` characters, no control
/// characters (the rule `users::create` applies).
pub fn checked_name(name: &str) -> Result<String, AccountsError> {
    let name = name.trim();
    if !users::display_name_ok(name) {
        return Err(AccountsError::Invalid(format!(
            "A name is at most {MAX_DISPLAY_NAME} characters, without control or invisible characters."
        )));
    }
    Ok(name.to_owned())
}

pub fn set_name(conn: &Connection, user: &User, name: &str, now: i64) -> Result<(), AccountsError> {
    let name = checked_name(name)?;
    conn.execute(
        "UPDATE users SET display_name = ?2 WHERE id = ?1",
        params![user.id.0, name],
    )?;
    record(conn, user, "member.name", json!({}), now)
}

/// Whether a session started at `session_started_at` may set the account's password or
/// move its address. Not for an account someone made by typing an address (`self_made`)
/// that has no password, unless its address was proven before that session started: a
/// checkout without an account signs a browser in before anyone proved the address, and
/// that browser must never be able to lock the address's owner out.
pub fn may_change_credentials(user: &User, session_started_at: i64) -> bool {
    !user.self_made
        || user.password_hash.is_some()
        || user
            .email_verified_at
            // Strictly after: a session from the very second of the proof may predate it.
            .is_some_and(|proven| session_started_at > proven)
}

/// An account made by typing an address nobody has proven since: a purchase paid with
/// that address is for the address's owner, so `unclaim` first.
pub fn is_unclaimed(user: &User) -> bool {
    user.self_made && user.email_verified_at.is_none()
}

/// Before an account whose address nobody proved gets something paid by that address:
/// its sessions end and its password, chosen by whoever made the account, is cleared, so
/// only the address's owner gets in (by an emailed link). Audited; true when a password
/// was cleared.
pub fn unclaim(conn: &Connection, user: &User, now: i64) -> Result<bool, AccountsError> {
    super::sessions::end_sessions(conn, user.id)?;
    let cleared = conn.execute(
        "UPDATE users SET password_hash = NULL WHERE id = ?1 AND password_hash IS NOT NULL",
        [user.id.0],
    )? > 0;
    record(
        conn,
        user,
        "member.unclaimed",
        json!({"password_cleared": cleared}),
        now,
    )?;
    Ok(cleared)
}

/// What asking to change the email address did.
#[derive(Debug)]
pub enum EmailChange {
    /// A link to the new address: the change happens when it is opened.
    LinkMade(Secret),
    /// Another account has that address: no link (the caller tells that address, not the
    /// asker, so the page does not say whose address it is).
    Taken,
    /// It is the account's address already.
    Same,
    /// The new address's mail budget is spent for the hour.
    Later,
}

pub fn request_email_change(
    conn: &Connection,
    user: &User,
    new: &Email,
    now: i64,
) -> Result<EmailChange, AccountsError> {
    if new.key == Email::key_of(&user.email) {
        return Ok(EmailChange::Same);
    }
    if !throttle::take_mail_budget(conn, &MailBudget::Email(new.key.clone()), now)? {
        return Ok(EmailChange::Later);
    }
    if users::find_by_email(conn, &new.key)?.is_some() {
        return Ok(EmailChange::Taken);
    }
    let secret = Secret::generate();
    let subject = TokenFor {
        user: Some(user.id),
        email: Some(new.address.clone()),
        role: None,
    };
    tokens::issue(
        conn,
        TokenKind::ChangeEmail,
        &secret,
        &subject,
        LINK_TTL_SECS,
        now,
    )?;
    Ok(EmailChange::LinkMade(secret))
}

/// Opens an email-change link: the account takes the new address (proven by the link)
/// and the links still out for the old one stop working. Returns the account as it was
/// before (its old address is told) and as it is now.
pub fn confirm_email_change(
    conn: &Connection,
    secret: &Secret,
    now: i64,
) -> Result<(User, User), AccountsError> {
    let token = tokens::consume(conn, TokenKind::ChangeEmail, secret, now)?
        .ok_or(AccountsError::LinkNotValid)?;
    let id = token.subject.user.ok_or(AccountsError::LinkNotValid)?;
    let before = users::get(conn, id)?
        .filter(|u| !u.disabled)
        .ok_or(AccountsError::LinkNotValid)?;
    let new = Email::parse(token.subject.email.as_deref().unwrap_or_default())?;
    if users::find_by_email(conn, &new.key)?.is_some_and(|u| u.id != id) {
        return Err(AccountsError::EmailTaken(new.address));
    }
    tokens::void_for_user(conn, id)?;
    conn.execute(
        "UPDATE users SET email = ?2, email_key = ?3, email_verified_at = ?4 WHERE id = ?1",
        params![id.0, new.address, new.key, now],
    )?;
    let after = users::get(conn, id)?.ok_or(AccountsError::LinkNotValid)?;
    record(
        conn,
        &after,
        "member.email",
        json!({"from": before.email, "to": after.email}),
        now,
    )?;
    Ok((before, after))
}

/// Sets a new password (`hash`, from `passwords::hash`; the caller checked the current
/// one). Every other session of the account ends and its emailed links stop working: a
/// password change is how someone locks out whoever else got in. `keep`: the session
/// that made the change.
pub fn change_password(
    conn: &Connection,
    user: &User,
    hash: &str,
    keep: i64,
    now: i64,
) -> Result<usize, AccountsError> {
    users::set_password_hash(conn, user.id, hash)?;
    tokens::void_for_user(conn, user.id)?;
    let ended = conn.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND id != ?2",
        params![user.id.0, keep],
    )?;
    record(
        conn,
        user,
        "member.password",
        json!({"other_sessions_ended": ended}),
        now,
    )?;
    Ok(ended)
}

/// A deletion link for an account without a password, within its address's mail budget
/// (`None` past it).
pub fn issue_deletion_link(
    conn: &Connection,
    user: &User,
    now: i64,
) -> Result<Option<Secret>, AccountsError> {
    let budget = MailBudget::Email(Email::key_of(&user.email));
    if !throttle::take_mail_budget(conn, &budget, now)? {
        return Ok(None);
    }
    let secret = Secret::generate();
    let subject = TokenFor {
        user: Some(user.id),
        email: Some(user.email.clone()),
        role: None,
    };
    tokens::issue(
        conn,
        TokenKind::DeleteAccount,
        &secret,
        &subject,
        LINK_TTL_SECS,
        now,
    )?;
    Ok(Some(secret))
}

/// The account a live deletion link is for, using the link.
pub fn use_deletion_link(
    conn: &Connection,
    secret: &Secret,
    now: i64,
) -> Result<User, AccountsError> {
    let token = tokens::consume(conn, TokenKind::DeleteAccount, secret, now)?
        .ok_or(AccountsError::LinkNotValid)?;
    let id = token.subject.user.ok_or(AccountsError::LinkNotValid)?;
    users::get(conn, id)?
        .filter(|u| token.subject.email.as_deref() == Some(u.email.as_str()))
        .ok_or(AccountsError::LinkNotValid)
}

/// Whether the member may delete their own account: the last owner may not (the server
/// would have no one to run it).
pub fn may_delete_own(conn: &Connection, user: &User) -> Result<(), AccountsError> {
    if user.role == Role::Owner {
        let owners: i64 = conn.query_row(
            "SELECT count(*) FROM users WHERE role = 'owner' AND disabled_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        if owners <= 1 {
            return Err(AccountsError::NotAllowed(
                "You are the last owner of this server: make someone else an owner first.".into(),
            ));
        }
    }
    Ok(())
}

/// How a deleted address is kept where one free trial per person must still be enforced:
/// a one-way hash, never the address.
pub fn erased_email_key(email_key: &str) -> String {
    format!(
        "erased:{}",
        hex::encode(Sha256::digest(email_key.as_bytes()))
    )
}

/// The addresses a member's own audit entries name (`email`, `from`, `to` in their
/// details), as email keys: where a deletion must look besides the current address.
fn former_addresses(conn: &Connection, id: i64) -> Result<Vec<String>, AccountsError> {
    let mut stmt = conn.prepare(
        "SELECT detail FROM audit_log WHERE target = 'member:' || ?1
            OR (actor_kind = 'user' AND actor_id = ?1)",
    )?;
    let details = stmt
        .query_map([id], |r| r.get::<_, Option<String>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut keys = Vec::new();
    for detail in details.into_iter().flatten() {
        let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(&detail) else {
            continue;
        };
        for field in ["email", "from", "to"] {
            if let Some(text) = fields.get(field).and_then(|v| v.as_str())
                && text.contains('@')
            {
                keys.push(Email::key_of(text));
            }
        }
    }
    Ok(keys)
}

/// Deletes the member's own account and every row that names them: the account and what
/// hangs off it (sessions, devices, links, holdings, history, list, consent: `ON DELETE
/// CASCADE`), sign-in counters and mail budgets of the address, links that name it, its
/// address and name in the audit log and in queued webhooks. What must outlive it keeps
/// only the id or a hash: the audit entry of the deletion, subscription history, the
/// trial already used. `cancelled`: the Stripe subscriptions ended for it first.
pub fn delete_own(
    conn: &Connection,
    user: &User,
    cancelled: &[String],
    now: i64,
) -> Result<(), AccountsError> {
    may_delete_own(conn, user)?;
    let id = user.id.0;
    let key = Email::key_of(&user.email);
    // Every address the account has had: the current one, and those its audit entries
    // name (an address changed from, the one it signed up with).
    let mut keys = vec![key.clone()];
    keys.extend(former_addresses(conn, id)?);
    keys.sort();
    keys.dedup();
    conn.execute("DELETE FROM one_time_tokens WHERE user_id = ?1", [id])?;
    for key in &keys {
        conn.execute(
            "DELETE FROM sign_in_throttle WHERE instr(key, ?1) > 0",
            [key],
        )?;
        conn.execute("DELETE FROM mail_budget WHERE email_key = ?1", [key])?;
        conn.execute("DELETE FROM one_time_tokens WHERE lower(email) = ?1", [key])?;
        conn.execute("DELETE FROM signup_links WHERE lower(email) = ?1", [key])?;
        conn.execute(
            "UPDATE trials_used SET email_key = ?2 WHERE email_key = ?1",
            params![key, erased_email_key(key)],
        )?;
        conn.execute(
            "DELETE FROM webhook_deliveries WHERE instr(lower(payload), ?1) > 0",
            [key],
        )?;
    }
    // The audit log keeps what happened and to which member id, not who they were.
    let erased = format!("deleted member {id}");
    conn.execute(
        "UPDATE audit_log SET actor_label = ?2 WHERE actor_kind = 'user' AND actor_id = ?1",
        params![id, erased],
    )?;
    let mut names = vec![user.email.clone()];
    // A name of a few letters could be part of anything; only the member's own entries
    // lose it.
    if !user.display_name.is_empty() {
        names.push(user.display_name.clone());
    }
    for (i, text) in names.iter().enumerate() {
        let own_only = i > 0;
        conn.execute(
            "UPDATE audit_log SET detail = replace(detail, ?1, ?2)
             WHERE instr(detail, ?1) > 0
               AND (?3 = 0 OR target = 'member:' || ?4 OR actor_id = ?4)",
            params![text, erased, own_only, id],
        )?;
    }
    for key in &keys {
        conn.execute(
            "UPDATE audit_log SET detail = replace(detail, ?1, ?2) WHERE instr(lower(detail), ?1) > 0",
            params![key, erased],
        )?;
    }
    // The member's own entries may hold what they once were called or wrote in any case:
    // their details go, the action and the id stay.
    conn.execute(
        "UPDATE audit_log SET detail = '{}' WHERE target = 'member:' || ?1
            OR (actor_kind = 'user' AND actor_id = ?1)",
        [id],
    )?;
    conn.execute("DELETE FROM users WHERE id = ?1", [id])?;
    let mut detail = json!({"by": "the member"});
    if !cancelled.is_empty() {
        detail["cancelled_subscriptions"] = json!(cancelled);
    }
    audit::record(
        conn,
        &Actor::User {
            id,
            label: erased.clone(),
        },
        "member.delete",
        &format!("member:{id}"),
        detail,
        now,
    )
    .map_err(|e| AccountsError::Invalid(format!("audit log: {e}")))?;
    crate::webhooks::outbox::emit(
        conn,
        "member.deleted",
        json!({"id": id, "by": "member"}),
        now,
    )?;
    Ok(())
}

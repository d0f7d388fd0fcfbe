//! What admins do to other people's accounts — change a role, disable, enable, delete,
//! end sessions — and the rules that keep an operator from locking themselves out:
//! nobody changes their own role or disables or deletes themselves; only an owner touches
//! an owner's or an admin's account or grants owner or admin; the last owner stays. Every
//! change is written to the audit log in the same transaction.

use rusqlite::Connection;
use serde_json::json;

use super::AccountsError;
use super::roles::Role;
use super::sessions;
use super::users::{self, User, UserId};
use crate::audit::{self, Actor};

/// Who is acting: the audit log's actor, their role, and their account (`None` for an API
/// key without an owner, which acts with an admin's reach).
#[derive(Debug, Clone)]
pub struct Acting {
    pub actor: Actor,
    pub role: Role,
    pub user: Option<UserId>,
}

impl Acting {
    pub fn user(user: &User) -> Acting {
        Acting {
            actor: Actor::User {
                id: user.id.0,
                label: user.email.clone(),
            },
            role: user.role,
            user: Some(user.id),
        }
    }
}

fn refuse(message: impl Into<String>) -> AccountsError {
    AccountsError::NotAllowed(message.into())
}

fn is_privileged(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Admin)
}

/// Whether `acting` may give `role` to someone (a new invitation or a role change).
pub fn may_grant(acting: &Acting, role: Role) -> Result<(), AccountsError> {
    if is_privileged(role) && acting.role != Role::Owner {
        return Err(refuse(format!("only an owner can make someone {role}")));
    }
    Ok(())
}

fn enabled_owners(conn: &Connection) -> Result<i64, AccountsError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM users WHERE role = 'owner' AND disabled_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

/// The target account, after the rules every change shares.
fn target(conn: &Connection, acting: &Acting, id: UserId) -> Result<User, AccountsError> {
    let user = users::get(conn, id)?.ok_or(AccountsError::NoSuchMember(id.0))?;
    if acting.user == Some(id) {
        return Err(refuse(
            "you cannot change your own role or disable or delete yourself; ask another owner",
        ));
    }
    if is_privileged(user.role) && acting.role != Role::Owner {
        return Err(refuse(format!(
            "only an owner can change the account of an {}",
            user.role
        )));
    }
    Ok(user)
}

/// Refuses to leave no enabled owner once `user` stops being one.
fn keep_an_owner(conn: &Connection, user: &User) -> Result<(), AccountsError> {
    if user.role == Role::Owner && !user.disabled && enabled_owners(conn)? <= 1 {
        return Err(refuse(
            "this is the last owner; make someone else an owner first",
        ));
    }
    Ok(())
}

fn record(
    conn: &Connection,
    acting: &Acting,
    action: &str,
    user: &User,
    detail: serde_json::Value,
    now: i64,
) -> Result<(), AccountsError> {
    let mut detail = detail;
    detail["email"] = json!(user.email);
    audit::record(
        conn,
        &acting.actor,
        action,
        &format!("member:{}", user.id.0),
        detail,
        now,
    )
    .map_err(|e| AccountsError::Invalid(format!("audit log: {e}")))
}

pub fn change_role(
    conn: &Connection,
    acting: &Acting,
    id: UserId,
    role: Role,
    now: i64,
) -> Result<User, AccountsError> {
    let user = target(conn, acting, id)?;
    may_grant(acting, role)?;
    if user.role == role {
        return Ok(user);
    }
    keep_an_owner(conn, &user)?;
    conn.execute(
        "UPDATE users SET role = ?2 WHERE id = ?1",
        rusqlite::params![id.0, role.as_str()],
    )?;
    record(
        conn,
        acting,
        "member.role",
        &user,
        json!({"from": user.role.as_str(), "to": role.as_str()}),
        now,
    )?;
    users::get(conn, id)?.ok_or(AccountsError::NoSuchMember(id.0))
}

/// Disables (ending every session) or enables an account.
pub fn set_disabled(
    conn: &Connection,
    acting: &Acting,
    id: UserId,
    disabled: bool,
    now: i64,
) -> Result<User, AccountsError> {
    let user = target(conn, acting, id)?;
    if user.disabled == disabled {
        return Ok(user);
    }
    if disabled {
        keep_an_owner(conn, &user)?;
        conn.execute(
            "UPDATE users SET disabled_at = ?2 WHERE id = ?1",
            rusqlite::params![id.0, now],
        )?;
        sessions::end_all(conn, id)?;
        record(conn, acting, "member.disable", &user, json!({}), now)?;
    } else {
        conn.execute("UPDATE users SET disabled_at = NULL WHERE id = ?1", [id.0])?;
        record(conn, acting, "member.enable", &user, json!({}), now)?;
    }
    users::get(conn, id)?.ok_or(AccountsError::NoSuchMember(id.0))
}

/// Whether `acting` may delete the account: the rules `delete` applies, checked before
/// anything outside the database (its Stripe subscriptions) is touched.
pub fn may_delete(conn: &Connection, acting: &Acting, id: UserId) -> Result<User, AccountsError> {
    let user = target(conn, acting, id)?;
    keep_an_owner(conn, &user)?;
    Ok(user)
}

/// Deletes an account with its sessions and links; the audit log keeps its entries.
/// `cancelled`: the Stripe subscriptions ended for it first (`services::members`).
pub fn delete(
    conn: &Connection,
    acting: &Acting,
    id: UserId,
    cancelled: &[String],
    now: i64,
) -> Result<(), AccountsError> {
    let user = may_delete(conn, acting, id)?;
    conn.execute("DELETE FROM users WHERE id = ?1", [id.0])?;
    let mut detail = json!({"role": user.role.as_str()});
    if !cancelled.is_empty() {
        detail["cancelled_subscriptions"] = json!(cancelled);
    }
    record(conn, acting, "member.delete", &user, detail, now)
}

/// A password reset link for the account, made by an admin (to email or to pass on).
pub fn reset_link(
    conn: &Connection,
    acting: &Acting,
    id: UserId,
    now: i64,
) -> Result<(User, crate::accounts::secret::Secret), AccountsError> {
    let user = target(conn, acting, id)?;
    if user.disabled {
        return Err(refuse("the account is disabled; enable it first"));
    }
    let secret = crate::accounts::recovery::issue_reset(conn, &user, now)?;
    record(conn, acting, "member.reset_link", &user, json!({}), now)?;
    Ok((user, secret))
}

/// Signs the account out everywhere.
pub fn end_sessions(
    conn: &Connection,
    acting: &Acting,
    id: UserId,
    now: i64,
) -> Result<usize, AccountsError> {
    let user = users::get(conn, id)?.ok_or(AccountsError::NoSuchMember(id.0))?;
    if is_privileged(user.role) && acting.role != Role::Owner && acting.user != Some(id) {
        return Err(refuse(format!(
            "only an owner can sign out an {}",
            user.role
        )));
    }
    let ended = sessions::end_all(conn, id)?;
    record(
        conn,
        acting,
        "member.sessions_end",
        &user,
        json!({"ended": ended}),
        now,
    )?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::email::Email;
    use crate::accounts::test_db;
    use crate::accounts::users::NewUser;

    fn add(conn: &Connection, email: &str, role: Role) -> User {
        let email = Email::parse(email).unwrap();
        let id = users::create(
            conn,
            &NewUser {
                email: &email,
                display_name: "",
                role,
                password_hash: None,
            },
            1,
        )
        .unwrap();
        users::get(conn, id).unwrap().unwrap()
    }

    #[test]
    fn the_rules_keep_an_owner_and_keep_admins_below_owners() {
        let (_d, db) = test_db();
        db.write_blocking(|tx| {
            let owner = add(tx, "o@example.com", Role::Owner);
            let admin = add(tx, "a@example.com", Role::Admin);
            let editor = add(tx, "e@example.com", Role::Editor);
            let as_owner = Acting::user(&owner);
            let as_admin = Acting::user(&admin);
            fn not_allowed<T>(r: Result<T, AccountsError>) -> bool {
                matches!(r, Err(AccountsError::NotAllowed(_)))
            }
            // Nobody acts on themselves; the last owner stays.
            assert!(not_allowed(change_role(
                tx,
                &as_owner,
                owner.id,
                Role::Admin,
                2
            )));
            assert!(not_allowed(set_disabled(tx, &as_owner, owner.id, true, 2)));
            assert!(not_allowed(delete(tx, &as_owner, owner.id, &[], 2)));
            // An admin cannot touch an owner or another admin, nor grant admin.
            assert!(not_allowed(change_role(
                tx,
                &as_admin,
                owner.id,
                Role::Viewer,
                2
            )));
            assert!(not_allowed(delete(tx, &as_admin, owner.id, &[], 2)));
            assert!(not_allowed(change_role(
                tx,
                &as_admin,
                editor.id,
                Role::Admin,
                2
            )));
            // An admin can change an editor; an owner an admin.
            assert_eq!(
                change_role(tx, &as_admin, editor.id, Role::Support, 2)?.role,
                Role::Support
            );
            assert_eq!(
                change_role(tx, &as_owner, admin.id, Role::Owner, 3)?.role,
                Role::Owner
            );
            // Two owners: one may now demote the other, but not the last one left.
            let second = Acting::user(&users::get(tx, admin.id)?.unwrap());
            assert_eq!(
                change_role(tx, &second, owner.id, Role::Admin, 4)?.role,
                Role::Admin
            );
            assert!(set_disabled(tx, &as_admin, editor.id, true, 5)?.disabled);
            let entries = crate::audit::list(
                tx,
                &crate::audit::Filter {
                    limit: 10,
                    ..Default::default()
                },
            )
            .map_err(|e| AccountsError::Invalid(e.to_string()))?;
            assert_eq!(
                entries
                    .iter()
                    .map(|e| e.action.as_str())
                    .collect::<Vec<_>>(),
                [
                    "member.disable",
                    "member.role",
                    "member.role",
                    "member.role"
                ]
            );
            Ok::<_, AccountsError>(())
        })
        .unwrap();
    }

    #[test]
    fn a_deleted_members_id_is_never_given_again() {
        let (_d, db) = test_db();
        db.write_blocking(|tx| {
            let owner = add(tx, "o@example.com", Role::Owner);
            let newest = add(tx, "b@example.com", Role::Viewer);
            delete(tx, &Acting::user(&owner), newest.id, &[], 2)?;
            let next = add(tx, "c@example.com", Role::Viewer);
            assert!(
                next.id.0 > newest.id.0,
                "{:?} after {:?}",
                next.id,
                newest.id
            );
            // Nor by an insert that names the id itself.
            let reused = tx.execute(
                "INSERT INTO users (id, email, email_key, role, created_at)
                 VALUES (?1, 'd@example.com', 'd@example.com', 'viewer', 3)",
                [newest.id.0],
            );
            assert!(reused.is_err());
            Ok::<_, AccountsError>(())
        })
        .unwrap();
    }
}

//! Accounts: one row per person, keyed by normalised email.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::AccountsError;
use super::email::Email;
use super::roles::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserId(pub i64);

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
    /// When the email address was proven (a verification link, an invitation).
    pub email_verified_at: Option<i64>,
    /// Made by self sign-up without email or by a checkout without an account: its
    /// address is only what someone typed (migration 027, `mark_self_made`).
    pub self_made: bool,
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub display_name: &'a str,
    pub role: Role,
    /// An argon2id PHC string from `passwords::hash`.
    pub password_hash: Option<&'a str>,
}

const COLUMNS: &str = "id, email, display_name, role, password_hash, disabled_at, created_at, email_verified_at, self_made";

fn from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(3)?;
    let disabled_at: Option<i64> = r.get(5)?;
    Ok(User {
        id: UserId(r.get(0)?),
        email: r.get(1)?,
        display_name: r.get(2)?,
        // The CHECK constraint keeps other values out.
        role: role.parse().unwrap_or(Role::Viewer),
        password_hash: r.get(4)?,
        disabled: disabled_at.is_some(),
        created_at: r.get(6)?,
        email_verified_at: r.get(7)?,
        self_made: r.get(8)?,
    })
}

pub const MAX_DISPLAY_NAME: usize = 100;

/// A character that changes how text around it shows without showing itself: controls,
/// zero-width characters and direction overrides. A name or an address holding one can
/// pass for another ("bob" with a zero-width space, a name reversed by U+202E).
pub fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                // Format characters outside the BMP's common blocks, and blanks.
                | '\u{0600}'..='\u{0605}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{08E2}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{2800}'
                | '\u{16FE4}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Whether `name` (trimmed) may be a display name.
pub fn display_name_ok(name: &str) -> bool {
    name.chars().count() <= MAX_DISPLAY_NAME && !name.chars().any(is_hidden_char)
}

/// Creates an account; refuses an email already taken (whatever its case).
pub fn create(conn: &Connection, new: &NewUser<'_>, now: i64) -> Result<UserId, AccountsError> {
    let name = new.display_name.trim();
    if !display_name_ok(name) {
        return Err(AccountsError::Invalid(format!(
            "a display name is at most {MAX_DISPLAY_NAME} characters, without control or invisible characters"
        )));
    }
    if find_by_email(conn, &new.email.key)?.is_some() {
        return Err(AccountsError::EmailTaken(new.email.address.clone()));
    }
    // Above every id ever given, deleted ones included (`member_id_floor`): Stripe's
    // metadata, trials used and subscription history name members by id, so an id is
    // never handed to a second person.
    conn.execute(
        "INSERT INTO users (id, email, email_key, display_name, role, password_hash, created_at)
         VALUES (max(coalesce((SELECT max(id) FROM users), 0),
                     (SELECT id FROM member_id_floor)) + 1,
                 ?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            new.email.address,
            new.email.key,
            name,
            new.role.as_str(),
            new.password_hash,
            now
        ],
    )?;
    let id = conn.last_insert_rowid();
    crate::webhooks::outbox::emit(
        conn,
        "member.created",
        serde_json::json!({"id": id, "email": new.email.address, "role": new.role.as_str()}),
        now,
    )?;
    Ok(UserId(id))
}

pub fn find_by_email(conn: &Connection, email_key: &str) -> Result<Option<User>, AccountsError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE email_key = ?1"),
            [email_key],
            from_row,
        )
        .optional()?)
}

pub fn get(conn: &Connection, id: UserId) -> Result<Option<User>, AccountsError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
            [id.0],
            from_row,
        )
        .optional()?)
}

/// Marks an account as made by whoever typed its address (`User::self_made`).
pub fn mark_self_made(conn: &Connection, id: UserId) -> Result<(), AccountsError> {
    conn.execute("UPDATE users SET self_made = 1 WHERE id = ?1", [id.0])?;
    Ok(())
}

pub fn set_password_hash(conn: &Connection, id: UserId, hash: &str) -> Result<(), AccountsError> {
    conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        rusqlite::params![id.0, hash],
    )?;
    Ok(())
}

pub fn owner_exists(conn: &Connection) -> Result<bool, AccountsError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM users WHERE role = 'owner' LIMIT 1",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Which accounts to list: every field narrows.
#[derive(Debug, Clone, Default)]
pub struct MemberQuery {
    /// Email starting with this, or a display name containing it (case ignored).
    pub search: Option<String>,
    pub role: Option<Role>,
    pub limit: u32,
    pub offset: u32,
}

/// Accounts newest first, and how many match in all.
pub fn list(conn: &Connection, q: &MemberQuery) -> Result<(Vec<User>, u64), AccountsError> {
    let search = q
        .search
        .as_deref()
        .map(|s| crate::db::escape_like(&s.trim().to_lowercase()));
    let role = q.role.map(Role::as_str);
    const FILTER: &str = "(?1 IS NULL OR email_key LIKE ?1 || '%' ESCAPE '\\'
            OR lower(display_name) LIKE '%' || ?1 || '%' ESCAPE '\\')
        AND (?2 IS NULL OR role = ?2)";
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM users WHERE {FILTER} ORDER BY created_at DESC, id DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let users = stmt
        .query_map(params![search, role, q.limit, q.offset], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM users WHERE {FILTER}"),
        params![search, role],
        |r| r.get(0),
    )?;
    Ok((users, total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_hold_no_hidden_characters() {
        assert!(display_name_ok("Zoë Ngọc Ånström"));
        assert!(display_name_ok("مريم"));
        for bad in [
            "bob\u{200B}",
            "\u{202E}kcir",
            "a\u{FEFF}",
            "tab\there",
            "bob\u{E0041}",
            "b\u{E0100}",
            "x\u{1D173}",
            "\u{2800}",
        ] {
            assert!(!display_name_ok(bad), "{bad:?} accepted");
        }
        assert!(!display_name_ok(&"n".repeat(MAX_DISPLAY_NAME + 1)));
    }

    use crate::accounts::test_db as db;

    #[test]
    fn email_is_unique_whatever_its_case() {
        let (_d, db) = db();
        let ann = Email::parse("Ann@Example.com").unwrap();
        let id = db
            .write_blocking(|tx| {
                create(
                    tx,
                    &NewUser {
                        email: &ann,
                        display_name: "Ann",
                        role: Role::Owner,
                        password_hash: Some("h"),
                    },
                    5,
                )
            })
            .unwrap();
        let again = Email::parse("ANN@example.COM").unwrap();
        let err = db
            .write_blocking(|tx| {
                create(
                    tx,
                    &NewUser {
                        email: &again,
                        display_name: "",
                        role: Role::Viewer,
                        password_hash: None,
                    },
                    6,
                )
            })
            .unwrap_err();
        assert!(matches!(err, AccountsError::EmailTaken(_)), "{err}");
        let found = db
            .read_blocking(|c| find_by_email(c, "ann@example.com"))
            .unwrap()
            .unwrap();
        assert_eq!(found.id, id);
        assert_eq!(found.email, "Ann@example.com");
        assert_eq!(found.role, Role::Owner);
        assert!(db.read_blocking(owner_exists).unwrap());
    }

    #[test]
    fn display_name_rules() {
        let (_d, db) = db();
        let e = Email::parse("b@example.com").unwrap();
        for bad in ["a\u{7}b".to_string(), "x".repeat(101)] {
            let r = db.write_blocking(|tx| {
                create(
                    tx,
                    &NewUser {
                        email: &e,
                        display_name: &bad,
                        role: Role::Viewer,
                        password_hash: None,
                    },
                    1,
                )
            });
            assert!(r.is_err());
        }
        assert!(!db.read_blocking(owner_exists).unwrap());
    }
}

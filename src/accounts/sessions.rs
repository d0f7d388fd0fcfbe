//! Signed-in browsers. The cookie holds a `Secret`; the row holds its hash, when it was
//! made and last seen, and from what device and address. A session ends when idle too
//! long, when too old whatever its use, at sign-out, or when its account is disabled.

use rusqlite::{Connection, OptionalExtension, params};

use super::AccountsError;
use super::secret::Secret;
use super::users::{self, User, UserId};

/// The session cookie's name. Under TLS the `__Host-` prefix makes the browser refuse the
/// cookie unless it is `Secure`, has `Path=/` and no `Domain`: no other host (a subdomain,
/// or plain HTTP) can plant or overwrite it.
pub const SESSION_COOKIE_TLS: &str = "__Host-marquee_session";
pub const SESSION_COOKIE_PLAIN: &str = "marquee_session";

#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Ends a session not used for this long.
    pub idle_secs: i64,
    /// Ends a session this long after sign-in, used or not.
    pub absolute_secs: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_secs: 14 * 24 * 3600,
            absolute_secs: 90 * 24 * 3600,
        }
    }
}

/// `last_seen_at` is written at most this often, so reading pages is not a write each.
const TOUCH_EVERY_SECS: i64 = 60;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user: User,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub device: String,
    pub ip: String,
}

impl Session {
    pub fn needs_touch(&self, now: i64) -> bool {
        now - self.last_seen_at >= TOUCH_EVERY_SECS
    }
}

/// One of a user's sessions, as the account page lists them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionSummary {
    pub id: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub device: String,
    pub ip: String,
}

pub fn create(
    conn: &Connection,
    secret: &Secret,
    user: UserId,
    device: &str,
    ip: &str,
    now: i64,
) -> Result<(), AccountsError> {
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, device, ip)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
        params![secret.stored_hash(), user.0, now, device, ip],
    )?;
    Ok(())
}

/// The live session behind a cookie's secret; `None` when unknown, expired, or its account
/// is disabled.
pub fn find(
    conn: &Connection,
    secret: &Secret,
    policy: &SessionPolicy,
    now: i64,
) -> Result<Option<Session>, AccountsError> {
    let row: Option<(i64, i64, i64, i64, String, String)> = conn
        .query_row(
            "SELECT id, user_id, created_at, last_seen_at, device, ip FROM sessions
             WHERE token_hash = ?1",
            [secret.stored_hash()],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let Some((id, user_id, created_at, last_seen_at, device, ip)) = row else {
        return Ok(None);
    };
    if now - last_seen_at > policy.idle_secs || now - created_at > policy.absolute_secs {
        return Ok(None);
    }
    let Some(user) = users::get(conn, UserId(user_id))?.filter(|u| !u.disabled) else {
        return Ok(None);
    };
    Ok(Some(Session {
        id,
        user,
        created_at,
        last_seen_at,
        device,
        ip,
    }))
}

pub fn touch(conn: &Connection, id: i64, now: i64) -> Result<(), AccountsError> {
    conn.execute(
        "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// Signs out the browser holding `secret`.
pub fn end(conn: &Connection, secret: &Secret) -> Result<(), AccountsError> {
    conn.execute(
        "DELETE FROM sessions WHERE token_hash = ?1",
        [secret.stored_hash()],
    )?;
    Ok(())
}

/// Ends every session of `user` and nothing else: its emailed links stay usable (a
/// purchase attached to an unproven account signs its browsers out, while the address's
/// owner still signs in by link).
pub fn end_sessions(conn: &Connection, user: UserId) -> Result<usize, AccountsError> {
    Ok(conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user.0])?)
}

/// "Sign out everywhere": ends every session of the user, voids the emailed links still
/// out for the account (`tokens::void_for_user`) and forgets its device cookies
/// (`devices::forget_all`) — every caller (password reset, disable, sign out everywhere)
/// means "nothing signs in as this account any more", and no browser keeps the standing
/// of the account's own device past that.
pub fn end_all(conn: &Connection, user: UserId) -> Result<usize, AccountsError> {
    super::tokens::void_for_user(conn, user)?;
    super::devices::forget_all(conn, user)?;
    Ok(conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user.0])?)
}

/// The user's live sessions, most recently used first.
pub fn list(
    conn: &Connection,
    user: UserId,
    policy: &SessionPolicy,
    now: i64,
) -> Result<Vec<SessionSummary>, AccountsError> {
    let mut stmt = conn.prepare(
        "SELECT id, created_at, last_seen_at, device, ip FROM sessions
         WHERE user_id = ?1 AND last_seen_at >= ?2 AND created_at >= ?3
         ORDER BY last_seen_at DESC, id DESC",
    )?;
    let rows = stmt.query_map(
        params![user.0, now - policy.idle_secs, now - policy.absolute_secs],
        |r| {
            Ok(SessionSummary {
                id: r.get(0)?,
                created_at: r.get(1)?,
                last_seen_at: r.get(2)?,
                device: r.get(3)?,
                ip: r.get(4)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Drops sessions past either expiry; sign-in calls it, so the table does not grow.
pub fn purge_expired(
    conn: &Connection,
    policy: &SessionPolicy,
    now: i64,
) -> Result<usize, AccountsError> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE last_seen_at < ?1 OR created_at < ?2",
        params![now - policy.idle_secs, now - policy.absolute_secs],
    )?)
}

/// A short, safe description of a browser from its User-Agent ("Firefox on Linux"): the
/// header is the client's to choose, so only known words come out of it.
pub fn device_summary(user_agent: &str) -> String {
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: &[(&str, &str)] = &[
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let pick = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(needle, _)| user_agent.contains(needle))
            .map(|(_, name)| *name)
    };
    match (pick(BROWSERS), pick(SYSTEMS)) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_string(),
        (None, Some(s)) => format!("a browser on {s}"),
        (None, None) => "an unknown device".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::email::Email;
    use crate::accounts::roles::Role;
    use crate::accounts::users::NewUser;
    use crate::db::Db;

    fn user(db: &Db, email: &str) -> UserId {
        let e = Email::parse(email).unwrap();
        db.write_blocking(|tx| {
            users::create(
                tx,
                &NewUser {
                    email: &e,
                    display_name: "",
                    role: Role::Editor,
                    password_hash: None,
                },
                0,
            )
        })
        .unwrap()
    }

    fn setup() -> (tempfile::TempDir, Db, UserId) {
        let (dir, db) = crate::accounts::test_db();
        let id = user(&db, "a@example.com");
        (dir, db, id)
    }

    const POLICY: SessionPolicy = SessionPolicy {
        idle_secs: 100,
        absolute_secs: 1000,
    };

    #[test]
    fn idle_and_absolute_expiry() {
        let (_d, db, uid) = setup();
        let s = Secret::from_bytes([1; 32]);
        db.write_blocking(|tx| create(tx, &s, uid, "Firefox on Linux", "127.0.0.1", 0))
            .unwrap();
        let find_at = |now| db.read_blocking(|c| find(c, &s, &POLICY, now)).unwrap();
        assert_eq!(find_at(100).unwrap().user.id, uid);
        assert!(find_at(101).is_none(), "idle past the limit");
        // Used regularly, it still ends at the absolute limit.
        for now in (90..=990).step_by(90) {
            assert!(find_at(now).is_some());
            db.write_blocking(|tx| touch(tx, 1, now)).unwrap();
        }
        assert!(find_at(1001).is_none(), "older than the absolute limit");
        assert!(
            db.read_blocking(|c| find(c, &Secret::from_bytes([2; 32]), &POLICY, 0))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn sign_out_here_and_everywhere() {
        let (_d, db, uid) = setup();
        let other = user(&db, "b@example.com");
        let (a, b, c) = (
            Secret::from_bytes([1; 32]),
            Secret::from_bytes([2; 32]),
            Secret::from_bytes([3; 32]),
        );
        db.write_blocking(|tx| {
            create(tx, &a, uid, "x", "1", 0)?;
            create(tx, &b, uid, "y", "2", 5)?;
            create(tx, &c, other, "z", "3", 0)
        })
        .unwrap();
        let listed = db.read_blocking(|cn| list(cn, uid, &POLICY, 10)).unwrap();
        assert_eq!(
            listed.iter().map(|s| s.device.as_str()).collect::<Vec<_>>(),
            ["y", "x"]
        );
        db.write_blocking(|tx| end(tx, &a)).unwrap();
        assert!(
            db.read_blocking(|cn| find(cn, &a, &POLICY, 10))
                .unwrap()
                .is_none()
        );
        assert!(
            db.read_blocking(|cn| find(cn, &b, &POLICY, 10))
                .unwrap()
                .is_some()
        );
        assert_eq!(db.write_blocking(|tx| end_all(tx, uid)).unwrap(), 1);
        assert!(
            db.read_blocking(|cn| find(cn, &b, &POLICY, 10))
                .unwrap()
                .is_none()
        );
        // Another user's session is untouched.
        assert!(
            db.read_blocking(|cn| find(cn, &c, &POLICY, 10))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn disabled_account_has_no_session() {
        let (_d, db, uid) = setup();
        let s = Secret::from_bytes([1; 32]);
        db.write_blocking(|tx| create(tx, &s, uid, "", "", 0))
            .unwrap();
        db.write_blocking(|tx| {
            tx.execute("UPDATE users SET disabled_at = 1", [])
                .map_err(AccountsError::from)
        })
        .unwrap();
        assert!(
            db.read_blocking(|c| find(c, &s, &POLICY, 1))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn device_summary_names_known_words_only() {
        assert_eq!(
            device_summary(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            ),
            "Firefox on Linux"
        );
        assert_eq!(
            device_summary("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"),
            "Safari on iOS"
        );
        assert_eq!(
            device_summary("<script>alert(1)</script>"),
            "an unknown device"
        );
    }
}

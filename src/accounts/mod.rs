//! Who may use Marquee: people with accounts (email + password, sessions, roles) and API
//! keys. Nothing here knows about HTTP; time and randomness come in as parameters.

pub mod apikeys;
pub mod challenge;
pub mod devices;
pub mod email;
pub mod invites;
pub mod magic_link;
pub mod members;
pub mod passwords;
pub mod profile;
pub mod recovery;
pub mod roles;
pub mod secret;
pub mod sessions;
pub mod setup;
pub mod signin;
pub mod signup;
pub mod throttle;
pub mod tokens;
pub mod users;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Invalid(String),
    #[error("an account with the email {0} already exists")]
    EmailTaken(String),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("this link is unknown, expired or already used")]
    LinkNotValid,
    /// A rule forbids it (a role may not grant owner, nobody deletes themselves, …).
    #[error("{0}")]
    NotAllowed(String),
    #[error("no member with id {0}")]
    NoSuchMember(i64),
    #[error("no open invitation with id {0}")]
    NoSuchInvite(i64),
    #[error("no active API key with id {0}")]
    NoSuchKey(i64),
}

impl From<rusqlite::Error> for AccountsError {
    fn from(e: rusqlite::Error) -> Self {
        AccountsError::Db(DbError::Sqlite(e))
    }
}

/// The periodic upkeep of account tables: spent links of every kind, expired sessions,
/// past mail budgets and forgotten throttle rows go. Returns how many rows went.
pub fn upkeep(
    conn: &rusqlite::Connection,
    policies: &Policies,
    now: i64,
) -> Result<usize, AccountsError> {
    Ok(tokens::purge_spent(conn, now)?
        + signup::purge_spent(conn, now)?
        + sessions::purge_expired(conn, &policies.sessions, now)?
        + throttle::purge(conn, &policies.throttle, now)?)
}

/// A fresh database in a temporary folder, for the unit tests of this module.
#[cfg(test)]
pub(crate) fn test_db() -> (tempfile::TempDir, crate::db::Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = crate::db::Db::open(&dir.path().join("t.db")).expect("open db");
    (dir, db)
}

/// How long sessions last and how sign-in is throttled, as the server runs them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policies {
    pub sessions: sessions::SessionPolicy,
    pub throttle: throttle::ThrottlePolicy,
    pub magic_link: magic_link::MagicLinkPolicy,
}

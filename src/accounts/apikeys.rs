//! API keys: `mq_<prefix>_<secret>`. Only a SHA-256 of the key is stored; keys are long and
//! random, so a slow password hash would add latency to every request and no security.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::AccountsError;
use super::roles::{Permission, Role};
use super::users::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyId(pub i64);

/// What a key may do: every permission (keys from the shell without `--scope`, and keys
/// from before scopes existed), or the listed ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scopes {
    All,
    Only(Vec<Permission>),
}

impl Scopes {
    /// From scope names (`assets:read`); an unknown one is refused with the list.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Scopes, AccountsError> {
        let mut granted = Vec::new();
        for name in names {
            let name = name.as_ref().trim();
            let p = Permission::from_scope(name)
                .filter(|p| p.key_grantable())
                .ok_or_else(|| {
                    let known: Vec<&str> = Permission::ALL
                        .iter()
                        .filter(|p| p.key_grantable())
                        .map(|p| p.scope())
                        .collect();
                    AccountsError::Invalid(format!(
                        "unknown scope {name:?}; scopes are {}",
                        known.join(", ")
                    ))
                })?;
            if !granted.contains(&p) {
                granted.push(p);
            }
        }
        if granted.is_empty() {
            return Err(AccountsError::Invalid(
                "a key needs at least one scope".into(),
            ));
        }
        Ok(Scopes::Only(granted))
    }

    /// Never a permission no key may hold (`Permission::key_grantable`), even for `All`.
    pub fn allows(&self, p: Permission) -> bool {
        if !p.key_grantable() {
            return false;
        }
        match self {
            Scopes::All => true,
            Scopes::Only(list) => list.contains(&p),
        }
    }

    /// The scope names, every one for `All`.
    pub fn names(&self) -> Vec<&'static str> {
        Permission::ALL
            .iter()
            .filter(|p| self.allows(**p))
            .map(|p| p.scope())
            .collect()
    }

    fn stored(&self) -> String {
        match self {
            Scopes::All => "*".into(),
            Scopes::Only(list) => list.iter().map(|p| p.scope()).collect::<Vec<_>>().join(" "),
        }
    }

    fn from_stored(text: &str) -> Scopes {
        if text == "*" {
            return Scopes::All;
        }
        Scopes::Only(
            text.split_whitespace()
                .filter_map(Permission::from_scope)
                .collect(),
        )
    }
}

/// A key that checked out: which one, its name (for the audit log), what it may do, and
/// its owner's role today (a key never reaches further than the person who made it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    pub id: ApiKeyId,
    pub name: String,
    pub scopes: Scopes,
    /// The account it belongs to, and that account's role today.
    pub owner: Option<UserId>,
    pub owner_role: Option<Role>,
    /// When it was last used (to record use at most once a minute).
    pub last_used_at: Option<i64>,
    /// When it stops working (a key it makes stops then too, or sooner).
    pub expires_at: Option<i64>,
}

impl VerifiedKey {
    pub fn may(&self, p: Permission) -> bool {
        self.scopes.allows(p) && self.owner_role.is_none_or(|r| r.may(p))
    }
}

pub struct NewKey<'a> {
    pub name: &'a str,
    pub owner: Option<UserId>,
    pub scopes: Scopes,
    pub expires_at: Option<i64>,
    /// The key that made this one, if a key did.
    pub parent: Option<ApiKeyId>,
}

/// A key as the dashboard and the API list it (never the key itself).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub id: i64,
    pub name: String,
    /// The key's visible start: `mq_<prefix>_…`.
    pub prefix: String,
    pub owner: Option<String>,
    pub scopes: Vec<&'static str>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The id of the key that made this one (revoking that one revokes this one).
    pub parent_id: Option<i64>,
}

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..len)
        .map(|_| ALPHABET[(rand::random::<u32>() as usize) % ALPHABET.len()] as char)
        .collect()
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates a key and returns its id and the key in clear; it is never shown again.
pub fn create(
    conn: &Connection,
    new: &NewKey<'_>,
    now: i64,
) -> Result<(ApiKeyId, String), AccountsError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AccountsError::Invalid(
            "a key needs a name of 1 to 100 characters".into(),
        ));
    }
    if new.expires_at.is_some_and(|t| t <= now) {
        return Err(AccountsError::Invalid(
            "the expiry must be in the future".into(),
        ));
    }
    let prefix = random_token(8);
    let key = format!("mq_{prefix}_{}", random_token(32));
    conn.execute(
        "INSERT INTO api_keys (name, prefix, secret_hash, created_at, user_id, scopes, expires_at,
                               parent_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            name,
            prefix,
            hash(&key),
            now,
            new.owner.map(|u| u.0),
            new.scopes.stored(),
            new.expires_at,
            new.parent.map(|p| p.0)
        ],
    )?;
    Ok((ApiKeyId(conn.last_insert_rowid()), key))
}

/// A lifetime like `30d`, `12h` or `90m`, in seconds.
pub fn parse_lifetime(text: &str) -> Result<i64, AccountsError> {
    let text = text.trim();
    let bad = || AccountsError::Invalid(format!("{text:?} is not a lifetime like 30d, 12h or 90m"));
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit_secs) {
        Some(secs) if n > 0 && secs <= 10 * 366 * 86_400 => Ok(secs),
        _ => Err(bad()),
    }
}

/// `marquee apikey create`: no scopes means every scope (what scripts written before
/// scopes expect); the audit log names the shell. Returns the key in clear.
pub fn create_from_shell(
    conn: &Connection,
    name: &str,
    scopes: &[String],
    expires_in: Option<&str>,
    owner: Option<&str>,
    now: i64,
) -> Result<String, AccountsError> {
    let scopes = if scopes.is_empty() {
        Scopes::All
    } else {
        Scopes::parse(scopes)?
    };
    let expires_at = expires_in.map(parse_lifetime).transpose()?.map(|s| now + s);
    let owner = match owner {
        None => None,
        Some(email) => Some(
            super::users::find_by_email(conn, &super::email::Email::key_of(email))?
                .ok_or_else(|| {
                    AccountsError::Invalid(format!("no account with the email {email}"))
                })?
                .id,
        ),
    };
    let creator = Creator {
        actor: crate::audit::Actor::Shell,
        owner,
        granted: Permission::ALL.to_vec(),
        parent: None,
    };
    Ok(create_by(conn, &creator, name, scopes, expires_at, now)?.1)
}

/// Who creates a key in the dashboard or the API: the audit actor, the account the key
/// will belong to, the permissions the creator has (a key gets no more), and the key
/// that is making it, if a key is.
pub struct Creator {
    pub actor: crate::audit::Actor,
    pub owner: Option<UserId>,
    pub granted: Vec<Permission>,
    pub parent: Option<ParentKey>,
}

/// A key making a key: the child never outlives it, and dies with it.
#[derive(Debug, Clone, Copy)]
pub struct ParentKey {
    pub id: ApiKeyId,
    pub expires_at: Option<i64>,
}

impl From<&VerifiedKey> for ParentKey {
    fn from(key: &VerifiedKey) -> ParentKey {
        ParentKey {
            id: key.id,
            expires_at: key.expires_at,
        }
    }
}

/// The expiry a new key gets: the one asked for, but never later than its parent's (a
/// parent without expiry sets no bound).
pub fn capped_expiry(asked: Option<i64>, parent: Option<&ParentKey>) -> Option<i64> {
    match (asked, parent.and_then(|p| p.expires_at)) {
        (Some(a), Some(p)) => Some(a.min(p)),
        (None, bound) => bound,
        (asked, None) => asked,
    }
}

/// Creates a key for `creator` with `scopes` (which they must have themselves), recorded in
/// the audit log; a key made by a key expires no later than its parent. Returns its
/// listing and the key in clear.
pub fn create_by(
    conn: &Connection,
    creator: &Creator,
    name: &str,
    scopes: Scopes,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(KeyInfo, String), AccountsError> {
    if let Some(p) = Permission::ALL
        .iter()
        .find(|p| scopes.allows(**p) && !creator.granted.contains(p))
    {
        return Err(AccountsError::NotAllowed(format!(
            "you cannot give a key the scope {}: you do not have it",
            p.scope()
        )));
    }
    let expires_at = capped_expiry(expires_at, creator.parent.as_ref());
    let new = NewKey {
        name,
        owner: creator.owner,
        scopes,
        expires_at,
        parent: creator.parent.map(|p| p.id),
    };
    let (id, key) = create(conn, &new, now)?;
    let detail = serde_json::json!({"name": name.trim(), "scopes": new.scopes.names(),
        "expires_at": expires_at, "parent": new.parent.map(|p| p.0)});
    crate::audit::record(
        conn,
        &creator.actor,
        "apikey.create",
        &format!("apikey:{}", id.0),
        detail,
        now,
    )
    .map_err(|e| AccountsError::Invalid(format!("audit log: {e}")))?;
    let info = list(conn)?
        .into_iter()
        .find(|k| k.id == id.0)
        .ok_or_else(|| AccountsError::Invalid("the key vanished".into()))?;
    Ok((info, key))
}

/// Revokes a key and every key it made (theirs too), recorded in the audit log.
pub fn revoke_by(
    conn: &Connection,
    actor: &crate::audit::Actor,
    id: ApiKeyId,
    now: i64,
) -> Result<(), AccountsError> {
    let (name, descendants) = revoke(conn, id, now)?;
    crate::audit::record(
        conn,
        actor,
        "apikey.revoke",
        &format!("apikey:{}", id.0),
        serde_json::json!({"name": name, "also_revoked": descendants}),
        now,
    )
    .map_err(|e| AccountsError::Invalid(format!("audit log: {e}")))
}

/// Checks a presented key; `None` for anything unknown, malformed, revoked, expired, or
/// whose owner is disabled.
pub fn verify(
    conn: &Connection,
    presented: &str,
    now: i64,
) -> Result<Option<VerifiedKey>, AccountsError> {
    let Some(prefix) = presented
        .strip_prefix("mq_")
        .and_then(|rest| rest.split('_').next())
    else {
        return Ok(None);
    };
    type Row = (
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let row: Option<Row> = conn
        .query_row(
            "SELECT k.id, k.secret_hash, k.name, k.scopes, u.role, k.last_used_at, k.user_id,
                    k.expires_at
             FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
             WHERE k.prefix = ?1 AND k.revoked_at IS NULL
               AND (k.expires_at IS NULL OR k.expires_at > ?2)
               AND (k.user_id IS NULL OR u.disabled_at IS NULL)",
            params![prefix, now],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .optional()?;
    Ok(row.and_then(
        |(id, stored, name, scopes, role, last_used_at, owner, expires_at)| {
            let presented_hash = hash(presented);
            // Constant-time comparison of equal-length hex digests.
            let same = stored.len() == presented_hash.len()
                && stored
                    .bytes()
                    .zip(presented_hash.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0;
            same.then(|| VerifiedKey {
                id: ApiKeyId(id),
                name,
                scopes: Scopes::from_stored(&scopes),
                owner: owner.map(UserId),
                owner_role: role.and_then(|r| r.parse().ok()),
                last_used_at,
                expires_at,
            })
        },
    ))
}

/// Records that the key was used now.
pub fn touch(conn: &Connection, id: ApiKeyId, now: i64) -> Result<(), AccountsError> {
    conn.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        params![id.0, now],
    )?;
    Ok(())
}

/// Every key, newest first.
pub fn list(conn: &Connection) -> Result<Vec<KeyInfo>, AccountsError> {
    let mut stmt = conn.prepare(
        "SELECT k.id, k.name, k.prefix, u.email, k.scopes, k.created_at, k.last_used_at,
                k.expires_at, k.revoked_at, k.parent_id
         FROM api_keys k LEFT JOIN users u ON u.id = k.user_id ORDER BY k.id DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(KeyInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            prefix: r.get(2)?,
            owner: r.get(3)?,
            scopes: Scopes::from_stored(&r.get::<_, String>(4)?).names(),
            created_at: r.get(5)?,
            last_used_at: r.get(6)?,
            expires_at: r.get(7)?,
            revoked_at: r.get(8)?,
            parent_id: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes a key at once, and every key it made, theirs, and so on (still live ones);
/// returns its name and the ids of the descendants revoked with it.
pub fn revoke(
    conn: &Connection,
    id: ApiKeyId,
    now: i64,
) -> Result<(String, Vec<i64>), AccountsError> {
    let name: Option<String> = conn
        .query_row(
            "SELECT name FROM api_keys WHERE id = ?1 AND revoked_at IS NULL",
            [id.0],
            |r| r.get(0),
        )
        .optional()?;
    let name = name.ok_or(AccountsError::NoSuchKey(id.0))?;
    // Descendants through revoked keys too: a child's child made before the child was
    // revoked on its own still goes.
    let mut stmt = conn.prepare(
        "WITH RECURSIVE tree (id) AS (
             SELECT id FROM api_keys WHERE parent_id = ?1
             UNION SELECT k.id FROM api_keys k JOIN tree ON k.parent_id = tree.id)
         SELECT k.id FROM api_keys k JOIN tree ON tree.id = k.id
         WHERE k.revoked_at IS NULL ORDER BY k.id",
    )?;
    let descendants = stmt
        .query_map([id.0], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for key in std::iter::once(id.0).chain(descendants.iter().copied()) {
        conn.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1",
            params![key, now],
        )?;
    }
    Ok((name, descendants))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    fn new_key(db: &Db, scopes: Scopes, expires_at: Option<i64>) -> String {
        let new = NewKey {
            name: "ci",
            owner: None,
            scopes,
            expires_at,
            parent: None,
        };
        db.write_blocking(|tx| create(tx, &new, 1)).unwrap().1
    }

    #[test]
    fn created_key_verifies_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let key = new_key(&db, Scopes::All, None);
        assert!(key.starts_with("mq_"));
        let ok = db.read_blocking(|c| verify(c, &key, 2)).unwrap();
        assert!(ok.is_some_and(|k| k.may(Permission::SettingsWrite)));
        let mut wrong = key.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'x' { 'y' } else { 'x' });
        assert!(
            db.read_blocking(|c| verify(c, &wrong, 2))
                .unwrap()
                .is_none()
        );
        assert!(
            db.read_blocking(|c| verify(c, "garbage", 2))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn scopes_limit_a_key_and_expiry_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let scopes = Scopes::parse(&["assets:read", "assets:read"]).unwrap();
        assert_eq!(scopes.names(), ["assets:read"]);
        let key = new_key(&db, scopes, Some(100));
        let found = db.read_blocking(|c| verify(c, &key, 99)).unwrap().unwrap();
        assert!(found.may(Permission::MediaRead));
        assert!(!found.may(Permission::MediaWrite));
        assert!(
            db.read_blocking(|c| verify(c, &key, 100))
                .unwrap()
                .is_none()
        );
        assert!(Scopes::parse(&["assets:delete"]).is_err());
        assert!(Scopes::parse::<&str>(&[]).is_err());
        let listed = db.read_blocking(list).unwrap();
        assert_eq!(listed[0].scopes, ["assets:read"]);
        db.write_blocking(|tx| revoke(tx, ApiKeyId(listed[0].id), 50))
            .unwrap();
        assert!(db.read_blocking(|c| verify(c, &key, 60)).unwrap().is_none());
    }

    fn key_made_by(db: &Db, parent: &str, expires_at: Option<i64>, now: i64) -> String {
        let parent = db
            .read_blocking(|c| verify(c, parent, now))
            .unwrap()
            .unwrap();
        let creator = Creator {
            actor: crate::audit::Actor::ApiKey {
                id: parent.id.0,
                label: parent.name.clone(),
            },
            owner: parent.owner,
            granted: Permission::ALL
                .iter()
                .copied()
                .filter(|p| parent.may(*p))
                .collect(),
            parent: Some(ParentKey::from(&parent)),
        };
        let scopes = Scopes::parse(&["apikeys:write", "assets:read"]).unwrap();
        db.write_blocking(|tx| create_by(tx, &creator, "child", scopes, expires_at, now))
            .unwrap()
            .1
    }

    #[test]
    fn a_key_made_by_a_key_never_outlives_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let parent = new_key(&db, Scopes::All, Some(3_600));
        // Asked for no expiry, or a later one: it ends with its parent.
        let child = key_made_by(&db, &parent, None, 10);
        let grandchild = key_made_by(&db, &child, Some(10 * 366 * 86_400), 20);
        let sooner = key_made_by(&db, &parent, Some(100), 30);
        for key in [&child, &grandchild] {
            let found = db.read_blocking(|c| verify(c, key, 40)).unwrap().unwrap();
            assert_eq!(found.expires_at, Some(3_600));
            assert!(
                db.read_blocking(|c| verify(c, key, 3_600))
                    .unwrap()
                    .is_none()
            );
        }
        let found = db
            .read_blocking(|c| verify(c, &sooner, 40))
            .unwrap()
            .unwrap();
        assert_eq!(found.expires_at, Some(100));
        // A parent without expiry bounds nothing.
        assert_eq!(capped_expiry(Some(5), None), Some(5));
        assert_eq!(capped_expiry(None, None), None);
    }

    #[test]
    fn revoking_a_key_revokes_every_key_it_made() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let parent = new_key(&db, Scopes::All, None);
        let other = new_key(&db, Scopes::All, None);
        let child = key_made_by(&db, &parent, None, 10);
        let grandchild = key_made_by(&db, &child, None, 20);
        let id_of = |key: &str| {
            db.read_blocking(|c| verify(c, key, 30))
                .unwrap()
                .unwrap()
                .id
        };
        let (parent_id, child_id, grandchild_id) =
            (id_of(&parent), id_of(&child), id_of(&grandchild));
        let listed = db.read_blocking(list).unwrap();
        let parent_of = |id: ApiKeyId| listed.iter().find(|k| k.id == id.0).unwrap().parent_id;
        assert_eq!(parent_of(grandchild_id), Some(child_id.0));
        assert_eq!(parent_of(child_id), Some(parent_id.0));
        let (_, also) = db.write_blocking(|tx| revoke(tx, parent_id, 40)).unwrap();
        assert_eq!(also, [child_id.0, grandchild_id.0]);
        for key in [&parent, &child, &grandchild] {
            assert!(db.read_blocking(|c| verify(c, key, 50)).unwrap().is_none());
        }
        assert!(
            db.read_blocking(|c| verify(c, &other, 50))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn no_key_holds_the_owner_only_settings() {
        assert!(!Scopes::All.allows(Permission::SettingsOwner));
        assert!(!Scopes::All.names().contains(&"settings:owner"));
        let refused = Scopes::parse(&["settings:owner"]).unwrap_err().to_string();
        assert!(refused.contains("unknown scope"), "{refused}");
        assert!(!refused.contains("settings:owner;"), "{refused}");
    }
}

//! API keys: `mq_<prefix>_<secret>`. Only a SHA-256 of the key is stored; keys are long and
//! random, so a slow password hash would add latency to every request and no security.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::AccountsError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyId(pub i64);

/// A key that checked out: which one, and its name (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    pub id: ApiKeyId,
    pub name: String,
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

/// Creates a key and returns it in clear; it is never shown again.
pub fn create(conn: &Connection, name: &str, now: i64) -> Result<String, AccountsError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(AccountsError::Invalid(
            "a key needs a name of 1 to 100 characters".into(),
        ));
    }
    let prefix = random_token(8);
    let key = format!("mq_{prefix}_{}", random_token(32));
    conn.execute(
        "INSERT INTO api_keys (name, prefix, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, prefix, hash(&key), now],
    )?;
    Ok(key)
}

/// Checks a presented key; `None` for anything unknown, malformed or revoked.
pub fn verify(conn: &Connection, presented: &str) -> Result<Option<VerifiedKey>, AccountsError> {
    let Some(prefix) = presented
        .strip_prefix("mq_")
        .and_then(|rest| rest.split('_').next())
    else {
        return Ok(None);
    };
    let row: Option<(i64, String, String)> = conn
        .query_row(
            "SELECT id, secret_hash, name FROM api_keys WHERE prefix = ?1 AND revoked_at IS NULL",
            [prefix],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(row.and_then(|(id, stored, name)| {
        let presented_hash = hash(presented);
        // Constant-time comparison of equal-length hex digests.
        let same = stored.len() == presented_hash.len()
            && stored
                .bytes()
                .zip(presented_hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then_some(VerifiedKey {
            id: ApiKeyId(id),
            name,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[test]
    fn created_key_verifies_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let key = db.write_blocking(|tx| create(tx, "ci", 1)).unwrap();
        assert!(key.starts_with("mq_"));
        let ok = db.read_blocking(|c| verify(c, &key)).unwrap();
        assert!(ok.is_some());
        let mut wrong = key.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'x' { 'y' } else { 'x' });
        assert!(db.read_blocking(|c| verify(c, &wrong)).unwrap().is_none());
        assert!(
            db.read_blocking(|c| verify(c, "garbage"))
                .unwrap()
                .is_none()
        );
    }
}

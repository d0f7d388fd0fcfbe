//! The playback key ring in SQLite: made on first start, rotated from the dashboard. The
//! newest unretired key mints; retired keys keep verifying until every token they signed
//! has expired (the longest token lifetime allowed), then they are dropped.

use rusqlite::{Connection, params};

use super::token::KeyRing;
use crate::db::DbError;

/// Retired keys are kept this long: the longest token lifetime a setting allows.
pub const RETIRED_KEEP_SECS: i64 = crate::config::PAYWALL_MAX_TOKEN_TTL_SECS as i64;

fn fresh_secret() -> [u8; 32] {
    rand::random()
}

/// The keys, the one to mint with first; a first key is made when there is none.
pub fn load_or_create(tx: &Connection, now: i64) -> Result<KeyRing, DbError> {
    tx.execute(
        "DELETE FROM playback_keys WHERE retired_at IS NOT NULL AND retired_at < ?1",
        [now - RETIRED_KEEP_SECS],
    )?;
    let count: i64 = tx.query_row(
        "SELECT count(*) FROM playback_keys WHERE retired_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    if count == 0 {
        add_key(tx, now)?;
    }
    let mut stmt = tx.prepare(
        "SELECT id, secret FROM playback_keys
         ORDER BY retired_at IS NOT NULL, created_at DESC, id DESC",
    )?;
    let keys = stmt
        .query_map([], |r| Ok((r.get::<_, u8>(0)?, r.get::<_, Vec<u8>>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let keys: Vec<(u8, [u8; 32])> = keys
        .into_iter()
        .filter_map(|(id, secret)| Some((id, secret.try_into().ok()?)))
        .collect();
    Ok(KeyRing::new(&keys).expect("key ids are a primary key and one key is unretired"))
}

fn add_key(tx: &Connection, now: i64) -> Result<(), DbError> {
    let mut stmt = tx.prepare("SELECT id FROM playback_keys")?;
    let used = stmt
        .query_map([], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    // The lowest free id: with retired keys dropped after a day, 256 never run out.
    let id = (0..=255)
        .find(|id| !used.contains(id))
        .ok_or_else(|| DbError::Sqlite(rusqlite::Error::InvalidQuery))?;
    tx.execute(
        "INSERT INTO playback_keys (id, secret, created_at) VALUES (?1, ?2, ?3)",
        params![id, fresh_secret().to_vec(), now],
    )?;
    Ok(())
}

/// A new key takes over minting; the old ones retire but keep verifying.
pub fn rotate(tx: &Connection, now: i64) -> Result<KeyRing, DbError> {
    tx.execute(
        "UPDATE playback_keys SET retired_at = ?1 WHERE retired_at IS NULL",
        [now],
    )?;
    add_key(tx, now)?;
    load_or_create(tx, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playback::token::ViewerTag;

    #[test]
    fn rotation_keeps_old_tokens_playing_until_the_old_key_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(&tmp.path().join("m.db")).unwrap();
        let now = 1_800_000_000;
        let viewer = ViewerTag::of_session("s");
        let first = db.write_blocking(|tx| load_or_create(tx, now)).unwrap();
        let again = db.write_blocking(|tx| load_or_create(tx, now)).unwrap();
        let token = first.mint("asset", viewer, now + 600);
        assert!(
            again.verify(&token, "asset", Some(viewer), now).is_ok(),
            "the key was kept"
        );

        let rotated = db.write_blocking(|tx| rotate(tx, now + 10)).unwrap();
        let fresh = rotated.mint("asset", viewer, now + 600);
        assert_ne!(fresh[..2], token[..2], "a new key id mints");
        assert!(
            rotated
                .verify(&token, "asset", Some(viewer), now + 20)
                .is_ok()
        );
        assert!(
            first
                .verify(&fresh, "asset", Some(viewer), now + 20)
                .is_err()
        );

        let later = now + 10 + RETIRED_KEEP_SECS + 1;
        let pruned = db.write_blocking(|tx| load_or_create(tx, later)).unwrap();
        let old = first.mint("asset", viewer, later + 600);
        assert!(pruned.verify(&old, "asset", Some(viewer), later).is_err());
        assert!(
            pruned
                .verify(
                    &rotated.mint("asset", viewer, later + 60),
                    "asset",
                    Some(viewer),
                    later
                )
                .is_ok()
        );
    }
}

//! A database with a small catalog and two viewers, and the levels the tests set, for the
//! tests of this module.

use rusqlite::Connection;

use crate::access::level::{AccessLevel, Price};
use crate::db::Db;

/// A movie `m1` (asset `a1`), a series `s1` with season 1 holding episode `e1` (asset
/// `a2`) and a trailer `t1` of the series playing `a3`, all live; viewers 1 and 2; a plan
/// `club`.
pub fn catalog() -> (tempfile::TempDir, Db) {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(&tmp.path().join("marquee.db")).unwrap();
    db.write_blocking(|tx| {
        tx.execute_batch(
            "INSERT INTO users (id, email, email_key, role, created_at)
               VALUES (1, 'a@x', 'a@x', 'viewer', 0), (2, 'b@x', 'b@x', 'viewer', 0);
             INSERT INTO titles (id, kind, name, asset_id, status, live_from, created_at, updated_at)
               VALUES ('m1', 'movie', 'Movie', 'a1', 'published', 0, 0, 0),
                      ('s1', 'series', 'Series', NULL, 'published', 0, 0, 0);
             INSERT INTO titles (id, kind, parent_id, season_number, episode_number, name,
                                 asset_id, status, live_from, created_at, updated_at)
               VALUES ('e1', 'episode', 's1', 1, 1, 'Pilot', 'a2', 'published', 0, 0, 0);
             INSERT INTO titles (id, kind, parent_id, extra_kind, name, asset_id, status,
                                 live_from, created_at, updated_at)
               VALUES ('t1', 'extra', 's1', 'trailer', 'Trailer', 'a3', 'published', 0, 0, 0);
             INSERT INTO seasons (series_id, number) VALUES ('s1', 1);
             INSERT INTO collections (id, name, slug, created_at, updated_at)
               VALUES ('c1', 'Gold', 'gold', 0, 0);
             INSERT INTO plans (id, name, currency, monthly_amount, stream_limit, created_at, updated_at)
               VALUES ('club', 'Club', 'eur', 500, 2, 0, 0);",
        )
        .map_err(crate::db::DbError::from)
    })
    .unwrap();
    (tmp, db)
}

pub fn read<T>(db: &Db, f: impl FnOnce(&Connection) -> T) -> T {
    db.read_blocking(|c| Ok::<_, crate::db::DbError>(f(c)))
        .unwrap()
}

/// Any subscriber's level.
pub fn subscribers() -> AccessLevel {
    AccessLevel::Subscribers { plans: vec![] }
}

/// A rental at 3.99 EUR.
pub fn rent() -> AccessLevel {
    AccessLevel::Purchase {
        rent: Some(Price {
            amount: 399,
            currency: "eur".into(),
        }),
        buy: None,
    }
}

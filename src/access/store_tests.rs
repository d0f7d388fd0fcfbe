//! Levels and holdings read back from SQLite as the engine sees them.

use super::entitlement::{Basis, Decision, GrantScope, Policy, decide};
use super::grants::{self, NewBatch, Scope};
use super::level::AccessLevel;
use super::store;
use super::test_db::{catalog, read, rent, subscribers};
use crate::access::AccessError;

#[test]
fn the_nearest_level_wins_episode_then_season_then_series_then_collection() {
    let (_tmp, db) = catalog();
    let level_of = |id: &str| read(&db, |c| store::title_access(c, id).unwrap().unwrap());
    assert_eq!(
        level_of("e1").level,
        AccessLevel::Public,
        "nothing set: public"
    );
    assert!(read(&db, |c| store::title_access(c, "nope").unwrap()).is_none());

    db.write_blocking(|tx| {
        tx.execute(
            "INSERT INTO collection_items (collection_id, title_id, position) VALUES ('c1', 's1', 0)",
            [],
        )?;
        store::set_collection_level(tx, "c1", Some(&AccessLevel::Registered))
    })
    .unwrap();
    let e1 = level_of("e1");
    assert_eq!(
        (e1.title_id.as_str(), &e1.level),
        ("s1", &AccessLevel::Registered)
    );

    db.write_blocking(|tx| store::set_title_level(tx, "s1", Some(&subscribers()), false, 1))
        .unwrap();
    assert_eq!(
        level_of("e1").level,
        subscribers(),
        "the series beats its collection"
    );

    db.write_blocking(|tx| store::set_season_level(tx, "s1", 1, Some(&rent())))
        .unwrap();
    let e1 = level_of("e1");
    assert_eq!((e1.title_id.as_str(), &e1.level), ("s1/season/1", &rent()));

    db.write_blocking(|tx| store::set_title_level(tx, "e1", Some(&AccessLevel::Public), false, 1))
        .unwrap();
    assert_eq!(
        level_of("e1").level,
        AccessLevel::Public,
        "its own level first"
    );

    // A trailer plays for anyone whatever the series' level; so does a marked preview.
    let t1 = level_of("t1");
    assert_eq!(t1.level, subscribers());
    assert!(t1.free_preview);
    assert!(read(&db, |c| store::asset_is_free(c, "a3").unwrap()));
    db.write_blocking(|tx| store::set_title_level(tx, "m1", Some(&rent()), true, 1))
        .unwrap();
    assert!(read(&db, |c| store::asset_is_free(c, "a1").unwrap()));
    db.write_blocking(|tx| store::set_title_level(tx, "m1", Some(&rent()), false, 1))
        .unwrap();
    assert!(!read(&db, |c| store::asset_is_free(c, "a1").unwrap()));

    // Bad levels and unknown targets change nothing.
    let bad = AccessLevel::Purchase {
        rent: None,
        buy: None,
    };
    let refused = db.write_blocking(|tx| store::set_title_level(tx, "m1", Some(&bad), false, 2));
    assert!(matches!(refused, Err(AccessError::Invalid(_))));
    assert_eq!(level_of("m1").level, rent());
    assert!(matches!(
        db.write_blocking(|tx| store::set_season_level(tx, "s1", 9, None)),
        Err(AccessError::NotFound(_))
    ));
}

#[test]
fn a_rental_starts_at_its_first_play_and_runs_out() {
    let (_tmp, db) = catalog();
    db.write_blocking(|tx| {
        store::set_title_level(tx, "m1", Some(&rent()), false, 0)?;
        tx.execute(
            "INSERT INTO purchases (user_id, kind, target_id, amount, currency, window_secs, created_at)
             VALUES (1, 'rent', 'm1', 399, 'eur', 100, 0)",
            [],
        )?;
        Ok::<_, AccessError>(())
    })
    .unwrap();
    let policy = Policy::default();
    let decide_at = |user: i64, now: i64| {
        read(&db, |c| {
            let title = store::title_access(c, "m1").unwrap().unwrap();
            let viewer = store::viewer_state(c, Some(user), 0).unwrap();
            decide(&title, &viewer, &policy, now)
        })
    };
    assert!(matches!(
        decide_at(1, 1000),
        Decision::Allowed {
            starts_rental: true,
            until: Some(1100),
            ..
        }
    ));
    assert!(
        matches!(decide_at(2, 1000), Decision::Denied { .. }),
        "not Bob's rental"
    );
    db.write_blocking(|tx| store::start_rental(tx, 1, "m1", 1000))
        .unwrap();
    // A second start (another device at the same moment) moves nothing.
    db.write_blocking(|tx| store::start_rental(tx, 1, "m1", 1050))
        .unwrap();
    assert!(matches!(
        decide_at(1, 1099),
        Decision::Allowed {
            starts_rental: false,
            until: Some(1100),
            basis: Basis::Rental
        }
    ));
    assert!(
        matches!(decide_at(1, 1100), Decision::Denied { .. }),
        "the window is over"
    );
}

#[test]
fn codes_redeem_once_per_use_and_plan_codes_add_up() {
    let (_tmp, db) = catalog();
    let batch = |scope: Scope, days: Option<u32>, count: usize, uses: u32| NewBatch {
        name: "Door".into(),
        scope,
        days,
        count,
        uses_per_code: uses,
        expires_at: None,
    };
    let single = db
        .write_blocking(|tx| {
            grants::create_batch(
                tx,
                &batch(Scope::Plan("club".into()), Some(30), 2, 1),
                "ann",
                0,
            )
        })
        .unwrap();
    let codes = read(&db, |c| grants::batch_codes(c, single).unwrap());
    assert_eq!(codes.len(), 2);
    let redeem = |user: i64, code: &str, now: i64| {
        db.write_blocking(|tx| grants::redeem(tx, user, code, now))
    };
    let first = redeem(1, &codes[0].0.to_lowercase(), 100).unwrap();
    assert_eq!(first.until, Some(100 + 30 * 86_400));
    assert!(
        matches!(redeem(2, &codes[0].0, 100), Err(AccessError::Invalid(_))),
        "single use"
    );
    // The second code extends the first rather than overlapping it.
    let second = redeem(1, &codes[1].0, 200).unwrap();
    assert_eq!(second.until, Some(100 + 60 * 86_400));
    let state = read(&db, |c| store::viewer_state(c, Some(1), 0).unwrap());
    assert!(
        state
            .grants
            .iter()
            .any(|g| g.scope == GrantScope::Plan("club".into()))
    );
    assert_eq!(read(&db, |c| grants::batch(c, single).unwrap()).redeemed, 2);

    // A shared code: many people, each once.
    let shared = db
        .write_blocking(|tx| {
            grants::create_batch(tx, &batch(Scope::Title("m1".into()), None, 1, 5), "ann", 0)
        })
        .unwrap();
    let code = read(&db, |c| grants::batch_codes(c, shared).unwrap())[0]
        .0
        .clone();
    assert_eq!(redeem(1, &code, 300).unwrap().until, None);
    assert!(matches!(redeem(1, &code, 300), Err(AccessError::Invalid(m)) if m.contains("already")));
    assert!(redeem(2, &code, 300).is_ok());

    // Typos, unknown codes and bad batches.
    for typed in ["", "not a code", "2222-2222-2222", &"X".repeat(5000)] {
        assert!(
            matches!(redeem(1, typed, 300), Err(AccessError::Invalid(_))),
            "{typed:?}"
        );
    }
    for bad in [
        batch(Scope::Plan("club".into()), None, 1, 1),
        batch(Scope::Plan("club".into()), Some(30), 0, 1),
        batch(Scope::Plan("nope".into()), Some(30), 1, 1),
        batch(Scope::Title("m1".into()), None, grants::MAX_BATCH + 1, 1),
    ] {
        assert!(
            db.write_blocking(|tx| grants::create_batch(tx, &bad, "ann", 0))
                .is_err(),
            "{bad:?}"
        );
    }
    assert_eq!(
        read(&db, |c| grants::batches(c).unwrap()).len(),
        2,
        "refused batches left nothing"
    );

    // An expired batch's codes stop working.
    let expiring = db
        .write_blocking(|tx| {
            let mut b = batch(Scope::Title("m1".into()), None, 1, 1);
            b.expires_at = Some(1000);
            grants::create_batch(tx, &b, "ann", 0)
        })
        .unwrap();
    let code = read(&db, |c| grants::batch_codes(c, expiring).unwrap())[0]
        .0
        .clone();
    assert!(redeem(2, &code, 1000).is_err());
}

#[test]
fn a_title_grant_opens_an_episode_whose_level_comes_from_its_series() {
    let (_tmp, db) = catalog();
    db.write_blocking(|tx| {
        store::set_title_level(tx, "s1", Some(&subscribers()), false, 0)?;
        // Viewer 1: a code for the one episode; viewer 2: for the whole series.
        grants::comp(tx, 1, &Scope::Title("e1".into()), None, "", "test", 0)?;
        grants::comp(tx, 2, &Scope::Title("s1".into()), None, "", "test", 0)?;
        Ok::<_, AccessError>(())
    })
    .unwrap();
    let policy = Policy::default();
    let decide_for = |user: i64, title: &str| {
        read(&db, |c| {
            let access = store::title_access(c, title).unwrap().unwrap();
            let viewer = store::viewer_state(c, Some(user), 0).unwrap();
            decide(&access, &viewer, &policy, 10)
        })
    };
    for (user, title) in [(1, "e1"), (2, "e1"), (2, "s1")] {
        assert!(
            matches!(
                decide_for(user, title),
                Decision::Allowed {
                    basis: Basis::Grant,
                    ..
                }
            ),
            "viewer {user} on {title}"
        );
    }
    assert!(
        matches!(decide_for(1, "s1"), Decision::Denied { .. }),
        "an episode's code does not open the series"
    );
    // A season sold on its own: the series' grant does not open its episodes.
    db.write_blocking(|tx| store::set_season_level(tx, "s1", 1, Some(&rent())))
        .unwrap();
    assert!(
        matches!(decide_for(2, "e1"), Decision::Denied { .. }),
        "a series grant opened a separately priced season"
    );
    assert!(matches!(
        decide_for(1, "e1"),
        Decision::Allowed {
            basis: Basis::Grant,
            ..
        }
    ));
}

#[test]
fn media_is_decided_by_every_paid_title_linking_it_whatever_their_state() {
    let (_tmp, db) = catalog();
    let policy = Policy::default();
    // e1 (under `registered`) is linked to m1's media; m1 is for subscribers and a draft.
    db.write_blocking(|tx| {
        store::set_title_level(tx, "e1", Some(&AccessLevel::Registered), false, 0)?;
        store::set_title_level(tx, "m1", Some(&subscribers()), false, 0)?;
        tx.execute("UPDATE titles SET asset_id = 'a1' WHERE id = 'e1'", [])?;
        tx.execute(
            "UPDATE titles SET status = 'draft', live_from = NULL WHERE id = 'm1'",
            [],
        )?;
        Ok::<_, AccessError>(())
    })
    .unwrap();
    let play = |user: Option<i64>| {
        read(&db, |c| {
            let viewer = store::viewer_state(c, user, 0).unwrap();
            store::decide_play(c, "e1", None, &viewer, &policy, 10)
                .unwrap()
                .unwrap()
        })
    };
    let refused = play(Some(1));
    assert!(
        matches!(&refused.decision, Decision::Denied { .. }),
        "{refused:?}"
    );
    assert_eq!(refused.title.title_id, "m1");
    // A pass asked for other media than the title plays now (an editor changed it after
    // the caller read it) gets no answer at all, rather than this media's answer.
    let viewer = read(&db, |c| store::viewer_state(c, Some(1), 0).unwrap());
    let stale = |asset: &str| {
        read(&db, |c| {
            store::decide_play(c, "e1", Some(asset), &viewer, &policy, 10).unwrap()
        })
    };
    assert!(
        stale("a2").is_none(),
        "decided for media e1 no longer plays"
    );
    assert!(stale("a1").is_some());
    assert!(!read(&db, |c| store::asset_is_free(c, "a1").unwrap()));
    assert!(read(&db, |c| store::asset_has_paid_title(c, "a1").unwrap()));

    // With a plan, both let the viewer in.
    db.write_blocking(|tx| {
        tx.execute(
            "INSERT INTO subscriptions (user_id, plan_id, status, period_end, interval, amount,
                                        currency, source, created_at, updated_at)
             VALUES (1, 'club', 'active', 1000, 'month', 500, 'eur', 'manual', 0, 0)",
            [],
        )
        .map_err(AccessError::from)
    })
    .unwrap();
    assert!(matches!(
        play(Some(1)).decision,
        Decision::Allowed {
            basis: Basis::SignedIn,
            until: Some(1000),
            ..
        }
    ));

    // Once m1 plays other media, a1 is e1's alone.
    db.write_blocking(|tx| {
        tx.execute("UPDATE titles SET asset_id = 'a9' WHERE id = 'm1'", [])
            .map_err(AccessError::from)
    })
    .unwrap();
    assert!(matches!(
        play(Some(2)).decision,
        Decision::Allowed {
            basis: Basis::SignedIn,
            until: None,
            ..
        }
    ));
    // Free titles only: free.
    db.write_blocking(|tx| store::set_title_level(tx, "e1", None, false, 0))
        .unwrap();
    assert!(read(&db, |c| store::asset_is_free(c, "a1").unwrap()));
}

#[test]
fn leveled_memberships_are_the_titles_of_collections_with_a_level_public_included() {
    let (_tmp, db) = catalog();
    db.write_blocking(|tx| {
        tx.execute(
            "INSERT INTO collection_items (collection_id, title_id, position) VALUES ('c1', 'm1', 0)",
            [],
        )?;
        Ok::<_, AccessError>(())
    })
    .unwrap();
    assert!(read(&db, |c| store::leveled_memberships(c).unwrap()).is_empty());
    db.write_blocking(|tx| store::set_collection_level(tx, "c1", Some(&AccessLevel::Public)))
        .unwrap();
    // Public too: an older collection's public level comes before a newer priced one's.
    assert_eq!(
        read(&db, |c| store::leveled_memberships(c).unwrap())
            .into_iter()
            .collect::<Vec<_>>(),
        vec![("c1".to_string(), "m1".to_string())]
    );
    db.write_blocking(|tx| store::set_collection_level(tx, "c1", Some(&subscribers())))
        .unwrap();
    assert_eq!(
        read(&db, |c| store::leveled_memberships(c).unwrap())
            .into_iter()
            .collect::<Vec<_>>(),
        vec![("c1".to_string(), "m1".to_string())]
    );
}

#[test]
fn media_loses_a_guard_when_a_paid_title_lets_it_go_whoever_still_plays_it() {
    let (_tmp, db) = catalog();
    db.write_blocking(|tx| {
        store::set_title_level(tx, "m1", Some(&subscribers()), false, 0)?;
        // e1 (free) plays m1's media too.
        tx.execute("UPDATE titles SET asset_id = 'a1' WHERE id = 'e1'", [])?;
        Ok::<_, AccessError>(())
    })
    .unwrap();
    let assets = vec!["a1".to_string()];
    let guards = || read(&db, |c| store::media_guards(c, &assets).unwrap());
    let before = guards();
    assert_eq!(before["a1"].as_ref().unwrap().len(), 1, "{before:?}");

    // A tighter level elsewhere, or another paid title linking it: no loss.
    db.write_blocking(|tx| store::set_title_level(tx, "e1", Some(&rent()), false, 0))
        .unwrap();
    assert!(!store::guards_loosened(&before, &guards()));
    db.write_blocking(|tx| store::set_title_level(tx, "e1", None, false, 0))
        .unwrap();

    // m1 plays other media: e1 alone plays a1 now, free.
    db.write_blocking(|tx| {
        tx.execute("UPDATE titles SET asset_id = 'a9' WHERE id = 'm1'", [])
            .map_err(AccessError::from)
    })
    .unwrap();
    assert!(store::guards_loosened(&before, &guards()));

    // Nothing plays a1 at all: a free title could link it next, so it is given away too.
    db.write_blocking(|tx| {
        tx.execute("UPDATE titles SET asset_id = NULL WHERE id = 'e1'", [])
            .map_err(AccessError::from)
    })
    .unwrap();
    assert_eq!(guards()["a1"], None);
    assert!(store::guards_loosened(&before, &guards()));
    // Media only a free title plays loses nothing when that title lets it go.
    db.write_blocking(|tx| {
        tx.execute("UPDATE titles SET asset_id = 'a1' WHERE id = 'e1'", [])
            .map_err(AccessError::from)
    })
    .unwrap();
    let free_only = guards();
    assert_eq!(free_only["a1"], Some(Default::default()));
    db.write_blocking(|tx| {
        tx.execute("UPDATE titles SET asset_id = NULL WHERE id = 'e1'", [])
            .map_err(AccessError::from)
    })
    .unwrap();
    assert!(!store::guards_loosened(&free_only, &guards()));
}

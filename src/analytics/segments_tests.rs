//! Segments against a main database and an events file made here: each condition alone,
//! and the seed-000 cohort (watching dropped, renewal within 21 days) as their conjunction.

use rusqlite::{Connection, params};

use super::*;

const NOW: i64 = 1_790_000_000;

struct Dbs {
    _tmp: tempfile::TempDir,
    main: Connection,
    events: Connection,
}

fn dbs() -> Dbs {
    let tmp = tempfile::tempdir().unwrap();
    let main_path = tmp.path().join("marquee.db");
    drop(crate::db::Db::open(&main_path).unwrap());
    let main = Connection::open(&main_path).unwrap();
    let events = crate::analytics::recorder::open_events_db(&tmp.path().join("events.db")).unwrap();
    main.execute_batch(
        "INSERT INTO plans (id, name, currency, monthly_amount, created_at, updated_at)
           VALUES ('club', 'Club', 'eur', 800, 0, 0), ('gold', 'Gold', 'eur', 1500, 0, 0);
         INSERT INTO genres (id, name, slug) VALUES (1, 'Drama', 'drama');
         INSERT INTO titles (id, kind, name, status, live_from, created_at, updated_at)
           VALUES ('m1', 'movie', 'M1', 'published', 0, 0, 0), ('s1', 'series', 'S1', 'published', 0, 0, 0);
         INSERT INTO titles (id, kind, parent_id, season_number, episode_number, name, status,
                             live_from, created_at, updated_at)
           VALUES ('e1', 'episode', 's1', 1, 1, 'E1', 'published', 0, 0, 0);
         INSERT INTO seasons (series_id, number) VALUES ('s1', 1);
         INSERT INTO title_genres (title_id, genre_id) VALUES ('s1', 1);",
    )
    .unwrap();
    for id in 1..=7 {
        main.execute(
            "INSERT INTO users (id, email, email_key, display_name, role, created_at)
             VALUES (?1, ?2, ?2, ?3, ?4, ?5)",
            params![
                id,
                format!("u{id}@x"),
                format!("User {id}"),
                if id == 7 { "editor" } else { "viewer" },
                NOW - id * DAY
            ],
        )
        .unwrap();
    }
    Dbs {
        _tmp: tmp,
        main,
        events,
    }
}

fn subscribe(d: &Dbs, user: i64, plan: &str, status: &str, ends_in_days: i64) {
    d.main
        .execute(
            "INSERT INTO subscriptions (user_id, plan_id, status, past_due_since, period_end,
                                        interval, amount, currency, source, trial_end,
                                        created_at, updated_at)
             VALUES (?1, ?2, ?3, CASE ?3 WHEN 'past_due' THEN ?5 END, ?4, 'month', 800, 'eur',
                     'manual', CASE ?3 WHEN 'trialing' THEN ?4 END, ?5, ?5)",
            params![
                user,
                plan,
                status,
                NOW + ends_in_days * DAY,
                NOW - 100 * DAY
            ],
        )
        .unwrap();
}

/// `per_day` heartbeats a day for `days` days ending `ago` days before today.
fn watched(d: &Dbs, user: i64, per_day: i64, days: i64, ago: i64) {
    let today = NOW / DAY * DAY;
    for n in 0..days {
        d.events
            .execute(
                "INSERT INTO viewer_daily (day, viewer, plays, heartbeats, completes)
                 VALUES (?1, ?2, 1, ?3, 0)",
                params![today - (ago + n) * DAY, user, per_day],
            )
            .unwrap();
    }
    d.events
        .execute(
            "INSERT OR REPLACE INTO viewer_last (viewer, last_at) VALUES (?1, ?2)",
            params![user, today - ago * DAY + 3600],
        )
        .unwrap();
}

fn run(d: &Dbs, conditions: Vec<Condition>) -> Vec<i64> {
    evaluate(&d.main, Some(&d.events), &Filter { conditions }, NOW).unwrap()
}

#[test]
fn each_condition_and_the_at_risk_cohort() {
    let d = dbs();
    // 1: renewing in 10 days, watching dropped from 20 a day to 2.
    subscribe(&d, 1, "club", "active", 10);
    watched(&d, 1, 20, 28, 14);
    watched(&d, 1, 2, 14, 0);
    // 2: dropped too, but renews in 40 days.
    subscribe(&d, 2, "club", "active", 40);
    watched(&d, 2, 20, 28, 14);
    watched(&d, 2, 1, 14, 0);
    // 3: renewing in 10 days, steady; finished two titles, one of them a Drama episode.
    subscribe(&d, 3, "gold", "active", 10);
    watched(&d, 3, 10, 42, 0);
    d.events
        .execute_batch(
            "INSERT INTO viewer_titles VALUES (3, 'e1', 1, 10, 1, 0), (3, 'm1', 1, 10, 1, 0),
                                              (1, 'm1', 1, 10, 0, 0);",
        )
        .unwrap();
    // 4: a trial ending in 3 days. 5: a failed payment. 6: nothing, never played.
    subscribe(&d, 4, "club", "trialing", 3);
    subscribe(&d, 5, "club", "past_due", 5);

    let cohort = run(
        &d,
        vec![
            Condition::WatchChange {
                days: 14,
                previous_days: 28,
                percent: -50,
            },
            Condition::RenewalWithin { days: 21 },
        ],
    );
    assert_eq!(cohort, [1], "dropped and renewing soon");
    assert_eq!(
        run(
            &d,
            vec![Condition::WatchChange {
                days: 14,
                previous_days: 28,
                percent: -50
            }]
        ),
        [1, 2]
    );
    assert_eq!(
        run(&d, vec![Condition::RenewalWithin { days: 21 }]),
        [1, 3, 4, 5]
    );
    assert_eq!(run(&d, vec![Condition::TrialEndingWithin { days: 7 }]), [4]);
    assert_eq!(run(&d, vec![Condition::PaymentFailed {}]), [5]);
    assert_eq!(
        run(
            &d,
            vec![Condition::Plan {
                plan: Some("club".into()),
                statuses: vec!["active".into()]
            }]
        ),
        [1, 2]
    );
    assert_eq!(
        run(
            &d,
            vec![Condition::Plan {
                plan: None,
                statuses: vec!["none".into()]
            }]
        ),
        [6],
        "the editor is not a member"
    );
    assert_eq!(run(&d, vec![Condition::NotSeenFor { days: 30 }]), [4, 5, 6]);
    assert_eq!(run(&d, vec![Condition::SeenWithin { days: 2 }]), [1, 2, 3]);
    assert_eq!(
        run(
            &d,
            vec![Condition::Genres {
                genres: vec!["drama".into()]
            }]
        ),
        [3],
        "an episode counts for its series' genre"
    );
    assert_eq!(run(&d, vec![Condition::Finished { at_least: 2 }]), [3]);
    assert_eq!(
        run(
            &d,
            vec![Condition::SignedUp {
                from: NOW - 3 * DAY,
                to: NOW
            }]
        ),
        [1, 2, 3]
    );
    assert_eq!(run(&d, vec![]).len(), 6, "no condition: every member");

    // Set to cancel: not renewing. Lapsed: an ended subscription and no current one (user
    // 2's old ended one does not make them lapsed while they pay).
    d.main
        .execute_batch(&format!(
            "UPDATE subscriptions SET cancel_at_period_end = 1 WHERE user_id = 3;
             INSERT INTO subscriptions (user_id, plan_id, status, period_end, interval, amount,
                                        currency, source, created_at, updated_at)
             VALUES (6, 'club', 'ended', {e}, 'month', 800, 'eur', 'manual', {e}, {e}),
                    (2, 'club', 'ended', {e}, 'month', 800, 'eur', 'manual', {e}, {e});",
            e = NOW - 50 * DAY
        ))
        .unwrap();
    assert_eq!(
        run(&d, vec![Condition::RenewalWithin { days: 21 }]),
        [1, 4, 5]
    );
    assert_eq!(
        run(
            &d,
            vec![Condition::Plan {
                plan: None,
                statuses: vec!["ended".into()]
            }]
        ),
        [6]
    );

    let preview = preview(&d.main, &d.events, &cohort, 20, NOW).unwrap();
    assert_eq!(preview[0].email, "u1@x");
    assert_eq!(preview[0].plan.as_deref(), Some("Club"));
    assert!(preview[0].last_played.is_some());
}

#[test]
fn bad_filters_are_refused_and_segments_are_saved() {
    let d = dbs();
    for bad in [
        r#"{"conditions": [{"kind": "renewal_within", "days": 0}]}"#,
        r#"{"conditions": [{"kind": "plan", "statuses": ["gold"]}]}"#,
        r#"{"conditions": [{"kind": "watch_change", "days": 14, "previous_days": 28, "percent": -500}]}"#,
        r#"{"conditions": [{"kind": "teleport"}]}"#,
        r#"{"conditions": [{"kind": "payment_failed", "x": 1}]}"#,
    ] {
        let parsed: Result<Filter, _> = serde_json::from_str(bad);
        assert!(parsed.map_or(true, |f| f.check().is_err()), "{bad}");
    }
    let filter = Filter {
        conditions: vec![Condition::PaymentFailed {}],
    };
    let id = save(&d.main, None, "  Failed payments ", &filter, NOW).unwrap();
    assert!(save(&d.main, None, " ", &filter, NOW).is_err());
    let saved = get(&d.main, id).unwrap().unwrap();
    assert_eq!(
        (saved.name.as_str(), &saved.filter),
        ("Failed payments", &filter)
    );
    assert_eq!(list(&d.main).unwrap().len(), 1);
    assert!(delete(&d.main, id).unwrap());
    assert!(get(&d.main, id).unwrap().is_none());
}

//! The rollups against a direct computation over a generated dataset: the sums are made
//! here in Rust from the events as generated, not with the rollup's SQL.

use std::collections::BTreeMap;
use std::time::Duration;

use rusqlite::Connection;

use super::*;
use crate::analytics::beacon::EventKind;
use crate::analytics::recorder::{Client, RawEvent, Recorder};

/// A small deterministic generator (no seed file, no flakiness).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

const DAY_MS: i64 = 86_400_000;
const START_MS: i64 = 1_780_000_000_000;

fn generate(n: usize, seed: u64) -> Vec<RawEvent> {
    let mut r = Lcg(seed);
    let clients = [
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; rv:121.0) Gecko/20100101 Firefox/121.0",
    ];
    (0..n)
        .map(|i| {
            let seq = i as u32;
            let height = [0, 360, 720][r.next(3) as usize];
            let ms = r.next(12_000) as u32;
            let event = match r.next(12) {
                10 => EventKind::Visit { n: seq },
                11 => EventKind::Checkout { n: seq },
                0 => EventKind::PlayIntent { n: seq },
                1 => EventKind::FirstFrame { n: seq, ms, height },
                2 => EventKind::Rebuffer { n: seq, ms, height },
                3 => EventKind::Error {
                    n: seq,
                    fatal: r.next(2) == 0,
                    kind: "networkError".into(),
                    details: "fragLoadError".into(),
                    height,
                },
                4 => EventKind::Complete { n: seq },
                5 => EventKind::ExitBeforeStart { n: seq, ms },
                6 => EventKind::PageLoad { n: seq, ms },
                7 => EventKind::Cmcd {
                    n: seq,
                    bitrate: 400_000 + r.next(3) as u32 * 400_000,
                    stalled: r.next(4) == 0,
                    object: "v".into(),
                },
                _ => EventKind::Heartbeat {
                    n: seq,
                    position: r.next(6_000) as f64 / 10.0,
                    height,
                    bitrate: 800_000,
                    duration: [0.0, 300.0, 600.0][r.next(3) as usize],
                },
            };
            RawEvent {
                // Three days, so events fall on both sides of hour and day boundaries.
                at_ms: START_MS + r.next(3 * DAY_MS as u64) as i64,
                session: format!("session{}", r.next(50)),
                user_id: [None, Some(1), Some(2), Some(3)][r.next(4) as usize],
                title_id: format!("t{}", r.next(5)),
                event,
                client: Client::from_user_agent(clients[r.next(3) as usize]),
            }
        })
        .collect()
}

type Key = (i64, String, i64, String, String);

/// Every measure of `rollup_daily`, summed here from the generated events.
fn direct_daily(events: &[RawEvent]) -> BTreeMap<Key, BTreeMap<String, i64>> {
    let mut out: BTreeMap<Key, BTreeMap<String, i64>> = BTreeMap::new();
    for e in events {
        let height = match &e.event {
            EventKind::FirstFrame { height, .. }
            | EventKind::Rebuffer { height, .. }
            | EventKind::Error { height, .. }
            | EventKind::Heartbeat { height, .. } => i64::from(*height),
            _ => 0,
        };
        let key = (
            e.at_ms / DAY_MS * 86_400,
            e.title_id.clone(),
            height,
            e.client.device.to_string(),
            e.client.browser.to_string(),
        );
        let row = out.entry(key).or_default();
        for c in measure_columns() {
            row.entry(c).or_insert(0);
        }
        let mut add = |c: &str, v: i64| *row.get_mut(c).unwrap() += v;
        match &e.event {
            EventKind::PlayIntent { .. } => {
                add("plays", 1);
                add("anonymous_plays", i64::from(e.user_id.is_none()));
            }
            EventKind::Complete { .. } => add("completes", 1),
            EventKind::ExitBeforeStart { .. } => add("exits_before_start", 1),
            EventKind::Error { fatal, .. } => {
                add("errors", 1);
                add("fatal_errors", i64::from(*fatal));
            }
            EventKind::Rebuffer { ms, .. } => {
                add("rebuffers", 1);
                add("rebuffer_ms", i64::from(*ms));
            }
            EventKind::Heartbeat { bitrate, .. } => {
                add("heartbeats", 1);
                add("bitrate_sum", i64::from(*bitrate));
            }
            EventKind::PageLoad { ms, .. } => {
                add("page_loads", 1);
                add("page_load_ms", i64::from(*ms));
            }
            EventKind::FirstFrame { ms, .. } => {
                add("first_frames", 1);
                add("first_frame_ms", i64::from(*ms));
                let bucket = TTFF_BOUNDS_MS
                    .iter()
                    .position(|b| ms <= b)
                    .unwrap_or(TTFF_BOUNDS_MS.len());
                add(&format!("ttff_{bucket}"), 1);
            }
            EventKind::Cmcd {
                bitrate, stalled, ..
            } => {
                add("cmcd_requests", 1);
                add("cmcd_stalls", i64::from(*stalled));
                add("cmcd_bitrate_sum", i64::from(*bitrate));
            }
            EventKind::Visit { .. } => add("visits", 1),
            EventKind::Checkout { .. } => add("checkouts", 1),
            EventKind::Switch { .. } => {}
        }
    }
    out
}

fn read_daily(
    conn: &Connection,
    table: &str,
    bucket: &str,
) -> BTreeMap<Key, BTreeMap<String, i64>> {
    let cols = measure_columns();
    // Hourly rows are summed into days here, so both tables are checked against one sum.
    let sql = format!(
        "SELECT ({bucket} / 86400) * 86400, title_id, height, device, browser, {}
         FROM {table} GROUP BY 1, 2, 3, 4, 5",
        cols.iter()
            .map(|c| format!("sum({c})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let rows = stmt
        .query_map([], |r| {
            let key: Key = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            let mut m = BTreeMap::new();
            for (i, c) in cols.iter().enumerate() {
                m.insert(c.clone(), r.get::<_, i64>(5 + i)?);
            }
            Ok((key, m))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn direct_dropoff(events: &[RawEvent]) -> BTreeMap<(i64, String, i64), i64> {
    let mut out = BTreeMap::new();
    for e in events {
        if let EventKind::Heartbeat {
            position, duration, ..
        } = &e.event
            && *duration > 0.0
        {
            let bucket = ((position * f64::from(DROPOFF_BUCKETS) / duration) as i64)
                .min(i64::from(DROPOFF_BUCKETS) - 1);
            *out.entry((e.at_ms / DAY_MS * 86_400, e.title_id.clone(), bucket))
                .or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn rollups_equal_a_direct_computation_over_the_raw_events() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("events.db");
    let recorder = Recorder::open(&path).unwrap();
    let first = generate(12_000, 7);
    let second = generate(8_000, 11);
    for e in first.iter().cloned() {
        assert!(recorder.record(e));
    }
    assert!(recorder.sync(Duration::from_secs(30)), "rolled up");
    // The rest arrives while rollups are worked off in small steps from another
    // connection, some of them overlapping the writer's own.
    let mut side = crate::analytics::recorder::open_events_db(&path).unwrap();
    for chunk in second.chunks(1_000) {
        for e in chunk.iter().cloned() {
            assert!(recorder.record(e));
        }
        roll_up(&mut side, 777).unwrap();
    }
    assert!(recorder.sync(Duration::from_secs(30)));
    assert_eq!(roll_up(&mut side, i64::MAX).unwrap(), 0, "nothing is left");

    let all: Vec<RawEvent> = first.into_iter().chain(second).collect();
    let expected = direct_daily(&all);
    assert!(expected.len() > 150, "a varied dataset: {}", expected.len());
    let daily = read_daily(&side, "rollup_daily", "day");
    let hourly = read_daily(&side, "rollup_hourly", "hour");
    assert_eq!(daily.len(), expected.len());
    for (key, row) in &expected {
        assert_eq!(daily.get(key), Some(row), "daily {key:?}");
        assert_eq!(hourly.get(key), Some(row), "hourly summed by day {key:?}");
    }
    // The narrow rollups are the same sums without the title, and per title.
    let mut by_site: BTreeMap<(i64, i64, String, String), BTreeMap<String, i64>> = BTreeMap::new();
    let mut by_title: BTreeMap<(i64, String), [i64; 4]> = BTreeMap::new();
    for ((day, title, height, device, browser), row) in &expected {
        let site = by_site
            .entry((*day, *height, device.clone(), browser.clone()))
            .or_default();
        for (c, v) in row {
            *site.entry(c.clone()).or_insert(0) += v;
        }
        let t = by_title.entry((*day, title.clone())).or_default();
        for (i, c) in ["plays", "anonymous_plays", "heartbeats", "completes"]
            .iter()
            .enumerate()
        {
            t[i] += row[*c];
        }
    }
    let cols = measure_columns();
    let stored_site: BTreeMap<(i64, i64, String, String), BTreeMap<String, i64>> = side
        .prepare(&format!(
            "SELECT day, height, device, browser, {} FROM rollup_site_daily",
            cols.join(", ")
        ))
        .unwrap()
        .query_map([], |r| {
            let mut m = BTreeMap::new();
            for (i, c) in cols.iter().enumerate() {
                m.insert(c.clone(), r.get::<_, i64>(4 + i)?);
            }
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), m))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored_site, by_site);
    let stored_title: BTreeMap<(i64, String), [i64; 4]> = side
        .prepare(
            "SELECT day, title_id, plays, anonymous_plays, heartbeats, completes
             FROM rollup_title_daily",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                (r.get(0)?, r.get(1)?),
                [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored_title, by_title);
    let dropoff: BTreeMap<(i64, String, i64), i64> = side
        .prepare("SELECT day, title_id, bucket, heartbeats FROM rollup_dropoff")
        .unwrap()
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(dropoff, direct_dropoff(&all));

    // Per viewer and title: plays, heartbeats, completes and the last event's second.
    let mut direct: BTreeMap<(i64, String), (i64, i64, i64, i64)> = BTreeMap::new();
    for e in &all {
        let Some(viewer) = e.user_id else { continue };
        let (p, h, c) = match e.event {
            EventKind::PlayIntent { .. } => (1, 0, 0),
            EventKind::Heartbeat { .. } => (0, 1, 0),
            EventKind::Complete { .. } => (0, 0, 1),
            _ => continue,
        };
        let row = direct
            .entry((viewer, e.title_id.clone()))
            .or_insert((0, 0, 0, 0));
        *row = (row.0 + p, row.1 + h, row.2 + c, row.3.max(e.at_ms / 1000));
    }
    let stored: BTreeMap<(i64, String), (i64, i64, i64, i64)> = side
        .prepare(
            "SELECT viewer, title_id, plays, heartbeats, completes, last_at FROM viewer_titles",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                (r.get(0)?, r.get(1)?),
                (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored, direct);
    let per_day_heartbeats: i64 = side
        .query_row("SELECT sum(heartbeats) FROM viewer_daily", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        per_day_heartbeats,
        direct.values().map(|v| v.1).sum::<i64>()
    );
    let last: BTreeMap<i64, i64> = side
        .prepare("SELECT viewer, last_at FROM viewer_last")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for ((viewer, _), v) in &direct {
        assert!(last[viewer] >= v.3);
    }
    // Each viewer's first play and first checkout.
    let mut firsts: BTreeMap<i64, (Option<i64>, Option<i64>)> = BTreeMap::new();
    for e in &all {
        let Some(viewer) = e.user_id else { continue };
        let at = e.at_ms / 1000;
        let first = |old: Option<i64>| Some(old.map_or(at, |o| o.min(at)));
        match e.event {
            EventKind::PlayIntent { .. } => {
                let f = firsts.entry(viewer).or_default();
                f.0 = first(f.0);
            }
            EventKind::Checkout { .. } => {
                let f = firsts.entry(viewer).or_default();
                f.1 = first(f.1);
            }
            _ => {}
        }
    }
    let stored: BTreeMap<i64, (Option<i64>, Option<i64>)> = side
        .prepare("SELECT viewer, first_play_at, first_checkout_at FROM viewer_firsts")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored, firsts);

    // Retention drops old raw events, never the rollups, and never an event not yet rolled
    // up (the mark is moved back to pretend the last 100 are not).
    let (total, last): (i64, i64) = side
        .query_row("SELECT count(*), max(id) FROM raw_events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    side.execute("UPDATE rollup_state SET last_event = ?1", [last - 100])
        .unwrap();
    let dropped = drop_raw_before(&mut side, START_MS + 4 * DAY_MS, 3_000).unwrap();
    assert_eq!(dropped, total - 100);
    assert_eq!(read_daily(&side, "rollup_daily", "day"), daily);
    side.execute("UPDATE rollup_state SET last_event = ?1", [last])
        .unwrap();
    recorder.close();
}

#[test]
fn a_version_0_events_file_is_carried_over() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("events.db");
    {
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE raw_events (id INTEGER PRIMARY KEY, at INTEGER NOT NULL,
                 session TEXT NOT NULL, user_id INTEGER, title_id TEXT NOT NULL,
                 kind TEXT NOT NULL, value REAL, height INTEGER, bitrate INTEGER, detail TEXT,
                 device TEXT NOT NULL, browser TEXT NOT NULL);
             CREATE INDEX raw_events_at ON raw_events (at);
             INSERT INTO raw_events VALUES
                 (1, 1000, 's', 4, 't1', 'play_intent', NULL, NULL, NULL, NULL, 'desktop', 'chrome');",
        )
        .unwrap();
    }
    let mut conn = crate::analytics::recorder::open_events_db(&path).unwrap();
    assert_eq!(roll_up(&mut conn, 10).unwrap(), 1);
    let plays: i64 = conn
        .query_row(
            "SELECT sum(plays) FROM viewer_daily WHERE viewer = 4",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(plays, 1);
    // Ids keep growing after the table is emptied.
    conn.execute("DELETE FROM raw_events", []).unwrap();
    conn.execute(
        "INSERT INTO raw_events (at, session, title_id, kind, device, browser)
         VALUES (2000, 's', 't1', 'complete', 'desktop', 'chrome')",
        [],
    )
    .unwrap();
    assert_eq!(conn.last_insert_rowid(), 2);
}

#[test]
fn an_events_file_from_before_the_narrow_rollups_gets_them_filled_from_the_daily_one() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("events.db");
    {
        let mut conn = crate::analytics::recorder::open_events_db(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO raw_events (at, session, user_id, title_id, kind, height, device, browser)
             VALUES (1000, 's', NULL, 't1', 'play_intent', 360, 'tv', 'chrome'),
                    (2000, 's', NULL, 't1', 'complete', 360, 'tv', 'chrome'),
                    (90000000, 'u', 5, 't2', 'play_intent', 720, 'desktop', 'firefox');",
        )
        .unwrap();
        assert_eq!(roll_up(&mut conn, 100).unwrap(), 3);
        // As a file from before them: rolled up, without the narrow tables.
        conn.execute_batch("DROP TABLE rollup_site_daily; DROP TABLE rollup_title_daily;")
            .unwrap();
    }
    let conn = crate::analytics::recorder::open_events_db(&path).unwrap();
    let site: Vec<(i64, i64, String, i64, i64)> = conn
        .prepare("SELECT day, height, device, plays, completes FROM rollup_site_daily ORDER BY 1")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        site,
        vec![
            (0, 360, "tv".into(), 1, 1),
            (86_400, 720, "desktop".into(), 1, 0)
        ]
    );
    let titles: Vec<(String, i64, i64)> = conn
        .prepare("SELECT title_id, plays, anonymous_plays FROM rollup_title_daily ORDER BY 1")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(titles, vec![("t1".into(), 1, 1), ("t2".into(), 1, 0)]);
}

//! The personal rails against a real main database: co-watching worked out from finishes
//! (a series counts through its episodes), kept up incrementally, "because you watched"
//! about the viewer's last finish and leaving out what they finished, trending summed per
//! series, and "new in your genres".

use rusqlite::{Connection, params};

use super::rails::{self, Rail, RailKind};
use super::{progress, recommend};

const DAY: i64 = 86_400;
/// When the recent titles went live.
const T0: i64 = 200 * DAY;

fn db() -> (tempfile::TempDir, Connection) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("marquee.db");
    drop(crate::db::Db::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "INSERT INTO genres (id, name, slug) VALUES (1, 'Drama', 'drama'), (2, 'Comedy', 'comedy');
         INSERT INTO titles (id, kind, name, status, live_from, created_at, updated_at) VALUES
           ('m1', 'movie', 'M1', 'published', {T0}, 0, 0),
           ('m2', 'movie', 'M2', 'published', {T0} + 1, 0, 0),
           ('m3', 'movie', 'M3', 'published', {T0} + 2, 0, 0),
           ('m4', 'movie', 'M4', 'published', {T0} + 3, 0, 0),
           ('m5', 'movie', 'M5', 'published', 1, 0, 0),
           ('m6', 'movie', 'M6', 'published', {T0} + 5, 0, 0),
           ('s1', 'series', 'S1', 'published', {T0} + 4, 0, 0);
         INSERT INTO seasons (series_id, number) VALUES ('s1', 1);
         INSERT INTO titles (id, kind, parent_id, season_number, episode_number, name, status,
                             live_from, created_at, updated_at) VALUES
           ('e1', 'episode', 's1', 1, 1, 'E1', 'published', {T0}, 0, 0),
           ('e2', 'episode', 's1', 1, 2, 'E2', 'published', {T0}, 0, 0);
         INSERT INTO titles (id, kind, parent_id, extra_kind, name, status, live_from,
                             created_at, updated_at)
           VALUES ('x1', 'extra', 'm1', 'trailer', 'Trailer', 'published', {T0}, 0, 0);
         INSERT INTO title_genres (title_id, genre_id) VALUES
           ('m1', 1), ('m2', 1), ('m4', 1), ('m3', 2), ('m5', 2);"
    ))
    .unwrap();
    for id in 1..=5 {
        conn.execute(
            "INSERT INTO users (id, email, email_key, display_name, role, created_at)
             VALUES (?1, ?2, ?2, ?3, 'viewer', 0)",
            params![id, format!("u{id}@x"), format!("User {id}")],
        )
        .unwrap();
    }
    (tmp, conn)
}

fn finish(c: &Connection, user: i64, title: &str, at: i64) {
    progress::save(c, user, title, 100.0, 100.0, at).unwrap();
}

/// Works out again what changed since the mark and moves it, as the refresher does.
fn refresh(c: &Connection) -> Vec<String> {
    let mark = recommend::finished_mark(c).unwrap();
    let (changed, new_mark) = recommend::changed_since(c, mark).unwrap();
    for title in &changed {
        let neighbours = recommend::neighbours_of(c, title).unwrap();
        recommend::keep_neighbours(c, title, &neighbours).unwrap();
    }
    recommend::set_finished_mark(c, new_mark).unwrap();
    changed
}

fn neighbours(c: &Connection, title: &str) -> Vec<(String, i64)> {
    let mut stmt = c
        .prepare(
            "SELECT neighbour_id, viewers FROM co_watched WHERE title_id = ?1
             ORDER BY viewers DESC, neighbour_id",
        )
        .unwrap();
    stmt.query_map([title], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn rail(kind: RailKind, name: &str) -> Rail {
    Rail {
        id: 1,
        position: 0,
        kind,
        name: name.into(),
        source: None,
        max_items: 20,
    }
}

fn shown(c: &Connection, kind: RailKind, user: i64, now: i64) -> (String, Vec<String>) {
    let r = rail(kind, "Because you watched");
    let (name, titles) = if kind.personal() {
        rails::personal(c, &r, user, now).unwrap()
    } else {
        (r.name.clone(), rails::resolve(c, &r, now).unwrap())
    };
    (name, titles.into_iter().map(|t| t.id).collect())
}

fn pairs(list: &[(&str, i64)]) -> Vec<(String, i64)> {
    list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

#[test]
fn co_watching_is_counted_per_finisher_and_kept_up_as_viewers_finish_more() {
    let (_tmp, c) = db();
    let now = T0 + 10 * DAY;
    finish(&c, 1, "m1", now);
    finish(&c, 1, "m2", now);
    finish(&c, 1, "e1", now);
    finish(&c, 2, "m1", now);
    finish(&c, 2, "m2", now);
    finish(&c, 3, "m1", now);
    finish(&c, 3, "m3", now);
    finish(&c, 4, "m3", now + 1);
    finish(&c, 4, "m1", now + 2);
    // Started, not finished: no co-watching.
    progress::save(&c, 5, "m1", 30.0, 100.0, now).unwrap();
    progress::save(&c, 5, "m4", 30.0, 100.0, now).unwrap();

    let changed = refresh(&c);
    assert_eq!(
        changed,
        vec!["m1", "m2", "m3", "s1"],
        "every finished title"
    );
    // m1's four finishers: two finished m2, two m3 (one of them the viewer), one an
    // episode of s1.
    assert_eq!(
        neighbours(&c, "m1"),
        pairs(&[("m2", 2), ("m3", 2), ("s1", 1)])
    );
    assert_eq!(neighbours(&c, "s1"), pairs(&[("m1", 1), ("m2", 1)]));

    // Nothing finished since: nothing to work out (the last second is looked at again).
    let again = recommend::changed_since(&c, recommend::finished_mark(&c).unwrap()).unwrap();
    assert_eq!(again.0, vec!["m1", "m3"], "viewer 4's finishes at the mark");

    // Viewer 2 finishes an episode: s1 and everything viewer 2 finished is worked out
    // again (and viewer 4's, at the mark), nothing else.
    finish(&c, 2, "e2", now + 100);
    let changed = refresh(&c);
    assert_eq!(changed, vec!["m1", "m2", "m3", "s1"]);
    let again = recommend::changed_since(&c, recommend::finished_mark(&c).unwrap()).unwrap();
    assert_eq!(again.0, vec!["m1", "m2", "s1"], "viewer 2's, at the mark");
    assert_eq!(
        neighbours(&c, "m1"),
        pairs(&[("m2", 2), ("m3", 2), ("s1", 2)])
    );

    // Watching m1 again (from the start) keeps it finished.
    progress::save(&c, 2, "m1", 20.0, 100.0, now + 200).unwrap();
    refresh(&c);
    assert_eq!(neighbours(&c, "s1"), pairs(&[("m1", 2), ("m2", 2)]));
}

#[test]
fn personal_rails_are_about_the_viewer_and_trending_sums_a_series_episodes() {
    let (_tmp, c) = db();
    let now = T0 + 10 * DAY;
    finish(&c, 1, "m1", now);
    finish(&c, 1, "m2", now);
    finish(&c, 1, "e1", now);
    finish(&c, 1, "m3", now);
    finish(&c, 2, "m1", now);
    finish(&c, 2, "m2", now);
    finish(&c, 2, "m6", now);
    finish(&c, 4, "m3", now + 1);
    finish(&c, 4, "m1", now + 2);
    // Viewer 3 finished only m4, which nobody else did: no neighbours to speak of.
    finish(&c, 3, "m4", now);
    refresh(&c);
    // The draft m6 is not shown even though it was co-watched.
    c.execute(
        "UPDATE titles SET status = 'draft', live_from = NULL WHERE id = 'm6'",
        [],
    )
    .unwrap();

    // About m1, viewer 4's last finish; m3 they finished is left out.
    assert_eq!(
        shown(&c, RailKind::BecauseYouWatched, 4, now + 3),
        (
            "Because you watched M1".into(),
            vec!["m2".into(), "s1".into()]
        )
    );
    // Viewer 3's finish has no neighbours, and viewer 5 finished nothing: no rail.
    assert!(shown(&c, RailKind::BecauseYouWatched, 3, now).1.is_empty());
    assert!(shown(&c, RailKind::BecauseYouWatched, 5, now).1.is_empty());
    // When m1 is taken down, the rail is about m3, the finish before, without m1.
    c.execute(
        "UPDATE titles SET live_until = ?1 WHERE id = 'm1'",
        [now + 5],
    )
    .unwrap();
    assert_eq!(
        shown(&c, RailKind::BecauseYouWatched, 4, now + 6),
        // One viewer each: the newer first.
        (
            "Because you watched M3".into(),
            vec!["s1".into(), "m2".into()]
        )
    );

    // New in your genres: viewer 4 watched drama (m1) and comedy (m3). m2 and m4 are
    // recent dramas they have not started; m5 (comedy) went live too long ago.
    assert_eq!(
        shown(&c, RailKind::NewInYourGenres, 4, now).1,
        vec!["m4", "m2"]
    );
    // Someone who watched nothing has no genres.
    assert!(shown(&c, RailKind::NewInYourGenres, 5, now).1.is_empty());

    // Trending: an episode's plays count for its series, unknown and extra titles none.
    let plays = pairs(&[
        ("e1", 3),
        ("e2", 4),
        ("m2", 5),
        ("m3", 6),
        ("x1", 50),
        ("gone", 100),
        ("m4", 0),
    ]);
    assert!(recommend::keep_trending(&c, &plays, now).unwrap());
    assert!(
        !recommend::keep_trending(&c, &plays, now + 600).unwrap(),
        "the same list is not written again"
    );
    assert_eq!(
        shown(&c, RailKind::Trending, 0, now).1,
        vec!["s1", "m3", "m2"]
    );
    assert_eq!(recommend::trending_at(&c).unwrap(), now + 600);
}

#[test]
fn because_you_watched_skips_a_finish_whose_neighbours_the_viewer_finished_too() {
    let (_tmp, c) = db();
    let now = T0 + 10 * DAY;
    finish(&c, 1, "m1", now);
    finish(&c, 1, "m2", now);
    finish(&c, 2, "m1", now);
    finish(&c, 2, "m3", now);
    // Viewer 1's last finish is m2, whose only neighbour (m1) they finished: the rail is
    // about m1, showing m3.
    finish(&c, 1, "m2", now + 5);
    refresh(&c);
    assert_eq!(
        shown(&c, RailKind::BecauseYouWatched, 1, now + 6),
        ("Because you watched M1".into(), vec!["m3".into()])
    );
}

/// The end screen's choices: the next live episode (a draft skipped, across seasons), and
/// more like a movie from co-watching, live titles only, without what the viewer finished.
#[test]
fn what_follows_a_title_is_its_next_live_episode_else_live_titles_watched_alongside() {
    let (_tmp, c) = db();
    let now = T0 + 10 * DAY;
    c.execute_batch(&format!(
        "INSERT INTO seasons (series_id, number) VALUES ('s1', 2);
         INSERT INTO titles (id, kind, parent_id, season_number, episode_number, name, status,
                             live_from, created_at, updated_at) VALUES
           ('e3', 'episode', 's1', 2, 1, 'E3', 'published', {T0}, 0, 0),
           ('e4', 'episode', 's1', 1, 3, 'E4', 'draft', NULL, 0, 0);"
    ))
    .unwrap();
    let next = |id: &str| {
        let title = super::titles::get(&c, id).unwrap();
        super::browse::next_episode(&c, &title, now)
            .unwrap()
            .map(|t| t.id)
    };
    assert_eq!(next("e1").as_deref(), Some("e2"));
    assert_eq!(
        next("e2").as_deref(),
        Some("e3"),
        "the draft S1 E3 is skipped"
    );
    assert_eq!(next("e3"), None);
    assert_eq!(next("m1"), None);

    finish(&c, 1, "m1", T0 + 1);
    finish(&c, 1, "m2", T0 + 2);
    finish(&c, 2, "m1", T0 + 3);
    finish(&c, 2, "m3", T0 + 4);
    finish(&c, 3, "m1", T0 + 5);
    finish(&c, 3, "m4", T0 + 6);
    refresh(&c);
    c.execute(
        "UPDATE titles SET status = 'draft', live_from = NULL WHERE id = 'm4'",
        [],
    )
    .unwrap();
    let more = |user: Option<i64>| {
        let mut ids: Vec<String> = recommend::more_like(&c, "m1", user, now, 4)
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(more(None), ["m2", "m3"]);
    assert_eq!(more(Some(1)), ["m3"], "user 1 finished m2");
    // An episode's end without a next one: more like its series (none here).
    let e3 = super::titles::get(&c, "e3").unwrap();
    assert!(
        super::browse::afterwards(&c, &e3, None, now)
            .unwrap()
            .is_none()
    );
    let m1 = super::titles::get(&c, "m1").unwrap();
    assert!(matches!(
        super::browse::afterwards(&c, &m1, None, now).unwrap(),
        Some(super::browse::Afterwards::MoreLikeThis(cards)) if cards.len() == 2
    ));
}

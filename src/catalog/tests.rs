//! The catalog's rules against a real SQLite database: the readiness gate, windows,
//! visibility as media comes and goes, series from sidecars, and search.

use rusqlite::Connection;

use super::publishing::{self, MediaState};
use super::search::{self, Audience};
use super::title_sidecar::{self, TitleSidecar};
use super::titles::{self, Placement, PublishState, TitleFields};
use super::{CatalogError, NewAsset, visibility};
use crate::db::Db;
use crate::media::PackageManifest;

fn db() -> (tempfile::TempDir, Db) {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(&tmp.path().join("marquee.db")).unwrap();
    (tmp, db)
}

fn write<T>(db: &Db, f: impl FnOnce(&Connection) -> Result<T, CatalogError>) -> T {
    db.write_blocking(|c| f(c)).unwrap()
}

fn manifest() -> PackageManifest {
    serde_json::from_value(serde_json::json!({
        "duration_secs": 1.0, "master": "master.m3u8", "video": [], "audio": [],
        "subtitles": [], "poster": null, "thumbnails": null, "files": ["master.m3u8"]
    }))
    .unwrap()
}

fn asset(c: &Connection, id: &str) -> Result<(), CatalogError> {
    super::insert(
        c,
        &NewAsset::for_test(id, format!("/x/{id}.mp4").into()),
        None,
        1,
    )
}

fn ready(c: &Connection, id: &str) -> Result<(), CatalogError> {
    super::mark_ready(c, id, std::path::Path::new("/x"), &manifest(), 1)
}

fn named(name: &str, synopsis: &str) -> TitleFields {
    TitleFields {
        name: Some(name.into()),
        synopsis: Some(synopsis.into()),
        ..TitleFields::default()
    }
}

fn live(db: &Db, id: &str, now: i64) -> bool {
    let id = id.to_string();
    db.read_blocking(move |c| titles::get(c, &id))
        .unwrap()
        .is_live(now)
}

#[test]
fn the_gate_lists_what_is_missing_and_visibility_follows_the_media() {
    let (_tmp, db) = db();
    write(&db, |c| {
        asset(c, "a1")?;
        titles::create(c, "m1", &Placement::Movie, &named("Film", ""), 10)
    });
    let err = write(&db, |c| Ok(publishing::publish(c, "m1", 10).unwrap_err()));
    let CatalogError::NotReady(missing) = err else {
        panic!("{err}")
    };
    assert_eq!(missing, vec!["a synopsis", "media: link a video"]);

    write(&db, |c| {
        let link = TitleFields {
            synopsis: Some("A story.".into()),
            asset_id: Some("a1".into()),
            ..TitleFields::default()
        };
        titles::update(c, "m1", &link, 11)
    });
    let err = write(&db, |c| Ok(publishing::publish(c, "m1", 11).unwrap_err()));
    assert!(err.to_string().contains("still being processed"), "{err}");
    assert!(!live(&db, "m1", 11));

    write(&db, |c| ready(c, "a1"));
    write(&db, |c| publishing::publish(c, "m1", 12).map(|_| ()));
    assert!(live(&db, "m1", 12));
    let until = db
        .read_blocking(|c| visibility::asset_live_until(c, "a1", 12))
        .unwrap();
    assert_eq!(until, Some(None), "the origin may serve a1");

    // Deleting the media hides the title and the dashboard says why.
    write(&db, |c| super::delete(c, "a1"));
    assert!(!live(&db, "m1", 13));
    let state = db
        .read_blocking(|c| publishing::media_state(c, &titles::get(c, "m1")?))
        .unwrap();
    assert_eq!(state, MediaState::Missing);
    assert_eq!(
        db.read_blocking(|c| visibility::asset_live_until(c, "a1", 13))
            .unwrap(),
        None
    );
}

#[test]
fn scheduled_windows_open_and_close_and_unpublish_is_immediate() {
    let (_tmp, db) = db();
    write(&db, |c| {
        asset(c, "a1")?;
        ready(c, "a1")?;
        let fields = TitleFields {
            asset_id: Some("a1".into()),
            publish_at: Some(1_000),
            expire_at: Some(2_000),
            ..named("Premiere", "Tonight.")
        };
        titles::create(c, "m1", &Placement::Movie, &fields, 10)?;
        publishing::publish(c, "m1", 10).map(|_| ())
    });
    assert!(!live(&db, "m1", 999));
    assert!(live(&db, "m1", 1_000));
    assert!(!live(&db, "m1", 2_000));
    assert_eq!(
        db.read_blocking(|c| visibility::asset_live_until(c, "a1", 1_500))
            .unwrap(),
        Some(Some(2_000))
    );
    write(&db, |c| publishing::unpublish(c, "m1", 1_500));
    assert!(!live(&db, "m1", 1_500));
    let bad = TitleFields {
        expire_at: Some(500),
        ..TitleFields::default()
    };
    let err = write(&db, |c| Ok(titles::update(c, "m1", &bad, 1).unwrap_err()));
    assert!(err.to_string().contains("after the publish time"), "{err}");
}

#[test]
fn episodes_from_sidecars_land_in_their_seasons_of_one_series() {
    let (_tmp, db) = db();
    let sidecar = |season, episode, title: &str| TitleSidecar {
        title: Some(title.into()),
        series: Some("The Show".into()),
        season: Some(season),
        episode,
        ..TitleSidecar::default()
    };
    write(&db, |c| {
        for (id, s) in [
            ("a2", sidecar(1, Some(2), "Second")),
            ("a1", sidecar(1, Some(1), "Pilot")),
            ("a3", sidecar(2, Some(1), "Return")),
            ("a4", sidecar(2, None, "Next")),
        ] {
            asset(c, id)?;
            title_sidecar::attach(c, id, "file name", Some(&s), false, 5)?;
        }
        Ok(())
    });
    let series = db
        .read_blocking(|c| titles::series_named(c, "the show"))
        .unwrap()
        .unwrap();
    let episodes = db
        .read_blocking(|c| titles::children(c, &series.id))
        .unwrap();
    let placed: Vec<_> = episodes
        .iter()
        .map(|e| {
            (
                e.season_number.unwrap(),
                e.episode_number.unwrap(),
                e.name.as_str(),
                e.asset_id.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        vec![
            (1, 1, "Pilot", "a1"),
            (1, 2, "Second", "a2"),
            (2, 1, "Return", "a3"),
            (2, 2, "Next", "a4")
        ]
    );
    // Publishing the series waits for an episode with ready media, then takes the ready ones.
    write(&db, |c| {
        titles::update(c, &series.id, &named("The Show", "Two seasons."), 6)
    });
    let sid = series.id.clone();
    let err = write(&db, |c| Ok(publishing::publish(c, &sid, 6).unwrap_err()));
    assert!(
        err.to_string().contains("an episode with ready media"),
        "{err}"
    );
    write(&db, |c| ready(c, "a1"));
    let sid = series.id.clone();
    let done = write(&db, |c| publishing::publish(c, &sid, 7));
    assert_eq!(done.episodes_published.len(), 1);
    assert_eq!(done.episodes_left.len(), 3);
    assert!(live(&db, &series.id, 7));
    assert!(live(&db, &episodes[0].id, 7));
    assert!(!live(&db, &episodes[1].id, 7));
    // Unpublishing the series hides its episodes too.
    let sid = series.id.clone();
    write(&db, |c| publishing::unpublish(c, &sid, 8));
    assert!(!live(&db, &episodes[0].id, 8));
    // A new episode published on arrival does not publish the series its editor took down.
    write(&db, |c| {
        asset(c, "a5")?;
        ready(c, "a5")?;
        title_sidecar::attach(c, "a5", "file", Some(&sidecar(3, Some(1), "Late")), true, 9)
    });
    let sid = series.id.clone();
    let status = db
        .read_blocking(move |c| titles::get(c, &sid))
        .unwrap()
        .status;
    assert_eq!(status, PublishState::Draft);
    assert!(!live(&db, &series.id, 9));

    // A sidecar refused halfway leaves nothing behind: no series made for it.
    let refused = TitleSidecar {
        series: Some("Never Made".into()),
        episode: Some(-1),
        ..TitleSidecar::default()
    };
    let err = write(&db, |c| {
        asset(c, "a6")?;
        Ok(title_sidecar::attach(c, "a6", "file", Some(&refused), true, 10).unwrap_err())
    });
    assert!(err.to_string().contains("0 or more"), "{err}");
    let orphan = db
        .read_blocking(|c| titles::series_named(c, "Never Made"))
        .unwrap();
    assert!(orphan.is_none());
}

#[test]
fn a_corrected_spelling_wins_and_people_go_with_their_last_title() {
    use super::credits::{self, Credit, CreditRole};
    let (_tmp, db) = db();
    let credit = |name: &str| Credit {
        name: name.into(),
        role: CreditRole::Cast,
        character: String::new(),
    };
    write(&db, |c| {
        for id in ["m1", "m2"] {
            titles::create(c, id, &Placement::Movie, &named(id, ""), 1)?;
        }
        credits::set(c, "m1", &[credit("ann lee")])?;
        credits::set(c, "m2", &[credit("Ann Lee"), credit("Bo Chen")])
    });
    let on_m1 = db.read_blocking(|c| credits::of(c, "m1")).unwrap();
    assert_eq!(on_m1[0].name, "Ann Lee");
    write(&db, |c| {
        titles::delete(c, "m1")?;
        titles::delete(c, "m2")?;
        Ok(())
    });
    let left: i64 = db
        .read_blocking(|c| {
            let n = c.query_row("SELECT count(*) FROM people", [], |r| r.get(0));
            Ok::<_, CatalogError>(n?)
        })
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn search_matches_prefixes_without_accents_ranks_names_first_and_hides_drafts() {
    let (_tmp, db) = db();
    write(&db, |c| {
        for (id, name, synopsis) in [
            ("t1", "Amélie", "A waitress in Paris."),
            ("t2", "Paris Nights", "A city story."),
            ("t3", "Harbour", "Amelie's cousin sails to Paris."),
            ("t4", "Draft Film", "Paris again."),
        ] {
            asset(c, id)?;
            ready(c, id)?;
            let fields = TitleFields {
                asset_id: Some(id.into()),
                ..named(name, synopsis)
            };
            titles::create(c, id, &Placement::Movie, &fields, 1)?;
            if id != "t4" {
                publishing::publish(c, id, 1)?;
            }
        }
        Ok(())
    });
    let find = |q: &str, audience| {
        let q = q.to_string();
        db.read_blocking(move |c| search::search(c, &q, audience, 20))
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect::<Vec<_>>()
    };
    let viewer = Audience::Viewer { now: 2 };
    assert_eq!(
        find("Amel", viewer),
        vec!["t1", "t3"],
        "prefix, folded, name first"
    );
    assert_eq!(find("amélie", viewer), vec!["t1", "t3"]);
    assert_eq!(find("par", viewer)[0], "t2", "a name match ranks first");
    assert!(!find("paris", viewer).contains(&"t4".to_string()));
    assert!(find("paris", Audience::Staff).contains(&"t4".to_string()));
    for hostile in [
        "' OR 1=1 --",
        "NEAR(",
        "\"",
        "a\" OR \"b",
        "*",
        "^",
        "paris AND",
        "",
    ] {
        let found = find(hostile, viewer);
        assert!(!found.contains(&"t4".to_string()), "{hostile}");
    }
    // An edit reaches the index in its own transaction.
    write(&db, |c| {
        titles::update(c, "t2", &named("Lyon Nights", "x"), 3)
    });
    assert_eq!(find("lyon", viewer), vec!["t2"]);
    assert!(!find("paris", viewer).contains(&"t2".to_string()));

    // Many better-ranked drafts (the word in their names) do not crowd out the live title
    // (the word in its synopsis) from a viewer's results.
    write(&db, |c| {
        for n in 0..150 {
            let fields = named("Cousin", &format!("Cousin number {n}."));
            titles::create(c, &format!("d{n}"), &Placement::Movie, &fields, 4)?;
        }
        let staff = search::search(c, "cousin", Audience::Staff, 20)?;
        assert!(staff.iter().all(|t| t.id != "t3"), "the drafts rank first");
        Ok(())
    });
    assert_eq!(find("cousin", viewer), vec!["t3"]);
}

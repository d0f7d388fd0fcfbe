//! Operations: backup and restore, schema upgrades, metrics, readiness, disk space, doctor.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Options, Server, bin, drop_into, make_clip};

fn marquee(args: &[&str], data: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn rename_asset(server: &Server, id: &str, title: &str) {
    let resp = ureq::patch(&format!("{}/api/v1/assets/{id}", server.base))
        .header("Authorization", &format!("Bearer {}", server.key))
        .content_type("application/json")
        .send(serde_json::json!({ "title": title }).to_string())
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

fn set_user_version(db: &Path, version: i64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.pragma_update(None, "user_version", version).unwrap();
}

fn user_version(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

/// (id, title, status) of every asset, sorted.
fn asset_rows(server: &Server) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = server
        .assets()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["title"].as_str().unwrap().to_string(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn master_status(server: &Server, asset: &Value) -> u16 {
    let url = format!("{}{}", server.base, asset["playback_url"].as_str().unwrap());
    fetch(&ureq::Agent::new_with_defaults(), &url, None).0
}

#[test]
fn backup_while_serving_then_wipe_and_restore_gives_back_assets_settings_and_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, "audio_kbps = 96\n");
    let clip = tmp.path().join("harbour_tour.mp4");
    make_clip(&clip, "320x180", 25, 3.0, true);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("harbour tour", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "{asset}");
    let id = asset["id"].as_str().unwrap();
    rename_asset(&server, id, "The Harbour at Dawn");
    std::fs::create_dir_all(data.join("tls")).unwrap();
    std::fs::write(data.join("tls/key.pem"), "not a real key\n").unwrap();
    let before = asset_rows(&server);
    let config_before = std::fs::read(data.join("marquee.toml")).unwrap();
    // A playback's events (events.db) go into the backups too.
    let beacon = r#"{"session": "backupsession0001", "title": "site", "events": [{"kind": "visit", "n": 1}]}"#;
    let status = crate::support::agent()
        .post(&format!("{}/beacon", server.url()))
        .send(beacon)
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 204);
    wait_for(10, "the beacon written", || {
        (beacon_events(&data) == 1).then_some(())
    });

    // Both backups are taken while the server runs.
    let plain = tmp.path().join("plain.tar.zst");
    let full = tmp.path().join("full.tar.zst");
    let out = marquee(&["backup", "--to", plain.to_str().unwrap()], &data);
    assert!(out.status.success(), "{}", text(&out));
    let out = marquee(
        &["backup", "--media", "--to", full.to_str().unwrap()],
        &data,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(server.healthy());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let mut server = server;
    server.terminate();

    // A data dir that is not empty is refused without --force, and left as it was.
    let db_before = std::fs::read(data.join("marquee.db")).unwrap();
    let out = marquee(&["restore", "--from", full.to_str().unwrap()], &data);
    assert!(!out.status.success());
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(std::fs::read(data.join("marquee.db")).unwrap(), db_before);

    // Wipe, restore with media: the same assets, settings, keys, and the package plays.
    std::fs::remove_dir_all(&data).unwrap();
    let out = marquee(&["restore", "--from", full.to_str().unwrap()], &data);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read(data.join("marquee.toml")).unwrap(),
        config_before
    );
    assert_eq!(
        std::fs::read_to_string(data.join("tls/key.pem")).unwrap(),
        "not a real key\n"
    );
    assert_eq!(beacon_events(&data), 1, "events.db restored");
    server.restart();
    assert_eq!(asset_rows(&server), before);
    let restored = &server.assets()[0];
    assert_eq!(master_status(&server, restored), 200);
    server.terminate();

    // Without media: the same rows in a fresh data dir, and no library copied.
    let other = tmp.path().join("other");
    let out = marquee(&["restore", "--from", plain.to_str().unwrap()], &other);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!other.join("library").join(id).exists());
    let mut second = Server::start_with(&other, Options::default());
    // start_with rewrote the config; the rows come from the restored database.
    assert_eq!(asset_rows(&second), before);
    second.terminate();

    // --force moves the current database aside, never deleting it.
    let out = marquee(
        &["restore", "--force", "--from", plain.to_str().unwrap()],
        &data,
    );
    assert!(out.status.success(), "{}", text(&out));
    let aside: Vec<_> = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pre-restore-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert!(aside[0].path().join("marquee.db").is_file());
    // The settings file held what the backup holds: it stays, unchanged.
    assert_eq!(
        std::fs::read(data.join("marquee.toml")).unwrap(),
        config_before
    );
    // The library stays: a backup without media replaces none of it.
    assert!(data.join("library").join(id).join("master.m3u8").is_file());
}

/// Raw events of the beacon session the backup test sends.
fn beacon_events(data: &Path) -> i64 {
    let Ok(db) = rusqlite::Connection::open_with_flags(
        data.join("events.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return 0;
    };
    db.query_row(
        "SELECT count(*) FROM raw_events WHERE session = 'backupsession0001'",
        [],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

/// `marquee ARGS --data-dir DATA` with `env` added.
fn marquee_env(args: &[&str], data: &Path, env: &[(&str, &Path)]) -> Output {
    Command::new(bin())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
        .output()
        .unwrap()
}

/// `marquee restore --config CONFIG --from ARCHIVE [--force]` into `data`.
fn restore_with_config(config: &Path, archive: &Path, data: &Path, force: bool) -> Output {
    let mut args = vec!["restore", "--config", config.to_str().unwrap()];
    if force {
        args.push("--force");
    }
    args.extend(["--from", archive.to_str().unwrap()]);
    marquee(&args, data)
}

/// The status of `GET /metrics`, with the bearer token when given.
fn metrics_status(server: &Server, token: Option<&str>) -> u16 {
    let url = format!("{}/metrics", server.base);
    fetch(&ureq::Agent::new_with_defaults(), &url, token).0
}

/// What a backup made before the settings file had its own name looked like: the same
/// archive, with the settings stored as the data dir's `marquee.toml`, format version 1.
fn as_version_1_archive(archive: &Path, to: &Path) {
    let mut entries = Vec::new();
    let decoder = zstd::Decoder::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut tar = tar::Archive::new(decoder);
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        entries.push((path, bytes));
    }
    let out = zstd::Encoder::new(std::fs::File::create(to).unwrap(), 3).unwrap();
    let mut builder = tar::Builder::new(out);
    for (path, bytes) in entries {
        let (path, bytes) = match path.as_str() {
            "settings.toml" => ("marquee.toml".to_string(), bytes),
            "manifest.json" => {
                let mut manifest: Value = serde_json::from_slice(&bytes).unwrap();
                manifest["format_version"] = 1.into();
                manifest.as_object_mut().unwrap().remove("settings_path");
                for file in manifest["files"].as_array_mut().unwrap() {
                    if file["path"] == "settings.toml" {
                        file["path"] = "marquee.toml".into();
                    }
                }
                (path, serde_json::to_vec(&manifest).unwrap())
            }
            _ => (path, bytes),
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        builder
            .append_data(&mut header, &path, bytes.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

#[test]
fn backup_and_restore_carry_the_settings_file_the_server_reads_with_config() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // As installed: the service reads /etc/marquee/marquee.toml, not the data dir's file.
    let etc = tmp.path().join("etc/marquee/marquee.toml");
    std::fs::create_dir_all(etc.parent().unwrap()).unwrap();
    let settings = format!(
        "# the operator's settings\n[ingest]\n{}\n[transcode]\n{}preset = \"ultrafast\"\n\n[metrics]\ntoken = \"{METRICS_TOKEN}\"\n",
        crate::support::TEST_INGEST,
        crate::support::TEST_TRANSCODE
    );
    std::fs::write(&etc, &settings).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut server = Server::start_with(
        &data,
        Options {
            env: vec![("MARQUEE_CONFIG".into(), etc.to_str().unwrap().into())],
            ..Options::default()
        },
    );
    // The server reads that file: /metrics needs its token.
    assert_eq!(metrics_status(&server, None), 401);
    std::fs::create_dir_all(data.join("acme")).unwrap();
    std::fs::write(data.join("acme/account.json"), "{\"id\":\"acct\"}\n").unwrap();

    let archive = tmp.path().join("b.tar.zst");
    let out = marquee(
        &[
            "backup",
            "--config",
            etc.to_str().unwrap(),
            "--to",
            archive.to_str().unwrap(),
        ],
        &data,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(etc.to_str().unwrap()), "{}", text(&out));
    // A settings file named but missing (a typo) is an error, not a backup without one.
    let typo = tmp.path().join("etc/marquee/marque.toml");
    let refused = tmp.path().join("refused.tar.zst");
    let out = marquee(
        &[
            "backup",
            "--config",
            typo.to_str().unwrap(),
            "--to",
            refused.to_str().unwrap(),
        ],
        &data,
    );
    assert!(!out.status.success() && !refused.exists());
    assert!(
        text(&out).contains("marque.toml does not exist"),
        "{}",
        text(&out)
    );
    server.terminate();

    // Wipe the data dir and the settings file; restore with the settings path from
    // MARQUEE_CONFIG, as the installed service's environment gives it.
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::remove_file(&etc).unwrap();
    let out = marquee_env(
        &["restore", "--from", archive.to_str().unwrap()],
        &data,
        &[("MARQUEE_CONFIG", &etc)],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("Note:"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&etc).unwrap(), settings);
    // Restored elsewhere without the settings path, the output says where they came from.
    let elsewhere = tmp.path().join("elsewhere");
    let out = marquee(
        &["restore", "--from", archive.to_str().unwrap()],
        &elsewhere,
    );
    assert!(
        text(&out).contains(&format!(
            "restore again with --config {} --force",
            etc.display()
        )),
        "{}",
        text(&out)
    );
    let mode = std::fs::metadata(&etc).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert!(
        !data.join("marquee.toml").exists(),
        "the settings went to the data dir, not to --config"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("acme/account.json")).unwrap(),
        "{\"id\":\"acct\"}\n"
    );
    server.restart();
    assert_eq!(metrics_status(&server, None), 401);
    assert_eq!(metrics_status(&server, Some(METRICS_TOKEN)), 200);
    assert_eq!(server.get("/api/v1/assets").0, 200, "the API key came back");
    server.terminate();

    // A different settings file at that path is not overwritten without --force, and
    // nothing changes: neither the file nor the (empty) data dir.
    let edited = format!("{settings}# changed since the backup\n");
    std::fs::write(&etc, &edited).unwrap();
    let fresh = tmp.path().join("fresh");
    let out = restore_with_config(&etc, &archive, &fresh, false);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains(etc.to_str().unwrap())
            && said.contains("differs")
            && said.contains("--force"),
        "{said}"
    );
    assert_eq!(std::fs::read_to_string(&etc).unwrap(), edited);
    let left: Vec<_> = std::fs::read_dir(&fresh)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "marquee.lock")
        .collect();
    assert!(left.is_empty(), "the refused restore wrote {left:?}");

    // With --force it is replaced, the old one kept with the other pre-restore copies.
    let out = restore_with_config(&etc, &archive, &fresh, true);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&etc).unwrap(), settings);
    let kept: Vec<_> = std::fs::read_dir(fresh.join("backups"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("settings.toml"))
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), edited);

    // An archive from before the settings file had its own name still restores, to the
    // data dir without --config and to the --config file with it.
    let old = tmp.path().join("v1.tar.zst");
    as_version_1_archive(&archive, &old);
    let old_data = tmp.path().join("old");
    let out = marquee(&["restore", "--from", old.to_str().unwrap()], &old_data);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(old_data.join("marquee.toml")).unwrap(),
        settings
    );
    let elsewhere = tmp.path().join("elsewhere.toml");
    let out = restore_with_config(&elsewhere, &old, &tmp.path().join("old2"), false);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), settings);

    // Run as root for an installed service, a new settings file is root's, readable by the
    // service's group, as install.sh makes /etc/marquee/marquee.toml.
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::fs::MetadataExt;
        let service = tmp.path().join("service");
        std::fs::create_dir_all(&service).unwrap();
        std::os::unix::fs::chown(&service, Some(65534), Some(65534)).unwrap();
        let installed = tmp.path().join("etc/marquee/installed.toml");
        let out = restore_with_config(&installed, &archive, &service, false);
        assert!(out.status.success(), "{}", text(&out));
        let meta = std::fs::metadata(&installed).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o777),
            (0, 65534, 0o640)
        );
    }
}

#[test]
fn restore_refuses_damaged_archives_and_newer_schemas_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::create_api_key(&data);
    let archive = tmp.path().join("b.tar.zst");
    // What a backup killed halfway left behind is cleared by the next one.
    let leftover = tmp.path().join(".b.tar.zst.partial-4000000");
    std::fs::write(&leftover, "half an archive").unwrap();
    let out = marquee(&["backup", "--to", archive.to_str().unwrap()], &data);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!leftover.exists());

    // A flipped byte in the middle: the archive no longer checks out.
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    let damaged = tmp.path().join("damaged.tar.zst");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = tmp.path().join("target");
    let out = marquee(&["restore", "--from", damaged.to_str().unwrap()], &target);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("damaged") || text(&out).contains("not a Marquee backup"),
        "{}",
        text(&out)
    );
    assert!(!target.join("marquee.db").exists());

    // Not an archive at all.
    let out = marquee(&["restore", "--from", "/etc/hostname"], &target);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not a Marquee backup"),
        "{}",
        text(&out)
    );

    // A backup from a newer schema is refused with both versions named.
    set_user_version(&data.join("marquee.db"), 99);
    let newer = tmp.path().join("newer.tar.zst");
    let out = marquee(&["backup", "--to", newer.to_str().unwrap()], &data);
    assert!(out.status.success(), "{}", text(&out));
    let out = marquee(&["restore", "--from", newer.to_str().unwrap()], &target);
    assert!(!out.status.success());
    assert!(text(&out).contains("schema version 99"), "{}", text(&out));
    assert!(!target.join("marquee.db").exists());

    // Run as root into a service user's data dir, the restored files are that user's.
    if unsafe { libc::geteuid() } == 0 {
        let service = tmp.path().join("service");
        std::fs::create_dir_all(&service).unwrap();
        std::os::unix::fs::chown(&service, Some(65534), Some(65534)).unwrap();
        let out = marquee(&["restore", "--from", archive.to_str().unwrap()], &service);
        assert!(out.status.success(), "{}", text(&out));
        let out = marquee(
            &["restore", "--force", "--from", archive.to_str().unwrap()],
            &service,
        );
        assert!(out.status.success(), "{}", text(&out));
        for path in ["marquee.db", "backups"] {
            let meta = std::fs::metadata(service.join(path)).unwrap();
            assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 65534, "{path}");
        }
    }

    // A restore while a server runs on the data dir is refused.
    let good = tmp.path().join("good");
    let mut server = Server::start(&good, "");
    let out = marquee(
        &["restore", "--force", "--from", archive.to_str().unwrap()],
        &good,
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("stop it first"), "{}", text(&out));
    // So is a second server.
    let out = marquee(&["serve", "--listen", "127.0.0.1:0"], &good);
    assert!(!out.status.success());
    assert!(text(&out).contains("stop it first"), "{}", text(&out));
    server.terminate();
}

#[test]
fn an_older_binary_refuses_a_newer_database_and_upgrades_snapshot_first() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::create_api_key(&data);
    let db = data.join("marquee.db");
    set_user_version(&db, 99);
    for args in [
        &["serve", "--listen", "127.0.0.1:0"][..],
        &["apikey", "create", "--name", "x"][..],
    ] {
        let out = marquee(args, &data);
        assert!(!out.status.success());
        let said = text(&out);
        assert!(
            said.contains("schema version 99")
                && said.contains(&format!("up to {}", marquee::db::schema_version()))
                && said.contains("newer Marquee"),
            "{said}"
        );
    }
    assert_eq!(user_version(&db), 99, "the newer database was changed");

    // A database at schema 1 with data: upgraded, with a snapshot of version 1 taken first.
    let old = tmp.path().join("old");
    std::fs::create_dir_all(&old).unwrap();
    {
        let conn = rusqlite::Connection::open(old.join("marquee.db")).unwrap();
        conn.execute_batch(include_str!("../../src/db/migrations/001_init.sql"))
            .unwrap();
        conn.execute(
            "INSERT INTO api_keys (name, prefix, secret_hash, created_at) VALUES ('old', 'p', 'h', 0)",
            [],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }
    let out = marquee(&["apikey", "create", "--name", "new"], &old);
    assert!(out.status.success(), "{}", text(&out));
    let latest = marquee::db::schema_version();
    assert_eq!(user_version(&old.join("marquee.db")), latest);
    let snapshots: Vec<_> = std::fs::read_dir(old.join("backups"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    let name = snapshots[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(
        name.starts_with(&format!("pre-migration-1-{latest}-")) && name.ends_with(".db"),
        "{name}"
    );
    assert_eq!(user_version(&snapshots[0]), 1);
    let conn = rusqlite::Connection::open(&snapshots[0]).unwrap();
    let names: i64 = conn
        .query_row(
            "SELECT count(*) FROM api_keys WHERE name = 'old'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(names, 1);

    // An up-to-date database is not snapshotted again.
    let out = marquee(&["apikey", "create", "--name", "again"], &old);
    assert!(out.status.success());
    assert_eq!(std::fs::read_dir(old.join("backups")).unwrap().count(), 1);
}

/// Polls `f` until it returns `Some`, for at most `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn fetch(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut req = agent.get(url).config().http_status_as_error(false).build();
    if let Some(token) = token {
        req = req.header("Authorization", &format!("Bearer {token}"));
    }
    let mut resp = req.call().unwrap();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = resp.status().as_u16();
    (status, headers, resp.body_mut().read_to_vec().unwrap())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The value of the sample named exactly `sample` (name and labels) in a text exposition.
fn sample(text: &str, sample: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(sample)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

const METRICS_TOKEN: &str = "scrape-me-0123456789";

#[test]
fn metrics_count_both_origin_paths_viewers_jobs_and_need_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_with(
        &data,
        Options {
            tables: format!("[metrics]\ntoken = \"{METRICS_TOKEN}\"\n"),
            ..Options::default()
        },
    );
    let clip = tmp.path().join("secret_title.mp4");
    make_clip(&clip, "320x180", 25, 3.0, true);
    drop_into(&server.inbox(), &clip);
    let asset = server.wait_finished("secret title", Duration::from_secs(120));
    assert_eq!(asset["status"], "ready", "{asset}");
    let id = asset["id"].as_str().unwrap();
    let segment = format!("{}/p/public/{id}/video_180p/seg_00000.m4s", server.base);
    let seg_len = std::fs::metadata(data.join(format!("library/{id}/video_180p/seg_00000.m4s")))
        .unwrap()
        .len() as f64;

    // The same segment once on each path, and one refused fetch.
    let fresh = ureq::Agent::new_with_defaults();
    let (status, headers, body) = fetch(&fresh, &segment, None);
    assert_eq!(
        (status, header(&headers, "x-marquee-path")),
        (200, Some("sendfile"))
    );
    assert_eq!(body.len() as f64, seg_len);
    let reused = ureq::Agent::new_with_defaults();
    assert_eq!(
        fetch(&reused, &format!("{}/healthz", server.base), None).0,
        200
    );
    let (status, headers, _) = fetch(&reused, &segment, None);
    assert_eq!(
        (status, header(&headers, "x-marquee-path")),
        (200, Some("actix"))
    );
    let missing = format!("{}/p/public/{id}/video_180p/seg_99999.m4s", server.base);
    assert_eq!(fetch(&fresh, &missing, None).0, 404);

    let url = format!("{}/metrics", server.base);
    assert_eq!(fetch(&fresh, &url, None).0, 401);
    assert_eq!(fetch(&fresh, &url, Some("wrong-token-0123456789")).0, 401);
    let (status, _, body) = fetch(&fresh, &url, Some(METRICS_TOKEN));
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let value = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        value(r#"marquee_origin_requests_total{class="segment",status="2xx"}"#),
        2.0
    );
    assert_eq!(
        value(r#"marquee_origin_bytes_total{class="segment"}"#),
        2.0 * seg_len
    );
    assert_eq!(
        value(r#"marquee_origin_requests_total{class="refused",status="4xx"}"#),
        1.0
    );
    // One client address with one token.
    assert_eq!(value("marquee_active_viewers"), 1.0);
    assert_eq!(value(r#"marquee_jobs{state="queued"}"#), 0.0);
    assert_eq!(value("marquee_transcode_speed_ratio_count"), 1.0);
    assert!(value("marquee_transcode_speed_ratio_sum") > 0.0);
    assert!(value(r#"marquee_db_seconds_count{op="write"}"#) > 0.0);
    assert!(value(r#"marquee_http_requests_total{route="health",status="2xx"}"#) >= 1.0);
    assert!(text.contains("marquee_build_info{version=\""), "{text}");
    // Counts only: no titles, no ids, no addresses.
    for secret in ["secret", id, "127.0.0.1"] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }

    let (status, _, body) = fetch(&fresh, &format!("{}/readyz", server.base), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, status_body) = server.get("/api/v1/status");
    assert_eq!(status, 200);
    assert_eq!(status_body["ingest_paused"], false);
    assert_eq!(status_body["alerts"], serde_json::json!([]));
}

/// Mounts a tmpfs of `mb` MB on `dir`; false where this container may not mount.
pub(crate) fn mount_tmpfs(dir: &Path, mb: u64) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) struct Unmount<'a>(pub(crate) &'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0).status();
    }
}

pub(crate) fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Writes a file of `bytes` zero bytes (really allocated, not sparse).
pub(crate) fn ballast(path: &Path, bytes: u64) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    file.sync_all().unwrap();
}

fn job_row(data: &Path) -> Option<(String, i64, Option<String>)> {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("marquee.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.query_row("SELECT state, attempts, last_error FROM jobs", [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .ok()
}

#[test]
fn a_full_disk_pauses_ingest_with_an_alert_and_it_resumes_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mounted = mount_tmpfs(&data, 64);
    let _unmount = mounted.then(|| Unmount(&data));
    let clip = tmp.path().join("storm_warning.mp4");
    make_clip(&clip, "640x360", 25, 6.0, true);
    let original = crate::support::blake3_of(&clip);

    // Without a small filesystem to fill, a floor above the real free space stands in.
    let floor_mb = if mounted {
        24
    } else {
        free_bytes(tmp.path()) / 1_000_000 + 1024
    };
    let mut server = Server::start_with(
        &data,
        Options {
            ingest: format!("min_free_mb = {floor_mb}\n"),
            ..Options::default()
        },
    );
    let heavy = data.join("ballast");
    if mounted {
        ballast(&heavy, free_bytes(&data) - 8_000_000);
    }
    let (status, _, body) = fetch(
        &ureq::Agent::new_with_defaults(),
        &format!("{}/readyz", server.base),
        None,
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 503);
    assert!(
        body["reasons"][0]
            .as_str()
            .unwrap()
            .contains("disk space is low"),
        "{body}"
    );
    let (_, status_body) = server.get("/api/v1/status");
    assert_eq!(status_body["ingest_paused"], true, "{status_body}");
    assert_eq!(
        status_body["alerts"][0]["code"], "disk_low",
        "{status_body}"
    );

    // The file is recorded but not transcoded; it stays in the inbox, untouched.
    let dropped = drop_into(&server.inbox(), &clip);
    let asset = wait_for(60, "the asset to be queued", || {
        server.asset_titled("storm warning")
    });
    std::thread::sleep(Duration::from_secs(4));
    let asset = server
        .get(&format!("/api/v1/assets/{}", asset["id"].as_str().unwrap()))
        .1;
    assert_eq!(asset["status"], "queued", "{asset}");
    assert_eq!(crate::support::blake3_of(&dropped), original);
    assert!(server.log().contains("ingest paused"), "{}", server.log());

    // Space returns: ingest resumes by itself.
    if mounted {
        std::fs::remove_file(&heavy).unwrap();
    } else {
        server.terminate();
        let config = std::fs::read_to_string(data.join("marquee.toml"))
            .unwrap()
            .replace(&format!("min_free_mb = {floor_mb}"), "min_free_mb = 1");
        std::fs::write(data.join("marquee.toml"), config).unwrap();
        server.restart();
    }
    let done = server.wait_finished("storm warning", Duration::from_secs(180));
    assert_eq!(done["status"], "ready", "{done}");
    let (_, status_body) = server.get("/api/v1/status");
    assert_eq!(status_body["ingest_paused"], false, "{status_body}");
    let source = server.package_dir(&done).join("source.mp4");
    assert_eq!(crate::support::blake3_of(&source), original);
}

#[test]
fn a_transcode_that_runs_out_of_space_is_put_back_not_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    if !mount_tmpfs(&data, 64) {
        // Filling a real disk is not an option; the pause test covers the floor.
        eprintln!("cannot mount a tmpfs here; skipping the mid-transcode ENOSPC case");
        return;
    }
    let _unmount = Unmount(&data);
    let clip = tmp.path().join("deep_water.mp4");
    make_clip(&clip, "640x360", 25, 6.0, true);
    let original = crate::support::blake3_of(&clip);
    let mut server = Server::start_with(
        &data,
        Options {
            ingest: "min_free_mb = 1\n".into(),
            ..Options::default()
        },
    );
    server.terminate();
    // Room for the source and a little more than the floor: the package does not fit.
    let heavy = data.join("ballast");
    let clip_len = std::fs::metadata(&clip).unwrap().len();
    ballast(&heavy, free_bytes(&data) - clip_len - 1_300_000);
    drop_into(&server.inbox(), &clip);
    server.restart();
    let first = wait_for(120, "the job to run out of space", || {
        let row = job_row(&data)?;
        row.2
            .as_deref()
            .is_some_and(|e| e.contains("No space left on device"))
            .then_some(row)
    });
    // Long enough for every retry `max_attempts` allows (1 s, then 2 s apart) to have
    // failed the asset, were the attempts counted.
    std::thread::sleep(Duration::from_secs(8));
    assert!(server.healthy(), "the server stopped: {}", server.log());
    let asset = server.asset_titled("deep water").unwrap();
    let (state, attempts, error) = job_row(&data).unwrap();
    assert_ne!(asset["status"], "failed", "{asset}");
    assert!(
        attempts <= 1
            && error
                .as_deref()
                .is_some_and(|e| e.contains("out of disk space")),
        "{first:?} then {state} {attempts} {error:?}"
    );
    assert_eq!(
        crate::support::blake3_of(&server.inbox().join("deep_water.mp4")),
        original
    );

    std::fs::remove_file(&heavy).unwrap();
    let done = server.wait_finished("deep water", Duration::from_secs(180));
    assert_eq!(done["status"], "ready", "{done}");
    assert_eq!(
        crate::support::blake3_of(&server.package_dir(&done).join("source.mp4")),
        original
    );
}

/// `marquee doctor`'s lines and whether it exited 0.
fn doctor(data: &Path) -> (String, bool) {
    let out = marquee(&["doctor"], data);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.success(),
    )
}

fn line<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} line in\n{report}"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn doctor_says_what_is_wrong_and_fails_on_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::create_api_key(&data);
    let config = |extra: &str| {
        std::fs::write(
            data.join("marquee.toml"),
            format!("listen = \"127.0.0.1:{}\"\n{extra}", free_port()),
        )
        .unwrap()
    };
    config("");
    let (report, ok) = doctor(&data);
    assert!(ok, "{report}");
    for name in ["config", "permissions", "disk", "port", "encoders"] {
        assert!(line(&report, name).starts_with("OK "), "{report}");
    }
    assert!(
        line(&report, "database")
            .ends_with(&format!("schema version {}", marquee::db::schema_version())),
        "{report}"
    );
    assert!(line(&report, "tls").starts_with("WARN"), "{report}");
    assert!(line(&report, "smtp").contains("not configured"), "{report}");
    assert!(
        line(&report, "payments").contains("not configured"),
        "{report}"
    );
    assert!(!line(&report, "clock").starts_with("FAIL"), "{report}");

    // A certificate that expires in 10 days.
    std::fs::create_dir_all(data.join("tls")).unwrap();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "10", "-subj", "/CN=marquee.test"])
        .arg("-keyout")
        .arg(data.join("tls/key.pem"))
        .arg("-out")
        .arg(data.join("tls/cert.pem"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (report, ok) = doctor(&data);
    let tls = line(&report, "tls");
    assert!(ok && tls.starts_with("WARN"), "{report}");
    assert!(
        tls.contains("expires in 9 days") || tls.contains("expires in 10 days"),
        "{tls}"
    );
    std::fs::write(
        data.join("tls/cert.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let (report, ok) = doctor(&data);
    assert!(!ok && line(&report, "tls").starts_with("FAIL"), "{report}");
    std::fs::remove_dir_all(data.join("tls")).unwrap();

    // The port taken by some other program.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap();
    std::fs::write(data.join("marquee.toml"), format!("listen = \"{taken}\"\n")).unwrap();
    let (report, ok) = doctor(&data);
    assert!(!ok && line(&report, "port").starts_with("FAIL"), "{report}");
    assert!(
        line(&report, "port").contains("another program"),
        "{report}"
    );
    drop(squatter);

    // A floor above the free space, and a database from a newer Marquee.
    config("[ingest]\nmin_free_mb = 1000000000000\n");
    set_user_version(&data.join("marquee.db"), 99);
    let (report, ok) = doctor(&data);
    assert!(!ok, "{report}");
    assert!(line(&report, "disk").starts_with("FAIL"), "{report}");
    let database = line(&report, "database");
    assert!(
        database.starts_with("FAIL") && database.contains("schema version 99"),
        "{report}"
    );
    set_user_version(&data.join("marquee.db"), marquee::db::schema_version());

    // A misspelt key fails the config line, naming the key.
    config("[ingest]\nmin_fre_mb = 1\n");
    let (report, ok) = doctor(&data);
    assert!(
        !ok && line(&report, "config").contains("min_fre_mb"),
        "{report}"
    );

    // With --config (as the installed service reads /etc/marquee/marquee.toml), that file
    // is the one checked, not the data dir's.
    config("");
    let elsewhere = tmp.path().join("etc-marquee.toml");
    std::fs::write(&elsewhere, "[ingest]\nmin_fre_mb = 1\n").unwrap();
    let out = marquee(&["doctor", "--config", elsewhere.to_str().unwrap()], &data);
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let config_line = line(&report, "config");
    assert!(
        !out.status.success()
            && config_line.contains("min_fre_mb")
            && config_line.contains("etc-marquee.toml"),
        "{report}"
    );

    // The port held by this data dir's own running server is fine.
    let server = Server::start(&data, "");
    let addr = server.base.trim_start_matches("http://").to_string();
    std::fs::write(data.join("marquee.toml"), format!("listen = \"{addr}\"\n")).unwrap();
    let (report, ok) = doctor(&data);
    assert!(ok, "{report}");
    assert!(
        line(&report, "port").contains("the Marquee server running on this data dir"),
        "{report}"
    );
}

#[test]
fn urls_names_where_the_server_answers_and_its_certificate_fingerprint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let plain = free_port();
    let secure = std::iter::repeat_with(free_port)
        .find(|p| *p != plain)
        .unwrap();
    let mut server = Server::start_with(
        &data,
        Options {
            listen: Some(format!("127.0.0.1:{plain}")),
            tables: format!("[tls]\nenabled = true\nlisten = \"127.0.0.1:{secure}\"\n"),
            ..Options::default()
        },
    );
    assert_eq!(
        server.https.as_deref(),
        Some(format!("https://127.0.0.1:{secure}").as_str())
    );
    // The settings say plain HTTP on 127.0.0.1:8080, as `serve --listen` overrode them;
    // `urls` reads the environment as the server does.
    let out = Command::new(bin())
        .args(["urls", "--data-dir"])
        .arg(&data)
        .env("MARQUEE_LISTEN", format!("127.0.0.1:{plain}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let pem = std::fs::read(data.join("tls/cert.pem")).unwrap();
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let fingerprint = crate::install::sha256_fingerprint(&block.contents);
    for expected in [
        format!("https://127.0.0.1:{secure}/"),
        format!("http://127.0.0.1:{plain}/"),
        "self-signed".to_string(),
        fingerprint,
    ] {
        assert!(said.contains(&expected), "{expected} not in:\n{said}");
    }
    assert!(server.healthy(), "the HTTPS URL answers");
    server.terminate();

    // Without HTTPS: the plain address only, and no certificate.
    std::fs::write(data.join("marquee.toml"), "listen = \"0.0.0.0:8080\"\n").unwrap();
    let out = marquee(&["urls"], &data);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", text(&out));
    assert!(said.contains("http://localhost:8080/"), "{said}");
    assert!(
        !said.contains("https://") && !said.contains("self-signed"),
        "{said}"
    );
}

#[test]
fn doctor_talks_to_the_configured_smtp_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    crate::support::create_api_key(&data);
    let listen = format!("listen = \"127.0.0.1:{}\"\n", free_port());
    let smtp = crate::support::SmtpCapture::start();
    std::fs::write(
        data.join("marquee.toml"),
        format!("{listen}{}", smtp.config()),
    )
    .unwrap();
    let (report, _) = doctor(&data);
    let said = line(&report, "smtp");
    assert!(said.starts_with("OK "), "{report}");
    assert!(
        said.contains(&format!("127.0.0.1:{} (none) answered", smtp.port)),
        "{report}"
    );

    // Nothing listens on this port: the doctor says so and fails.
    let closed = free_port();
    let config = smtp
        .config()
        .replace(&smtp.port.to_string(), &closed.to_string());
    std::fs::write(data.join("marquee.toml"), format!("{listen}{config}")).unwrap();
    let (report, ok) = doctor(&data);
    let said = line(&report, "smtp");
    assert!(said.starts_with("FAIL "), "{report}");
    assert!(said.contains(&format!("127.0.0.1:{closed}")), "{report}");
    assert!(!ok, "{report}");
}

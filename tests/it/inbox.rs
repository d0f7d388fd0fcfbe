//! The watched folder: bad inputs, slow copies, duplicates, files present at start.

use std::io::Write;
use std::time::Duration;

use crate::support::{Server, blake3_of, drop_into, ffmpeg, make_clip};

#[test]
fn bad_inputs_fail_with_clear_reasons_and_the_server_stays_up() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let p = |n: &str| src.join(n);

    std::fs::write(p("empty.mp4"), b"").unwrap();
    make_clip(&p("whole.mp4"), "320x240", 30, 6.0, true);
    let whole = std::fs::read(p("whole.mp4")).unwrap();
    std::fs::write(p("truncated.mp4"), &whole[..whole.len() * 6 / 10]).unwrap();
    std::fs::remove_file(p("whole.mp4")).unwrap();
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(p("noise.mp4"), noise).unwrap();
    std::fs::write(p("notes.txt"), "Shopping list: milk, eggs, popcorn.\n").unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=2x2:r=10:d=1",
        "-c:v",
        "ffv1",
        p("tiny.mkv").to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=green:s=64x64",
        "-frames:v",
        "1",
        p("lonely.png").to_str().unwrap(),
    ]);

    let server = Server::start(&tmp.path().join("data"), "");
    for name in [
        "empty.mp4",
        "truncated.mp4",
        "noise.mp4",
        "notes.txt",
        "tiny.mkv",
        "lonely.png",
    ] {
        drop_into(&server.inbox(), &p(name));
    }
    let expectations = [
        ("empty", "the file is empty"),
        ("truncated", "the file is truncated at"),
        ("noise", "not a media file"),
        ("notes", "not a media file"),
        ("tiny", "too small (2×2 pixels)"),
        ("lonely", "an image on its own is not a video"),
    ];
    for (title, reason) in expectations {
        let asset = server.wait_finished(title, Duration::from_secs(60));
        assert_eq!(asset["status"], "failed", "{title}: {asset:#}");
        let error = asset["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(reason),
            "{title}: expected {reason:?} in {error:?}"
        );
        assert!(asset["playback_url"].is_null());
        assert!(server.healthy(), "server went down after {title}");
    }
    // Sources of failures stay in the inbox, untouched, and are not picked up again.
    let truncated_hash = blake3_of(&p("truncated.mp4"));
    assert_eq!(
        blake3_of(&server.inbox().join("truncated.mp4")),
        truncated_hash
    );
    std::thread::sleep(Duration::from_secs(7)); // longer than the rescan interval
    assert_eq!(server.assets().len(), expectations.len());
    assert!(
        std::fs::read_dir(server.data.join("library"))
            .unwrap()
            .next()
            .is_none(),
        "nothing may be published"
    );

    // Fixing a failed file in place retries it under the same asset.
    let failed = server.asset_titled("truncated").unwrap();
    let fixed = tmp.path().join("fixed.mp4");
    std::fs::write(&fixed, &whole).unwrap();
    std::fs::rename(&fixed, server.inbox().join("truncated.mp4")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let asset = loop {
        let a = server.asset_titled("truncated").unwrap();
        if a["status"] == "ready" {
            break a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fixed file never became ready: {a:#}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(asset["id"], failed["id"]);
    assert!(asset["error"].is_null());
    assert_eq!(server.assets().len(), expectations.len());
}

#[test]
fn a_slow_copy_is_taken_once_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("slow.mp4");
    make_clip(&clip, "320x240", 30, 5.0, true);
    let bytes = std::fs::read(&clip).unwrap();
    let server = Server::start(&tmp.path().join("data"), "");

    // Written straight into the inbox in five pieces, one second apart (the settle time is 2 s).
    let target = server.inbox().join("slow.mp4");
    let mut file = std::fs::File::create(&target).unwrap();
    for chunk in bytes.chunks(bytes.len() / 5 + 1) {
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            server.asset_titled("slow").is_none(),
            "picked up while still being written"
        );
    }
    drop(file);
    let asset = server.wait_finished("slow", Duration::from_secs(60));
    assert_eq!(asset["status"], "ready", "{asset:#}");
    assert_eq!(server.assets().len(), 1);
    assert_eq!(
        std::fs::read(server.package_dir(&asset).join("source.mp4")).unwrap(),
        bytes
    );
}

#[test]
fn files_present_at_start_are_taken_and_duplicates_are_not_transcoded_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let clip = tmp.path().join("early.mp4");
    make_clip(&clip, "320x240", 30, 2.0, true);
    // Dropped while Marquee was down, in a subfolder.
    std::fs::create_dir_all(data.join("inbox/show/season1")).unwrap();
    std::fs::copy(&clip, data.join("inbox/show/season1/early.mp4")).unwrap();

    let server = Server::start(&data, "");
    let asset = server.wait_finished("early", Duration::from_secs(60));
    assert_eq!(asset["status"], "ready", "{asset:#}");

    let again = tmp.path().join("early-again.mp4");
    std::fs::copy(&clip, &again).unwrap();
    drop_into(&server.inbox(), &again);
    let set_aside = data.join("duplicates/early-again.mp4");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !set_aside.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "duplicate was not recognised:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(server.assets().len(), 1, "{:#?}", server.assets());
    assert!(!server.inbox().join("early-again.mp4").exists());
    assert_eq!(
        blake3_of(&set_aside),
        blake3_of(&clip),
        "a duplicate is set aside, never altered"
    );
}

//! What ingest may read: playlists naming other files are refused, sidecars are capped in
//! size, and subtitles in legacy encodings come out as correct UTF-8 WebVTT.

use std::path::Path;
use std::time::Duration;

use crate::support::{Options, Server, drop_into, ffmpeg, make_clip};

/// Valid SubRip cues adding up to just over 1.25 MB (shown as 1.3 MB).
fn big_srt(path: &Path) {
    let mut srt = String::new();
    let mut i = 0u64;
    while srt.len() < 1_250_000 {
        let (start, end) = (i * 100, i * 100 + 90);
        let t = |ms: u64| {
            format!(
                "{:02}:{:02}:{:02},{:03}",
                ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            )
        };
        srt.push_str(&format!(
            "{}\n{} --> {}\nLine number {i} of a very long subtitle file\n\n",
            i + 1,
            t(start),
            t(end)
        ));
        i += 1;
    }
    std::fs::write(path, srt).unwrap();
}

#[test]
fn playlists_and_oversize_sidecars_are_refused_and_legacy_subtitles_are_decoded() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let p = |n: &str| src.join(n);

    // A real file outside the inbox that a playlist must not be able to publish.
    let secret = outside.join("secret.ts");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        secret.to_str().unwrap(),
    ]);
    let secret = secret.to_str().unwrap();
    let hls = |uri: &str| {
        format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\n{uri}\n#EXT-X-ENDLIST\n"
        )
    };
    std::fs::write(p("by-path.m3u8"), hls(secret)).unwrap();
    std::fs::write(p("by-url.m3u8"), hls(&format!("file://{secret}"))).unwrap();
    std::fs::write(
        p("joined.mp4"),
        format!("ffconcat version 1.0\nfile '{secret}'\nfile '{secret}'\n"),
    )
    .unwrap();

    // Oversize sidecars (the limits are 1 MB below); without the caps both would be ready.
    make_clip(&p("wordy.mp4"), "160x120", 25, 2.0, false);
    big_srt(&p("wordy.srt"));
    make_clip(&p("framed.mp4"), "160x120", 25, 2.5, false);
    std::fs::File::create(p("framed.jpg"))
        .unwrap()
        .set_len(2_000_000)
        .unwrap();

    // A Windows-1252 subtitle with markup that WebVTT must not take as its own.
    make_clip(&p("latin.mp4"), "160x120", 25, 3.0, false);
    std::fs::write(
        p("latin.fr.srt"),
        b"1\r\n00:00:00,500 --> 00:00:01,500\r\nCaf\xe9 cr\xe8me br\xfbl\xe9e \x96 \x93d\xe9j\xe0 vu\x94\r\n\r\n2\r\n00:00:02,000 --> 00:00:02,800\r\n<font color=\"#ffff00\">Tom & Jerry <3</font> <I>na\xefve</I>\r\n",
    )
    .unwrap();

    let server = Server::start_with(
        &tmp.path().join("data"),
        Options {
            ingest: "max_subtitle_mb = 1\nmax_image_mb = 1\n".into(),
            ..Options::default()
        },
    );
    // Sidecars first, so they are in place when their video settles.
    for name in ["wordy.srt", "framed.jpg", "latin.fr.srt"] {
        drop_into(&server.inbox(), &p(name));
    }
    for name in [
        "by-path.m3u8",
        "by-url.m3u8",
        "joined.mp4",
        "wordy.mp4",
        "framed.mp4",
        "latin.mp4",
    ] {
        drop_into(&server.inbox(), &p(name));
    }

    let hls_reason =
        "playlists are not accepted: drop the media file itself (this is an HLS playlist)";
    let expectations = [
        ("by-path", hls_reason.to_string()),
        ("by-url", hls_reason.to_string()),
        (
            "joined",
            "playlists are not accepted: drop the media file itself (this is an FFmpeg concat list)"
                .to_string(),
        ),
        (
            "wordy",
            "subtitle file wordy.srt is 1.3 MB; the limit is 1 MB (ingest.max_subtitle_mb)"
                .to_string(),
        ),
        (
            "framed",
            "poster image framed.jpg is 2 MB; the limit is 1 MB (ingest.max_image_mb)".to_string(),
        ),
    ];
    for (title, reason) in &expectations {
        let asset = server.wait_finished(title, Duration::from_secs(120));
        assert_eq!(asset["status"], "failed", "{title}: {asset:#}");
        assert_eq!(asset["error"], reason.as_str(), "{title}");
        assert!(asset["playback_url"].is_null(), "{title}: {asset:#}");
    }
    // A failed file stays in the inbox, with its sidecar.
    for name in ["by-path.m3u8", "by-url.m3u8", "joined.mp4", "wordy.srt"] {
        assert!(server.inbox().join(name).is_file(), "{name} left the inbox");
    }

    let latin = server.wait_finished("latin", Duration::from_secs(120));
    assert_eq!(latin["status"], "ready", "{latin:#}\n{}", server.log());
    let vtt = std::fs::read(server.package_dir(&latin).join("subs_0.vtt")).unwrap();
    let vtt = String::from_utf8(vtt).expect("subs_0.vtt is UTF-8");
    assert!(
        vtt.contains(
            "00:00:00.500 --> 00:00:01.500\nCafé crème brûlée – “déjà vu”\n\n00:00:02.000 --> 00:00:02.800\nTom &amp; Jerry &lt;3 <i>naïve</i>\n"
        ),
        "{vtt}"
    );

    // Only the good video was published.
    let published: Vec<_> = std::fs::read_dir(server.data.join("library"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(published, vec![latin["id"].as_str().unwrap().to_string()]);
    assert!(server.healthy());
}

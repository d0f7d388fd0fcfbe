//! Real-world sources dropped into the inbox each come out as a correct package.

use std::path::Path;
use std::time::Duration;

use crate::hls_check::{self, check_package};
use crate::support::{Server, drop_into, ffmpeg, make_clip};

/// Gray 8-bit pixels of the first frame of `file`, as decoded by the `ffmpeg` program
/// (which applies display rotation itself).
fn first_frame_gray(file: &Path) -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn column_mean(pixels: &[u8], width: usize, cols: std::ops::Range<usize>) -> f64 {
    let height = pixels.len() / width;
    let n = cols.len() * height;
    let sum: u64 = (0..height)
        .flat_map(|y| cols.clone().map(move |x| y * width + x))
        .map(|i| u64::from(pixels[i]))
        .sum();
    sum as f64 / n as f64
}

fn make_sources(dir: &Path) {
    let p = |name: &str| dir.join(name);
    let s = |path: &Path| path.to_str().unwrap().to_string();

    // Plain clip with subtitle and poster sidecars.
    make_clip(&p("main.mp4"), "640x360", 30, 9.0, true);
    std::fs::write(
        p("main.en.srt"),
        "1\n00:00:01,000 --> 00:00:03,000\nHello\n\n2\n00:00:04,000 --> 00:00:05,500\nWorld\n",
    )
    .unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=320x180",
        "-frames:v",
        "1",
        &s(&p("main.jpg")),
    ]);

    // Phone video: stored landscape, display matrix says rotate 90°.
    let raw = dir.join("rotated-raw.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=white:s=320x240:r=30:d=3,drawbox=x=0:y=0:w=320:h=60:color=black:t=fill",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &s(&raw),
    ]);
    ffmpeg(&[
        "-i",
        &s(&raw),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        &s(&p("rotated.mp4")),
    ]);
    std::fs::remove_file(raw).unwrap();

    // Odd dimensions.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=319x241:rate=25:duration=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv444p",
        &s(&p("odd.mkv")),
    ]);
    // Anamorphic: 352x288 storage shown at 16:9.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=352x288:rate=25:duration=3",
        "-vf",
        "setsar=16/11",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &s(&p("anamorphic.mp4")),
    ]);
    // Variable frame rate: 3 s at 30 fps then 3 s at 10 fps.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30:duration=4",
        "-vf",
        "setpts='if(lt(N,90),N/30,3+(N-90)/10)/TB'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        &s(&p("vfr.mp4")),
    ]);
    // Interlaced, top field first.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=60:duration=3",
        "-vf",
        "interlace",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-flags",
        "+ildct+ilme",
        "-x264opts",
        "tff=1",
        &s(&p("interlaced.mkv")),
    ]);
    // 10-bit HDR (PQ, BT.2020).
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p10le",
        "-color_primaries",
        "bt2020",
        "-color_trc",
        "smpte2084",
        "-colorspace",
        "bt2020nc",
        &s(&p("hdr.mkv")),
    ]);
    // Audio only.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=330:sample_rate=44100:duration=5",
        "-c:a",
        "aac",
        &s(&p("podcast.m4a")),
    ]);
    // Video without audio.
    make_clip(&p("silent.mp4"), "320x240", 30, 3.0, false);
    // Two audio languages.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30:duration=3",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=3",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=660:duration=3",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "2:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-metadata:s:a:0",
        "language=eng",
        "-metadata:s:a:1",
        "language=fra",
        &s(&p("bilingual.mp4")),
    ]);
    // Shorter than one segment.
    make_clip(&p("short.mp4"), "320x240", 30, 1.0, true);
}

#[test]
fn real_world_sources_become_correct_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let sources = tmp.path().join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    make_sources(&sources);
    let server = Server::start(&tmp.path().join("data"), "jobs = 2\n");
    // Sidecars first, so they are in place when the media file settles.
    let mut names: Vec<_> = std::fs::read_dir(&sources)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort_by_key(|p| !matches!(p.extension().and_then(|e| e.to_str()), Some("srt" | "jpg")));
    for path in &names {
        drop_into(&server.inbox(), path);
    }

    let titles = [
        "main",
        "rotated",
        "odd",
        "anamorphic",
        "vfr",
        "interlaced",
        "hdr",
        "podcast",
        "silent",
        "bilingual",
        "short",
    ];
    let mut packages = std::collections::HashMap::new();
    for title in titles {
        let asset = server.wait_finished(title, Duration::from_secs(300));
        assert_eq!(
            asset["status"],
            "ready",
            "{title}: {asset:#}\n{}",
            server.log()
        );
        assert!(
            asset["playback_url"]
                .as_str()
                .unwrap()
                .ends_with("/master.m3u8")
        );
        let dir = server.package_dir(&asset);
        let report = check_package(&dir);
        packages.insert(title, (asset, dir, report));
    }
    // Only the poster and subtitle sidecars were not turned into assets of their own.
    assert_eq!(
        server.assets().len(),
        titles.len(),
        "{:#?}",
        server.assets()
    );

    // main: two aligned renditions, English subtitles, the sidecar poster, a sprite.
    let (asset, dir, report) = &packages["main"];
    let sizes: Vec<_> = report.video.iter().map(|v| v.0).collect();
    assert_eq!(sizes, vec![(640, 360), (426, 240)]);
    assert_eq!(report.video[0].1.durations.len(), 3, "9 s in 4 s segments");
    let subs: Vec<_> = report
        .master
        .media
        .iter()
        .filter(|m| m["TYPE"] == "SUBTITLES")
        .collect();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["LANGUAGE"], "en");
    let vtt = std::fs::read_to_string(dir.join("subs_0.vtt")).unwrap();
    assert!(
        vtt.contains("00:00:01.000 --> 00:00:03.000\nHello"),
        "{vtt}"
    );
    assert_eq!(
        std::fs::read(dir.join("poster.jpg")).unwrap(),
        std::fs::read(sources.join("main.jpg")).unwrap()
    );
    let thumbs = std::fs::read_to_string(dir.join("thumbs.vtt")).unwrap();
    assert!(
        thumbs.contains("thumbs/sprite_0.jpg#xywh=160,0,160,90"),
        "{thumbs}"
    );
    assert!(dir.join("thumbs/sprite_0.jpg").is_file());
    assert!(
        asset["poster_url"]
            .as_str()
            .unwrap()
            .ends_with("/poster.jpg")
    );
    // The source moved into the package, byte for byte; the inbox is empty of it.
    assert_eq!(
        std::fs::read(dir.join("source.mp4")).unwrap(),
        std::fs::read(sources.join("main.mp4")).unwrap()
    );
    assert!(!server.inbox().join("main.mp4").exists());
    assert!(dir.join("sidecars/main.en.srt").is_file());
    let duration = asset["duration_secs"].as_f64().unwrap();
    assert!((duration - 9.0).abs() < 0.2, "duration {duration}");

    // rotated: portrait and upright, exactly as ffmpeg's own autorotation shows the source.
    let (_, _, report) = &packages["rotated"];
    assert_eq!(report.video[0].0, (240, 320));
    let ours = first_frame_gray(&hls_check::first_segment_file(
        &report.video[0].2,
        &report.video[0].1,
    ));
    let reference = first_frame_gray(&sources.join("rotated.mp4"));
    assert_eq!(ours.len(), reference.len());
    for (name, frame) in [("marquee", &ours), ("ffmpeg", &reference)] {
        let (left, right) = (
            column_mean(frame, 240, 5..35),
            column_mean(frame, 240, 205..235),
        );
        assert!(
            left < 60.0 && right > 200.0,
            "{name}: left {left} right {right}"
        );
    }
    // A poster is made from a frame when there is no sidecar.
    assert!(packages["rotated"].1.join("poster.jpg").is_file());

    // odd: even dimensions, aspect kept.
    assert_eq!(packages["odd"].2.video[0].0, (318, 240));
    // anamorphic: square pixels at the display aspect (512x288 shown → 426x240).
    assert_eq!(packages["anamorphic"].2.video[0].0, (426, 240));
    // vfr: constant output rate from the average, full duration kept.
    let (asset, _, report) = &packages["vfr"];
    assert_eq!(report.master.variants[0].0["FRAME-RATE"], "20.000");
    assert!(
        (asset["duration_secs"].as_f64().unwrap() - 6.0).abs() < 0.3,
        "{asset}"
    );
    // interlaced and HDR: progressive 8-bit 4:2:0 SDR out.
    for title in ["interlaced", "hdr", "odd"] {
        let (_, _, report) = &packages[title];
        let seg = hls_check::first_segment_file(&report.video[0].2, &report.video[0].1);
        let v = hls_check::probe_streams(&seg)
            .into_iter()
            .find(|s| s["codec_type"] == "video")
            .unwrap();
        assert_eq!(v["pix_fmt"], "yuv420p", "{title}: {v:?}");
        assert!(
            v.get("field_order").is_none_or(|f| f == "progressive"),
            "{title}: {v:?}"
        );
        assert!(
            v.get("color_transfer").is_none_or(|t| t != "smpte2084"),
            "{title}: {v:?}"
        );
    }
    // audio only: no video rendition, one audio rendition, no poster or sprite.
    let (asset, dir, report) = &packages["podcast"];
    assert!(report.video.is_empty());
    assert_eq!(report.audio.len(), 1);
    assert!(
        report
            .master
            .variants
            .iter()
            .all(|(a, _)| !a.contains_key("RESOLUTION") && a["CODECS"] == "mp4a.40.2")
    );
    assert!(!dir.join("thumbs.vtt").exists() && asset["poster_url"].is_null());
    // no audio: no audio group at all.
    let (_, _, report) = &packages["silent"];
    assert!(report.audio.is_empty());
    assert!(
        report
            .master
            .variants
            .iter()
            .all(|(a, _)| !a.contains_key("AUDIO"))
    );
    // two languages: two audio renditions in one group.
    let (_, _, report) = &packages["bilingual"];
    let langs: Vec<_> = report
        .audio
        .iter()
        .map(|a| a.0["LANGUAGE"].clone())
        .collect();
    assert_eq!(langs, vec!["eng", "fra"]);
    // short: one segment.
    assert_eq!(packages["short"].2.video[0].1.durations.len(), 1);

    assert!(server.healthy());
}

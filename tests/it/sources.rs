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

/// Marquee's HDR → SDR chain (`media::filters`), written out independently of the code.
const HDR_TONE_MAP: &str = "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv";

/// Mean absolute difference (of 255) allowed between the package's frame and the reference:
/// x264 at the 240p rung's bitrate stays well within it.
const HDR_TOLERANCE: f64 = 3.0;

/// The first frame of `file` through `filter`, as 8-bit YUV 4:2:0.
fn first_frame_yuv(file: &Path, filter: &str) -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-vf", filter, "-frames:v", "1"])
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// (luma, chroma) mean absolute difference of two YUV 4:2:0 frames of `w`×`h`.
fn mean_abs_diff(a: &[u8], b: &[u8], w: u32, h: u32) -> (f64, f64) {
    let luma = (w * h) as usize;
    assert_eq!(a.len(), luma * 3 / 2, "frame size");
    assert_eq!(a.len(), b.len(), "frame sizes differ");
    let mad = |x: &[u8], y: &[u8]| {
        let sum: u64 = x
            .iter()
            .zip(y)
            .map(|(p, q)| u64::from(p.abs_diff(*q)))
            .sum();
        sum as f64 / x.len() as f64
    };
    (mad(&a[..luma], &b[..luma]), mad(&a[luma..], &b[luma..]))
}

/// What libavfilter's `idet` makes of a whole file (its multi-frame verdicts).
#[derive(Debug)]
struct Idet {
    tff: u64,
    bff: u64,
    progressive: u64,
    undetermined: u64,
}

impl Idet {
    fn total(&self) -> u64 {
        self.tff + self.bff + self.progressive + self.undetermined
    }
}

fn idet(file: &Path) -> Idet {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(file)
        .args(["-an", "-vf", "idet", "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let line = log
        .lines()
        .find_map(|l| l.split_once("Multi frame detection:").map(|(_, v)| v))
        .unwrap_or_else(|| panic!("no idet summary: {log}"));
    let count = |key: &str| -> u64 {
        let after = line.split_once(key).unwrap().1;
        after.split_whitespace().next().unwrap().parse().unwrap()
    };
    Idet {
        tff: count("TFF:"),
        bff: count("BFF:"),
        progressive: count("Progressive:"),
        undetermined: count("Undetermined:"),
    }
}

/// A video rendition's init and every segment joined into one file at `out`.
fn whole_rendition(
    playlist_path: &Path,
    playlist: &hls_check::MediaPlaylist,
    out: &Path,
) -> std::path::PathBuf {
    let dir = playlist_path.parent().unwrap();
    let mut bytes = std::fs::read(dir.join(playlist.init.as_deref().unwrap())).unwrap();
    for segment in &playlist.segments {
        bytes.extend(std::fs::read(dir.join(segment)).unwrap());
    }
    std::fs::write(out, bytes).unwrap();
    out.to_path_buf()
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
    // Interlaced, top field first: 60 fps of fast horizontal panning woven into 30 fps of
    // interlaced frames, so every frame combs. 240 lines, the height of the lowest rung, so
    // the top rendition keeps every line.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x240:rate=60:duration=3,crop=320:240:x='mod(n*4,320)':y=0",
        // Here rather than in the lavfi input, whose packets lose the frames' field flags:
        // the encoder tags the field order from them, and Marquee's probe reads that tag.
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
    // 10-bit HDR (PQ, BT.2020) that needs tone-mapping: SDR white placed at 1000 nits.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25:duration=3,format=yuv420p,zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t=smpte2084:m=bt2020nc:p=bt2020:r=tv:npl=1000,format=yuv420p10le",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
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
    // 8-bit 4:2:0 out, whatever came in.
    for title in ["interlaced", "hdr", "odd"] {
        let (_, _, report) = &packages[title];
        let seg = hls_check::first_segment_file(&report.video[0].2, &report.video[0].1);
        let v = hls_check::probe_streams(&seg)
            .into_iter()
            .find(|s| s["codec_type"] == "video")
            .unwrap();
        assert_eq!(v["pix_fmt"], "yuv420p", "{title}: {v:?}");
    }
    // interlaced: the source combs on every frame, the package on none.
    let (_, dir, report) = &packages["interlaced"];
    assert_eq!(
        report.video[0].0,
        (320, 240),
        "the top rendition keeps every line"
    );
    let source = idet(&sources.join("interlaced.mkv"));
    assert!(source.tff >= source.total() * 8 / 10, "source: {source:?}");
    let ours = idet(&whole_rendition(
        &report.video[0].2,
        &report.video[0].1,
        &tmp.path().join("interlaced-out.mp4"),
    ));
    assert!(
        ours.progressive >= ours.total() * 8 / 10,
        "package ({}): {ours:?}",
        dir.display()
    );
    // hdr: the first frame matches the `ffmpeg` program's tone-map of the same source frame
    // through the same chain; untone-mapped versions of it are far off.
    let (asset, _, report) = &packages["hdr"];
    assert_eq!(asset["warnings"], serde_json::json!([]), "{asset:#}");
    let (w, h) = report.video[0].0;
    let ours = first_frame_yuv(
        &hls_check::first_segment_file(&report.video[0].2, &report.video[0].1),
        "null",
    );
    let to_rendition = format!("scale={w}:{h}:flags=bicubic,setsar=1,format=yuv420p");
    let hdr = sources.join("hdr.mkv");
    let reference = first_frame_yuv(&hdr, &format!("{HDR_TONE_MAP},{to_rendition}"));
    let diff = mean_abs_diff(&ours, &reference, w, h);
    assert!(
        diff.0 < HDR_TOLERANCE && diff.1 < HDR_TOLERANCE,
        "luma and chroma differ from the reference tone-map by {diff:?}"
    );
    for (what, chain) in [
        ("no conversion", to_rendition.clone()),
        (
            "BT.709 without tone-mapping",
            format!("zscale=t=bt709:m=bt709:p=bt709:r=tv:npl=100,{to_rendition}"),
        ),
    ] {
        let naive = first_frame_yuv(&hdr, &chain);
        let naive_diff = mean_abs_diff(&ours, &naive, w, h);
        assert!(
            naive_diff.0 > 4.0 * HDR_TOLERANCE,
            "{what}: too close to the package ({naive_diff:?}) for the test to tell"
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

/// The codecs and containers cameras, editors and old archives produce, each with a
/// different audio codec, made by the `ffmpeg` program. The static build's FFmpeg is cut
/// down to packaging/ffmpeg-components.txt: this is what proves it still reads them.
const INPUT_CODECS: [(&str, &[&str]); 13] = [
    (
        "hevc.mkv",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=none",
            "-c:a",
            "libmp3lame",
        ],
    ),
    (
        "vp9.webm",
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-c:a",
            "libopus",
        ],
    ),
    (
        "vp8.webm",
        &[
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-c:a",
            "libvorbis",
        ],
    ),
    (
        "av1.mkv",
        &[
            "-c:v",
            "libaom-av1",
            "-usage",
            "realtime",
            "-cpu-used",
            "8",
            "-c:a",
            "flac",
        ],
    ),
    (
        "prores.mov",
        &["-c:v", "prores_ks", "-profile:v", "0", "-c:a", "pcm_s24le"],
    ),
    (
        "dnxhr.mov",
        &[
            "-c:v",
            "dnxhd",
            "-profile:v",
            "dnxhr_lb",
            "-pix_fmt",
            "yuv422p",
            "-c:a",
            "pcm_s16le",
        ],
    ),
    ("mpeg2.ts", &["-c:v", "mpeg2video", "-c:a", "ac3"]),
    ("mpeg2ps.mpg", &["-c:v", "mpeg2video", "-c:a", "mp2"]),
    ("mpeg4.avi", &["-c:v", "mpeg4", "-c:a", "libmp3lame"]),
    ("windows.wmv", &["-c:v", "wmv2", "-c:a", "wmav2"]),
    (
        "eac3.mp4",
        &["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "eac3"],
    ),
    ("alac.m4a", &["-vn", "-c:a", "alac"]),
    ("pcm.wav", &["-vn", "-c:a", "pcm_s16le"]),
];

#[test]
fn every_common_input_codec_becomes_a_package() {
    let tmp = tempfile::tempdir().unwrap();
    let sources = tmp.path().join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    for (name, codecs) in INPUT_CODECS {
        let out = sources.join(name);
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=256x144:rate=25:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=2",
        ];
        args.extend_from_slice(codecs);
        args.push(out.to_str().unwrap());
        ffmpeg(&args);
    }
    let server = Server::start(&tmp.path().join("data"), "jobs = 2\n");
    for (name, _) in INPUT_CODECS {
        drop_into(&server.inbox(), &sources.join(name));
    }
    for (name, codecs) in INPUT_CODECS {
        let title = name.split('.').next().unwrap();
        let asset = server.wait_finished(title, Duration::from_secs(300));
        assert_eq!(asset["status"], "ready", "{name}: {asset:#}");
        let report = check_package(&server.package_dir(&asset));
        let sizes: Vec<_> = report.video.iter().map(|v| v.0).collect();
        let expected = if codecs.contains(&"-vn") {
            vec![]
        } else {
            vec![(256, 144)]
        };
        assert_eq!(sizes, expected, "{name}");
        assert_eq!(report.audio.len(), 1, "{name}: one audio rendition");
        let duration = asset["duration_secs"].as_f64().unwrap();
        assert!((duration - 2.0).abs() < 0.2, "{name}: duration {duration}");
    }
}

//! An independent check of a finished HLS package on disk: playlist rules, aligned
//! segment boundaries across video renditions, a keyframe at the start of every segment,
//! and every segment decoding cleanly with the `ffmpeg` program.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone)]
pub struct MediaPlaylist {
    pub target: f64,
    pub durations: Vec<f64>,
    pub segments: Vec<String>,
    pub init: Option<String>,
    pub ended: bool,
}

pub fn parse_media(text: &str) -> MediaPlaylist {
    let mut p = MediaPlaylist {
        target: 0.0,
        durations: vec![],
        segments: vec![],
        init: None,
        ended: false,
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target = v.trim().parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            p.durations
                .push(v.split(',').next().unwrap().parse().unwrap());
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
            p.init = attrs(v).get("URI").cloned();
        } else if line == "#EXT-X-ENDLIST" {
            p.ended = true;
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            p.segments.push(line.trim().to_string());
        }
    }
    p
}

/// Attribute list of an HLS tag (`A=1,B="x,y"`).
pub fn attrs(list: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = list;
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap();
            (&q[..end], q[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        out.insert(key.trim().to_string(), value.to_string());
        rest = next;
    }
    out
}

#[derive(Debug)]
pub struct Master {
    /// (attributes, uri) of each EXT-X-STREAM-INF.
    pub variants: Vec<(HashMap<String, String>, String)>,
    pub media: Vec<HashMap<String, String>>,
}

pub fn parse_master(text: &str) -> Master {
    let mut m = Master {
        variants: vec![],
        media: vec![],
    };
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(v) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let uri = lines.next().unwrap().trim().to_string();
            m.variants.push((attrs(v), uri));
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA:") {
            m.media.push(attrs(v));
        }
    }
    m
}

#[derive(Debug)]
pub struct PackageReport {
    pub master: Master,
    /// Video playlists by (width, height).
    pub video: Vec<((u32, u32), MediaPlaylist, PathBuf)>,
    pub audio: Vec<(HashMap<String, String>, MediaPlaylist, PathBuf)>,
}

/// Checks a package and panics with a precise message on the first violation.
pub fn check_package(dir: &Path) -> PackageReport {
    let master_text = std::fs::read_to_string(dir.join("master.m3u8")).expect("master.m3u8");
    assert!(
        master_text.starts_with("#EXTM3U\n#EXT-X-VERSION:7"),
        "{master_text}"
    );
    let master = parse_master(&master_text);
    assert!(!master.variants.is_empty(), "no variants: {master_text}");
    assert!(dir.join("package.json").is_file(), "package.json missing");

    let mut video = Vec::new();
    for (a, uri) in &master.variants {
        for key in ["BANDWIDTH", "AVERAGE-BANDWIDTH", "CODECS"] {
            assert!(
                a.contains_key(key),
                "variant {uri} lacks {key}: {master_text}"
            );
        }
        let bw: u64 = a["BANDWIDTH"].parse().unwrap();
        let avg: u64 = a["AVERAGE-BANDWIDTH"].parse().unwrap();
        assert!(
            avg <= bw && avg > 0,
            "AVERAGE-BANDWIDTH {avg} vs BANDWIDTH {bw}"
        );
        if let Some(res) = a.get("RESOLUTION") {
            assert!(
                a.contains_key("FRAME-RATE"),
                "video variant without FRAME-RATE"
            );
            let (w, h) = res.split_once('x').unwrap();
            let path = dir.join(uri);
            let playlist = parse_media(&std::fs::read_to_string(&path).unwrap());
            video.push(((w.parse().unwrap(), h.parse().unwrap()), playlist, path));
        }
    }
    let mut audio = Vec::new();
    for m in master.media.iter().filter(|m| m["TYPE"] == "AUDIO") {
        let path = dir.join(&m["URI"]);
        let playlist = parse_media(&std::fs::read_to_string(&path).unwrap());
        audio.push((m.clone(), playlist, path));
    }
    for m in master.media.iter().filter(|m| m["TYPE"] == "SUBTITLES") {
        let pl = std::fs::read_to_string(dir.join(&m["URI"])).unwrap();
        let vtt = parse_media(&pl).segments[0].clone();
        let text = std::fs::read_to_string(dir.join(&vtt)).unwrap();
        assert!(text.starts_with("WEBVTT"), "{vtt} is not WebVTT");
    }

    for (_, playlist, path) in &video {
        check_timing(playlist, path);
    }
    for (_, playlist, path) in &audio {
        check_timing(playlist, path);
    }
    if let Some((_, first, first_path)) = video.first() {
        for (size, other, _) in &video[1..] {
            assert_eq!(
                first.durations.len(),
                other.durations.len(),
                "{size:?} has a different segment count than {}",
                first_path.display()
            );
            for (i, (a, b)) in first.durations.iter().zip(&other.durations).enumerate() {
                assert!(
                    (a - b).abs() < 0.002,
                    "segment {i} boundaries differ: {a} vs {b} ({size:?})"
                );
            }
        }
    }
    for (size, playlist, path) in &video {
        for seg in &playlist.segments {
            let file = joined_segment(path, playlist, seg);
            let flags = first_video_packet_flags(&file);
            assert!(
                flags.starts_with('K'),
                "{size:?} {seg} does not start with a keyframe (flags {flags})"
            );
            assert_decodes(&file);
        }
    }
    for (_, playlist, path) in &audio {
        for seg in &playlist.segments {
            assert_decodes(&joined_segment(path, playlist, seg));
        }
    }
    PackageReport {
        master,
        video,
        audio,
    }
}

fn check_timing(p: &MediaPlaylist, path: &Path) {
    assert!(p.ended, "{} has no EXT-X-ENDLIST", path.display());
    assert!(
        !p.durations.is_empty(),
        "{} has no segments",
        path.display()
    );
    for (i, d) in p.durations.iter().enumerate() {
        assert!(
            *d <= p.target + 1e-6,
            "{}: segment {i} lasts {d} s, over the target {}",
            path.display(),
            p.target
        );
        if i + 1 < p.durations.len() {
            assert!(
                (d - p.target).abs() <= 0.5,
                "{}: segment {i} lasts {d} s, target {}",
                path.display(),
                p.target
            );
        }
    }
}

/// init + one media segment as a standalone fMP4 file.
fn joined_segment(playlist_path: &Path, p: &MediaPlaylist, seg: &str) -> PathBuf {
    let dir = playlist_path.parent().unwrap();
    let mut bytes =
        std::fs::read(dir.join(p.init.as_deref().expect("fMP4 playlist without EXT-X-MAP")))
            .unwrap();
    bytes.extend(std::fs::read(dir.join(seg)).unwrap());
    let out = std::env::temp_dir().join(format!(
        "marquee-seg-{}-{}.mp4",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::write(&out, bytes).unwrap();
    out
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn first_video_packet_flags(file: &Path) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=flags",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

pub fn assert_decodes(file: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-xerror", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "{} does not decode cleanly: {err}",
        file.display()
    );
    let _ = std::fs::remove_file(file);
}

/// Stream facts of a file, from ffprobe: (codec_type, width, height, pix_fmt, field_order, color_transfer).
pub fn probe_streams(file: &Path) -> Vec<HashMap<String, String>> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,width,height,pix_fmt,field_order,color_transfer",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .collect()
}

/// The first segment of a video playlist joined with its init, for inspection.
pub fn first_segment_file(playlist_path: &Path, p: &MediaPlaylist) -> PathBuf {
    joined_segment(playlist_path, p, &p.segments[0])
}

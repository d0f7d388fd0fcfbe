//! What a package folder holds, recorded in its manifest so the origin serves exactly the
//! files the package writer made. Plain file-system code, no FFmpeg: the server uses it
//! too, to list packages made before the manifest recorded its files.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use super::spec::{MANIFEST_NAME, PackageManifest, rendition_folder, segment_index};

/// The folder the source's sidecars are moved into when the package is published.
const SIDECARS: &str = "sidecars";

/// Fills `manifest.files` and every rendition's segment count from what `dir` holds. The
/// source (`source.*`), its sidecars and the manifest itself are never listed; nor is
/// anything that is not a plain file, or deeper than one folder.
pub fn record(dir: &Path, manifest: &mut PackageManifest) -> io::Result<()> {
    let rendition_folders: Vec<String> = manifest
        .segmented()
        .filter_map(|(playlist, _)| rendition_folder(playlist).map(str::to_string))
        .collect();
    let mut files = BTreeSet::new();
    let mut segments: Vec<(String, BTreeSet<u32>)> = rendition_folders
        .iter()
        .map(|f| (f.clone(), BTreeSet::new()))
        .collect();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let kind = entry.file_type()?;
        if kind.is_file() && !is_package_bookkeeping(&name) {
            files.insert(name);
        } else if kind.is_dir() && name != SIDECARS {
            let counted = segments.iter_mut().find(|(f, _)| *f == name);
            let mut counted = counted.map(|(_, s)| s);
            for inner in std::fs::read_dir(entry.path())? {
                let inner = inner?;
                let Ok(inner_name) = inner.file_name().into_string() else {
                    continue;
                };
                if !inner.file_type()?.is_file() {
                    continue;
                }
                match (segment_index(&inner_name), counted.as_mut()) {
                    (Some(index), Some(indices)) => {
                        indices.insert(index);
                    }
                    _ => {
                        files.insert(format!("{name}/{inner_name}"));
                    }
                }
            }
        }
    }
    manifest.files = files.into_iter().collect();
    // A rendition serves its segments from 0 up to the first one missing.
    let count = |folder: &str| {
        segments
            .iter()
            .find(|(f, _)| f == folder)
            .map_or(0, |(_, indices)| {
                (0..).take_while(|i| indices.contains(i)).count() as u32
            })
    };
    for v in &mut manifest.video {
        v.segments = rendition_folder(&v.playlist).map_or(0, count);
    }
    for a in &mut manifest.audio {
        a.segments = rendition_folder(&a.playlist).map_or(0, count);
    }
    Ok(())
}

/// Top-level names that are never part of what the package serves.
fn is_package_bookkeeping(name: &str) -> bool {
    name.starts_with(MANIFEST_NAME) || name == "source" || name.starts_with("source.")
}

/// Writes `package.json` into `dir` atomically: temp file, fsync, rename.
pub fn write_manifest(dir: &Path, manifest: &PackageManifest) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    let tmp = dir.join(format!("{MANIFEST_NAME}.tmp"));
    std::fs::write(&tmp, json)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join(MANIFEST_NAME))
}

pub fn read_manifest(dir: &Path) -> io::Result<PackageManifest> {
    let text = std::fs::read_to_string(dir.join(MANIFEST_NAME))?;
    serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// For a package made before manifests listed their files: lists them from the folder,
/// rewrites its `package.json`, and returns the manifest.
pub fn upgrade(dir: &Path) -> io::Result<PackageManifest> {
    let mut manifest = read_manifest(dir)?;
    record(dir, &mut manifest)?;
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::spec::{AudioRendition, SubtitleTrack, VideoRendition, segment_name};

    fn legacy_manifest() -> PackageManifest {
        PackageManifest {
            duration_secs: 10.0,
            master: "master.m3u8".into(),
            video: vec![VideoRendition {
                playlist: "video_360p/index.m3u8".into(),
                width: 640,
                height: 360,
                frame_rate: 30.0,
                bandwidth: 1,
                average_bandwidth: 1,
                codecs: "avc1.64001e".into(),
                segments: 0,
            }],
            audio: vec![AudioRendition {
                playlist: "audio_0/index.m3u8".into(),
                language: None,
                name: "Audio".into(),
                bandwidth: 1,
                average_bandwidth: 1,
                codecs: "mp4a.40.2".into(),
                segments: 0,
            }],
            subtitles: vec![SubtitleTrack {
                playlist: "subs_0.m3u8".into(),
                file: "subs_0.vtt".into(),
                language: Some("en".into()),
                name: "English".into(),
            }],
            poster: Some("poster.jpg".into()),
            thumbnails: Some("thumbs.vtt".into()),
            warnings: Vec::new(),
            files: Vec::new(),
            encrypted: false,
        }
    }

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_name(7), "seg_00007.m4s");
        assert_eq!(segment_index("seg_00007.m4s"), Some(7));
        assert_eq!(segment_index("seg_123456.m4s"), Some(123_456));
        for odd in [
            "seg_7.m4s",
            "seg_+0007.m4s",
            "seg_00007.mp4",
            "xseg_00007.m4s",
            "seg_.m4s",
        ] {
            assert_eq!(segment_index(odd), None, "{odd}");
        }
        assert_eq!(
            crate::media::spec::segment_template(),
            "seg_%05d.m4s",
            "the muxer's pattern"
        );
    }

    #[test]
    fn a_package_made_before_file_lists_is_listed_and_rewritten() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let manifest = legacy_manifest();
        // What an older version wrote: no `files`, no `segments`.
        let mut json = serde_json::to_value(&manifest).unwrap();
        json.as_object_mut().unwrap().remove("files");
        for key in ["video", "audio"] {
            json[key][0].as_object_mut().unwrap().remove("segments");
        }
        std::fs::write(dir.join(MANIFEST_NAME), json.to_string()).unwrap();
        for folder in ["video_360p", "audio_0", "thumbs", "sidecars"] {
            std::fs::create_dir(dir.join(folder)).unwrap();
        }
        for file in [
            "master.m3u8",
            "subs_0.m3u8",
            "subs_0.vtt",
            "poster.jpg",
            "thumbs.vtt",
            "thumbs/sprite_0.jpg",
            "video_360p/index.m3u8",
            "video_360p/init.mp4",
            "video_360p/seg_00000.m4s",
            "video_360p/seg_00001.m4s",
            "video_360p/seg_00002.m4s",
            "audio_0/index.m3u8",
            "audio_0/init.mp4",
            "audio_0/seg_00000.m4s",
            "audio_0/seg_00001.m4s",
            // Never part of the package: the source, its sidecars, the manifest.
            "source.m4s",
            "sidecars/show.en.srt",
            "package.json.tmp",
        ] {
            std::fs::write(dir.join(file), b"x").unwrap();
        }
        let upgraded = upgrade(dir).unwrap();
        assert_eq!(
            upgraded.files,
            [
                "audio_0/index.m3u8",
                "audio_0/init.mp4",
                "master.m3u8",
                "poster.jpg",
                "subs_0.m3u8",
                "subs_0.vtt",
                "thumbs.vtt",
                "thumbs/sprite_0.jpg",
                "video_360p/index.m3u8",
                "video_360p/init.mp4",
            ]
        );
        assert_eq!(
            (upgraded.video[0].segments, upgraded.audio[0].segments),
            (3, 2)
        );
        assert_eq!(
            read_manifest(dir).unwrap(),
            upgraded,
            "package.json rewritten"
        );
        assert!(upgraded.serves("video_360p/seg_00002.m4s"));
        assert!(upgraded.serves("audio_0/seg_00001.m4s"));
        assert!(upgraded.serves("thumbs/sprite_0.jpg"));
        for not_served in [
            "source.m4s",
            "package.json",
            "sidecars/show.en.srt",
            "video_360p/seg_00003.m4s",
            "audio_0/seg_00002.m4s",
            "video_360p/seg_0.m4s",
            "thumbs/seg_00000.m4s",
            "seg_00000.m4s",
        ] {
            assert!(!upgraded.serves(not_served), "{not_served}");
        }
    }
}

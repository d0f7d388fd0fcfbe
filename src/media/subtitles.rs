//! Subtitle sidecars become WebVTT renditions: SubRip is converted, WebVTT is checked and
//! copied, and each gets a one-segment media playlist spanning the whole title.

use std::fmt::Write as _;
use std::path::Path;

use super::MediaError;
use super::spec::SubtitleTrack;

pub fn import(
    source: &Path,
    out_dir: &Path,
    index: usize,
    language: Option<&str>,
    duration_secs: f64,
) -> Result<SubtitleTrack, MediaError> {
    let raw = std::fs::read(source)?;
    let text = String::from_utf8_lossy(&raw);
    let text = text
        .trim_start_matches('\u{feff}')
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let is_vtt = source
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("vtt"));
    let vtt = if is_vtt {
        if !text.starts_with("WEBVTT") {
            return Err(MediaError::input(format!(
                "subtitle file {name} is not WebVTT: it must start with \"WEBVTT\""
            )));
        }
        text
    } else {
        srt_to_vtt(&text).map_err(|e| MediaError::input(format!("subtitle file {name}: {e}")))?
    };
    let file = format!("subs_{index}.vtt");
    let playlist = format!("subs_{index}.m3u8");
    std::fs::write(out_dir.join(&file), vtt)?;
    let target = duration_secs.ceil().max(1.0) as u64;
    std::fs::write(
        out_dir.join(&playlist),
        format!(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{duration_secs:.3},\n{file}\n#EXT-X-ENDLIST\n"
        ),
    )?;
    Ok(SubtitleTrack {
        playlist,
        file,
        language: language.map(str::to_string),
        name: language
            .map(language_name)
            .unwrap_or_else(|| format!("Subtitles {}", index + 1)),
    })
}

/// Converts SubRip to WebVTT. Cue numbers are dropped, comma decimal separators become dots.
pub fn srt_to_vtt(srt: &str) -> Result<String, String> {
    let mut out = String::from("WEBVTT\n\n");
    let mut cues = 0;
    for block in srt.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let mut lines = block.lines();
        let mut first = lines.next().unwrap_or_default();
        if !first.contains("-->") {
            first = lines.next().unwrap_or_default();
        }
        let (start, end) = first
            .split_once("-->")
            .ok_or_else(|| format!("cue {} has no \"start --> end\" timing line", cues + 1))?;
        let start =
            srt_time(start.trim()).ok_or_else(|| format!("bad start time {:?}", start.trim()))?;
        let end = srt_time(end.split_whitespace().next().unwrap_or_default())
            .ok_or_else(|| format!("bad end time {:?}", end.trim()))?;
        let _ = writeln!(out, "{start} --> {end}");
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        cues += 1;
    }
    if cues == 0 {
        return Err("no subtitle cues found".into());
    }
    Ok(out)
}

/// `HH:MM:SS,mmm` → `HH:MM:SS.mmm`.
fn srt_time(t: &str) -> Option<String> {
    let t = t.replace(',', ".");
    let (hms, ms) = t.split_once('.')?;
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() != 3 || ms.len() != 3 || !ms.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nums: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    let nums = nums?;
    if nums[1] >= 60 || nums[2] >= 60 {
        return None;
    }
    Some(format!("{:02}:{:02}:{:02}.{ms}", nums[0], nums[1], nums[2]))
}

fn language_name(code: &str) -> String {
    match code.to_ascii_lowercase().as_str() {
        "en" | "eng" => "English",
        "fr" | "fra" | "fre" => "Français",
        "de" | "deu" | "ger" => "Deutsch",
        "es" | "spa" => "Español",
        "it" | "ita" => "Italiano",
        "pt" | "por" => "Português",
        "nl" | "nld" | "dut" => "Nederlands",
        "ja" | "jpn" => "日本語",
        "zh" | "zho" | "chi" => "中文",
        _ => return code.to_string(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_srt() {
        let vtt = srt_to_vtt("1\n00:00:01,000 --> 00:00:02,500\nHello\nworld\n\n2\n00:00:03,000 --> 00:00:04,000\nBye\n").unwrap();
        assert_eq!(
            vtt,
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello\nworld\n\n00:00:03.000 --> 00:00:04.000\nBye\n\n"
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(srt_to_vtt("hello there").is_err());
        assert!(srt_to_vtt("1\n00:00:01,000 --> banana\nx").is_err());
        assert!(srt_to_vtt("").is_err());
    }
}

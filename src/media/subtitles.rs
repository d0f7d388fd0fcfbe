//! Subtitle sidecars become WebVTT renditions: SubRip is converted, WebVTT is checked and
//! copied, and each gets a one-segment media playlist spanning the whole title. Either may
//! come in a legacy encoding; the output is always UTF-8.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, WINDOWS_1252};

use super::MediaError;
use super::sidecar::{self, SizeLimit};
use super::spec::SubtitleTrack;

pub fn import(
    source: &Path,
    out_dir: &Path,
    index: usize,
    language: Option<&str>,
    duration_secs: f64,
    max_mb: u64,
) -> Result<SubtitleTrack, MediaError> {
    let mut raw = Vec::new();
    sidecar::open(source, SizeLimit::subtitle(max_mb))?.read_to_end(&mut raw)?;
    let text = decode_text(&raw);
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

/// Subtitle bytes as text: a byte order mark decides (UTF-8, UTF-16LE/BE), then valid UTF-8
/// is taken as such, else the encoding is guessed from the bytes (Windows-1252 when the guess
/// does not decode cleanly). Subtitles from before UTF-8 are mostly Windows code pages.
pub fn decode_text(raw: &[u8]) -> String {
    if let Some((encoding, bom_len)) = Encoding::for_bom(raw) {
        return encoding
            .decode_without_bom_handling(&raw[bom_len..])
            .0
            .into_owned();
    }
    if let Ok(text) = std::str::from_utf8(raw) {
        return text.to_owned();
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(raw, true);
    let guess = detector.guess(None, Utf8Detection::Deny);
    let (text, had_errors) = guess.decode_without_bom_handling(raw);
    if had_errors {
        WINDOWS_1252.decode_without_bom_handling(raw).0.into_owned()
    } else {
        text.into_owned()
    }
}

/// Converts SubRip to WebVTT. Cue numbers are dropped, comma decimal separators become dots,
/// and cue text is escaped for WebVTT (see [`srt_cue_text`]).
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
            out.push_str(&srt_cue_text(line));
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

/// One line of SubRip cue text as WebVTT cue text. SubRip is plain text with a few HTML-like
/// tags; WebVTT is markup, so `&`, `<` and `>` are escaped, except the `<i>`, `<b>` and `<u>`
/// tags both understand (written in lower case, as WebVTT requires). `<font>` tags, common in
/// SubRip but not WebVTT, are dropped rather than shown as text.
fn srt_cue_text(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                if let Some((tag, len)) = srt_tag(rest) {
                    out.push_str(tag);
                    rest = &rest[len..];
                    continue;
                }
                out.push_str("&lt;");
            }
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The tag `s` starts with, if it is one SubRip players honour: its WebVTT form (empty for
/// a dropped tag) and its length in `s`.
fn srt_tag(s: &str) -> Option<(&'static str, usize)> {
    let end = s.find('>')?;
    let inner = s[1..end].trim();
    let (closing, name) = match inner.strip_prefix('/') {
        Some(name) => (true, name.trim()),
        None => (false, inner),
    };
    let (word, attributes) = name.split_once(char::is_whitespace).unwrap_or((name, ""));
    let tag = match (closing, word.to_ascii_lowercase().as_str()) {
        (false, "i") if attributes.is_empty() => "<i>",
        (false, "b") if attributes.is_empty() => "<b>",
        (false, "u") if attributes.is_empty() => "<u>",
        (true, "i") => "</i>",
        (true, "b") => "</b>",
        (true, "u") => "</u>",
        (_, "font") => "",
        _ => return None,
    };
    Some((tag, end + 1))
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
    fn legacy_encodings_are_decoded() {
        // Latin-1 / Windows-1252, as most old SubRip files are.
        assert_eq!(decode_text(b"Caf\xe9 cr\xe8me"), "Café crème");
        assert_eq!(
            decode_text(b"\x93Voil\xe0\x94, dit-il \x96 na\xefvement."),
            "“Voilà”, dit-il – naïvement."
        );
        // UTF-16 with a byte order mark, both byte orders.
        let le: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain("Ça va ♪".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_text(&le), "Ça va ♪");
        let be: Vec<u8> = [0xfe, 0xff]
            .into_iter()
            .chain("Ça va ♪".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode_text(&be), "Ça va ♪");
        // UTF-8, with and without a byte order mark, is taken as it is.
        assert_eq!(decode_text("\u{feff}Grüße".as_bytes()), "Grüße");
        assert_eq!(decode_text("Grüße 日本".as_bytes()), "Grüße 日本");
    }

    #[test]
    fn a_utf16_srt_converts() {
        let srt = "1\r\n00:00:01,000 --> 00:00:02,000\r\nÉté\r\n";
        let raw: Vec<u8> = [0xff, 0xfe]
            .into_iter()
            .chain(srt.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let text = decode_text(&raw).replace("\r\n", "\n");
        assert_eq!(
            srt_to_vtt(&text).unwrap(),
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nÉté\n\n"
        );
    }

    #[test]
    fn cue_text_is_escaped_for_webvtt() {
        assert_eq!(srt_cue_text("Tom & Jerry <3"), "Tom &amp; Jerry &lt;3");
        assert_eq!(srt_cue_text("a -> b > c"), "a -&gt; b &gt; c");
        assert_eq!(srt_cue_text("<I>x</I>"), "<i>x</i>");
        assert_eq!(
            srt_cue_text("<b>bold</ B> <u>u</u>"),
            "<b>bold</b> <u>u</u>"
        );
        assert_eq!(
            srt_cue_text("<font color=\"#ff0000\">red</font> <FONT face=Arial>x</FONT>"),
            "red x"
        );
        // Anything else that looks like a tag is text.
        assert_eq!(
            srt_cue_text("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(srt_cue_text("<i class=x>y"), "&lt;i class=x&gt;y");
        assert_eq!(srt_cue_text("a < b"), "a &lt; b");
    }

    #[test]
    fn srt_cues_are_escaped() {
        let vtt = srt_to_vtt("1\n00:00:01,000 --> 00:00:02,000\n<i>Tom & Jerry</i> <3\n").unwrap();
        assert_eq!(
            vtt,
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<i>Tom &amp; Jerry</i> &lt;3\n\n"
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(srt_to_vtt("hello there").is_err());
        assert!(srt_to_vtt("1\n00:00:01,000 --> banana\nx").is_err());
        assert!(srt_to_vtt("").is_err());
    }
}

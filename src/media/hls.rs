//! HLS output: one libavformat `hls` muxer per rendition (fMP4 segments, VOD playlist), and
//! the master playlist, which we write ourselves from measured segment sizes.

use std::ffi::CString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ff::{Dictionary, Packet, Rational, encoder, ffi, format};
use ffmpeg_next as ff;

use super::MediaError;
use super::spec::{AudioRendition, SubtitleTrack, VideoRendition};

pub const PLAYLIST_NAME: &str = "index.m3u8";
pub const MASTER_NAME: &str = "master.m3u8";

/// A running `hls` muxer writing `<dir>/index.m3u8`, `<dir>/init.mp4` and `<dir>/seg_NNNNN.m4s`.
pub struct HlsOutput {
    ctx: format::context::Output,
    encoder_time_base: Rational,
    stream_time_base: Rational,
}

impl HlsOutput {
    /// `segment_secs` is the exact length the muxer should cut at, in seconds.
    pub fn create(
        dir: &Path,
        segment_secs: f64,
        encoder: &encoder::Encoder,
    ) -> Result<Self, MediaError> {
        std::fs::create_dir_all(dir)?;
        let playlist = dir.join(PLAYLIST_NAME);
        let ctx = alloc_hls_context(&playlist)?;
        let mut ctx = ctx;
        {
            let mut stream = ctx
                .add_stream(
                    encoder
                        .codec()
                        .ok_or_else(|| MediaError::internal("hls", "encoder has no codec"))?,
                )
                .map_err(|e| MediaError::internal("hls add stream", e))?;
            stream.set_parameters(encoder);
            stream.set_time_base(encoder.time_base());
        }
        let mut opts = Dictionary::new();
        // Truncate to whole microseconds so a keyframe exactly on the boundary always qualifies.
        opts.set(
            "hls_time",
            &format!("{:.6}", (segment_secs * 1e6).floor() / 1e6),
        );
        opts.set("hls_playlist_type", "vod");
        opts.set("hls_list_size", "0");
        opts.set("hls_segment_type", "fmp4");
        opts.set("hls_fmp4_init_filename", "init.mp4");
        opts.set(
            "hls_segment_filename",
            &dir.join(super::spec::segment_template()).to_string_lossy(),
        );
        opts.set("hls_flags", "independent_segments");
        ctx.write_header_with(opts)
            .map_err(|e| MediaError::internal("hls write header", e))?;
        let stream_time_base = ctx
            .stream(0)
            .map(|s| s.time_base())
            .ok_or_else(|| MediaError::internal("hls", "stream vanished"))?;
        Ok(HlsOutput {
            ctx,
            encoder_time_base: encoder.time_base(),
            stream_time_base,
        })
    }

    /// Moves every packet the encoder has ready into the muxer.
    pub fn write_from(&mut self, encoder: &mut encoder::Encoder) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        while encoder.receive_packet(&mut packet).is_ok() {
            self.write(&mut packet)?;
        }
        Ok(())
    }

    fn write(&mut self, packet: &mut Packet) -> Result<(), MediaError> {
        packet.set_stream(0);
        packet.rescale_ts(self.encoder_time_base, self.stream_time_base);
        packet
            .write_interleaved(&mut self.ctx)
            .map_err(|e| MediaError::internal("hls write packet", e))
    }

    /// `total_secs`, when known exactly (video: frames / rate), fixes the last segment's
    /// EXTINF: the muxer derives it from the last packet in decode order, which with
    /// B-frames differs between renditions of the very same frames.
    pub fn finish(mut self, dir: &Path, total_secs: Option<f64>) -> Result<(), MediaError> {
        self.ctx
            .write_trailer()
            .map_err(|e| MediaError::internal("hls write trailer", e))?;
        let playlist = dir.join(PLAYLIST_NAME);
        let text = std::fs::read_to_string(&playlist)?;
        let text = match total_secs {
            Some(total) => exact_last_duration(&text, total),
            None => text,
        };
        std::fs::write(&playlist, ceil_target_duration(&text))?;
        Ok(())
    }
}

fn exact_last_duration(text: &str, total_secs: f64) -> String {
    let extinf: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("#EXTINF:"))
        .map(|(i, _)| i)
        .collect();
    let Some(&last) = extinf.last() else {
        return text.to_string();
    };
    let before: f64 = text
        .lines()
        .enumerate()
        .filter(|(i, _)| extinf.contains(i) && *i != last)
        .filter_map(|(_, l)| extinf_secs(l))
        .sum();
    let remaining = total_secs - before;
    if remaining <= 0.0 {
        return text.to_string();
    }
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == last {
                format!("#EXTINF:{remaining:.6},")
            } else {
                l.to_string()
            }
        })
        .collect();
    lines.join("\n") + "\n"
}

fn extinf_secs(line: &str) -> Option<f64> {
    line.strip_prefix("#EXTINF:")?
        .split(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// libavformat rounds EXT-X-TARGETDURATION to the nearest second, so a segment of 3.04 s
/// can sit under a target of 3. Make the target at least every segment's duration, which
/// is what strict players and validators expect.
fn ceil_target_duration(text: &str) -> String {
    let longest = text.lines().filter_map(extinf_secs).fold(0.0_f64, f64::max);
    let needed = longest.ceil() as u64;
    let fixed: Vec<String> = text
        .lines()
        .map(|line| {
            match line
                .strip_prefix("#EXT-X-TARGETDURATION:")
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                Some(current) if current < needed => format!("#EXT-X-TARGETDURATION:{needed}"),
                _ => line.to_string(),
            }
        })
        .collect();
    fixed.join("\n") + "\n"
}

/// `format::output_as` would also open the playlist path as the context's own I/O, which the
/// `hls` muxer (it opens every file itself) does not want.
fn alloc_hls_context(playlist: &Path) -> Result<format::context::Output, MediaError> {
    let path = CString::new(playlist.to_string_lossy().as_bytes())
        .map_err(|e| MediaError::internal("hls path", e))?;
    let mut ps = std::ptr::null_mut();
    // SAFETY: on success `ps` is a fresh context that `Output` owns and frees; `pb` stays null.
    unsafe {
        let ret = ffi::avformat_alloc_output_context2(
            &mut ps,
            std::ptr::null_mut(),
            c"hls".as_ptr(),
            path.as_ptr(),
        );
        if ret < 0 || ps.is_null() {
            return Err(MediaError::internal("hls alloc", ff::Error::from(ret)));
        }
        Ok(format::context::Output::wrap(ps))
    }
}

/// Sizes and durations of a finished media playlist's segments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaylistStats {
    pub peak_bps: u64,
    pub average_bps: u64,
    pub duration_secs: f64,
}

pub fn measure_playlist(dir: &Path) -> Result<PlaylistStats, MediaError> {
    let text = std::fs::read_to_string(dir.join(PLAYLIST_NAME))?;
    let mut pending: Option<f64> = None;
    let (mut peak, mut bits, mut total) = (0f64, 0f64, 0f64);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let secs = rest
                .split(',')
                .next()
                .and_then(|d| d.trim().parse::<f64>().ok());
            pending = secs;
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let duration = pending.take().unwrap_or(0.0);
            let size = std::fs::metadata(dir.join(line.trim()))?.len() as f64 * 8.0;
            if duration > 0.0 {
                peak = peak.max(size / duration);
            }
            bits += size;
            total += duration;
        }
    }
    if total <= 0.0 {
        return Err(MediaError::internal(
            "hls",
            format!("{} has no segments", dir.display()),
        ));
    }
    Ok(PlaylistStats {
        peak_bps: peak.ceil() as u64,
        average_bps: (bits / total).ceil() as u64,
        duration_secs: total,
    })
}

pub const AUDIO_GROUP: &str = "audio";
pub const SUBTITLE_GROUP: &str = "subs";

/// Writes `master.m3u8`. Video variants carry the highest audio rendition's bitrate on top
/// of their own, as the HLS spec asks; an audio-only package lists the default audio
/// rendition as its one variant.
pub fn write_master(
    dir: &Path,
    video: &[VideoRendition],
    audio: &[AudioRendition],
    subtitles: &[SubtitleTrack],
) -> Result<PathBuf, MediaError> {
    let mut m = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for (i, a) in audio.iter().enumerate() {
        let _ = writeln!(
            m,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{}\",{}DEFAULT={},AUTOSELECT=YES,CHANNELS=\"2\",URI=\"{}\"",
            quoted(&a.name),
            a.language
                .as_deref()
                .map(|l| format!("LANGUAGE=\"{}\",", quoted(l)))
                .unwrap_or_default(),
            if i == 0 { "YES" } else { "NO" },
            a.playlist
        );
    }
    for s in subtitles {
        let _ = writeln!(
            m,
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{SUBTITLE_GROUP}\",NAME=\"{}\",{}DEFAULT=NO,AUTOSELECT=YES,URI=\"{}\"",
            quoted(&s.name),
            s.language
                .as_deref()
                .map(|l| format!("LANGUAGE=\"{}\",", quoted(l)))
                .unwrap_or_default(),
            s.playlist
        );
    }
    let audio_peak = audio.iter().map(|a| a.bandwidth).max().unwrap_or(0);
    let audio_avg = audio.iter().map(|a| a.average_bandwidth).max().unwrap_or(0);
    let groups = |m: &mut String| {
        if !audio.is_empty() {
            let _ = write!(m, ",AUDIO=\"{AUDIO_GROUP}\"");
        }
        if !subtitles.is_empty() {
            let _ = write!(m, ",SUBTITLES=\"{SUBTITLE_GROUP}\"");
        }
    };
    for v in video {
        let codecs = if audio.is_empty() {
            v.codecs.clone()
        } else {
            format!("{},{}", v.codecs, audio[0].codecs)
        };
        let _ = write!(
            m,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},CODECS=\"{}\",FRAME-RATE={:.3}",
            v.bandwidth + audio_peak,
            v.average_bandwidth + audio_avg,
            v.width,
            v.height,
            codecs,
            v.frame_rate
        );
        groups(&mut m);
        let _ = write!(m, "\n{}\n", v.playlist);
    }
    if video.is_empty()
        && let Some(first) = audio.first()
    {
        let _ = write!(
            m,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"",
            audio_peak, audio_avg, first.codecs
        );
        groups(&mut m);
        let _ = write!(m, "\n{}\n", first.playlist);
    }
    let path = dir.join(MASTER_NAME);
    std::fs::write(&path, m)?;
    Ok(path)
}

fn quoted(s: &str) -> String {
    s.replace(['"', '\n', '\r'], "")
}

/// RFC 6381 codec string for H.264 from the encoder's avcC extradata.
pub fn avc_codec_string(extradata: &[u8]) -> String {
    match extradata {
        [1, profile, compat, level, ..] => format!("avc1.{profile:02x}{compat:02x}{level:02x}"),
        _ => "avc1.64001f".into(),
    }
}

pub const AAC_LC_CODECS: &str = "mp4a.40.2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_fixes_last_duration_and_target() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.000000,\ns0.m4s\n#EXTINF:3.900000,\ns1.m4s\n#EXT-X-ENDLIST\n";
        let fixed = ceil_target_duration(&exact_last_duration(text, 8.3));
        assert!(fixed.contains("#EXTINF:4.300000,\ns1.m4s"), "{fixed}");
        assert!(fixed.contains("#EXT-X-TARGETDURATION:5"), "{fixed}");
    }

    #[test]
    fn codec_string_reads_avcc() {
        assert_eq!(
            avc_codec_string(&[1, 0x64, 0x00, 0x1f, 0xff]),
            "avc1.64001f"
        );
        assert_eq!(avc_codec_string(&[1, 0x42, 0xc0, 0x1e]), "avc1.42c01e");
    }

    #[test]
    fn audio_only_master_points_at_audio() {
        let dir = tempfile::tempdir().unwrap();
        let audio = vec![AudioRendition {
            playlist: "audio_0/index.m3u8".into(),
            language: Some("en".into()),
            name: "English".into(),
            bandwidth: 140_000,
            average_bandwidth: 130_000,
            codecs: AAC_LC_CODECS.into(),
            segments: 1,
        }];
        let path = write_master(dir.path(), &[], &audio, &[]).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("LANGUAGE=\"en\""));
        assert!(text.contains("#EXT-X-STREAM-INF:BANDWIDTH=140000,AVERAGE-BANDWIDTH=130000,CODECS=\"mp4a.40.2\",AUDIO=\"audio\"\naudio_0/index.m3u8"));
        assert!(!text.contains("RESOLUTION"));
    }
}

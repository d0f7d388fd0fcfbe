//! One source in, one HLS package out: probe, plan, demux once, feed every pipeline, then
//! write the master playlist and, last of all, `package.json`.

use std::io::Read;
use std::path::Path;

use ffmpeg_next as ff;

use super::audio::AudioPipeline;
use super::probe::{self, SourceInfo};
use super::sidecar::{self, SizeLimit};
pub use super::spec::MANIFEST_NAME;
use super::spec::{PackageManifest, SidecarKind, SubtitleTrack, TranscodeRequest};
use super::video::{VideoPipeline, VideoSetup};
use super::{MediaError, contents, hls, ladder, subtitles};

/// Below this share of the container's duration actually decoded, the file is truncated.
const TRUNCATION_THRESHOLD: f64 = 0.9;

pub fn transcode(
    req: &TranscodeRequest,
    progress: &mut dyn FnMut(f64),
) -> Result<PackageManifest, MediaError> {
    std::fs::create_dir_all(&req.output_dir)?;
    let mut input = probe::open(&req.source)?;
    let info = probe::probe(&input)?;
    let duration = info.duration_secs.unwrap_or(0.0);
    let out = req.output_dir.as_path();

    // Sidecars first: a broken or oversize one fails fast, before minutes of encoding.
    let subtitles = import_subtitles(req, out, duration)?;
    let poster_sidecar = req
        .sidecars
        .iter()
        .find(|s| s.kind == SidecarKind::Poster)
        .map(|s| {
            let limit = SizeLimit::poster(req.settings.max_image_mb);
            Ok::<_, MediaError>((s.path.as_path(), sidecar::open(&s.path, limit)?))
        })
        .transpose()?;

    let (mut video, segment_secs) = open_video(&input, &info, req, out, poster_sidecar.is_none())?;
    let mut audio = Vec::with_capacity(info.audio.len());
    for (ordinal, track) in info.audio.iter().enumerate() {
        let stream = input
            .stream(track.index)
            .ok_or_else(|| MediaError::internal("demux", "audio stream vanished"))?;
        audio.push(AudioPipeline::new(
            &stream,
            ordinal,
            track.language.clone(),
            &req.settings,
            out,
            info.start_secs,
            segment_secs,
        )?);
    }

    let mut reporter = ProgressReporter::new(duration);
    for (stream, packet) in input.packets() {
        let index = stream.index();
        if let Some(v) = video.as_mut().filter(|v| v.stream_index() == index) {
            v.send_packet(&packet)?;
        } else if let Some(a) = audio.iter_mut().find(|a| a.stream_index() == index) {
            a.send_packet(&packet)?;
        } else {
            continue;
        }
        reporter.update(decoded_secs(video.as_ref(), &audio), progress);
    }
    let decoded = decoded_secs(video.as_ref(), &audio);
    check_not_truncated(decoded, info.duration_secs)?;

    let video_out = video.map(VideoPipeline::finish).transpose()?;
    let audio_out = audio
        .into_iter()
        .map(AudioPipeline::finish)
        .collect::<Result<Vec<_>, _>>()?;

    let poster = match poster_sidecar {
        Some((path, file)) => Some(copy_poster(path, file, out)?),
        None => video_out.as_ref().and_then(|v| v.poster.clone()),
    };
    let video_renditions = video_out
        .as_ref()
        .map(|v| v.renditions.clone())
        .unwrap_or_default();
    hls::write_master(out, &video_renditions, &audio_out, &subtitles)?;
    let warnings = video_out
        .as_ref()
        .map(|v| v.warnings.clone())
        .unwrap_or_default();
    let mut manifest = PackageManifest {
        duration_secs: decoded.max(duration.min(decoded + 1.0)),
        master: hls::MASTER_NAME.into(),
        video: video_renditions,
        audio: audio_out,
        subtitles,
        poster,
        thumbnails: video_out.and_then(|v| v.thumbnails),
        warnings,
        files: Vec::new(),
        encrypted: false,
    };
    // Everything in the output folder now is what this job wrote: the origin serves that.
    contents::record(out, &mut manifest)?;
    contents::write_manifest(out, &manifest)?;
    progress(100.0);
    Ok(manifest)
}

fn open_video(
    input: &ff::format::context::Input,
    info: &SourceInfo,
    req: &TranscodeRequest,
    out: &Path,
    want_poster: bool,
) -> Result<(Option<VideoPipeline>, f64), MediaError> {
    let settings = &req.settings;
    let Some(v) = &info.video else {
        return Ok((None, f64::from(settings.segment_secs)));
    };
    let planned = ladder::plan(v.display_width, v.display_height, &settings.ladder);
    let stream = input
        .stream(v.index)
        .ok_or_else(|| MediaError::internal("demux", "video stream vanished"))?;
    let pipeline = VideoPipeline::new(VideoSetup {
        stream: &stream,
        info: v,
        planned: &planned,
        settings,
        out_dir: out,
        start_secs: info.start_secs,
        duration_secs: info.duration_secs.unwrap_or(0.0),
        want_poster,
    })?;
    let fps = f64::from(v.frame_rate.0) / f64::from(v.frame_rate.1);
    let gop = (fps * f64::from(settings.segment_secs) + 1e-6)
        .floor()
        .max(1.0);
    Ok((Some(pipeline), gop / fps))
}

fn decoded_secs(video: Option<&VideoPipeline>, audio: &[AudioPipeline]) -> f64 {
    let v = video.map(VideoPipeline::decoded_secs).unwrap_or(0.0);
    audio
        .iter()
        .map(AudioPipeline::decoded_secs)
        .fold(v, f64::max)
}

fn check_not_truncated(decoded_secs: f64, duration_secs: Option<f64>) -> Result<(), MediaError> {
    let Some(duration) = duration_secs.filter(|d| *d > 1.0) else {
        return Ok(());
    };
    if decoded_secs < duration * TRUNCATION_THRESHOLD - 0.5 {
        let pct = (decoded_secs / duration * 100.0).floor().clamp(0.0, 99.0);
        return Err(MediaError::input(format!(
            "the file is truncated at {pct:.0}%: only {decoded_secs:.1} s of its {duration:.1} s could be read"
        )));
    }
    Ok(())
}

fn import_subtitles(
    req: &TranscodeRequest,
    out: &Path,
    duration: f64,
) -> Result<Vec<SubtitleTrack>, MediaError> {
    req.sidecars
        .iter()
        .filter_map(|s| match &s.kind {
            SidecarKind::Subtitle { language } => Some((s, language.as_deref())),
            SidecarKind::Poster | SidecarKind::Metadata => None,
        })
        .enumerate()
        .map(|(i, (sidecar, language))| {
            subtitles::import(
                &sidecar.path,
                out,
                i,
                language,
                duration.max(1.0),
                req.settings.max_subtitle_mb,
            )
        })
        .collect()
}

/// `file` is the sidecar opened (and its size checked) before encoding began.
fn copy_poster(source: &Path, mut file: impl Read, out: &Path) -> Result<String, MediaError> {
    let ext = source
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .filter(|e| e == "png" || e == "jpg" || e == "jpeg")
        .unwrap_or_else(|| "jpg".into());
    let name = format!("poster.{}", if ext == "jpeg" { "jpg" } else { &ext });
    std::io::copy(&mut file, &mut std::fs::File::create(out.join(&name))?)?;
    Ok(name)
}

/// Emits progress at most once per whole percent.
struct ProgressReporter {
    duration: f64,
    last: f64,
}

impl ProgressReporter {
    fn new(duration: f64) -> Self {
        ProgressReporter {
            duration,
            last: -1.0,
        }
    }

    fn update(&mut self, decoded: f64, progress: &mut dyn FnMut(f64)) {
        if self.duration <= 0.0 {
            return;
        }
        let pct = (decoded / self.duration * 100.0).clamp(0.0, 99.0).floor();
        if pct > self.last {
            self.last = pct;
            progress(pct);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_reported_with_a_percentage() {
        let err = check_not_truncated(3.1, Some(5.0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the file is truncated at 62%: only 3.1 s of its 5.0 s could be read"
        );
        assert!(check_not_truncated(4.96, Some(5.0)).is_ok());
        assert!(check_not_truncated(0.0, None).is_ok());
    }
}

//! Reads what a source contains and decides how it must be treated (rotation, pixel aspect,
//! interlacing, HDR), before anything is decoded.

use std::path::Path;

use ff::ffi;
use ff::format::context::Input;
use ff::media;
use ffmpeg_next as ff;

use super::MediaError;

/// Smallest picture we will package; anything below is not a real video.
pub const MIN_DIMENSION: u32 = 32;

#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub format_name: String,
    /// Container duration, when the container knows it.
    pub duration_secs: Option<f64>,
    /// Earliest start time of the streams we use; subtracted so the package starts at zero.
    pub start_secs: f64,
    pub video: Option<VideoInfo>,
    pub audio: Vec<AudioInfo>,
}

#[derive(Debug, Clone)]
pub struct VideoInfo {
    pub index: usize,
    pub coded_width: u32,
    pub coded_height: u32,
    /// Picture size as it should be shown: pixel aspect applied, rotation applied.
    pub display_width: u32,
    pub display_height: u32,
    /// Clockwise rotation, in degrees (0, 90, 180, 270), needed to show the picture upright.
    pub rotation: u32,
    pub interlaced: bool,
    pub hdr: bool,
    /// Output frame rate as a fraction (num, den).
    pub frame_rate: (i32, i32),
}

#[derive(Debug, Clone)]
pub struct AudioInfo {
    pub index: usize,
    pub language: Option<String>,
}

/// Opens a source, mapping FFmpeg's errors onto reasons an operator can act on.
pub fn open(path: &Path) -> Result<Input, MediaError> {
    let size = std::fs::metadata(path)
        .map_err(|e| MediaError::input(format!("cannot read the file: {e}")))?
        .len();
    if size == 0 {
        return Err(MediaError::input("the file is empty (0 bytes)"));
    }
    ff::format::input(path).map_err(|e| match e {
        ff::Error::InvalidData => {
            MediaError::input("not a media file: FFmpeg does not recognise its format")
        }
        ff::Error::Eof => MediaError::input("the file is truncated: it ends before its header"),
        other => MediaError::input(format!("not a readable media file ({other})")),
    })
}

pub fn probe(input: &Input) -> Result<SourceInfo, MediaError> {
    let format_name = input.format().name().to_string();
    if is_still_image_format(&format_name) {
        return Err(MediaError::input(
            "this is a still image, not a video; to use it as a poster give it the same name as its video (movie.jpg next to movie.mp4)",
        ));
    }
    let duration_secs = match input.duration() {
        d if d > 0 => Some(d as f64 / f64::from(ffi::AV_TIME_BASE)),
        _ => None,
    };

    let video_stream = input
        .streams()
        .filter(|s| s.parameters().medium() == media::Type::Video)
        .filter(|s| {
            !s.disposition()
                .contains(ff::format::stream::Disposition::ATTACHED_PIC)
        })
        .find(|s| decoder_exists(s));
    let audio_streams: Vec<_> = input
        .streams()
        .filter(|s| s.parameters().medium() == media::Type::Audio && decoder_exists(s))
        .collect();

    if video_stream.is_none() && audio_streams.is_empty() {
        return Err(MediaError::input("no video or audio stream in the file"));
    }

    let video = video_stream.as_ref().map(video_info).transpose()?;
    let audio = audio_streams
        .iter()
        .map(|s| AudioInfo {
            index: s.index(),
            language: s
                .metadata()
                .get("language")
                .filter(|l| !l.is_empty() && *l != "und")
                .map(str::to_string),
        })
        .collect();

    let start_secs = video_stream
        .iter()
        .chain(audio_streams.iter())
        .filter(|s| s.start_time() != ffi::AV_NOPTS_VALUE)
        .map(|s| s.start_time() as f64 * f64::from(s.time_base()))
        .fold(f64::INFINITY, f64::min);

    Ok(SourceInfo {
        format_name,
        duration_secs,
        start_secs: if start_secs.is_finite() {
            start_secs
        } else {
            0.0
        },
        video,
        audio,
    })
}

fn is_still_image_format(name: &str) -> bool {
    name.starts_with("image2") || name.ends_with("_pipe") || name == "gif"
}

fn decoder_exists(stream: &ff::format::stream::Stream) -> bool {
    ff::decoder::find(stream.parameters().id()).is_some()
}

fn video_info(stream: &ff::format::stream::Stream) -> Result<VideoInfo, MediaError> {
    // SAFETY: codecpar belongs to the stream, which outlives this borrow; we only read it.
    let par = unsafe { &*stream.parameters().as_ptr() };
    let (w, h) = (par.width.max(0) as u32, par.height.max(0) as u32);
    if w < MIN_DIMENSION || h < MIN_DIMENSION {
        return Err(MediaError::input(format!(
            "the video is too small ({w}×{h} pixels); Marquee needs at least {MIN_DIMENSION}×{MIN_DIMENSION}"
        )));
    }
    let sar = par.sample_aspect_ratio;
    let sar = if sar.num > 0 && sar.den > 0 {
        f64::from(sar.num) / f64::from(sar.den)
    } else {
        1.0
    };
    // Anamorphic pixels are widened to square ones.
    let mut display_w = (f64::from(w) * sar).round() as u32;
    let mut display_h = h;
    let rotation = rotation_of(stream);
    if rotation % 180 == 90 {
        std::mem::swap(&mut display_w, &mut display_h);
    }
    let interlaced = !matches!(
        par.field_order,
        ffi::AVFieldOrder::AV_FIELD_PROGRESSIVE | ffi::AVFieldOrder::AV_FIELD_UNKNOWN
    );
    let hdr = matches!(
        par.color_trc,
        ffi::AVColorTransferCharacteristic::AVCOL_TRC_SMPTE2084
            | ffi::AVColorTransferCharacteristic::AVCOL_TRC_ARIB_STD_B67
    );
    Ok(VideoInfo {
        index: stream.index(),
        coded_width: w,
        coded_height: h,
        display_width: display_w,
        display_height: display_h,
        rotation,
        interlaced,
        hdr,
        frame_rate: output_frame_rate(stream),
    })
}

/// Clockwise degrees to rotate the decoded picture so it shows upright (phone videos).
fn rotation_of(stream: &ff::format::stream::Stream) -> u32 {
    for side in stream.side_data() {
        if side.kind() == ff::codec::packet::side_data::Type::DisplayMatrix
            && side.data().len() >= 36
        {
            // SAFETY: a display matrix is nine i32; the length was checked above.
            let ccw = unsafe { ffi::av_display_rotation_get(side.data().as_ptr() as *const i32) };
            if ccw.is_nan() {
                return 0;
            }
            let clockwise = (-ccw).round() as i64;
            let normalised = clockwise.rem_euclid(360) as u32;
            return ((normalised + 45) / 90 * 90) % 360;
        }
    }
    0
}

/// The constant frame rate the package will have. Variable-rate sources are resampled to
/// their average rate; absurd rates are clamped to 60.
fn output_frame_rate(stream: &ff::format::stream::Stream) -> (i32, i32) {
    let candidates = [stream.avg_frame_rate(), stream.rate()];
    for r in candidates {
        if r.numerator() > 0 && r.denominator() > 0 {
            let fps = f64::from(r);
            if (1.0..=60.5).contains(&fps) {
                return snap_frame_rate(r.numerator(), r.denominator());
            }
            if fps > 60.5 {
                return (60, 1);
            }
        }
    }
    (30, 1)
}

/// Averages of VFR streams come out as odd fractions (e.g. 2997/100); snap them to the
/// nearest common rate so GOPs line up with whole segments.
fn snap_frame_rate(num: i32, den: i32) -> (i32, i32) {
    let fps = f64::from(num) / f64::from(den);
    const COMMON: [(i32, i32); 10] = [
        (24000, 1001),
        (24, 1),
        (25, 1),
        (30000, 1001),
        (30, 1),
        (48, 1),
        (50, 1),
        (60000, 1001),
        (60, 1),
        (15, 1),
    ];
    COMMON
        .iter()
        .copied()
        .find(|(n, d)| (f64::from(*n) / f64::from(*d) - fps).abs() < 0.02)
        .unwrap_or_else(|| (fps.round().max(1.0) as i32, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_snap_to_common_values() {
        assert_eq!(snap_frame_rate(2997, 100), (30000, 1001));
        assert_eq!(snap_frame_rate(25, 1), (25, 1));
        assert_eq!(snap_frame_rate(1229, 100), (12, 1));
    }

    #[test]
    fn still_image_formats_are_recognised() {
        assert!(is_still_image_format("png_pipe"));
        assert!(is_still_image_format("image2"));
        assert!(!is_still_image_format("mov,mp4,m4a,3gp,3g2,mj2"));
    }
}

//! Reads what a source contains and decides how it must be treated (rotation, pixel aspect,
//! interlacing, HDR), before anything is decoded.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
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

/// Demuxers that read other files or URLs named inside the source (or open their input
/// themselves), with what to call such a file. An inbox file must never publish what it
/// merely points at. Demuxers flagged `AVFMT_NOFILE` are refused as well.
const REFUSED_DEMUXERS: [(&str, Refused); 14] = [
    ("hls", Refused::Playlist("an HLS playlist")),
    ("dash", Refused::Playlist("a DASH manifest")),
    ("concat", Refused::Playlist("an FFmpeg concat list")),
    ("imf", Refused::Playlist("an IMF composition playlist")),
    (
        "webm_dash_manifest",
        Refused::Playlist("a WebM DASH manifest"),
    ),
    // A lone picture by its extension; a numbered name would read a whole sequence.
    ("image2", Refused::StillImage),
    ("sdp", Refused::Reference("an SDP session description")),
    ("rtsp", Refused::Reference("an RTSP stream")),
    ("rtp", Refused::Reference("an RTP stream")),
    ("sap", Refused::Reference("a SAP announcement")),
    ("avisynth", Refused::Reference("an AviSynth script")),
    ("vapoursynth", Refused::Reference("a VapourSynth script")),
    // Opens the `.sub` file beside the `.idx`.
    ("vobsub", Refused::Reference("a VobSub index")),
    // Opens the `.m00`, `.m01`… parts beside the `.mlv`.
    (
        "mlv",
        Refused::Reference("a Magic Lantern video, which reads its parts from other files"),
    ),
];

#[derive(Debug, Clone, Copy)]
enum Refused {
    Playlist(&'static str),
    Reference(&'static str),
    StillImage,
}

const STILL_IMAGE: &str = "this is a still image, not a video; to use it as a poster give it the same name as its video (movie.jpg next to movie.mp4)";

/// Why a file that libavformat reads with demuxer `name` (a comma-separated list of
/// aliases) is not accepted, or `None` when it is.
fn refusal(name: &str, no_file: bool) -> Option<String> {
    let refused = name
        .split(',')
        .find_map(|n| REFUSED_DEMUXERS.iter().find(|(r, _)| *r == n))
        .map(|(_, why)| *why);
    Some(match refused {
        Some(Refused::Playlist(what)) => {
            format!("playlists are not accepted: drop the media file itself (this is {what})")
        }
        Some(Refused::Reference(what)) => format!(
            "files that refer to other files or streams are not accepted: drop the media file itself (this is {what})"
        ),
        Some(Refused::StillImage) => STILL_IMAGE.into(),
        None if no_file => format!(
            "files that refer to other files or streams are not accepted: drop the media file itself (FFmpeg reads this as {name})"
        ),
        None => return None,
    })
}

/// Every demuxer a source may be opened with, as libavformat's `format_whitelist`.
fn accepted_demuxers() -> String {
    let mut names = Vec::new();
    let mut opaque = std::ptr::null_mut();
    loop {
        // SAFETY: iterates libavformat's static demuxer list; the entries live for the process.
        let format = unsafe { ffi::av_demuxer_iterate(&mut opaque) };
        if format.is_null() {
            break;
        }
        // SAFETY: a registered demuxer has a static, NUL-terminated name.
        let (name, flags) = unsafe { (CStr::from_ptr((*format).name), (*format).flags) };
        let name = name.to_string_lossy();
        if refusal(&name, flags & ffi::AVFMT_NOFILE != 0).is_none() {
            names.push(name.into_owned());
        }
    }
    names.join(",")
}

/// The demuxer `avformat_open_input` would pick for `path`, found the same way (the name
/// alone, then up to 1 MiB of content), with whether it opens its input itself; `None` when
/// nothing fits. Only to name the reason: the whitelists on the real open are the guard.
fn sniff_format(path: &CStr) -> Option<(String, bool)> {
    let described = |format: *const ffi::AVInputFormat| {
        // SAFETY: a non-null demuxer from libavformat's static list.
        let (name, flags) = unsafe { (CStr::from_ptr((*format).name), (*format).flags) };
        (
            name.to_string_lossy().into_owned(),
            flags & ffi::AVFMT_NOFILE != 0,
        )
    };
    let by_name = ffi::AVProbeData {
        filename: path.as_ptr(),
        buf: std::ptr::null_mut(),
        buf_size: 0,
        mime_type: std::ptr::null(),
    };
    // The threshold avformat_open_input uses for a match by name alone.
    let mut score = ffi::AVPROBE_SCORE_MAX / 4;
    // SAFETY: `by_name` points at a live C string and has no buffer.
    let format = unsafe { ffi::av_probe_input_format2(&by_name, 0, &mut score) };
    if !format.is_null() {
        return Some(described(format));
    }
    let mut options = ff::Dictionary::new();
    options.set("protocol_whitelist", "file");
    let mut pb = std::ptr::null_mut();
    // SAFETY: plain libavformat I/O on a path we own; every pointer is checked or closed here,
    // and the options dictionary is taken back whatever avio_open2 left in it.
    unsafe {
        let mut options = options.disown();
        let opened = ffi::avio_open2(
            &mut pb,
            path.as_ptr(),
            ffi::AVIO_FLAG_READ,
            std::ptr::null(),
            &mut options,
        );
        drop(ff::Dictionary::own(options));
        if opened < 0 {
            return None;
        }
        let mut format = std::ptr::null();
        let probed =
            ffi::av_probe_input_buffer2(pb, &mut format, path.as_ptr(), std::ptr::null_mut(), 0, 0);
        ffi::avio_closep(&mut pb);
        (probed >= 0 && !format.is_null()).then(|| described(format))
    }
}

/// Opens a source, mapping FFmpeg's errors onto reasons an operator can act on. Only the
/// file itself is read: no other protocol than `file`, and no demuxer that opens files or
/// URLs named inside it.
pub fn open(path: &Path) -> Result<Input, MediaError> {
    // The server checked the path before starting this worker; a link or a FIFO swapped in
    // since must still not be read (or block the worker forever).
    let size = super::sidecar::open_regular(path)
        .and_then(|f| f.metadata())
        .map_err(|e| MediaError::input(format!("cannot read the file: {e}")))?
        .len();
    if size == 0 {
        return Err(MediaError::input("the file is empty (0 bytes)"));
    }
    // Absolute, so no part of the name can be taken for a protocol (`concat:…`).
    let path = std::path::absolute(path)?;
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| MediaError::input("the file name contains a NUL byte"))?;
    if let Some((name, no_file)) = sniff_format(&c_path)
        && let Some(reason) = refusal(&name, no_file)
    {
        return Err(MediaError::input(reason));
    }
    let mut options = ff::Dictionary::new();
    options.set("protocol_whitelist", "file");
    // Checked after probing and before the header is read, which is where HLS opens segments.
    options.set("format_whitelist", &accepted_demuxers());
    ff::format::input_with_dictionary(&path, options).map_err(|e| match e {
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
        return Err(MediaError::input(STILL_IMAGE));
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
    fn sources_that_name_other_files_are_refused_by_content_and_by_name() {
        ff::init().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, body: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, body).unwrap();
            path
        };
        let reason = |path: &Path| open(path).map(|_| ()).unwrap_err().to_string();
        let hls = write(
            "movie.mp4",
            b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n/etc/hostname\n#EXT-X-ENDLIST\n",
        );
        assert_eq!(
            reason(&hls),
            "playlists are not accepted: drop the media file itself (this is an HLS playlist)"
        );
        let concat = write("list.mkv", b"ffconcat version 1.0\nfile /etc/hostname\n");
        assert_eq!(
            reason(&concat),
            "playlists are not accepted: drop the media file itself (this is an FFmpeg concat list)"
        );
        // A numbered name would make libavformat read frame000.png, frame001.png, ...
        let sequence = write("frame%03d.png", b"not a picture");
        assert_eq!(reason(&sequence), STILL_IMAGE);
    }

    #[test]
    fn the_format_whitelist_keeps_containers_and_drops_file_readers() {
        ff::init().unwrap();
        let list = CString::new(accepted_demuxers()).unwrap();
        let listed = |name: &CStr| {
            // SAFETY: two live C strings.
            unsafe { ffi::av_match_list(name.as_ptr(), list.as_ptr(), b',' as libc::c_char) > 0 }
        };
        for name in [
            c"mov,mp4,m4a,3gp,3g2,mj2",
            c"matroska,webm",
            c"mpegts",
            c"avi",
            c"png_pipe",
        ] {
            assert!(listed(name), "{name:?} is missing");
        }
        for name in [
            c"hls",
            c"dash",
            c"concat",
            c"image2",
            c"imf",
            c"webm_dash_manifest",
            c"sdp",
            c"rtsp",
            c"vobsub",
            c"mlv",
            c"lavfi",
        ] {
            assert!(!listed(name), "{name:?} is accepted");
        }
    }

    /// The static build's FFmpeg has only the demuxers in packaging/ffmpeg-components.txt:
    /// each must be a real one, and the refused kinds whose reasons an operator sees must be
    /// among them, or that build would call a playlist "not a media file".
    #[test]
    fn the_static_build_lists_real_demuxers_and_the_refused_ones() {
        ff::init().unwrap();
        let components = include_str!("../../packaging/ffmpeg-components.txt");
        let demuxers: Vec<&str> = components
            .lines()
            .filter_map(|l| l.split('#').next()?.trim().strip_prefix("demuxer "))
            .flat_map(|names| names.split(','))
            .collect();
        for config_name in &demuxers {
            // configure names a few demuxers differently from their registered names.
            let name = match *config_name {
                "mpegps" => "mpeg",
                n => n.strip_prefix("image_").unwrap_or(n),
            };
            let c_name = CString::new(name).unwrap();
            // SAFETY: a live C string; the result is a static entry or null.
            let format = unsafe { ffi::av_find_input_format(c_name.as_ptr()) };
            assert!(!format.is_null(), "{config_name}: no such demuxer");
        }
        // (DASH and IMF need libxml2, which the static build leaves out: no reader, no risk.)
        for needed in ["mov", "matroska", "mpegts", "hls", "concat", "image2"] {
            assert!(demuxers.contains(&needed), "{needed} is not built");
        }
    }

    #[test]
    fn still_image_formats_are_recognised() {
        assert!(is_still_image_format("png_pipe"));
        assert!(is_still_image_format("image2"));
        assert!(!is_still_image_format("mov,mp4,m4a,3gp,3g2,mj2"));
    }
}

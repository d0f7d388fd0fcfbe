//! The video path: decode once, one filter graph fans out to every rendition, the poster and
//! the thumbnail sprite; each rendition has its own x264 encoder and HLS muxer.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ff::{Packet, Rational, Rescale, codec, decoder, encoder, ffi, filter, format, frame, picture};
use ffmpeg_next as ff;

use super::filters::{self, POSTER_LABEL, SPRITE_LABEL, VideoGraphPlan};
use super::hls::{self, HlsOutput};
use super::ladder::PlannedRendition;
use super::spec::{TranscodeSettings, VideoRendition};
use super::{MediaError, images};

pub const SPRITE_COLUMNS: u32 = 10;
pub const SPRITE_ROWS: u32 = 10;
pub const THUMB_WIDTH: u32 = 160;

pub struct VideoPipeline {
    stream_index: usize,
    decoder: decoder::Video,
    in_time_base: Rational,
    start_pts: i64,
    plan: VideoGraphPlan,
    graph: Option<filter::Graph>,
    renditions: Vec<RenditionOutput>,
    encoder_time_base: Rational,
    frame_rate: Rational,
    gop_frames: i64,
    out_dir: PathBuf,
    poster_written: bool,
    sprite_sheets: u32,
    last_output_pts: i64,
    last_input_secs: f64,
    warnings: Vec<String>,
    frame: frame::Video,
    filtered: frame::Video,
}

struct RenditionOutput {
    dir_name: String,
    width: u32,
    height: u32,
    encoder: encoder::Video,
    hls: HlsOutput,
}

pub struct VideoOutputs {
    pub renditions: Vec<VideoRendition>,
    pub poster: Option<String>,
    pub thumbnails: Option<String>,
    pub warnings: Vec<String>,
}

pub struct VideoSetup<'a> {
    pub stream: &'a ff::format::stream::Stream<'a>,
    pub info: &'a super::probe::VideoInfo,
    pub planned: &'a [PlannedRendition],
    pub settings: &'a TranscodeSettings,
    pub out_dir: &'a Path,
    pub start_secs: f64,
    pub duration_secs: f64,
    pub want_poster: bool,
}

impl VideoPipeline {
    pub fn new(setup: VideoSetup<'_>) -> Result<Self, MediaError> {
        let VideoSetup {
            stream,
            info,
            planned,
            settings,
            out_dir,
            start_secs,
            duration_secs,
            want_poster,
        } = setup;
        let err = |c: &'static str| move |e: ff::Error| MediaError::internal(c, e);
        let mut ctx = codec::context::Context::from_parameters(stream.parameters())
            .map_err(err("video decoder"))?;
        ctx.set_threading(codec::threading::Config {
            kind: codec::threading::Type::Frame,
            count: 0,
            ..Default::default()
        });
        // SAFETY: plain field write on a context we own, before it is opened.
        unsafe { (*ctx.as_mut_ptr()).pkt_timebase = stream.time_base().into() };
        let decoder = ctx
            .decoder()
            .video()
            .map_err(|e| MediaError::input(format!("cannot decode the video stream ({e})")))?;

        let (fr_num, fr_den) = info.frame_rate;
        let frame_rate = Rational::new(fr_num, fr_den);
        let fps = f64::from(frame_rate);
        // One closed GOP per segment: the segment is a whole number of frames, never longer than asked.
        let gop_frames = ((fps * f64::from(settings.segment_secs)) + 1e-6)
            .floor()
            .max(1.0) as i64;
        let segment_secs = gop_frames as f64 / fps;
        let encoder_time_base = frame_rate.invert();

        let mut renditions = Vec::with_capacity(planned.len());
        for r in planned {
            let dir_name = format!("video_{}p", r.width.min(r.height));
            let encoder = open_h264(r, encoder_time_base, frame_rate, gop_frames, settings)?;
            let hls = HlsOutput::create(&out_dir.join(&dir_name), segment_secs, &encoder)?;
            renditions.push(RenditionOutput {
                dir_name,
                width: r.width,
                height: r.height,
                encoder,
                hls,
            });
        }

        let top = planned[0];
        let total_frames = (duration_secs * fps) as u64;
        let poster = want_poster.then_some(filters::PosterPlan {
            frame_index: total_frames / 10,
            width: top.width,
            height: top.height,
        });
        let thumb_height =
            even_at_least_2(f64::from(THUMB_WIDTH) * f64::from(top.height) / f64::from(top.width));
        let sprite = Some(filters::SpritePlan {
            // At most ~200 thumbnails whatever the length, never closer than 2 s apart.
            interval_secs: ((duration_secs / 200.0).ceil() as u32).max(2),
            thumb_width: THUMB_WIDTH,
            thumb_height,
            columns: SPRITE_COLUMNS,
            rows: SPRITE_ROWS,
        });
        std::fs::create_dir_all(out_dir.join("thumbs"))?;
        let (tonemap_hdr, warning) =
            filters::tone_map_plan(info.hdr, filter::find("zscale").is_some());
        let plan = VideoGraphPlan {
            deinterlace: info.interlaced,
            rotation: info.rotation,
            tonemap_hdr,
            frame_rate: info.frame_rate,
            renditions: planned.iter().map(|r| (r.width, r.height)).collect(),
            poster,
            sprite,
        };
        let start_pts = (start_secs / f64::from(stream.time_base())).round() as i64;
        Ok(VideoPipeline {
            stream_index: stream.index(),
            decoder,
            in_time_base: stream.time_base(),
            start_pts,
            plan,
            graph: None,
            renditions,
            encoder_time_base,
            frame_rate,
            gop_frames,
            out_dir: out_dir.to_path_buf(),
            poster_written: false,
            sprite_sheets: 0,
            last_output_pts: -1,
            last_input_secs: 0.0,
            warnings: warning.into_iter().map(str::to_string).collect(),
            frame: frame::Video::empty(),
            filtered: frame::Video::empty(),
        })
    }

    pub fn stream_index(&self) -> usize {
        self.stream_index
    }

    /// How far into the source the decoder has got, in seconds.
    pub fn decoded_secs(&self) -> f64 {
        self.last_input_secs
    }

    pub fn send_packet(&mut self, packet: &Packet) -> Result<(), MediaError> {
        // A damaged packet is skipped, as a player would; truncation is judged at the end.
        if self.decoder.send_packet(packet).is_err() {
            return Ok(());
        }
        self.receive_frames()
    }

    fn receive_frames(&mut self) -> Result<(), MediaError> {
        while self.decoder.receive_frame(&mut self.frame).is_ok() {
            let Some(ts) = self.frame.timestamp().or(self.frame.pts()) else {
                continue;
            };
            let pts = ts - self.start_pts;
            self.last_input_secs = self
                .last_input_secs
                .max(pts as f64 * f64::from(self.in_time_base));
            self.frame.set_pts(Some(pts));
            if self.graph.is_none() {
                self.graph = Some(self.build_graph()?);
            }
            let graph = self.graph.as_mut().expect("graph built above");
            let mut source = graph
                .get("in")
                .ok_or_else(|| MediaError::internal("video graph", "no source"))?;
            source.source().add(&self.frame).map_err(|e| {
                MediaError::input(format!(
                    "the video changes size or format part-way through ({e})"
                ))
            })?;
            self.drain()?;
        }
        Ok(())
    }

    fn build_graph(&self) -> Result<filter::Graph, MediaError> {
        let err = |e: ff::Error| MediaError::internal("video filter graph", e);
        let f = &self.frame;
        let sar = f.aspect_ratio();
        let (sar_num, sar_den) = if sar.numerator() > 0 && sar.denominator() > 0 {
            (sar.numerator(), sar.denominator())
        } else {
            (1, 1)
        };
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
            f.width(),
            f.height(),
            ffi::AVPixelFormat::from(f.format()) as i32,
            self.in_time_base.numerator(),
            self.in_time_base.denominator(),
            sar_num,
            sar_den
        );
        let mut graph = filter::Graph::new();
        let buffer = filter::find("buffer")
            .ok_or_else(|| MediaError::internal("video graph", "no buffer filter"))?;
        let sink = filter::find("buffersink")
            .ok_or_else(|| MediaError::internal("video graph", "no buffersink"))?;
        graph.add(&buffer, "in", &args).map_err(err)?;
        let labels = self.sink_labels();
        for label in &labels {
            graph.add(&sink, label, "").map_err(err)?;
        }
        let mut parser = graph.output("in", 0).map_err(err)?;
        for label in &labels {
            parser = parser.input(label, 0).map_err(err)?;
        }
        parser
            .parse(&filters::video_graph(&self.plan))
            .map_err(err)?;
        graph.validate().map_err(err)?;
        Ok(graph)
    }

    fn sink_labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = (0..self.renditions.len())
            .map(filters::rendition_label)
            .collect();
        if self.plan.poster.is_some() {
            labels.push(POSTER_LABEL.into());
        }
        if self.plan.sprite.is_some() {
            labels.push(SPRITE_LABEL.into());
        }
        labels
    }

    /// Pulls everything the graph has ready from every sink; a sink left undrained would
    /// make the graph buffer frames without bound.
    fn drain(&mut self) -> Result<(), MediaError> {
        let Some(graph) = self.graph.as_mut() else {
            return Ok(());
        };
        for i in 0..self.renditions.len() {
            let mut sink = graph
                .get(&filters::rendition_label(i))
                .ok_or_else(|| MediaError::internal("video graph", "no sink"))?;
            let sink_tb = sink.sink().time_base();
            while sink.sink().frame(&mut self.filtered).is_ok() {
                let pts = self
                    .filtered
                    .pts()
                    .unwrap_or(0)
                    .rescale(sink_tb, self.encoder_time_base);
                self.filtered.set_pts(Some(pts));
                // Forced IDR on every segment boundary, in every rendition, from the same frame index.
                let kind = if pts % self.gop_frames == 0 {
                    picture::Type::I
                } else {
                    picture::Type::None
                };
                self.filtered.set_kind(kind);
                if i == 0 {
                    self.last_output_pts = self.last_output_pts.max(pts);
                }
                let out = &mut self.renditions[i];
                out.encoder
                    .send_frame(&self.filtered)
                    .map_err(|e| MediaError::internal("x264", e))?;
                out.hls.write_from(&mut out.encoder)?;
            }
        }
        if self.plan.poster.is_some()
            && let Some(mut sink) = graph.get(POSTER_LABEL)
        {
            while sink.sink().frame(&mut self.filtered).is_ok() {
                if !self.poster_written {
                    images::write_jpeg(&self.filtered, &self.out_dir.join("poster.jpg"))?;
                    self.poster_written = true;
                }
            }
        }
        if self.plan.sprite.is_some()
            && let Some(mut sink) = graph.get(SPRITE_LABEL)
        {
            while sink.sink().frame(&mut self.filtered).is_ok() {
                let path = self
                    .out_dir
                    .join(format!("thumbs/sprite_{}.jpg", self.sprite_sheets));
                images::write_jpeg(&self.filtered, &path)?;
                self.sprite_sheets += 1;
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<VideoOutputs, MediaError> {
        let _ = self.decoder.send_eof();
        self.receive_frames()?;
        let Some(graph) = self.graph.as_mut() else {
            return Err(MediaError::input("no video frame could be decoded"));
        };
        if let Some(mut source) = graph.get("in") {
            source
                .source()
                .flush()
                .map_err(|e| MediaError::internal("video graph flush", e))?;
        }
        self.drain()?;
        let mut renditions = Vec::new();
        let frame_rate = f64::from(self.frame_rate);
        // Every rendition got the same frames, so they end at the same instant.
        let output_secs = (self.last_output_pts + 1) as f64 / frame_rate;
        for mut out in self.renditions.drain(..) {
            out.encoder
                .send_eof()
                .map_err(|e| MediaError::internal("x264 flush", e))?;
            out.hls.write_from(&mut out.encoder)?;
            let codecs = hls::avc_codec_string(extradata(&out.encoder));
            let dir = self.out_dir.join(&out.dir_name);
            out.hls.finish(&dir, Some(output_secs))?;
            let stats = hls::measure_playlist(&dir)?;
            renditions.push(VideoRendition {
                playlist: format!("{}/{}", out.dir_name, hls::PLAYLIST_NAME),
                width: out.width,
                height: out.height,
                frame_rate,
                bandwidth: stats.peak_bps,
                average_bandwidth: stats.average_bps,
                codecs,
                // Counted with the package's files once it is complete.
                segments: 0,
            });
        }
        let thumbnails = match self.plan.sprite {
            Some(plan) if self.sprite_sheets > 0 => {
                Some(write_thumbnail_index(&self.out_dir, &plan, output_secs)?)
            }
            _ => None,
        };
        Ok(VideoOutputs {
            renditions,
            poster: self.poster_written.then(|| "poster.jpg".to_string()),
            thumbnails,
            warnings: std::mem::take(&mut self.warnings),
        })
    }
}

fn open_h264(
    r: &PlannedRendition,
    time_base: Rational,
    frame_rate: Rational,
    gop_frames: i64,
    settings: &TranscodeSettings,
) -> Result<encoder::Video, MediaError> {
    let codec = encoder::find_by_name("libx264")
        .ok_or_else(|| MediaError::internal("x264", "libx264 is not linked in"))?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(|e| MediaError::internal("x264", e))?;
    enc.set_width(r.width);
    enc.set_height(r.height);
    enc.set_format(format::Pixel::YUV420P);
    enc.set_time_base(time_base);
    enc.set_frame_rate(Some(frame_rate));
    enc.set_bit_rate(r.video_kbps as usize * 1000);
    enc.set_gop(gop_frames as u32);
    enc.set_flags(codec::Flags::GLOBAL_HEADER);
    let mut opts = ff::Dictionary::new();
    opts.set("preset", &settings.preset);
    opts.set("profile", "high");
    // Capped VBR: peaks stay within 1.5x the target, so BANDWIDTH is predictable.
    opts.set("maxrate", &format!("{}k", r.video_kbps * 3 / 2));
    opts.set("bufsize", &format!("{}k", r.video_kbps * 2));
    opts.set(
        "x264-params",
        &format!("keyint={gop_frames}:min-keyint={gop_frames}:scenecut=0:open-gop=0"),
    );
    opts.set("forced-idr", "1");
    opts.set("threads", &settings.threads.to_string());
    enc.open_with(opts)
        .map_err(|e| MediaError::internal("x264 open", e))
}

fn extradata(encoder: &encoder::Video) -> &[u8] {
    // SAFETY: extradata/extradata_size describe a buffer owned by the open encoder.
    unsafe {
        let ctx = &*encoder.as_ptr();
        if ctx.extradata.is_null() || ctx.extradata_size <= 0 {
            &[]
        } else {
            std::slice::from_raw_parts(ctx.extradata, ctx.extradata_size as usize)
        }
    }
}

/// WebVTT index of the sprite sheets: each cue points at one tile with a media fragment.
fn write_thumbnail_index(
    out_dir: &Path,
    plan: &filters::SpritePlan,
    duration_secs: f64,
) -> Result<String, MediaError> {
    let per_sheet = plan.columns * plan.rows;
    let count = (duration_secs / f64::from(plan.interval_secs))
        .ceil()
        .max(1.0) as u32;
    let mut vtt = String::from("WEBVTT\n\n");
    for i in 0..count {
        let start = f64::from(i * plan.interval_secs);
        let end = (f64::from((i + 1) * plan.interval_secs)).min(duration_secs.max(start + 0.001));
        let (sheet, pos) = (i / per_sheet, i % per_sheet);
        let x = (pos % plan.columns) * plan.thumb_width;
        let y = (pos / plan.columns) * plan.thumb_height;
        let _ = write!(
            vtt,
            "{} --> {}\nthumbs/sprite_{sheet}.jpg#xywh={x},{y},{},{}\n\n",
            vtt_time(start),
            vtt_time(end),
            plan.thumb_width,
            plan.thumb_height
        );
    }
    std::fs::write(out_dir.join("thumbs.vtt"), vtt)?;
    Ok("thumbs.vtt".into())
}

fn vtt_time(secs: f64) -> String {
    let ms = (secs * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn even_at_least_2(x: f64) -> u32 {
    ((x / 2.0).round() as u32 * 2).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtt_times_format() {
        assert_eq!(vtt_time(0.0), "00:00:00.000");
        assert_eq!(vtt_time(3725.5), "01:02:05.500");
    }
}

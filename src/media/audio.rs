//! The audio path: each source audio track becomes one AAC-LC stereo 48 kHz rendition with
//! its own HLS muxer, so players can switch language.

use std::path::{Path, PathBuf};

use ff::{
    ChannelLayout, Packet, Rational, Rescale, codec, decoder, encoder, filter, format, frame,
};
use ffmpeg_next as ff;

use super::MediaError;
use super::hls::{self, HlsOutput};
use super::spec::{AudioRendition, TranscodeSettings};

const SAMPLE_RATE: i32 = 48_000;

pub struct AudioPipeline {
    stream_index: usize,
    decoder: decoder::Audio,
    in_time_base: Rational,
    start_pts: i64,
    graph: Option<filter::Graph>,
    encoder: encoder::Audio,
    hls: HlsOutput,
    dir: PathBuf,
    dir_name: String,
    language: Option<String>,
    ordinal: usize,
    last_input_secs: f64,
    frame: frame::Audio,
    filtered: frame::Audio,
}

impl AudioPipeline {
    /// `segment_secs` is the video's segment length; audio cuts one AAC frame earlier so
    /// its segments never run over the target duration.
    pub fn new(
        stream: &ff::format::stream::Stream<'_>,
        ordinal: usize,
        language: Option<String>,
        settings: &TranscodeSettings,
        out_dir: &Path,
        start_secs: f64,
        segment_secs: f64,
    ) -> Result<Self, MediaError> {
        let ctx = codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| MediaError::internal("audio decoder", e))?;
        let decoder = ctx.decoder().audio().map_err(|e| {
            MediaError::input(format!("cannot decode audio track {} ({e})", ordinal + 1))
        })?;

        let aac = encoder::find(codec::Id::AAC)
            .ok_or_else(|| MediaError::internal("aac", "no AAC encoder"))?;
        let mut enc = codec::context::Context::new_with_codec(aac)
            .encoder()
            .audio()
            .map_err(|e| MediaError::internal("aac", e))?;
        enc.set_rate(SAMPLE_RATE);
        enc.set_format(format::Sample::F32(format::sample::Type::Planar));
        enc.set_channel_layout(ChannelLayout::STEREO);
        enc.set_channels(2);
        enc.set_bit_rate(settings.audio_kbps as usize * 1000);
        enc.set_time_base((1, SAMPLE_RATE));
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
        let encoder = enc
            .open()
            .map_err(|e| MediaError::internal("aac open", e))?;

        let dir_name = format!("audio_{ordinal}");
        let dir = out_dir.join(&dir_name);
        let frame_secs = f64::from(encoder.frame_size().max(1024)) / f64::from(SAMPLE_RATE);
        let hls = HlsOutput::create(&dir, (segment_secs - frame_secs).max(1.0), &encoder)?;
        Ok(AudioPipeline {
            stream_index: stream.index(),
            decoder,
            in_time_base: stream.time_base(),
            start_pts: (start_secs / f64::from(stream.time_base())).round() as i64,
            graph: None,
            encoder,
            hls,
            dir,
            dir_name,
            language,
            ordinal,
            last_input_secs: 0.0,
            frame: frame::Audio::empty(),
            filtered: frame::Audio::empty(),
        })
    }

    pub fn stream_index(&self) -> usize {
        self.stream_index
    }

    pub fn decoded_secs(&self) -> f64 {
        self.last_input_secs
    }

    pub fn send_packet(&mut self, packet: &Packet) -> Result<(), MediaError> {
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
            let end = pts as f64 * f64::from(self.in_time_base)
                + self.frame.samples() as f64 / f64::from(self.frame.rate().max(1));
            self.last_input_secs = self.last_input_secs.max(end);
            self.frame.set_pts(Some(pts));
            if self.graph.is_none() {
                self.graph = Some(self.build_graph()?);
            }
            let graph = self.graph.as_mut().expect("graph built above");
            if let Some(mut source) = graph.get("in") {
                source.source().add(&self.frame).map_err(|e| {
                    MediaError::input(format!(
                        "audio track {} changes format part-way through ({e})",
                        self.ordinal + 1
                    ))
                })?;
            }
            self.drain()?;
        }
        Ok(())
    }

    fn build_graph(&self) -> Result<filter::Graph, MediaError> {
        let err = |e: ff::Error| MediaError::internal("audio filter graph", e);
        let f = &self.frame;
        let mut args = format!(
            "time_base={}/{}:sample_rate={}:sample_fmt={}:channels={}",
            self.in_time_base.numerator(),
            self.in_time_base.denominator(),
            f.rate(),
            f.format().name(),
            f.channels().max(1)
        );
        // The source must be told the exact layout the frames carry, or it rejects them.
        let layout = f.channel_layout().bits();
        if layout != 0 {
            args.push_str(&format!(":channel_layout=0x{layout:x}"));
        }
        let mut graph = filter::Graph::new();
        let abuffer = filter::find("abuffer")
            .ok_or_else(|| MediaError::internal("audio graph", "no abuffer"))?;
        let sink = filter::find("abuffersink")
            .ok_or_else(|| MediaError::internal("audio graph", "no abuffersink"))?;
        graph.add(&abuffer, "in", &args).map_err(err)?;
        graph.add(&sink, "out", "").map_err(err)?;
        // async=1 fills gaps and trims overlaps, first_pts=0 pads a late start with silence,
        // so audio stays on the video's timeline.
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| {
                p.parse(&format!(
                    "[in]aresample={SAMPLE_RATE}:async=1:first_pts=0,aformat=sample_fmts=fltp:channel_layouts=stereo[out]"
                ))
            })
            .map_err(err)?;
        graph.validate().map_err(err)?;
        if let Some(mut out) = graph.get("out") {
            out.sink()
                .set_frame_size(self.encoder.frame_size().max(1024));
        }
        Ok(graph)
    }

    fn drain(&mut self) -> Result<(), MediaError> {
        let Some(graph) = self.graph.as_mut() else {
            return Ok(());
        };
        let Some(mut sink) = graph.get("out") else {
            return Ok(());
        };
        let sink_tb = sink.sink().time_base();
        while sink.sink().frame(&mut self.filtered).is_ok() {
            let pts = self
                .filtered
                .pts()
                .unwrap_or(0)
                .rescale(sink_tb, self.encoder.time_base());
            self.filtered.set_pts(Some(pts));
            self.encoder
                .send_frame(&self.filtered)
                .map_err(|e| MediaError::internal("aac", e))?;
            self.hls.write_from(&mut self.encoder)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<AudioRendition, MediaError> {
        let _ = self.decoder.send_eof();
        self.receive_frames()?;
        let Some(graph) = self.graph.as_mut() else {
            return Err(MediaError::input(format!(
                "no sound could be decoded from audio track {}",
                self.ordinal + 1
            )));
        };
        if let Some(mut source) = graph.get("in") {
            source
                .source()
                .flush()
                .map_err(|e| MediaError::internal("audio graph flush", e))?;
        }
        self.drain()?;
        self.encoder
            .send_eof()
            .map_err(|e| MediaError::internal("aac flush", e))?;
        self.hls.write_from(&mut self.encoder)?;
        self.hls.finish(&self.dir, None)?;
        let stats = hls::measure_playlist(&self.dir)?;
        let name = match &self.language {
            Some(lang) => format!("{} ({lang})", track_name(self.ordinal)),
            None => track_name(self.ordinal),
        };
        Ok(AudioRendition {
            playlist: format!("{}/{}", self.dir_name, hls::PLAYLIST_NAME),
            language: self.language,
            name,
            bandwidth: stats.peak_bps,
            average_bandwidth: stats.average_bps,
            codecs: hls::AAC_LC_CODECS.into(),
            // Counted with the package's files once it is complete.
            segments: 0,
        })
    }
}

fn track_name(ordinal: usize) -> String {
    format!("Audio {}", ordinal + 1)
}

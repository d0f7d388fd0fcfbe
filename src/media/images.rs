//! Still images (poster, thumbnail sprite sheets) encoded to JPEG with FFmpeg's MJPEG encoder.

use std::path::Path;

use ff::{Packet, codec, encoder, format, frame};
use ffmpeg_next as ff;

use super::MediaError;

/// Encodes one full-range 4:2:0 frame (`yuvj420p`, as the filter graph produces) to a JPEG file.
pub fn write_jpeg(frame: &frame::Video, path: &Path) -> Result<(), MediaError> {
    let err = |e: ff::Error| MediaError::internal("jpeg encode", e);
    let codec = encoder::find(codec::Id::MJPEG)
        .ok_or_else(|| MediaError::internal("jpeg", "no MJPEG encoder"))?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(err)?;
    enc.set_width(frame.width());
    enc.set_height(frame.height());
    enc.set_format(format::Pixel::YUVJ420P);
    enc.set_time_base((1, 25));
    // Fixed quantiser: quality 3 on FFmpeg's 2 (best) .. 31 scale.
    enc.set_flags(codec::Flags::QSCALE);
    enc.set_global_quality(3 * ff::ffi::FF_QP2LAMBDA);
    let mut enc = enc.open().map_err(err)?;
    let mut still = frame.clone();
    still.set_pts(Some(0));
    still.set_kind(ff::picture::Type::None);
    enc.send_frame(&still).map_err(err)?;
    enc.send_eof().map_err(err)?;
    let mut packet = Packet::empty();
    let mut bytes = Vec::new();
    while enc.receive_packet(&mut packet).is_ok() {
        bytes.extend_from_slice(packet.data().unwrap_or_default());
    }
    if bytes.is_empty() {
        return Err(MediaError::internal("jpeg", "encoder produced nothing"));
    }
    std::fs::write(path, bytes)?;
    Ok(())
}

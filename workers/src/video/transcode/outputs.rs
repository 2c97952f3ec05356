//! The outputs: one MP4 (or M4A) muxer per rendition, with its H.264 encoder, and the packets written to it.

use std::path::{Path, PathBuf};

use ffmpeg_next as ff;

use super::super::encode_error;
use super::super::hls;
use super::super::ladder::Target;
use super::chains::{AudioChain, VideoChain};
use super::{Container, EncodeSettings};
use crate::failure::ProcessError;

pub(super) struct Output {
    pub(super) target: Target,
    pub(super) container: Container,
    pub(super) path: PathBuf,
    pub(super) octx: ff::format::context::Output,
    pub(super) video: Option<(ff::encoder::Video, usize)>,
    pub(super) audio_index: Option<usize>,
    /// The HLS muxer fed the same packets (same stream indices), when HLS is on.
    pub(super) hls: Option<ff::format::context::Output>,
}

impl Output {
    /// Writes one encoded packet (in `enc_tb`) to the MP4 and, when on, the HLS muxer.
    pub(super) fn write(&mut self, pkt: &ff::Packet, index: usize, enc_tb: ff::Rational) -> Result<(), ProcessError> {
        for (octx, what) in std::iter::once((&mut self.octx, "mp4")).chain(self.hls.as_mut().map(|h| (h, "hls"))) {
            let out_tb = octx.stream(index).map(|s| s.time_base()).unwrap_or(enc_tb);
            let mut copy = pkt.clone();
            copy.set_stream(index);
            copy.rescale_ts(enc_tb, out_tb);
            copy.write_interleaved(octx).map_err(|e| encode_error(what, e))?;
        }
        Ok(())
    }
}

pub(super) fn open_outputs(
    out_dir: &Path,
    video: Option<&VideoChain>,
    audio: Option<&AudioChain>,
    targets: &[Target],
    s: &EncodeSettings,
) -> Result<Vec<Output>, ProcessError> {
    let plan: Vec<(Target, Container)> = match video {
        Some(_) => targets.iter().map(|t| (t.clone(), Container::Mp4)).collect(),
        None => vec![(Target { name: "audio".into(), width: 0, height: 0 }, Container::M4a)],
    };
    let mut outputs = Vec::with_capacity(plan.len());
    for (target, container) in plan {
        let path = out_dir.join(format!("{}.{}", target.name, container.ext()));
        let mut octx = ff::format::output_as(&path, "mp4").map_err(|e| encode_error("mp4", e))?;
        let video_enc = match video {
            Some(v) => Some(open_h264(&mut octx, v, &target, s)?),
            None => None,
        };
        let audio_index = match audio {
            Some(a) => Some(add_audio_stream(&mut octx, a, "mp4")?),
            None => None,
        };
        let mut opts = ff::Dictionary::new();
        // The index up front, so players can start (and seek) before the whole file arrives.
        opts.set("movflags", "+faststart");
        octx.write_header_with(opts).map_err(|e| encode_error("mp4", e))?;
        let hls = match (s.hls_segment_secs, &video_enc) {
            (Some(secs), Some((enc, _))) => {
                let (mut h, opts) = hls::open(out_dir, &target, secs)?;
                let mut ost = h.add_stream(enc.codec()).map_err(|e| encode_error("hls", e))?;
                ost.set_parameters(enc);
                if let Some(a) = audio {
                    add_audio_stream(&mut h, a, "hls")?;
                }
                h.write_header_with(opts).map_err(|e| encode_error("hls", e))?;
                Some(h)
            }
            _ => None,
        };
        outputs.push(Output { target, container, path, octx, video: video_enc, audio_index, hls });
    }
    Ok(outputs)
}

pub(super) fn add_audio_stream(
    octx: &mut ff::format::context::Output,
    a: &AudioChain,
    what: &'static str,
) -> Result<usize, ProcessError> {
    let mut ost = octx.add_stream(a.encoder.codec()).map_err(|e| encode_error(what, e))?;
    ost.set_parameters(&a.encoder);
    ost.set_time_base((1, a.rate));
    Ok(ost.index())
}

pub(super) fn open_h264(
    octx: &mut ff::format::context::Output,
    v: &VideoChain,
    t: &Target,
    s: &EncodeSettings,
) -> Result<(ff::encoder::Video, usize), ProcessError> {
    let codec = ff::encoder::find_by_name("libx264")
        .ok_or_else(|| ProcessError::Encode("h264", "libx264 is not in this FFmpeg".into()))?;
    let mut ost = octx.add_stream(codec).map_err(|e| encode_error("mp4", e))?;
    let index = ost.index();
    let mut enc =
        ff::codec::context::Context::new_with_codec(codec).encoder().video().map_err(|e| encode_error("h264", e))?;
    enc.set_width(t.width);
    enc.set_height(t.height);
    enc.set_format(ff::format::Pixel::YUV420P);
    enc.set_time_base(v.time_base);
    enc.set_frame_rate(Some(ff::Rational::new(1, 1) / (v.time_base * ff::Rational::new(v.step as i32, 1))));
    enc.set_aspect_ratio((1, 1));
    enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    let mut opts = ff::Dictionary::new();
    opts.set("preset", &s.preset);
    opts.set("crf", &s.crf.to_string());
    opts.set("threads", &if s.threads == 0 { "auto".to_string() } else { s.threads.to_string() });
    if let Some(secs) = s.hls_segment_secs {
        // A keyframe at least every segment, so segments can be cut near their target length.
        enc.set_gop((secs as f64 / (f64::from(v.time_base) * v.step as f64)).round().max(1.0) as u32);
    }
    let encoder = enc.open_with(opts).map_err(|e| encode_error("h264", e))?;
    ost.set_parameters(&encoder);
    ost.set_time_base(v.time_base);
    Ok((encoder, index))
}

pub(super) fn write_video_packets(o: &mut Output, enc_tb: ff::Rational, step: i64) -> Result<(), ProcessError> {
    let mut pkt = ff::Packet::empty();
    loop {
        let Some((enc, index)) = o.video.as_mut() else { return Ok(()) };
        let index = *index;
        if enc.receive_packet(&mut pkt).is_err() {
            return Ok(());
        }
        if pkt.duration() <= 0 {
            // Without it the last frame has no length and the output comes up one frame short.
            pkt.set_duration(step);
        }
        o.write(&pkt, index, enc_tb)?;
    }
}

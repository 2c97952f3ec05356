//! The decode → filter → encode chains: one video chain feeding every rendition's encoder through one filter
//! graph, one audio chain encoding AAC once for every output.

use ff::Rescale;
use ffmpeg_next as ff;

use super::super::graph::{self, sink_name};
use super::super::ladder::Target;
use super::super::probe::Probe;
use super::super::{av_error, encode_error};
use super::outputs::{write_video_packets, Output};
use super::EncodeSettings;
use crate::failure::ProcessError;

pub(super) struct VideoChain {
    pub(super) stream: usize,
    pub(super) decoder: ff::decoder::Video,
    pub(super) graph: ff::filter::Graph,
    pub(super) time_base: ff::Rational,
    /// Smallest pts step, used when a decoder repeats or omits timestamps (x264 needs them increasing).
    pub(super) step: i64,
    pub(super) last_pts: Option<i64>,
    pub(super) first_pts: Option<i64>,
    pub(super) frames: u64,
}

pub(super) struct AudioChain {
    pub(super) stream: usize,
    pub(super) stream_tb: ff::Rational,
    pub(super) decoder: ff::decoder::Audio,
    pub(super) graph: ff::filter::Graph,
    pub(super) encoder: ff::encoder::Audio,
    pub(super) rate: i32,
    pub(super) last_pts: Option<i64>,
    pub(super) frames: u64,
}

pub(super) fn video_chain(
    st: &ff::format::stream::Stream,
    rotation: u32,
    targets: &[Target],
    probe: &Probe,
) -> Result<VideoChain, ProcessError> {
    let mut ctx = ff::codec::context::Context::from_parameters(st.parameters())
        .map_err(|e| av_error("reading the video stream", e))?;
    // As the ffmpeg CLI: frame and slice threads, as many as the decoder likes.
    ctx.set_threading(ff::threading::Config { kind: ff::threading::Type::Frame, count: 0, ..Default::default() });
    let decoder = ctx.decoder().video().map_err(|e| av_error("opening the video decoder", e))?;
    let time_base = st.time_base();
    let input = graph::VideoInput {
        width: decoder.width(),
        height: decoder.height(),
        pixel_format: decoder.format(),
        time_base,
        aspect: decoder.aspect_ratio(),
    };
    if input.width == 0 || input.height == 0 || input.pixel_format == ff::format::Pixel::None {
        return Err(ProcessError::Corrupt("the video stream declares no frame size or pixel format".into()));
    }
    let graph = graph::video(&input, rotation, targets).map_err(|e| av_error("building the scaling graph", e))?;
    let fps = probe.video.as_ref().map(|v| v.frame_rate).filter(|f| *f > 0.0).unwrap_or(30.0);
    let step = ((1.0 / fps) / f64::from(time_base)).round().max(1.0) as i64;
    Ok(VideoChain { stream: st.index(), decoder, graph, time_base, step, last_pts: None, first_pts: None, frames: 0 })
}

pub(super) fn audio_chain(st: &ff::format::stream::Stream, s: &EncodeSettings) -> Result<AudioChain, ProcessError> {
    let ctx = ff::codec::context::Context::from_parameters(st.parameters())
        .map_err(|e| av_error("reading the audio stream", e))?;
    let decoder = ctx.decoder().audio().map_err(|e| av_error("opening the audio decoder", e))?;
    let codec = ff::encoder::find(ff::codec::Id::AAC)
        .ok_or_else(|| ProcessError::Encode("aac", "no AAC encoder in this FFmpeg".into()))?;
    let stereo = decoder.channels() != 1;
    let rate = if decoder.rate() > 0 { decoder.rate() as i32 } else { 48_000 };
    let mut enc =
        ff::codec::context::Context::new_with_codec(codec).encoder().audio().map_err(|e| encode_error("aac", e))?;
    let layout = if stereo { ff::ChannelLayout::STEREO } else { ff::ChannelLayout::MONO };
    enc.set_rate(rate);
    enc.set_channel_layout(layout);
    enc.set_channels(layout.channels());
    enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
    enc.set_bit_rate(s.audio_bitrate as usize);
    enc.set_time_base((1, rate));
    // Every output is MP4, which wants codec headers out of band.
    enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    let encoder = enc.open_as(codec).map_err(|e| encode_error("aac", e))?;
    let input = graph::AudioInput {
        rate: rate as u32,
        format: decoder.format(),
        channel_layout: decoder.channel_layout().bits(),
        channels: decoder.channels(),
    };
    let graph =
        graph::audio(&input, stereo, encoder.frame_size()).map_err(|e| av_error("building the audio graph", e))?;
    Ok(AudioChain {
        stream: st.index(),
        stream_tb: st.time_base(),
        decoder,
        graph,
        encoder,
        rate,
        last_pts: None,
        frames: 0,
    })
}

pub(super) fn pump_video(v: &mut VideoChain, outputs: &mut [Output]) -> Result<(), ProcessError> {
    let mut frame = ff::frame::Video::empty();
    while v.decoder.receive_frame(&mut frame).is_ok() {
        let pts = match (frame.timestamp(), v.last_pts) {
            (Some(t), Some(last)) if t > last => t,
            (Some(t), None) => t,
            (_, Some(last)) => last + v.step,
            (None, None) => 0,
        };
        frame.set_pts(Some(pts));
        v.first_pts.get_or_insert(pts);
        v.last_pts = Some(pts);
        v.frames += 1;
        graph::push(&mut v.graph, Some(&frame)).map_err(|e| av_error("filtering", e))?;
        drain_sinks(v, outputs)?;
    }
    Ok(())
}

pub(super) fn drain_sinks(v: &mut VideoChain, outputs: &mut [Output]) -> Result<(), ProcessError> {
    let mut filtered = ff::frame::Video::empty();
    for (i, o) in outputs.iter_mut().enumerate() {
        let Some(mut sink) = v.graph.get(&sink_name(i)) else { continue };
        while sink.sink().frame(&mut filtered).is_ok() {
            if let Some((enc, _)) = o.video.as_mut() {
                filtered.set_kind(ff::picture::Type::None);
                enc.send_frame(&filtered).map_err(|e| encode_error("h264", e))?;
            }
            write_video_packets(o, v.time_base, v.step)?;
        }
    }
    Ok(())
}

pub(super) fn pump_audio(a: &mut AudioChain, outputs: &mut [Output]) -> Result<(), ProcessError> {
    let mut frame = ff::frame::Audio::empty();
    while a.decoder.receive_frame(&mut frame).is_ok() {
        // The graph counts in samples (1/rate); the decoder in the stream's time base.
        let pts = frame.timestamp().map(|t| t.rescale(a.stream_tb, ff::Rational::new(1, a.rate)));
        frame.set_pts(pts);
        if let Some(p) = pts {
            a.last_pts = Some(p);
        }
        a.frames += 1;
        graph::push(&mut a.graph, Some(&frame)).map_err(|e| av_error("filtering audio", e))?;
        drain_audio_graph(a, outputs)?;
    }
    Ok(())
}

pub(super) fn drain_audio_graph(a: &mut AudioChain, outputs: &mut [Output]) -> Result<(), ProcessError> {
    let mut filtered = ff::frame::Audio::empty();
    let Some(mut sink) = a.graph.get("out") else { return Ok(()) };
    while sink.sink().frame(&mut filtered).is_ok() {
        a.encoder.send_frame(&filtered).map_err(|e| encode_error("aac", e))?;
        write_audio_packets(a, outputs)?;
    }
    Ok(())
}

pub(super) fn write_audio_packets(a: &mut AudioChain, outputs: &mut [Output]) -> Result<(), ProcessError> {
    let enc_tb = ff::Rational::new(1, a.rate);
    let mut pkt = ff::Packet::empty();
    while a.encoder.receive_packet(&mut pkt).is_ok() {
        for o in outputs.iter_mut() {
            if let Some(index) = o.audio_index {
                o.write(&pkt, index, enc_tb)?;
            }
        }
    }
    Ok(())
}

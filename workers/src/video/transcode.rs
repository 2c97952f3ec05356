//! One decode, every rendition: demux → decode → filter graph (upright, split, scale) → one x264 encoder per
//! rendition → MP4 with faststart; the audio track is decoded and AAC-encoded once and muxed into every output.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ff::Rescale;
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use super::graph::{self, sink_name};
use super::hls;
use super::ladder::Target;
use super::probe::Probe;
use super::{av_error, encode_error};
use crate::failure::ProcessError;

/// Encoder settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncodeSettings {
    /// x264 preset (`veryfast`…).
    pub preset: String,
    /// x264 constant rate factor: lower is better and larger.
    pub crf: u8,
    /// AAC bit rate, bits per second.
    pub audio_bitrate: u32,
    /// Threads per x264 encoder; 0 lets x264 choose (about 1.5 per core).
    pub threads: usize,
    /// Also write HLS with segments of about this many seconds (keyframes are placed to match).
    pub hls_segment_secs: Option<u32>,
}

/// What a written output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Container {
    /// H.264 (+ AAC) in MP4.
    Mp4,
    /// AAC alone in an M4A (MP4 audio) file.
    M4a,
}

impl Container {
    /// File extension of the container.
    pub fn ext(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::M4a => "m4a",
        }
    }
    /// MIME type of the container.
    pub fn mime(self) -> &'static str {
        match self {
            Container::Mp4 => "video/mp4",
            Container::M4a => "audio/mp4",
        }
    }
}

/// One finished output file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Encoded {
    /// The rendition's name.
    pub name: String,
    /// MP4 or M4A.
    pub container: Container,
    /// Where the file was written.
    pub path: PathBuf,
    /// Width (0 for audio).
    pub width: u32,
    /// Height (0 for audio).
    pub height: u32,
}

struct VideoChain {
    stream: usize,
    decoder: ff::decoder::Video,
    graph: ff::filter::Graph,
    time_base: ff::Rational,
    /// Smallest pts step, used when a decoder repeats or omits timestamps (x264 needs them increasing).
    step: i64,
    last_pts: Option<i64>,
    first_pts: Option<i64>,
    frames: u64,
}

struct AudioChain {
    stream: usize,
    stream_tb: ff::Rational,
    decoder: ff::decoder::Audio,
    graph: ff::filter::Graph,
    encoder: ff::encoder::Audio,
    rate: i32,
    last_pts: Option<i64>,
    frames: u64,
}

struct Output {
    target: Target,
    container: Container,
    path: PathBuf,
    octx: ff::format::context::Output,
    video: Option<(ff::encoder::Video, usize)>,
    audio_index: Option<usize>,
    /// The HLS muxer fed the same packets (same stream indices), when HLS is on.
    hls: Option<ff::format::context::Output>,
}

impl Output {
    /// Writes one encoded packet (in `enc_tb`) to the MP4 and, when on, the HLS muxer.
    fn write(&mut self, pkt: &ff::Packet, index: usize, enc_tb: ff::Rational) -> Result<(), ProcessError> {
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

/// Something that reports progress as a fraction 0–1; called often, so it must be cheap.
pub type Progress<'a> = &'a (dyn Fn(f64) + Sync);

/// Transcodes `input` into `out_dir`, one file per target (or one M4A when the input has no video).
pub fn transcode(
    input: &Path,
    out_dir: &Path,
    probe: &Probe,
    targets: &[Target],
    s: &EncodeSettings,
    progress: Progress<'_>,
    cancel: &AtomicBool,
) -> Result<Vec<Encoded>, ProcessError> {
    let mut ictx = super::open(input)?;
    let rotation = probe.video.as_ref().map(|v| v.rotation).unwrap_or(0);
    let mut video = match (ictx.streams().best(ff::media::Type::Video), targets.is_empty()) {
        (Some(st), false) => Some(video_chain(&st, rotation, targets, probe)?),
        _ => None,
    };
    let mut audio = match ictx.streams().best(ff::media::Type::Audio) {
        Some(st) => Some(audio_chain(&st, s)?),
        None => None,
    };
    if video.is_none() && audio.is_none() {
        return Err(ProcessError::UnsupportedFormat("no video or audio stream".into()));
    }
    let mut outputs = open_outputs(out_dir, video.as_ref(), audio.as_ref(), targets, s)?;

    let duration = probe.duration_secs;
    let mut read_error = None;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(ProcessError::Cancelled);
        }
        let packet = match super::read_packet(&mut ictx) {
            Ok(p) => p,
            Err(ff::Error::Eof) => break,
            // Like the ffmpeg CLI: a read error ends the input; the truncation check below decides.
            Err(e) => {
                read_error = Some(e);
                break;
            }
        };
        let index = packet.stream();
        if let Some(v) = video.as_mut().filter(|v| v.stream == index) {
            // A damaged packet is skipped, as players do; too little decoded video fails the job below.
            let _ = v.decoder.send_packet(&packet);
            pump_video(v, &mut outputs)?;
            if let (Some(first), Some(last)) = (v.first_pts, v.last_pts) {
                progress(((last - first) as f64 * f64::from(v.time_base) / duration.max(0.001)).clamp(0.0, 1.0));
            }
        } else if let Some(a) = audio.as_mut().filter(|a| a.stream == index) {
            let _ = a.decoder.send_packet(&packet);
            pump_audio(a, &mut outputs)?;
            if video.is_none() {
                if let Some(last) = a.last_pts {
                    progress((last as f64 / a.rate.max(1) as f64 / duration.max(0.001)).clamp(0.0, 1.0));
                }
            }
        }
    }

    if let Some(v) = video.as_mut() {
        let _ = v.decoder.send_eof();
        pump_video(v, &mut outputs)?;
        graph::push(&mut v.graph, None).map_err(|e| av_error("flushing", e))?;
        drain_sinks(v, &mut outputs)?;
        for o in outputs.iter_mut() {
            if let Some((enc, _)) = o.video.as_mut() {
                enc.send_eof().map_err(|e| encode_error("h264", e))?;
            }
            write_video_packets(o, v.time_base, v.step)?;
        }
        check_complete(
            v.frames,
            v.first_pts.zip(v.last_pts).map(|(f, l)| (l - f) as f64 * f64::from(v.time_base)),
            duration,
            read_error,
        )?;
    } else if let Some(a) = audio.as_ref() {
        check_complete(a.frames, a.last_pts.map(|l| l as f64 / a.rate.max(1) as f64), duration, read_error)?;
    }
    if let Some(a) = audio.as_mut() {
        let _ = a.decoder.send_eof();
        pump_audio(a, &mut outputs)?;
        let _ = graph::push(&mut a.graph, None);
        drain_audio_graph(a, &mut outputs)?;
        a.encoder.send_eof().map_err(|e| encode_error("aac", e))?;
        write_audio_packets(a, &mut outputs)?;
    }
    let mut done = Vec::with_capacity(outputs.len());
    for mut o in outputs {
        o.octx.write_trailer().map_err(|e| encode_error("mp4", e))?;
        if let Some(h) = o.hls.as_mut() {
            h.write_trailer().map_err(|e| encode_error("hls", e))?;
        }
        done.push(Encoded {
            name: o.target.name,
            container: o.container,
            path: o.path,
            width: o.target.width,
            height: o.target.height,
        });
    }
    progress(1.0);
    Ok(done)
}

/// Fails a job whose input ended well before its declared duration (a truncated upload) or had no frames.
fn check_complete(
    frames: u64,
    decoded_secs: Option<f64>,
    duration: f64,
    read_error: Option<ff::Error>,
) -> Result<(), ProcessError> {
    if frames == 0 {
        let why = read_error.map(|e| format!(" ({e})")).unwrap_or_default();
        return Err(ProcessError::Corrupt(format!("no decodable frames{why}")));
    }
    let decoded = decoded_secs.unwrap_or(0.0);
    if duration > 1.0 && decoded < duration * 0.9 - 0.5 {
        return Err(ProcessError::Corrupt(format!(
            "truncated: only {decoded:.1} s of the declared {duration:.1} s could be decoded"
        )));
    }
    Ok(())
}

fn video_chain(
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

fn audio_chain(st: &ff::format::stream::Stream, s: &EncodeSettings) -> Result<AudioChain, ProcessError> {
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

fn open_outputs(
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

fn add_audio_stream(
    octx: &mut ff::format::context::Output,
    a: &AudioChain,
    what: &'static str,
) -> Result<usize, ProcessError> {
    let mut ost = octx.add_stream(a.encoder.codec()).map_err(|e| encode_error(what, e))?;
    ost.set_parameters(&a.encoder);
    ost.set_time_base((1, a.rate));
    Ok(ost.index())
}

fn open_h264(
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

fn pump_video(v: &mut VideoChain, outputs: &mut [Output]) -> Result<(), ProcessError> {
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

fn drain_sinks(v: &mut VideoChain, outputs: &mut [Output]) -> Result<(), ProcessError> {
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

fn write_video_packets(o: &mut Output, enc_tb: ff::Rational, step: i64) -> Result<(), ProcessError> {
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

fn pump_audio(a: &mut AudioChain, outputs: &mut [Output]) -> Result<(), ProcessError> {
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

fn drain_audio_graph(a: &mut AudioChain, outputs: &mut [Output]) -> Result<(), ProcessError> {
    let mut filtered = ff::frame::Audio::empty();
    let Some(mut sink) = a.graph.get("out") else { return Ok(()) };
    while sink.sink().frame(&mut filtered).is_ok() {
        a.encoder.send_frame(&filtered).map_err(|e| encode_error("aac", e))?;
        write_audio_packets(a, outputs)?;
    }
    Ok(())
}

fn write_audio_packets(a: &mut AudioChain, outputs: &mut [Output]) -> Result<(), ProcessError> {
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

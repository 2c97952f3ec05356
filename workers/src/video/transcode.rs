//! One decode, every rendition: demux → decode → filter graph (upright, split, scale) → one x264 encoder per
//! rendition → MP4 with faststart; the audio track is decoded and AAC-encoded once and muxed into every output.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use super::graph::{self};
use super::ladder::Target;
use super::probe::Probe;
use super::{av_error, encode_error};
use crate::failure::ProcessError;

mod chains;
mod outputs;

use chains::{audio_chain, drain_audio_graph, drain_sinks, pump_audio, pump_video, video_chain, write_audio_packets};
use outputs::{open_outputs, write_video_packets};

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

//! Video processing through FFmpeg's libraries (ffmpeg-next): a file in, renditions, poster variants and
//! metadata out. No network or database here, so the worker, `mediamill process` and the benchmark share it.
//!
//! Flow: [`probe`] the headers and check the limits → pick the [`ladder`] targets → find the [`poster`] frame →
//! [`transcode`] every rendition from one decode. Cancelling (timeout, shutdown) is cooperative: the loops check
//! a flag between packets.

pub mod graph;
pub mod hls;
pub mod ladder;
pub mod poster;
pub mod probe;
pub mod transcode;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Once;

use ffmpeg_next as ff;
use mediamill_core::config::{parse_hex_colour, Config, Rendition, VariantSpec};
use serde::{Deserialize, Serialize};

pub use probe::Probe;
pub use transcode::{Container, EncodeSettings, Encoded, Progress};

use crate::failure::ProcessError;
use crate::image::{self, meta};

/// What video processing needs to know besides the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoSettings {
    /// The rendition ladder, largest first (never upscaled).
    pub renditions: Vec<Rendition>,
    /// x264 and AAC settings, and HLS.
    pub encode: EncodeSettings,
    /// The poster variants.
    pub poster: Vec<VariantSpec>,
    /// Put behind transparent pixels (animations to MP4).
    pub background: [u8; 3],
    /// Longest duration accepted (`video.max_seconds`).
    pub max_seconds: u64,
    /// Most pixels a frame may have.
    pub max_pixels: u64,
}

impl VideoSettings {
    /// Settings from the configuration.
    pub fn from_config(cfg: &Config) -> VideoSettings {
        let v = &cfg.video;
        VideoSettings {
            renditions: v.renditions.clone(),
            encode: EncodeSettings {
                preset: v.preset.clone(),
                crf: v.crf,
                audio_bitrate: v.audio_bitrate,
                threads: 0,
                hls_segment_secs: v.hls.then_some(v.hls_segment_secs),
            },
            poster: v.poster.clone(),
            background: parse_hex_colour(&cfg.image.background).unwrap_or([255, 255, 255]),
            max_seconds: v.max_seconds,
            max_pixels: v.max_pixels,
        }
    }
}

/// Facts stored on the media record and sent in the `processed` event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoMetadata {
    /// Width and height as shown (after rotation); absent for audio-only files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Height as shown.
    pub height: Option<u32>,
    /// The container's format name.
    pub format: String,
    #[serde(flatten)]
    /// Streams, duration and bit rates.
    pub probe: Probe,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    /// Placeholders from the poster frame (videos only).
    pub placeholders: Option<meta::Placeholders>,
}

/// The result of processing one video.
#[derive(Debug)]
pub struct VideoProcessed {
    /// Facts about the source.
    pub metadata: VideoMetadata,
    /// Transcoded files, written to the output directory.
    pub renditions: Vec<Encoded>,
    /// Poster variants, encoded in memory.
    pub images: Vec<image::Output>,
    /// HLS files (master playlist first) in `out_dir/hls`, when HLS is on.
    pub hls: Vec<std::path::PathBuf>,
}

/// Processes the video at `input`, writing renditions into `out_dir` (which the caller removes).
pub fn process(
    input: &Path,
    out_dir: &Path,
    s: &VideoSettings,
    progress: Progress<'_>,
    cancel: &AtomicBool,
) -> Result<VideoProcessed, ProcessError> {
    let probe = probe::probe(input)?;
    check_limits(&probe, s)?;
    let (targets, rotation) = match &probe.video {
        Some(v) => (ladder::targets(v.display_width, v.display_height, &s.renditions), v.rotation),
        None => (vec![], 0),
    };
    let (images, placeholders) = match poster::poster(input, rotation, cancel)? {
        Some(frame) => {
            let img = ::image::DynamicImage::ImageRgb8(frame);
            let (outputs, smallest) = image::render(&img, &s.poster, s.background, None)?;
            (outputs, Some(meta::placeholders(smallest.as_ref().unwrap_or(&img))))
        }
        None => (vec![], None),
    };
    let renditions = transcode::transcode(input, out_dir, &probe, &targets, &s.encode, progress, cancel)?;
    let hls = match s.encode.hls_segment_secs {
        Some(_) if !targets.is_empty() => hls::finish(out_dir, &targets)?,
        _ => vec![],
    };
    let metadata = VideoMetadata {
        width: probe.video.as_ref().map(|v| v.display_width),
        height: probe.video.as_ref().map(|v| v.display_height),
        format: probe.container.clone(),
        probe,
        placeholders,
    };
    Ok(VideoProcessed { metadata, renditions, images, hls })
}

/// Refuses what is over the limits before any decoding.
pub fn check_limits(p: &Probe, s: &VideoSettings) -> Result<(), ProcessError> {
    if p.video.is_none() && p.audio.is_none() {
        return Err(ProcessError::UnsupportedFormat(format!("{}: no video or audio stream", p.container)));
    }
    if p.duration_secs > s.max_seconds as f64 {
        return Err(ProcessError::TooLong { seconds: p.duration_secs.ceil() as u64, limit: s.max_seconds });
    }
    if let Some(v) = &p.video {
        let pixels = v.width as u64 * v.height as u64;
        if pixels > s.max_pixels {
            return Err(ProcessError::TooManyPixels { width: v.width, height: v.height, pixels, limit: s.max_pixels });
        }
    }
    Ok(())
}

/// Registers FFmpeg's formats and quietens its logging (errors come back as values).
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ff::init();
        ff::log::set_level(ff::log::Level::Fatal);
    });
}

/// The next packet of the input, in a packet of its own: `av_read_frame` does not release what a reused packet
/// held, so reading into one packet over and over keeps every packet's data alive until the end.
pub(crate) fn read_packet(ictx: &mut ff::format::context::Input) -> Result<ff::Packet, ff::Error> {
    let mut p = ff::Packet::empty();
    p.read(ictx)?;
    Ok(p)
}

/// Opens `path` for reading (registering FFmpeg's formats on first use).
pub(crate) fn open(path: &Path) -> Result<ff::format::context::Input, ProcessError> {
    init();
    ff::format::input(path).map_err(|e| match e {
        ff::Error::InvalidData => ProcessError::Corrupt(format!(
            "opening the container: {e} (truncated, or damaged where the stream index lives)"
        )),
        other => av_error("opening the container", other),
    })
}

/// An FFmpeg error met while reading the input, as a processing failure.
pub(crate) fn av_error(what: &str, e: ff::Error) -> ProcessError {
    match e {
        ff::Error::DecoderNotFound | ff::Error::DemuxerNotFound | ff::Error::StreamNotFound => {
            ProcessError::UnsupportedFormat(format!("{what}: {e}"))
        }
        _ => ProcessError::Corrupt(format!("{what}: {e}")),
    }
}

/// An FFmpeg error met while writing an output.
pub(crate) fn encode_error(what: &'static str, e: ff::Error) -> ProcessError {
    ProcessError::Encode(what, e.to_string())
}

/// Turns an animation (an animated GIF) into one silent MP4 at its own size (or the ladder's largest step).
pub fn animation_to_mp4(input: &Path, out_dir: &Path, s: &VideoSettings) -> Result<Encoded, ProcessError> {
    let probe = probe::probe(input)?;
    check_limits(&probe, s)?;
    let v = probe.video.as_ref().ok_or_else(|| ProcessError::Corrupt("the animation has no frames".into()))?;
    let mut targets = ladder::targets(v.display_width, v.display_height, &s.renditions);
    targets.truncate(1);
    if let Some(t) = targets.first_mut() {
        t.name = "animation".into();
    }
    let cancel = AtomicBool::new(false);
    let encode = EncodeSettings { hls_segment_secs: None, ..s.encode.clone() };
    transcode::transcode(input, out_dir, &probe, &targets, &encode, &|_| {}, &cancel)?
        .pop()
        .ok_or_else(|| ProcessError::Encode("mp4", "no output was written".into()))
}

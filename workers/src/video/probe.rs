//! What a video file is: container, duration, streams, rotation. Read from the container and stream headers
//! only, so probing costs milliseconds whatever the file's length.

use std::path::Path;

use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use crate::failure::ProcessError;

/// Facts about a video (or audio-only) upload, stored on the media record and sent in the `processed` event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Probe {
    /// Short container name (`mov`, `matroska`, `gif`, …).
    pub container: String,
    /// Seconds, from the container (or the longest stream when the container does not say).
    pub duration_secs: f64,
    /// Overall bit rate in bits per second (0 when unknown).
    pub bit_rate: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The main video stream, if any.
    pub video: Option<VideoStream>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The main audio stream, if any.
    pub audio: Option<AudioStream>,
}

/// The main video stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VideoStream {
    /// Codec name (`h264`, `vp9`…).
    pub codec: String,
    /// Coded size, as stored.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Size as shown, after the display-matrix rotation.
    pub display_width: u32,
    /// Height as shown.
    pub display_height: u32,
    /// Clockwise rotation the player must apply: 0, 90, 180 or 270.
    pub rotation: u32,
    /// Average frames per second (0 when unknown).
    pub frame_rate: f64,
    /// Bit rate in bits per second (0 when unknown).
    pub bit_rate: i64,
    /// Pixel format name (`yuv420p`…).
    pub pixel_format: String,
}

/// The main audio stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AudioStream {
    /// Codec name (`aac`, `opus`…).
    pub codec: String,
    /// Number of channels.
    pub channels: u16,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Bit rate in bits per second (0 when unknown).
    pub bit_rate: i64,
}

/// Opens `path` and reads its headers.
pub fn probe(path: &Path) -> Result<Probe, ProcessError> {
    let ictx = super::open(path)?;
    probe_input(&ictx)
}

/// Probes an already opened container.
pub fn probe_input(ictx: &ff::format::context::Input) -> Result<Probe, ProcessError> {
    let container = ictx.format().name().split(',').next().unwrap_or("unknown").to_string();
    if ictx.nb_streams() == 0 {
        return Err(ProcessError::Corrupt(format!(
            "the {container} container holds no streams (a zero-length recording)"
        )));
    }
    let video = ictx.streams().best(ff::media::Type::Video).map(|s| video_stream(&s)).transpose()?;
    let audio = ictx.streams().best(ff::media::Type::Audio).map(|s| audio_stream(&s)).transpose()?;
    let mut duration_secs =
        if ictx.duration() > 0 { ictx.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE) } else { 0.0 };
    if duration_secs <= 0.0 {
        duration_secs = ictx
            .streams()
            .filter(|s| s.duration() > 0)
            .map(|s| s.duration() as f64 * f64::from(s.time_base()))
            .fold(0.0, f64::max);
    }
    Ok(Probe { container, duration_secs, bit_rate: ictx.bit_rate(), video, audio })
}

fn codec_name(params: &ff::codec::Parameters) -> String {
    let id = params.id();
    if id == ff::codec::Id::None {
        return "none".into();
    }
    // The codec's name (`mp3`, `h264`), not the name of the decoder FFmpeg would pick (`mp3float`).
    id.name().to_string()
}

fn video_stream(s: &ff::format::stream::Stream) -> Result<VideoStream, ProcessError> {
    let params = s.parameters();
    // SAFETY: reading plain fields of the parameters' own struct, which lives as long as `params`.
    let (width, height, format, bit_rate) = unsafe {
        let p = params.as_ptr();
        ((*p).width.max(0) as u32, (*p).height.max(0) as u32, (*p).format, (*p).bit_rate)
    };
    let rotation = rotation(s);
    let (display_width, display_height) = if rotation % 180 == 90 { (height, width) } else { (width, height) };
    let fps = [s.avg_frame_rate(), s.rate()].into_iter().find(|r| r.numerator() > 0 && r.denominator() > 0);
    let pixel_format = if (0..ff::ffi::AVPixelFormat::AV_PIX_FMT_NB as i32).contains(&format) {
        // SAFETY: the value is inside the enum's range (a file could put anything in the field, and a Rust enum
        // outside its range is undefined behaviour); av_get_pix_fmt_name returns a static string or null.
        unsafe {
            let name = ff::ffi::av_get_pix_fmt_name(std::mem::transmute::<i32, ff::ffi::AVPixelFormat>(format));
            if name.is_null() {
                "unknown".into()
            } else {
                std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned()
            }
        }
    } else {
        "unknown".into()
    };
    Ok(VideoStream {
        codec: codec_name(&params),
        width,
        height,
        display_width,
        display_height,
        rotation,
        frame_rate: fps.map(f64::from).unwrap_or(0.0),
        bit_rate,
        pixel_format,
    })
}

fn audio_stream(s: &ff::format::stream::Stream) -> Result<AudioStream, ProcessError> {
    let params = s.parameters();
    // SAFETY: as above, plain fields of the stream's parameters.
    let (sample_rate, bit_rate, channels) = unsafe {
        let p = params.as_ptr();
        ((*p).sample_rate.max(0) as u32, (*p).bit_rate, (*p).channels.max(0) as u16)
    };
    Ok(AudioStream { codec: codec_name(&params), channels, sample_rate, bit_rate })
}

/// Clockwise degrees (0/90/180/270) from the stream's display matrix, as the ffmpeg CLI reads it.
fn rotation(s: &ff::format::stream::Stream) -> u32 {
    for sd in s.side_data() {
        if sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix && sd.data().len() >= 36 {
            let mut m = [0i32; 9];
            for (i, c) in sd.data().chunks_exact(4).take(9).enumerate() {
                m[i] = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
            }
            // SAFETY: the matrix is 9 i32s, as av_display_rotation_get expects.
            let ccw = unsafe { ff::ffi::av_display_rotation_get(m.as_ptr()) };
            return clockwise_quarter(ccw);
        }
    }
    0
}

/// Counter-clockwise degrees (what the display matrix encodes) → clockwise 0/90/180/270.
fn clockwise_quarter(ccw: f64) -> u32 {
    if ccw.is_nan() {
        return 0;
    }
    let cw = (-ccw).rem_euclid(360.0);
    ((cw / 90.0).round() as u32 % 4) * 90
}

#[cfg(test)]
mod tests {
    use super::clockwise_quarter;

    #[test]
    fn display_matrix_angles_become_clockwise_quarters() {
        assert_eq!(clockwise_quarter(0.0), 0);
        assert_eq!(clockwise_quarter(-90.0), 90, "a phone held upright stores -90");
        assert_eq!(clockwise_quarter(90.0), 270);
        assert_eq!(clockwise_quarter(180.0), 180);
        assert_eq!(clockwise_quarter(-180.0), 180);
        assert_eq!(clockwise_quarter(-89.6), 90);
        assert_eq!(clockwise_quarter(f64::NAN), 0);
    }
}

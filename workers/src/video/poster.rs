//! The poster frame: the first frame in the opening seconds that is neither black nor flat (fade-ins and
//! title cards are common), turned upright, as an RGB image for the image variant code.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use ff::software::scaling;
use ffmpeg_next as ff;
use image::RgbImage;

use super::av_error;
use crate::failure::ProcessError;

/// How far into the video the search goes before settling for the best frame seen.
const SEARCH_SECS: f64 = 5.0;
const SEARCH_FRAMES: u64 = 300;
/// Mean luma (0–255) below which a frame counts as black, and spread below which it counts as flat.
const DARK: f64 = 24.0;
const FLAT: f64 = 6.0;

/// Finds the poster frame; `None` when the input has no decodable video frame.
pub fn poster(input: &Path, rotation: u32, cancel: &AtomicBool) -> Result<Option<RgbImage>, ProcessError> {
    let mut ictx = super::open(input)?;
    let Some(st) = ictx.streams().best(ff::media::Type::Video) else { return Ok(None) };
    let (index, tb) = (st.index(), st.time_base());
    let mut ctx = ff::codec::context::Context::from_parameters(st.parameters())
        .map_err(|e| av_error("reading the video stream", e))?;
    ctx.set_threading(ff::threading::Config { kind: ff::threading::Type::Frame, count: 0, ..Default::default() });
    let mut decoder = ctx.decoder().video().map_err(|e| av_error("opening the video decoder", e))?;

    let mut best: Option<(f64, RgbImage)> = None;
    let mut first_pts = None;
    let mut seen = 0u64;
    let mut frame = ff::frame::Video::empty();
    let mut eof = false;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(ProcessError::Cancelled);
        }
        if !eof {
            match super::read_packet(&mut ictx) {
                Ok(packet) if packet.stream() == index => {
                    let _ = decoder.send_packet(&packet);
                }
                Ok(_) => continue,
                Err(_) => {
                    eof = true;
                    let _ = decoder.send_eof();
                }
            }
        }
        let mut got = false;
        while decoder.receive_frame(&mut frame).is_ok() {
            got = true;
            seen += 1;
            let pts = frame.timestamp().unwrap_or(0);
            let start = *first_pts.get_or_insert(pts);
            let (mean, spread) = luma_stats(&frame)?;
            let interesting = mean >= DARK && spread >= FLAT;
            let score = mean.min(128.0) + spread;
            if interesting || best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, to_rgb(&frame)?));
            }
            let late = (pts - start) as f64 * f64::from(tb) > SEARCH_SECS || seen >= SEARCH_FRAMES;
            if interesting || late {
                return Ok(best.map(|(_, img)| upright(img, rotation)));
            }
        }
        if eof && !got {
            return Ok(best.map(|(_, img)| upright(img, rotation)));
        }
    }
}

/// Mean and standard deviation of the frame's brightness, from a 64×64 greyscale copy.
fn luma_stats(frame: &ff::frame::Video) -> Result<(f64, f64), ProcessError> {
    let mut grey = ff::frame::Video::empty();
    let mut sws = scaling::Context::get(
        frame.format(),
        frame.width(),
        frame.height(),
        ff::format::Pixel::GRAY8,
        64,
        64,
        scaling::Flags::FAST_BILINEAR,
    )
    .map_err(|e| av_error("measuring a frame", e))?;
    sws.run(frame, &mut grey).map_err(|e| av_error("measuring a frame", e))?;
    let stride = grey.stride(0);
    let data = grey.data(0);
    let (mut sum, mut sq, mut n) = (0f64, 0f64, 0f64);
    for row in data.chunks(stride).take(64) {
        for &p in &row[..64.min(row.len())] {
            let p = p as f64;
            sum += p;
            sq += p * p;
            n += 1.0;
        }
    }
    let mean = sum / n.max(1.0);
    Ok((mean, (sq / n.max(1.0) - mean * mean).max(0.0).sqrt()))
}

fn to_rgb(frame: &ff::frame::Video) -> Result<RgbImage, ProcessError> {
    let (w, h) = (frame.width(), frame.height());
    let mut rgb = ff::frame::Video::empty();
    let mut sws = scaling::Context::get(frame.format(), w, h, ff::format::Pixel::RGB24, w, h, scaling::Flags::BICUBIC)
        .map_err(|e| av_error("converting the poster frame", e))?;
    sws.run(frame, &mut rgb).map_err(|e| av_error("converting the poster frame", e))?;
    let stride = rgb.stride(0);
    let row = w as usize * 3;
    let mut buf = Vec::with_capacity(row * h as usize);
    for line in rgb.data(0).chunks(stride).take(h as usize) {
        buf.extend_from_slice(&line[..row]);
    }
    RgbImage::from_raw(w, h, buf).ok_or_else(|| ProcessError::Corrupt("poster frame has an impossible size".into()))
}

fn upright(img: RgbImage, rotation: u32) -> RgbImage {
    match rotation {
        90 => image::imageops::rotate90(&img),
        180 => image::imageops::rotate180(&img),
        270 => image::imageops::rotate270(&img),
        _ => img,
    }
}

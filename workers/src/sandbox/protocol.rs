//! The messages between a worker and its sandbox children, and how they are framed on the pipes.
//!
//! One message is a JSON header plus raw blobs (image bytes in, encoded variants out), so pixels never pass
//! through JSON: `[u32 header length][u32 blob count][u64 length per blob][header][blobs…]`, little-endian.
//! Both sides check every length against a cap before allocating: the child reads what a worker sends, the
//! worker reads what a child that just decoded a hostile file sends.

use std::io::{Read, Write};
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::image::{ImageMetadata, ImageSettings};
use crate::video::{Encoded, VideoMetadata, VideoSettings};

/// Largest JSON header accepted.
pub const MAX_HEADER: u32 = 16 << 20;
/// Most blobs in one message.
pub const MAX_BLOBS: u32 = 4096;
/// Largest total of one message's blobs (and so of one blob): an image upload in, its variants out. A child
/// cannot make its worker reserve more than this for one reply.
pub const MAX_TOTAL: u64 = 2 << 30;

/// Work sent to a child.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Decode and render image variants; one blob: the upload's bytes.
    Image {
        /// Variants, limits and encoding.
        settings: ImageSettings,
    },
    /// An animation (animated GIF) at `input` to one MP4 in `out_dir`.
    Animation {
        /// The animation, written by the worker.
        input: PathBuf,
        /// Where the MP4 goes.
        out_dir: PathBuf,
        /// Encoding and limits.
        settings: VideoSettings,
    },
    /// Probe, poster and transcode the video at `input` into `out_dir`.
    Video {
        /// The video, written by the worker.
        input: PathBuf,
        /// Where renditions, HLS and nothing else go.
        out_dir: PathBuf,
        /// The ladder, posters and limits.
        settings: VideoSettings,
    },
}

/// One encoded image; its bytes are the blob at the same position.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImageHeader {
    /// The variant's name.
    pub name: String,
    /// JPEG or WebP.
    pub format: mediamill_core::config::ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// What a child answers. A request gets any number of `Progress` and then exactly one other reply.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// Sent once, unasked, when the child has limited itself and loaded its libraries: a child that never
    /// gets this far is the machine's or the configuration's trouble, never a file's.
    Ready,
    /// Fraction done, 0–1 (video only).
    Progress(f64),
    /// Image variants, in blob order; `gps` travels apart because the record's serialisation leaves it out.
    Image {
        /// Facts about the source.
        metadata: ImageMetadata,
        /// (latitude, longitude), if the photo has them.
        gps: Option<(f64, f64)>,
        /// The variants' headers, in blob order.
        outputs: Vec<ImageHeader>,
    },
    /// The MP4 made from an animation, in the request's `out_dir`.
    Animation(Encoded),
    /// Renditions and HLS files are in the request's `out_dir`; poster variants are the blobs.
    Video {
        /// Facts about the source.
        metadata: VideoMetadata,
        /// The renditions written.
        renditions: Vec<Encoded>,
        /// The poster variants' headers, in blob order.
        images: Vec<ImageHeader>,
        /// HLS playlists and segments written.
        hls: Vec<PathBuf>,
    },
    /// The work failed the ordinary way: a [`crate::failure::FailureReason`] and its message.
    Failed {
        /// A [`crate::failure::FailureReason`], as spelled.
        reason: String,
        /// The failure in words.
        message: String,
    },
}

/// A message that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The other side closed the pipe between messages.
    #[error("the pipe closed")]
    Closed,
    #[error("reading or writing the pipe: {0}")]
    /// The pipe failed.
    Io(#[from] std::io::Error),
    /// A length over its cap: a broken or hostile peer.
    #[error("{what} of {len} bytes is over the cap of {cap}")]
    TooLarge {
        /// Which length.
        what: &'static str,
        /// Its value.
        len: u64,
        /// The cap it broke.
        cap: u64,
    },
    #[error("the header is not a valid message: {0}")]
    /// The header is not JSON of a known message.
    Json(#[from] serde_json::Error),
}

/// A message as read: the decoded header and its blobs.
pub type Message<T> = (T, Vec<Vec<u8>>);

fn prefix(header: &[u8], blobs: &[&[u8]]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + 8 * blobs.len());
    p.extend_from_slice(&(header.len() as u32).to_le_bytes());
    p.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
    for b in blobs {
        p.extend_from_slice(&(b.len() as u64).to_le_bytes());
    }
    p
}

fn check(what: &'static str, len: u64, cap: u64) -> Result<u64, FrameError> {
    if len > cap {
        return Err(FrameError::TooLarge { what, len, cap });
    }
    Ok(len)
}

/// The header and blob lengths from the fixed part of a frame.
fn lengths(fixed: [u8; 8]) -> Result<(usize, usize), FrameError> {
    let header =
        check("header", u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]) as u64, MAX_HEADER as u64)?;
    let blobs =
        check("blob count", u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]) as u64, MAX_BLOBS as u64)?;
    Ok((header as usize, blobs as usize))
}

fn blob_lengths(raw: &[u8]) -> Result<Vec<usize>, FrameError> {
    let mut total = 0u64;
    raw.chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            let n = u64::from_le_bytes(b);
            total = total.saturating_add(n);
            check("blobs", total, MAX_TOTAL)?;
            Ok(n as usize)
        })
        .collect()
}

/// Room for a blob of `n` bytes, allocated once (growing by doubling would need up to twice that in a child
/// near its limit); no room is an out-of-memory error, not an abort.
fn buffer(n: usize) -> Result<Vec<u8>, FrameError> {
    let mut b = Vec::new();
    b.try_reserve_exact(n).map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
    Ok(b)
}

/// A clean end of stream before the first byte of a message is [`FrameError::Closed`]; anywhere later it is
/// a truncated message.
fn closed_if_eof(e: std::io::Error) -> FrameError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        FrameError::Closed
    } else {
        FrameError::Io(e)
    }
}

/// Writes one message (the child's side: blocking pipes).
pub fn write<T: Serialize>(w: &mut impl Write, msg: &T, blobs: &[&[u8]]) -> Result<(), FrameError> {
    let header = serde_json::to_vec(msg)?;
    w.write_all(&prefix(&header, blobs))?;
    w.write_all(&header)?;
    for b in blobs {
        w.write_all(b)?;
    }
    w.flush()?;
    Ok(())
}

/// Reads one message (the child's side).
pub fn read<T: DeserializeOwned>(r: &mut impl Read) -> Result<Message<T>, FrameError> {
    let mut fixed = [0u8; 8];
    r.read_exact(&mut fixed[..1]).map_err(closed_if_eof)?;
    r.read_exact(&mut fixed[1..])?;
    let (header_len, count) = lengths(fixed)?;
    let mut raw = vec![0u8; count * 8];
    r.read_exact(&mut raw)?;
    let sizes = blob_lengths(&raw)?;
    let mut header = vec![0u8; header_len];
    r.read_exact(&mut header)?;
    let mut blobs = Vec::with_capacity(count);
    for n in sizes {
        let mut b = buffer(n)?;
        r.by_ref().take(n as u64).read_to_end(&mut b)?;
        if b.len() != n {
            return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        blobs.push(b);
    }
    Ok((serde_json::from_slice(&header)?, blobs))
}

/// Writes one message (the worker's side).
pub async fn write_async<T: Serialize>(
    w: &mut (impl AsyncWrite + Unpin),
    msg: &T,
    blobs: &[&[u8]],
) -> Result<(), FrameError> {
    let header = serde_json::to_vec(msg)?;
    w.write_all(&prefix(&header, blobs)).await?;
    w.write_all(&header).await?;
    for b in blobs {
        w.write_all(b).await?;
    }
    w.flush().await?;
    Ok(())
}

/// Reads one message (the worker's side).
pub async fn read_async<T: DeserializeOwned>(r: &mut (impl AsyncRead + Unpin)) -> Result<Message<T>, FrameError> {
    let mut fixed = [0u8; 8];
    r.read_exact(&mut fixed[..1]).await.map_err(closed_if_eof)?;
    r.read_exact(&mut fixed[1..]).await?;
    let (header_len, count) = lengths(fixed)?;
    let mut raw = vec![0u8; count * 8];
    r.read_exact(&mut raw).await?;
    let sizes = blob_lengths(&raw)?;
    let mut header = vec![0u8; header_len];
    r.read_exact(&mut header).await?;
    let mut blobs = Vec::with_capacity(count);
    for n in sizes {
        let mut b = buffer(n)?;
        (&mut *r).take(n as u64).read_to_end(&mut b).await?;
        if b.len() != n {
            return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        blobs.push(b);
    }
    Ok((serde_json::from_slice(&header)?, blobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(msg: &Reply, blobs: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        write(&mut buf, msg, blobs).expect("write");
        buf
    }

    #[test]
    fn a_message_and_its_blobs_round_trip_both_ways() {
        let buf = framed(&Reply::Progress(0.5), &[b"abc", b"", b"defg"]);
        let (msg, blobs): Message<Reply> = read(&mut buf.as_slice()).expect("read");
        assert!(matches!(msg, Reply::Progress(f) if f == 0.5));
        assert_eq!(blobs, vec![b"abc".to_vec(), vec![], b"defg".to_vec()]);
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let (msg, blobs): Message<Reply> = rt.block_on(read_async(&mut buf.as_slice())).expect("read_async");
        assert!(matches!(msg, Reply::Progress(_)));
        assert_eq!(blobs.len(), 3);
    }

    #[test]
    fn an_empty_pipe_is_closed_and_every_truncation_an_error() {
        assert!(matches!(read::<Reply>(&mut [].as_slice()), Err(FrameError::Closed)));
        let buf = framed(&Reply::Failed { reason: "corrupt".into(), message: "x".into() }, &[b"0123456789"]);
        for cut in 1..buf.len() {
            let r = read::<Reply>(&mut &buf[..cut]);
            assert!(matches!(r, Err(FrameError::Io(_))), "cut at {cut}: {r:?}");
        }
    }

    #[test]
    fn oversized_lengths_are_refused_before_allocating() {
        let mut huge_header = (MAX_HEADER + 1).to_le_bytes().to_vec();
        huge_header.extend_from_slice(&0u32.to_le_bytes());
        assert!(matches!(read::<Reply>(&mut huge_header.as_slice()), Err(FrameError::TooLarge { what: "header", .. })));
        let mut many = 2u32.to_le_bytes().to_vec();
        many.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(read::<Reply>(&mut many.as_slice()), Err(FrameError::TooLarge { what: "blob count", .. })));
        let mut big_blob = 2u32.to_le_bytes().to_vec();
        big_blob.extend_from_slice(&1u32.to_le_bytes());
        big_blob.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(read::<Reply>(&mut big_blob.as_slice()), Err(FrameError::TooLarge { what: "blobs", .. })));
        // Many blobs each under the cap, together over it: refused before the first is allocated.
        let mut many_big = 2u32.to_le_bytes().to_vec();
        many_big.extend_from_slice(&4096u32.to_le_bytes());
        for _ in 0..4096 {
            many_big.extend_from_slice(&(1u64 << 30).to_le_bytes());
        }
        assert!(matches!(read::<Reply>(&mut many_big.as_slice()), Err(FrameError::TooLarge { what: "blobs", .. })));
    }

    #[test]
    fn hostile_headers_are_json_errors() {
        for header in [&b"\xff\xfe"[..], b"{\"Nope\":1}", b"[]", b"{\"Progress\":\"x\"}"] {
            let mut buf = (header.len() as u32).to_le_bytes().to_vec();
            buf.extend_from_slice(&0u32.to_le_bytes());
            buf.extend_from_slice(header);
            assert!(matches!(read::<Reply>(&mut buf.as_slice()), Err(FrameError::Json(_))), "{header:?}");
        }
    }
}

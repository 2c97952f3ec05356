//! Optional HLS: beside each MP4 rendition, MPEG-TS segments and a media playlist written by FFmpeg's `hls`
//! muxer from the same encoded packets (no second encode), then a master playlist over the ladder.

use std::path::{Path, PathBuf};

use ffmpeg_next as ff;

use super::encode_error;
use super::ladder::Target;
use crate::failure::ProcessError;

/// Name of the folder (inside the output folder) and of the master playlist.
pub const DIR: &str = "hls";
/// File name of the master playlist.
pub const MASTER: &str = "master.m3u8";

/// Opens the HLS muxer of one rendition: `hls/{name}.m3u8` and `hls/{name}_NNNNN.ts`.
pub fn open(
    out_dir: &Path,
    t: &Target,
    segment_secs: u32,
) -> Result<(ff::format::context::Output, ff::Dictionary<'static>), ProcessError> {
    let dir = out_dir.join(DIR);
    std::fs::create_dir_all(&dir).map_err(|e| ProcessError::Encode("hls", e.to_string()))?;
    let octx =
        ff::format::output_as(&dir.join(format!("{}.m3u8", t.name)), "hls").map_err(|e| encode_error("hls", e))?;
    let mut opts = ff::Dictionary::new();
    opts.set("hls_time", &segment_secs.to_string());
    opts.set("hls_playlist_type", "vod");
    opts.set("hls_flags", "independent_segments");
    opts.set("hls_segment_filename", &dir.join(format!("{}_%05d.ts", t.name)).to_string_lossy());
    Ok((octx, opts))
}

/// One rendition's playlist as read back: the peak and average bit rate over its segments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// The highest segment bit rate, bits per second.
    pub peak: u64,
    /// The mean bit rate over all segments.
    pub average: u64,
}

/// Reads a media playlist's `#EXTINF` durations and the sizes of the segments they name.
pub fn rates(playlist: &Path) -> Result<Rates, ProcessError> {
    let text = std::fs::read_to_string(playlist).map_err(|e| ProcessError::Encode("hls", e.to_string()))?;
    let dir = playlist.parent().unwrap_or(Path::new("."));
    let (mut peak, mut bits, mut secs) = (0f64, 0f64, 0f64);
    let mut duration = None;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = d.split(',').next().and_then(|d| d.trim().parse::<f64>().ok());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let size = std::fs::metadata(dir.join(line.trim())).map(|m| m.len()).unwrap_or(0) as f64 * 8.0;
            let d = duration.take().unwrap_or(0.0).max(0.001);
            peak = peak.max(size / d);
            bits += size;
            secs += d;
        }
    }
    Ok(Rates { peak: peak.ceil() as u64, average: (bits / secs.max(0.001)).ceil() as u64 })
}

/// Writes `hls/master.m3u8` for `targets` and returns every file of the HLS folder, master first.
pub fn finish(out_dir: &Path, targets: &[Target]) -> Result<Vec<PathBuf>, ProcessError> {
    let dir = out_dir.join(DIR);
    let mut master = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for t in targets {
        let r = rates(&dir.join(format!("{}.m3u8", t.name)))?;
        master.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{}\n{}.m3u8\n",
            r.peak, r.average, t.width, t.height, t.name
        ));
    }
    let master_path = dir.join(MASTER);
    std::fs::write(&master_path, master).map_err(|e| ProcessError::Encode("hls", e.to_string()))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| ProcessError::Encode("hls", e.to_string()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p != &master_path)
        .collect();
    files.sort();
    files.insert(0, master_path);
    Ok(files)
}

pub use mediamill_core::store::hls_content_type as content_type;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_segment_sizes_and_durations() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a_00000.ts"), vec![0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("a_00001.ts"), vec![0u8; 3000]).unwrap();
        let pl = dir.path().join("a.m3u8");
        std::fs::write(&pl, "#EXTM3U\n#EXTINF:2.000000,\na_00000.ts\n#EXTINF:1.000000,\na_00001.ts\n#EXT-X-ENDLIST\n")
            .unwrap();
        let r = rates(&pl).unwrap();
        assert_eq!(r.peak, 24_000, "3000 bytes in 1 s");
        assert_eq!(r.average, 10_667, "4000 bytes in 3 s");
        assert_eq!(content_type("720p_00001.ts"), Some("video/mp2t"));
        assert_eq!(content_type("master.m3u8"), Some("application/vnd.apple.mpegurl"));
        assert_eq!(content_type("evil.sh"), None);
    }
}

//! Video processing settings: the rendition ladder, encoder settings, poster frames and the video limits.

use serde::{Deserialize, Serialize};

use super::{ConfigError, ImageFormat, VariantSpec};

/// One step of the rendition ladder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rendition {
    /// Name used in URLs and object keys, e.g. `720p`.
    pub name: String,
    /// Short edge in pixels (720 makes 1280×720 from landscape and 720×1280 from portrait); never upscaled.
    pub short_edge: u32,
}

/// Video transcoding.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct VideoConfig {
    /// Renditions made from every video, from one decode. Steps larger than the source are skipped; when
    /// every step is, the smallest is made at the source's own size.
    pub renditions: Vec<Rendition>,
    /// libx264 preset (`ultrafast` … `veryslow`).
    pub preset: String,
    /// libx264 constant rate factor, 0–51 (lower is better and larger).
    pub crf: u8,
    /// AAC bit rate in bits per second.
    pub audio_bitrate: u32,
    /// Image variants made from the poster frame.
    pub poster: Vec<VariantSpec>,
    /// Also write HLS (MPEG-TS segments, a playlist per rendition and a master playlist) from the same encode.
    pub hls: bool,
    /// Target HLS segment length in seconds.
    pub hls_segment_secs: u32,
    /// At most one `processing` progress event per this many seconds.
    pub progress_interval_secs: u64,
    /// Video jobs a worker runs at once (each uses every core through x264's own threads).
    pub concurrency: usize,
    /// Longest video accepted, in seconds of duration.
    pub max_seconds: u64,
    /// Most pixels per frame (width × height).
    pub max_pixels: u64,
    /// Wall-clock limit of one video job; past it the transcode is cancelled and the item fails with `timeout`.
    pub timeout_secs: u64,
}

impl Default for VideoConfig {
    fn default() -> Self {
        let poster = |name: &str, long_edge| VariantSpec {
            name: name.into(),
            long_edge,
            formats: vec![ImageFormat::Jpeg, ImageFormat::Webp],
            quality: 80,
        };
        VideoConfig {
            renditions: vec![Rendition { name: "720p".into(), short_edge: 720 }],
            preset: "veryfast".into(),
            crf: 23,
            audio_bitrate: 128_000,
            poster: vec![poster("poster", 1280), poster("thumb", 256)],
            hls: false,
            hls_segment_secs: 6,
            progress_interval_secs: 3,
            concurrency: 1,
            max_seconds: 3 * 3600,
            max_pixels: 8192 * 4320,
            timeout_secs: 3600,
        }
    }
}

const PRESETS: &[&str] =
    &["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];

impl VideoConfig {
    /// Checks what parsed but is not allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &'static str, problem: String| Err(ConfigError::Invalid { key, problem });
        if self.renditions.is_empty() {
            return bad("video.renditions", "must name at least one rendition".into());
        }
        for r in &self.renditions {
            if !super::is_safe_name(&r.name) || r.short_edge < 16 || r.short_edge > 8192 {
                return bad(
                    "video.renditions",
                    format!("{:?} needs a name of letters, digits, '-' or '_' and a short_edge of 16–8192", r.name),
                );
            }
        }
        if !PRESETS.contains(&self.preset.as_str()) {
            return bad("video.preset", format!("{:?} is not a libx264 preset ({})", self.preset, PRESETS.join(", ")));
        }
        if self.crf > 51 {
            return bad("video.crf", "must be 0–51".into());
        }
        if !(16_000..=512_000).contains(&self.audio_bitrate) {
            return bad("video.audio_bitrate", "must be 16000–512000".into());
        }
        super::validate_variants("video.poster", &self.poster)?;
        for (key, v) in [
            ("video.hls_segment_secs", self.hls_segment_secs as u64),
            ("video.progress_interval_secs", self.progress_interval_secs),
            ("video.concurrency", self.concurrency as u64),
            ("video.max_seconds", self.max_seconds),
            ("video.max_pixels", self.max_pixels),
            ("video.timeout_secs", self.timeout_secs),
        ] {
            if v == 0 {
                return bad(key, "must be greater than 0".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_video_settings_name_their_key() {
        let check = |f: &dyn Fn(&mut VideoConfig)| {
            let mut v = VideoConfig::default();
            f(&mut v);
            v.validate().unwrap_err().to_string()
        };
        assert!(check(&|v| v.preset = "warp".into()).contains("video.preset"));
        assert!(check(&|v| v.crf = 60).contains("video.crf"));
        assert!(check(&|v| v.renditions.clear()).contains("video.renditions"));
        assert!(check(&|v| v.renditions[0].name = "../x".into()).contains("video.renditions"));
        assert!(check(&|v| v.timeout_secs = 0).contains("video.timeout_secs"));
        assert!(check(&|v| v.poster[0].quality = 0).contains("video.poster"));
        VideoConfig::default().validate().expect("defaults are valid");
    }
}

//! libavfilter graphs: the video one turns decoded frames upright and scales them once per rendition (one
//! decode feeds the whole ladder); the audio one converts samples to what the AAC encoder takes.

use ffmpeg_next as ff;

use super::ladder::Target;

/// Name of the video graph's source and of sink `i`.
pub const SOURCE: &str = "in";
/// The name of the graph's `i`-th sink.
pub fn sink_name(i: usize) -> String {
    format!("out{i}")
}

/// The filters that turn a frame stored with `rotation` (clockwise degrees) upright, as the ffmpeg CLI does.
fn upright(rotation: u32) -> &'static str {
    match rotation {
        90 => "transpose=clock,",
        180 => "hflip,vflip,",
        270 => "transpose=cclock,",
        _ => "",
    }
}

/// Feeds a frame to the graph's source, or with `None` tells it the input has ended.
pub fn push(g: &mut ff::filter::Graph, frame: Option<&ff::Frame>) -> Result<(), ff::Error> {
    let mut src = g.get(SOURCE).ok_or(ff::Error::Bug)?;
    match frame {
        Some(f) => src.source().add(f),
        None => src.source().flush(),
    }
}

/// Frame properties the graph's source is told.
pub struct VideoInput {
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Pixel format as decoded.
    pub pixel_format: ff::format::Pixel,
    /// The stream's time base.
    pub time_base: ff::Rational,
    /// Sample aspect ratio.
    pub aspect: ff::Rational,
}

/// `buffer → upright → split → scale×N → yuv420p → buffersink×N`.
pub fn video(input: &VideoInput, rotation: u32, targets: &[Target]) -> Result<ff::filter::Graph, ff::Error> {
    let mut g = ff::filter::Graph::new();
    let aspect = if input.aspect.numerator() > 0 { input.aspect } else { ff::Rational(1, 1) };
    let args = format!(
        "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
        input.width,
        input.height,
        ff::ffi::AVPixelFormat::from(input.pixel_format) as i32,
        input.time_base.numerator(),
        input.time_base.denominator().max(1),
        aspect.numerator(),
        aspect.denominator().max(1),
    );
    g.add(&ff::filter::find("buffer").ok_or(ff::Error::FilterNotFound)?, SOURCE, &args)?;
    for i in 0..targets.len() {
        g.add(&ff::filter::find("buffersink").ok_or(ff::Error::FilterNotFound)?, &sink_name(i), "")?;
    }
    let labels: String = (0..targets.len()).map(|i| format!("[s{i}]")).collect();
    let mut spec = format!("[{SOURCE}]{}split={}{labels}", upright(rotation), targets.len());
    for (i, t) in targets.iter().enumerate() {
        spec.push_str(&format!(";[s{i}]scale={}:{},setsar=1,format=yuv420p[{}]", t.width, t.height, sink_name(i)));
    }
    let mut parser = g.output(SOURCE, 0)?;
    for i in 0..targets.len() {
        parser = parser.input(&sink_name(i), 0)?;
    }
    parser.parse(&spec)?;
    g.validate()?;
    Ok(g)
}

/// Audio as decoded.
pub struct AudioInput {
    /// Sample rate in Hz.
    pub rate: u32,
    /// Sample format as decoded.
    pub format: ff::format::Sample,
    /// Channel layout mask.
    pub channel_layout: u64,
    /// Number of channels.
    pub channels: u16,
}

/// `abuffer → aformat(fltp, mono|stereo) → abuffersink` delivering `frame_size` samples per frame.
pub fn audio(input: &AudioInput, stereo: bool, frame_size: u32) -> Result<ff::filter::Graph, ff::Error> {
    let mut g = ff::filter::Graph::new();
    let layout = if input.channel_layout != 0 {
        format!("channel_layout=0x{:x}", input.channel_layout)
    } else {
        format!("channels={}", input.channels.max(1))
    };
    let args = format!(
        "time_base=1/{rate}:sample_rate={rate}:sample_fmt={}:{layout}",
        input.format.name(),
        rate = input.rate.max(1)
    );
    g.add(&ff::filter::find("abuffer").ok_or(ff::Error::FilterNotFound)?, SOURCE, &args)?;
    g.add(&ff::filter::find("abuffersink").ok_or(ff::Error::FilterNotFound)?, "out", "")?;
    let spec = format!("aformat=sample_fmts=fltp:channel_layouts={}", if stereo { "stereo" } else { "mono" });
    g.output(SOURCE, 0)?.input("out", 0)?.parse(&spec)?;
    g.validate()?;
    if frame_size > 0 {
        if let Some(mut out) = g.get("out") {
            out.sink().set_frame_size(frame_size);
        }
    }
    Ok(g)
}

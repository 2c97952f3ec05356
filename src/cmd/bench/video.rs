//! `mediamill bench video FILE`: the same transcode (same size, preset, CRF, AAC, faststart) by mediamill and
//! by the `ffmpeg` CLI in the same run, each as its own child process so wall time and peak memory are measured
//! alike (wait4), best of `--runs` runs each. Prints the realtime factors and their ratio, the peak memories, then the
//! ladder: every rendition from one decode by mediamill against the CLI run once per rendition, and against the
//! CLI's own one-decode ladder (`-filter_complex split`, one encoder per output).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context;
use mediamill_core::config::{Config, Rendition};
use mediamill_workers::video::{self, ladder, VideoSettings};

/// Wall seconds and peak resident memory (KiB) of one child process.
struct Measured {
    wall: f64,
    peak_kib: i64,
}

/// Runs `cmd` to its end and measures it with wait4, which reports that one child's own peak memory.
fn measure(cmd: &mut Command) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 fills the two values we pass; the child is ours and not waited for elsewhere.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(r == pid, "waiting for {cmd:?} failed");
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let mut err = String::new();
        if let Some(mut e) = child.stderr {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        anyhow::bail!("{cmd:?} failed: {err}");
    }
    Ok(Measured { wall, peak_kib: usage.ru_maxrss })
}

/// The best of `runs` runs (shortest wall time, smallest peak): the least disturbed by whatever else the
/// machine does, for both sides alike.
fn best(runs: usize, mut make: impl FnMut() -> anyhow::Result<Command>) -> anyhow::Result<Measured> {
    let mut out = Measured { wall: f64::MAX, peak_kib: i64::MAX };
    for _ in 0..runs.max(1) {
        let m = measure(&mut make()?)?;
        out.wall = out.wall.min(m.wall);
        out.peak_kib = out.peak_kib.min(m.peak_kib);
    }
    Ok(out)
}

/// The ffmpeg CLI making one rendition with mediamill's settings.
fn cli(input: &Path, out: &Path, t: &ladder::Target, s: &VideoSettings, audio: bool) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-loglevel", "error", "-y", "-i"]).arg(input);
    c.args(["-vf", &format!("scale={}:{},setsar=1,format=yuv420p", t.width, t.height)]);
    c.args(["-c:v", "libx264", "-preset", &s.encode.preset, "-crf", &s.encode.crf.to_string()]);
    if audio {
        c.args(["-c:a", "aac", "-b:a", &s.encode.audio_bitrate.to_string()]);
    }
    c.args(["-movflags", "+faststart"]).arg(out);
    c
}

/// The ffmpeg CLI making every rendition of `targets` from one decode: `split` in one filter graph, one encoder
/// per output (the strongest way to use the CLI for a ladder).
fn cli_split(input: &Path, out: &Path, targets: &[ladder::Target], s: &VideoSettings, audio: bool) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-loglevel", "error", "-y", "-i"]).arg(input);
    let labels: String = (0..targets.len()).map(|i| format!("[v{i}]")).collect();
    let mut graph = format!("[0:v]split={}{labels}", targets.len());
    for (i, t) in targets.iter().enumerate() {
        graph.push_str(&format!(";[v{i}]scale={}:{},setsar=1,format=yuv420p[o{i}]", t.width, t.height));
    }
    c.args(["-filter_complex", &graph]);
    for (i, _) in targets.iter().enumerate() {
        c.args(["-map", &format!("[o{i}]")]);
        if audio {
            c.args(["-map", "0:a:0", "-c:a", "aac", "-b:a", &s.encode.audio_bitrate.to_string()]);
        }
        c.args(["-c:v", "libx264", "-preset", &s.encode.preset, "-crf", &s.encode.crf.to_string()]);
        c.args(["-movflags", "+faststart"]).arg(out.join(format!("split-{i}.mp4")));
    }
    c
}

/// mediamill making `targets` in one child process (`bench transcode`).
fn ours(input: &Path, out: &Path, short_edges: &[u32]) -> anyhow::Result<Command> {
    let mut c = Command::new(std::env::current_exe()?);
    let edges: Vec<String> = short_edges.iter().map(u32::to_string).collect();
    c.args(["bench", "transcode"]).arg(input).arg("--out").arg(out).arg("--short-edges").arg(edges.join(","));
    Ok(c)
}

/// The hidden `bench transcode` child: only the transcode, no poster, no store.
pub fn transcode_child(cfg: &Config, input: &Path, out: &Path, short_edges: &[u32]) -> anyhow::Result<()> {
    let mut s = VideoSettings::from_config(cfg);
    s.renditions = short_edges.iter().map(|e| Rendition { name: format!("{e}p"), short_edge: *e }).collect();
    let probe = video::probe::probe(input)?;
    let v = probe.video.as_ref().context("no video stream")?;
    let targets = ladder::targets(v.display_width, v.display_height, &s.renditions);
    std::fs::create_dir_all(out)?;
    video::transcode::transcode(input, out, &probe, &targets, &s.encode, &|_| {}, &AtomicBool::new(false))?;
    Ok(())
}

/// Runs the comparison on `input`.
pub fn bench(cfg: &Config, input: &Path, ladder_edges: &[u32], runs: usize) -> anyhow::Result<()> {
    let s = VideoSettings::from_config(cfg);
    let probe = video::probe::probe(input)?;
    let v = probe.video.as_ref().context("the file has no video stream")?;
    let secs = probe.duration_secs;
    let audio = probe.audio.is_some();
    let scratch = std::env::temp_dir().join(format!("mediamill-bench-video-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    println!(
        "input: {} ({}x{} {}, {:.1} s, {}), preset {}, crf {}, best of {runs} runs",
        input.display(),
        v.display_width,
        v.display_height,
        v.codec,
        secs,
        if audio { "with audio" } else { "silent" },
        s.encode.preset,
        s.encode.crf
    );

    // One rendition: the largest configured step the source allows.
    let target = ladder::targets(v.display_width, v.display_height, &s.renditions)
        .into_iter()
        .next()
        .context("no rendition for this size")?;
    let short = target.width.min(target.height);
    let m = best(runs, || ours(input, &scratch.join("ours1"), &[short]))?;
    let c = best(runs, || Ok(cli(input, &scratch.join("cli1.mp4"), &target, &s, audio)))?;
    println!(
        "one rendition {}x{}: mediamill {:.2}x realtime, ffmpeg CLI {:.2}x realtime, speed ratio {:.2} (target >= 0.97)",
        target.width,
        target.height,
        secs / m.wall,
        secs / c.wall,
        c.wall / m.wall
    );
    println!(
        "peak memory: mediamill {} MiB, ffmpeg CLI {} MiB, ratio {:.2} (target <= 1.20)",
        m.peak_kib / 1024,
        c.peak_kib / 1024,
        m.peak_kib as f64 / c.peak_kib.max(1) as f64
    );

    // The ladder: one decode feeding every encoder, against one CLI run per rendition.
    let steps: Vec<Rendition> =
        ladder_edges.iter().map(|e| Rendition { name: format!("{e}p"), short_edge: *e }).collect();
    let targets = ladder::targets(v.display_width, v.display_height, &steps);
    let m = best(runs, || ours(input, &scratch.join("ours3"), ladder_edges))?;
    let mut cli_wall = 0.0;
    for (i, t) in targets.iter().enumerate() {
        cli_wall += best(runs, || Ok(cli(input, &scratch.join(format!("cli3-{i}.mp4")), t, &s, audio)))?.wall;
    }
    let split = best(runs, || Ok(cli_split(input, &scratch, &targets, &s, audio)))?;
    let sizes: Vec<String> = targets.iter().map(|t| format!("{}x{}", t.width, t.height)).collect();
    println!(
        "ladder {}: mediamill one decode {:.1} s; ffmpeg CLI once per rendition {:.1} s, speed ratio {:.2} (target >= 1.2); \
         ffmpeg CLI one decode with split {:.1} s, speed ratio {:.2} (target >= 1.0)",
        sizes.join(" + "),
        m.wall,
        cli_wall,
        cli_wall / m.wall,
        split.wall,
        split.wall / m.wall
    );
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

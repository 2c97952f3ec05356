//! `mediamill bench video FILE` lives in [`video`].
//!
//! `mediamill bench images DIR` in [`images`], `mediamill bench pipeline` in [`pipeline`], `mediamill bench
//! social` in [`social`].

mod images;
mod isolation;
mod limits;
mod load;
mod pipeline;
mod procfs;
mod scale;
mod social;
mod social_mix;
mod throughput;
mod upload;
mod video;

use std::path::PathBuf;

use mediamill_core::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// The pipeline's own overhead (202 → processed, minus processing time) at p50 and p99 under a steady
    /// upload rate, against a running pipeline (--url, --key) or, without them, an embedded one started here.
    Pipeline {
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// Uploads per second.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, requires = "key")]
        url: Option<String>,
        #[arg(long)]
        key: Option<String>,
    },
    /// Machine CPU per item and items per second of one batch through `up` on the embedded default, against
    /// `mediamill process` on the same files, with the `up` process's CPU by thread.
    Throughput {
        #[arg(long, default_value_t = 190)]
        count: usize,
        /// JPEGs to use instead of generated 320x240 pictures (at most --count of them, by name).
        #[arg(long)]
        photos: Option<PathBuf>,
        /// A running pipeline instead of the embedded one (with --key and --procs).
        #[arg(long, requires = "key")]
        url: Option<String>,
        #[arg(long)]
        key: Option<String>,
        /// Its processes whose CPU to report, as NAME:PID.
        #[arg(long, value_delimiter = ',')]
        procs: Vec<String>,
        /// Rounds of both sides, alternated; the median round is reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// One file through POST /v1/media and through tus against a raw aws-sdk-s3 PutObject to the same store,
    /// with ingest's peak memory (scripts/bench-upload.sh).
    Upload {
        #[arg(long)]
        url: String,
        #[arg(long)]
        key: String,
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
        /// tus request size.
        #[arg(long, default_value_t = 8)]
        chunk_mib: u64,
        /// Ingest's process id, for its peak resident memory.
        #[arg(long)]
        pid: Option<u32>,
        /// Processes whose CPU each way is split by, as NAME:PID (ingest, the store, the database).
        #[arg(long, value_delimiter = ',')]
        procs: Vec<String>,
        /// Rounds of every way, interleaved; each ratio is taken within its round, and the median round's counts.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Realtime factor and peak memory of a transcode against the ffmpeg CLI with the same settings, then the
    /// whole ladder from one decode against the CLI once per rendition.
    Video {
        file: PathBuf,
        /// Short edges of the ladder run.
        #[arg(long, value_delimiter = ',', default_value = "1080,720,480")]
        ladder: Vec<u32>,
        /// Runs of each command; the best counts.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// One batch of --count uploads through a running pipeline to completion: time, exact counts, and the
    /// resident memory of --pids as it goes.
    Load {
        #[arg(long)]
        url: String,
        #[arg(long)]
        key: String,
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Processes whose memory to sample (e.g. ingest and workers).
        #[arg(long, value_delimiter = ',')]
        pids: Vec<u32>,
    },
    /// Scale-out: N photographs drained by 1 worker, then by 2, each pinned to its own CPU; the ratio and the
    /// CPU of every process. Needs a running ingest and this process's config pointing at its database and Kafka.
    Scale {
        #[arg(long)]
        url: String,
        #[arg(long)]
        key: String,
        /// Folder of JPEG photographs (scripts/fetch-bench-photos.sh).
        #[arg(long)]
        photos: PathBuf,
        /// Photographs per drain: enough that jobs spread evenly over the partitions the workers split.
        #[arg(long, default_value_t = 228)]
        count: usize,
        /// Other processes whose CPU to report, as NAME:PID (ingest, kafka, postgres, s3).
        #[arg(long, value_delimiter = ',')]
        infra: Vec<String>,
    },
    /// One transcode in a child process of `bench video` (measured from outside).
    #[command(hide = true)]
    Transcode {
        file: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_delimiter = ',')]
        short_edges: Vec<u32>,
    },
    /// What process isolation costs: images (and a video) in a warm sandbox child against the same work in
    /// this process, and what starting a child costs.
    Isolation {
        /// Images to process (the ones that process cleanly are used).
        #[arg(default_value = "fixtures/media")]
        dir: PathBuf,
        /// A video to transcode both ways (skipped when missing).
        #[arg(long, default_value = "fixtures/media/clip.mp4")]
        video: PathBuf,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// What a request-rate check costs in this instance's memory (what ingest does) against a bucket shared
    /// through the configured database (what a limit over all instances would cost), per request.
    Limits {
        #[arg(long, default_value_t = 200_000)]
        checks: usize,
        #[arg(long, default_value_t = 100)]
        tenants: usize,
    },
    /// The app's notification service under a realistic mix of social events: events per second and per
    /// CPU-second against the raw consume rate of the topic, event→feed latency p50/p99, memory as it goes, and
    /// the exact outcome checked through the feed and stats APIs. Needs this process's config pointing at the
    /// pipeline's database and Kafka (or `mediamill up`'s data folder).
    Social {
        /// Ingest's base URL.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Events per second; 0: as fast as they can be published (a backlog, for throughput).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        #[arg(long, default_value_t = 1000)]
        users: usize,
        #[arg(long, default_value_t = 3)]
        media_per_user: usize,
        /// Seconds of the latency part (0: none).
        #[arg(long, default_value_t = 10)]
        probe_secs: u64,
        /// Events per second of the latency part.
        #[arg(long, default_value_t = 200.0)]
        probe_rate: f64,
        /// Processes whose CPU and memory to report, as NAME:PID (notify, social, kafka, postgres).
        #[arg(long, value_delimiter = ',')]
        procs: Vec<String>,
        /// Do not wait for the analytics counts (no `social` role is running).
        #[arg(long)]
        skip_stats: bool,
        /// Print the figures as one JSON line too.
        #[arg(long)]
        json: bool,
    },
    /// Images per CPU-second against vipsthumbnail and ImageMagick on a folder of photos.
    Images {
        dir: PathBuf,
        /// At most this many files (largest first is not implied: sorted by name).
        #[arg(long, default_value_t = 100)]
        max_files: usize,
    },
}

/// `NAME:PID` pairs.
fn parse_procs(items: &[String]) -> anyhow::Result<Vec<(String, u32)>> {
    items
        .iter()
        .map(|s| {
            let (n, p) = s.split_once(':').ok_or_else(|| anyhow::anyhow!("{s}: want NAME:PID"))?;
            Ok((n.to_string(), p.parse().map_err(|_| anyhow::anyhow!("{s}: bad pid"))?))
        })
        .collect()
}

pub async fn run_cmd(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    match args.what {
        What::Pipeline { count, rate, url, key } => pipeline::bench_pipeline(cfg, count, rate, url, key).await,
        What::Throughput { count, photos, url, key, procs, rounds } => {
            let remote = match (url, key) {
                (Some(url), Some(key)) => Some(throughput::Remote { url, key, procs: parse_procs(&procs)? }),
                _ => None,
            };
            throughput::run(count, photos, remote, rounds).await
        }
        What::Upload { url, key, size_mib, chunk_mib, pid, procs, rounds } => {
            let plan = upload::Plan { url, key, size_mib, chunk_mib, pid, procs: parse_procs(&procs)?, rounds };
            upload::run(&cfg, plan).await
        }
        What::Social { url, events, rate, users, media_per_user, probe_secs, probe_rate, procs, skip_stats, json } => {
            anyhow::ensure!(users >= 2 && media_per_user >= 1, "--users must be at least 2 and --media-per-user 1");
            let procs = parse_procs(&procs)?;
            let plan = social::Plan {
                url,
                events,
                rate,
                users,
                media_per_user,
                probe_secs,
                probe_rate,
                procs,
                skip_stats,
                json,
            };
            social::run(&cfg, data, plan).await
        }
        What::Limits { checks, tenants } => limits::run(&cfg, checks, tenants).await,
        What::Images { dir, max_files } => {
            tokio::task::spawn_blocking(move || images::bench_images(&cfg, &dir, max_files)).await?
        }
        What::Video { file, ladder, runs } => {
            tokio::task::spawn_blocking(move || video::bench(&cfg, &file, &ladder, runs)).await?
        }
        What::Load { url, key, count, pids } => load::run(&url, &key, count, &pids).await,
        What::Scale { url, key, photos, count, infra } => scale::run(&url, &key, &photos, count, &infra).await,
        What::Isolation { dir, video, rounds } => isolation::run(&cfg, &dir, &video, rounds).await,
        What::Transcode { file, out, short_edges } => {
            tokio::task::spawn_blocking(move || video::transcode_child(&cfg, &file, &out, &short_edges)).await?
        }
    }
}

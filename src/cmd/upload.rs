//! `mediamill upload PATH… [--batch NAME] [--url URL --key KEY] [--parallel N] [--watch] [--json]`: the client.
//! Files and folders (recursive; what is not media is skipped, with a summary), a batch when there is more
//! than one file, resumable uploads over tus (an interrupted run resumes on the next invocation), progress bars
//! for bytes and files, then with `--watch` processing progress until the batch completes. Exits non-zero when
//! a file was not sent or an item failed.

use std::path::PathBuf;

use anyhow::Context;
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::api::Server;
use crate::client::files::{self, MediaFile};
use crate::client::report::{NotSent, Outcome, SentFile, Summary};
use crate::client::resume::{self, ResumeFile};
use crate::client::{tus, watch};

/// Where and as whom the client talks to the server.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// The server's base URL.
    #[arg(long, env = "MEDIAMILL_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key of the tenant (`mediamill keys create`).
    #[arg(long, env = "MEDIAMILL_KEY", hide_env_values = true, default_value = "")]
    pub key: String,
    /// One JSON object on stdout instead of bars and a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files and folders to upload.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Name of the batch (one is made whenever more than one file goes up, or when this is given).
    #[arg(long)]
    batch: Option<String>,
    /// Files sent at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Then follow processing until the batch (or the one item) is done.
    #[arg(long)]
    watch: bool,
    /// Bytes per request, in MiB: what a broken connection can cost.
    #[arg(long, default_value_t = crate::client::tus::DEFAULT_CHUNK_MIB)]
    chunk_mib: u64,
    /// The resume file (default `$XDG_STATE_HOME/mediamill/uploads.json`).
    #[arg(long)]
    state: Option<PathBuf>,
    #[command(flatten)]
    target: Target,
}

/// Bars on stderr for people; nothing for scripts or when stderr is not a terminal.
pub fn bars(json: bool) -> MultiProgress {
    let target = if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    MultiProgress::with_draw_target(target)
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The batch to put the files in: the one an interrupted run left open, or a new one.
async fn batch_for(
    server: &Server,
    resume: &ResumeFile,
    files: &[MediaFile],
    name: Option<&str>,
) -> anyhow::Result<String> {
    let earlier: Vec<String> = files
        .iter()
        .filter_map(|f| resume.get(&ResumeFile::fingerprint(&server.url, f)).and_then(|e| e.batch_id))
        .collect();
    if let Some(b) = earlier.first().filter(|b| earlier.iter().all(|o| o == *b)) {
        if let Ok(v) = server.get_json(&format!("/v1/batches/{b}?limit=1")).await {
            if v["status"] == "open" {
                return Ok(b.clone());
            }
        }
    }
    let name = name.map(str::to_string).unwrap_or_else(|| format!("upload of {} files", files.len()));
    let b = server.post_json("/v1/batches", &serde_json::json!({"name": name})).await.context("creating the batch")?;
    b["id"].as_str().map(str::to_string).context("the server answered no batch id")
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let server = Server::new(&args.target.url, &args.target.key)?;
    let (media, skipped) = files::collect(&args.paths);
    let mut summary = Summary { server: server.url.clone(), skipped, ..Default::default() };
    if media.is_empty() {
        summary.print(args.target.json);
        anyhow::bail!("nothing to upload: no media file among the paths given");
    }
    let resume = ResumeFile::open(&args.state.clone().unwrap_or_else(resume::default_path));
    let batch = if media.len() > 1 || args.batch.is_some() {
        Some(batch_for(&server, &resume, &media, args.batch.as_deref()).await?)
    } else {
        None
    };
    summary.batch_id = batch.clone();

    let multi = bars(args.target.json);
    let total: u64 = media.iter().map(|f| f.size).sum();
    let overall = multi.add(ProgressBar::new(total));
    overall.set_style(style("{prefix:>8} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"));
    overall.set_prefix("bytes");
    let count = multi.add(ProgressBar::new(media.len() as u64));
    count.set_style(style("{prefix:>8} {pos}/{len} files {msg}"));
    count.set_prefix("files");
    let chunk = args.chunk_mib.clamp(1, 1024) * 1024 * 1024;
    let results: Vec<(MediaFile, anyhow::Result<tus::Sent>)> = futures::stream::iter(media)
        .map(|f| {
            let bar = multi.insert_from_back(1, ProgressBar::new(f.size));
            bar.set_style(style("{prefix:>8} [{bar:30}] {bytes}/{total_bytes} {msg}"));
            bar.set_message(f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            let job = tus::Job {
                server: &server,
                resume: &resume,
                batch_id: batch.clone(),
                chunk,
                bar: bar.clone(),
                overall: overall.clone(),
            };
            let count = count.clone();
            async move {
                let r = tus::upload(&job, &f).await;
                bar.finish_and_clear();
                count.inc(1);
                (f, r)
            }
        })
        .buffer_unordered(args.parallel.max(1))
        .collect()
        .await;
    overall.finish_and_clear();
    count.finish_and_clear();
    for (f, r) in results {
        match r {
            Ok(s) => summary.sent.push(SentFile { path: f.path, media_id: s.media_id, resumed_from: s.resumed_from }),
            Err(e) => summary.not_sent.push(NotSent { path: f.path, error: format!("{e:#}") }),
        }
    }
    summary.sent.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(b) = &batch {
        // Every file was tried: the batch completes once its items are done.
        server
            .post_json(&format!("/v1/batches/{b}/seal"), &serde_json::json!({}))
            .await
            .context("sealing the batch")?;
    }
    if args.watch {
        summary.outcomes = Some(match (&batch, summary.sent.first()) {
            (Some(b), _) => follow_batch(&server, &multi, b).await?,
            (None, Some(s)) => vec![follow_media(&server, &multi, &s.media_id).await?],
            (None, None) => Vec::new(),
        });
    }
    summary.print(args.target.json);
    finish(&summary)
}

/// Follows a batch to its end and lists how each item ended.
pub async fn follow_batch(server: &Server, multi: &MultiProgress, id: &str) -> anyhow::Result<Vec<Outcome>> {
    let bar = multi.add(ProgressBar::new(0));
    bar.set_style(style("{prefix:>8} [{wide_bar}] {pos}/{len} items {msg}"));
    bar.set_prefix("process");
    watch::batch(server, id, &bar).await?;
    bar.finish_and_clear();
    Ok(watch::batch_items(server, id).await?.iter().map(Outcome::of_batch_item).collect())
}

/// Follows one item to its end.
pub async fn follow_media(server: &Server, multi: &MultiProgress, id: &str) -> anyhow::Result<Outcome> {
    let bar = multi.add(ProgressBar::new(100));
    bar.set_style(style("{prefix:>8} [{wide_bar}] {msg}"));
    bar.set_prefix("process");
    let m = watch::media(server, id, &bar).await?;
    bar.finish_and_clear();
    Ok(Outcome::of_media(&m))
}

/// The exit: an error when anything was not sent or failed.
pub fn finish(summary: &Summary) -> anyhow::Result<()> {
    let (not_sent, failed) = (summary.not_sent.len(), summary.failed());
    anyhow::ensure!(not_sent == 0 && failed == 0, "{not_sent} file(s) not sent, {failed} item(s) failed");
    Ok(())
}

//! One file over tus 1.0: create the upload (or find the one a previous run left in the resume file), then
//! send the rest in chunks; after a broken request ask the server how many bytes it kept and go on from there.

use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use futures::StreamExt;
use indicatif::ProgressBar;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::api::{message, Server};
use super::files::MediaFile;
use super::resume::{Entry, ResumeFile};

/// MiB per request `mediamill upload` sends unless told otherwise: what a broken connection can cost, and
/// large enough that a request's parts go to the store side by side.
pub const DEFAULT_CHUNK_MIB: u64 = 16;

/// How many broken requests in a row one file survives: with pauses of 0.5 s doubling to 16 s, a little over
/// the minute a dead instance's lease on the upload takes to lapse.
const MAX_RETRIES: u32 = 8;

/// A file that reached the server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sent {
    /// The media item it became.
    pub media_id: String,
    /// Bytes an earlier run had already sent (0 for a fresh upload).
    pub resumed_from: u64,
}

/// What one upload needs besides the file.
pub struct Job<'a> {
    /// The server.
    pub server: &'a Server,
    /// The resume file.
    pub resume: &'a ResumeFile,
    /// The batch the file joins.
    pub batch_id: Option<String>,
    /// Bytes per request.
    pub chunk: u64,
    /// This file's bar (bytes).
    pub bar: ProgressBar,
    /// The overall bar (bytes).
    pub overall: ProgressBar,
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn tus(server: &Server, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
    server.request(method, url).header("tus-resumable", "1.0.0")
}

/// Where the server's upload stands: its offset and, once finished, its media item.
enum Found {
    At(u64, Option<String>),
    Gone,
}

async fn head(server: &Server, url: &str) -> anyhow::Result<Found> {
    let r = tus(server, reqwest::Method::HEAD, url).send().await.context("HEAD of the upload")?;
    match r.status().as_u16() {
        200 => {
            let offset =
                header(&r, "upload-offset").and_then(|o| o.parse().ok()).context("HEAD without Upload-Offset")?;
            Ok(Found::At(offset, header(&r, "media-id")))
        }
        404 | 410 => Ok(Found::Gone),
        s => anyhow::bail!("HEAD of the upload answered {s}"),
    }
}

async fn create(job: &Job<'_>, f: &MediaFile, fingerprint: &str) -> anyhow::Result<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let name = f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut meta = vec![format!("filename {}", b64(&name)), format!("idempotency_key {}", b64(fingerprint))];
    if let Some(b) = &job.batch_id {
        meta.push(format!("batch_id {}", b64(b)));
    }
    let r = tus(job.server, reqwest::Method::POST, "/v1/uploads")
        .header("upload-length", f.size.to_string())
        .header("upload-metadata", meta.join(","))
        .send()
        .await
        .context("creating the upload")?;
    if r.status().as_u16() != 201 {
        let status = r.status();
        anyhow::bail!("{status}: {}", message(&r.json().await.unwrap_or_default()));
    }
    header(&r, "location").context("the server gave no Location for the upload")
}

/// A request body of `len` bytes of the file from `offset`, counted on the bars as it is read.
async fn body(f: &MediaFile, offset: u64, len: u64, bars: [ProgressBar; 2]) -> anyhow::Result<reqwest::Body> {
    let mut file = tokio::fs::File::open(&f.path).await.with_context(|| format!("opening {}", f.path.display()))?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024).inspect(move |c| {
        if let Ok(c) = c {
            for b in &bars {
                b.inc(c.len() as u64);
            }
        }
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

/// Uploads `f`, resuming what a previous run left; returns the media item it became.
pub async fn upload(job: &Job<'_>, f: &MediaFile) -> anyhow::Result<Sent> {
    let fingerprint = ResumeFile::fingerprint(&job.server.url, f);
    let mut start = None;
    if let Some(e) = job.resume.get(&fingerprint) {
        match head(job.server, &e.upload_url).await? {
            Found::At(_, Some(media)) => {
                job.bar.set_position(f.size);
                job.overall.inc(f.size);
                return Ok(Sent { media_id: media, resumed_from: f.size });
            }
            Found::At(offset, None) => start = Some((e.upload_url, offset)),
            Found::Gone => job.resume.set(&fingerprint, None)?,
        }
    }
    let (url, mut offset) = match start {
        Some(s) => s,
        None => {
            let url = create(job, f, &fingerprint).await?;
            job.resume.set(&fingerprint, Some(Entry { upload_url: url.clone(), batch_id: job.batch_id.clone() }))?;
            (url, 0)
        }
    };
    let resumed_from = offset;
    job.bar.set_position(offset);
    job.overall.inc(offset);
    let mut retries = 0;
    loop {
        let len = job.chunk.min(f.size - offset);
        let before = job.bar.position();
        let sent = tus(job.server, reqwest::Method::PATCH, &url)
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .header("content-length", len.to_string())
            .body(body(f, offset, len, [job.bar.clone(), job.overall.clone()]).await?)
            .send()
            .await;
        let broken = match sent {
            Ok(r) if r.status().as_u16() == 204 => {
                offset =
                    header(&r, "upload-offset").and_then(|o| o.parse().ok()).context("PATCH without Upload-Offset")?;
                retries = 0;
                if let Some(media) = header(&r, "media-id") {
                    return Ok(Sent { media_id: media, resumed_from });
                }
                continue;
            }
            // Worth asking where the upload stands and going on: our trouble or the network's.
            Ok(r) if matches!(r.status().as_u16(), 409 | 423) || r.status().is_server_error() => {
                format!("{}: {}", r.status(), message(&r.json().await.unwrap_or_default()))
            }
            Ok(r) => {
                let status = r.status();
                anyhow::bail!("{status}: {}", message(&r.json().await.unwrap_or_default()));
            }
            Err(e) => e.to_string(),
        };
        retries += 1;
        anyhow::ensure!(retries <= MAX_RETRIES, "gave up after {MAX_RETRIES} broken requests; the last: {broken}");
        tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(retries - 1).min(32))).await;
        match head(job.server, &url).await? {
            Found::At(_, Some(media)) => return Ok(Sent { media_id: media, resumed_from }),
            Found::At(kept, None) => {
                // The bars counted what was read; the server says what it kept.
                let counted = job.bar.position() - before;
                job.overall.set_position(job.overall.position().saturating_sub(counted) + kept.saturating_sub(offset));
                job.bar.set_position(kept);
                offset = kept;
            }
            Found::Gone => anyhow::bail!("the upload expired on the server; run again to start it afresh"),
        }
    }
}

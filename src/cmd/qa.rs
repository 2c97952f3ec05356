//! `mediamill qa DIR`: uploads every fixture in DIR through a running pipeline, waits for each to settle,
//! and checks the outcome and the variant files against DIR/expected.toml. Exit status 1 if anything differs.
//!
//! Variant dimensions are read from the downloaded bytes, not from what the API reports, and the manifest's
//! numbers come from ImageMagick/ffprobe (fixtures/make-media.sh), so mediamill never grades itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder with the fixtures and expected.toml.
    #[arg(default_value = "fixtures/media")]
    pub dir: PathBuf,
    /// Base URL of the API.
    #[arg(long, env = "MEDIAMILL_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API key.
    #[arg(long, env = "MEDIAMILL_KEY")]
    pub key: String,
    /// Seconds to wait for every item to settle.
    #[arg(long, default_value_t = 180)]
    pub timeout: u64,
}

/// One manifest entry.
#[derive(Debug, Deserialize)]
struct Expect {
    status: String,
    reason: Option<String>,
    http: Option<u16>,
    code: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    /// Seconds every video/audio variant must last (±0.1 s).
    duration: Option<f64>,
    #[serde(default)]
    variants: BTreeMap<String, [u32; 2]>,
}

/// One row of the result table.
pub struct Row {
    pub file: String,
    pub expected: String,
    pub got: String,
    pub problems: Vec<String>,
}

/// Runs the check and prints the table; returns the rows.
pub async fn check(args: &Args) -> anyhow::Result<Vec<Row>> {
    let manifest_path = args.dir.join("expected.toml");
    let text =
        std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest: BTreeMap<String, Expect> =
        toml::from_str(&text).with_context(|| format!("parsing {}", manifest_path.display()))?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let base = args.url.trim_end_matches('/');
    let auth = format!("Bearer {}", args.key);

    // Upload everything first, so the pipeline works on them in parallel.
    // (file, what it should become, the upload's id or its refusal (status, body)).
    type Pending<'a> = (String, &'a Expect, Result<String, (u16, String)>);
    let mut pending: Vec<Pending> = Vec::new();
    for (file, exp) in &manifest {
        let bytes = std::fs::read(args.dir.join(file)).with_context(|| format!("reading fixture {file}"))?;
        let resp = http
            .post(format!("{base}/v1/media"))
            .header("authorization", &auth)
            .header("x-filename", file)
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("uploading {file} to {base}"))?;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let outcome = if status == 202 {
            Ok(body["id"].as_str().unwrap_or_default().to_string())
        } else {
            Err((status, body["error"]["code"].as_str().unwrap_or_default().to_string()))
        };
        pending.push((file.clone(), exp, outcome));
    }

    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut rows = Vec::new();
    for (file, exp, outcome) in pending {
        let expected = match (&exp.reason, exp.http) {
            (Some(r), _) => format!("{} ({r})", exp.status),
            (None, Some(h)) => format!("{} ({h} {})", exp.status, exp.code.as_deref().unwrap_or("")),
            _ => exp.status.clone(),
        };
        let mut problems = Vec::new();
        let got = match outcome {
            Err((status, code)) => {
                if exp.status != "rejected" {
                    problems.push(format!("upload refused with {status} {code}"));
                } else {
                    if exp.http != Some(status) {
                        problems.push(format!("expected HTTP {:?}, got {status}", exp.http));
                    }
                    if exp.code.as_deref() != Some(code.as_str()) {
                        problems.push(format!("expected code {:?}, got {code:?}", exp.code));
                    }
                }
                format!("rejected ({status} {code})")
            }
            Ok(id) => {
                if exp.status == "rejected" {
                    problems.push("accepted, but should have been refused".into());
                }
                let item = settle(&http, base, &auth, &id, &exp.status, deadline).await?;
                let status = item["status"].as_str().unwrap_or("?").to_string();
                let reason = item["failure"]["reason"].as_str().map(String::from);
                if status != exp.status && exp.status != "rejected" {
                    problems.push(format!("status {status}, expected {}", exp.status));
                }
                if exp.reason.is_some() && reason != exp.reason {
                    problems.push(format!("reason {reason:?}, expected {:?}", exp.reason));
                }
                if status == "processed" {
                    check_item(&http, &auth, &item, exp, &mut problems).await;
                }
                match reason {
                    Some(r) => format!("{status} ({r})"),
                    None => status,
                }
            }
        };
        rows.push(Row { file, expected, got, problems });
    }
    print_table(&rows);
    Ok(rows)
}

async fn settle(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
    id: &str,
    expected: &str,
    deadline: Instant,
) -> anyhow::Result<serde_json::Value> {
    loop {
        let item: serde_json::Value =
            http.get(format!("{base}/v1/media/{id}")).header("authorization", auth).send().await?.json().await?;
        let status = item["status"].as_str().unwrap_or("");
        let settled = matches!(status, "processed" | "failed" | "deleted") || status == expected;
        if settled || Instant::now() >= deadline {
            return Ok(item);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn check_item(
    http: &reqwest::Client,
    auth: &str,
    item: &serde_json::Value,
    exp: &Expect,
    problems: &mut Vec<String>,
) {
    if let (Some(w), Some(h)) = (exp.width, exp.height) {
        let got = (item["width"].as_u64().unwrap_or(0) as u32, item["height"].as_u64().unwrap_or(0) as u32);
        if got != (w, h) {
            problems.push(format!("recorded size {}x{}, expected {w}x{h}", got.0, got.1));
        }
    }
    let variants = item["variants"].as_array().cloned().unwrap_or_default();
    for (name, [w, h]) in &exp.variants {
        let of_name: Vec<_> = variants.iter().filter(|v| v["name"] == name.as_str()).collect();
        if of_name.is_empty() {
            problems.push(format!("variant {name} missing"));
        }
        for v in of_name {
            let url = v["url"].as_str().unwrap_or_default();
            let ct = v["content_type"].as_str().unwrap_or_default();
            let format = v["format"].as_str().unwrap_or("");
            match fetch(http, auth, url).await {
                Ok(got) => {
                    if (got.width, got.height) != (*w, *h) {
                        problems.push(format!("{name}.{format} is {}x{}, expected {w}x{h}", got.width, got.height));
                    }
                    if got.content_type != ct {
                        problems.push(format!("{url} served as {}, recorded as {ct}", got.content_type));
                    }
                    if let (Some(want), Some(d)) = (exp.duration, got.duration) {
                        if (d - want).abs() > 0.1 {
                            problems.push(format!("{name}.{format} lasts {d:.3} s, expected {want:.3} s ±0.1"));
                        }
                    }
                    if let Some(bad) = got.codecs.iter().find(|c| !matches!(c.as_str(), "h264" | "aac")) {
                        problems.push(format!("{name}.{format} holds {bad}, expected H.264/AAC"));
                    }
                }
                Err(e) => problems.push(format!("{url}: {e}")),
            }
        }
    }
}

/// What a downloaded variant turned out to be.
struct Fetched {
    content_type: String,
    width: u32,
    height: u32,
    /// Seconds, for video and audio.
    duration: Option<f64>,
    /// Codecs of the streams, for video and audio.
    codecs: Vec<String>,
}

async fn fetch(http: &reqwest::Client, auth: &str, url: &str) -> anyhow::Result<Fetched> {
    let resp = http.get(url).header("authorization", auth).send().await?.error_for_status()?;
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let bytes = resp.bytes().await?;
    if content_type.starts_with("video/") || content_type.starts_with("audio/") {
        // Read back from the container itself, as a player would.
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), &bytes)?;
        let p = mediamill_workers::video::probe::probe(file.path()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (width, height) = p.video.as_ref().map(|v| (v.display_width, v.display_height)).unwrap_or((0, 0));
        let codecs = p.video.iter().map(|v| v.codec.clone()).chain(p.audio.iter().map(|a| a.codec.clone())).collect();
        return Ok(Fetched { content_type, width, height, duration: Some(p.duration_secs), codecs });
    }
    let (width, height) =
        image::ImageReader::new(std::io::Cursor::new(&bytes)).with_guessed_format()?.into_dimensions()?;
    Ok(Fetched { content_type, width, height, duration: None, codecs: vec![] })
}

fn print_table(rows: &[Row]) {
    let fw = rows.iter().map(|r| r.file.len()).max().unwrap_or(4).max(4);
    let ew = rows.iter().map(|r| r.expected.len()).max().unwrap_or(8).max(8);
    let gw = rows.iter().map(|r| r.got.len()).max().unwrap_or(3).max(3);
    println!("{:fw$}  {:ew$}  {:gw$}  result", "file", "expected", "got");
    for r in rows {
        let res = match r.problems.as_slice() {
            [] => "ok".to_string(),
            [one] => format!("FAIL: {one}"),
            [first, rest @ ..] => format!("FAIL: {first} (+{} more)", rest.len()),
        };
        println!("{:fw$}  {:ew$}  {:gw$}  {res}", r.file, r.expected, r.got);
    }
    let failed = rows.iter().filter(|r| !r.problems.is_empty()).count();
    println!("qa: {} passed, {} failed", rows.len() - failed, failed);
}

/// `mediamill qa`: exit status 1 when any fixture differs from its expectation.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let rows = check(&args).await?;
    if rows.iter().any(|r| !r.problems.is_empty()) {
        std::process::exit(1);
    }
    Ok(())
}

//! `mediamill bench load --url URL --key KEY --count N [--pids P,…]`: one batch of N uploads through a running
//! pipeline to completion. Prints the time, the batch's final counts (which must be exact) and, for the
//! processes named by --pids (and their sandbox children), resident memory sampled as the batch advances, so
//! flat memory shows as flat numbers. `scripts/load.sh` runs it with 10 000 items on the real Kafka, SeaweedFS and PostgreSQL.

use std::time::{Duration, Instant};

use futures::StreamExt;

use super::procfs::{children, create_batch, rss_mib};

/// Resident memory of `pid`'s child processes (a worker's sandbox children) in MiB, and how many there are.
fn children_rss_mib(pid: u32) -> (u64, usize) {
    let kids = children(pid);
    (kids.iter().map(|k| rss_mib(*k)).sum(), kids.len())
}

/// A process's memory for the table: its own, plus its children's when it has any.
fn memory(pid: u32) -> String {
    match children_rss_mib(pid) {
        (_, 0) => format!("{pid}:{}MiB", rss_mib(pid)),
        (mib, n) => format!("{pid}:{}MiB+{n} children {mib}MiB", rss_mib(pid)),
    }
}

/// Runs the load.
pub async fn run(url: &str, key: &str, count: usize, pids: &[u32]) -> anyhow::Result<()> {
    let url = url.trim_end_matches('/');
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let id = create_batch(&http, url, key, "load", count).await?;
    let started = Instant::now();
    let samples = std::sync::Mutex::new(Vec::<String>::new());
    let sample = |label: &str| {
        let rss: Vec<String> = pids.iter().map(|p| memory(*p)).collect();
        if let Ok(mut s) = samples.lock() {
            s.push(format!("{label:>10} {:>6.1}s  {}", started.elapsed().as_secs_f64(), rss.join(" ")));
        }
    };
    sample("start");
    // Small, distinct photos: each upload is its own item.
    let uploads = futures::stream::iter(0..count).map(|i| {
        let http = http.clone();
        let target = format!("{url}/v1/batches/{id}/media");
        let key = key.to_string();
        async move {
            let img = image::RgbImage::from_fn(320, 240, |x, y| {
                image::Rgb([(x + i as u32) as u8, (y * 2) as u8, (i % 251) as u8])
            });
            let mut body = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut body, 85).encode_image(&img)?;
            let r =
                http.post(&target).bearer_auth(&key).header("x-filename", format!("{i}.jpg")).body(body).send().await?;
            anyhow::ensure!(r.status().as_u16() == 202, "upload {i} answered {}", r.status());
            Ok::<(), anyhow::Error>(())
        }
    });
    let mut uploads = uploads.buffer_unordered(8);
    let mut done = 0usize;
    while let Some(r) = uploads.next().await {
        r?;
        done += 1;
        if done.is_multiple_of((count / 4).max(1)) {
            sample(&format!("up {done}"));
        }
    }
    http.post(format!("{url}/v1/batches/{id}/seal")).bearer_auth(key).send().await?.error_for_status()?;
    let uploaded_in = started.elapsed();
    let mut last_percent = -1i64;
    let b = loop {
        let b: serde_json::Value =
            http.get(format!("{url}/v1/batches/{id}?limit=1")).bearer_auth(key).send().await?.json().await?;
        let percent = b["percent_done"].as_f64().unwrap_or(0.0) as i64;
        if percent / 20 != last_percent / 20 {
            last_percent = percent;
            sample(&format!("{percent}%"));
        }
        if b["status"] == "completed" {
            break b;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(3600), "batch not complete after an hour: {b}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    sample("completed");
    let total = started.elapsed().as_secs_f64();
    println!("bench load: one batch of {count} uploads to {url}");
    println!(
        "uploaded in {:.1} s, completed in {total:.1} s ({:.1} items/s)",
        uploaded_in.as_secs_f64(),
        count as f64 / total
    );
    println!("final counts: {} (outcome {})", b["counts"], b["outcome"]);
    println!("resident memory (pid:MiB) as the batch went:");
    for s in samples.lock().map(|s| s.clone()).unwrap_or_default() {
        println!("  {s}");
    }
    let processed = b["counts"]["processed"].as_u64().unwrap_or(0) as usize;
    anyhow::ensure!(processed == count, "expected {count} processed, the batch says {}", b["counts"]);
    Ok(())
}

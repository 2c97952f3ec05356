//! Processing progress from the server's event stream (Server-Sent Events) until a batch completes or an
//! item is processed or failed; a dropped stream is resumed with `Last-Event-ID`.

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use indicatif::ProgressBar;

use super::api::Server;

/// One server-sent event.
#[derive(Debug, Default)]
struct Sse {
    id: Option<String>,
    event: String,
    data: String,
}

/// Reads events from `path` and hands each to `on_event` until the stream ends; reconnects after a break.
async fn follow(server: &Server, path: &str, mut on_event: impl FnMut(&str, &serde_json::Value)) -> anyhow::Result<()> {
    let mut last_id: Option<String> = None;
    let mut breaks = 0;
    loop {
        let mut req = server.request(reqwest::Method::GET, path).header("accept", "text/event-stream");
        if let Some(id) = &last_id {
            req = req.header("last-event-id", id);
        }
        let r = req.send().await.with_context(|| format!("GET {path}"))?;
        if !r.status().is_success() {
            let status = r.status();
            anyhow::bail!("{path}: {status}: {}", super::api::message(&r.json().await.unwrap_or_default()));
        }
        let mut bytes = r.bytes_stream();
        let (mut buf, mut ev) = (Vec::<u8>::new(), Sse::default());
        let ended_cleanly = loop {
            match bytes.next().await {
                None => break true,
                Some(Err(_)) => break false,
                Some(Ok(chunk)) => {
                    buf.extend_from_slice(&chunk);
                    while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=nl).collect();
                        let line = String::from_utf8_lossy(&line);
                        let line = line.trim_end_matches(['\n', '\r']);
                        if line.is_empty() {
                            if !ev.event.is_empty() || !ev.data.is_empty() {
                                let data = serde_json::from_str(&ev.data).unwrap_or(serde_json::Value::Null);
                                on_event(&ev.event, &data);
                                if ev.id.is_some() {
                                    last_id = ev.id.take();
                                }
                            }
                            ev = Sse::default();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            if !ev.data.is_empty() {
                                ev.data.push('\n');
                            }
                            ev.data.push_str(v.trim_start());
                        } else if let Some(v) = line.strip_prefix("event:") {
                            ev.event = v.trim().to_string();
                        } else if let Some(v) = line.strip_prefix("id:") {
                            ev.id = Some(v.trim().to_string());
                        }
                    }
                }
            }
        };
        // The server ends a stream after the final event; a break before that is resumed.
        if ended_cleanly {
            return Ok(());
        }
        breaks += 1;
        anyhow::ensure!(breaks <= 10, "the event stream of {path} kept breaking");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A batch's counts from a snapshot (the batch as `GET` shows it) or a progress event.
fn counts(v: &serde_json::Value) -> Option<(u64, u64, u64)> {
    let c = v.get("counts").or_else(|| v.get("data").and_then(|d| d.get("counts")))?;
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    let total = v.get("total").or_else(|| v.get("data").and_then(|d| d.get("total"))).and_then(|t| t.as_u64());
    Some((n("processed"), n("failed"), total.unwrap_or(n("uploaded") + n("processing") + n("processed") + n("failed"))))
}

/// Follows a batch until `batch.completed`, moving `bar` (items done of all); returns the batch as it ends.
pub async fn batch(server: &Server, id: &str, bar: &ProgressBar) -> anyhow::Result<serde_json::Value> {
    follow(server, &format!("/v1/batches/{id}/events"), |ty, data| {
        if let Some((processed, failed, total)) = counts(data) {
            bar.set_length(total);
            bar.set_position(processed + failed);
            bar.set_message(format!("{processed} processed, {failed} failed"));
        }
        if ty.ends_with("batch.completed") || ty == "batch.completed" {
            bar.set_message("completed");
        }
    })
    .await?;
    server.get_json(&format!("/v1/batches/{id}?limit=1")).await
}

/// Follows one item until it is processed, failed or deleted; returns it as it ends.
pub async fn media(server: &Server, id: &str, bar: &ProgressBar) -> anyhow::Result<serde_json::Value> {
    follow(server, &format!("/v1/media/{id}/events"), |ty, data| {
        let status = data["status"].as_str().or_else(|| data["data"]["status"].as_str()).unwrap_or(ty);
        bar.set_message(status.to_string());
        if let Some(p) = data["data"]["progress"].as_f64() {
            bar.set_position(p as u64);
        }
    })
    .await?;
    server.get_json(&format!("/v1/media/{id}")).await
}

/// Every item of a batch (all pages), for the summary.
pub async fn batch_items(server: &Server, id: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let (mut items, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/batches/{id}?limit=500&cursor={c}"),
            None => format!("/v1/batches/{id}?limit=500"),
        };
        let page = server.get_json(&path).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) if !c.is_empty() => cursor = Some(c.to_string()),
            _ => return Ok(items),
        }
    }
}

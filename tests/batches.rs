//! Batches on the real Kafka, SeaweedFS and PostgreSQL: exact counts, one completion, and counts that stay
//! exact when every media event is delivered again, out of order.

mod harness;

use std::time::{Duration, Instant};

use harness::{repo_root, Pipeline};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("fixtures/media").join(name)).expect("fixture")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mixed_batch_of_200_completes_once_with_exact_counts() {
    let p = Pipeline::start(&[("MEDIAMILL_WORKER__CONCURRENCY", "4")]).await;
    let key = p.key("batcher");
    let http = reqwest::Client::new();
    let r = p
        .post_json(
            &key,
            "/v1/batches",
            &serde_json::json!({"name": "holiday", "expected_count": 200, "metadata": {"album": 7}}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let batch: serde_json::Value = r.json().await.unwrap();
    let id = batch["id"].as_str().unwrap().to_string();
    assert_eq!(batch["status"], "open");

    // 10 requests of 20 files: 12 good, 4 truncated, 2 refused (text), 2 pixel bombs each.
    let plan = [("still.gif", 12), ("truncated.jpg", 4), ("text.jpg", 2), ("bomb.png", 2)];
    for round in 0..10 {
        let mut form = reqwest::multipart::Form::new();
        for (name, n) in plan {
            for i in 0..n {
                form = form.part(
                    "file",
                    reqwest::multipart::Part::bytes(fixture(name)).file_name(format!("{round}-{i}-{name}")),
                );
            }
        }
        let r = p.post_form(&key, &format!("/v1/batches/{id}/media"), form).await;
        assert_eq!(r.status(), 202);
        let body: serde_json::Value = r.json().await.unwrap();
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), 20);
        let refused = items.iter().filter(|i| i["error"]["code"] == "unsupported_media_type").count();
        assert_eq!(refused, 2, "{body}");
    }
    let r = http.post(format!("{}/v1/batches/{id}/seal", p.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{}/v1/batches/{id}/media", p.url))
        .bearer_auth(&key)
        .body(fixture("still.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "a sealed batch takes no more files");

    let b = p.batch_reaching(&key, &id, "completed").await;
    assert_eq!(b["counts"], serde_json::json!({"uploaded": 0, "processing": 0, "processed": 120, "failed": 80}));
    assert_eq!(b["outcome"], "completed_with_failures");
    assert_eq!(b["percent_done"], 100.0);
    let items = b["items"].as_array().unwrap();
    assert_eq!(items.len(), 200);
    let reasons = |r: &str| items.iter().filter(|i| i["reason"] == r).count();
    assert_eq!((reasons("corrupt"), reasons("unsupported_media_type"), reasons("too_many_pixels")), (40, 20, 20));

    // Exactly one batch.completed, with an id derived from the batch and its round; progress on the way.
    let events = p.read_topic("batch.events", 1000, Duration::from_secs(5));
    let completed: Vec<_> = events.iter().filter(|e| e.1["ce_type"] == "mediamill.batch.completed.v1").collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].1["ce_id"], format!("{id}:completed:1"));
    assert!(events.iter().any(|e| e.1["ce_type"] == "mediamill.batch.progress.v1"));
    assert!(events.iter().all(|e| e.0 == id), "keyed by batch id");

    // Deliver every media event again, newest first: counts and completion must not move.
    let media_events = p.read_topic("media.events", 100_000, Duration::from_secs(5));
    assert!(media_events.len() >= 180 * 3, "{}", media_events.len());
    let producer: FutureProducer = rdkafka::ClientConfig::new().set("bootstrap.servers", &p.kafka).create().unwrap();
    let topic = format!("{}media.events", p.topic_prefix);
    for (k, h, body) in media_events.iter().rev() {
        let mut headers = OwnedHeaders::new();
        for (hk, hv) in h {
            headers = headers.insert(Header { key: hk, value: Some(hv.as_bytes()) });
        }
        producer
            .send(FutureRecord::to(&topic).key(k).payload(body).headers(headers), Duration::from_secs(5))
            .await
            .unwrap();
    }
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let (_, again) = p.get(&key, &format!("/v1/batches/{id}")).await;
        assert_eq!(again["counts"], b["counts"], "counts moved after redelivery");
        assert_eq!(again["status"], "completed");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let completed = p
        .read_topic("batch.events", 1000, Duration::from_secs(3))
        .into_iter()
        .filter(|e| e.1["ce_type"] == "mediamill.batch.completed.v1")
        .count();
    assert_eq!(completed, 1, "redelivery completed the batch again");
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_requests_are_checked() {
    let p = Pipeline::start(&[]).await;
    let a = p.key("a");
    let b = p.key("b");
    let http = reqwest::Client::new();
    let r = http.post(format!("{}/v1/batches", p.url)).bearer_auth(&a).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "bad_json");
    let r = p.post_json(&a, "/v1/batches", &serde_json::json!({"unknown": 1})).await;
    assert_eq!(r.status(), 400);
    let r = p.post_json(&a, "/v1/batches", &serde_json::json!({"webhook_url": "file:///etc/passwd"})).await;
    assert_eq!(r.status(), 400);
    let r = p.post_json(&a, "/v1/batches", &serde_json::json!({"webhook_url": "http://169.254.169.254/latest"})).await;
    assert_eq!(r.status(), 400, "SSRF: link-local metadata address");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "bad_webhook_url");
    let r = http.post(format!("{}/v1/batches", p.url)).bearer_auth(&a).body(vec![b' '; 100_000]).send().await.unwrap();
    assert_eq!(r.status(), 413);

    // An empty batch sealed at once completes at once; another tenant cannot see or touch it.
    let r = http.post(format!("{}/v1/batches", p.url)).bearer_auth(&a).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(p.get(&b, &format!("/v1/batches/{id}")).await.0, 404);
    let r = http
        .post(format!("{}/v1/batches/{id}/media", p.url))
        .bearer_auth(&b)
        .body(fixture("still.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http.post(format!("{}/v1/batches/{id}/seal", p.url)).bearer_auth(&a).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], "completed");
    assert_eq!(p.get(&a, "/v1/batches/nope").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsealed_batch_is_sealed_automatically() {
    let p = Pipeline::start(&[("MEDIAMILL_BATCH__AUTO_SEAL_SECS", "1")]).await;
    let key = p.key("lazy");
    let http = reqwest::Client::new();
    let r = http.post(format!("{}/v1/batches", p.url)).bearer_auth(&key).send().await.unwrap();
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = http
        .post(format!("{}/v1/batches/{id}/media", p.url))
        .bearer_auth(&key)
        .header("x-filename", "s.gif")
        .body(fixture("still.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let b = p.batch_reaching(&key, &id, "completed").await;
    assert_eq!(b["outcome"], "completed");
    assert_eq!(b["counts"]["processed"], 1);
    assert!(b["sealed_at"].is_i64());
}

/// Reads SSE frames from a response until `stop` says so or the stream ends; returns (id, event, data).
async fn read_sse(
    resp: reqwest::Response,
    mut stop: impl FnMut(&[(String, String, String)]) -> bool,
) -> Vec<(String, String, String)> {
    use futures::StreamExt;
    let mut body = resp.bytes_stream();
    let (mut buf, mut out) = (String::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        let chunk = match tokio::time::timeout(Duration::from_secs(30), body.next()).await {
            Ok(Some(Ok(c))) => c,
            _ => break,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let (mut id, mut ev, mut data) = (String::new(), String::new(), String::new());
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().into()
                }
                if let Some(v) = line.strip_prefix("event:") {
                    ev = v.trim().into()
                }
                if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim())
                }
            }
            if !ev.is_empty() {
                out.push((id, ev, data));
            }
        }
        if stop(&out) {
            break;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_shows_progress_to_completion_on_any_instance_and_resumes() {
    let p = Pipeline::start(&[]).await;
    // A second ingest instance: live streams must work on any of them.
    let (mut second, other) = p.second_ingest().await;
    let key = p.key("live");
    let http = reqwest::Client::new();
    let id = p.create(&key, "/v1/batches", None).await;
    assert_eq!(
        http.get(format!("{other}/v1/batches/nope/events")).bearer_auth(&key).send().await.unwrap().status(),
        404
    );

    // Connect to the second instance, upload through the first, read until the first progress event.
    let resp = http.get(format!("{other}/v1/batches/{id}/events")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut form = reqwest::multipart::Form::new();
    for i in 0..6 {
        form = form.part("file", reqwest::multipart::Part::bytes(fixture("still.gif")).file_name(format!("{i}.gif")));
    }
    assert_eq!(p.post_form(&key, &format!("/v1/batches/{id}/media"), form).await.status(), 202);
    let first = read_sse(resp, |evs| evs.iter().any(|e| e.1 == "mediamill.batch.progress.v1")).await;
    assert_eq!(first[0].1, "snapshot", "{first:?}");
    let last_id = first.iter().rev().find(|e| !e.0.is_empty()).map(|e| e.0.clone()).expect("an event with an id");

    // Disconnected: seal, let it complete, then resume from the last id seen.
    let seen_before: Vec<String> = first.iter().map(|e| e.0.clone()).filter(|i| !i.is_empty()).collect();
    drop(first);
    http.post(format!("{}/v1/batches/{id}/seal", p.url)).bearer_auth(&key).send().await.unwrap();
    p.batch_reaching(&key, &id, "completed").await;
    let resp = http
        .get(format!("{other}/v1/batches/{id}/events"))
        .bearer_auth(&key)
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    let rest = read_sse(resp, |evs| evs.iter().any(|e| e.1 == "mediamill.batch.completed.v1")).await;
    assert_eq!(rest[0].1, "snapshot");
    let snapshot: serde_json::Value = serde_json::from_str(&rest[0].2).unwrap();
    assert_eq!(snapshot["status"], "completed");
    let completed =
        rest.iter().find(|e| e.1 == "mediamill.batch.completed.v1").expect("the missed completion is replayed");
    let data: serde_json::Value = serde_json::from_str(&completed.2).unwrap();
    assert_eq!(data["data"]["counts"]["processed"], 6);
    for e in rest.iter().skip(1) {
        assert!(!seen_before.contains(&e.0), "event {} was already seen before {last_id}", e.0);
    }
    assert_eq!(
        rest.last().map(|e| e.1.as_str()),
        Some("mediamill.batch.completed.v1"),
        "nothing after the final event"
    );
    let _ = second.kill();
    let _ = second.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requeued_item_reopens_its_batch_which_completes_again() {
    let mut p = Pipeline::start(&[]).await;
    let key = p.key("requeue");
    let http = reqwest::Client::new();
    let id = p.create(&key, "/v1/batches", None).await;
    let mut form = reqwest::multipart::Form::new();
    for name in ["still.gif", "truncated.jpg"] {
        form = form.part("file", reqwest::multipart::Part::bytes(fixture(name)).file_name(name));
    }
    let up: serde_json::Value = p.post_form(&key, &format!("/v1/batches/{id}/media"), form).await.json().await.unwrap();
    let broken = up["items"][1]["media_id"].as_str().unwrap().to_string();
    http.post(format!("{}/v1/batches/{id}/seal", p.url)).bearer_auth(&key).send().await.unwrap();
    let b = p.batch_reaching(&key, &id, "completed").await;
    assert_eq!((b["round"].as_i64(), b["outcome"].as_str()), (Some(1), Some("completed_with_failures")));

    // Hostile and unknown ids are refused with a clear message.
    let out = p.run(&["jobs", "requeue", "no-such-id"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no media item"));

    let out = p.run(&["jobs", "requeue", &broken]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("attempt 2") && said.contains("round 2"), "{said}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let b = loop {
        let (_, b) = p.get(&key, &format!("/v1/batches/{id}")).await;
        if b["round"] == 2 && b["status"] == "completed" {
            break b;
        }
        assert!(Instant::now() < deadline, "never completed again: {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(b["counts"], serde_json::json!({"uploaded": 0, "processing": 0, "processed": 1, "failed": 1}));
    let events = p.read_topic("batch.events", 1000, Duration::from_secs(5));
    let types: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.1["ce_type"] != "mediamill.batch.progress.v1")
        .map(|e| (e.1["ce_type"].as_str(), e.1["ce_id"].as_str()))
        .collect();
    let c1 = format!("{id}:completed:1");
    let c2 = format!("{id}:completed:2");
    assert_eq!(types.iter().filter(|t| t.0 == "mediamill.batch.reopened.v1").count(), 1, "{types:?}");
    assert!(types.iter().any(|t| t.1 == c1) && types.iter().any(|t| t.1 == c2), "{types:?}");

    // Stuck work: a video with no video worker running stays uploaded and is listed.
    if let Some(mut w) = p.video.take() {
        let _ = w.kill();
        let _ = w.wait();
    }
    let (_, v) = p.upload(&key, "clip.mp4").await;
    let out = p.run(&["jobs", "stuck", "--older-than", "0s"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(v["id"].as_str().unwrap()));
    let out = p.run(&["jobs", "stuck", "--older-than", "1h"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(v["id"].as_str().unwrap()));
    assert!(!p.run(&["jobs", "stuck", "--older-than", "soon"]).status.success());
}

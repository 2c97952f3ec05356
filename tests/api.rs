//! The API does what it says: no silent drops, JSON errors everywhere, streams that end, links that work,
//! payloads in one shape, checked subscriptions. On the real Kafka, SeaweedFS and PostgreSQL.

mod harness;

use std::time::{Duration, Instant};

use futures::StreamExt;
use harness::{repo_root, Pipeline};
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("fixtures/media").join(name)).expect("fixture")
}

fn part(name: &str, file: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(fixture(file)).file_name(name.to_string())
}

async fn json_of(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}), status {status}: {body:?}"));
    (status, headers, v)
}

/// Reads an SSE response until the server ends it (or `wait` passes): (events as (id, type), ended).
async fn read_to_end(resp: reqwest::Response, wait: Duration) -> (Vec<(String, String)>, bool) {
    let mut body = resp.bytes_stream();
    let (mut buf, mut out) = (String::new(), Vec::new());
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, body.next()).await {
            Ok(Some(Ok(c))) => buf.push_str(&String::from_utf8_lossy(&c)),
            Ok(None) => {
                parse_frames(&buf, &mut out);
                return (out, true);
            }
            Ok(Some(Err(_))) | Err(_) => {
                parse_frames(&buf, &mut out);
                return (out, false);
            }
        }
    }
}

fn parse_frames(buf: &str, out: &mut Vec<(String, String)>) {
    for frame in buf.split("\n\n") {
        let (mut id, mut ev) = (String::new(), String::new());
        for line in frame.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().into();
            }
            if let Some(v) = line.strip_prefix("event:") {
                ev = v.trim().into();
            }
        }
        if !ev.is_empty() {
            out.push((id, ev));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_drop_nothing_silently_and_idempotency_keys_fingerprint_the_request() {
    let p = Pipeline::start(&[]).await;
    let key = p.key("drops");
    let http = reqwest::Client::new();

    // Two files to the single-file endpoint: refused, naming the field and the batch endpoint; nothing kept.
    let form = reqwest::multipart::Form::new()
        .part("file", part("a.jpg", "progressive.jpg"))
        .part("other", part("b.gif", "still.gif"));
    let (status, _, body) = json_of(p.post_form(&key, "/v1/media", form).await).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "multiple_files");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("\"other\"") && msg.contains("/v1/batches/{id}/media"), "{msg}");
    let (_, list) = p.get(&key, "/v1/media").await;
    assert!(list["items"].as_array().unwrap().is_empty(), "the first file was recorded: {list}");

    // One file with a form field beside it is fine.
    let form = reqwest::multipart::Form::new().text("note", "hello").part("file", part("a.gif", "still.gif"));
    let r = p.post_form(&key, "/v1/media", form).await;
    assert_eq!(r.status(), 202);

    // Idempotency-Key: the same request answers the first item; another body under the same key is a 422.
    let post = |body: Vec<u8>, k: &str| {
        http.post(format!("{}/v1/media", p.url)).bearer_auth(&key).header("idempotency-key", k).body(body).send()
    };
    let (s1, _, first) = json_of(post(fixture("still.gif"), "k-1").await.unwrap()).await;
    let (s2, _, again) = json_of(post(fixture("still.gif"), "k-1").await.unwrap()).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first["id"], again["id"]);
    let (s3, _, reused) = json_of(post(fixture("alpha.png"), "k-1").await.unwrap()).await;
    assert_eq!(s3, 422, "{reused}");
    assert_eq!(reused["error"]["code"], "idempotency_key_reused");
    // Same length, other bytes: still caught (the fingerprint is the content's SHA-256, not its size).
    let mut flipped = fixture("still.gif");
    let last = flipped.len() - 2;
    flipped[last] ^= 0x55;
    let (s4, _, _) = json_of(post(flipped, "k-1").await.unwrap()).await;
    assert_eq!(s4, 422);

    // Batches honour the key too: a retried multipart request maps each file to its first item.
    let (_, _, b) = json_of(http.post(format!("{}/v1/batches", p.url)).bearer_auth(&key).send().await.unwrap()).await;
    let bid = b["id"].as_str().unwrap().to_string();
    let send = |files: &[(&str, &str)]| {
        let mut form = reqwest::multipart::Form::new();
        for (n, f) in files {
            form = form.part("file", part(n, f));
        }
        http.post(format!("{}/v1/batches/{bid}/media", p.url))
            .bearer_auth(&key)
            .header("idempotency-key", "batch-req-1")
            .multipart(form)
            .send()
    };
    let (_, _, one) = json_of(send(&[("x.gif", "still.gif"), ("y.png", "alpha.png")]).await.unwrap()).await;
    let (_, _, two) = json_of(send(&[("x.gif", "still.gif"), ("y.png", "alpha.png")]).await.unwrap()).await;
    let ids = |v: &Value| v["items"].as_array().unwrap().iter().map(|i| i["media_id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&one), ids(&two), "{one} vs {two}");
    let (s, _, swapped) = json_of(send(&[("y.png", "alpha.png"), ("x.gif", "still.gif")]).await.unwrap()).await;
    assert_eq!(s, 422, "{swapped}");
    let (_, b) = p.get(&key, &format!("/v1/batches/{bid}")).await;
    assert_eq!(b["total"], 2, "retries added no items: {b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_is_json_and_names_no_internal_type() {
    // Webhook targets on loopback only: the test never sends a delivery anywhere else.
    let p = Pipeline::start(&[("MEDIAMILL_NOTIFY__ALLOW_PRIVATE_TARGETS", "true")]).await;
    let key = p.key("errors");
    let http = reqwest::Client::new();

    let (s, _, b) =
        json_of(http.get(format!("{}/v1/media?limit=abc", p.url)).bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(s, 400);
    assert_eq!(b["error"]["code"], "bad_request");
    assert!(b["error"]["message"].as_str().unwrap().contains("limit"), "{b}");

    let (s, h, b) = json_of(http.put(format!("{}/v1/media", p.url)).bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(s, 405);
    assert_eq!(b["error"]["code"], "method_not_allowed");
    let allow = h["allow"].to_str().unwrap().to_string();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert!(b["error"]["message"].as_str().unwrap().contains("PUT"), "{b}");

    let (s, _, b) = json_of(p.post_json(&key, "/v1/batches", &json!([1, 2, 3, 4])).await).await;
    assert_eq!(s, 400);
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(!msg.contains("NewBatch") && !msg.contains("struct"), "{msg}");
    let (s, _, b) = json_of(p.post_json(&key, "/v1/batches", &json!({"nmae": "x"})).await).await;
    assert_eq!(s, 400);
    assert!(b["error"]["message"].as_str().unwrap().contains("unknown field `nmae`"), "{b}");

    // A path that does not parse, an unknown route, a deleted item: JSON, with honest statuses.
    let (s, _, _) = json_of(http.get(format!("{}/nowhere", p.url)).send().await.unwrap()).await;
    assert_eq!(s, 404);
    let (_, _, up) = json_of(
        http.post(format!("{}/v1/media", p.url)).bearer_auth(&key).body(fixture("still.gif")).send().await.unwrap(),
    )
    .await;
    let id = up["id"].as_str().unwrap().to_string();
    p.settle(&key, &id).await;

    // 416 names the length so a client can ask again.
    let r = http
        .get(format!("{}/v1/media/{id}/variants/thumb.jpg", p.url))
        .bearer_auth(&key)
        .header("range", "bytes=99999999-")
        .send()
        .await
        .unwrap();
    let (s, h, b) = json_of(r).await;
    assert_eq!(s, 416, "{b}");
    let size = p.get(&key, &format!("/v1/media/{id}")).await.1["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "thumb" && v["format"] == "jpeg")
        .unwrap()["size"]
        .as_u64()
        .unwrap();
    assert_eq!(h["content-range"], format!("bytes */{size}").as_str());

    assert_eq!(http.delete(format!("{}/v1/media/{id}", p.url)).bearer_auth(&key).send().await.unwrap().status(), 204);
    let (s, _, b) = json_of(http.get(format!("{}/v1/media/{id}", p.url)).bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!((s, b["error"]["code"].as_str()), (410, Some("deleted")), "{b}");
    let (s, _, _) = json_of(
        http.get(format!("{}/v1/media/00000000-0000-0000-0000-000000000000", p.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404, "never existed is not gone");

    // A tenant over its own request rate gets 429 with the headers that say when to come back; others do not.
    let slow = p.key("throttled");
    let set = p.run(&["tenants", "set", "throttled", "--limit", "requests_per_sec=1"]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(http.get(format!("{}/v1/media", p.url)).bearer_auth(&slow).send().await.unwrap());
    }
    let codes: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(codes, vec![200, 200, 429], "a burst of twice the rate, then refused");
    let limited = answers.pop().unwrap();
    let h = limited.headers().clone();
    assert_eq!(h["retry-after"], "1");
    assert_eq!(h["ratelimit-policy"], "\"requests\";q=2;w=2");
    assert!(h["ratelimit"].to_str().unwrap().starts_with("\"requests\";r=0;t="));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(p.get(&key, "/v1/media").await.0, 200, "another tenant is not slowed");

    // A deleted item's variant has no signed URL.
    let (s, _, b) = json_of(
        http.get(format!("{}/v1/media/{id}/variants/thumb.jpg/signed-url", p.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_str()), (410, Some("deleted")), "whose the item is comes first: {b}");

    // The 415 message lists every kind, audio included.
    let (s, _, b) = json_of(
        http.post(format!("{}/v1/media", p.url)).bearer_auth(&key).body("plain text, not media").send().await.unwrap(),
    )
    .await;
    assert_eq!(s, 415);
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(msg.contains("audio: MP3") && msg.contains("MPEG") && msg.contains("HEIC"), "{msg}");

    // Subscriptions are checked: a typo would never fire.
    let (s, _, b) = json_of(
        p.post_json(
            &key,
            "/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["media.procesed"]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(msg.contains("media.procesed") && msg.contains("mediamill.media.processed.v1"), "{msg}");
    let (s, _, b) = json_of(
        p.post_json(
            &key,
            "/v1/email-recipients",
            &json!({"address": "ops@example.com", "event_types": ["mediamill.nothing.*"]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, _, b) = json_of(p.post_json(&key, "/v1/webhooks", &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["mediamill.media.*", "mediamill.batch.completed.v1"]})).await).await;
    assert_eq!(s, 201, "valid filters pass: {b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_end_links_work_and_events_show_variants_as_the_api_does() {
    let p = Pipeline::start(&[("MEDIAMILL_SERVER__URL_SIGNING_KEY", "test-signing-key")]).await;
    let key = p.key("links");
    let http = reqwest::Client::new();
    let (_, _, up) = json_of(
        http.post(format!("{}/v1/media", p.url))
            .bearer_auth(&key)
            .body(fixture("progressive.jpg"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = up["id"].as_str().unwrap().to_string();

    // A live media stream closes after its terminal event.
    let resp = http.get(format!("{}/v1/media/{id}/events", p.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (events, ended) = read_to_end(resp, Duration::from_secs(60)).await;
    assert!(ended, "the stream kept going after {events:?}");
    let types: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(types.first(), Some(&"snapshot"));
    assert!(matches!(types.last(), Some(&"mediamill.media.processed.v1") | Some(&"snapshot")), "{types:?}");
    // Of a finished item: the snapshot, then the end.
    let resp = http.get(format!("{}/v1/media/{id}/events", p.url)).bearer_auth(&key).send().await.unwrap();
    let (events, ended) = read_to_end(resp, Duration::from_secs(3)).await;
    assert!(ended && events.len() == 1 && events[0].1 == "snapshot", "{events:?} ended={ended}");

    // A hostile Last-Event-ID (once it overflowed while a lock was held) is just an unknown id.
    for hostile in ["0-9223372036854775807", "-1--1", &"9".repeat(150)] {
        let resp = http
            .get(format!("{}/v1/media/{id}/events", p.url))
            .bearer_auth(&key)
            .header("last-event-id", hostile)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{hostile}");
        let (events, _) = read_to_end(resp, Duration::from_secs(8)).await;
        assert_eq!(events.first().map(|e| e.1.as_str()), Some("snapshot"), "{hostile}");
    }

    // links.variants works, in the same shape and order as the item's variants.
    let item = p.settle(&key, &id).await;
    let (s, _, vs) =
        json_of(http.get(item["links"]["variants"].as_str().unwrap()).bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(vs["items"], item["variants"]);
    let widths: Vec<u64> = item["variants"].as_array().unwrap().iter().map(|v| v["width"].as_u64().unwrap()).collect();
    assert!(widths.windows(2).all(|w| w[0] <= w[1]), "smallest first: {widths:?}");
    for v in item["variants"].as_array().unwrap() {
        assert!(v["key"].is_string() && v["url"].is_string(), "{v}");
        assert_eq!(http.get(v["url"].as_str().unwrap()).bearer_auth(&key).send().await.unwrap().status(), 200);
    }
    // A signed URL fetches a variant without the bearer key, for its path only, until it expires.
    let (s, _, signed) = json_of(
        http.get(format!("{}/v1/media/{id}/variants/thumb.jpg/signed-url?ttl=600", p.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{signed}");
    let url = signed["url"].as_str().unwrap().to_string();
    let r = http.get(&url).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "image/jpeg"));
    let other = url.replace("/thumb.jpg?", "/medium.jpg?");
    assert_eq!(http.get(&other).send().await.unwrap().status(), 401, "the signature covers one path");
    // Another last character than the signature has (a fixed '0' left a signature ending in '0' intact).
    let flipped = if url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &url[..url.len() - 1]);
    assert_eq!(http.get(&tampered).send().await.unwrap().status(), 401);
    let (s, _, _) = json_of(
        http.get(format!("{}/v1/media/{id}/variants/thumb.jpg/signed-url?ttl=99999999", p.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400, "longer than server.max_signed_url_secs");
    let (_, _, short) = json_of(
        http.get(format!("{}/v1/media/{id}/variants/thumb.jpg/signed-url?ttl=1", p.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, _, b) = json_of(http.get(short["url"].as_str().unwrap()).send().await.unwrap()).await;
    assert_eq!(s, 401);
    assert!(b["error"]["message"].as_str().unwrap().contains("expired"), "{b}");
    assert_eq!(
        http.get(format!("{}/v1/media/{id}/variants/thumb.jpg", p.url)).send().await.unwrap().status(),
        401,
        "no key, no signature"
    );

    // The processed event (what webhooks carry as data) lists the very same variants.
    let events = p.read_topic("media.events", 3, Duration::from_secs(10));
    let processed =
        events.iter().find(|e| e.1["ce_type"] == "mediamill.media.processed.v1" && e.0 == id).expect("processed event");
    let data: Value = serde_json::from_slice(&processed.2).unwrap();
    assert_eq!(data["variants"], item["variants"]);

    // Batches: listed and paged; one with expected_count completes without a seal, and its stream ends.
    let mut made = vec![];
    for n in 0..3 {
        let (_, _, b) =
            json_of(p.post_json(&key, "/v1/batches", &json!({"name": format!("b{n}"), "expected_count": 2})).await)
                .await;
        made.push(b["id"].as_str().unwrap().to_string());
    }
    let (_, page1) = p.get(&key, "/v1/batches?limit=2").await;
    let next = page1["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = p.get(&key, &format!("/v1/batches?limit=2&cursor={next}")).await;
    let listed: Vec<Value> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["items"].as_array().unwrap())
        .map(|b| b["id"].clone())
        .collect();
    assert_eq!(listed, made.iter().map(|m| json!(m)).collect::<Vec<_>>());
    let other = p.key("someone-else");
    assert!(p.get(&other, "/v1/batches").await.1["items"].as_array().unwrap().is_empty());

    let bid = &made[0];
    let resp = http.get(format!("{}/v1/batches/{bid}/events", p.url)).bearer_auth(&key).send().await.unwrap();
    let form = reqwest::multipart::Form::new()
        .part("file", part("a.gif", "still.gif"))
        .part("file", part("b.png", "alpha.png"));
    assert_eq!(p.post_form(&key, &format!("/v1/batches/{bid}/media"), form).await.status(), 202);
    let (events, ended) = read_to_end(resp, Duration::from_secs(60)).await;
    assert!(ended, "batch stream kept going: {events:?}");
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("mediamill.batch.completed.v1"));
    let (_, b) = p.get(&key, &format!("/v1/batches/{bid}")).await;
    assert_eq!((b["status"].as_str(), b["total"].as_u64()), (Some("completed"), Some(2)), "{b}");
    let r = http
        .post(format!("{}/v1/batches/{bid}/media", p.url))
        .bearer_auth(&key)
        .body(fixture("still.gif"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "full at its expected count");
}

/// An upload with a Content-Length above one multipart part goes to S3 as one streaming PUT: stored whole and
/// byte for byte; a body that ends short of its Content-Length is refused and leaves no object and no record.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_upload_of_known_length_is_stored_whole_and_a_short_one_leaves_nothing() {
    use sha2::Digest;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let p = Pipeline::ingest_alone(&[]).await;
    let key = p.key("big");
    let tenant = mediamill_core::model::TenantId::from(p.tenant_id("big").await);
    let mut body = fixture("clip.mp4");
    let mut x = 0x9e37_79b9_u32;
    body.extend((0..(20 << 20) - body.len()).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    let http = reqwest::Client::new();
    let r = http.post(format!("{}/v1/media", p.url)).bearer_auth(&key).body(body.clone()).send().await.unwrap();
    let (status, _, media) = json_of(r).await;
    assert_eq!(status, 202, "{media}");
    let id = mediamill_core::model::MediaId::from(media["id"].as_str().unwrap().to_string());
    let store = p.store().await;
    let stored = store.get(&mediamill_core::store::raw_key(&tenant, &id)).await.unwrap();
    assert_eq!(stored.len(), body.len());
    assert!(stored == body, "the stored object differs from what was sent");
    let (_, record) = p.get(&key, &format!("/v1/media/{id}")).await;
    assert_eq!(record["sha256"], hex::encode(sha2::Sha256::digest(&body)), "{record}");
    assert_eq!(record["size"], body.len(), "{record}");

    // Declares 20 MiB, sends 10, and stops sending (the connection stays open for the answer).
    let addr = p.url.trim_start_matches("http://").to_string();
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/media HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(&body[..10 << 20]).await.unwrap();
    c.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), c.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("upload_interrupted"), "{answer}");
    let (_, list) = p.get(&key, "/v1/media").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "only the whole upload is recorded: {list}");
    let raw = format!("raw/{tenant}/");
    assert_eq!(store.delete_prefix(&raw).await.unwrap(), 1, "only the whole upload's object is stored");
}

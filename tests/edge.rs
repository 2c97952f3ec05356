//! The public edge holds against one abusive client with a valid key: bodies are cut at their bound before
//! they are buffered (ingest's memory stays flat), slow bodies and slow headers are cut, connections and
//! concurrent uploads are capped, and every refusal names its limit. On the real stack.

mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::Pipeline;

/// A body of `total` bytes made on the fly from `chunk`, after `head`: nothing of it is held in memory.
fn endless(head: &'static [u8], chunk: &'static [u8], total: usize) -> reqwest::Body {
    let n = total / chunk.len();
    let s = futures::stream::iter(
        std::iter::once(Bytes::from_static(head)).chain((0..n).map(move |_| Bytes::from_static(chunk))),
    )
    .map(Ok::<_, std::io::Error>);
    reqwest::Body::wrap_stream(s)
}

use futures::StreamExt;

/// Sends a request; the answer's (status, error code, headers), or None when the server cut the connection
/// before answering (allowed only where noted).
async fn answer(req: reqwest::RequestBuilder) -> Option<(u16, String, reqwest::header::HeaderMap)> {
    let r = req.send().await.ok()?;
    let (s, h) = (r.status().as_u16(), r.headers().clone());
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    Some((s, body["error"]["code"].as_str().unwrap_or("").to_string(), h))
}

const MIB: u64 = 1024;

#[tokio::test(flavor = "multi_thread")]
async fn huge_bodies_are_cut_at_their_bound_and_memory_stays_flat() {
    let p = Pipeline::start(&[]).await;
    let key = p.key("abuser");
    let http = reqwest::Client::new();
    let before = p.ingest_peak_rss_kib();

    // 300 MB of "JSON" without a Content-Length: cut after limits.max_json_bytes.
    let body = endless(b"{\"url\": \"", &[b'a'; 64 * 1024], 300 << 20);
    let r = answer(
        http.post(format!("{}/v1/webhooks", p.url))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    let (s, code, _) = r.expect("an answer, not a dropped connection");
    assert_eq!((s, code.as_str()), (413, "too_large"));

    // A multipart part whose header section never ends (300 MB of one header line).
    let body =
        endless(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"", &[b'a'; 64 * 1024], 300 << 20);
    let r = answer(
        http.post(format!("{}/v1/media", p.url))
            .bearer_auth(&key)
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(body),
    )
    .await;
    let (s, code, _) = r.expect("an answer");
    assert_eq!((s, code.as_str()), (413, "part_header_too_large"));

    // Text before the first boundary, likewise.
    let body = endless(b"", &[b'p'; 64 * 1024], 300 << 20);
    let r = answer(
        http.post(format!("{}/v1/batches", p.url))
            .bearer_auth(&key)
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(body),
    )
    .await;
    // POST /v1/batches reads JSON: the multipart guard or the JSON bound, whichever trips first, with a 413.
    assert_eq!(r.expect("an answer").0, 413);

    // A batch request with more parts than the bound (max_parts_per_request files, as many again of other
    // fields): refused as the parts arrive, naming the limit.
    let batch = p.create(&key, "/v1/batches", None).await;
    let mut many = Vec::new();
    for i in 0..2100 {
        many.extend_from_slice(
            format!("--XyZ\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n").as_bytes(),
        );
    }
    many.extend_from_slice(b"--XyZ--\r\n");
    let r = answer(
        http.post(format!("{}/v1/batches/{batch}/media", p.url))
            .bearer_auth(&key)
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(many),
    )
    .await;
    let (s, code, _) = r.expect("an answer");
    assert_eq!((s, code.as_str()), (413, "too_many_parts"));

    let after = p.ingest_peak_rss_kib();
    assert!(after < 150 * MIB, "ingest peaked at {} MiB (before: {} MiB)", after / 1024, before / 1024);
    // Still serving.
    assert_eq!(p.get(&key, "/v1/media").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trickling_body_is_cut_and_a_slow_header_closes_the_connection() {
    let p = Pipeline::start(&[
        ("MEDIAMILL_LIMITS__BODY_IDLE_SECS", "2"),
        ("MEDIAMILL_LIMITS__MIN_BODY_BYTES_PER_SEC", "1024"),
        ("MEDIAMILL_SERVER__HEADER_READ_TIMEOUT_SECS", "2"),
    ])
    .await;
    let key = p.key("slowpoke");
    // One byte every 300 ms: never idle for 2 s, but far below 1 KiB/s.
    let s = futures::stream::unfold(0u32, |i| async move {
        if i > 100 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), i + 1))
    });
    let started = Instant::now();
    let r = answer(
        reqwest::Client::new()
            .post(format!("{}/v1/media", p.url))
            .bearer_auth(&key)
            .body(reqwest::Body::wrap_stream(s)),
    )
    .await;
    let (status, code, _) = r.expect("an answer");
    assert_eq!((status, code.as_str()), (408, "body_too_slow"));
    assert!(started.elapsed() < Duration::from_secs(25), "cut long before the 30 s the trickle would take");

    // A header section that never ends: the connection closes.
    let addr = p.url.trim_start_matches("http://").to_string();
    let mut c = TcpStream::connect(&addr).unwrap();
    c.write_all(b"POST /v1/media HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 256];
    let n = c.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "the connection stayed open: {text:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_and_concurrent_uploads_are_capped() {
    let p = Pipeline::start(&[
        ("MEDIAMILL_SERVER__MAX_CONNECTIONS", "3"),
        ("MEDIAMILL_LIMITS__MAX_CONCURRENT_UPLOADS", "1"),
        ("MEDIAMILL_LIMITS__MAX_CONCURRENT_ARCHIVES", "1"),
    ])
    .await;
    let key = p.key("greedy");
    let addr = p.url.trim_start_matches("http://").to_string();

    // One upload in progress holds the only upload slot: the next one answers 429 with Retry-After.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let gif = std::fs::read(harness::repo_root().join("fixtures/media/still.gif")).unwrap();
    tx.send(Ok(Bytes::from(gif[..gif.len() / 2].to_vec()))).await.unwrap();
    let url = p.url.clone();
    let k = key.clone();
    let first = tokio::spawn(async move {
        let body = reqwest::Body::wrap_stream(tokio_stream_of(rx));
        reqwest::Client::new()
            .post(format!("{url}/v1/media"))
            .bearer_auth(&k)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (s, code, h) =
        answer(reqwest::Client::new().post(format!("{}/v1/media", p.url)).bearer_auth(&key).body(gif.clone()))
            .await
            .unwrap();
    assert_eq!((s, code.as_str()), (429, "instance_busy"));
    assert!(h.contains_key("retry-after"));
    tx.send(Ok(Bytes::from(gif[gif.len() / 2..].to_vec()))).await.unwrap();
    drop(tx);
    assert_eq!(first.await.unwrap().unwrap(), 202, "the upload holding the slot completes");
    let (s, _, _) =
        answer(reqwest::Client::new().post(format!("{}/v1/media", p.url)).bearer_auth(&key).body(gif)).await.unwrap();
    assert_eq!(s, 202, "the slot is free again");

    // One archive spooling holds the only archive slot; a second archive answers 429 meanwhile.
    let batch = p.create(&key, "/v1/batches", None).await;
    let (atx, arx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    atx.send(Ok(Bytes::from_static(b"PK\x03\x04 the start of a zip"))).await.unwrap();
    let (url, k, b2) = (p.url.clone(), key.clone(), batch.clone());
    let spooling = tokio::spawn(async move {
        let body = reqwest::Body::wrap_stream(tokio_stream_of(arx));
        reqwest::Client::new()
            .post(format!("{url}/v1/batches/{b2}/archive"))
            .bearer_auth(&k)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (s, code, h) = answer(
        reqwest::Client::new()
            .post(format!("{}/v1/batches/{batch}/archive", p.url))
            .bearer_auth(&key)
            .body(vec![0u8; 10]),
    )
    .await
    .unwrap();
    assert_eq!((s, code.as_str()), (429, "instance_busy"));
    assert!(h.contains_key("retry-after"));
    drop(atx);
    assert_eq!(spooling.await.unwrap().unwrap(), 400, "the held archive was not a zip after all");

    // Three kept-alive connections fill the cap (each proven served; one refused while an earlier client's
    // connection was still closing is opened again); a fourth is closed at once.
    let served = |c: &mut TcpStream| {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = [0u8; 512];
        c.read(&mut buf).unwrap_or(0) > 0
    };
    let mut idle: Vec<TcpStream> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while idle.len() < 3 {
        let mut c = TcpStream::connect(&addr).unwrap();
        if served(&mut c) {
            idle.push(c);
        } else {
            assert!(Instant::now() < deadline, "could not hold three connections");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut extra = TcpStream::connect(&addr).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 64];
    let n = extra.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "a connection over the cap was served: {:?}", String::from_utf8_lossy(&buf[..n]));
    drop(idle);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(reqwest::get(format!("{}/healthz", p.url)).await.unwrap().status(), 200, "served again under the cap");
}

fn tokio_stream_of(
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

#[tokio::test(flavor = "multi_thread")]
async fn each_tenant_keeps_to_its_own_quotas_and_counts() {
    let p = Pipeline::start(&[("MEDIAMILL_NOTIFY__ALLOW_PRIVATE_TARGETS", "true")]).await;
    let key = p.key("small");
    let other = p.key("roomy");
    let gif = std::fs::read(harness::repo_root().join("fixtures/media/still.gif")).unwrap();
    let limits =
        ["--limit", "media_count=2", "--limit", "stored_bytes=1M", "--limit", "webhooks=1", "--limit", "sse_streams=1"];
    let out = p.run(&[&["tenants", "set", "small"][..], &limits].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8_lossy(&p.run(&["tenants", "show", "small"]).stdout).to_string();
    assert!(shown.contains("media_count = 2 (own)") && shown.contains("requests_per_sec = 100 (default)"), "{shown}");
    let http = reqwest::Client::new();
    let up = |k: &str, body: Vec<u8>| http.post(format!("{}/v1/media", p.url)).bearer_auth(k.to_string()).body(body);

    // media_count: two fit, the third is refused naming the quota; deleting one makes room again.
    let mut ids = vec![];
    for _ in 0..2 {
        let (s, _, _) = answer(up(&key, gif.clone())).await.unwrap();
        assert_eq!(s, 202);
    }
    let (s, code, _) = answer(up(&key, gif.clone())).await.unwrap();
    assert_eq!((s, code.as_str()), (413, "quota_exceeded"));
    let (_, list) = p.get(&key, "/v1/media").await;
    ids.extend(list["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()));
    assert_eq!(ids.len(), 2);
    assert_eq!(
        http.delete(format!("{}/v1/media/{}", p.url, ids[0])).bearer_auth(&key).send().await.unwrap().status(),
        204
    );
    // stored_bytes: 1 MiB; a 2 MiB upload is over it (checked by Content-Length first, and by size at the end).
    let (s, code, _) = answer(up(&key, vec![0xFF; 2 << 20])).await.unwrap();
    assert_eq!((s, code.as_str()), (413, "quota_exceeded"));
    let (s, _, _) = answer(up(&key, gif.clone())).await.unwrap();
    assert_eq!(s, 202, "room again after a delete");
    // Another tenant is not touched by any of it.
    for _ in 0..3 {
        assert_eq!(answer(up(&other, gif.clone())).await.unwrap().0, 202);
    }

    // webhooks: one endpoint, the second refused.
    let hook = |k: &str| {
        http.post(format!("{}/v1/webhooks", p.url))
            .bearer_auth(k.to_string())
            .json(&serde_json::json!({"url": "http://127.0.0.1:9/h"}))
    };
    assert_eq!(answer(hook(&key)).await.unwrap().0, 201);
    let (s, code, _) = answer(hook(&key)).await.unwrap();
    assert_eq!((s, code.as_str()), (413, "quota_exceeded"));

    // sse_streams: one open stream; a second is refused while the first is open, and allowed once it closed.
    let (_, b) = p.get(&key, "/v1/media").await;
    let open_id = b["items"][0]["id"].as_str().unwrap().to_string();
    let (_, batch) = {
        let r = http.post(format!("{}/v1/batches", p.url)).bearer_auth(&key).send().await.unwrap();
        (r.status(), r.json::<serde_json::Value>().await.unwrap())
    };
    let bid = batch["id"].as_str().unwrap();
    let first = http.get(format!("{}/v1/batches/{bid}/events", p.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let (s, code, _) =
        answer(http.get(format!("{}/v1/media/{open_id}/events", p.url)).bearer_auth(&key)).await.unwrap();
    assert_eq!((s, code.as_str()), (429, "too_many_concurrent"));
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = http.get(format!("{}/v1/batches/{bid}/events", p.url)).bearer_auth(&key).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the closed stream's slot never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

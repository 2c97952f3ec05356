//! Resumable uploads (tus 1.0) on the real stack: tuspy, the tus project's Python client, uploads half a file,
//! ingest is killed, and a fresh client finishes the upload through another ingest instance; the protocol's
//! refusals (checksum, offset, size, version, type, expiry, termination, other tenants) each with its status.

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use futures::StreamExt;
use harness::{repo_root, Pipeline};
use sha2::Digest;

const MIB: usize = 1024 * 1024;

fn python() -> String {
    std::env::var("MEDIAMILL_TEST_PYTHON").expect("MEDIAMILL_TEST_PYTHON: run through scripts/test.sh")
}

/// A JPEG of `size` bytes: a real photo followed by noise, which decoders ignore after the image's end.
fn big_jpeg(dir: &Path, size: usize) -> PathBuf {
    let mut bytes = std::fs::read(repo_root().join("fixtures/media/progressive.jpg")).unwrap();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while bytes.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(size);
    let path = dir.join(format!("big-{size}.jpg"));
    std::fs::write(&path, &bytes).unwrap();
    path
}

fn tuspy(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(repo_root().join("tests/clients/tus_client.py"))
        .args(args)
        .output()
        .expect("run tuspy");
    assert!(out.status.success(), "tuspy {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A tus request with the key and the protocol version.
fn tus(method: reqwest::Method, url: &str, key: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().request(method, url).bearer_auth(key).header("tus-resumable", "1.0.0")
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

async fn create(p: &Pipeline, key: &str, length: usize, metadata: &str) -> reqwest::Response {
    tus(reqwest::Method::POST, &format!("{}/v1/uploads", p.url), key)
        .header("upload-length", length.to_string())
        .header("upload-metadata", metadata)
        .send()
        .await
        .unwrap()
}

async fn patch(url: &str, key: &str, offset: usize, body: Vec<u8>) -> reqwest::RequestBuilder {
    tus(reqwest::Method::PATCH, url, key)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(body)
}

async fn head_offset(url: &str, key: &str) -> (u16, String) {
    let r = tus(reqwest::Method::HEAD, url, key).send().await.unwrap();
    (r.status().as_u16(), header(&r, "upload-offset"))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test(flavor = "multi_thread")]
async fn tuspy_resumes_through_another_ingest_after_a_restart() {
    let mut p = Pipeline::start(&[("MEDIAMILL_UPLOADS__PART_MIB", "5")]).await;
    let key = p.key("tus");
    let file = big_jpeg(&p.dir, 12 * MIB + 12_345);
    let bytes = std::fs::read(&file).unwrap();

    // The first half, in 3 MiB requests with sha1 checksums: one whole part goes to S3, the rest is a tail.
    let upload = tuspy(&[
        "start",
        &p.url,
        &key,
        file.to_str().unwrap(),
        &(7 * MIB + 1000).to_string(),
        &(3 * MIB).to_string(),
        "1",
    ]);
    assert!(upload.starts_with(&format!("{}/v1/uploads/", p.url)), "{upload}");
    let (status, offset) = head_offset(&upload, &key).await;
    assert_eq!((status, offset.parse::<usize>().unwrap()), (200, 7 * MIB + 1000), "tuspy stops exactly there");

    // Ingest goes away; another instance on another port takes the rest.
    p.ingest.kill().unwrap();
    p.ingest.wait().unwrap();
    let (_second, other) = p.second_ingest().await;
    let moved = upload.replace(&p.url, &other);
    let offset = tuspy(&["resume", &other, &key, file.to_str().unwrap(), &moved, &(4 * MIB).to_string()]);
    assert_eq!(offset.parse::<usize>().unwrap(), bytes.len());

    // The finished upload names its media item, which is processed from exactly the bytes sent.
    let r = tus(reqwest::Method::HEAD, &moved, &key).send().await.unwrap();
    let media = header(&r, "media-id");
    assert!(!media.is_empty(), "HEAD of a finished upload names its item");
    assert_eq!(header(&r, "media-location"), format!("{other}/v1/media/{media}"));
    p.url = other;
    let item = p.settle(&key, &media).await;
    assert_eq!(item["status"], "processed", "{item}\n{}", p.log("worker"));
    assert_eq!(item["filename"], "resumed.jpg");
    assert_eq!(item["size"], bytes.len() as u64);
    assert_eq!(item["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));
    // Nothing of the upload is left in the store but the raw object.
    assert_eq!(p.store().await.incomplete_writes("resumable/").await.unwrap(), 0, "no parted write is left");
}

fn tus_js(args: &[&str]) -> String {
    let out = Command::new("node")
        .arg(repo_root().join("tests/clients/node/tus_js.mjs"))
        .args(args)
        .output()
        .expect("run node (tests/clients/node: npm ci)");
    assert!(out.status.success(), "tus-js-client {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn tus_js_client_resumes_through_another_ingest_after_a_restart() {
    let mut p = Pipeline::start(&[("MEDIAMILL_UPLOADS__PART_MIB", "5")]).await;
    let key = p.key("tus-js");
    let file = big_jpeg(&p.dir, 7 * MIB + 77);
    let bytes = std::fs::read(&file).unwrap();
    let upload = tus_js(&["start", &p.url, &key, file.to_str().unwrap(), &(3 * MIB).to_string()]);
    let (status, offset) = head_offset(&upload, &key).await;
    assert_eq!((status, offset.parse::<usize>().unwrap()), (200, 3 * MIB), "three 1 MiB requests, then the abort");
    p.ingest.kill().unwrap();
    p.ingest.wait().unwrap();
    let (_second, other) = p.second_ingest().await;
    let moved = upload.replace(&p.url, &other);
    let done: serde_json::Value =
        serde_json::from_str(&tus_js(&["resume", &other, &key, file.to_str().unwrap(), &moved])).unwrap();
    let media = done["media_id"].as_str().expect("the last response names the item").to_string();
    p.url = other;
    let item = p.settle(&key, &media).await;
    assert_eq!(item["status"], "processed", "{item}");
    assert_eq!((item["size"].as_u64(), item["filename"].as_str()), (Some(bytes.len() as u64), Some("from-node.jpg")));
    assert_eq!(item["sha256"], hex::encode(sha2::Sha256::digest(&bytes)), "read back: requests came to two instances");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_protocol_refuses_what_is_wrong_and_keeps_what_is_right() {
    let p = Pipeline::start(&[("MEDIAMILL_UPLOADS__PART_MIB", "5")]).await;
    let key = p.key("tus");
    let photo = std::fs::read(repo_root().join("fixtures/media/progressive.jpg")).unwrap();
    let n = photo.len();

    // OPTIONS says what is spoken, without a key.
    let r =
        reqwest::Client::new().request(reqwest::Method::OPTIONS, format!("{}/v1/uploads", p.url)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "tus-version"), "1.0.0");
    assert!(header(&r, "tus-extension").contains("checksum"));
    assert_eq!(header(&r, "tus-max-size"), (4u64 << 30).to_string());

    // Creation refusals: no key, wrong version, no length, over every limit, bad metadata, a sealed batch.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/uploads", p.url))
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/uploads", p.url))
        .bearer_auth(&key)
        .header("tus-resumable", "0.2.2")
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "tus-version")), (412, "1.0.0".into()));
    let r = tus(reqwest::Method::POST, &format!("{}/v1/uploads", p.url), &key).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = create(&p, &key, (4usize << 30) + 1, "").await;
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("limits.max_video_bytes"), "{body}");
    for bad in ["filename !!!", "a b c", "x YQ==,x Yg=="] {
        assert_eq!(create(&p, &key, 10, bad).await.status(), 400, "{bad:?}");
    }
    let batch = p.create(&key, "/v1/batches", Some(serde_json::json!({"name": "b"}))).await;
    p.post_json(&key, &format!("/v1/batches/{batch}/seal"), &serde_json::json!({})).await;
    let r = create(&p, &key, n, &format!("batch_id {}", b64(&batch))).await;
    assert_eq!(r.status(), 409, "a sealed batch takes no upload");

    // An upload made in two requests, the second with a wrong checksum first.
    let r = create(&p, &key, n, &format!("filename {},idempotency_key {}", b64("two.jpg"), b64("k1"))).await;
    assert_eq!(r.status(), 201);
    let url = header(&r, "location");
    assert!(!header(&r, "upload-expires").is_empty());
    let r = patch(&url, &key, 0, photo[..5000].to_vec()).await.send().await.unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "upload-offset")), (204, "5000".into()));
    let wrong = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b"not these bytes"));
    let r = patch(&url, &key, 5000, photo[5000..].to_vec())
        .await
        .header("upload-checksum", format!("sha1 {wrong}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 460);
    assert_eq!(head_offset(&url, &key).await, (200, "5000".into()), "a mismatched request keeps nothing");
    // Offset mismatch, wrong content type, more bytes than declared.
    let r = patch(&url, &key, 4000, photo[4000..].to_vec()).await.send().await.unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "upload-offset")), (409, "5000".into()));
    let r = tus(reqwest::Method::PATCH, &url, &key)
        .header("upload-offset", "5000")
        .header("content-type", "application/octet-stream")
        .body(photo[5000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let mut too_much = photo[5000..].to_vec();
    too_much.push(0);
    assert_eq!(patch(&url, &key, 5000, too_much).await.send().await.unwrap().status(), 413);
    // Another tenant cannot see it.
    let other = p.key("someone-else");
    assert_eq!(head_offset(&url, &other).await.0, 404);
    assert_eq!(patch(&url, &other, 5000, photo[5000..].to_vec()).await.send().await.unwrap().status(), 404);
    // The right rest, with its right checksum, finishes it.
    let right = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(&photo[5000..]));
    let r = patch(&url, &key, 5000, photo[5000..].to_vec())
        .await
        .header("upload-checksum", format!("sha1 {right}"))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "upload-offset")), (204, n.to_string()));
    let media = header(&r, "media-id");
    let item = p.settle(&key, &media).await;
    assert_eq!((item["status"].as_str(), item["filename"].as_str()), (Some("processed"), Some("two.jpg")), "{item}");
    assert_eq!(item["sha256"], hex::encode(sha2::Sha256::digest(&photo)), "the running digest is the bytes'");
    // A finished upload takes no more bytes.
    assert_eq!(patch(&url, &key, n, vec![1]).await.send().await.unwrap().status(), 409);

    // Creation with upload, and the same idempotency key again: the same item.
    let r = tus(reqwest::Method::POST, &format!("{}/v1/uploads", p.url), &key)
        .header("upload-length", n.to_string())
        .header("upload-metadata", format!("idempotency_key {}", b64("k1")))
        .header("content-type", "application/offset+octet-stream")
        .body(photo.clone())
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "upload-offset")), (201, n.to_string()));
    assert_eq!(header(&r, "media-id"), media, "the idempotency key maps to the first item");

    // Bytes that are no media: refused by their first bytes, and the upload is gone.
    let r = create(&p, &key, 10_000, "").await;
    let url = header(&r, "location");
    let r = patch(&url, &key, 0, vec![b'x'; 10_000]).await.send().await.unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(head_offset(&url, &key).await.0, 404);

    // Termination: 204, then it is gone, and its parts with it.
    let big = big_jpeg(&p.dir, 6 * MIB);
    let big = std::fs::read(big).unwrap();
    let r = create(&p, &key, big.len(), "").await;
    let url = header(&r, "location");
    let r = patch(&url, &key, 0, big[..5 * MIB + 10].to_vec()).await.send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = tus(reqwest::Method::DELETE, &url, &key).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(head_offset(&url, &key).await.0, 404);
    assert_eq!(patch(&url, &key, 5 * MIB + 10, big[5 * MIB + 10..].to_vec()).await.send().await.unwrap().status(), 404);
    assert_eq!(p.store().await.incomplete_writes("resumable/").await.unwrap(), 0, "no parted write is left");
}

#[tokio::test(flavor = "multi_thread")]
async fn abandoned_uploads_expire_and_their_parts_are_removed() {
    let p = Pipeline::start(&[
        ("MEDIAMILL_UPLOADS__PART_MIB", "5"),
        ("MEDIAMILL_UPLOADS__EXPIRE_SECS", "3"),
        ("MEDIAMILL_UPLOADS__SWEEP_INTERVAL_SECS", "1"),
    ])
    .await;
    let key = p.key("tus");
    let big = std::fs::read(big_jpeg(&p.dir, 6 * MIB)).unwrap();
    let r = create(&p, &key, big.len(), "").await;
    let url = header(&r, "location");
    let r = patch(&url, &key, 0, big[..5 * MIB + 10].to_vec()).await.send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(p.store().await.incomplete_writes("resumable/").await.unwrap(), 1, "one part is in S3");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, _) = head_offset(&url, &key).await;
        if code == 404 {
            break;
        }
        assert!(code == 200 || code == 410, "HEAD of an expiring upload answered {code}");
        assert!(Instant::now() < deadline, "the upload never expired:\n{}", p.log("ingest"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(patch(&url, &key, 5 * MIB + 10, big[5 * MIB + 10..].to_vec()).await.send().await.unwrap().status(), 404);
    assert_eq!(p.store().await.incomplete_writes("resumable/").await.unwrap(), 0, "the sweeper aborted its parts");
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_1_gib_upload_keeps_ingest_memory_flat() {
    // Ingest alone: the item is recorded, nobody processes it.
    let p = Pipeline::ingest_alone(&[]).await;
    let key = p.key("big");
    let pid = p.ingest.id();
    let total: usize = 1 << 30;
    // A video's first bytes, then a deterministic filler, generated as it is sent (no 1 GiB in this process).
    let head = std::fs::read(repo_root().join("fixtures/media/clip.mp4")).unwrap();
    let byte_at = move |i: usize| if i < head.len() { head[i] } else { (i.wrapping_mul(2_654_435_761) >> 13) as u8 };
    let r = create(&p, &key, total, &format!("filename {}", b64("big.mp4"))).await;
    assert_eq!(r.status(), 201);
    let url = header(&r, "location");
    let before = rss_kib(pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let request = 256 * MIB;
    let mut media = String::new();
    for start in (0..total).step_by(request) {
        let byte_at = byte_at.clone();
        let chunks = futures::stream::iter((start..start + request).step_by(MIB))
            .map(move |c| Ok::<_, std::io::Error>(bytes::Bytes::from((c..c + MIB).map(&byte_at).collect::<Vec<u8>>())));
        let r = tus(reqwest::Method::PATCH, &url, &key)
            .header("upload-offset", start.to_string())
            .header("content-type", "application/offset+octet-stream")
            .header("content-length", request.to_string())
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{}", p.log("ingest"));
        media = header(&r, "media-id");
    }
    sampler.abort();
    let peak_mib = peak.load(std::sync::atomic::Ordering::Relaxed) / 1024;
    eprintln!("ingest resident memory: {} MiB before, {peak_mib} MiB at the peak", before / 1024);
    assert!(!media.is_empty(), "the last request names the item");
    let (status, item) = p.get(&key, &format!("/v1/media/{media}")).await;
    assert_eq!((status, item["size"].as_u64()), (200, Some(total as u64)), "{item}");
    assert!(peak_mib < 100, "ingest's resident memory peaked at {peak_mib} MiB (started at {} MiB)", before / 1024);
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_parts_stream_to_the_store_and_a_break_mid_part_resumes_from_its_start() {
    // Ingest alone: the item is recorded, nobody processes it. Parts are 8 MiB (uploads.part_mib).
    let p = Pipeline::ingest_alone(&[]).await;
    let key = p.key("streamed");
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(big_jpeg(dir.path(), 16 * MIB + 3000)).unwrap();
    let r = create(&p, &key, data.len(), &format!("filename {}", b64("streamed.jpg"))).await;
    assert_eq!(r.status(), 201);
    let url = header(&r, "location");

    // The first part goes through the spool (its type is sniffed from it).
    let r = patch(&url, &key, 0, data[..8 * MIB].to_vec()).await.send().await.unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "upload-offset")), (204, (8 * MIB).to_string()));

    // A request declaring the whole second part breaks off after 5 MiB: the part was streaming, so its bytes
    // are lost and the upload stays at the part's start (with the spool it would have kept them as a tail).
    let sent = data[8 * MIB..13 * MIB].to_vec();
    let chunks = futures::stream::iter(
        sent.chunks(MIB).map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
    )
    .chain(futures::stream::once(async { Err(std::io::Error::other("the phone went into a tunnel")) }));
    let broken = tus(reqwest::Method::PATCH, &url, &key)
        .header("upload-offset", (8 * MIB).to_string())
        .header("content-type", "application/offset+octet-stream")
        .header("content-length", (8 * MIB).to_string())
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    assert!(broken.is_err(), "the client saw its request fail");

    // The rest in one request: the second part and the short last one both stream. The broken request may
    // still hold its lease for a moment (423); the client retries from the offset HEAD gives.
    let deadline = Instant::now() + Duration::from_secs(20);
    let r = loop {
        let (status, offset) = head_offset(&url, &key).await;
        assert_eq!((status, offset.as_str()), (200, (8 * MIB).to_string().as_str()), "back at the part's start");
        let r = patch(&url, &key, 8 * MIB, data[8 * MIB..].to_vec())
            .await
            .header("content-length", (data.len() - 8 * MIB).to_string())
            .send()
            .await
            .unwrap();
        if r.status() != 423 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(r.status(), 204, "{}", p.log("ingest"));
    let media = header(&r, "media-id");
    let (status, item) = p.get(&key, &format!("/v1/media/{media}")).await;
    assert_eq!(status, 200);
    assert_eq!(item["size"].as_u64(), Some(data.len() as u64), "{item}");
    assert_eq!(item["sha256"].as_str(), Some(hex::encode(sha2::Sha256::digest(&data)).as_str()), "{item}");
}

#[tokio::test]
async fn requests_answered_before_their_part_is_stored_complete_the_item_in_order() {
    // Ingest alone. Each 8 MiB request after the first answers once its bytes are here; its part is stored
    // behind the answer while the next request follows with its own part (ingest/src/tus/finishing.rs).
    answered_requests_complete_the_item(&[]).await;
    // With room for one request storing behind its answer, the others store before they answer.
    answered_requests_complete_the_item(&[("MEDIAMILL_LIMITS__MAX_CONCURRENT_UPLOADS", "1")]).await;
}

async fn answered_requests_complete_the_item(env: &[(&str, &str)]) {
    let p = Pipeline::ingest_alone(env).await;
    let key = p.key("followed");
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(big_jpeg(dir.path(), 40 * MIB + 777)).unwrap();
    let r = create(&p, &key, data.len(), &format!("filename {}", b64("followed.jpg"))).await;
    assert_eq!(r.status(), 201);
    let url = header(&r, "location");
    let mut offset = 0;
    for (i, chunk) in data.chunks(8 * MIB).enumerate() {
        let r = patch(&url, &key, offset, chunk.to_vec()).await.send().await.unwrap();
        assert_eq!(r.status(), 204, "request {i}: {}", p.log("ingest"));
        offset += chunk.len();
        assert_eq!(header(&r, "upload-offset"), offset.to_string());
        if i == 2 {
            // HEAD right after an answer waits for its storing: the upload is where the answer said.
            let (status, at) = head_offset(&url, &key).await;
            assert_eq!((status, at), (200, offset.to_string()));
        }
        if offset == data.len() {
            let media = header(&r, "media-id");
            let (status, item) = p.get(&key, &format!("/v1/media/{media}")).await;
            assert_eq!(status, 200);
            assert_eq!(item["size"].as_u64(), Some(data.len() as u64), "{item}");
            assert_eq!(item["sha256"].as_str(), Some(hex::encode(sha2::Sha256::digest(&data)).as_str()), "{item}");
        }
    }
    // Every part was recorded in order: the stored object is the file (the item's digest above was this
    // instance's running one, so the object is read back too).
    let r = tus(reqwest::Method::HEAD, &url, &key).send().await.unwrap();
    let media = mediamill_core::model::MediaId::from(header(&r, "media-id"));
    let tenant = mediamill_core::model::TenantId::from(p.tenant_id("followed").await);
    let store = p.store().await;
    let mut body = store.open(&mediamill_core::store::resumable_key(&tenant, &media), None).await.unwrap().body;
    let mut stored = Vec::new();
    while let Some(c) = body.next().await {
        stored.extend_from_slice(&c.unwrap());
    }
    assert!(stored == data, "the stored object is the file ({} bytes stored, {} sent)", stored.len(), data.len());
    assert_eq!(store.incomplete_writes("resumable/").await.unwrap(), 0, "no parted write is left");
}

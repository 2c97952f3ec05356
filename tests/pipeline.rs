//! End to end on the real Kafka, SeaweedFS and PostgreSQL: upload → object store → outbox → Kafka →
//! image worker → variants and events.

mod harness;

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{bin, repo_root, Pipeline};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Every event on the pipeline's `media.events`, as (media id, ce_type, ce_id), in partition order.
fn read_media_events(p: &Pipeline, want: usize) -> Vec<(String, String, String)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &p.kafka)
        .set("group.id", format!("reader-{}", p.id))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let topic = format!("{}media.events", p.topic_prefix);
    let mut tpl = TopicPartitionList::new();
    for part in 0..3 {
        tpl.add_partition_offset(&topic, part, Offset::Beginning).expect("partition");
    }
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < want && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let mut h = BTreeMap::new();
            for x in m.headers().expect("CloudEvents headers").iter() {
                h.insert(x.key.to_string(), String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned());
            }
            for required in ["ce_id", "ce_type", "ce_source", "ce_time", "ce_specversion"] {
                assert!(h.contains_key(required), "event without {required}: {h:?}");
            }
            assert_eq!(h["ce_specversion"], "1.0");
            let body: serde_json::Value = serde_json::from_slice(m.payload().unwrap_or_default()).expect("JSON body");
            let media = body["media_id"].as_str().expect("media_id").to_string();
            assert_eq!(
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                Some(media.clone()),
                "keyed by media id"
            );
            out.push((media, h["ce_type"].clone(), h["ce_id"].clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn fixtures_pass_qa_and_events_arrive_in_order() {
    // No progress events, so every media item has exactly three.
    let p = Pipeline::start(&[("MEDIAMILL_VIDEO__PROGRESS_INTERVAL_SECS", "3600")]).await;
    let key = p.key("qa");
    let out = Command::new(bin())
        .args([
            "qa",
            repo_root().join("fixtures/media").to_str().unwrap(),
            "--url",
            &p.url,
            "--key",
            &key,
            "--timeout",
            "120",
        ])
        .output()
        .expect("run qa");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "qa failed:\n{table}\n{}\nworker:\n{}\nvideo:\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log("worker"),
        p.log("video")
    );
    assert!(table.contains(" 0 failed"), "{table}");

    // 18 processed (10 images, 6 videos, 2 audio) and 5 failed: uploaded → processing → processed|failed, in
    // that order, per media. 3 × 23 events.
    let events = read_media_events(&p, 69);
    let ids: HashSet<_> = events.iter().map(|e| e.2.clone()).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    let mut per_media: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (m, ty, _) in &events {
        per_media.entry(m.clone()).or_default().push(ty.clone());
    }
    assert_eq!(per_media.len(), 23, "{per_media:#?}");
    let (mut processed, mut failed) = (0, 0);
    for (m, types) in &per_media {
        let t: Vec<&str> =
            types.iter().map(|s| s.trim_start_matches("mediamill.media.").trim_end_matches(".v1")).collect();
        match t.as_slice() {
            ["uploaded", "processing", "processed"] => processed += 1,
            ["uploaded", "processing", "failed"] => failed += 1,
            other => panic!("{m}: events out of order: {other:?}"),
        }
    }
    assert_eq!((processed, failed), (18, 5));
}

#[tokio::test(flavor = "multi_thread")]
async fn variants_are_upright_stripped_and_typed() {
    let p = Pipeline::start(&[]).await;
    let key = p.key("photos");
    let (status, body) = p.upload(&key, "orient6.jpg").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "uploaded");
    let id = body["id"].as_str().unwrap().to_string();
    let item = p.settle(&key, &id).await;
    assert_eq!(item["status"], "processed", "{item}");
    assert_eq!((item["width"].as_u64(), item["height"].as_u64()), (Some(600), Some(900)), "EXIF orientation 6 applied");
    assert_eq!(item["variants"].as_array().unwrap().len(), 6, "3 sizes × JPEG and WebP");

    for (name, ct, ext) in
        [("thumb", "image/jpeg", "jpg"), ("thumb", "image/webp", "webp"), ("medium", "image/jpeg", "jpg")]
    {
        let r = reqwest::Client::new()
            .get(format!("{}/v1/media/{id}/variants/{name}.{ext}", p.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], ct);
        let path = p.dir.join(format!("{name}.{ext}"));
        std::fs::write(&path, r.bytes().await.unwrap()).unwrap();
        // Independent tools: ImageMagick for the size, exiftool for what metadata survived.
        let dims = Command::new("identify").args(["-format", "%w %h"]).arg(&path).output().expect("identify");
        let expected = if name == "thumb" { "171 256" } else { "600 900" };
        assert_eq!(String::from_utf8_lossy(&dims.stdout), expected, "{name}.{ext}");
        let gps = Command::new("exiftool").args(["-s3", "-GPS:all"]).arg(&path).output().expect("exiftool");
        assert!(gps.stdout.is_empty(), "GPS leaked into {name}.{ext}: {}", String::from_utf8_lossy(&gps.stdout));
    }

    // Range requests, for players that seek.
    let r = reqwest::Client::new()
        .get(format!("{}/v1/media/{id}/variants/thumb.jpg", p.url))
        .bearer_auth(&key)
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().len(), 100);

    // Delete removes the item from listings and its objects from the store.
    let r = reqwest::Client::new().delete(format!("{}/v1/media/{id}", p.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (status, item) = p.get(&key, &format!("/v1/media/{id}")).await;
    assert_eq!((status, &item["error"]["code"]), (410, &serde_json::json!("deleted")), "{item}");
    let (_, list) = p.get(&key, "/v1/media").await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_are_isolated_and_revoked_keys_stop_at_once() {
    let p = Pipeline::start(&[]).await;
    let a = p.key("alice");
    let b = p.key("bob");
    let (_, body) = p.upload(&a, "still.gif").await;
    let id = body["id"].as_str().unwrap().to_string();

    assert_eq!(
        p.get(&b, &format!("/v1/media/{id}")).await.0,
        404,
        "another tenant's media is not found, not forbidden"
    );
    assert_eq!(p.get(&b, &format!("/v1/media/{id}/variants/thumb")).await.0, 404);
    let (_, list) = p.get(&b, "/v1/media").await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let r = reqwest::Client::new().delete(format!("{}/v1/media/{id}", p.url)).bearer_auth(&b).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(p.get(&a, &format!("/v1/media/{id}")).await.0, 200, "still there for its owner");

    // GPS coordinates reach the record only for a tenant that opted in; both learn the photo had a position.
    let set = p.run(&["tenants", "set", "bob", "--keep-gps", "on"]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    assert!(!p.run(&["tenants", "set", "bob", "--keep-gps", "perhaps"]).status.success());
    let mut gps = vec![];
    for key in [&a, &b] {
        let (_, body) = p.upload(key, "orient6.jpg").await;
        let item = p.settle(key, body["id"].as_str().unwrap()).await;
        assert_eq!(item["metadata"]["gps_present"], true, "{item}");
        gps.push(item["metadata"]["gps"].clone());
    }
    assert!(gps[0].is_null(), "alice did not opt in: {}", gps[0]);
    let (lat, lon) = (gps[1]["latitude"].as_f64().unwrap(), gps[1]["longitude"].as_f64().unwrap());
    assert!((lat - 48.85).abs() < 1e-6 && (lon - 2.35).abs() < 1e-6, "{}", gps[1]);

    // Operators' endpoints need no key.
    let metrics = reqwest::get(format!("{}/metrics", p.url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("mediamill_uploads_total"), "{metrics}");
    let ready: serde_json::Value = reqwest::get(format!("{}/readyz", p.url)).await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"], serde_json::json!({"database": "ok", "store": "ok", "broker": "ok"}));

    // No key, a made-up key, then a revoked one: 401 with a JSON error.
    let r = reqwest::Client::new().get(format!("{}/v1/media", p.url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(p.get("mm_not-a-real-key", "/v1/media").await.0, 401);
    let listed = p.run(&["keys", "list", "--tenant", "alice"]);
    // Columns: tenant, id, prefix, created_at, revoked_at.
    let key_id =
        String::from_utf8_lossy(&listed.stdout).lines().nth(1).and_then(|l| l.split('\t').nth(1)).unwrap().to_string();
    assert!(p.run(&["keys", "revoke", &key_id]).status.success());
    let (status, body) = p.get(&a, "/v1/media").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_uploads_get_honest_errors_and_retries_are_idempotent() {
    let p = Pipeline::start(&[("MEDIAMILL_LIMITS__MAX_IMAGE_BYTES", "20000")]).await;
    let key = p.key("limits");
    let (status, body) = p.upload(&key, "orient6.jpg").await; // 27 752 bytes
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("limits.max_image_bytes") && msg.contains("20000"), "{msg}");
    assert_eq!(p.upload(&key, "empty.jpg").await.0, 400);
    let (status, body) = p.upload(&key, "text.jpg").await;
    assert_eq!((status, body["error"]["code"].as_str()), (415, Some("unsupported_media_type")));
    let (_, list) = p.get(&key, "/v1/media").await;
    assert!(list["items"].as_array().unwrap().is_empty(), "refused uploads leave no item: {list}");

    // Same Idempotency-Key twice: one item.
    let send = || async {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/media", p.url))
            .bearer_auth(&key)
            .header("idempotency-key", "retry-1")
            .body(std::fs::read(repo_root().join("fixtures/media/still.gif")).unwrap())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
    };
    let (s1, b1) = send().await;
    let (s2, b2) = send().await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(b1["id"], b2["id"]);

    // multipart/form-data with one file field.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(std::fs::read(repo_root().join("fixtures/media/alpha.png")).unwrap())
            .file_name("../../alpha.png"),
    );
    let r = p.post_form(&key, "/v1/media", form).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let item = p.settle(&key, &id).await;
    assert_eq!(item["filename"], "alpha.png", "path components stripped");
    assert_eq!(item["metadata"]["has_alpha"], true);

    let (_, list) = p.get(&key, "/v1/media?status=processed&limit=1").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(p.get(&key, "/v1/media?status=bogus").await.0, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gib_upload_streams_in_flat_memory() {
    let p = Pipeline::start(&[("MEDIAMILL_LIMITS__MAX_VIDEO_BYTES", "2147483648")]).await;
    let key = p.key("big");
    const TOTAL: u64 = 1 << 30;
    const CHUNK: usize = 1 << 20;
    // An MP4 signature followed by zeros: sniffed as video, never decoded here.
    let mut first = vec![0u8; CHUNK];
    first[..24].copy_from_slice(b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom");
    let chunks = (0..TOTAL / CHUNK as u64).map(move |i| {
        Ok::<_, std::io::Error>(if i == 0 {
            bytes::Bytes::from(first.clone())
        } else {
            bytes::Bytes::from(vec![0u8; CHUNK])
        })
    });
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = reqwest::Client::new()
        .post(format!("{}/v1/media", p.url))
        .bearer_auth(&key)
        .header("content-length", TOTAL)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let (_, item) = p.get(&key, &format!("/v1/media/{id}")).await;
    assert_eq!(item["size"], TOTAL);
    assert_eq!(item["kind"], "video");
    let peak_mib = p.ingest_peak_rss_kib() / 1024;
    eprintln!("ingest peak RSS after a 1 GiB upload: {peak_mib} MiB");
    assert!(peak_mib < 100, "ingest peak RSS {peak_mib} MiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn up_runs_every_role_on_the_real_parts() {
    // One `up` process instead of separate roles, pointed at Kafka, S3 and PostgreSQL by its flags.
    let mut p = Pipeline::prepare(&[]).await;
    let get = |k: &str| p.env.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.clone()).unwrap();
    let port: u16 = get("MEDIAMILL_SERVER__LISTEN").rsplit(':').next().unwrap().parse().unwrap();
    let flags = [
        "up".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--kafka".into(),
        p.kafka.clone(),
        "--s3-endpoint".into(),
        get("MEDIAMILL_STORE__S3__ENDPOINT"),
        "--database-url".into(),
        get("MEDIAMILL_DATABASE__URL"),
    ];
    // Only what has no flag stays in the environment.
    p.env.retain(|(k, _)| {
        ![
            "MEDIAMILL_SERVER__LISTEN",
            "MEDIAMILL_KAFKA__BROKERS",
            "MEDIAMILL_STORE__S3__ENDPOINT",
            "MEDIAMILL_DATABASE__URL",
            "MEDIAMILL_STORE__BACKEND",
        ]
        .contains(&k.as_str())
    });
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    p.ingest = p.spawn("up", &args);
    p.wait_ready().await;
    p.env.push(("MEDIAMILL_DATABASE__URL".into(), flags[8].clone()));
    let key = p.key("up-tenant");
    let (status, body) = p.upload(&key, "still.gif").await;
    assert_eq!(status, 202);
    let item = p.settle(&key, body["id"].as_str().unwrap()).await;
    assert_eq!(item["status"], "processed", "{item}\n{}", p.log("up"));
}

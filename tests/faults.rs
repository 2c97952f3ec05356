//! Fault tests: a worker killed with SIGKILL mid-batch, and Kafka stopped while uploads go on. Nothing an
//! upload was answered 202 for may be lost, and nothing may count twice.

mod harness;

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{repo_root, Pipeline};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("fixtures/media").join(name)).expect("fixture")
}

/// Ids of the tenant's media in one state, as the API lists them.
async fn media_in(p: &Pipeline, key: &str, status: &str) -> HashSet<String> {
    let (_, list) = p.get(key, &format!("/v1/media?status={status}&limit=500")).await;
    list["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_a_worker_mid_batch_loses_nothing_and_another_finishes_its_jobs() {
    let mut p = Pipeline::start(&[("MEDIAMILL_WORKER__CONCURRENCY", "2")]).await;
    let key = p.key("faults");
    let http = reqwest::Client::new();
    let id = p.create(&key, "/v1/batches", Some(serde_json::json!({"expected_count": 300}))).await;
    for round in 0..10 {
        let mut form = reqwest::multipart::Form::new();
        for i in 0..30 {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(fixture("progressive.jpg")).file_name(format!("{round}-{i}.jpg")),
            );
        }
        let r = p.post_form(&key, &format!("/v1/batches/{id}/media"), form).await;
        assert_eq!(r.status(), 202);
    }
    http.post(format!("{}/v1/batches/{id}/seal", p.url)).bearer_auth(&key).send().await.unwrap();

    // Kill the only worker once it has finished some jobs and started others. With no worker alive the
    // database stands still, so the items it says are `processing` are exactly the ones in flight on the
    // killed worker: started (offsets not committed), never finished.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if !media_in(&p, &key, "processed").await.is_empty() && !media_in(&p, &key, "processing").await.is_empty() {
            p.worker.as_mut().unwrap().kill().unwrap();
            p.worker.as_mut().unwrap().wait().unwrap();
            break;
        }
        assert!(Instant::now() < deadline, "the worker never had a job in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let in_flight = media_in(&p, &key, "processing").await;
    assert!(!in_flight.is_empty(), "the killed worker had jobs in flight");

    // Another worker joins the group, is given the dead one's partitions and finishes everything.
    let second = p.spawn("worker2", &["worker", "--kind", "image"]);
    let deadline = Instant::now() + Duration::from_secs(240);
    let b = loop {
        let (_, b) = p.get(&key, &format!("/v1/batches/{id}?limit=1000")).await;
        if b["status"] == "completed" {
            break b;
        }
        assert!(Instant::now() < deadline, "batch never completed: {}\nworker2:\n{}", b["counts"], p.log("worker2"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(b["counts"], serde_json::json!({"uploaded": 0, "processing": 0, "processed": 300, "failed": 0}));
    assert_eq!(b["outcome"], "completed");
    for m in &in_flight {
        // Only the second worker was alive to finish it: its job was redelivered.
        let (_, item) = p.get(&key, &format!("/v1/media/{m}")).await;
        assert_eq!(item["status"], "processed");
        // Every variant object is there.
        for v in item["variants"].as_array().unwrap() {
            let r = http.get(v["url"].as_str().unwrap()).bearer_auth(&key).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", v["url"]);
        }
    }
    let (_, list) = p.get(&key, "/v1/media?status=processed&limit=500").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 300, "each item exactly once");
    assert!(items.iter().all(|i| i["variants"].as_array().unwrap().len() == 6));
    let completed = p
        .read_topic("batch.events", 10_000, Duration::from_secs(5))
        .into_iter()
        .filter(|e| e.1["ce_type"] == "mediamill.batch.completed.v1")
        .count();
    assert_eq!(completed, 1);
    drop(second);
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_accepted_while_kafka_is_down_are_processed_when_it_returns() {
    // Its own Kafka, so stopping it disturbs no other test.
    let port = harness::free_port_string();
    let kafka = harness::OwnServer::new("kafka", &[&port]);
    kafka.start();
    let brokers = format!("127.0.0.1:{port}");
    // Kafka 4 keeps a classic group's members across a restart; a consumer whose session timed out during the
    // outage rejoins as a new member, and the group waits up to the rebalance timeout (max.poll.interval.ms,
    // 5 min by default) for the old one before assigning anything. A short one keeps the test's waits short;
    // what it checks is that nothing accepted is lost (docs/operations.md says what operators see).
    let p = Pipeline::start(&[
        ("MEDIAMILL_KAFKA__BROKERS", brokers.as_str()),
        ("MEDIAMILL_KAFKA__MAX_POLL_INTERVAL_MS", "20000"),
    ])
    .await;
    let key = p.key("outage");
    let (_, before) = p.upload(&key, "still.gif").await;
    assert_eq!(p.settle(&key, before["id"].as_str().unwrap()).await["status"], "processed");

    kafka.stop();
    let started = Instant::now();
    let mut ids = Vec::new();
    while started.elapsed() < Duration::from_secs(20) {
        let (status, body) = p.upload(&key, "still.gif").await;
        assert_eq!(status, 202, "ingest never waits on Kafka: {body}");
        ids.push(body["id"].as_str().unwrap().to_string());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(ids.len() >= 20);
    let (_, one) = p.get(&key, &format!("/v1/media/{}", ids[0])).await;
    assert_eq!(one["status"], "uploaded", "nothing can be processed while the broker is down");

    kafka.start();
    for id in &ids {
        let item = p.settle_within(&key, id, Duration::from_secs(120)).await;
        assert_eq!(item["status"], "processed", "{item}");
    }
    drop(p);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_the_worker_and_exits_cleanly() {
    let mut p = Pipeline::start(&[("MEDIAMILL_WORKER__CONCURRENCY", "2")]).await;
    let key = p.key("term");
    let mut ids = Vec::new();
    for _ in 0..12 {
        let (_, b) = p.upload(&key, "progressive.jpg").await;
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while media_in(&p, &key, "processing").await.is_empty() {
        assert!(Instant::now() < deadline, "worker never started a job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = p.worker.as_ref().unwrap().id();
    let sent = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    let status = p.worker.as_mut().unwrap().wait().unwrap();
    assert!(status.success(), "a worker stopped by SIGTERM exits 0, got {status:?}");
    assert!(sent.elapsed() < Duration::from_secs(30), "drain deadline respected");
    // Whatever it had not finished is handed back: a new worker completes everything, each once.
    p.worker = Some(p.spawn("worker-after", &["worker", "--kind", "image"]));
    for id in &ids {
        assert_eq!(p.settle(&key, id).await["status"], "processed");
    }
    let (_, list) = p.get(&key, "/v1/media?limit=100").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_store_outage_fails_uploads_cleanly_and_jobs_ride_it_out() {
    // Its own SeaweedFS, so stopping it disturbs no other test.
    let port = harness::free_port_string();
    let s3 = harness::OwnServer::new("seaweedfs", &[&port, "outage-key", "outage-secret"]);
    s3.start();
    let endpoint = format!("http://127.0.0.1:{port}");
    let p = Pipeline::start(&[
        ("MEDIAMILL_STORE__S3__ENDPOINT", endpoint.as_str()),
        ("MEDIAMILL_STORE__S3__ACCESS_KEY", "outage-key"),
        ("MEDIAMILL_STORE__S3__SECRET_KEY", "outage-secret"),
        ("MEDIAMILL_WORKER__CONCURRENCY", "1"),
        // Two quick attempts, then tiers of 5, 10 and 20 s: 35 s in all, more than the 20 s outage.
        ("MEDIAMILL_WORKER__MAX_ATTEMPTS", "2"),
        ("MEDIAMILL_WORKER__RETRY_TIERS_SECS", "[5, 10, 20]"),
    ])
    .await;
    let key = p.key("s3down");
    // Queue work, then take the store away while it is being processed.
    let mut ids = Vec::new();
    for _ in 0..8 {
        let (status, b) = p.upload(&key, "progressive.jpg").await;
        assert_eq!(status, 202);
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    s3.stop();
    let (status, body) = p.upload(&key, "still.gif").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable");
    let (_, list) = p.get(&key, "/v1/media?limit=100").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 8, "a refused upload leaves no item behind");
    // /readyz (no key needed) says which part is down, and no more: the reason stays in the log.
    tokio::time::sleep(Duration::from_millis(2100)).await; // past the readiness cache
    let r = reqwest::get(format!("{}/readyz", p.url)).await.unwrap();
    assert_eq!(r.status(), 503);
    let ready: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        ready["checks"],
        serde_json::json!({"database": "ok", "store": "unavailable", "broker": "ok"}),
        "{ready}"
    );
    tokio::time::sleep(Duration::from_secs(18)).await;
    s3.start();
    for id in &ids {
        let item = p.settle(&key, id).await;
        assert_eq!(item["status"], "processed", "{item}");
    }
    // They waited on the retry tiers, not in the worker.
    let parked = p.read_topic("media.jobs.retry.5s", 8, Duration::from_secs(10));
    assert!(!parked.is_empty(), "no job went through the first retry tier");
    assert!(parked.iter().all(|m| m.1.get("mm_retry_origin").is_some_and(|o| o.ends_with("media.jobs.image"))));
    drop(p);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_restart_during_processing_is_ridden_out() {
    // Its own PostgreSQL cluster, so restarting it disturbs no other test.
    let port = harness::free_port_string();
    let pg = harness::OwnServer::new("postgres", &[&port, "mediamill"]);
    pg.start();
    let url = format!("postgres://postgres@127.0.0.1:{port}/mediamill");
    let p = Pipeline::start(&[("MEDIAMILL_DATABASE__URL", url.as_str()), ("MEDIAMILL_WORKER__CONCURRENCY", "1")]).await;
    let key = p.key("pgdown");
    let mut ids = Vec::new();
    for _ in 0..8 {
        let (status, b) = p.upload(&key, "progressive.jpg").await;
        assert_eq!(status, 202);
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    pg.stop();
    let (status, body) = p.upload(&key, "still.gif").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable");
    tokio::time::sleep(Duration::from_secs(5)).await;
    pg.start();
    for id in &ids {
        let item = p.settle(&key, id).await;
        assert_eq!(item["status"], "processed", "{item}");
    }
    drop(p);
}

#[tokio::test(flavor = "multi_thread")]
async fn replaying_every_job_changes_no_output_and_no_count() {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let p = Pipeline::start(&[]).await;
    let key = p.key("replay");
    let http = reqwest::Client::new();
    let id = p.create(&key, "/v1/batches", None).await;
    let mut form = reqwest::multipart::Form::new();
    for (i, name) in ["still.gif", "alpha.png", "truncated.jpg", "orient6.jpg"].iter().enumerate() {
        form = form.part("file", reqwest::multipart::Part::bytes(fixture(name)).file_name(format!("{i}-{name}")));
    }
    p.post_form(&key, &format!("/v1/batches/{id}/media"), form).await;
    http.post(format!("{}/v1/batches/{id}/seal", p.url)).bearer_auth(&key).send().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        let (_, b) = p.get(&key, &format!("/v1/batches/{id}")).await;
        if b["status"] == "completed" {
            break b;
        }
        assert!(Instant::now() < deadline, "{b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, media_before) = p.get(&key, "/v1/media?limit=100").await;

    // Deliver every job again, from the first offset on.
    let jobs = p.read_topic("media.jobs.image", 1000, Duration::from_secs(5));
    assert_eq!(jobs.len(), 4);
    let producer: FutureProducer = rdkafka::ClientConfig::new().set("bootstrap.servers", &p.kafka).create().unwrap();
    let topic = format!("{}media.jobs.image", p.topic_prefix);
    for (k, h, body) in &jobs {
        let mut hs = OwnedHeaders::new();
        for (hk, hv) in h {
            hs = hs.insert(Header { key: hk, value: Some(hv.as_bytes()) });
        }
        producer.send(FutureRecord::to(&topic).key(k).payload(body).headers(hs), Duration::from_secs(5)).await.unwrap();
    }
    // Not a pause: wait until the workers have committed past every replayed job, i.e. handled them all.
    p.wait_caught_up("workers.image", &["media.jobs.image"]).await;
    let (_, after) = p.get(&key, &format!("/v1/batches/{id}")).await;
    assert_eq!((after["counts"].clone(), after["round"].clone()), (before["counts"].clone(), before["round"].clone()));
    let (_, media_after) = p.get(&key, "/v1/media?limit=100").await;
    assert_eq!(media_after, media_before, "outputs, states and timestamps unchanged");
    let events = p.read_topic("media.events", 1000, Duration::from_secs(3));
    let processed = events.iter().filter(|e| e.1["ce_type"] == "mediamill.media.processed.v1").count();
    assert_eq!(processed, 3, "no second processed event");
}

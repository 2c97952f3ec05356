//! Jobs that cannot be processed: poison messages and jobs failing through every retry tier end on the
//! dead-letter topic with their reason while the worker carries on, and `mediamill dlq` lists and requeues them.

mod harness;

use std::time::{Duration, Instant};

use harness::Pipeline;

#[tokio::test(flavor = "multi_thread")]
async fn poison_messages_are_dead_lettered_and_the_worker_carries_on() {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let mut p = Pipeline::start(&[]).await;
    // The image worker of this test serves its metrics.
    let ops = format!("127.0.0.1:{}", harness::free_port_string());
    if let Some(mut w) = p.worker.take() {
        let _ = w.kill();
        let _ = w.wait();
    }
    p.worker = Some(p.spawn_with("worker", &["worker", "--kind", "image"], &[("MEDIAMILL_SERVER__OPS_LISTEN", &ops)]));
    let key = p.key("poison");
    let producer: FutureProducer = rdkafka::ClientConfig::new().set("bootstrap.servers", &p.kafka).create().unwrap();
    let jobs = format!("{}media.jobs.image", p.topic_prefix);
    // Garbage, a JSON body without CloudEvents headers, and a job with a broken body.
    type Message<'a> = (Vec<u8>, Vec<(&'a str, &'a str)>);
    let bad: Vec<Message> = vec![
        (vec![0xff, 0x00, 0x13, 0x37], vec![]),
        (br#"{"media_id": "x"}"#.to_vec(), vec![]),
        (
            b"{not json".to_vec(),
            vec![
                ("ce_specversion", "1.0"),
                ("ce_id", "p1"),
                ("ce_type", "mediamill.job.image.v1"),
                ("ce_source", "test"),
                ("ce_time", "2026-11-25T00:00:00Z"),
            ],
        ),
    ];
    for (body, headers) in &bad {
        let mut hs = OwnedHeaders::new();
        for (k, v) in headers {
            hs = hs.insert(Header { key: k, value: Some(v.as_bytes()) });
        }
        producer
            .send(
                FutureRecord::<str, [u8]>::to(&jobs).key("poison").payload(body.as_slice()).headers(hs),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    // The same worker, never restarted, still processes real uploads.
    let (_, b) = p.upload(&key, "still.gif").await;
    let good = b["id"].as_str().unwrap().to_string();
    assert_eq!(p.settle(&key, &good).await["status"], "processed");
    let pid = p.worker.as_ref().unwrap().id();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the worker is still the same process");

    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let out = p.run(&["dlq", "list"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.lines().filter(|l| l.contains("unreadable")).count() == 3 {
            break text;
        }
        assert!(Instant::now() < deadline, "dead letters: {text}\n{}", String::from_utf8_lossy(&out.stderr));
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(listed.contains("missing CloudEvents header") || listed.contains("body is not valid JSON"), "{listed}");

    // Operators see it in the worker's metrics: dead letters by reason, the dead-letter topic's size, lag.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = reqwest::get(format!("http://{ops}/metrics")).await.map(|r| r.text());
        let text = match text {
            Ok(t) => t.await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let ok = text.contains(r#"mediamill_dead_letters_total{kind="image",reason="unreadable"} 3"#)
            && text.contains("mediamill_dlq_messages 3")
            && text.contains("mediamill_consumer_lag{")
            && text.contains("mediamill_jobs_processed_total");
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "worker metrics:\n{text}\n{}", p.log("worker"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A real job put on the dead-letter topic is requeued by the operator: attempt 2, processed again.
    let job = p
        .read_topic("media.jobs.image", 100, Duration::from_secs(5))
        .into_iter()
        .find(|m| m.0 == good)
        .expect("the good job on the job topic");
    let mut hs = OwnedHeaders::new();
    for (k, v) in job
        .1
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain([("mm_dlq_reason".to_string(), "source_missing".to_string())])
    {
        hs = hs.insert(Header { key: &k, value: Some(v.as_bytes()) });
    }
    let dlq = format!("{}media.jobs.dlq", p.topic_prefix);
    producer
        .send(
            FutureRecord::<str, [u8]>::to(&dlq).key(&good).payload(job.2.as_slice()).headers(hs),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let out = p.run(&["dlq", "requeue", "--reason", "source_missing"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("requeued {good} (attempt 2)")), "{said}\n{}", String::from_utf8_lossy(&out.stderr));
    let out = p.run(&["dlq", "requeue", "--reason", "unreadable"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 requeued, 3 skipped"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!p.run(&["dlq", "requeue"]).status.success(), "requeue needs a selector");
    assert_eq!(p.settle(&key, &good).await["status"], "processed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_failing_through_every_retry_tier_is_dead_lettered_as_retries_exhausted() {
    let mut p =
        Pipeline::prepare(&[("MEDIAMILL_WORKER__MAX_ATTEMPTS", "1"), ("MEDIAMILL_WORKER__RETRY_TIERS_SECS", "[1, 2]")])
            .await;
    p.ingest = p.spawn("ingest", &["ingest"]);
    p.wait_ready().await;
    let key = p.key("gone");
    let mut ids = vec![];
    for _ in 0..2 {
        let (status, b) = p.upload(&key, "still.gif").await;
        assert_eq!(status, 202);
        ids.push(b["id"].as_str().unwrap().to_string());
    }
    // The worker's store refuses it every time (a wrong secret: 403 on every read), a failure that may pass,
    // so the job goes through every tier.
    p.worker = Some(p.spawn_with(
        "worker",
        &["worker", "--kind", "image"],
        &[("MEDIAMILL_STORE__S3__SECRET_KEY", "not-the-secret"), ("MEDIAMILL_STORE__S3__CREATE_BUCKET", "false")],
    ));
    for id in &ids {
        let item = p.settle(&key, id).await;
        assert_eq!(item["status"], "failed", "{item}\n{}", p.log("worker"));
        assert_eq!(item["failure"]["reason"], "retries_exhausted", "{item}");
        let msg = item["failure"]["message"].as_str().unwrap_or("");
        assert!(msg.contains("2 retry tiers") && msg.contains("worker.retry_tiers_secs"), "{msg}");
    }
    assert_eq!(p.read_topic("media.jobs.retry.1s", 10, Duration::from_secs(5)).len(), 2);
    assert_eq!(p.read_topic("media.jobs.retry.2s", 10, Duration::from_secs(5)).len(), 2);
    let dead = p.read_topic("media.jobs.dlq", 10, Duration::from_secs(10));
    assert_eq!(
        dead.iter().filter(|m| m.1.get("mm_dlq_reason").map(String::as_str) == Some("retries_exhausted")).count(),
        2
    );
}

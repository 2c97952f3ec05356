//! What an operator runs against a live deployment, on the real Kafka and PostgreSQL: `mediamill status`
//! (members, lag, items, backlog), `mediamill healthcheck`, the HTTP request metrics, and roles that wait for
//! their topics at start instead of failing (compose and Kubernetes start them beside their backends).

mod harness;

use std::time::{Duration, Instant};

use harness::Pipeline;

/// `mediamill status --json` with this pipeline's settings.
fn status(p: &Pipeline) -> serde_json::Value {
    let out = p.run(&["status", "--json"]);
    assert!(out.status.success(), "status: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("status prints JSON")
}

fn group<'a>(s: &'a serde_json::Value, suffix: &str) -> &'a serde_json::Value {
    s["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["group"].as_str().is_some_and(|n| n.ends_with(suffix))))
        .expect("group listed")
}

/// Polls `status` until `ok` holds (or 60 s pass); returns the last reading.
async fn status_until(p: &Pipeline, what: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = status(p);
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} never showed in status: {s:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn status_shows_lag_while_no_worker_runs_and_members_once_one_does() {
    let mut p = Pipeline::ingest_alone(&[]).await;
    let key = p.key("ops");
    for name in ["cmyk.jpg", "orient6.jpg", "still.gif"] {
        let (code, body) = p.upload(&key, name).await;
        assert_eq!(code, 202, "{body}");
    }
    // No worker: the three jobs wait on the topic, the items in `uploaded`, the outbox drained by ingest's relay.
    // The relay marks events sent after the broker acknowledged them: wait for the lag and the drained outbox.
    let s = status_until(&p, "three jobs of lag, the outbox drained", |s| {
        group(s, ".workers.image")["topics"][0]["lag"] == 3 && s["outbox_backlog"] == 0
    })
    .await;
    let g = group(&s, ".workers.image");
    assert_eq!(g["members"].as_array().map(Vec::len), Some(0), "{s:#}");
    assert_eq!(s["media"]["uploaded"], 3, "{s:#}");
    assert_eq!(s["outbox_backlog"], 0, "{s:#}");
    assert_eq!(s["dlq_messages"], 0, "{s:#}");
    // `--stuck-after 0s` counts every unfinished item as stuck.
    let out = p.run(&["status", "--json", "--stuck-after", "0s"]);
    let stuck: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(stuck["stuck"]["uploaded"], 3, "{stuck:#}");

    p.worker = Some(p.spawn("worker", &["worker", "--kind", "image"]));
    let s = status_until(&p, "a member and no lag", |s| {
        let g = group(s, ".workers.image");
        g["members"].as_array().map(Vec::len) == Some(1) && g["topics"][0]["lag"] == 0 && s["media"]["processed"] == 3
    })
    .await;
    assert_eq!(group(&s, ".workers.image")["state"], "Stable", "{s:#}");
    // The table form names every group.
    let out = p.run(&["status"]);
    let table = String::from_utf8_lossy(&out.stdout);
    for g in ["workers.image", "workers.video", "retry", "batch", "notify", "dead letters", "outbox backlog"] {
        assert!(table.contains(g), "{g} missing from:\n{table}");
    }
}

#[tokio::test]
async fn healthcheck_and_request_metrics() {
    let p = Pipeline::ingest_alone(&[]).await;
    assert!(p.run(&["healthcheck"]).status.success(), "healthcheck against a live ingest fails");
    let dead = format!("http://127.0.0.1:{}/healthz", harness::free_port_string());
    let out = p.run(&["healthcheck", "--url", &dead]);
    assert!(!out.status.success(), "healthcheck passed against nothing");

    let key = p.key("metrics");
    let (code, _) = p.upload(&key, "cmyk.jpg").await;
    assert_eq!(code, 202);
    let (code, _) = p.get(&key, "/v1/media/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(code, 404);
    let text = reqwest::get(format!("{}/metrics", p.url)).await.expect("metrics").text().await.expect("text");
    let has = |route: &str, status: &str| {
        text.lines().any(|l| {
            l.starts_with("mediamill_http_requests_total{")
                && l.contains(&format!("route=\"{route}\""))
                && l.contains(&format!("status=\"{status}\""))
        })
    };
    assert!(has("/v1/media", "202"), "no 202 on /v1/media in:\n{text}");
    assert!(has("/v1/media/{id}", "404"), "no 404 on /v1/media/{{id}} (by template, not path) in:\n{text}");
    // Buckets, not summaries: latencies add up over instances.
    assert!(text.contains("mediamill_http_request_seconds_bucket{"), "{text}");
}

#[tokio::test]
async fn a_role_waits_for_its_topics_and_gives_up_with_a_reason() {
    let p = Pipeline::prepare(&[]).await;
    let fresh = format!("fresh{}.", p.id);
    // Nothing made these topics: with a short wait the worker stops and says what it waited for.
    let out = std::process::Command::new(harness::bin())
        .args(["worker", "--kind", "image"])
        .envs(p.env.iter().cloned())
        .env("MEDIAMILL_KAFKA__TOPIC_PREFIX", &fresh)
        .env("MEDIAMILL_SERVER__STARTUP_WAIT_SECS", "2")
        .output()
        .expect("run worker");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "worker started without its topics: {err}");
    assert!(err.contains("gave up waiting for kafka topics") && err.contains("server.startup_wait_secs"), "{err}");

    // With time to wait, it starts once `mediamill topics` has run beside it.
    let _worker = p.spawn_with("waiting", &["worker", "--kind", "image"], &[("MEDIAMILL_KAFKA__TOPIC_PREFIX", &fresh)]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !p.log("waiting").contains("waiting for kafka topics") {
        assert!(Instant::now() < deadline, "no wait logged:\n{}", p.log("waiting"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = std::process::Command::new(harness::bin())
        .arg("topics")
        .envs(p.env.iter().cloned())
        .env("MEDIAMILL_KAFKA__TOPIC_PREFIX", &fresh)
        .output()
        .expect("topics");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !p.log("waiting").contains("worker started") {
        assert!(Instant::now() < deadline, "worker did not start after the topics were made:\n{}", p.log("waiting"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_store_that_refuses_is_a_500_naming_it_not_a_503() {
    let mut p = Pipeline::prepare(&[]).await;
    // Wrong credentials: SeaweedFS answers 403 to every request. Not an outage, so no "try again shortly".
    p.ingest = p.spawn_with(
        "ingest",
        &["ingest"],
        &[("MEDIAMILL_STORE__S3__SECRET_KEY", "not-the-secret"), ("MEDIAMILL_STORE__S3__CREATE_BUCKET", "false")],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{}/healthz", p.url)).await.is_err() {
        assert!(Instant::now() < deadline, "ingest never answered:\n{}", p.log("ingest"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let key = p.key("refused");
    let (code, body) = p.upload(&key, "cmyk.jpg").await;
    assert_eq!(code, 500, "{body}");
    assert_eq!(body["error"]["code"], "store_refused", "{body}");
    assert!(p.log("ingest").contains("check store.s3 credentials"), "{}", p.log("ingest"));
}

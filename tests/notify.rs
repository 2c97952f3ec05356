//! Notifications on the real Kafka and PostgreSQL: webhooks retried until delivered and verified by the
//! Standard Webhooks reference library, a notifier restarted mid-retry, email through an SMTP sink, SSRF
//! refusals and endpoints disabled after failing too long.

mod harness;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use harness::Pipeline;

/// A webhook receiver on loopback that answers 500 to the first `fail_first` requests.
#[derive(Clone, Default)]
struct Receiver {
    fail_first: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Receiver, String) {
        let r = Receiver { fail_first: Arc::new(AtomicUsize::new(fail_first)), ..Default::default() };
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let st = state.clone();
                async move {
                    let n = {
                        let mut seen = st.seen.lock().unwrap();
                        seen.push((headers, body));
                        seen.len()
                    };
                    if n <= st.fail_first.load(Ordering::SeqCst) {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    async fn wait_for(&self, n: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.count() < n {
            assert!(Instant::now() < deadline, "receiver got {} requests, expected {n}", self.count());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Verifies one received request with the `standardwebhooks` package (the reference implementation).
fn verify_with_reference(secret: &str, headers: &HeaderMap, body: &str) -> Result<(), String> {
    let python = std::env::var("MEDIAMILL_TEST_PYTHON").expect("MEDIAMILL_TEST_PYTHON: run through scripts/test.sh");
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let out = Command::new(python)
        .args(["-c", "import sys; from standardwebhooks.webhooks import Webhook; \
                      Webhook(sys.argv[1]).verify(sys.argv[2], {'webhook-id': sys.argv[3], 'webhook-timestamp': sys.argv[4], 'webhook-signature': sys.argv[5]})"])
        .args([secret, body, &h("webhook-id"), &h("webhook-timestamp"), &h("webhook-signature")])
        .output()
        .expect("python");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

async fn register(p: &Pipeline, key: &str, url: &str, types: &[&str]) -> serde_json::Value {
    let r = p.post_json(key, "/v1/webhooks", &serde_json::json!({"url": url, "event_types": types})).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

const FAST_RETRIES: [(&str, &str); 2] =
    [("MEDIAMILL_NOTIFY__ALLOW_PRIVATE_TARGETS", "true"), ("MEDIAMILL_NOTIFY__RETRY_BASE_MS", "300")];

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_failing_three_times_gets_the_fourth_and_it_verifies() {
    let p = Pipeline::start(&FAST_RETRIES).await;
    let key = p.key("hooks");
    let (rx, url) = Receiver::start(3).await;
    let ep = register(&p, &key, &url, &["mediamill.media.processed.v1"]).await;
    let secret = ep["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let (_, body) = p.upload(&key, "still.gif").await;
    let media_id = body["id"].as_str().unwrap().to_string();
    rx.wait_for(4, 60).await;

    let seen = rx.seen.lock().unwrap().clone();
    let ids: Vec<_> = seen.iter().map(|(h, _)| h["webhook-id"].clone()).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "retries keep the webhook-id: {ids:?}");
    let (h, b) = &seen[3];
    verify_with_reference(&secret, h, b).expect("the reference library verifies our signature");
    assert!(verify_with_reference("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, b).is_err(), "a wrong secret fails");
    let payload: serde_json::Value = serde_json::from_str(b).unwrap();
    assert_eq!(payload["type"], "mediamill.media.processed.v1");
    assert_eq!(payload["data"]["media_id"], media_id);
    drop(seen);

    // The delivery log shows the four attempts; a replay sends the same message again.
    let ep_id = ep["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let (_, log) = p.get(&key, &format!("/v1/webhooks/{ep_id}/deliveries")).await;
        if log["items"][0]["status"] == "delivered" || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let d = &log["items"][0];
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!((d["status"].as_str(), d["attempts"].as_u64()), (Some("delivered"), Some(4)), "{d}");
    let codes: Vec<_> = d["attempt_log"].as_array().unwrap().iter().map(|a| a["status_code"].as_u64()).collect();
    assert_eq!(codes, vec![Some(500), Some(500), Some(500), Some(204)]);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/{ep_id}/deliveries/{}/replay", p.url, d["id"].as_str().unwrap()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    rx.wait_for(5, 30).await;
    assert_eq!(rx.seen.lock().unwrap()[4].0["webhook-id"], ids[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notifier_restarted_mid_retry_still_delivers() {
    let mut p = Pipeline::start(&FAST_RETRIES).await;
    let key = p.key("restart");
    let (rx, url) = Receiver::start(usize::MAX).await;
    register(&p, &key, &url, &["mediamill.media.processed.v1"]).await;
    p.upload(&key, "still.gif").await;
    rx.wait_for(1, 60).await;
    // Kill the notifier while its delivery is scheduled for a retry, then let the receiver recover.
    let mut n = p.notify.take().unwrap();
    n.kill().unwrap();
    n.wait().unwrap();
    let before = rx.count();
    rx.fail_first.store(0, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.count(), before, "nothing sends while the notifier is down");
    p.notify = Some(p.spawn("notify2", &["notify"]));
    rx.wait_for(before + 1, 60).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_targets_are_checked_and_failing_endpoints_disabled() {
    // SSRF protection on (the default): loopback, private and metadata addresses are refused.
    let p = Pipeline::start(&[]).await;
    let key = p.key("ssrf");
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "ftp://example.com/",
        "http://[::1]/",
    ] {
        let r = p.post_json(&key, "/v1/webhooks", &serde_json::json!({"url": url})).await;
        assert_eq!(r.status(), 400, "{url}");
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "bad_webhook_url");
    }
    let r = reqwest::Client::new()
        .post(format!("{}/v1/webhooks", p.url))
        .bearer_auth(&key)
        .body("{broken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = p
        .post_json(
            &key,
            "/v1/webhooks",
            &serde_json::json!({"url": "https://example.com/h", "event_types": ["bad type!"]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    drop(p);

    // An endpoint that keeps failing is disabled, and the tenant sees why.
    let p = Pipeline::start(&[FAST_RETRIES[0], FAST_RETRIES[1], ("MEDIAMILL_NOTIFY__DISABLE_AFTER_SECS", "1")]).await;
    let key = p.key("flaky");
    let (_rx, url) = Receiver::start(usize::MAX).await;
    let ep = register(&p, &key, &url, &["*"]).await;
    p.upload(&key, "still.gif").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, list) = p.get(&key, "/v1/webhooks").await;
        let e = &list["items"][0];
        if e["enabled"] == false {
            assert!(e["disabled_reason"].as_str().unwrap().contains("notify.disable_after_secs"), "{e}");
            break;
        }
        assert!(Instant::now() < deadline, "never disabled: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let id = ep["id"].as_str().unwrap();
    let r =
        reqwest::Client::new().delete(format!("{}/v1/webhooks/{id}", p.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(p.get(&key, &format!("/v1/webhooks/{id}/deliveries")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_endpoint_holds_back_only_its_own_tenant() {
    // Tenant A's endpoint takes every request and answers none until the test lets it; tenant B's answers
    // at once. B's delivery must arrive while A's requests still hang (before, one claim round waited for
    // every send of the round, so B waited for A's timeout).
    let p = Pipeline::start(&[
        ("MEDIAMILL_NOTIFY__ALLOW_PRIVATE_TARGETS", "true"),
        ("MEDIAMILL_NOTIFY__TIMEOUT_MS", "120000"),
    ])
    .await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let hanging = Arc::new(AtomicUsize::new(0));
    let (g, h) = (gate.clone(), hanging.clone());
    let slow = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let (g, h) = (g.clone(), h.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                g.notified().await;
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, slow).await });
    let (fast, fast_url) = Receiver::start(0).await;

    let a = p.key("slow-tenant");
    let b = p.key("fast-tenant");
    register(&p, &a, &slow_url, &["mediamill.media.uploaded.v1"]).await;
    register(&p, &b, &fast_url, &["mediamill.media.uploaded.v1"]).await;
    for _ in 0..6 {
        p.upload(&a, "still.gif").await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while hanging.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the slow endpoint never got a request");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.upload(&b, "still.gif").await;
    fast.wait_for(1, 60).await;
    let in_flight = hanging.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&in_flight),
        "the slow endpoint had {in_flight} requests in flight; at most 2 per target are sent at once"
    );
    gate.notify_waiters();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends() {
    let p = Pipeline::start(&FAST_RETRIES).await;
    let key = p.key("rotate");
    let (rx, url) = Receiver::start(0).await;
    let ep = register(&p, &key, &url, &["mediamill.media.uploaded.v1"]).await;
    let (id, old) = (ep["id"].as_str().unwrap().to_string(), ep["secret"].as_str().unwrap().to_string());
    let r =
        p.post_json(&key, &format!("/v1/webhooks/{id}/rotate-secret"), &serde_json::json!({"overlap_secs": 3})).await;
    assert_eq!(r.status(), 200);
    let new = r.json::<serde_json::Value>().await.unwrap()["secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("whsec_") && new != old);

    // During the overlap: both sign; a receiver holding either secret verifies with the reference library.
    p.upload(&key, "still.gif").await;
    rx.wait_for(1, 60).await;
    let (h, b) = rx.seen.lock().unwrap()[0].clone();
    assert_eq!(h["webhook-signature"].to_str().unwrap().split(' ').count(), 2);
    verify_with_reference(&new, &h, &b).expect("the new secret verifies");
    verify_with_reference(&old, &h, &b).expect("the old secret still verifies");

    // After it: only the new one.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    p.upload(&key, "still.gif").await;
    rx.wait_for(2, 60).await;
    let (h, b) = rx.seen.lock().unwrap()[1].clone();
    assert_eq!(h["webhook-signature"].to_str().unwrap().split(' ').count(), 1);
    verify_with_reference(&new, &h, &b).expect("the new secret verifies");
    assert!(verify_with_reference(&old, &h, &b).is_err(), "the old secret no longer signs");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_notifier_ignores_proxies_from_the_environment() {
    // A proxy from the environment would connect for us, to whatever it resolves: webhooks never use one.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    // What reached the proxy: each connection's first bytes (other clients of the process, such as the
    // object store's, may honour the variables; the webhook client must not).
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = proxy.accept().await {
            let s3 = s2.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; 2048];
                let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .unwrap_or(0);
                s3.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
            });
        }
    });
    let mut p = Pipeline::start(&FAST_RETRIES).await;
    if let Some(mut n) = p.notify.take() {
        let _ = n.kill();
        let _ = n.wait();
    }
    let env = [
        ("HTTP_PROXY", proxy_url.as_str()),
        ("http_proxy", proxy_url.as_str()),
        ("ALL_PROXY", proxy_url.as_str()),
        ("NO_PROXY", ""),
    ];
    p.notify = Some(p.spawn_with("notify-proxied", &["notify"], &env));
    let key = p.key("proxied");
    let (rx, url) = Receiver::start(0).await;
    register(&p, &key, &url, &["mediamill.media.uploaded.v1"]).await;
    p.upload(&key, "still.gif").await;
    rx.wait_for(1, 60).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hook_port = url.split(':').nth(2).and_then(|r| r.split('/').next()).unwrap().to_string();
    let through: Vec<String> =
        seen.lock().unwrap().iter().filter(|r| r.contains("/hook") || r.contains(&hook_port)).cloned().collect();
    assert!(through.is_empty(), "a delivery went through the environment's proxy: {through:?}");
}

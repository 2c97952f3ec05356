//! Keys as the Auth service's seed: scopes, expiry, last use, and every key event on `auth.events`; a revoked
//! key's live streams close. On the real Kafka, SeaweedFS and PostgreSQL.

mod harness;

use std::time::{Duration, Instant};

use futures::StreamExt;
use harness::Pipeline;

fn created(p: &Pipeline, args: &[&str]) -> String {
    let out = p.run(&[&["keys", "create"][..], args].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_expiry_revocation_and_their_events() {
    let p = Pipeline::start(&[("MEDIAMILL_NOTIFY__ALLOW_PRIVATE_TARGETS", "true")]).await;
    let http = reqwest::Client::new();
    let upload_key = created(&p, &["--tenant", "app", "--scope", "upload"]);
    let short_key = created(&p, &["--tenant", "app", "--scope", "upload", "--expires", "2s"]);
    let admin_key = created(&p, &["--tenant", "app"]);

    // An upload key uploads and reads, but may not manage webhooks; an admin key may.
    assert_eq!(p.get(&upload_key, "/v1/media").await.0, 200);
    let hook = |k: &str| {
        http.post(format!("{}/v1/webhooks", p.url))
            .bearer_auth(k.to_string())
            .json(&serde_json::json!({"url": "http://127.0.0.1:9/h"}))
    };
    let r = hook(&upload_key).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"]["code"], "insufficient_scope");
    assert_eq!(hook(&admin_key).send().await.unwrap().status(), 201);
    assert_eq!(p.get(&upload_key, "/v1/webhooks").await.0, 403);

    // An expired key is refused, saying so.
    assert_eq!(p.get(&short_key, "/v1/media").await.0, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (s, body) = p.get(&short_key, "/v1/media").await;
    assert_eq!(s, 401);
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");

    // A live stream opened with a key ends when that key is revoked.
    let (_, b) = {
        let r = http.post(format!("{}/v1/batches", p.url)).bearer_auth(&upload_key).send().await.unwrap();
        (r.status(), r.json::<serde_json::Value>().await.unwrap())
    };
    let resp = http
        .get(format!("{}/v1/batches/{}/events", p.url, b["id"].as_str().unwrap()))
        .bearer_auth(&upload_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let listed = String::from_utf8_lossy(&p.run(&["keys", "list", "--tenant", "app"]).stdout).to_string();
    let row = listed.lines().find(|l| l.contains(&upload_key[..8])).unwrap_or_else(|| panic!("{listed}"));
    let cols: Vec<&str> = row.split('\t').collect();
    assert_eq!(cols[5], "upload", "{row}");
    let id = cols[1].to_string();
    let revoke = p.run(&["keys", "revoke", &id]);
    assert!(revoke.status.success(), "{}", String::from_utf8_lossy(&revoke.stderr));
    let mut body = resp.bytes_stream();
    let deadline = Instant::now() + Duration::from_secs(30);
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(1), body.next()).await {
            Ok(None) => break true,
            Ok(Some(_)) | Err(_) if Instant::now() < deadline => continue,
            _ => break false,
        }
    };
    assert!(ended, "the revoked key's stream stayed open");
    let (s, body) = p.get(&upload_key, "/v1/media").await;
    assert_eq!(s, 401);
    assert!(body["error"]["message"].as_str().unwrap().contains("revoked"), "{body}");

    // Every key event is on auth.events: three created, one revoked, one expired, refusals with reasons.
    let want = |evs: &[(String, std::collections::BTreeMap<String, String>, Vec<u8>)], ty: &str| {
        evs.iter().filter(|e| e.1.get("ce_type").map(String::as_str) == Some(ty)).count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let evs = loop {
        let evs = p.read_topic("auth.events", 1000, Duration::from_secs(2));
        let done = want(&evs, "mediamill.auth.key.refused.v1") >= 2 && want(&evs, "mediamill.auth.key.revoked.v1") == 1;
        if done || Instant::now() > deadline {
            break evs;
        }
    };
    assert_eq!(want(&evs, "mediamill.auth.key.created.v1"), 3);
    assert_eq!(want(&evs, "mediamill.auth.key.revoked.v1"), 1);
    assert_eq!(want(&evs, "mediamill.auth.key.expired.v1"), 1);
    let reasons: Vec<String> = evs
        .iter()
        .filter(|e| e.1.get("ce_type").map(String::as_str) == Some("mediamill.auth.key.refused.v1"))
        .map(|e| {
            serde_json::from_slice::<serde_json::Value>(&e.2).unwrap()["reason"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert!(reasons.contains(&"expired".to_string()) && reasons.contains(&"revoked".to_string()), "{reasons:?}");
    for e in &evs {
        assert!(!String::from_utf8_lossy(&e.2).contains(&upload_key), "an event carried a key");
    }

    // The admin key's last use is recorded (written off the request's path).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = String::from_utf8_lossy(&p.run(&["keys", "list", "--tenant", "app"]).stdout).to_string();
        let row = listed.lines().find(|l| l.contains(&admin_key[..8])).unwrap_or("").to_string();
        if row.split('\t').nth(7).is_some_and(|c| c != "-") {
            break;
        }
        assert!(Instant::now() < deadline, "last_used_at never recorded: {row}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

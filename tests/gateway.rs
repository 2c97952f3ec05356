//! The API gateway's log: every request to ingest is one record on `gateway.requests`, and `mediamill stats`
//! reads back figures equal to a count the test makes. On the real Kafka, SeaweedFS and PostgreSQL.

mod harness;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use harness::Pipeline;

#[tokio::test(flavor = "multi_thread")]
async fn every_request_is_logged_once_and_stats_add_up() {
    let p = Pipeline::start(&[]).await;
    let key = p.key("gw");
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/batches", p.url))
        .bearer_auth(&key)
        .header("x-request-id", "gw-0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // What the test sends, and what it expects each to look like: (request id, route, status).
    let mut sent: Vec<(String, &str, u16)> = vec![("gw-0".into(), "/v1/batches", 201)];
    for i in 1..=12 {
        let id = format!("gw-{i}");
        let (route, status) = match i % 4 {
            0 => ("/v1/media", 200),
            1 => ("/v1/media/{id}", 404),
            2 => ("/v1/batches", 200),
            _ => ("/v1/media", 202),
        };
        let req = match (route, status) {
            ("/v1/media", 200) => http.get(format!("{}/v1/media?limit=5&sig=secret-looking", p.url)),
            ("/v1/media/{id}", _) => http.get(format!("{}/v1/media/no-such-item", p.url)),
            ("/v1/batches", _) => http.get(format!("{}/v1/batches", p.url)),
            _ => http
                .post(format!("{}/v1/media", p.url))
                .body(std::fs::read(harness::repo_root().join("fixtures/media/still.gif")).unwrap()),
        };
        let r = req.bearer_auth(&key).header("x-request-id", &id).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{id}");
        assert_eq!(r.headers()["x-request-id"], id.as_str(), "the id comes back");
        sent.push((id, route, status));
    }
    // Without a valid key: logged too, without a tenant.
    let r = http
        .get(format!("{}/v1/media", p.url))
        .bearer_auth("mm_nope")
        .header("x-request-id", "gw-anon")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Every request is on the topic exactly once, with its route template and status, and no secrets.
    let deadline = Instant::now() + Duration::from_secs(30);
    let records = loop {
        let all = p.read_topic("gateway.requests", 10_000, Duration::from_secs(2));
        let recs: Vec<serde_json::Value> = all.iter().map(|m| serde_json::from_slice(&m.2).unwrap()).collect();
        let mine: Vec<serde_json::Value> =
            recs.into_iter().filter(|r| r["request_id"].as_str().is_some_and(|i| i.starts_with("gw-"))).collect();
        if mine.len() > sent.len() || Instant::now() > deadline {
            break mine;
        }
    };
    let mut by_id: HashMap<String, Vec<&serde_json::Value>> = HashMap::new();
    for r in &records {
        by_id.entry(r["request_id"].as_str().unwrap().to_string()).or_default().push(r);
    }
    for (id, route, status) in &sent {
        let rs = by_id.get(id).unwrap_or_else(|| panic!("{id} was not logged"));
        assert_eq!(rs.len(), 1, "{id} logged {} times", rs.len());
        let r = rs[0];
        assert_eq!((r["route"].as_str(), r["status"].as_u64()), (Some(*route), Some(*status as u64)), "{r}");
        assert!(r["tenant_id"].is_string() && r["key_id"].is_string() && r["client"] == "127.0.0.1", "{r}");
    }
    let anon = &by_id["gw-anon"];
    assert_eq!((anon.len(), anon[0]["tenant_id"].is_null(), anon[0]["status"].as_u64()), (1, true, Some(401)));
    let upload = by_id["gw-3"][0];
    assert_eq!(
        upload["bytes_in"].as_u64(),
        Some(std::fs::metadata(harness::repo_root().join("fixtures/media/still.gif")).unwrap().len())
    );
    assert!(upload["bytes_out"].as_u64().unwrap() > 0);
    for r in &records {
        let text = r.to_string();
        assert!(
            !text.contains(&key) && !text.contains("secret-looking") && !text.contains("mm_nope"),
            "a secret in {text}"
        );
    }

    // `mediamill stats` counts what the test counted.
    let tenant = by_id["gw-1"][0]["tenant_id"].as_str().unwrap().to_string();
    let out = p.run(&["stats", "--window", "10m", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rep: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = &rep["tenants"][&tenant];
    assert_eq!(t["requests"].as_u64(), Some(sent.len() as u64), "{rep}");
    let client_errors = sent.iter().filter(|s| (400..500).contains(&s.2)).count() as f64 / sent.len() as f64;
    assert!((t["client_error_ratio"].as_f64().unwrap() - client_errors).abs() < 1e-9, "{t}");
    assert!(t["suggested_requests_per_sec"].as_u64().unwrap() >= 1);
    let want_404 = sent.iter().filter(|s| s.1 == "/v1/media/{id}").count() as u64;
    assert!(rep["routes"]["GET /v1/media/{id}"]["requests"].as_u64().unwrap() >= want_404, "{rep}");
    assert!(rep["tenants"]["anonymous"]["requests"].as_u64().unwrap() >= 1);
}

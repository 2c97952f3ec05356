//! Tenant isolation and scopes, walked over every `/v1` route the router has. The routes are read from
//! `ingest/src/lib.rs` itself, so a route added later is walked too: another tenant's ids answer 404 on
//! every route and method (never 2xx, 403 or 5xx, and nothing changes), listings show none of them, and an
//! `upload` key gets 403 on every admin route. On the real Kafka, SeaweedFS and PostgreSQL.

mod harness;

use std::time::{Duration, Instant};

use harness::Pipeline;

/// Every `/v1` route but the key-less `OPTIONS` of tus.
fn routes() -> Vec<(String, String)> {
    harness::routes::v1().into_iter().filter(|(m, _)| m != "OPTIONS").collect()
}

/// The app's routes name the app's own users, media and conversations, which exist per tenant by the ids
/// the app's services use: another tenant asking by the same id gets its own (empty) view, not a 404. That
/// they never see each other's data is `tests/app.rs`'s tenancy test.
fn is_app_route(template: &str) -> bool {
    template.starts_with("/v1/users/") || template.starts_with("/v1/conversations/") || template.ends_with("/stats")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_keeps_tenants_apart_and_scopes_hold() {
    let p = Pipeline::start(&[
        ("MEDIAMILL_NOTIFY__ALLOW_PRIVATE_TARGETS", "true"),
        ("MEDIAMILL_NOTIFY__RETRY_BASE_MS", "300"),
    ])
    .await;
    let a = p.key("alice");
    let b = p.key("bob");
    let http = reqwest::Client::new();

    // Alice owns one of everything.
    let (_, up) = p.upload(&a, "still.gif").await;
    let media = up["id"].as_str().unwrap().to_string();
    p.settle(&a, &media).await;
    let batch = p.create(&a, "/v1/batches", None).await;
    let hook = p.create(&a, "/v1/webhooks", Some(serde_json::json!({"url": "http://127.0.0.1:9/h"}))).await;
    let recipient = p.create(&a, "/v1/email-recipients", Some(serde_json::json!({"address": "a@example.com"}))).await;
    p.upload(&a, "alpha.png").await; // an event for the webhook: a delivery to walk
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivery = loop {
        let (_, log) = p.get(&a, &format!("/v1/webhooks/{hook}/deliveries")).await;
        if let Some(id) = log["items"][0]["id"].as_str() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "no delivery to walk");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // A resumable upload and a direct one.
    let r = http
        .post(format!("{}/v1/uploads", p.url))
        .bearer_auth(&a)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "100")
        .send()
        .await
        .unwrap();
    let tus_url = r.headers()["location"].to_str().unwrap().to_string();
    let upload = tus_url.rsplit('/').next().unwrap().to_string();
    let plan = p.post_json(&a, "/v1/uploads/direct", &serde_json::json!({"size": 100, "sha256": "0".repeat(64)})).await;
    let direct = plan.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let fill = |path: &str| -> String {
        let id = if path.starts_with("/v1/uploads/direct") {
            &direct
        } else if path.starts_with("/v1/uploads") {
            &upload
        } else if path.starts_with("/v1/media") {
            &media
        } else if path.starts_with("/v1/batches") {
            &batch
        } else if path.starts_with("/v1/webhooks") {
            &hook
        } else {
            &recipient
        };
        path.replace("{id}", id)
            .replace("{name}", "thumb.jpg")
            .replace("{file}", "master.m3u8")
            .replace("{delivery_id}", &delivery)
    };
    let send = |method: &str, url: String, key: &str| {
        let req = match method {
            "GET" => http.get(url),
            "POST" => http.post(url).header("content-type", "application/json").body("{}"),
            "HEAD" => http.head(url),
            "PATCH" => http
                .patch(url)
                .header("content-type", "application/offset+octet-stream")
                .header("upload-offset", "0")
                .body(vec![0u8; 10]),
            _ => http.delete(url),
        };
        // tus routes want their protocol version; every other route ignores it.
        req.bearer_auth(key.to_string()).header("tus-resumable", "1.0.0").timeout(Duration::from_secs(10)).send()
    };

    // Bob, with Alice's ids, on every route and method: 404, always.
    let all = routes();
    let mut walked = 0;
    for (method, template) in &all {
        if !template.contains('{') || is_app_route(template) {
            continue;
        }
        let mut url = format!("{}{}", p.url, fill(template));
        if template.ends_with("/confirm") {
            url.push_str("?token=guess");
        }
        let r = send(method, url.clone(), &b).await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{method} {template} ({url}) with another tenant's id");
        walked += 1;
    }
    assert!(walked >= 18, "only {walked} routes with ids were walked");
    // Listings show none of Alice's ids.
    for (method, template) in all.iter().filter(|(m, t)| m == "GET" && !t.contains('{')) {
        let body = send(method, format!("{}{template}", p.url), &b).await.unwrap().text().await.unwrap();
        for id in [&media, &batch, &hook, &recipient, &upload, &direct] {
            assert!(!body.contains(id.as_str()), "{template} shows another tenant's {id}: {body}");
        }
    }
    // Nothing Bob did changed Alice's things.
    assert_eq!(p.get(&a, &format!("/v1/media/{media}")).await.1["status"], "processed");
    assert_eq!(p.get(&a, &format!("/v1/batches/{batch}")).await.1["status"], "open");
    assert_eq!(p.get(&a, "/v1/webhooks").await.1["items"].as_array().unwrap().len(), 1);
    assert_eq!(p.get(&a, "/v1/email-recipients").await.1["items"].as_array().unwrap().len(), 1);
    let head = http.head(&tus_url).bearer_auth(&a).header("tus-resumable", "1.0.0").send().await.unwrap();
    assert_eq!((head.status().as_u16(), head.headers()["upload-offset"].to_str().unwrap()), (200, "0"));

    // Her own item: a signed URL needs a key on the server (this one has none).
    let r = http
        .get(format!("{}/v1/media/{media}/variants/thumb.jpg/signed-url", p.url))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 501);

    // CORS: a preflight passes for an origin some tenant lists; the answer itself only for that tenant's keys.
    let out = p.run(&["tenants", "set", "alice", "--cors-origin", "https://app.example"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let preflight = |origin: &str| {
        http.request(reqwest::Method::OPTIONS, format!("{}/v1/media", p.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let r = preflight("https://app.example").await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example");
    assert!(r.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    let r = preflight("https://evil.example").await.unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"), "an origin no tenant lists");
    let get = |k: &str| {
        http.get(format!("{}/v1/media", p.url))
            .bearer_auth(k.to_string())
            .header("origin", "https://app.example")
            .send()
    };
    let r = get(&a).await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example");
    let r = get(&b).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        !r.headers().contains_key("access-control-allow-origin"),
        "another tenant's keys do not get alice's origin"
    );

    // An upload key of Alice's: 403 on every admin route, never on the others it may read.
    let out = p.run(&["keys", "create", "--tenant", "alice", "--scope", "upload"]);
    let narrow = String::from_utf8_lossy(&out.stdout).trim().to_string();
    for (method, template) in &all {
        if template.ends_with("/confirm") {
            continue;
        }
        // A user's delivery log shows their email address and phone number: admin keys only.
        let admin = template.starts_with("/v1/webhooks")
            || template.starts_with("/v1/email-recipients")
            || template == "/v1/users/{id}/deliveries";
        if !admin && method != "GET" {
            continue; // an upload key may upload and seal: nothing to prove by doing it
        }
        if template.ends_with("/events") {
            continue; // streams stay open; their scope is the same as GET /v1/media
        }
        let r = send(method, format!("{}{}", p.url, fill(template)), &narrow).await.unwrap();
        let status = r.status().as_u16();
        if admin {
            assert_eq!(status, 403, "{method} {template} with an upload key");
        } else {
            assert_ne!(status, 403, "{method} {template} refused an upload key");
        }
    }
}

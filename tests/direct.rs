//! Direct-to-storage uploads against real SeaweedFS: a plan of presigned requests (one PUT, or parts), the bytes
//! sent by the client straight to the store, and `complete` checking size, SHA-256 and type before the item
//! enters the flow; missing parts, wrong digests, wrong sizes, non-media bytes, bad plans and other tenants.

mod harness;

use harness::{repo_root, Pipeline};
use sha2::Digest;

const MIB: usize = 1024 * 1024;

fn sha(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// Sends one presigned request of the plan with `body`; returns the store's status.
async fn send(req: &serde_json::Value, body: Vec<u8>) -> u16 {
    let mut r = reqwest::Client::new().put(req["url"].as_str().unwrap());
    for (k, v) in req["headers"].as_object().unwrap() {
        // The body's own length goes out whatever was signed: a mismatch is the store's to refuse.
        if !k.eq_ignore_ascii_case("content-length") {
            r = r.header(k, v.as_str().unwrap());
        }
    }
    r.body(body).send().await.unwrap().status().as_u16()
}

async fn plan(p: &Pipeline, key: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = p.post_json(key, "/v1/uploads/direct", &body).await;
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

async fn complete(key: &str, plan: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new().post(plan["complete"].as_str().unwrap()).bearer_auth(key).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

fn padded_photo(size: usize) -> Vec<u8> {
    let mut b = std::fs::read(repo_root().join("fixtures/media/progressive.jpg")).unwrap();
    b.resize(size, 0x42);
    b
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_put_and_a_plan_of_parts_become_items() {
    let p = Pipeline::start(&[("MEDIAMILL_UPLOADS__DIRECT_SINGLE_PUT_MIB", "5"), ("MEDIAMILL_UPLOADS__PART_MIB", "5")])
        .await;
    let key = p.key("direct");

    // Small: one presigned PUT.
    let photo = std::fs::read(repo_root().join("fixtures/media/progressive.jpg")).unwrap();
    let (status, one) =
        plan(&p, &key, serde_json::json!({"size": photo.len(), "sha256": sha(&photo), "filename": "one.jpg"})).await;
    assert_eq!(status, 201, "{one}");
    assert!(one["parts"].is_null() && one["expires_at"].is_string(), "{one}");
    assert_eq!(complete(&key, &one).await.0, 409, "nothing uploaded yet");
    assert_eq!(send(&one["put"], photo.clone()).await, 200);
    let (status, item) = complete(&key, &one).await;
    assert_eq!(status, 202, "{item}");
    let id = item["id"].as_str().unwrap().to_string();
    let done = p.settle(&key, &id).await;
    assert_eq!((done["status"].as_str(), done["filename"].as_str()), (Some("processed"), Some("one.jpg")), "{done}");
    assert_eq!(done["sha256"], sha(&photo));
    let (status, again) = complete(&key, &one).await;
    assert_eq!((status, again["id"].as_str()), (202, Some(id.as_str())), "completing twice answers the same item");

    // Large: three parts; completing with one missing says which.
    let big = padded_photo(12 * MIB + 5);
    let (status, many) = plan(&p, &key, serde_json::json!({"size": big.len(), "sha256": sha(&big)})).await;
    assert_eq!(status, 201, "{many}");
    let parts = many["parts"].as_array().unwrap().clone();
    assert_eq!(parts.len(), 3, "{many}");
    for i in [0, 2] {
        let (o, n) = (parts[i]["offset"].as_u64().unwrap() as usize, parts[i]["size"].as_u64().unwrap() as usize);
        assert_eq!(send(&parts[i]["request"], big[o..o + n].to_vec()).await, 200);
    }
    let (status, err) = complete(&key, &many).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("not_uploaded")), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("[2]"), "{err}");
    let (o, n) = (parts[1]["offset"].as_u64().unwrap() as usize, parts[1]["size"].as_u64().unwrap() as usize);
    assert_eq!(send(&parts[1]["request"], big[o..o + n].to_vec()).await, 200);
    let (status, item) = complete(&key, &many).await;
    assert_eq!(status, 202, "{item}");
    let done = p.settle(&key, item["id"].as_str().unwrap()).await;
    assert_eq!((done["status"].as_str(), done["size"].as_u64()), (Some("processed"), Some(big.len() as u64)), "{done}");
    assert_eq!(done["sha256"], sha(&big));
}

#[tokio::test(flavor = "multi_thread")]
async fn what_arrived_is_checked_and_bad_plans_are_refused() {
    let p = Pipeline::start(&[]).await;
    let key = p.key("direct");
    let photo = std::fs::read(repo_root().join("fixtures/media/progressive.jpg")).unwrap();

    // Bytes other than declared: removed, and the plan with them.
    let (_, wrong) = plan(&p, &key, serde_json::json!({"size": photo.len(), "sha256": sha(b"other bytes")})).await;
    assert_eq!(send(&wrong["put"], photo.clone()).await, 200);
    let (status, err) = complete(&key, &wrong).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("checksum_mismatch")), "{err}");
    assert_eq!(complete(&key, &wrong).await.0, 404, "the plan is gone");
    // A body of another size than signed: the store refuses it, or complete does.
    let (_, short) = plan(&p, &key, serde_json::json!({"size": photo.len(), "sha256": sha(&photo)})).await;
    let refused = send(&short["put"], photo[..1000].to_vec()).await;
    if refused == 200 {
        let (status, err) = complete(&key, &short).await;
        assert_eq!((status, err["error"]["code"].as_str()), (422, Some("size_mismatch")), "{err}");
    } else {
        assert!((400..500).contains(&refused), "the store answered {refused}");
    }
    // Bytes that are no media, declared honestly.
    let text = vec![b'x'; 5000];
    let (_, plain) = plan(&p, &key, serde_json::json!({"size": text.len(), "sha256": sha(&text)})).await;
    assert_eq!(send(&plain["put"], text).await, 200);
    assert_eq!(complete(&key, &plain).await.0, 415);

    // Bad plans.
    for (body, code) in [
        (serde_json::json!({"size": 10, "sha256": "xyz"}), 400),
        (serde_json::json!({"size": 0, "sha256": sha(b"")}), 400),
        (serde_json::json!({"size": 5u64 << 30, "sha256": sha(b"")}), 413),
        (serde_json::json!({"size": 10, "sha256": sha(b""), "surprise": 1}), 400),
        (serde_json::json!({"sha256": sha(b"")}), 400),
    ] {
        assert_eq!(plan(&p, &key, body.clone()).await.0, code, "{body}");
    }
    // Another tenant sees nothing, and tus does not take a direct upload's id.
    let (_, mine) = plan(&p, &key, serde_json::json!({"size": photo.len(), "sha256": sha(&photo)})).await;
    let other = p.key("someone-else");
    assert_eq!(complete(&other, &mine).await.0, 404);
    let tus_head = reqwest::Client::new()
        .head(format!("{}/v1/uploads/{}", p.url, mine["id"].as_str().unwrap()))
        .bearer_auth(&key)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(tus_head.status(), 404);
}

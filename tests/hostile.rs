//! The hostile corpus (fixtures/media/hostile/, made by fixtures/make-hostile.py: truncations, zeroed and noisy
//! bodies, shuffled blocks, pixel/frame/duration bombs, empty containers, mislabelled non-media) through the
//! real pipeline: every file ends as a clean `failed` item with its reason, or is refused at upload with its
//! status, and no worker process restarts on the way.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{repo_root, Pipeline};

#[derive(serde::Deserialize)]
struct Expect {
    status: String,
    reason: Option<String>,
    http: Option<u16>,
    code: Option<String>,
}

#[tokio::test(flavor = "multi_thread")]
async fn every_hostile_file_fails_cleanly_without_a_worker_restart() {
    let mut p = Pipeline::start(&[]).await;
    let key = p.key("hostile");
    let dir = repo_root().join("fixtures/media/hostile");
    let manifest: BTreeMap<String, Expect> =
        toml::from_str(&std::fs::read_to_string(dir.join("expected.toml")).unwrap()).expect("manifest");
    assert!(manifest.len() >= 100, "the corpus has {} files", manifest.len());

    let mut accepted = vec![];
    for (name, exp) in &manifest {
        let (status, body) = p.upload_file(&key, &dir.join(name)).await;
        match exp.status.as_str() {
            "rejected" => {
                assert_eq!(Some(status), exp.http, "{name}: {body}");
                assert_eq!(body["error"]["code"].as_str(), exp.code.as_deref(), "{name}: {body}");
            }
            _ => {
                assert_eq!(status, 202, "{name}: {body}");
                accepted.push((name, exp, body["id"].as_str().unwrap().to_string()));
            }
        }
    }
    let mut wrong = vec![];
    for (name, exp, id) in &accepted {
        let item = p.settle_within(&key, id, Duration::from_secs(180)).await;
        let got = (item["status"].as_str().unwrap_or(""), item["failure"]["reason"].as_str());
        if got != (exp.status.as_str(), exp.reason.as_deref()) {
            wrong.push(format!(
                "{name}: expected {} {:?}, got {got:?}: {}",
                exp.status, exp.reason, item["failure"]["message"]
            ));
        }
        if got.0 == "failed" && item["failure"]["message"].as_str().is_none_or(|m| m.len() < 10) {
            wrong.push(format!("{name}: a failure without a message: {item}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Refused uploads left nothing behind: only the accepted files are listed.
    let (_, list) = p.get(&key, "/v1/media?limit=500").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(accepted.len()));
    let image_alive = p.worker.as_mut().expect("image worker").try_wait().expect("wait").is_none();
    let video_alive = p.video.as_mut().expect("video worker").try_wait().expect("wait").is_none();
    assert!(image_alive, "the image worker exited:\n{}", p.log("worker"));
    assert!(video_alive, "the video worker exited:\n{}", p.log("video"));
}

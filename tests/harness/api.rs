//! The API as a test calls it: keys, uploads, creating things, reading them back, waiting for an item to settle.

use std::time::{Duration, Instant};

use super::{repo_root, Pipeline};

impl Pipeline {
    /// A new API key for `tenant`.
    pub fn key(&self, tenant: &str) -> String {
        let out = self.run(&["keys", "create", "--tenant", tenant]);
        assert!(out.status.success(), "keys create: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Uploads a fixture as a raw body; returns (status, JSON body).
    pub async fn upload(&self, key: &str, name: &str) -> (u16, serde_json::Value) {
        self.upload_file(key, &repo_root().join("fixtures/media").join(name)).await
    }

    /// Uploads any file as a raw body; returns (status, JSON body).
    pub async fn upload_file(&self, key: &str, path: &std::path::Path) -> (u16, serde_json::Value) {
        let bytes = std::fs::read(path).expect("file to upload");
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let r = reqwest::Client::new()
            .post(format!("{}/v1/media", self.url))
            .bearer_auth(key)
            .header("x-filename", name)
            .body(bytes)
            .send()
            .await
            .expect("upload");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// POSTs `body` (or nothing) to an API path that creates something and returns the new thing's id,
    /// failing the test with the answer when there is none.
    pub async fn create(&self, key: &str, path: &str, body: Option<serde_json::Value>) -> String {
        let mut req = reqwest::Client::new().post(format!("{}{path}", self.url)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let answer: serde_json::Value = req.send().await.expect("create").json().await.unwrap_or_default();
        answer["id"].as_str().unwrap_or_else(|| panic!("POST {path}: no id in {answer}")).to_string()
    }

    /// POSTs a JSON body to an API path.
    pub async fn post_json(&self, key: &str, path: &str, body: &serde_json::Value) -> reqwest::Response {
        let url = format!("{}{path}", self.url);
        reqwest::Client::new().post(url).bearer_auth(key).json(body).send().await.expect("post json")
    }

    /// PUTs JSON to an API path.
    pub async fn put_json(&self, key: &str, path: &str, body: &serde_json::Value) -> reqwest::Response {
        let url = format!("{}{path}", self.url);
        reqwest::Client::new().put(url).bearer_auth(key).json(body).send().await.expect("put json")
    }

    /// POSTs a multipart form to an API path.
    pub async fn post_form(&self, key: &str, path: &str, form: reqwest::multipart::Form) -> reqwest::Response {
        let url = format!("{}{path}", self.url);
        reqwest::Client::new().post(url).bearer_auth(key).multipart(form).send().await.expect("post form")
    }

    /// GETs an API path; returns (status, JSON body).
    pub async fn get(&self, key: &str, path: &str) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new().get(format!("{}{path}", self.url)).bearer_auth(key).send().await.expect("get");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// Polls a media item until it is terminal (or 60 s pass).
    pub async fn settle(&self, key: &str, id: &str) -> serde_json::Value {
        self.settle_within(key, id, Duration::from_secs(60)).await
    }

    /// Polls a media item until it is terminal (or `wait` passes).
    pub async fn settle_within(&self, key: &str, id: &str, wait: Duration) -> serde_json::Value {
        let deadline = Instant::now() + wait;
        loop {
            let (status, item) = self.get(key, &format!("/v1/media/{id}")).await;
            let s = item["status"].as_str().unwrap_or("");
            // A deleted item answers 410: terminal too.
            if matches!(s, "processed" | "failed") || status == 410 {
                return item;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never settled: {item}\nworker log:\n{}\nvideo log:\n{}",
                self.log("worker"),
                self.log("video")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls a batch until its status is `status` (or 180 s pass); returns the batch with its items.
    pub async fn batch_reaching(&self, key: &str, id: &str, status: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let (_, b) = self.get(key, &format!("/v1/batches/{id}?limit=1000")).await;
            if b["status"] == status {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "batch never {status}: {}\nbatch log:\n{}",
                b["counts"],
                self.log("batch")
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

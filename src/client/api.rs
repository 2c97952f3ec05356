//! The server as the client sees it: its base URL, the key, and answers turned into errors that say what the
//! server said.

use anyhow::Context;

/// A mediamill server and the key to use on it.
#[derive(Clone)]
pub struct Server {
    /// Base URL, without a trailing slash.
    pub url: String,
    key: String,
    /// Shared connection pool.
    pub http: reqwest::Client,
}

impl Server {
    /// A server at `url` used with `key`.
    pub fn new(url: &str, key: &str) -> anyhow::Result<Server> {
        anyhow::ensure!(!key.is_empty(), "no API key: pass --key or set MEDIAMILL_KEY");
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Server { url: url.trim_end_matches('/').to_string(), key: key.to_string(), http })
    }

    /// A request to `path` (or to a full URL the server gave) with the key.
    pub fn request(&self, method: reqwest::Method, path_or_url: &str) -> reqwest::RequestBuilder {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.url)
        };
        self.http.request(method, url).bearer_auth(&self.key)
    }

    /// GETs JSON; an error answer becomes an error naming its status and the server's message.
    pub async fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let r = self.request(reqwest::Method::GET, path).send().await.with_context(|| format!("GET {path}"))?;
        answer(r).await
    }

    /// POSTs JSON and returns the answer's JSON.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let r = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        answer(r).await
    }
}

/// The JSON of a successful answer, or an error with the server's own message.
pub async fn answer(r: reqwest::Response) -> anyhow::Result<serde_json::Value> {
    let status = r.status();
    let url = r.url().path().to_string();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    if status.is_success() {
        return Ok(body);
    }
    anyhow::bail!("{url}: {status}: {}", message(&body))
}

/// The message of an error answer (`{"error": {"code", "message"}}`).
pub fn message(body: &serde_json::Value) -> String {
    match (body["error"]["code"].as_str(), body["error"]["message"].as_str()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        _ => body.to_string(),
    }
}

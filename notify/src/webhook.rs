//! Sending one webhook: a signed POST to a vetted address. Redirects are not followed (a redirect could
//! point anywhere), proxies from the environment are not used (a proxy would connect for us, to whatever
//! it resolves), and the client connects only to addresses its own resolver vetted in the same lookup.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mediamill_core::notify_model::{Attempt, Delivery};

use crate::signing::sign_all;
use mediamill_core::webhook_target as target;

/// An HTTP client for webhooks.
#[derive(Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    policy: target::Policy,
}

/// The webhook client's resolver: the names it connects to resolve only to vetted addresses, in the same
/// lookup that the connection then uses.
#[derive(Debug, Clone)]
pub struct PublicResolver(pub target::Policy);

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // The port is the connector's to add; 0 here is replaced by the URL's.
            let addrs = target::vetted_addrs(&host, 0, &policy)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl WebhookSender {
    /// A client with the timeout, no redirects, no proxy and the vetting resolver; failing to build one is
    /// an error (a default client would have none of those).
    pub fn new(timeout: Duration, policy: target::Policy) -> Result<WebhookSender, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PublicResolver(policy.clone())))
            .user_agent("mediamill-webhooks/1")
            .build()?;
        Ok(WebhookSender { http, policy })
    }

    /// One attempt at a delivery.
    pub async fn send(&self, d: &Delivery) -> Attempt {
        let ts = chrono_now_secs();
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("webhook-id".to_string(), d.event_id.clone()),
            ("webhook-timestamp".to_string(), ts.to_string()),
        ];
        if let Some(secret) = &d.secret {
            headers.push(("webhook-signature".to_string(), sign_all(secret, &d.event_id, ts, &d.payload)));
        }
        self.post(&d.target, headers, d.payload.clone().into_bytes()).await
    }

    /// One POST of `body` with `headers` to a vetted `url` (webhooks, SMS, Web Push share the rules).
    pub async fn post(&self, url: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Attempt {
        let started = Instant::now();
        // Form, port and literal addresses here; names are vetted by the resolver as the client connects.
        if let Err(e) = target::check_url(url, &self.policy) {
            return Attempt { status_code: None, error: Some(format!("target refused: {e}")), duration_ms: 0 };
        }
        let mut req = self.http.post(url).body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match r {
            Ok(resp) => {
                let code = resp.status().as_u16();
                let error = (!resp.status().is_success()).then(|| format!("HTTP {code}"));
                Attempt { status_code: Some(code), error, duration_ms }
            }
            Err(e) => Attempt { status_code: None, error: Some(describe(&e)), duration_ms },
        }
    }
}

fn chrono_now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// What went wrong, for the tenant's delivery log: the kind of failure and our own refusals, never the
/// error chain of the connection (it can carry the address a name resolved to).
fn describe(e: &reqwest::Error) -> String {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<target::Refused>() {
            return format!("target refused: {r}");
        }
        src = s.source();
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn strict() -> target::Policy {
        target::Policy { allow_private: false, ports: vec![80, 443] }
    }

    #[tokio::test]
    async fn the_resolver_hands_out_only_vetted_addresses() {
        use reqwest::dns::Resolve;
        let r = PublicResolver(strict());
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(r.resolve(name).await.is_err(), "a name resolving to loopback gives the client nothing");
        let open = PublicResolver(target::Policy { allow_private: true, ports: vec![] });
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = open.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[tokio::test]
    async fn a_name_that_rebinds_to_loopback_reaches_nothing() {
        // `localhost` stands for a name whose answer turned internal after registration: the client
        // resolves it through the vetting resolver, so the request never leaves.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let s = WebhookSender::new(Duration::from_secs(2), target::Policy { allow_private: false, ports: vec![port] })
            .unwrap();
        let d = Delivery { target: format!("http://localhost:{port}/hook"), ..test_delivery() };
        let a = s.send(&d).await;
        assert_eq!(a.status_code, None);
        let err = a.error.unwrap();
        assert!(err.starts_with("target refused") && err.contains("internal address"), "{err}");
        assert!(!err.contains("127.0.0.1"), "{err}");
        // Nothing connected.
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "the webhook reached loopback");
    }

    fn test_delivery() -> Delivery {
        Delivery {
            id: "d".into(),
            tenant_id: "t".into(),
            channel: mediamill_core::notify_model::Channel::Webhook,
            target_id: "e".into(),
            target: String::new(),
            secret: None,
            event_id: "ev".into(),
            event_type: "mediamill.media.processed.v1".into(),
            payload: "{}".into(),
            status: mediamill_core::notify_model::DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: 0,
            last_status: None,
            last_error: None,
            created_at: 0,
            delivered_at: None,
            traceparent: None,
        }
    }
}

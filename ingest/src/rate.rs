//! Request rate per tenant: a token bucket each, refilled at the tenant's rate (its own, set with
//! `mediamill tenants set NAME --requests-per-sec N`, else `limits.requests_per_sec`) up to a burst of
//! twice that. Over it: `429 rate_limited` with `Retry-After` and the IETF `RateLimit-Policy` /
//! `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers).
//!
//! Buckets are per ingest instance: with N instances behind a balancer that spreads a tenant's requests, the
//! tenant gets up to N times its rate. Set the rate to the total divided by the instance count (see
//! docs/security.md); a shared counter in the database would cost a write per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::{header, HeaderName, StatusCode};

use crate::error::ApiError;

/// Buckets kept before idle, full ones are dropped (one per active tenant).
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Every tenant's bucket on this instance.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one token from `key`'s bucket at `rate` per second; the refusal when there is none.
    pub fn check(&self, key: &str, rate: u32) -> Result<(), ApiError> {
        self.check_at(key, rate, Instant::now())
    }

    fn check_at(&self, key: &str, rate: u32, now: Instant) -> Result<(), ApiError> {
        let rate = f64::from(rate.max(1));
        let burst = rate * 2.0;
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(key.to_string()).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - b.tokens) / rate).ceil().max(1.0) as u64;
        let window = (burst / rate).ceil() as u64;
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "this tenant sends more than {rate} requests per second (burst {burst}; its own rate from \
                 `mediamill tenants set --requests-per-sec`, else limits.requests_per_sec); retry in {wait} s"
            ),
        )
        .with_header(header::RETRY_AFTER, wait.to_string())
        .with_header(HeaderName::from_static("ratelimit-policy"), format!("\"requests\";q={};w={window}", burst as u64))
        .with_header(HeaderName::from_static("ratelimit"), format!("\"requests\";r=0;t={wait}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_refills() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..4 {
            assert!(l.check_at("a", 2, t0).is_ok(), "request {i} of the burst of 4");
        }
        let e = l.check_at("a", 2, t0).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "rate_limited"));
        let h: HashMap<String, String> = e.headers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        assert_eq!(h["retry-after"], "1");
        assert_eq!(h["ratelimit-policy"], "\"requests\";q=4;w=2");
        assert_eq!(h["ratelimit"], "\"requests\";r=0;t=1");
        assert!(l.check_at("b", 2, t0).is_ok(), "another tenant has its own bucket");
        assert!(l.check_at("a", 2, t0 + Duration::from_millis(500)).is_ok(), "one token back after 1/rate");
        assert!(l.check_at("a", 2, t0 + Duration::from_millis(500)).is_err());
    }
}

//! Per-tenant limits held by one ingest instance: request rate and upload pace (token buckets), and counts
//! of uploads and live streams in progress. Values come from the tenant's own limits
//! (`mediamill tenants set NAME --limit KEY=VALUE`), else the `[tenants]` defaults; 0 means unlimited.
//!
//! Over the request rate: `429 rate_limited` with `Retry-After` and the IETF `RateLimit-Policy` /
//! `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers). Over the upload pace: the upload is read
//! more slowly, not refused. Over a count: `429 too_many_concurrent` naming the limit.
//!
//! All of this is per instance: with N instances behind a balancer that spreads a tenant's requests, the
//! tenant gets up to N times each value (docs/security.md says how to size them). Quotas on what is stored
//! are checked against the database and hold over all instances.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderName, StatusCode};

use crate::error::ApiError;

/// Entries kept before idle ones are dropped (one per active tenant).
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by tenant.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Refills `key`'s bucket (`rate` per second, up to twice that) and applies `take` to its tokens.
    fn with_bucket<T>(&self, key: &str, rate: f64, now: Instant, take: impl FnOnce(&mut f64) -> T) -> Option<T> {
        let burst = rate * 2.0;
        let mut buckets = self.buckets.lock().ok()?;
        if buckets.len() >= MAX_ENTRIES && !buckets.contains_key(key) {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(key.to_string()).or_insert(Bucket { tokens: burst, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
        b.at = now;
        Some(take(&mut b.tokens))
    }

    /// Takes one request from `key`'s bucket at `rate` per second (0: unlimited); the refusal when empty.
    pub fn check(&self, key: &str, rate: u64) -> Result<(), ApiError> {
        self.check_at(key, rate, Instant::now())
    }

    fn check_at(&self, key: &str, rate: u64, now: Instant) -> Result<(), ApiError> {
        if rate == 0 {
            return Ok(());
        }
        let r = rate as f64;
        let short = self.with_bucket(key, r, now, |tokens| {
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                None
            } else {
                Some(1.0 - *tokens)
            }
        });
        let Some(Some(missing)) = short else { return Ok(()) };
        let wait = (missing / r).ceil().max(1.0) as u64;
        let burst = rate * 2;
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "this tenant sends more than {rate} requests per second (burst {burst}; tenants.requests_per_sec or \
                 the tenant's own limit); retry in {wait} s"
            ),
        )
        .with_header(header::RETRY_AFTER, wait.to_string())
        .with_header(
            HeaderName::from_static("ratelimit-policy"),
            format!("\"requests\";q={burst};w={}", burst.div_ceil(rate)),
        )
        .with_header(HeaderName::from_static("ratelimit"), format!("\"requests\";r=0;t={wait}")))
    }

    /// Takes `n` units (bytes) from `key`'s bucket at `rate` per second (0: unlimited), going into debt if
    /// need be; returns how long to wait before going on, so the pace holds.
    pub fn pace(&self, key: &str, n: usize, rate: u64) -> Duration {
        if rate == 0 {
            return Duration::ZERO;
        }
        let r = rate as f64;
        let debt = self.with_bucket(key, r, Instant::now(), |tokens| {
            *tokens -= n as f64;
            (-*tokens).max(0.0)
        });
        Duration::from_secs_f64(debt.unwrap_or(0.0) / r)
    }
}

/// Counts of things in progress by tenant (uploads, live streams).
#[derive(Default)]
pub struct Slots {
    counts: Mutex<HashMap<String, u64>>,
}

/// One slot held; given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    key: String,
}

impl Slots {
    /// A slot for `key` if it holds fewer than `max` (0: unlimited); `what`/`setting` name it in the refusal.
    pub fn take(self: &Arc<Self>, key: &str, max: u64, what: &str, setting: &str) -> Result<Slot, ApiError> {
        let mut counts = self
            .counts
            .lock()
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"))?;
        let n = counts.entry(key.to_string()).or_insert(0);
        if max > 0 && *n >= max {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_concurrent",
                format!(
                    "this tenant has {max} {what} open on this instance already ({setting}); try again when one ends"
                ),
            )
            .with_header(header::RETRY_AFTER, "1"));
        }
        *n += 1;
        Ok(Slot { slots: self.clone(), key: key.to_string() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.slots.counts.lock() {
            if let Some(n) = counts.get_mut(&self.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.remove(&self.key);
                }
            }
        }
    }
}

/// Everything this instance holds per tenant.
#[derive(Default)]
pub struct TenantGuards {
    /// Requests a second.
    pub requests: RateLimiter,
    /// Upload bytes a second.
    pub upload_bytes: RateLimiter,
    /// Uploads in progress.
    pub uploads: Arc<Slots>,
    /// Live streams open.
    pub streams: Arc<Slots>,
}

/// `413 quota_exceeded` naming the quota.
pub fn quota_exceeded(quota: mediamill_core::model::TenantLimit, limit: u64, what: String) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota_exceeded",
        format!("{what}; the quota is {limit} (tenants.{}, or the tenant's own limit)", quota.key()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!((0..1000).all(|_| l.check_at("c", 0, t0).is_ok()), "0 is unlimited");
    }

    #[test]
    fn uploads_are_paced_to_the_byte_rate() {
        let l = RateLimiter::default();
        // 1000 B/s, bursts of 2000: the first 2000 bytes pass, then each 1000 costs a second.
        assert_eq!(l.pace("t", 2000, 1000), Duration::ZERO);
        let wait = l.pace("t", 1000, 1000);
        assert!((0.9..=1.0).contains(&wait.as_secs_f64()), "{wait:?}");
        assert_eq!(l.pace("t", 1_000_000, 0), Duration::ZERO, "0 is unlimited");
    }

    #[test]
    fn slots_count_per_tenant_and_come_back_when_dropped() {
        let s = Arc::new(Slots::default());
        let a1 = s.take("a", 2, "uploads", "tenants.concurrent_uploads").unwrap();
        let _a2 = s.take("a", 2, "uploads", "tenants.concurrent_uploads").unwrap();
        let e = s.take("a", 2, "uploads", "tenants.concurrent_uploads").err().unwrap();
        assert_eq!((e.status.as_u16(), e.code), (429, "too_many_concurrent"));
        assert!(e.message.contains("tenants.concurrent_uploads"));
        assert!(s.take("b", 2, "uploads", "x").is_ok(), "another tenant's count");
        drop(a1);
        assert!(s.take("a", 2, "uploads", "x").is_ok());
    }
}

//! CORS for browser clients, per tenant: a tenant lists the origins its web apps run on (`mediamill tenants
//! set NAME --cors-origin https://app.example.com`).
//!
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) carries no key, so it cannot say which tenant
//! asks: it is allowed when any tenant lists the origin (the union, read at most every 10 s). The real
//! request then carries the key, and its answer allows the origin only when *that* tenant lists it; without
//! that header the browser keeps the answer from the page. Origins are compared exactly (scheme, host, port).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use axum::middleware::Next;

use crate::state::AppState;

/// How long the union of every tenant's origins is kept.
const REFRESH: Duration = Duration::from_secs(10);
const ALLOW_METHODS: &str = "GET, POST, DELETE";
const ALLOW_HEADERS: &str = "authorization, content-type, idempotency-key, x-filename, last-event-id, x-request-id";
const EXPOSE_HEADERS: &str = "retry-after, ratelimit, ratelimit-policy, x-request-id, content-range, location";

/// Every origin some tenant allows, as last read.
#[derive(Default)]
pub struct CorsCache(Mutex<Option<(Instant, Arc<HashSet<String>>)>>);

/// The origins a request's tenant allows, noted by authentication for this middleware.
#[derive(Default)]
pub struct AllowedOrigins(pub std::sync::OnceLock<Vec<String>>);

async fn any_tenant_allows(st: &AppState, origin: &str) -> bool {
    let cached = st.cors.0.lock().ok().and_then(|c| c.clone()).filter(|(at, _)| at.elapsed() < REFRESH);
    let set = match cached {
        Some((_, set)) => set,
        None => {
            let tenants = st.backends.repo.list_tenants().await.unwrap_or_default();
            let set: Arc<HashSet<String>> = Arc::new(tenants.into_iter().flat_map(|t| t.cors_origins).collect());
            if let Ok(mut c) = st.cors.0.lock() {
                *c = Some((Instant::now(), set.clone()));
            }
            set
        }
    };
    set.contains(origin)
}

/// Answers preflights and marks allowed answers.
pub async fn cors(State(st): State<AppState>, mut req: Request, next: Next) -> Response<Body> {
    let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_string) else {
        return next.run(req).await;
    };
    if req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        let h = res.headers_mut();
        h.insert(header::VARY, HeaderValue::from_static("origin"));
        if any_tenant_allows(&st, &origin).await {
            if let Ok(v) = HeaderValue::from_str(&origin) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
                h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            }
        }
        return res;
    }
    let allowed = Arc::new(AllowedOrigins::default());
    req.extensions_mut().insert(allowed.clone());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("origin"));
    if allowed.0.get().is_some_and(|list| list.contains(&origin)) {
        if let Ok(v) = HeaderValue::from_str(&origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
        }
    }
    res
}

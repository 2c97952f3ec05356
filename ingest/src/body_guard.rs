//! Bounds on every request body, applied once, in front of every route.
//!
//! The body a handler reads passes through [`Guard`], which cuts it off when it breaks a bound:
//! - **pace**: a body that sends nothing for `limits.body_idle_secs`, or less than `limits.min_body_bytes_per_sec`
//!   on average once `limits.body_idle_secs` have passed, holds a connection and a task for nothing (a 1 byte/s
//!   upload) → `408`;
//! - **multipart shape**: text before the first boundary or a part's header section longer than
//!   `limits.max_part_header_bytes` (multer buffers both whole before it looks at them), or more than
//!   `limits.max_parts_per_request` parts → `413`.
//!
//! The handler sees a broken stream; the middleware then answers with the bound that was hit, so the client
//! learns which limit it met instead of a generic "upload interrupted".

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::Stream;
use mediamill_core::config::Limits;
use std::future::Future;
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;
use crate::state::AppState;

/// The bound a body broke, shared between the stream (which sets it) and the middleware (which answers it).
type Tripped = Arc<Mutex<Option<ApiError>>>;

/// Wraps every request's body in a [`Guard`] and answers a broken bound with its own status.
///
/// An answer given before the request's body was read to its end (a refusal by its Content-Length, a cut
/// body) says `Connection: close`: the unread rest would otherwise be taken for the next request, and a
/// client reusing the connection would see it fail.
pub async fn guard_bodies(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let tripped: Tripped = Arc::default();
    let ended = Arc::new(AtomicBool::new(false));
    let has_body = declares_body(&req);
    let shape = multipart_boundary(&req).map(|b| Shape::new(&b, &st.backends.cfg.limits));
    let note = req.extensions().get::<Arc<crate::gateway_log::Note>>().cloned();
    let (parts, body) = req.into_parts();
    let mut guard = Guard::new(body, &st.backends.cfg.limits, shape, tripped.clone(), ended.clone());
    guard.note = note;
    let res = next.run(Request::from_parts(parts, Body::from_stream(guard))).await;
    let broke = tripped.lock().ok().and_then(|mut t| t.take());
    let mut res = match broke {
        Some(e) => {
            metrics::counter!("mediamill_http_bodies_cut_total", "code" => e.code).increment(1);
            e.into_response()
        }
        None => res,
    };
    if has_body && !ended.load(Ordering::Acquire) {
        res.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    }
    res
}

/// Whether a request says it carries a body.
fn declares_body(req: &Request) -> bool {
    let h = req.headers();
    h.contains_key(axum::http::header::TRANSFER_ENCODING)
        || crate::upload_body::declared_length(h).is_some_and(|n| n > 0)
}

/// The boundary of a multipart body, from its Content-Type.
fn multipart_boundary(req: &Request) -> Option<Vec<u8>> {
    let ct = req.headers().get(axum::http::header::CONTENT_TYPE)?.to_str().ok()?;
    if !ct.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    let b = ct.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_string())
    })?;
    (!b.is_empty() && b.len() <= 200).then(|| format!("--{b}").into_bytes())
}

/// Where a multipart scan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the first boundary (multer buffers this whole).
    Preamble,
    /// In a part's header section, until its blank line.
    Header,
    /// In a part's data.
    Data,
}

/// Follows a multipart body's structure without buffering it: finds boundaries and header ends across
/// chunk edges with a carried tail of a few bytes.
#[derive(Debug)]
pub struct Shape {
    /// Finds `--boundary`: how the first part starts. Built once per body, not per chunk.
    first: memchr::memmem::Finder<'static>,
    /// Finds `\r\n--boundary`: how every later part starts (a boundary counts only at a line start).
    later: memchr::memmem::Finder<'static>,
    stage: Stage,
    /// Bytes seen in the current preamble or header section.
    run: usize,
    parts: usize,
    tail: Vec<u8>,
    max_header: usize,
    max_parts: usize,
}

impl Shape {
    /// A scanner for `delim` (`--` + the boundary).
    pub fn new(delim: &[u8], limits: &Limits) -> Shape {
        Shape {
            first: memchr::memmem::Finder::new(delim).into_owned(),
            later: memchr::memmem::Finder::new(&[b"\r\n".as_slice(), delim].concat()).into_owned(),
            stage: Stage::Preamble,
            run: 0,
            parts: 0,
            tail: Vec::new(),
            max_header: limits.max_part_header_bytes,
            // Non-file fields count too: each is parsed and buffered whole by multer.
            max_parts: limits.max_parts_per_request.saturating_mul(2).saturating_add(16),
        }
    }

    /// Takes the next chunk; an error names the bound it broke.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        let mut buf = std::mem::take(&mut self.tail);
        let carried = buf.len();
        buf.extend_from_slice(chunk);
        let mut at = 0;
        loop {
            match self.stage {
                Stage::Preamble | Stage::Data => {
                    let finder = if self.stage == Stage::Preamble { &self.first } else { &self.later };
                    let delim_len = finder.needle().len();
                    match finder.find(&buf[at..]) {
                        Some(i) => {
                            if self.stage == Stage::Preamble {
                                self.run += (at + i).saturating_sub(carried.max(at));
                                self.check_run("text before the first multipart boundary")?;
                            }
                            at += i + delim_len;
                            self.parts += 1;
                            // The closing boundary counts as one more.
                            if self.parts > self.max_parts + 1 {
                                return Err(ApiError::new(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                "too_many_parts",
                                format!(
                                    "the multipart body has more than {} parts (limits.max_parts_per_request counts files; \
                                     other fields may add as many again)",
                                    self.max_parts
                                ),
                            ));
                            }
                            self.stage = Stage::Header;
                            self.run = 0;
                        }
                        None => {
                            let keep = (delim_len - 1).min(buf.len() - at);
                            if self.stage == Stage::Preamble {
                                self.run += (buf.len() - at).saturating_sub(carried.saturating_sub(at));
                                self.check_run("text before the first multipart boundary")?;
                            }
                            self.tail = buf[buf.len() - keep..].to_vec();
                            return Ok(());
                        }
                    }
                }
                Stage::Header => match memchr::memmem::find(&buf[at..], b"\r\n\r\n") {
                    Some(i) => {
                        self.run += i + 4;
                        self.check_run("a multipart part's header section")?;
                        at += i + 4;
                        self.stage = Stage::Data;
                    }
                    None => {
                        let fresh = buf.len() - at.max(carried);
                        self.run += fresh;
                        self.check_run("a multipart part's header section")?;
                        let keep = 3.min(buf.len() - at);
                        self.tail = buf[buf.len() - keep..].to_vec();
                        return Ok(());
                    }
                },
            }
        }
    }

    fn check_run(&self, what: &str) -> Result<(), ApiError> {
        if self.run > self.max_header {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "part_header_too_large",
                format!("{what} is longer than {} bytes (limits.max_part_header_bytes)", self.max_header),
            ));
        }
        Ok(())
    }
}

/// A request body under the pace and shape bounds.
pub struct Guard {
    inner: axum::body::BodyDataStream,
    shape: Option<Shape>,
    tripped: Tripped,
    started: Instant,
    received: u64,
    idle: Duration,
    min_rate: u64,
    timer: Pin<Box<Sleep>>,
    done: bool,
    /// Set when the body was read to its end.
    ended: Arc<AtomicBool>,
    /// Where the bytes that came in are counted for the gateway log.
    note: Option<Arc<crate::gateway_log::Note>>,
}

impl Guard {
    fn new(body: Body, limits: &Limits, shape: Option<Shape>, tripped: Tripped, ended: Arc<AtomicBool>) -> Guard {
        let idle = Duration::from_secs(limits.body_idle_secs);
        Guard {
            inner: body.into_data_stream(),
            shape,
            tripped,
            started: Instant::now(),
            received: 0,
            idle,
            min_rate: limits.min_body_bytes_per_sec,
            timer: Box::pin(tokio::time::sleep(idle)),
            done: false,
            ended,
            note: None,
        }
    }

    fn trip(&mut self, e: ApiError) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        let msg = e.message.clone();
        if let Ok(mut t) = self.tripped.lock() {
            t.get_or_insert(e);
        }
        self.done = true;
        Poll::Ready(Some(Err(std::io::Error::other(msg))))
    }

    fn too_slow(&self) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_too_slow",
            format!(
                "the request body arrived too slowly: nothing for {} s (limits.body_idle_secs), or less than {} bytes/s \
                 on average (limits.min_body_bytes_per_sec)",
                self.idle.as_secs(),
                self.min_rate
            ),
        )
    }
}

impl Stream for Guard {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                if let Some(n) = &self.note {
                    n.bytes_in.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                let elapsed = self.started.elapsed();
                // The average pace is judged only after a grace period as long as the idle bound.
                if elapsed >= self.idle && self.received < self.min_rate.saturating_mul(elapsed.as_secs()) {
                    let e = self.too_slow();
                    return self.trip(e);
                }
                if let Some(shape) = self.shape.as_mut() {
                    if let Err(e) = shape.feed(&chunk) {
                        return self.trip(e);
                    }
                }
                let deadline = Instant::now() + self.idle;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(std::io::Error::other(e))))
            }
            Poll::Ready(None) => {
                self.done = true;
                self.ended.store(true, Ordering::Release);
                Poll::Ready(None)
            }
            Poll::Pending => {
                if self.timer.as_mut().poll(cx).is_ready() {
                    let e = self.too_slow();
                    return self.trip(e);
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { max_part_header_bytes: 100, max_parts_per_request: 2, ..Limits::default() }
    }

    fn body(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        for (h, d) in parts {
            b.extend_from_slice(format!("--XyZ\r\n{h}\r\n\r\n{d}\r\n").as_bytes());
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    /// Feeds `bytes` in chunks of every size from 1 to 7 and returns the first error of each.
    fn feed_all(bytes: &[u8]) -> Vec<Option<String>> {
        (1..=7)
            .map(|n| {
                let mut s = Shape::new(b"--XyZ", &limits());
                bytes.chunks(n).find_map(|c| s.feed(c).err()).map(|e| e.code.to_string())
            })
            .collect()
    }

    #[test]
    fn ordinary_bodies_pass_in_any_chunking() {
        let b =
            body(&[("Content-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"", "data--Xy not a boundary")]);
        assert!(feed_all(&b).iter().all(Option::is_none));
    }

    #[test]
    fn an_endless_part_header_is_cut() {
        let mut b = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; ".to_vec();
        b.extend(std::iter::repeat_n(b'a', 200));
        assert!(feed_all(&b).iter().all(|e| e.as_deref() == Some("part_header_too_large")));
    }

    #[test]
    fn a_long_preamble_is_cut() {
        let mut b = vec![b'x'; 300];
        b.extend(body(&[("Content-Disposition: form-data; name=\"a\"", "1")]));
        assert!(feed_all(&b).iter().all(|e| e.as_deref() == Some("part_header_too_large")));
    }

    #[test]
    fn too_many_parts_are_cut() {
        let h = "Content-Disposition: form-data; name=\"a\"";
        let ok = body(&[(h, "1"); 20]);
        assert!(feed_all(&ok).iter().all(Option::is_none), "20 parts = 2 × 2 + 16 is the bound");
        let over = body(&[(h, "1"); 21]);
        assert!(feed_all(&over).iter().all(|e| e.as_deref() == Some("too_many_parts")));
    }

    #[test]
    fn data_after_headers_does_not_count_against_the_header_bound() {
        let big = "y".repeat(10_000);
        let b = body(&[("Content-Disposition: form-data; name=\"file\"; filename=\"a\"", &big)]);
        assert!(feed_all(&b).iter().all(Option::is_none));
    }
}

//! Appending one request's bytes to a resumable upload. A part the request carries whole (it declared enough
//! bytes, and the upload is at a part's start) streams straight to the store's parted write as its bytes
//! arrive. Other bytes go to a spool file on this instance's disk (after the tail the last request left, read
//! back from the store), every whole part is sent from there as soon as it is there, and what is left at the
//! end becomes the new tail object: memory holds a few chunks whatever the size, and the next request may come
//! to any instance.
//!
//! One request at a time: it leases the upload at the offset it found and renews the lease as it goes; its
//! progress is saved with every part, so a process killed mid-request loses at most the bytes after the last
//! part, and the next `HEAD` says where to resume.

use std::io::SeekFrom;
use std::path::Path;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use mediamill_core::model::{ResumableUpload, UploadProgress};
use mediamill_core::repo::now_ms;
use mediamill_core::sniff::{sniff, SNIFF_BYTES};
use mediamill_core::store::Part;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

pub use super::finishing::{Answered, Predecessor};
use super::protocol::Checksum;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a request holds an upload before another may take it over (a killed instance's lease lapses).
const LEASE: Duration = Duration::from_secs(60);
/// Parts of one request sent to the store at once. S3 servers take parts faster side by side than one after
/// another (SeaweedFS with 1 GiB volumes: 0.78x a single PUT's rate one at a time, 0.83-0.94x four at a
/// time); the parts wait on disk, so this costs no memory.
const PARTS_IN_FLIGHT: usize = 4;

/// A part on its way to the store; it answers the store's tag.
type PartSend = tokio::task::JoinHandle<Result<String, mediamill_core::store::StoreError>>;

/// A streamed part's bytes are gathered to this size before each hand-off to its request.
const STREAM_GATHER: usize = 256 * 1024;
/// Gathered chunks queued for a streamed part's request.
const STREAM_QUEUE: usize = 8;

/// A part whose bytes go to the store as they arrive instead of through the spool. Taken only when the
/// request carries the whole part and no checksum must be verified first; should the request break off
/// mid-part, the part fails and its bytes are lost (the offset stays at the part's start, where the client
/// resumes), which costs at most one part and saves writing every byte to disk and reading it back.
struct Streaming {
    tx: mpsc::Sender<Bytes>,
    gathered: BytesMut,
    /// Bytes of the part still to come.
    left: u64,
    number: i32,
    /// The upload's offset where the part ends.
    end: u64,
    send: PartSend,
}

/// How often a request still receiving renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(20);

/// What a request did to the upload.
pub struct Appended {
    /// The upload as saved, bytes received included.
    pub upload: ResumableUpload,
    /// Set when the bytes broke a rule after the lease was taken; what was received before is kept when it
    /// could be (the offset says how much).
    pub refused: Option<ApiError>,
}

/// What the spool gathers before each write to its file: tokio hands every file write to its blocking pool,
/// and a request's body arrives in chunks of a few KiB, so writing each as it came cost a thread hand-off per
/// chunk, tens of thousands per GiB.
const SPOOL_BUFFER: usize = 1 << 20;

/// The spool file: bytes from absolute offset `base` of the upload, of which `len` are written.
struct Spool {
    file: tokio::io::BufWriter<tokio::fs::File>,
    path: tempfile::TempPath,
    base: u64,
    len: u64,
}

impl Spool {
    async fn new(base: u64) -> Result<Spool, ApiError> {
        let (file, path) = tempfile::Builder::new()
            .prefix("mediamill-tus-")
            .tempfile()
            .map_err(|e| ApiError::local_disk("creating a spool file", &e))?
            .into_parts();
        let file = tokio::io::BufWriter::with_capacity(SPOOL_BUFFER, tokio::fs::File::from_std(file));
        Ok(Spool { file, path, base, len: 0 })
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ApiError> {
        self.file.write_all(bytes).await.map_err(|e| ApiError::local_disk("writing the spool file", &e))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// The first `n` bytes (the sniff window), read back.
    async fn head(&mut self, n: u64) -> Result<Vec<u8>, ApiError> {
        self.file.flush().await.map_err(|e| ApiError::local_disk("flushing the spool file", &e))?;
        let f =
            tokio::fs::File::open(&self.path).await.map_err(|e| ApiError::failed_here("reading the spool file", e))?;
        let mut buf = Vec::with_capacity(n as usize);
        f.take(n).read_to_end(&mut buf).await.map_err(|e| ApiError::failed_here("reading the spool file", e))?;
        Ok(buf)
    }

    /// Drops the first `n` bytes (about to be sent as a part) by starting a new file with the rest; returns the
    /// old file, which lives until the part is sent.
    async fn advance(&mut self, n: u64) -> Result<tempfile::TempPath, ApiError> {
        self.file.flush().await.map_err(|e| ApiError::local_disk("flushing the spool file", &e))?;
        let mut next = Spool::new(self.base + n).await?;
        let mut f =
            tokio::fs::File::open(&self.path).await.map_err(|e| ApiError::failed_here("reading the spool file", e))?;
        f.seek(SeekFrom::Start(n)).await.map_err(|e| ApiError::failed_here("reading the spool file", e))?;
        let copied = tokio::io::copy(&mut f, &mut next.file)
            .await
            .map_err(|e| ApiError::local_disk("copying the spool file", &e))?;
        next.len = copied;
        let old = std::mem::replace(self, next);
        Ok(old.path)
    }
}

fn lost_lease() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "upload_moved",
        "another request moved this upload on while this one was writing; HEAD it for the offset to resume from",
    )
}

/// The working state of one request on one upload.
struct Appender {
    st: AppState,
    u: ResumableUpload,
    /// The offset the lease is held at (what the database says).
    saved_offset: u64,
    spool: Spool,
    part_bytes: u64,
    last_renew: tokio::time::Instant,
    /// Parts being sent while the next ones are received, oldest first: number, end offset, the send.
    in_flight: std::collections::VecDeque<(i32, u64, PartSend)>,
    /// The part being streamed, when there is one.
    streaming: Option<Streaming>,
    /// The upload's offset where this request's bytes end, when it declared its length.
    request_end: Option<u64>,
    /// The answered request this one follows, still storing: nothing is saved before it is.
    after: Option<Predecessor>,
    /// Parts of that request not in `u.progress.parts` yet.
    parts_pending: usize,
}

impl Appender {
    fn expires(&self) -> i64 {
        now_ms() + (self.st.backends.cfg.uploads.expire_secs as i64) * 1000
    }

    /// Saves `p`, built from `u.progress` after [`Appender::settle`].
    async fn save(&mut self, p: UploadProgress, keep_lease: bool) -> Result<(), ApiError> {
        let lease = keep_lease.then(|| now_ms() + LEASE.as_millis() as i64);
        let expires = self.expires();
        if !self.st.backends.repo.save_upload_progress(&self.u.id, self.saved_offset, &p, expires, lease).await? {
            return Err(lost_lease());
        }
        self.saved_offset = p.offset;
        self.u.progress = p;
        self.u.expires_at = expires;
        self.last_renew = tokio::time::Instant::now();
        Ok(())
    }

    async fn renew_if_due(&mut self) -> Result<(), ApiError> {
        if self.last_renew.elapsed() >= RENEW_EVERY {
            self.settle().await?;
            let p = self.u.progress.clone();
            self.save(p, true).await?;
        }
        Ok(())
    }

    /// Sniffs the first bytes once enough are here (or the upload is whole): `415` for a type not taken,
    /// `413` when the declared length is over that kind's limit.
    async fn sniff_if_due(&mut self) -> Result<(), ApiError> {
        if self.u.progress.content_type.is_some() || self.spool.base != 0 {
            return Ok(());
        }
        let window = (SNIFF_BYTES as u64).min(self.u.length);
        if self.spool.len < window {
            return Ok(());
        }
        let head = self.spool.head(window).await?;
        let sniffed = sniff(&head).ok_or_else(crate::upload::unsupported)?;
        let (limit, key) = crate::upload::limit_for(&self.st.backends.cfg.limits, sniffed.kind);
        if self.u.length > limit {
            return Err(crate::upload::too_large(self.u.length, limit, key, sniffed.kind, false));
        }
        self.u.progress.content_type = Some(sniffed.mime.to_string());
        Ok(())
    }

    /// Waits for the oldest part in flight, if any, and saves the progress it made.
    async fn collect_one(&mut self) -> Result<(), ApiError> {
        let Some((number, end, send)) = self.in_flight.pop_front() else { return Ok(()) };
        self.settle().await?;
        let tag = send.await.map_err(|e| ApiError::failed_here("sending a part", e))??;
        let mut p = self.u.progress.clone();
        p.parts.push((number, tag));
        p.offset = end;
        p.tail_size = 0;
        self.save(p, true).await
    }

    /// Waits for every part in flight, saving the progress in order.
    async fn collect(&mut self) -> Result<(), ApiError> {
        while !self.in_flight.is_empty() {
            self.collect_one().await?;
        }
        Ok(())
    }

    /// Starts sending the spool's first `len` bytes as the next part (once fewer than [`PARTS_IN_FLIGHT`] are
    /// on their way); receiving goes on meanwhile.
    async fn send_part(&mut self, len: u64) -> Result<(), ApiError> {
        self.sniff_if_due().await?;
        if self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.collect_one().await?;
        }
        let store = self.st.backends.store.clone();
        let handle = self.store_handle().await?;
        let number = self.next_part_number();
        let end = self.spool.base + len;
        let file = self.spool.advance(len).await?;
        let key = self.u.raw_key.clone();
        let send = tokio::spawn(async move {
            let part = Part { key: &key, handle: &handle, number };
            // The file is removed when this task is done with it.
            store.put_part(&part, &file, 0, len).await
        });
        self.in_flight.push_back((number, end, send));
        Ok(())
    }

    /// The store's parted write of this upload, started with its first part.
    async fn store_handle(&mut self) -> Result<String, ApiError> {
        if let Some(h) = &self.u.progress.store_handle {
            return Ok(h.clone());
        }
        let mime = self.u.progress.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
        let h = self.st.backends.store.start_parts(&self.u.raw_key, &mime).await?;
        self.u.progress.store_handle = Some(h.clone());
        Ok(h)
    }

    fn next_part_number(&self) -> i32 {
        (self.u.progress.parts.len() + self.parts_pending + self.in_flight.len()) as i32 + 1
    }

    /// Waits for the request this one follows to be stored, then takes the lease where it left the upload:
    /// `409` when it could not be stored (the client resends from the saved offset).
    async fn settle(&mut self) -> Result<(), ApiError> {
        // `after` stays until the lease is ours, so that a failure here gives back nothing it did not take.
        let Some(before) = self.after.as_mut() else { return Ok(()) };
        let stored = before.stored().await;
        let expected = self.u.progress.parts.len() + self.parts_pending;
        let Some(saved) =
            stored.filter(|s| s.progress.offset == self.saved_offset && s.progress.parts.len() == expected)
        else {
            return Err(lost_lease());
        };
        let until = now_ms() + LEASE.as_millis() as i64;
        if !self.st.backends.repo.lease_upload(&self.u.id, self.saved_offset, until).await? {
            return Err(lost_lease());
        }
        self.after = None;
        self.u.progress.parts = saved.progress.parts;
        self.parts_pending = 0;
        self.last_renew = tokio::time::Instant::now();
        Ok(())
    }

    /// Where the bytes received so far end, as an offset of the upload.
    fn received_to(&self) -> u64 {
        match &self.streaming {
            Some(s) => s.end - s.left,
            None => self.spool.base + self.spool.len,
        }
    }

    /// Starts streaming the next part when the upload is at a part's start, its type is known, and the rest of
    /// this request holds the whole part.
    async fn stream_if_whole(&mut self) -> Result<(), ApiError> {
        if self.streaming.is_some() || self.spool.len > 0 || self.u.progress.content_type.is_none() {
            return Ok(());
        }
        let start = self.spool.base;
        let len = self.part_bytes.min(self.u.length - start);
        if len == 0 || self.request_end.is_none_or(|end| end < start + len) {
            return Ok(());
        }
        if self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.collect_one().await?;
        }
        let handle = self.store_handle().await?;
        let number = self.next_part_number();
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        let (store, key) = (self.st.backends.store.clone(), self.u.raw_key.clone());
        let send = tokio::spawn(async move {
            let part = Part { key: &key, handle: &handle, number };
            store.put_part_streamed(&part, len, rx).await
        });
        let gathered = BytesMut::with_capacity(STREAM_GATHER);
        self.streaming = Some(Streaming { tx, gathered, left: len, number, end: start + len, send });
        Ok(())
    }

    /// Gives the streamed part what it still needs of `chunk`; answers how many bytes it took. A part that got
    /// all of its bytes joins the parts in flight.
    async fn feed(&mut self, chunk: &Bytes) -> Result<usize, ApiError> {
        let Some(s) = self.streaming.as_mut() else { return Ok(0) };
        let n = s.left.min(chunk.len() as u64) as usize;
        s.left -= n as u64;
        s.gathered.extend_from_slice(&chunk[..n]);
        if s.gathered.len() >= STREAM_GATHER || s.left == 0 {
            let full = s.gathered.split().freeze();
            if s.tx.send(full).await.is_err() {
                // The request stopped reading: its own error says why.
                let Some(s) = self.streaming.take() else { return Ok(n) };
                let e = match s.send.await {
                    Ok(Err(e)) => ApiError::from(e),
                    Ok(Ok(_)) => ApiError::failed_here("streaming a part", "the part ended before its bytes"),
                    Err(e) => ApiError::failed_here("streaming a part", e),
                };
                return Err(e);
            }
        }
        if s.left == 0 {
            if let Some(s) = self.streaming.take() {
                // The spool is empty; what comes next starts after this part.
                self.spool.base = s.end;
                self.in_flight.push_back((s.number, s.end, s.send));
            }
        }
        Ok(n)
    }

    /// Stops a part still streaming; its bytes are lost, and with them the running `digest`, which covered
    /// them (completion then hashes the stored object instead).
    fn lose_streaming(&mut self, digest: &mut Option<Sha256>) {
        if let Some(s) = self.streaming.take() {
            s.send.abort();
            *digest = None;
        }
    }

    /// Sends every whole part the spool holds.
    async fn send_whole_parts(&mut self) -> Result<(), ApiError> {
        while self.spool.len >= self.part_bytes {
            self.send_part(self.part_bytes).await?;
        }
        Ok(())
    }

    /// Keeps what the spool holds past the last part as the tail object and saves the progress.
    async fn keep_tail(&mut self) -> Result<(), ApiError> {
        self.collect().await?;
        self.settle().await?;
        let tail_key = self.u.tail_key();
        let mut p = self.u.progress.clone();
        if self.spool.len > 0 {
            self.spool.file.flush().await.map_err(|e| ApiError::local_disk("flushing the spool file", &e))?;
            put_file(&self.st, &tail_key, &self.spool.path).await?;
        } else if p.tail_size > 0 {
            self.st.backends.store.delete(&tail_key).await?;
        }
        p.offset = self.spool.base + self.spool.len;
        p.tail_size = self.spool.len;
        self.save(p, false).await
    }
}

/// Streams a file into the store under `key`.
async fn put_file(st: &AppState, key: &str, path: &Path) -> Result<(), ApiError> {
    let f = tokio::fs::File::open(path).await.map_err(|e| ApiError::failed_here("reading the spool file", e))?;
    let w = st.backends.store.writer(key, "application/octet-stream").await?;
    let chunks = tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024);
    mediamill_core::store::write_all(w, chunks, |e| ApiError::failed_here("reading the spool file", e)).await?;
    Ok(())
}

/// Appends `body` to `u`, which the caller found at `u.progress.offset` (the request's `Upload-Offset`), or
/// which `follow`'s request answered at that offset and is still storing; `declared` is the request's
/// `Content-Length`, when it gave one. `409` when another request holds the upload or moved it on first.
pub async fn append<S, E>(
    st: &AppState,
    u: ResumableUpload,
    follow: Option<(Answered, Predecessor)>,
    body: S,
    declared: Option<u64>,
    mut checksum: Option<Checksum>,
) -> Result<Appended, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let offset = u.progress.offset;
    // Following an answered request, the lease is taken once it is stored (`settle`).
    let (after, parts_pending, before) = match follow {
        Some((answered, predecessor)) => {
            let pending = answered.parts.saturating_sub(u.progress.parts.len());
            (Some(predecessor), pending, answered.digest)
        }
        None => {
            let leased = st.backends.repo.lease_upload(&u.id, offset, now_ms() + LEASE.as_millis() as i64).await?;
            if !leased {
                return Err(ApiError::new(
                    StatusCode::LOCKED,
                    "upload_locked",
                    "another request is writing to this upload (or it expired meanwhile); HEAD it for the offset to resume from",
                ));
            }
            // The digest of the bytes so far, when this instance received them all (see `hashes`).
            let before = if offset == 0 { Some(Sha256::new()) } else { st.tus_hashes.take(&u.id, offset) };
            (None, 0, before)
        }
    };
    let spool = Spool::new(offset - u.progress.tail_size).await?;
    let mut a = Appender {
        st: st.clone(),
        part_bytes: st.backends.cfg.uploads.part_bytes(),
        saved_offset: offset,
        spool,
        u,
        last_renew: tokio::time::Instant::now(),
        in_flight: Default::default(),
        streaming: None,
        request_end: declared.map(|d| offset + d),
        after,
        parts_pending,
    };
    let mut digest = before.clone();
    match receive(&mut a, body, &mut checksum, &mut digest).await {
        Ok(Received::All) => {
            if let Some(d) = digest {
                st.tus_hashes.put(&a.u.id, a.u.progress.offset, d);
            }
            Ok(Appended { upload: a.u, refused: None })
        }
        Ok(Received::More) => {
            // Bounded: past `MAX_STORING` requests storing behind their answers, this one waits for the
            // oldest before it answers.
            if let Some(p) = a.after.as_mut() {
                p.make_room().await;
            }
            if let Some(place) = st.tus_finishing.reserve() {
                return Ok(answer_then_store(a, place, digest, before, offset));
            }
            // The instance has as many storing behind answers as it takes: this one stores, then answers.
            store_rest(&mut a, digest, before, offset).await?;
            Ok(Appended { upload: a.u, refused: None })
        }
        Err(Stop::Keep(e)) => {
            // Keep what arrived before the fault: a resumed request goes on from there.
            match store_rest(&mut a, digest, before, offset).await {
                Ok(()) => Ok(Appended { upload: a.u, refused: e }),
                Err(kept) => Err(e.unwrap_or(kept)),
            }
        }
        Err(Stop::Discard(e)) => {
            release(st, &a).await;
            if let Some(d) = before {
                st.tus_hashes.put(&a.u.id, offset, d);
            }
            Err(e)
        }
    }
}

/// Answers a request that received all it carried, short of the upload's end, at once: its parts in flight
/// and its tail are stored behind the answer (see `finishing`), where a next request may follow it.
fn answer_then_store(
    mut a: Appender,
    place: OwnedSemaphorePermit,
    digest: Option<Sha256>,
    before: Option<Sha256>,
    offset: u64,
) -> Appended {
    let mut answered = a.u.clone();
    answered.progress.offset = a.received_to();
    let at_part_start = a.streaming.is_none() && a.spool.len == 0;
    if at_part_start {
        answered.progress.tail_size = 0;
    }
    let handover = Answered {
        upload: answered.clone(),
        parts: a.u.progress.parts.len() + a.parts_pending + a.in_flight.len(),
        digest: digest.clone(),
        at_part_start,
    };
    let st = a.st.clone();
    let follows = a.after.as_ref().map(Predecessor::still_storing).unwrap_or_default();
    st.tus_finishing.start(handover, follows, place, async move {
        match store_rest(&mut a, digest, before, offset).await {
            Ok(()) => Some(a.u),
            Err(e) => {
                tracing::warn!(
                    upload = %a.u.id, code = e.code, error = %e.message,
                    "storing an answered tus request failed; the client resends from the saved offset"
                );
                None
            }
        }
    });
    Appended { upload: answered, refused: None }
}

/// Stores what a request leaves (its parts in flight, its tail) and saves the progress; on failure gives the
/// lease back. The running digest is kept for where the upload got, or, on failure, for where the request
/// found it (`before` at `offset`).
async fn store_rest(
    a: &mut Appender,
    digest: Option<Sha256>,
    before: Option<Sha256>,
    offset: u64,
) -> Result<(), ApiError> {
    let st = a.st.clone();
    match a.keep_tail().await {
        Ok(()) => {
            if let Some(d) = digest {
                st.tus_hashes.put(&a.u.id, a.u.progress.offset, d);
            }
            Ok(())
        }
        Err(e) => {
            release(&st, a).await;
            if let Some(d) = before {
                st.tus_hashes.put(&a.u.id, offset, d);
            }
            Err(e)
        }
    }
}

/// How far a request that received every byte it carried got.
enum Received {
    /// The upload's last byte: every part is stored.
    All,
    /// The upload goes on: parts may still be on their way to the store, and the tail is not kept yet.
    More,
}

/// Why receiving stopped early.
enum Stop {
    /// Keep the bytes received so far (the client went away, or sent more than declared); `None` when the
    /// client is gone and there is no one to answer.
    Keep(Option<ApiError>),
    /// Keep nothing from this request (a checksum mismatch, a refused type, our own trouble).
    Discard(ApiError),
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Stop {
        Stop::Discard(e)
    }
}

/// Gives the lease back without moving the upload, so the client's retry need not wait for it to lapse. A part
/// still being sent is stopped: unrecorded, its number is sent again by the next request.
async fn release(st: &AppState, a: &Appender) {
    for (_, _, send) in &a.in_flight {
        send.abort();
    }
    if let Some(s) = &a.streaming {
        s.send.abort();
    }
    if a.after.is_some() {
        // It never took the lease: the request it follows still holds it, or gave it back.
        return;
    }
    let p = a.u.progress.clone();
    let _ = st.backends.repo.save_upload_progress(&a.u.id, a.saved_offset, &p, a.u.expires_at, None).await;
}

async fn receive<S, E>(
    a: &mut Appender,
    mut body: S,
    checksum: &mut Option<Checksum>,
    digest: &mut Option<Sha256>,
) -> Result<Received, Stop>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    // The tail the last request left comes first in the spool.
    if a.u.progress.tail_size > 0 {
        let mut tail = a.st.backends.store.open(&a.u.tail_key(), None).await.map_err(ApiError::from)?.body;
        while let Some(c) = tail.next().await {
            let c = c.map_err(|e| ApiError::failed_here("reading the upload's tail from the store", e))?;
            a.spool.write(&c).await?;
        }
        if a.spool.len != a.u.progress.tail_size {
            return Err(ApiError::failed_here(
                "reading the upload's tail",
                "the stored tail has another size than recorded",
            )
            .into());
        }
    }
    // With a checksum nothing may be kept before the whole request was verified: whole parts wait too.
    let verify = checksum.is_some();
    loop {
        let chunk = match body.next().await {
            None => break,
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                tracing::info!(upload = %a.u.id, error = %e, "upload request broke off");
                a.lose_streaming(digest);
                return if verify {
                    Err(Stop::Discard(ApiError::bad_request("upload_interrupted", e.to_string())))
                } else {
                    Err(Stop::Keep(None))
                };
            }
        };
        let room = a.u.length - a.received_to();
        if chunk.len() as u64 > room {
            let e = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "exceeds_upload_length",
                format!("the request carries more bytes than the upload's Upload-Length of {}", a.u.length),
            );
            a.lose_streaming(digest);
            return if verify { Err(Stop::Discard(e)) } else { Err(Stop::Keep(Some(e))) };
        }
        if let Some(c) = checksum.as_mut() {
            c.update(&chunk);
        }
        if let Some(d) = digest.as_mut() {
            d.update(&chunk);
        }
        if verify {
            // Everything waits in the spool until the checksum is verified.
            a.spool.write(&chunk).await?;
            a.sniff_if_due().await?;
        } else {
            take(a, chunk).await?;
        }
        a.renew_if_due().await?;
    }
    if a.streaming.is_some() {
        // The body ended short of its declared length (the server would have refused that already).
        a.lose_streaming(digest);
        return Err(Stop::Keep(None));
    }
    if let Some(c) = checksum.take() {
        c.verify()?;
        a.send_whole_parts().await?;
    }
    if a.received_to() == a.u.length {
        // The last bytes: whatever is left is the last part, which may be short.
        a.sniff_if_due().await?;
        if a.spool.len > 0 || a.next_part_number() == 1 {
            a.send_part(a.spool.len).await?;
        }
        a.collect().await?;
        // Every part is recorded, those of a request this one followed too, before the upload completes.
        a.settle().await?;
        return Ok(Received::All);
    }
    Ok(Received::More)
}

/// Takes one chunk without a checksum to verify: into the part streaming now, or into the spool up to the next
/// part's end, sending each part the spool completes, until the chunk is used up.
async fn take(a: &mut Appender, chunk: Bytes) -> Result<(), ApiError> {
    let mut rest = chunk;
    while !rest.is_empty() {
        a.stream_if_whole().await?;
        let took = if a.streaming.is_some() {
            a.feed(&rest).await?
        } else {
            // Never past the part's end, so that the spool empties at each part and the next may stream.
            a.send_whole_parts().await?;
            let n = (a.part_bytes - a.spool.len).min(rest.len() as u64) as usize;
            a.spool.write(&rest[..n]).await?;
            a.sniff_if_due().await?;
            a.send_whole_parts().await?;
            n
        };
        rest = rest.slice(took..);
    }
    Ok(())
}

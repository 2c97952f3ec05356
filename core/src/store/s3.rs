//! The object store on any S3-compatible server (AWS S3, SeaweedFS, MinIO, …) through aws-sdk-s3.
//!
//! Streaming writes of a known size above one part go up as one streaming PutObject ([`super::s3_put`]); others
//! use multipart uploads with fixed-size parts, so one upload holds at most one part in memory, and objects
//! smaller than a part go up with a single PutObject.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio_util::io::ReaderStream;

use super::{
    check_key, ByteRange, DirectUploads, ObjectRead, ObjectWriter, Part, SignedRequest, Store, StoreError,
    RESUMABLE_PREFIX,
};
use crate::config::S3Config;

/// Size of one multipart part; S3 wants at least 5 MiB for all but the last.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// The largest object S3 takes in one PutObject.
const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// Objects in one bucket of an S3-compatible server.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

pub(super) fn sdk_err<E: ProvideErrorMetadata + std::fmt::Debug>(key: &str, e: SdkError<E>) -> StoreError {
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!("{e:?}"))
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("");
            let status = se.raw().status().as_u16();
            if code == "NoSuchKey" || code == "NotFound" || status == 404 {
                StoreError::NotFound(key.to_string())
            } else if code == "InvalidRange" || status == 416 {
                StoreError::RangeNotSatisfiable { size: 0 }
            } else if status >= 500 || status == 429 {
                StoreError::Unavailable(format!("{code} (HTTP {status})"))
            } else if (400..500).contains(&status) {
                StoreError::Refused(format!("{code} (HTTP {status}): {}", se.err().message().unwrap_or("")))
            } else {
                StoreError::Other(format!("{code} (HTTP {status}): {}", se.err().message().unwrap_or("")))
            }
        }
        _ => StoreError::Other(format!("{e:?}")),
    }
}

/// An aws-sdk-s3 client for the configured endpoint, each request attempt given up to `attempt_timeout` (the
/// store's own use is 60 s; `bench upload`'s raw PUT of a whole file needs longer).
pub fn sdk_client(cfg: &S3Config, attempt_timeout: Duration) -> Client {
    let mut b = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(Region::new(cfg.region.clone()))
        .credentials_provider(Credentials::new(&cfg.access_key, &cfg.secret_key, None, None, "mediamill-config"))
        .force_path_style(cfg.path_style)
        // The SDK's default adds a CRC32 to every upload (an aws-chunked trailer on streaming bodies): CPU on
        // every byte, and a wire format not every S3-compatible server supports. Our own SHA-256 of every
        // upload is what the records keep.
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(attempt_timeout)
                .build(),
        );
    if !cfg.endpoint.is_empty() {
        b = b.endpoint_url(&cfg.endpoint);
    }
    Client::from_conf(b.build())
}

impl S3Store {
    /// Connects to the configured endpoint and, if asked, creates the bucket.
    pub async fn new(cfg: &S3Config) -> Result<S3Store, StoreError> {
        let store = S3Store { client: sdk_client(cfg, Duration::from_secs(60)), bucket: cfg.bucket.clone() };
        if cfg.create_bucket {
            match store.ensure_bucket().await {
                // A store that is down at start is an outage like any other: the process starts, every
                // operation retries or answers 503, and /readyz says so. Only a real refusal stops it here.
                Err(StoreError::Unavailable(e)) => {
                    tracing::warn!(bucket = %store.bucket, error = %e, "object store unreachable at start; carrying on")
                }
                other => other?,
            }
        }
        Ok(store)
    }

    /// The request of one part of a parted write, `len` bytes: sent by the store itself or presigned for a client.
    fn part_request(
        &self,
        part: &Part<'_>,
        len: u64,
    ) -> aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder {
        self.client
            .upload_part()
            .bucket(&self.bucket)
            .key(part.key)
            .upload_id(part.handle)
            .part_number(part.number)
            .content_length(len as i64)
    }

    /// Sends one part of a parted write, `len` bytes of `body`; answers its tag.
    async fn send_part(&self, part: &Part<'_>, len: u64, body: ByteStream) -> Result<String, StoreError> {
        let out = self.part_request(part, len).body(body).send().await.map_err(|e| sdk_err(part.key, e))?;
        Ok(out.e_tag().unwrap_or_default().to_string())
    }

    /// Multipart uploads in progress under `prefix`: (key, upload id, when it started).
    async fn multipart_uploads(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String, Option<std::time::SystemTime>)>, StoreError> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(id_marker.clone())
                .send()
                .await
                .map_err(|e| sdk_err(&self.bucket, e))?;
            for u in page.uploads() {
                let started = u.initiated().and_then(|t| std::time::SystemTime::try_from(*t).ok());
                out.push((
                    u.key().unwrap_or_default().to_string(),
                    u.upload_id().unwrap_or_default().to_string(),
                    started,
                ));
            }
            if !page.is_truncated().unwrap_or(false) || out.len() > 100_000 {
                return Ok(out);
            }
            key_marker = page.next_key_marker().map(String::from);
            id_marker = page.next_upload_id_marker().map(String::from);
            if key_marker.is_none() {
                return Ok(out);
            }
        }
    }

    async fn ensure_bucket(&self) -> Result<(), StoreError> {
        if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.code().unwrap_or("").to_string();
                if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
                    Ok(())
                } else {
                    Err(sdk_err(&self.bucket, e))
                }
            }
        }
    }

    // Sent as `UNSIGNED-PAYLOAD`, as the SDK already sends every streamed body: signing a body held in memory
    // means a SHA-256 of every byte on both sides (a variant's every byte, in the worker and the server),
    // where the connection's own checksums and the stored objects' checks are what guard the bytes.
    async fn put_object(&self, key: &str, content_type: &str, data: Bytes) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(data.len() as i64)
            .body(ByteStream::from(data))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| sdk_err(key, e))?;
        Ok(())
    }
}

struct S3Writer {
    store: S3Store,
    key: String,
    content_type: String,
    buf: BytesMut,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    written: u64,
    /// Finished or aborted: nothing left for `Drop` to clean.
    settled: bool,
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // Parts of an unfinished multipart upload are kept (and billed) until aborted.
        let (Some(id), false) = (self.upload_id.take(), self.settled) else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let (client, bucket, key) =
            (self.store.client.clone(), self.store.bucket.clone(), std::mem::take(&mut self.key));
        rt.spawn(async move {
            if let Err(e) = client.abort_multipart_upload().bucket(bucket).key(&key).upload_id(id).send().await {
                tracing::warn!(key, error = %e, "aborting an abandoned multipart upload");
            }
        });
    }
}

impl S3Writer {
    async fn flush_part(&mut self) -> Result<(), StoreError> {
        let c = &self.store.client;
        if self.upload_id.is_none() {
            let out = c
                .create_multipart_upload()
                .bucket(&self.store.bucket)
                .key(&self.key)
                .content_type(&self.content_type)
                .send()
                .await
                .map_err(|e| sdk_err(&self.key, e))?;
            self.upload_id = Some(out.upload_id().unwrap_or_default().to_string());
        }
        let part_number = self.parts.len() as i32 + 1;
        let body = self.buf.split().freeze();
        // Unsigned, as in `put_object`.
        let out = c
            .upload_part()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(self.upload_id.as_deref().unwrap_or_default())
            .part_number(part_number)
            .content_length(body.len() as i64)
            .body(ByteStream::from(body))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| sdk_err(&self.key, e))?;
        self.parts
            .push(CompletedPart::builder().part_number(part_number).set_e_tag(out.e_tag().map(String::from)).build());
        Ok(())
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.written += chunk.len() as u64;
        let mut rest = chunk;
        while !rest.is_empty() {
            let take = (PART_SIZE - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest.split_to(take));
            if self.buf.len() == PART_SIZE {
                self.flush_part().await?;
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        if self.upload_id.is_none() {
            let body = self.buf.split().freeze();
            self.store.put_object(&self.key, &self.content_type, body).await?;
            self.settled = true;
            return Ok(self.written);
        }
        if !self.buf.is_empty() {
            self.flush_part().await?;
        }
        let parts = std::mem::take(&mut self.parts);
        self.store
            .client
            .complete_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(self.upload_id.as_deref().unwrap_or_default())
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| sdk_err(&self.key, e))?;
        self.settled = true;
        Ok(self.written)
    }

    async fn abort(mut self: Box<Self>) {
        self.settled = true;
        if let Some(id) = &self.upload_id {
            let _ = self
                .store
                .client
                .abort_multipart_upload()
                .bucket(&self.store.bucket)
                .key(&self.key)
                .upload_id(id)
                .send()
                .await;
        }
    }
}

#[async_trait]
impl Store for S3Store {
    async fn writer_sized(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        if size <= PART_SIZE as u64 || size > MAX_SINGLE_PUT {
            return Ok(Box::new(super::SizedWriter::new(self.writer(key, content_type).await?, key, size)));
        }
        check_key(key)?;
        let put = super::s3_put::PutWriter::start(&self.client, &self.bucket, key, content_type, size);
        Ok(Box::new(super::SizedWriter::new(Box::new(put), key, size)))
    }

    async fn writer(&self, key: &str, content_type: &str) -> Result<Box<dyn ObjectWriter>, StoreError> {
        check_key(key)?;
        Ok(Box::new(S3Writer {
            store: self.clone(),
            key: key.to_string(),
            content_type: content_type.to_string(),
            buf: BytesMut::new(),
            upload_id: None,
            parts: Vec::new(),
            written: 0,
            settled: false,
        }))
    }

    async fn put(&self, key: &str, content_type: &str, data: Bytes) -> Result<(), StoreError> {
        check_key(key)?;
        self.put_object(key, content_type, data).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        check_key(key)?;
        let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| sdk_err(key, e))?;
        let data = out.body.collect().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(data.into_bytes())
    }

    async fn open(&self, key: &str, range: Option<ByteRange>) -> Result<ObjectRead, StoreError> {
        check_key(key)?;
        let mut req = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some(r) = range {
            req = req.range(r.to_header());
        }
        let out = match req.send().await.map_err(|e| sdk_err(key, e)) {
            Err(StoreError::RangeNotSatisfiable { .. }) => {
                let head = self
                    .client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| sdk_err(key, e))?;
                return Err(StoreError::RangeNotSatisfiable { size: head.content_length().unwrap_or(0) as u64 });
            }
            other => other?,
        };
        let content_type = out.content_type().unwrap_or("application/octet-stream").to_string();
        let len = out.content_length().unwrap_or(0) as u64;
        // Content-Range: bytes s-e/total
        let parsed = out.content_range().and_then(|cr| {
            let (se, total) = cr.strip_prefix("bytes ")?.split_once('/')?;
            let (s, e) = se.split_once('-')?;
            Some(((s.parse().ok()?, e.parse().ok()?), total.parse().ok()?))
        });
        let (range, total_size) = match (range, parsed) {
            (Some(_), Some((r, total))) => (Some(r), total),
            _ => (None, len),
        };
        let body = ReaderStream::new(out.body.into_async_read()).boxed();
        Ok(ObjectRead { content_type, total_size, range, body })
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(|e| sdk_err(key, e))?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let mut count = 0u64;
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_err(prefix, e))?;
            let ids: Vec<ObjectIdentifier> = out
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
                .collect();
            if !ids.is_empty() {
                count += ids.len() as u64;
                let del = Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(true)
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?;
                self.client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(del)
                    .send()
                    .await
                    .map_err(|e| sdk_err(prefix, e))?;
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated().unwrap_or(false) => token = Some(t.to_string()),
                _ => return Ok(count),
            }
        }
    }

    async fn start_parts(&self, key: &str, content_type: &str) -> Result<String, StoreError> {
        check_key(key)?;
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| sdk_err(key, e))?;
        out.upload_id().map(String::from).ok_or_else(|| StoreError::Other(format!("{key}: no upload id")))
    }

    async fn put_part(
        &self,
        part: &Part<'_>,
        path: &std::path::Path,
        offset: u64,
        len: u64,
    ) -> Result<String, StoreError> {
        check_key(part.key)?;
        let body = ByteStream::read_from()
            .path(path)
            .offset(offset)
            .length(aws_sdk_s3::primitives::Length::Exact(len))
            .build()
            .await
            .map_err(|e| StoreError::Other(format!("reading {}: {e}", path.display())))?;
        self.send_part(part, len, body).await
    }

    async fn put_part_streamed(
        &self,
        part: &Part<'_>,
        len: u64,
        chunks: tokio::sync::mpsc::Receiver<Bytes>,
    ) -> Result<String, StoreError> {
        check_key(part.key)?;
        // The body fails when the queue closes short of `len`, so a broken stream can never complete the part.
        let body = ByteStream::from_body_1_x(super::s3_put::QueuedBody { rx: chunks, left: len });
        self.send_part(part, len, body).await
    }

    async fn finish_parts(
        &self,
        key: &str,
        handle: &str,
        _content_type: &str,
        parts: &[(i32, String)],
    ) -> Result<(), StoreError> {
        check_key(key)?;
        let parts = parts
            .iter()
            .map(|(n, tag)| CompletedPart::builder().part_number(*n).e_tag(tag).build())
            .collect::<Vec<_>>();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(handle)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| sdk_err(key, e))?;
        Ok(())
    }

    async fn abort_parts(&self, key: &str, handle: &str) -> Result<(), StoreError> {
        check_key(key)?;
        let out = self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(handle).send().await;
        found(out.map_err(|e| sdk_err(key, e))).map(|_| ())
    }

    async fn incomplete_writes(&self, prefix: &str) -> Result<u64, StoreError> {
        Ok(self.multipart_uploads(prefix).await?.len() as u64)
    }

    async fn sweep_incomplete(&self, older_than: Duration) -> Result<u64, StoreError> {
        let cutoff = std::time::SystemTime::now() - older_than;
        let mut n = 0;
        for (key, id, started) in self.multipart_uploads("").await? {
            // Resumable uploads live until their own expiry, counted from their last activity.
            if started.is_some_and(|t| t < cutoff) && !key.starts_with(RESUMABLE_PREFIX) {
                self.client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&key)
                    .upload_id(id)
                    .send()
                    .await
                    .map_err(|e| sdk_err(&key, e))?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn direct(&self) -> Option<&dyn DirectUploads> {
        Some(self)
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.client.head_bucket().bucket(&self.bucket).send().await.map_err(|e| sdk_err(&self.bucket, e))?;
        Ok(())
    }
}

/// `None` for an answer that there is no such object or upload, the error for any other failure.
fn found<T>(r: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn signed(p: aws_sdk_s3::presigning::PresignedRequest) -> SignedRequest {
    SignedRequest {
        method: p.method().to_string(),
        url: p.uri().to_string(),
        headers: p.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

fn presigning(ttl: Duration) -> Result<aws_sdk_s3::presigning::PresigningConfig, StoreError> {
    aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl).map_err(|e| StoreError::Other(e.to_string()))
}

#[async_trait]
impl DirectUploads for S3Store {
    async fn presign_put(&self, key: &str, size: u64, ttl: Duration) -> Result<SignedRequest, StoreError> {
        check_key(key)?;
        let p = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(size as i64)
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| sdk_err(key, e))?;
        Ok(signed(p))
    }

    async fn presign_part(&self, part: &Part<'_>, size: u64, ttl: Duration) -> Result<SignedRequest, StoreError> {
        check_key(part.key)?;
        let p = self.part_request(part, size).presigned(presigning(ttl)?).await.map_err(|e| sdk_err(part.key, e))?;
        Ok(signed(p))
    }

    async fn uploaded_parts(&self, key: &str, handle: &str) -> Result<Vec<(i32, String, u64)>, StoreError> {
        check_key(key)?;
        let (mut parts, mut marker) = (Vec::new(), None::<String>);
        loop {
            let out = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(handle)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_err(key, e))?;
            for p in out.parts() {
                let (Some(n), Some(tag)) = (p.part_number(), p.e_tag()) else { continue };
                parts.push((n, tag.to_string(), p.size().unwrap_or(0).max(0) as u64));
            }
            match out.next_part_number_marker() {
                Some(m) if out.is_truncated().unwrap_or(false) => marker = Some(m.to_string()),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.0);
        Ok(parts)
    }

    async fn size_of(&self, key: &str) -> Result<Option<u64>, StoreError> {
        check_key(key)?;
        let out = self.client.head_object().bucket(&self.bucket).key(key).send().await;
        Ok(found(out.map_err(|e| sdk_err(key, e)))?.map(|o| o.content_length().unwrap_or(0).max(0) as u64))
    }
}

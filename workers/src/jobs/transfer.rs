//! Moving bytes between the object store and the worker: variants stored under their deterministic keys,
//! and large raw uploads streamed to and from local files so memory stays flat whatever their size.

use std::path::Path;

use bytes::Bytes;
use futures::StreamExt;
use mediamill_core::model::{Media, Variant};
use mediamill_core::store::{self, Store, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Step;

/// Chunk size of streamed transfers.
const CHUNK: usize = 1024 * 1024;

/// What a stored variant is, before its key and size are known.
struct VariantInfo<'a> {
    pub name: &'a str,
    pub format: &'a str,
    pub ext: &'a str,
    pub content_type: &'a str,
    pub width: u32,
    pub height: u32,
}

impl VariantInfo<'_> {
    fn stored(&self, key: String, size: u64) -> Variant {
        Variant {
            name: self.name.to_string(),
            format: self.format.to_string(),
            key,
            content_type: self.content_type.to_string(),
            width: self.width,
            height: self.height,
            size,
            url: None,
        }
    }
}

/// Stores an encoded image variant (a resize, a poster) of `m`.
pub async fn put_image(store: &dyn Store, m: &Media, o: crate::image::Output) -> Result<Variant, Step> {
    let format = format!("{:?}", o.format).to_ascii_lowercase();
    let info = VariantInfo {
        name: &o.name,
        format: &format,
        ext: o.format.ext(),
        content_type: o.format.mime(),
        width: o.width,
        height: o.height,
    };
    put_bytes(store, m, info, o.bytes).await
}

/// Streams a transcoded rendition of `m` (MP4 or M4A, written to a local file) into the store.
pub async fn put_rendition(store: &dyn Store, m: &Media, r: &crate::video::Encoded) -> Result<Variant, Step> {
    let ext = r.container.ext();
    let info = VariantInfo {
        name: &r.name,
        format: ext,
        ext,
        content_type: r.container.mime(),
        width: r.width,
        height: r.height,
    };
    put_file(store, m, info, &r.path).await
}

/// Stores an in-memory variant of `m`.
async fn put_bytes(store: &dyn Store, m: &Media, v: VariantInfo<'_>, bytes: Vec<u8>) -> Result<Variant, Step> {
    let key = store::variant_key(&m.tenant_id, &m.id, v.name, v.ext);
    let size = bytes.len() as u64;
    store.put(&key, v.content_type, Bytes::from(bytes)).await?;
    Ok(v.stored(key, size))
}

/// Streams a variant of `m` from a local file into the store.
async fn put_file(store: &dyn Store, m: &Media, v: VariantInfo<'_>, path: &Path) -> Result<Variant, Step> {
    let key = store::variant_key(&m.tenant_id, &m.id, v.name, v.ext);
    let size = stream_file(store, &key, v.content_type, path).await?;
    Ok(v.stored(key, size))
}

/// Streams a local file into the store under `key`; returns its size.
pub async fn stream_file(store: &dyn Store, key: &str, content_type: &str, path: &Path) -> Result<u64, Step> {
    let mut file =
        tokio::fs::File::open(path).await.map_err(|e| Step::Transient(format!("reading {}: {e}", path.display())))?;
    let mut w = store.writer(key, content_type).await?;
    let mut size = 0u64;
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = match file.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                w.abort().await;
                return Err(Step::Transient(format!("reading {}: {e}", path.display())));
            }
        };
        if n == 0 {
            break;
        }
        buf.truncate(n);
        size += n as u64;
        if let Err(e) = w.write(Bytes::from(buf)).await {
            w.abort().await;
            return Err(e.into());
        }
    }
    w.finish().await?;
    Ok(size)
}

/// Streams the object under `key` into a new local file at `path`.
pub async fn download(store: &dyn Store, key: &str, path: &Path) -> Result<u64, Step> {
    let obj = store.open(key, None).await?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| Step::Transient(format!("creating {}: {e}", path.display())))?;
    let mut body = obj.body;
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Step::from(StoreError::Unavailable(e.to_string())))?;
        n += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(|e| Step::Transient(format!("writing {}: {e}", path.display())))?;
    }
    file.flush().await.map_err(|e| Step::Transient(format!("writing {}: {e}", path.display())))?;
    Ok(n)
}

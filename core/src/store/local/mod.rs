//! The object store on a local directory: the embedded default.
//!
//! Writes go to a temporary file and are renamed into place, so a crash never leaves a half-written object
//! under its key. The content type is an extended attribute of the object's file ([`content_type`]).

mod content_type;

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::{check_key, ByteRange, ObjectRead, ObjectWriter, Part, Store, StoreError};

const TMP_DIR: &str = ".tmp";
/// Parted writes: one folder per handle, one file per part (apart from `.tmp`, whose entries count as
/// abandoned writes).
const PARTS_DIR: &str = ".parts";

/// Objects as files under one root folder.
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens (creating if needed) the store rooted at `root`.
    pub async fn new(root: &Path) -> Result<LocalStore, StoreError> {
        fs::create_dir_all(root.join(TMP_DIR)).await.map_err(io_err)?;
        Ok(LocalStore { root: root.to_path_buf() })
    }

    /// Path of the file holding `key`.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        if key.starts_with(TMP_DIR) || key.starts_with(PARTS_DIR) || key.ends_with(content_type::SIDECAR_SUFFIX) {
            return Err(StoreError::InvalidKey(key.to_string()));
        }
        Ok(self.root.join(key))
    }

    /// A fresh temporary path: writes land here and are renamed into place.
    fn new_tmp(&self) -> PathBuf {
        self.root.join(TMP_DIR).join(uuid::Uuid::new_v4().to_string())
    }

    /// The folder of part `part`'s parted write (which must exist) and the temporary file the part is written
    /// to before [`settle_part`] puts it in place.
    async fn part_tmp(&self, part: &Part<'_>) -> Result<(PathBuf, PathBuf), StoreError> {
        self.path_of(part.key)?;
        let dir = self.parts_dir(part.handle)?;
        if fs::metadata(&dir).await.is_err() {
            return Err(StoreError::NotFound(format!("parted write {}", part.handle)));
        }
        let tmp = dir.join(format!("{}.partial", part.number));
        Ok((dir, tmp))
    }

    /// The folder of one parted write; the handle is ours (a uuid), but checked anyway since it comes back
    /// from the database.
    fn parts_dir(&self, handle: &str) -> Result<PathBuf, StoreError> {
        if handle.is_empty() || !handle.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(StoreError::InvalidKey(handle.to_string()));
        }
        Ok(self.root.join(PARTS_DIR).join(handle))
    }
}

/// A file's bytes as a stream.
async fn read_file(path: PathBuf) -> std::io::Result<ReaderStream<fs::File>> {
    fs::File::open(path).await.map(|f| ReaderStream::with_capacity(f, 256 * 1024))
}

fn io_err(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn not_found_or(key: &str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound(key.to_string())
        } else {
            io_err(e)
        }
    }
}

/// Runs `f` (several file system calls) on the blocking pool in one hand-off; `what` names it if the task
/// stops.
async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<std::io::Result<T>, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Other(format!("the blocking {what} stopped: {e}")))
}

/// Syncs a part written to `tmp` and puts it in place under its number in `dir`; answers the part's tag.
async fn settle_part(file: fs::File, tmp: &Path, dir: &Path, part: &Part<'_>, len: u64) -> Result<String, StoreError> {
    file.sync_all().await.map_err(io_err)?;
    fs::rename(tmp, dir.join(part.number.to_string())).await.map_err(io_err)?;
    Ok(format!("{}-{len}", part.number))
}

/// Writes `data` to `tmp` and puts it in place as `dest`: one object, whole.
fn write_whole(tmp: &Path, dest: &Path, content_type: &str, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(tmp)?;
    f.write_all(data)?;
    put_in_place(&f, tmp, dest, content_type)
}

/// Records the content type of `file` (written at `tmp`), syncs it and moves it to `dest`.
fn put_in_place(file: &std::fs::File, tmp: &Path, dest: &Path, content_type: &str) -> std::io::Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    content_type::record(file, dest, content_type)?;
    file.sync_all()?;
    std::fs::rename(tmp, dest)
}

struct LocalWriter {
    tmp: PathBuf,
    dest: PathBuf,
    content_type: String,
    file: fs::File,
    written: u64,
    /// Finished or aborted: nothing left for `Drop` to clean.
    settled: bool,
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if !self.settled {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[async_trait]
impl ObjectWriter for LocalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.file.write_all(&chunk).await.map_err(io_err)?;
        self.written += chunk.len() as u64;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        self.file.flush().await.map_err(io_err)?;
        // Sync, folder, content type and rename in one blocking call rather than a hand-off each.
        let file = self.file.try_clone().await.map_err(io_err)?.into_std().await;
        let (tmp, dest, content_type) = (self.tmp.clone(), self.dest.clone(), self.content_type.clone());
        blocking("write", move || put_in_place(&file, &tmp, &dest, &content_type)).await?.map_err(io_err)?;
        self.settled = true;
        Ok(self.written)
    }

    async fn abort(mut self: Box<Self>) {
        let _ = fs::remove_file(&self.tmp).await;
        self.settled = true;
    }
}

#[async_trait]
impl Store for LocalStore {
    async fn writer(&self, key: &str, content_type: &str) -> Result<Box<dyn ObjectWriter>, StoreError> {
        let dest = self.path_of(key)?;
        let tmp = self.new_tmp();
        let file = fs::File::create(&tmp).await.map_err(io_err)?;
        Ok(Box::new(LocalWriter {
            tmp,
            dest,
            content_type: content_type.to_string(),
            file,
            written: 0,
            settled: false,
        }))
    }

    async fn put(&self, key: &str, content_type: &str, data: Bytes) -> Result<(), StoreError> {
        // Bytes already in memory (every variant) are written, synced and renamed into place in one blocking
        // call: through `writer` each of those steps is a hand-off to the blocking pool and back, about seven
        // an object, which the pipeline benchmark counted among its per-item costs.
        let dest = self.path_of(key)?;
        let tmp = self.new_tmp();
        let content_type = content_type.to_string();
        blocking("write", move || {
            let written = write_whole(&tmp, &dest, &content_type, &data);
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written
        })
        .await?
        .map_err(io_err)
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path_of(key)?;
        fs::read(&path).await.map(Bytes::from).map_err(not_found_or(key))
    }

    async fn open(&self, key: &str, range: Option<ByteRange>) -> Result<ObjectRead, StoreError> {
        let path = self.path_of(key)?;
        // Open, size and type in one blocking call rather than a hand-off each.
        let (file, total_size, content_type) = blocking("open", move || {
            let file = std::fs::File::open(&path)?;
            let size = file.metadata()?.len();
            let content_type = content_type::read(&file, &path);
            Ok((file, size, content_type))
        })
        .await?
        .map_err(not_found_or(key))?;
        let mut file = fs::File::from_std(file);
        let (range, body) = match range {
            None => (None, ReaderStream::new(file).boxed()),
            Some(r) => {
                let (s, e) = r.resolve(total_size).ok_or(StoreError::RangeNotSatisfiable { size: total_size })?;
                file.seek(SeekFrom::Start(s)).await.map_err(io_err)?;
                (Some((s, e)), ReaderStream::new(file.take(e - s + 1)).boxed())
            }
        };
        Ok(ObjectRead { content_type, total_size, range, body })
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        for p in [content_type::sidecar(&path), path] {
            match fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        // Our prefixes always end at a folder boundary (`derived/t/m/`), so a prefix is a folder here.
        let folder = prefix.trim_end_matches('/');
        let path = self.path_of(folder)?;
        let mut count = 0u64;
        let mut stack = vec![path.clone()];
        while let Some(dir) = stack.pop() {
            let mut rd = match fs::read_dir(&dir).await {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(e)),
            };
            while let Some(entry) = rd.next_entry().await.map_err(io_err)? {
                let ft = entry.file_type().await.map_err(io_err)?;
                if ft.is_dir() {
                    stack.push(entry.path());
                } else if !entry.file_name().to_string_lossy().ends_with(content_type::SIDECAR_SUFFIX) {
                    count += 1;
                }
            }
        }
        match fs::remove_dir_all(&path).await {
            Ok(()) => Ok(count),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_err(e)),
        }
    }

    async fn start_parts(&self, key: &str, _content_type: &str) -> Result<String, StoreError> {
        self.path_of(key)?;
        let handle = uuid::Uuid::new_v4().simple().to_string();
        fs::create_dir_all(self.parts_dir(&handle)?).await.map_err(io_err)?;
        Ok(handle)
    }

    async fn put_part(
        &self,
        part: &Part<'_>,
        path: &std::path::Path,
        offset: u64,
        len: u64,
    ) -> Result<String, StoreError> {
        let (dir, tmp) = self.part_tmp(part).await?;
        let mut src = fs::File::open(path).await.map_err(io_err)?;
        src.seek(SeekFrom::Start(offset)).await.map_err(io_err)?;
        let mut dst = fs::File::create(&tmp).await.map_err(io_err)?;
        let copied = tokio::io::copy(&mut src.take(len), &mut dst).await.map_err(io_err)?;
        if copied != len {
            return Err(StoreError::Other(format!("{} holds {copied} of the part's {len} bytes", path.display())));
        }
        settle_part(dst, &tmp, &dir, part, len).await
    }

    async fn put_part_streamed(
        &self,
        part: &Part<'_>,
        len: u64,
        mut chunks: tokio::sync::mpsc::Receiver<Bytes>,
    ) -> Result<String, StoreError> {
        let (dir, tmp) = self.part_tmp(part).await?;
        let mut dst = tokio::io::BufWriter::with_capacity(1 << 20, fs::File::create(&tmp).await.map_err(io_err)?);
        let mut got = 0u64;
        while let Some(chunk) = chunks.recv().await {
            got += chunk.len() as u64;
            if got > len {
                break;
            }
            dst.write_all(&chunk).await.map_err(io_err)?;
        }
        if got != len {
            drop(dst);
            let _ = fs::remove_file(&tmp).await;
            return Err(StoreError::Other(format!("part {} came with {got} of its {len} bytes", part.number)));
        }
        dst.flush().await.map_err(io_err)?;
        settle_part(dst.into_inner(), &tmp, &dir, part, len).await
    }

    async fn finish_parts(
        &self,
        key: &str,
        handle: &str,
        content_type: &str,
        parts: &[(i32, String)],
    ) -> Result<(), StoreError> {
        let dir = self.parts_dir(handle)?;
        let w = self.writer(key, content_type).await?;
        // The part files one after another, each opened when the one before it is done.
        let paths: Vec<PathBuf> = parts.iter().map(|(n, _)| dir.join(n.to_string())).collect();
        let files = futures::stream::iter(paths).then(read_file).try_flatten();
        super::write_all(w, Box::pin(files), |e| not_found_or(key)(e)).await?;
        let _ = fs::remove_dir_all(&dir).await;
        Ok(())
    }

    async fn abort_parts(&self, _key: &str, handle: &str) -> Result<(), StoreError> {
        match fs::remove_dir_all(self.parts_dir(handle)?).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(e)),
            _ => Ok(()),
        }
    }

    async fn incomplete_writes(&self, _prefix: &str) -> Result<u64, StoreError> {
        // Temporary files are named by uuid, not key: every unfinished write counts.
        let mut n = 0;
        let mut dir = fs::read_dir(self.root.join(TMP_DIR)).await.map_err(io_err)?;
        while dir.next_entry().await.map_err(io_err)?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    async fn sweep_incomplete(&self, older_than: std::time::Duration) -> Result<u64, StoreError> {
        let mut n = 0;
        let mut dir = fs::read_dir(self.root.join(TMP_DIR)).await.map_err(io_err)?;
        while let Some(e) = dir.next_entry().await.map_err(io_err)? {
            let old = e
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > older_than);
            if old && fs::remove_file(e.path()).await.is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn check(&self) -> Result<(), StoreError> {
        fs::metadata(&self.root).await.map(|_| ()).map_err(io_err)
    }
}

//! The worker's side: a pool of warm children, one job each at a time. A job leases a child, sends its
//! request, reads progress and the answer under a deadline; a child that dies, talks nonsense or overruns
//! is killed, its ending becomes the job's failure, and a fresh child takes its place before the next job.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::BufReader;
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::Semaphore;

use super::ending;
use super::protocol::{self, FrameError, Message, Reply, Request};
use crate::failure::ProcessError;

/// How to start a child and what it may use.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// The `mediamill` binary (the worker's own executable).
    pub program: PathBuf,
    /// Arguments before the limits, normally `["sandbox"]`.
    pub args: Vec<String>,
    /// Address-space limit in MiB (0: none).
    pub memory_mb: u64,
    /// The configuration key of that limit, for messages.
    pub memory_key: &'static str,
    /// Jobs after which a child is replaced anyway (bounds slow leaks and heap fragmentation in C decoders).
    pub max_jobs: u32,
    /// `image` or `video`, in logs and metrics.
    pub kind: &'static str,
    /// The folder under which the worker makes job folders: the only place the child may read or write
    /// (besides the system's libraries, read-only). `None`: nowhere.
    pub work_dir: Option<PathBuf>,
}

/// Why a job got no answer from a child.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The file made the child fail or die: a permanent failure of this job.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// No child could be started: the machine's trouble, not the file's.
    #[error("starting a sandbox child: {0}")]
    Spawn(#[source] std::io::Error),
}

/// A pool of sandbox children.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    spec: ChildSpec,
    idle: Mutex<Vec<Child>>,
    slots: Semaphore,
}

struct Child {
    proc: tokio::process::Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// What the child wrote to stderr: the last line, and whether a line told of a failed allocation
    /// since the current job began (that tells an out-of-memory death from a crash).
    stderr: Arc<Mutex<Stderr>>,
    stderr_done: tokio::sync::watch::Receiver<bool>,
    pid: u32,
    jobs: u32,
    /// It said `Ready`.
    ready: bool,
}

#[derive(Default)]
struct Stderr {
    last_line: String,
    oom: bool,
}

impl Supervisor {
    /// Starts `size` children and waits until each is ready, so a child that cannot start (a limit too
    /// small to load the program, a wrong binary) stops the worker at start with the reason.
    pub async fn start(spec: ChildSpec, size: usize) -> Result<Supervisor, CallError> {
        let size = size.max(1);
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            idle.push(spawn(&spec)?);
        }
        for c in &mut idle {
            c.ready(&spec).await?;
        }
        tracing::info!(kind = spec.kind, children = size, memory_mb = spec.memory_mb, "sandbox children started");
        Ok(Supervisor { inner: Arc::new(Inner { spec, idle: Mutex::new(idle), slots: Semaphore::new(size) }) })
    }

    /// Process ids of the children waiting for work.
    pub fn idle_pids(&self) -> Vec<u32> {
        self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|c| c.pid).collect()
    }

    /// Sends `req` (with `blobs`) to a child and returns its answer, calling `on_progress` for each progress
    /// report. A [`Reply::Failed`] answer comes back as `Err`. Dropping the future kills the child (how a
    /// shutdown hands a long job back).
    pub async fn call(
        &self,
        req: &Request,
        blobs: &[&[u8]],
        timeout: Duration,
        mut on_progress: impl FnMut(f64) + Send,
    ) -> Result<Message<Reply>, CallError> {
        let _slot =
            self.inner.slots.acquire().await.map_err(|_| CallError::Spawn(std::io::Error::other("pool closed")))?;
        let mut lease = Lease { child: Some(self.take()?), inner: &self.inner, keep: false, why: "cancelled" };
        let child = lease.child.as_mut().ok_or_else(|| CallError::Spawn(std::io::Error::other("no child")))?;
        if let Err(e) = child.ready(&self.inner.spec).await {
            lease.why = "start_failed";
            return Err(e);
        }
        child.stderr.lock().unwrap_or_else(|p| p.into_inner()).oom = false;
        let answer = tokio::time::timeout(timeout, async {
            protocol::write_async(&mut child.stdin, req, blobs).await?;
            loop {
                match protocol::read_async::<Reply>(&mut child.stdout).await? {
                    (Reply::Progress(f), _) => on_progress(f),
                    done => return Ok::<_, FrameError>(done),
                }
            }
        })
        .await;
        match answer {
            Ok(Ok((Reply::Failed { reason, message }, _))) => {
                lease.keep = true;
                Err(ProcessError::reported(&reason, message).into())
            }
            Ok(Ok(done)) => {
                lease.keep = true;
                Ok(done)
            }
            Ok(Err(e)) => {
                let failure = child.ending(&self.inner.spec, &e).await;
                tracing::warn!(kind = self.inner.spec.kind, pid = child.pid, pipe = %e, reason = failure.reason(), error = %failure, "sandbox child died");
                lease.why = failure.reason();
                Err(failure.into())
            }
            Err(_) => {
                tracing::warn!(
                    kind = self.inner.spec.kind,
                    pid = child.pid,
                    timeout_s = timeout.as_secs(),
                    "sandbox child overran; killing it"
                );
                lease.why = "timeout";
                Err(ProcessError::Timeout(timeout.as_secs()).into())
            }
        }
    }

    fn take(&self) -> Result<Child, CallError> {
        let idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(c) => Ok(c),
            None => spawn(&self.inner.spec),
        }
    }
}

/// A child out of the pool for one job. Dropped, it goes back when the job ended normally, else it is
/// killed and replaced at once (so the pool stays warm).
struct Lease<'a> {
    child: Option<Child>,
    inner: &'a Inner,
    keep: bool,
    /// Why the child is being replaced, for the metric.
    why: &'static str,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        child.jobs += 1;
        let spec = &self.inner.spec;
        let why = match (self.keep, child.jobs >= spec.max_jobs) {
            (true, false) => {
                self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).push(child);
                return;
            }
            (true, true) => "recycled",
            (false, _) => self.why,
        };
        metrics::counter!("mediamill_sandbox_children_replaced_total", "kind" => spec.kind, "reason" => why)
            .increment(1);
        // Dropping the handle kills the process (kill_on_drop) and tokio reaps it.
        drop(child);
        // A job dropped while the runtime shuts down needs no successor (and could not start one).
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        match spawn(spec) {
            Ok(c) => self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).push(c),
            // The next job tries again and fails as transient if it cannot either.
            Err(e) => tracing::error!(kind = spec.kind, error = %e, "could not start a replacement sandbox child"),
        }
    }
}

/// How long a child may take to load its libraries and say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn not_started(why: impl std::fmt::Display) -> CallError {
    CallError::Spawn(std::io::Error::other(format!("a sandbox child did not start: {why}")))
}

impl Child {
    /// Waits for the child's `Ready` (once per child).
    async fn ready(&mut self, spec: &ChildSpec) -> Result<(), CallError> {
        if self.ready {
            return Ok(());
        }
        match tokio::time::timeout(START_TIMEOUT, protocol::read_async::<Reply>(&mut self.stdout)).await {
            Ok(Ok((Reply::Ready, _))) => {
                self.ready = true;
                Ok(())
            }
            Ok(Ok(_)) => Err(not_started("it answered before it was asked")),
            Ok(Err(e)) => Err(not_started(self.ending(spec, &e).await)),
            Err(_) => Err(not_started(format!("no answer within {} s", START_TIMEOUT.as_secs()))),
        }
    }

    /// Reaps the child and reads its last words: the failure to report. One still alive after the pipe
    /// broke (it wrote garbage) is killed and reported as broken, not as whatever the kill looks like.
    async fn ending(&mut self, spec: &ChildSpec, pipe: &FrameError) -> ProcessError {
        let status = match tokio::time::timeout(Duration::from_millis(500), self.proc.wait()).await {
            Ok(r) => r.ok(),
            Err(_) => {
                let _ = self.proc.start_kill();
                let _ = self.proc.wait().await;
                return ProcessError::Crashed(format!(
                    "the decoder process broke the protocol ({pipe}) and was killed"
                ));
            }
        };
        // The stderr reader finishes soon after the process is gone.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stderr_done.wait_for(|d| *d)).await;
        let err = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let limit = format!("{} MiB ({})", spec.memory_mb, spec.memory_key);
        ending::classify(status, err.oom, &err.last_line, &limit)
    }
}

/// Longest stderr line of a child that is kept (a hostile decoder may print one endless line).
pub const MAX_STDERR_LINE: usize = 4096;

/// The next line of `r`, at most `cap` bytes of it; `None` at the end.
pub async fn read_capped_line<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R, cap: usize) -> Option<Vec<u8>> {
    use tokio::io::AsyncBufReadExt;
    let mut line = Vec::new();
    loop {
        let buf = match r.fill_buf().await {
            Ok([]) => return (!line.is_empty()).then_some(line),
            Ok(b) => b,
            Err(_) => return (!line.is_empty()).then_some(line),
        };
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..n.min(room)]);
        r.consume(n);
        if done {
            return Some(line);
        }
    }
}

fn spawn(spec: &ChildSpec) -> Result<Child, CallError> {
    let mut cmd = tokio::process::Command::new(&spec.program);
    cmd.args(&spec.args)
        .arg("--memory-mb")
        .arg(spec.memory_mb.to_string())
        .arg("--parent-pid")
        .arg(std::process::id().to_string());
    if let Some(dir) = &spec.work_dir {
        cmd.arg("--work-dir").arg(dir);
    }
    // Nothing of the worker's environment (database URL, store keys): only what the child needs, by name.
    cmd.env_clear()
        // glibc reserves 64 MiB of address space per malloc arena; a few arenas keep the limit about memory used.
        .env("MALLOC_ARENA_MAX", "2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group: a Ctrl-C at the terminal reaches the worker, which hands jobs back, not the
        // children, whose deaths would read as crashes.
        .process_group(0);
    let mut proc = cmd.spawn().map_err(CallError::Spawn)?;
    let pid = proc.id().unwrap_or(0);
    let (Some(stdin), Some(stdout), Some(err_pipe)) = (proc.stdin.take(), proc.stdout.take(), proc.stderr.take())
    else {
        return Err(CallError::Spawn(std::io::Error::other("child pipes missing")));
    };
    let stderr = Arc::new(Mutex::new(Stderr::default()));
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let (kind, t) = (spec.kind, stderr.clone());
    tokio::spawn(async move {
        // Bytes, not lines of UTF-8: a decoder may print anything, and an unread pipe would block the child.
        // A line is kept up to MAX_STDERR_LINE bytes; the rest of it is read and dropped.
        let mut r = BufReader::new(err_pipe);
        while let Some(raw) = read_capped_line(&mut r, MAX_STDERR_LINE).await {
            let line = String::from_utf8_lossy(&raw).trim_end().to_string();
            tracing::info!(kind, pid, "sandbox: {line}");
            let mut t = t.lock().unwrap_or_else(|p| p.into_inner());
            t.oom |= ending::tells_of_oom(&line);
            t.last_line = line;
        }
        let _ = done_tx.send(true);
    });
    Ok(Child { proc, stdin, stdout: BufReader::new(stdout), stderr, stderr_done: done_rx, pid, jobs: 0, ready: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endless_stderr_line_is_kept_to_its_cap() {
        let mut input = vec![b'x'; 1 << 20];
        input.extend_from_slice(b"\nout of memory\n");
        let mut r = BufReader::new(input.as_slice());
        let first = read_capped_line(&mut r, MAX_STDERR_LINE).await.unwrap();
        assert_eq!(first.len(), MAX_STDERR_LINE);
        assert_eq!(read_capped_line(&mut r, MAX_STDERR_LINE).await.unwrap(), b"out of memory\n");
        assert!(read_capped_line(&mut r, MAX_STDERR_LINE).await.is_none());
    }
}

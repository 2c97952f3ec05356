//! The child's side (`mediamill sandbox`): limits itself, then answers requests from stdin on stdout, one at a
//! time, until the worker closes the pipe or goes away.
//!
//! Everything here runs on untrusted input, so nothing here may assume it survives: a segfault or abort ends
//! this process, and the worker reads how it ended ([`super::ending`]). Ordinary failures and panics are
//! answered as [`Reply::Failed`] and the child carries on.

use std::io::{BufReader, BufWriter, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::protocol::{self, FrameError, ImageHeader, Reply, Request};
use crate::failure::ProcessError;
use crate::{image, video};

/// Why a child stopped other than by its pipe closing.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The limits could not be set, or the memory limit leaves no room for work.
    #[error("sandbox child: {0}")]
    Limit(std::io::Error),
    /// The worker sent something that is not a message, or the pipe broke mid-message.
    #[error(transparent)]
    Pipe(#[from] FrameError),
    /// The child could not give up what it must before reading any input.
    #[error("sandbox child: {0}")]
    Lockdown(#[from] super::lockdown::LockdownError),
}

/// Runs the child until stdin closes. `memory_mb` (0: none) becomes the address-space limit. With `faults`
/// (tests only: `MEDIAMILL_SANDBOX_FAULTS=1` in a worker's environment), inputs ending in `MMFAULT:<kind>`
/// make the child segfault, abort, hang or allocate without bound, the way a broken decoder would.
///
/// `parent` is the worker's pid as the worker gave it (a worker gone before the child looked would otherwise
/// go unnoticed); without it, the parent at start.
///
/// Before the first request it locks itself down ([`super::lockdown`]): no inherited descriptors, no
/// filesystem outside `work_dir` (and the system's libraries, read-only), no sockets, no new programs.
pub fn serve(memory_mb: u64, faults: bool, parent: Option<u32>, work_dir: Option<&Path>) -> Result<(), ChildError> {
    limit_self(memory_mb).map_err(ChildError::Limit)?;
    super::lockdown::close_inherited()?;
    exit_with_parent(parent);
    video::init();
    let fs = super::lockdown::restrict_filesystem(work_dir)?;
    if fs != super::lockdown::FsRestriction::Full {
        eprintln!("sandbox: this kernel's Landlock restricts the filesystem only {fs:?}; seccomp and the empty environment still apply");
    }
    super::lockdown::deny_network_and_exec()?;
    let mut input = BufReader::new(std::io::stdin().lock());
    let out = Mutex::new(BufWriter::new(std::io::stdout()));
    protocol::write(&mut *out.lock().unwrap_or_else(|p| p.into_inner()), &Reply::Ready, &[])?;
    loop {
        let (req, blobs) = match protocol::read::<Request>(&mut input) {
            Err(FrameError::Closed) => return Ok(()),
            r => r?,
        };
        let (reply, outputs) = catch_unwind(AssertUnwindSafe(|| {
            if faults {
                inject_fault(&req, &blobs);
            }
            handle(req, blobs, &out)
        }))
        .unwrap_or_else(|panic| (failed(ProcessError::from_panic(panic)), vec![]));
        let refs: Vec<&[u8]> = outputs.iter().map(Vec::as_slice).collect();
        let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
        protocol::write(&mut *w, &reply, &refs)?;
    }
}

/// Runs one request: the reply and its blobs.
fn handle(req: Request, mut blobs: Vec<Vec<u8>>, out: &Mutex<impl Write + Send>) -> (Reply, Vec<Vec<u8>>) {
    match req {
        Request::Image { settings } => {
            let Some(bytes) = blobs.pop() else {
                return (failed(ProcessError::Corrupt("no image bytes sent".into())), vec![]);
            };
            match image::process(&bytes, &settings) {
                Ok(p) => {
                    let (headers, bytes) = split(p.outputs);
                    let gps = p.metadata.exif.gps;
                    (Reply::Image { metadata: p.metadata, gps, outputs: headers }, bytes)
                }
                Err(e) => (failed(e), vec![]),
            }
        }
        Request::Animation { input, out_dir, settings } => match video::animation_to_mp4(&input, &out_dir, &settings) {
            Ok(e) => (Reply::Animation(e), vec![]),
            Err(e) => (failed(e), vec![]),
        },
        Request::Video { input, out_dir, settings } => {
            let last = Mutex::new((Instant::now(), 0u32));
            // Called for every packet: only a change of at least 0.1 %, at most five times a second, is sent.
            let report = |f: f64| {
                let permille = (f * 1000.0) as u32;
                let mut l = last.lock().unwrap_or_else(|p| p.into_inner());
                if permille > l.1 && l.0.elapsed() >= Duration::from_millis(200) {
                    *l = (Instant::now(), permille);
                    let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
                    // A worker that stopped reading is gone; the next read of stdin ends this child.
                    let _ = protocol::write(&mut *w, &Reply::Progress(f), &[]);
                }
            };
            let never = AtomicBool::new(false);
            match video::process(&input, &out_dir, &settings, &report, &never) {
                Ok(p) => {
                    let (images, bytes) = split(p.images);
                    (Reply::Video { metadata: p.metadata, renditions: p.renditions, images, hls: p.hls }, bytes)
                }
                Err(e) => (failed(e), vec![]),
            }
        }
    }
}

fn split(outputs: Vec<image::Output>) -> (Vec<ImageHeader>, Vec<Vec<u8>>) {
    outputs
        .into_iter()
        .map(|o| (ImageHeader { name: o.name, format: o.format, width: o.width, height: o.height }, o.bytes))
        .unzip()
}

/// A failure as sent to the worker. C decoders that cannot allocate under the limit report it as an error
/// ("Insufficient memory", ENOMEM) rather than dying; those become `out_of_memory` too.
fn failed(e: ProcessError) -> Reply {
    let message = e.to_string();
    let lower = message.to_ascii_lowercase();
    let memory = lower.contains("insufficient memory")
        || lower.contains("out of memory")
        || lower.contains("cannot allocate memory");
    let reason = match e.reason() {
        "corrupt" | "encode_failed" | "crashed" if memory => "out_of_memory",
        r => r,
    };
    Reply::Failed { reason: reason.into(), message }
}

/// Caps this process's address space (so a bomb fails here, not on the machine) and turns off core dumps
/// (a crashing decoder must not fill the disk).
fn limit_self(memory_mb: u64) -> std::io::Result<()> {
    let set = |what, bytes: u64| {
        let lim = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
        // SAFETY: setrlimit reads the struct we pass and touches nothing else.
        if unsafe { libc::setrlimit(what, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    set(libc::RLIMIT_CORE, 0)?;
    if memory_mb > 0 {
        // A limit the program alone nearly fills would fail every job as out_of_memory: refuse to start
        // instead, so the worker reports the setting at start.
        let mapped_mb = mapped_bytes().unwrap_or(0) >> 20;
        if memory_mb < mapped_mb + HEADROOM_MB {
            return Err(std::io::Error::other(format!(
                "the memory limit of {memory_mb} MiB leaves no room: the program alone maps {mapped_mb} MiB; allow at least {} MiB",
                mapped_mb + HEADROOM_MB
            )));
        }
        set(libc::RLIMIT_AS, memory_mb.saturating_mul(1 << 20))?;
    }
    Ok(())
}

/// Room a job needs beyond the program's own mappings, at the very least.
const HEADROOM_MB: u64 = 64;

/// This process's address-space size now (the first field of `/proc/self/statm`, in pages).
fn mapped_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf only reads a system value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    Some(pages * page)
}

/// Ends this process soon after the worker that started it ends, even mid-job (a hung decoder never reads
/// stdin again). The worker spawns children from whatever thread it is on, so `PR_SET_PDEATHSIG` (tied to
/// the spawning thread) would kill them too early; watching for re-parenting has no such catch.
fn exit_with_parent(parent: Option<u32>) {
    // SAFETY: getppid cannot fail.
    let ppid = || unsafe { libc::getppid() };
    let parent = parent.map(|p| p as libc::pid_t).unwrap_or_else(ppid);
    let _ = std::thread::Builder::new().name("parent-watch".into()).stack_size(64 << 10).spawn(move || loop {
        if ppid() != parent {
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(500));
    });
}

/// Test-only faults (see [`serve`]), keyed on the input's last bytes.
fn inject_fault(req: &Request, blobs: &[Vec<u8>]) {
    let tail = match req {
        Request::Image { .. } => blobs.last().map(|b| b[b.len().saturating_sub(16)..].to_vec()).unwrap_or_default(),
        Request::Animation { input, .. } | Request::Video { input, .. } => file_tail(input),
    };
    let tail = String::from_utf8_lossy(&tail);
    let Some(kind) = tail.split("MMFAULT:").nth(1) else { return };
    match kind.trim() {
        // SAFETY: dying of a signal is what this hook is for. The default action first: Rust's own SIGSEGV
        // handler (for stack overflows) would return from a raised, not faulted, signal.
        "segv" => unsafe {
            libc::signal(libc::SIGSEGV, libc::SIG_DFL);
            libc::raise(libc::SIGSEGV);
        },
        "abort" => std::process::abort(),
        // What a hijacked decoder would try; the answers travel back as the job's failure message.
        "probe" => panic!("{}", super::lockdown::probe_escape().join("; ")),
        "hang" => loop {
            std::thread::sleep(Duration::from_secs(60));
        },
        "alloc" => {
            let v = vec![1u8; 64 << 30];
            std::hint::black_box(v);
        }
        _ => {}
    }
}

fn file_tail(path: &Path) -> Vec<u8> {
    use std::io::{Seek, SeekFrom};
    let mut tail = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.seek(SeekFrom::End(-16)).and_then(|_| f.read_to_end(&mut tail));
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_errors_from_decoders_are_out_of_memory_and_others_keep_their_reason() {
        let r = |e| match failed(e) {
            Reply::Failed { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(r(ProcessError::Corrupt("Insufficient memory (case 4)".into())), "out_of_memory");
        assert_eq!(r(ProcessError::Encode("mp4", "Cannot allocate memory".into())), "out_of_memory");
        assert_eq!(r(ProcessError::Corrupt("bad huffman table".into())), "corrupt");
        assert_eq!(r(ProcessError::Timeout(3)), "timeout");
    }
}

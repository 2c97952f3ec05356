//! How a child that stopped answering ended, as the job's failure: `out_of_memory` when it ran into its
//! memory limit (or the kernel killed it), `crashed` for any other death.

use std::process::ExitStatus;

use crate::failure::ProcessError;

/// What a process prints on stderr when an allocation fails: Rust's handler, C++'s `std::bad_alloc` (libheif,
/// libaom), and the usual C wordings.
const OOM_MARKERS: [&str; 4] = ["memory allocation of", "bad_alloc", "out of memory", "cannot allocate memory"];

/// Names of the signals a dying decoder usually gets.
fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV, a segmentation fault",
        libc::SIGBUS => "SIGBUS, a bus error",
        libc::SIGABRT => "SIGABRT, an abort",
        libc::SIGFPE => "SIGFPE, an arithmetic fault",
        libc::SIGILL => "SIGILL, an illegal instruction",
        libc::SIGKILL => "SIGKILL",
        _ => "a signal",
    }
}

/// The failure for a child that ended with `status` (None: it could not be reaped) after printing
/// `stderr_tail`; `limit` names the memory limit and its key for the message.
pub fn classify(status: Option<ExitStatus>, stderr_tail: &str, limit: &str) -> ProcessError {
    use std::os::unix::process::ExitStatusExt;
    let lower = stderr_tail.to_ascii_lowercase();
    if OOM_MARKERS.iter().any(|m| lower.contains(m)) {
        return ProcessError::OutOfMemory(format!("the decoder process hit its memory limit of {limit}"));
    }
    match status {
        // Nothing of ours sends SIGKILL to a child without knowing why; the kernel's OOM killer does.
        Some(s) if s.signal() == Some(libc::SIGKILL) => ProcessError::OutOfMemory(format!(
            "the decoder process was killed by the kernel (SIGKILL), most likely for memory; its own limit is {limit}"
        )),
        Some(s) => match s.signal() {
            Some(sig) => ProcessError::Crashed(format!("the decoder process died of signal {sig} ({})", signal_name(sig))),
            None => ProcessError::Crashed(format!("the decoder process exited unexpectedly ({s})")),
        },
        None => ProcessError::Crashed("the decoder process stopped answering".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    const LIMIT: &str = "64 MiB (isolation.image_memory_mb)";

    #[test]
    fn signals_are_crashes_named_by_their_signal() {
        let e = classify(Some(ExitStatus::from_raw(libc::SIGSEGV)), "", LIMIT);
        assert_eq!(e.reason(), "crashed");
        assert!(e.to_string().contains("SIGSEGV"), "{e}");
        let e = classify(Some(ExitStatus::from_raw(libc::SIGABRT)), "thread panicked\n", LIMIT);
        assert_eq!(e.reason(), "crashed");
        assert_eq!(classify(Some(ExitStatus::from_raw(3 << 8)), "", LIMIT).reason(), "crashed");
        assert_eq!(classify(None, "", LIMIT).reason(), "crashed");
    }

    #[test]
    fn allocation_failures_and_the_kernel_killer_are_out_of_memory_and_name_the_limit() {
        let e = classify(Some(ExitStatus::from_raw(libc::SIGABRT)), "memory allocation of 4294967296 bytes failed\n", LIMIT);
        assert_eq!(e.reason(), "out_of_memory");
        assert!(e.to_string().contains("isolation.image_memory_mb"), "{e}");
        let e = classify(Some(ExitStatus::from_raw(libc::SIGABRT)), "terminate called after throwing an instance of 'std::bad_alloc'", LIMIT);
        assert_eq!(e.reason(), "out_of_memory");
        assert_eq!(classify(Some(ExitStatus::from_raw(libc::SIGKILL)), "", LIMIT).reason(), "out_of_memory");
    }
}

//! How a child that stopped answering ended, as the job's failure: `out_of_memory` when it ran into its
//! memory limit (or the kernel killed it), `crashed` for any other death.

use std::process::ExitStatus;

use crate::failure::ProcessError;

/// What a process prints on stderr when an allocation fails: Rust's handler, C++'s `std::bad_alloc` (libheif,
/// libaom), and the usual C wordings.
const OOM_MARKERS: [&str; 4] = ["memory allocation of", "bad_alloc", "out of memory", "cannot allocate memory"];

/// Whether a line a child printed tells of a failed allocation. Checked on every line as it arrives: a
/// backtrace after it would push it out of any tail kept for the message.
pub fn tells_of_oom(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    OOM_MARKERS.iter().any(|m| lower.contains(m))
}

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

/// The failure for a child that ended with `status` (None: it could not be reaped), with `oom` when it told
/// of a failed allocation during the job ([`tells_of_oom`]) and `last_line` its last words on stderr; `limit`
/// names the memory limit and its key for the message.
pub fn classify(status: Option<ExitStatus>, oom: bool, last_line: &str, limit: &str) -> ProcessError {
    use std::os::unix::process::ExitStatusExt;
    if oom {
        return ProcessError::OutOfMemory(format!("the decoder process hit its memory limit of {limit}"));
    }
    match status {
        // Nothing of ours sends SIGKILL to a child without knowing why; the kernel's OOM killer does.
        Some(s) if s.signal() == Some(libc::SIGKILL) => ProcessError::OutOfMemory(format!(
            "the decoder process was killed by the kernel (SIGKILL), most likely for memory; its own limit is {limit}"
        )),
        Some(s) => match s.signal() {
            Some(sig) => {
                ProcessError::Crashed(format!("the decoder process died of signal {sig} ({})", signal_name(sig)))
            }
            // A child that exits by itself says why on its last line (e.g. a broken pipe).
            None => ProcessError::Crashed(format!("the decoder process exited unexpectedly ({s}): {last_line}")),
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
        let e = classify(Some(ExitStatus::from_raw(libc::SIGSEGV)), false, "", LIMIT);
        assert_eq!(e.reason(), "crashed");
        assert!(e.to_string().contains("SIGSEGV"), "{e}");
        let e = classify(Some(ExitStatus::from_raw(libc::SIGABRT)), false, "thread panicked", LIMIT);
        assert_eq!(e.reason(), "crashed");
        let e = classify(Some(ExitStatus::from_raw(3 << 8)), false, "Error: broken pipe", LIMIT);
        assert_eq!(e.reason(), "crashed");
        assert!(e.to_string().contains("broken pipe"), "{e}");
        assert_eq!(classify(None, false, "", LIMIT).reason(), "crashed");
    }

    #[test]
    fn allocation_failures_and_the_kernel_killer_are_out_of_memory_and_name_the_limit() {
        for line in [
            "memory allocation of 4294967296 bytes failed",
            "terminate called after throwing an instance of 'std::bad_alloc'",
            "Error: reading the pipe: Out of memory",
        ] {
            assert!(tells_of_oom(line), "{line}");
        }
        assert!(!tells_of_oom("  12: image::codecs::png::decoder") && !tells_of_oom("Memory map: 0x7f…"));
        let e = classify(Some(ExitStatus::from_raw(libc::SIGABRT)), true, "  19: _start", LIMIT);
        assert_eq!(e.reason(), "out_of_memory");
        assert!(e.to_string().contains("isolation.image_memory_mb"), "{e}");
        assert_eq!(classify(Some(ExitStatus::from_raw(libc::SIGKILL)), false, "", LIMIT).reason(), "out_of_memory");
    }
}

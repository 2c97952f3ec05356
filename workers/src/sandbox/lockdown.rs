//! What a sandbox child gives up before it reads its first request, so that a decoder exploit gets as
//! little as possible:
//! - **its environment**: the worker starts it with an empty one ([`super::supervisor`]), so the database
//!   URL and the store's keys are not there to read;
//! - **inherited descriptors** other than its three pipes ([`close_inherited`]);
//! - **the filesystem** outside its work folder (where the worker puts job folders) and the system's
//!   libraries, read-only ([`restrict_filesystem`], Landlock);
//! - **the network and new programs** ([`deny_network_and_exec`], seccomp): `socket`, `socketpair`,
//!   `execve`, `ptrace` and cross-process memory calls fail with `EPERM`.
//!
//! A child that tries any of these gets an error, and the job carries on or fails as `crashed`.

use std::path::Path;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, ABI,
};

/// Why the lockdown could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum LockdownError {
    #[error("closing inherited descriptors: {0}")]
    /// Inherited file descriptors could not be closed.
    Fds(std::io::Error),
    #[error("landlock: {0}")]
    /// The Landlock filesystem rules could not be applied.
    Landlock(#[from] landlock::RulesetError),
    #[error("seccomp: {0}")]
    /// The seccomp filter could not be installed.
    Seccomp(String),
}

/// How far the filesystem restriction took hold on this kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsRestriction {
    /// Every rule took hold.
    Full,
    /// The kernel's Landlock knows only some of the rules.
    Partial,
    /// The kernel has no Landlock: only seccomp and the empty environment protect the system.
    None,
}

/// Read-only for libraries a decoder may load late (libheif's plugins, glibc's loader cache).
const SYSTEM_READ: &[&str] = &["/usr", "/lib", "/lib64", "/etc/ld.so.cache"];

/// Closes every descriptor above stderr.
pub fn close_inherited() -> Result<(), LockdownError> {
    // SAFETY: close_range only closes descriptors; 0–2 (the pipes) stay.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r != 0 {
        return Err(LockdownError::Fds(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Allows reading and writing beneath `work_dir` and reading the system's libraries; nothing else. Also
/// denies TCP bind/connect where the kernel's Landlock knows them (ABI 4), on top of seccomp.
pub fn restrict_filesystem(work_dir: Option<&Path>) -> Result<FsRestriction, LockdownError> {
    let abi = ABI::V5;
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let system: Vec<&str> = SYSTEM_READ.iter().copied().filter(|p| Path::new(p).exists()).collect();
    let work: Vec<&Path> = work_dir.into_iter().filter(|p| p.exists()).collect();
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))?
        .handle_access(AccessNet::from_all(abi))?
        .create()?
        .add_rules(path_beneath_rules(system, read))?
        .add_rules(path_beneath_rules(work, AccessFs::from_all(abi)))?
        .restrict_self()?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => FsRestriction::Full,
        RulesetStatus::PartiallyEnforced => FsRestriction::Partial,
        RulesetStatus::NotEnforced => FsRestriction::None,
    })
}

/// Installs a seccomp filter on every thread of the process (TSYNC: the parent watch already runs).
pub fn deny_network_and_exec() -> Result<(), LockdownError> {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    let denied = [
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
    ];
    let rules = denied.into_iter().map(|s| (s, vec![])).collect();
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| LockdownError::Seccomp(format!("{e:?}")))?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(|e| LockdownError::Seccomp(e.to_string()))?;
    let prog: BpfProgram =
        filter.try_into().map_err(|e: seccompiler::BackendError| LockdownError::Seccomp(e.to_string()))?;
    seccompiler::apply_filter_all_threads(&prog).map_err(|e| LockdownError::Seccomp(e.to_string()))
}

/// Tests only (`--test-faults`): what a hijacked decoder would try, each answered by what it got, one line
/// per attempt on stderr: `probe <what>: <outcome>`.
pub fn probe_escape() -> Vec<String> {
    let mut out = Vec::new();
    let connect = std::net::TcpStream::connect_timeout(
        &"127.0.0.1:9".parse().expect("address"),
        std::time::Duration::from_millis(500),
    );
    out.push(format!(
        "probe connect: {}",
        match connect {
            Ok(_) => "connected".into(),
            Err(e) => format!("refused ({e})"),
        }
    ));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0");
    out.push(format!(
        "probe udp: {}",
        match udp {
            Ok(_) => "bound".into(),
            Err(e) => format!("refused ({e})"),
        }
    ));
    let passwd = std::fs::read("/etc/passwd");
    out.push(format!(
        "probe /etc/passwd: {}",
        match passwd {
            Ok(b) => format!("read {} bytes", b.len()),
            Err(e) => format!("refused ({e})"),
        }
    ));
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    out.push(format!("probe environment: {}", env.join(",")));
    let exec = std::process::Command::new("/bin/true").status();
    out.push(format!(
        "probe exec: {}",
        match exec {
            Ok(_) => "ran".into(),
            Err(e) => format!("refused ({e})"),
        }
    ));
    out
}

//! What the pipeline benchmarks read about running processes from `/proc` (memory, CPU, children), and the one
//! batch they create through the API.

use anyhow::Context;

/// Resident memory of `pid` in MiB (VmRSS), or 0 when it is gone.
pub fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kib| kib / 1024)
        .unwrap_or(0)
}

/// `pid`'s live children (a worker's sandbox children, PostgreSQL's backends). Children are listed per thread
/// that started them, so every thread's list is read.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()).collect::<Vec<_>>())
        .collect()
}

/// CPU seconds `pid` and its reaped children have used (utime + stime + cutime + cstime), 0 when gone.
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let f: Vec<f64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    // The state letter (field 3) is dropped by the parse, so utime, stime, cutime, cstime (fields 14-17) sit at 10..14.
    f.get(10..14).map(|t| t.iter().sum::<f64>() / ticks_per_sec()).unwrap_or(0.0)
}

/// A process's CPU with its live children's (which count in its own figures only once reaped).
pub fn tree_cpu_secs(pid: u32) -> f64 {
    cpu_secs(pid) + children(pid).into_iter().map(cpu_secs).sum::<f64>()
}

/// [`tree_cpu_secs`] of each of the named processes a benchmark was given (`--procs NAME:PID,…`), in order.
pub fn procs_cpu_secs(procs: &[(String, u32)]) -> Vec<f64> {
    procs.iter().map(|(_, pid)| tree_cpu_secs(*pid)).collect()
}

/// CPU seconds (user + system) getrusage reports for `who` (`RUSAGE_SELF`, `RUSAGE_CHILDREN`).
pub fn rusage(who: i32) -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// CPU seconds of this process's reaped children.
pub fn children_cpu() -> f64 {
    rusage(libc::RUSAGE_CHILDREN)
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// CPU seconds the whole machine has spent busy (every state of `/proc/stat`'s `cpu` line but idle and iowait).
pub fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines().find(|l| l.starts_with("cpu ")).map(busy_secs).unwrap_or(0.0)
}

/// CPU seconds each core has spent busy, in the order of `/proc/stat`'s `cpuN` lines.
pub fn cores_busy_secs() -> Vec<f64> {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines().filter(|l| l.starts_with("cpu") && !l.starts_with("cpu ")).map(busy_secs).collect()
}

/// The busy seconds of one `/proc/stat` cpu line.
fn busy_secs(line: &str) -> f64 {
    let f: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let (all, idle) =
        (f.iter().take(8).sum::<f64>(), f.get(3).copied().unwrap_or(0.0) + f.get(4).copied().unwrap_or(0.0));
    (all - idle) / ticks_per_sec()
}

/// CPU seconds of each live thread of `pid`, summed by thread name with its trailing number dropped
/// (`tokio-runtime-w`, `mediamill-cpu-`, `rdk:broker`…): what the process's time went to.
pub fn threads_cpu(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut by = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return by };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let name = comm.trim().trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else { continue };
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let f: Vec<f64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        // As in cpu_secs: utime and stime sit at 10 and 11 once the state letter is dropped.
        let secs = f.get(10..12).map(|t| t.iter().sum::<f64>() / ticks_per_sec()).unwrap_or(0.0);
        *by.entry(name).or_insert(0.0) += secs;
    }
    by
}

/// Creates a batch expecting `count` files; returns its id.
pub async fn create_batch(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    name: &str,
    count: usize,
) -> anyhow::Result<String> {
    let b: serde_json::Value = http
        .post(format!("{url}/v1/batches"))
        .bearer_auth(key)
        .json(&serde_json::json!({"name": name, "expected_count": count}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(b["id"].as_str().context("batch id")?.to_string())
}

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
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    f.get(10..14).map(|t| t.iter().sum::<f64>() / ticks).unwrap_or(0.0)
}

/// A process's CPU with its live children's (which count in its own figures only once reaped).
pub fn tree_cpu_secs(pid: u32) -> f64 {
    cpu_secs(pid) + children(pid).into_iter().map(cpu_secs).sum::<f64>()
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

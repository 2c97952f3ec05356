//! `mediamill bench scale`: does adding a worker add throughput? Against a running ingest (--url, --key) on the
//! real Kafka, PostgreSQL and S3 of this process's configuration: N real photographs are uploaded as one batch
//! while no image worker runs, so N jobs wait on the topic; then the drain is timed with one worker process,
//! and again (a fresh batch) with two, each worker pinned to its own CPU with `taskset` (its sandbox children
//! inherit the pin) and running one job at a time. Prints both times, the ratio, and the CPU each process used
//! during each drain, so a ratio held down by the infrastructure sharing the cores shows where the CPU went.
//! `scripts/bench-scale.sh` starts everything and runs it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::procfs::{children, create_batch, procs_cpu_secs, rss_mib, tree_cpu_secs};

struct Worker {
    child: Child,
    cpu: usize,
}

impl Worker {
    fn start(cpu: usize, log: &Path) -> anyhow::Result<Worker> {
        let exe = std::env::current_exe()?;
        let log = std::fs::File::create(log)?;
        let child = Command::new("taskset")
            .args(["-c", &cpu.to_string()])
            .arg(exe)
            .args(["worker", "--kind", "image"])
            .env("MEDIAMILL_WORKER__CONCURRENCY", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting a worker under taskset (util-linux)")?;
        Ok(Worker { child, cpu })
    }

    fn cpu_used(&self) -> f64 {
        tree_cpu_secs(self.child.id())
    }

    /// Resident memory of the worker and its sandbox children, in MiB.
    fn rss_mib(&self) -> u64 {
        let pid = self.child.id();
        rss_mib(pid) + children(pid).into_iter().map(rss_mib).sum::<u64>()
    }

    /// SIGTERM and wait: the worker hands back nothing (the batch is done) and exits.
    fn stop(mut self) {
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Uploads `count` files (cycling through `photos`) as one batch; returns its id.
async fn upload_batch(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    photos: &[PathBuf],
    count: usize,
) -> anyhow::Result<String> {
    let id = create_batch(http, url, key, "bench-scale", count).await?;
    for i in 0..count {
        let path = &photos[i % photos.len()];
        let bytes = tokio::fs::read(path).await.with_context(|| format!("reading {}", path.display()))?;
        http.post(format!("{url}/v1/batches/{id}/media"))
            .bearer_auth(key)
            .header("x-filename", format!("{i}.jpg"))
            .body(bytes)
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("uploading {}", path.display()))?;
    }
    Ok(id)
}

/// (processed, failed, outcome) of a batch.
async fn counts(http: &reqwest::Client, url: &str, key: &str, id: &str) -> anyhow::Result<(u64, u64, Option<String>)> {
    let b: serde_json::Value = http
        .get(format!("{url}/v1/batches/{id}?limit=1"))
        .bearer_auth(key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let c = &b["counts"];
    Ok((
        c["processed"].as_u64().unwrap_or(0),
        c["failed"].as_u64().unwrap_or(0),
        b["outcome"].as_str().map(str::to_string),
    ))
}

/// What every drain shares.
struct Bench {
    http: reqwest::Client,
    url: String,
    key: String,
    photos: Vec<PathBuf>,
    count: usize,
    /// Other processes whose CPU to report: (name, pid).
    infra: Vec<(String, u32)>,
    logs: PathBuf,
}

/// One drain: a batch preloaded with no worker running, then `workers` workers pinned to CPUs 0.. until it completes.
async fn drain(b: &Bench, workers: usize) -> anyhow::Result<f64> {
    let Bench { http, url, key, photos, count, infra, logs } = b;
    let (url, key, count) = (url.as_str(), key.as_str(), *count);
    let id = upload_batch(http, url, key, photos, count).await?;
    // Let the outbox relay publish every job before the clock starts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let infra_before = procs_cpu_secs(infra);
    let started = Instant::now();
    let ws: Vec<Worker> = (0..workers)
        .map(|i| Worker::start(i, &logs.join(format!("worker-{workers}-{i}.log"))))
        .collect::<Result<_, _>>()?;
    let mut cpu_seen = vec![0.0; ws.len()];
    let mut peak_rss = vec![0u64; ws.len()];
    let outcome = loop {
        // Live children's CPU is lost when they exit: keep the highest total seen.
        for ((seen, peak), w) in cpu_seen.iter_mut().zip(peak_rss.iter_mut()).zip(&ws) {
            *seen = f64::max(*seen, w.cpu_used());
            *peak = (*peak).max(w.rss_mib());
        }
        let (p, f, o) = counts(http, url, key, &id).await?;
        if let Some(o) = o {
            anyhow::ensure!(
                p == count as u64 && f == 0,
                "batch {id}: {p} processed, {f} failed of {count} (outcome {o})"
            );
            break o;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "batch {id} did not finish in 30 min ({p} processed)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let secs = started.elapsed().as_secs_f64();
    let mut parts: Vec<String> = ws
        .iter()
        .zip(&cpu_seen)
        .zip(&peak_rss)
        .map(|((w, c), m)| format!("worker on cpu {} {:.1} CPU-s (peak {m} MiB with its child)", w.cpu, c))
        .collect();
    for ((name, pid), before) in infra.iter().zip(infra_before) {
        parts.push(format!("{name} {:.1} CPU-s", tree_cpu_secs(*pid) - before));
    }
    println!(
        "{workers} worker(s): {count} photos in {secs:.1} s ({:.2} photos/s), outcome {outcome}; {}",
        count as f64 / secs,
        parts.join(", ")
    );
    for w in ws {
        w.stop();
    }
    Ok(secs)
}

/// Runs the benchmark. `infra` names the other processes whose CPU to report (`name:pid`).
pub async fn run(url: &str, key: &str, photos: &Path, count: usize, infra: &[String]) -> anyhow::Result<()> {
    let url = url.trim_end_matches('/');
    let mut files: Vec<PathBuf> = std::fs::read_dir(photos)
        .with_context(|| format!("reading {}", photos.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg")))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no .jpg files in {}", photos.display());
    let infra: Vec<(String, u32)> = infra
        .iter()
        .map(|s| {
            let (n, p) = s.split_once(':').with_context(|| format!("--infra {s}: want NAME:PID"))?;
            Ok((n.to_string(), p.parse().with_context(|| format!("--infra {s}: bad pid"))?))
        })
        .collect::<anyhow::Result<_>>()?;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    anyhow::ensure!(cpus >= 2, "two workers on their own CPUs need two CPUs; this machine has {cpus}");
    let logs = std::env::temp_dir().join(format!("mediamill-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    println!(
        "{count} real photographs ({} files from {}) per drain, each worker pinned to its own CPU, one job at a time",
        files.len(),
        photos.display()
    );
    let bench =
        Bench { http, url: url.to_string(), key: key.to_string(), photos: files, count, infra, logs: logs.clone() };
    let one = drain(&bench, 1).await?;
    let two = drain(&bench, 2).await?;
    println!("scale-out: 2 workers drain {:.2}x as fast as 1 (target 1.8x; {cpus} CPUs on this machine, shared with the infrastructure)", one / two);
    let _ = std::fs::remove_dir_all(&logs);
    Ok(())
}

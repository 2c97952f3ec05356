//! `mediamill bench upload --url URL --key KEY [--size-mib N] [--pid INGEST_PID] [--procs NAME:PID,…]`: one file
//! (a video's first bytes and filler) through `POST /v1/media`, through tus in `--chunk-mib` requests (the client
//! of `mediamill upload`), and, as the anchor, straight to the same S3 store with aws-sdk-s3 (one `PutObject`
//! from the file, what a service writing to S3 itself does), in the same run. Prints each rate, the two ratios
//! to the anchor (target ≥ 0.9), ingest's peak resident memory during each upload, and each way's CPU per GiB
//! split by process, with each core's busy share: on a machine that also runs the store, what a way adds to
//! the CPU is what slows it. Needs a running ingest on S3 and this process's config pointing at the same store
//! (`scripts/bench-upload.sh` sets both up, and with `--apart` gives ingest a core of its own).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use mediamill_core::config::{Config, StoreBackend};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::procfs::{cores_busy_secs, cpu_secs, procs_cpu_secs, rss_mib, rusage};
use crate::client::tus::DEFAULT_CHUNK_MIB;

/// How much of the file each way's client reads at a time.
const READ_BUFFER: usize = 256 * 1024;

/// Parts on their way at once in the second multipart line: what the store takes side by side.
const PARTS_AT_ONCE: usize = 4;

/// Peak resident memory of `pid` while a future runs, sampled every 20 ms.
struct Peak {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Peak {
    fn watch(pid: Option<u32>) -> Peak {
        let peak = Arc::new(AtomicU64::new(0));
        let p = peak.clone();
        let task = tokio::spawn(async move {
            let Some(pid) = pid else { return };
            loop {
                p.fetch_max(rss_mib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Peak { peak, task }
    }

    fn stop(self) -> u64 {
        self.task.abort();
        self.peak.load(Ordering::Relaxed)
    }
}

fn make_file(path: &Path, size: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let head = std::fs::read("fixtures/media/clip.mp4").context("fixtures/media/clip.mp4 (run from the repository)")?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(&head)?;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut written = head.len() as u64;
    let mut block = vec![0u8; 1 << 20];
    while written < size {
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
        }
        let n = (size - written).min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        written += n as u64;
    }
    f.flush()?;
    Ok(())
}

/// `len` bytes of `path` from `offset`, streamed.
async fn file_body(path: &Path, offset: u64, len: u64) -> anyhow::Result<reqwest::Body> {
    let mut f = tokio::fs::File::open(path).await?;
    f.seek(std::io::SeekFrom::Start(offset)).await?;
    Ok(reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(f.take(len), READ_BUFFER)))
}

async fn post(http: &reqwest::Client, url: &str, key: &str, path: &Path, size: u64) -> anyhow::Result<()> {
    let r = http
        .post(format!("{url}/v1/media"))
        .bearer_auth(key)
        .header("x-filename", "bench.mp4")
        .header("content-length", size.to_string())
        .body(file_body(path, 0, size).await?)
        .send()
        .await?;
    anyhow::ensure!(r.status().as_u16() == 202, "POST /v1/media answered {}", r.status());
    Ok(())
}

/// The file through tus as `mediamill upload` sends it, in `chunk`-byte requests.
async fn tus(url: &str, key: &str, path: &Path, size: u64, chunk: u64) -> anyhow::Result<()> {
    use crate::client::{api::Server, files::MediaFile, resume::ResumeFile, tus};
    let resume = ResumeFile::open(&path.with_extension("resume.json"));
    let server = Server::new(url, key)?;
    let job = tus::Job {
        server: &server,
        resume: &resume,
        batch_id: None,
        chunk,
        bar: indicatif::ProgressBar::hidden(),
        overall: indicatif::ProgressBar::hidden(),
    };
    let file = MediaFile { path: path.to_path_buf(), size, modified: 0 };
    tus::upload(&job, &file).await?;
    let _ = std::fs::remove_file(path.with_extension("resume.json"));
    Ok(())
}

/// The same file as a multipart upload in `part`-byte parts, `at_once` of them on their way at a time.
async fn raw_multipart(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    path: &Path,
    size: u64,
    part: u64,
    at_once: usize,
) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    use futures::{StreamExt, TryStreamExt};
    let key = "bench/raw-multipart";
    let up = s3.create_multipart_upload().bucket(bucket).key(key).send().await?;
    let id = up.upload_id().context("no upload id")?.to_string();
    let send = |i: u64| {
        let id = &id;
        async move {
            let offset = i * part;
            let len = part.min(size - offset);
            let body = aws_sdk_s3::primitives::ByteStream::read_from()
                .path(path)
                .buffer_size(READ_BUFFER)
                .offset(offset)
                .length(aws_sdk_s3::primitives::Length::Exact(len))
                .build()
                .await?;
            let n = i as i32 + 1;
            let out = s3.upload_part().bucket(bucket).key(key).upload_id(id).part_number(n).body(body).send().await?;
            anyhow::Ok(CompletedPart::builder().part_number(n).set_e_tag(out.e_tag().map(String::from)).build())
        }
    };
    // `buffered` keeps the parts in order while `at_once` of them travel.
    let parts: Vec<CompletedPart> =
        futures::stream::iter(0..size.div_ceil(part)).map(send).buffered(at_once.max(1)).try_collect().await?;
    let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    s3.complete_multipart_upload().bucket(bucket).key(key).upload_id(&id).multipart_upload(done).send().await?;
    let _ = s3.delete_object().bucket(bucket).key(key).send().await;
    Ok(())
}

/// One way of sending the file.
#[derive(Clone, Copy)]
enum Way {
    /// aws-sdk-s3 `PutObject` straight to the store (the anchor).
    Put,
    /// aws-sdk-s3 multipart, this many parts at a time.
    Parts(usize),
    /// `POST /v1/media`.
    Post,
    /// tus in requests of this many MiB.
    Tus(u64),
}

impl Way {
    fn label(self) -> String {
        match self {
            Way::Put => "PutObject (anchor)".into(),
            Way::Parts(n) => format!("multipart, {n} at a time"),
            Way::Post => "POST /v1/media".into(),
            Way::Tus(mib) => format!("tus, {mib} MiB requests"),
        }
    }
}

/// One round's rates (MB/s).
#[derive(Default)]
struct Round {
    raw: f64,
    parts: f64,
    parts_4: f64,
    post: f64,
    tus: f64,
    tus_default: f64,
}

/// What the benchmark is asked to do.
pub struct Plan {
    /// Ingest's address.
    pub url: String,
    /// An API key of a tenant whose limits let it upload the file.
    pub key: String,
    /// The file's size.
    pub size_mib: u64,
    /// tus request size.
    pub chunk_mib: u64,
    /// Ingest's process id (peak memory, CPU).
    pub pid: Option<u32>,
    /// Processes whose CPU each way is split by.
    pub procs: Vec<(String, u32)>,
    /// Interleaved rounds of every way.
    pub rounds: usize,
}

/// CPU seconds at one moment: each core's busy time, this client's, and each named process's.
struct Clock {
    cores: Vec<f64>,
    client: f64,
    procs: Vec<f64>,
    wall: Instant,
}

impl Clock {
    fn now(procs: &[(String, u32)]) -> Clock {
        Clock {
            cores: cores_busy_secs(),
            client: rusage(libc::RUSAGE_SELF),
            procs: procs_cpu_secs(procs),
            wall: Instant::now(),
        }
    }
}

/// CPU one way used, summed over its rounds.
#[derive(Default, Clone)]
struct CpuUse {
    wall: f64,
    cores: Vec<f64>,
    client: f64,
    procs: Vec<f64>,
}

impl CpuUse {
    fn add(&mut self, from: &Clock, to: &Clock) {
        self.wall += (to.wall - from.wall).as_secs_f64();
        add_each(&mut self.cores, &from.cores, &to.cores);
        self.client += to.client - from.client;
        add_each(&mut self.procs, &from.procs, &to.procs);
    }
}

/// Adds what each reading grew by between `from` and `to` to its sum in `sums`.
fn add_each(sums: &mut Vec<f64>, from: &[f64], to: &[f64]) {
    sums.resize(from.len(), 0.0);
    for (sum, (a, b)) in sums.iter_mut().zip(from.iter().zip(to)) {
        *sum += b - a;
    }
}

/// Runs the benchmark.
pub async fn run(cfg: &Config, plan: Plan) -> anyhow::Result<()> {
    let Plan { url, key, size_mib, chunk_mib, pid, procs, rounds } = plan;
    anyhow::ensure!(
        cfg.store.backend == StoreBackend::S3,
        "bench upload compares against a PUT to the same S3 store: set store.backend = s3 and store.s3.* as ingest has them"
    );
    let size = size_mib << 20;
    let path = std::env::temp_dir().join(format!("mediamill-bench-upload-{}.mp4", std::process::id()));
    make_file(&path, size)?;
    let url = url.trim_end_matches('/');
    let key = key.as_str();
    let http = reqwest::Client::new();
    let s3 = mediamill_core::store::sdk_client(&cfg.store.s3, Duration::from_secs(3600));
    let mb = size as f64 / 1e6;

    let ingest_cpu = || pid.map(cpu_secs).unwrap_or(0.0);
    // Rounds interleave the ways so that a slow spell of the machine or of the store hits each alike, and each
    // round starts with another way, so none always runs last (after the store has taken the round's other
    // uploads). Each round's ratios are taken against that round's own PUT, and the median round's ratio
    // counts; memory is the highest peak of any round, CPU the most of any round.
    let mut ways = vec![Way::Put, Way::Parts(1), Way::Parts(PARTS_AT_ONCE), Way::Post, Way::Tus(chunk_mib)];
    if chunk_mib != DEFAULT_CHUNK_MIB {
        ways.push(Way::Tus(DEFAULT_CHUNK_MIB));
    }
    let mut all: Vec<Round> = Vec::new();
    let mut cpu = vec![CpuUse::default(); ways.len()];
    let (mut post_peak, mut tus_peak, mut post_cpu, mut tus_cpu) = (0u64, 0u64, 0f64, 0f64);
    for round in 0..rounds.max(1) {
        let mut r = Round::default();
        for i in 0..ways.len() {
            let w = (i + round) % ways.len();
            let way = ways[w];
            let (watch, used_before, clock) = (Peak::watch(pid), ingest_cpu(), Clock::now(&procs));
            let started = Instant::now();
            match way {
                Way::Put => {
                    // Read as the clients of the other ways read it (256 KiB at a time, the SDK's default is
                    // 64 KiB): the anchor at its cheapest.
                    let body = aws_sdk_s3::primitives::ByteStream::read_from()
                        .path(&path)
                        .buffer_size(READ_BUFFER)
                        .build()
                        .await
                        .context("reading the file")?;
                    let put = s3.put_object().bucket(&cfg.store.s3.bucket).key("bench/raw-put").body(body).send().await;
                    r.raw = mb / started.elapsed().as_secs_f64();
                    put.context("the raw PutObject")?;
                }
                Way::Parts(n) => {
                    raw_multipart(&s3, &cfg.store.s3.bucket, &path, size, cfg.uploads.part_bytes(), n).await?;
                    let rate = mb / started.elapsed().as_secs_f64();
                    if n == 1 {
                        r.parts = rate;
                    } else {
                        r.parts_4 = rate;
                    }
                }
                Way::Post => {
                    post(&http, url, key, &path, size).await?;
                    r.post = mb / started.elapsed().as_secs_f64();
                }
                Way::Tus(mib) => {
                    tus(url, key, &path, size, mib << 20).await?;
                    let rate = mb / started.elapsed().as_secs_f64();
                    if mib == chunk_mib {
                        r.tus = rate;
                    } else {
                        r.tus_default = rate;
                    }
                }
            }
            cpu[w].add(&clock, &Clock::now(&procs));
            if let Way::Put = way {
                let _ = s3.delete_object().bucket(&cfg.store.s3.bucket).key("bench/raw-put").send().await;
            }
            let (peak, used) = (watch.stop(), ingest_cpu() - used_before);
            match way {
                Way::Post => (post_peak, post_cpu) = (post_peak.max(peak), post_cpu.max(used)),
                Way::Tus(mib) if mib == chunk_mib => (tus_peak, tus_cpu) = (tus_peak.max(peak), tus_cpu.max(used)),
                _ => {}
            }
        }
        all.push(r);
    }
    let _ = std::fs::remove_file(&path);
    let median = |f: &dyn Fn(&Round) -> f64| {
        let mut v: Vec<f64> = all.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let each = |f: &dyn Fn(&Round) -> f64| all.iter().map(|r| format!("{:.2}", f(r))).collect::<Vec<_>>().join(" ");
    let raw = median(&|r| r.raw);

    println!("bench upload: {size_mib} MiB to {url} (store {}), median of {rounds} rounds", cfg.store.s3.endpoint);
    println!(
        "  anchor: aws-sdk-s3 PutObject straight to the store: {raw:.1} MB/s (each round: {} MB/s)",
        all.iter().map(|r| format!("{:.0}", r.raw)).collect::<Vec<_>>().join(" ")
    );
    println!(
        "  (aws-sdk-s3 multipart in {} MiB parts sent one at a time: {:.1} MB/s, {:.2}x the PUT)",
        cfg.uploads.part_mib,
        median(&|r| r.parts),
        median(&|r| r.parts / r.raw)
    );
    println!(
        "  (the same, {PARTS_AT_ONCE} parts at a time: {:.1} MB/s, {:.2}x the PUT)",
        median(&|r| r.parts_4),
        median(&|r| r.parts_4 / r.raw)
    );
    let rss = |peak: u64, cpu: f64| {
        if pid.is_some() {
            format!(", ingest peak RSS {peak} MiB, ingest CPU up to {cpu:.1} s")
        } else {
            String::new()
        }
    };
    println!(
        "  POST /v1/media:            {:.1} MB/s, {:.2}x the raw PUT (target >= 0.9; each round: {}; {} MB/s){}",
        median(&|r| r.post),
        median(&|r| r.post / r.raw),
        each(&|r| r.post / r.raw),
        all.iter().map(|r| format!("{:.0}", r.post)).collect::<Vec<_>>().join(" "),
        rss(post_peak, post_cpu)
    );
    println!(
        "  tus, {chunk_mib} MiB requests:     {:.1} MB/s, {:.2}x the raw PUT (target >= 0.9; each round: {}){}",
        median(&|r| r.tus),
        median(&|r| r.tus / r.raw),
        each(&|r| r.tus / r.raw),
        rss(tus_peak, tus_cpu)
    );
    if chunk_mib != DEFAULT_CHUNK_MIB {
        println!(
            "  (tus in {DEFAULT_CHUNK_MIB} MiB requests, what `mediamill upload` sends: {:.1} MB/s, {:.2}x the raw PUT)",
            median(&|r| r.tus_default),
            median(&|r| r.tus_default / r.raw)
        );
    }
    print_cpu(&ways, &cpu, &procs, rounds.max(1) as f64 * size as f64 / f64::from(1u32 << 30));
    Ok(())
}

/// Where each way's CPU went, per GiB sent: the machine's busy time, this client's, each named process's, and
/// the rest (the kernel's own work, other processes); then how busy each core was kept.
fn print_cpu(ways: &[Way], cpu: &[CpuUse], procs: &[(String, u32)], gib_sent: f64) {
    println!("  CPU seconds per GiB over all rounds, and the share of the time each core was busy:");
    for (way, c) in ways.iter().zip(cpu) {
        let per = |v: f64| v / gib_sent;
        let machine: f64 = c.cores.iter().sum();
        let named: Vec<String> =
            procs.iter().zip(&c.procs).map(|((n, _), v)| format!("{n} {:.2}, ", per(*v))).collect();
        let rest = machine - c.client - c.procs.iter().sum::<f64>();
        let busy: Vec<String> =
            c.cores.iter().map(|b| format!("{:.0}%", 100.0 * b / c.wall.max(f64::MIN_POSITIVE))).collect();
        println!(
            "    {:<26} {:.2}: client {:.2}, {}the rest {:.2}; cores busy {}",
            way.label(),
            per(machine),
            per(c.client),
            named.concat(),
            per(rest),
            busy.join(" ")
        );
    }
}

//! `mediamill bench social --url URL [--events N] [--rate R] [--procs notify:PID,…]`: the app's notification
//! service under a realistic mix of social events (see [`super::social_mix`]), against a running pipeline whose
//! database and Kafka this process's configuration names (the real stack, or `mediamill up`'s data folder).
//!
//! 1. **Throughput**: a fresh tenant, N events published (as fast as the producer goes, or at --rate), until
//!    every feed change they cause has come out on `notification.events` (what feeds' SSE streams carry). Events
//!    per second and per CPU-second of each process named by --procs, with their resident memory as it goes.
//! 2. **Latency**: --probe-secs more at --probe-rate, each timed from its publication to its feed change on
//!    `notification.events`: p50 and p99.
//! 3. **Exact outcome**: every user's unread count from the feed API and every media's like and comment counts
//!    from the stats API equal what the events must give.
//! 4. **Anchor**: the raw consume rate of the same events from `social.events` (rdkafka, in this process, from
//!    the offsets the run started at): what reading the topic costs with no work done.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use mediamill_core::apikey;
use mediamill_core::config::Config;
use mediamill_core::kafka::{base_config, envelope_from_message, EventProducer};
use mediamill_core::model::{KeyScope, TenantLimits};
use mediamill_core::repo::NewKey;
use mediamill_core::topics::{self, Topics};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Serialize;

use super::procfs::{machine_busy_secs, procs_cpu_secs, rss_mib, rusage, tree_cpu_secs};
use super::social_mix::{Event, Mix};

/// Publications in flight at once.
const IN_FLIGHT: usize = 1024;

/// What to run.
pub struct Plan {
    /// Ingest's base URL (feed and stats APIs).
    pub url: String,
    /// Events in the throughput part.
    pub events: u64,
    /// Events per second in the throughput part; 0: as fast as they can be published.
    pub rate: f64,
    /// Users (each owning `media_per_user` media).
    pub users: usize,
    /// Media per user.
    pub media_per_user: usize,
    /// Length of the latency part.
    pub probe_secs: u64,
    /// Events per second in the latency part.
    pub probe_rate: f64,
    /// Processes to measure, as (name, pid).
    pub procs: Vec<(String, u32)>,
    /// Skip waiting for the analytics counts (no `social` role running).
    pub skip_stats: bool,
    /// Print the figures as one JSON object too.
    pub json: bool,
}

/// The figures, as `--json` prints them.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    events: u64,
    feed_changes: u64,
    drain_secs: f64,
    events_per_sec: f64,
    cpu_secs: HashMap<String, f64>,
    machine_cpu_secs: f64,
    events_per_cpu_sec: HashMap<String, f64>,
    raw_events: u64,
    raw_events_per_sec: f64,
    raw_events_per_cpu_sec: f64,
    probe_samples: usize,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    /// Resident memory (MiB) per process at each tenth of the throughput part, then after the probe.
    rss_mib: HashMap<String, Vec<u64>>,
    users_checked: usize,
    feed_mismatches: Vec<String>,
    media_checked: usize,
    stats_mismatches: Vec<String>,
}

/// What the watcher of `notification.events` has seen.
#[derive(Default)]
struct Seen {
    changes: u64,
    /// Feed item → publication instants of probe events waiting for their change.
    waiting: HashMap<String, VecDeque<Instant>>,
    latencies_ms: Vec<f64>,
}

/// Per-partition (low, high) offsets of a topic.
fn watermarks(c: &BaseConsumer, topic: &str) -> anyhow::Result<Vec<(i32, i64, i64)>> {
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let t = md.topics().first().context("no such topic")?;
    anyhow::ensure!(!t.partitions().is_empty(), "{topic} has no partitions: run `mediamill topics` first");
    t.partitions()
        .iter()
        .map(|p| {
            let (lo, hi) = c.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
            Ok((p.id(), lo, hi))
        })
        .collect()
}

fn assigned_at(brokers: &str, topic: &str, from: &[(i32, i64)]) -> anyhow::Result<BaseConsumer> {
    let c: BaseConsumer = base_config(brokers)
        .set("group.id", format!("bench-social-{}", uuid::Uuid::now_v7().simple()))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for (p, at) in from {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*at))?;
    }
    c.assign(&tpl)?;
    Ok(c)
}

/// Follows feed changes of `tenant` on `notification.events` from the offsets it is given until `stop`.
fn watch(c: BaseConsumer, tenant: String, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Some(Ok(m)) = c.poll(Duration::from_millis(100)) else { continue };
        let at = Instant::now();
        let Ok(env) = envelope_from_message(&m) else { continue };
        if env.data["tenant_id"] != tenant.as_str() {
            continue;
        }
        let Some(id) = env.data["notification_id"].as_str() else { continue };
        let Ok(mut s) = seen.lock() else { return };
        s.changes += 1;
        if let Some(sent) = s.waiting.get_mut(id).and_then(|q| q.pop_front()) {
            s.latencies_ms.push(at.duration_since(sent).as_secs_f64() * 1000.0);
        }
    }
}

/// Publishes `count` events of the mix, at `rate` a second (0: as fast as they go). With `probe`, each event
/// that changes a feed is registered in `seen` with its publication instant.
async fn publish(
    producer: &EventProducer,
    topic: &str,
    mix: &mut Mix,
    count: u64,
    rate: f64,
    probe: Option<&Mutex<Seen>>,
) -> anyhow::Result<()> {
    let start = tokio::time::Instant::now();
    let mut inflight = FuturesUnordered::new();
    for i in 0..count {
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            while tokio::time::Instant::now() < due {
                if inflight.is_empty() {
                    tokio::time::sleep_until(due).await;
                } else if let Ok(Some(r)) = tokio::time::timeout_at(due, inflight.next()).await {
                    r?;
                }
            }
        }
        while inflight.len() >= IN_FLIGHT {
            if let Some(r) = inflight.next().await {
                r?;
            }
        }
        let Event { key, env, feed_id } = mix.next_event();
        if let (Some(seen), Some(id)) = (probe, feed_id) {
            if let Ok(mut s) = seen.lock() {
                s.waiting.entry(id).or_default().push_back(Instant::now());
            }
        }
        inflight.push(async move { producer.send(topic, &key, &env).await.map(|_| ()) });
    }
    while let Some(r) = inflight.next().await {
        r?;
    }
    Ok(())
}

/// Waits until `seen` has `want` feed changes, sampling memory at every tenth of the way.
async fn drained(
    seen: &Mutex<Seen>,
    want: u64,
    procs: &[(String, u32)],
    rss: &mut HashMap<String, Vec<u64>>,
    limit: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut next_tenth = 1;
    loop {
        let got = seen.lock().map(|s| s.changes).unwrap_or(0);
        while next_tenth <= 10 && got * 10 >= want * next_tenth {
            for (name, pid) in procs {
                rss.entry(name.clone()).or_default().push(rss_mib(*pid));
            }
            next_tenth += 1;
        }
        if got >= want {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < limit, "only {got} of {want} feed changes after {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A fresh tenant with no request limit (the check reads thousands of counts) and an admin key for it.
async fn tenant(cfg: &Config, data: &std::path::Path) -> anyhow::Result<(String, String)> {
    let repo = crate::cmd::data::open_existing(cfg, data).await?;
    let name = format!("bench-social-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"));
    let t = repo.ensure_tenant(&name).await?;
    let limits = TenantLimits { requests_per_sec: Some(0), ..t.limits.clone() };
    repo.set_tenant_limits(&name, &limits).await?;
    let (secret, hash, prefix) = apikey::generate();
    let new = NewKey { tenant_id: &t.id, key_hash: &hash, prefix: &prefix, scope: KeyScope::Admin, expires_at: None };
    repo.create_key(&new, &|_| vec![]).await?;
    Ok((t.id.to_string(), secret))
}

/// Reads the topic from `from` to `to` (per partition) as fast as it goes: (messages, seconds, CPU seconds).
fn raw_consume(brokers: &str, topic: &str, from: &[(i32, i64)], to: &[(i32, i64)]) -> anyhow::Result<(u64, f64, f64)> {
    let want: i64 = to.iter().zip(from).map(|((_, hi), (_, lo))| hi - lo).sum();
    let c = assigned_at(brokers, topic, from)?;
    let (t0, cpu0) = (Instant::now(), rusage(libc::RUSAGE_SELF));
    let mut got = 0i64;
    let mut bytes = 0usize;
    while got < want {
        anyhow::ensure!(t0.elapsed() < Duration::from_secs(600), "raw consume: {got} of {want} after 10 minutes");
        if let Some(m) = c.poll(Duration::from_millis(500)) {
            bytes += m?.payload().map_or(0, <[u8]>::len);
            got += 1;
        }
    }
    std::hint::black_box(bytes);
    Ok((got as u64, t0.elapsed().as_secs_f64(), rusage(libc::RUSAGE_SELF) - cpu0))
}

/// Checks every user's unread count and (unless skipped) every media's counts against the mix.
async fn check(url: &str, key: &str, mix: &Mix, skip_stats: bool, r: &mut Report) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let get = |path: String| {
        let http = http.clone();
        async move {
            let v: serde_json::Value =
                http.get(format!("{url}{path}")).bearer_auth(key).send().await?.error_for_status()?.json().await?;
            Ok::<_, anyhow::Error>(v)
        }
    };
    let unread = mix.expected_unread();
    let users: Vec<String> = mix.user_ids().collect();
    let got: Vec<anyhow::Result<serde_json::Value>> = futures::stream::iter(users.iter())
        .map(|u| get(format!("/v1/users/{u}/notifications?limit=1")))
        .buffered(16)
        .collect()
        .await;
    for ((u, want), v) in users.iter().zip(&unread).zip(got) {
        let v = v?;
        if v["unread_count"].as_i64() != Some(*want) {
            r.feed_mismatches.push(format!("{u}: unread {} want {want}", v["unread_count"]));
        }
    }
    r.users_checked = users.len();
    if skip_stats {
        return Ok(());
    }
    // Analytics is another consumer group: wait for it to catch up before calling a difference a mismatch.
    let media: Vec<(usize, String)> = mix.media_ids().enumerate().collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut left = media.clone();
    loop {
        let got: Vec<anyhow::Result<serde_json::Value>> = futures::stream::iter(left.iter())
            .map(|(_, m)| get(format!("/v1/media/{m}/stats")))
            .buffered(16)
            .collect()
            .await;
        let mut wrong = Vec::new();
        for ((i, m), v) in left.iter().zip(got) {
            let v = v?;
            let (likes, comments) = mix.expected_stats(*i);
            if v["likes"].as_i64() != Some(likes) || v["comments"].as_i64() != Some(comments) {
                wrong.push(((*i, m.clone()), format!("{m}: {v} want likes {likes} comments {comments}")));
            }
        }
        if wrong.is_empty() || Instant::now() > deadline {
            r.stats_mismatches = wrong.into_iter().map(|(_, w)| w).collect();
            break;
        }
        left = wrong.into_iter().map(|(m, _)| m).collect();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    r.media_checked = media.len();
    Ok(())
}

/// Runs the benchmark.
pub async fn run(cfg: &Config, data: &std::path::Path, plan: Plan) -> anyhow::Result<()> {
    let url = plan.url.trim_end_matches('/').to_string();
    let brokers = crate::cmd::data::brokers(cfg, data)?;
    let names = Topics::new(&cfg.kafka.topic_prefix);
    let (social, notes) = (names.name(topics::SOCIAL_EVENTS), names.name(topics::NOTIFICATION_EVENTS));
    let (tenant, key) = tenant(cfg, data).await?;
    let window_secs = cfg.app.rules_for(&tenant).like_window_secs;
    let mut mix =
        Mix::new(&tenant, plan.users, plan.media_per_user, window_secs, chrono::Utc::now().timestamp_millis() as u64);

    let probe: BaseConsumer = base_config(&brokers).create()?;
    let social_from: Vec<(i32, i64)> = watermarks(&probe, &social)?.into_iter().map(|(p, _, hi)| (p, hi)).collect();
    let notes_from: Vec<(i32, i64)> = watermarks(&probe, &notes)?.into_iter().map(|(p, _, hi)| (p, hi)).collect();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let c = assigned_at(&brokers, &notes, &notes_from)?;
        let (seen, stop, tenant) = (seen.clone(), stop.clone(), tenant.clone());
        std::thread::spawn(move || watch(c, tenant, seen, stop))
    };
    let producer = EventProducer::new(&brokers, Duration::from_secs(30))?;
    let mut r = Report { events: plan.events, ..Report::default() };

    eprintln!(
        "bench social: {} events for {} users ({} media each) on {social}, tenant {tenant}",
        plan.events, plan.users, plan.media_per_user
    );
    let cpu0 = procs_cpu_secs(&plan.procs);
    let (t0, machine0) = (Instant::now(), machine_busy_secs());
    publish(&producer, &social, &mut mix, plan.events, plan.rate, None).await?;
    let limit = Duration::from_secs(300 + plan.events / 100);
    drained(&seen, mix.feed_changes, &plan.procs, &mut r.rss_mib, limit).await?;
    r.drain_secs = t0.elapsed().as_secs_f64();
    r.machine_cpu_secs = machine_busy_secs() - machine0;
    r.events_per_sec = plan.events as f64 / r.drain_secs;
    for ((name, pid), c0) in plan.procs.iter().zip(cpu0) {
        let cpu = tree_cpu_secs(*pid) - c0;
        r.cpu_secs.insert(name.clone(), cpu);
        r.events_per_cpu_sec.insert(name.clone(), plan.events as f64 / cpu.max(1e-9));
    }

    let probe_events = (plan.probe_secs as f64 * plan.probe_rate) as u64;
    if probe_events > 0 {
        publish(&producer, &social, &mut mix, probe_events, plan.probe_rate, Some(&seen)).await?;
        drained(&seen, mix.feed_changes, &[], &mut HashMap::new(), Duration::from_secs(120)).await?;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    for (name, pid) in &plan.procs {
        r.rss_mib.entry(name.clone()).or_default().push(rss_mib(*pid));
    }
    let mut lat = seen.lock().map(|s| s.latencies_ms.clone()).unwrap_or_default();
    lat.sort_by(f64::total_cmp);
    r.probe_samples = lat.len();
    r.latency_p50_ms = percentile(&lat, 0.50);
    r.latency_p99_ms = percentile(&lat, 0.99);
    r.feed_changes = mix.feed_changes;

    check(&url, &key, &mix, plan.skip_stats, &mut r).await?;

    let social_to: Vec<(i32, i64)> = watermarks(&probe, &social)?.into_iter().map(|(p, _, hi)| (p, hi)).collect();
    let (brokers2, social2) = (brokers.clone(), social.clone());
    let (n, secs, cpu) =
        tokio::task::spawn_blocking(move || raw_consume(&brokers2, &social2, &social_from, &social_to)).await??;
    r.raw_events = n;
    r.raw_events_per_sec = n as f64 / secs;
    r.raw_events_per_cpu_sec = n as f64 / cpu.max(1e-9);

    print_report(&r, &plan);
    anyhow::ensure!(
        r.feed_mismatches.is_empty() && r.stats_mismatches.is_empty(),
        "the outcome is not exact: {} of {} feeds and {} of {} media differ (first: {:?} {:?})",
        r.feed_mismatches.len(),
        r.users_checked,
        r.stats_mismatches.len(),
        r.media_checked,
        r.feed_mismatches.first(),
        r.stats_mismatches.first()
    );
    Ok(())
}

fn print_report(r: &Report, plan: &Plan) {
    let rate = if plan.rate > 0.0 { format!("at {} events/s", plan.rate) } else { "as fast as published".into() };
    println!("bench social: {} social events ({rate}), {} feed changes", r.events, r.feed_changes);
    println!(
        "  drained in {:.1} s: {:.0} events/s; machine CPU {:.1} s: {:.0} events per machine CPU-second",
        r.drain_secs,
        r.events_per_sec,
        r.machine_cpu_secs,
        r.events as f64 / r.machine_cpu_secs.max(1e-9)
    );
    println!(
        "  anchor, raw consume of the same topic ({} events, rdkafka, no work): {:.0} events/s, {:.0} events per \
         CPU-second",
        r.raw_events, r.raw_events_per_sec, r.raw_events_per_cpu_sec
    );
    for (name, _) in &plan.procs {
        let cpu = r.cpu_secs.get(name).copied().unwrap_or(0.0);
        let per = r.events_per_cpu_sec.get(name).copied().unwrap_or(0.0);
        println!(
            "  {name}: {cpu:.1} CPU-s, {per:.0} events per CPU-second = {:.4} × the raw consume's",
            per / r.raw_events_per_cpu_sec
        );
    }
    println!("  events per second = {:.4} × the raw consume's", r.events_per_sec / r.raw_events_per_sec);
    println!(
        "  event → feed change at {} events/s for {} s ({} samples): p50 {:.1} ms, p99 {:.1} ms (target p50 < 100, \
         p99 < 500)",
        plan.probe_rate, plan.probe_secs, r.probe_samples, r.latency_p50_ms, r.latency_p99_ms
    );
    for (name, _) in &plan.procs {
        let mib = r.rss_mib.get(name).cloned().unwrap_or_default();
        println!("  {name} resident MiB at each tenth, then after the probe: {mib:?}");
    }
    println!(
        "  exact: {} of {} users' unread counts, {} of {} media's counts",
        r.users_checked - r.feed_mismatches.len(),
        r.users_checked,
        r.media_checked - r.stats_mismatches.len(),
        r.media_checked
    );
    if plan.json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
    }
}

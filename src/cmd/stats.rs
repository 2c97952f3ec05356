//! `mediamill stats`: what `gateway.requests` says about a recent window: per tenant and per route, the
//! request rate, error ratios, p50/p99 latency and bytes, and the request rate each tenant's traffic suggests
//! as its limit (`tenants.requests_per_sec`). Printed as a table, or as JSON with `--json`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::Context;
use mediamill_core::config::Config;
use mediamill_core::kafka::{base_config, envelope_from_message};
use mediamill_core::topics::{self, Topics};
use mediamill_ingest::gateway_log::RequestRecord;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How far back to look (30s, 15m, 2h, 1d).
    #[arg(long, default_value = "15m", value_parser = super::jobs::parse_duration)]
    window: Duration,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

/// Figures of one group of requests.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Figures {
    pub requests: u64,
    pub per_sec: f64,
    /// Share of answers 400–499 (401, 404, 429 …).
    pub client_error_ratio: f64,
    /// Share of answers 500–599.
    pub server_error_ratio: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Most requests in any one second of the window.
    pub peak_per_sec: u64,
    /// A request rate limit that this traffic would pass with room to spare: its busiest second, doubled,
    /// at least 1 (tenants only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_requests_per_sec: Option<u64>,
}

/// The whole report.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub window_secs: u64,
    pub records: u64,
    /// By tenant id (`anonymous` for requests without a valid key).
    pub tenants: BTreeMap<String, Figures>,
    /// By `METHOD route`.
    pub routes: BTreeMap<String, Figures>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn figures(rs: &[&RequestRecord], window_secs: f64, suggest: bool) -> Figures {
    let n = rs.len() as u64;
    let mut lat: Vec<f64> = rs.iter().map(|r| r.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    let mut per_second: HashMap<i64, u64> = HashMap::new();
    for r in rs {
        *per_second.entry(r.time / 1000).or_default() += 1;
    }
    let peak = per_second.values().copied().max().unwrap_or(0);
    let ratio = |lo: u16, hi: u16| {
        if n == 0 {
            0.0
        } else {
            rs.iter().filter(|r| (lo..=hi).contains(&r.status)).count() as f64 / n as f64
        }
    };
    Figures {
        requests: n,
        per_sec: n as f64 / window_secs.max(1.0),
        client_error_ratio: ratio(400, 499),
        server_error_ratio: ratio(500, 599),
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        bytes_in: rs.iter().map(|r| r.bytes_in).sum(),
        bytes_out: rs.iter().map(|r| r.bytes_out).sum(),
        peak_per_sec: peak,
        suggested_requests_per_sec: suggest.then_some((peak * 2).max(1)),
    }
}

/// The report over `records` for a window of `window_secs`.
pub fn report(records: &[RequestRecord], window_secs: u64) -> Report {
    let w = window_secs as f64;
    let mut by_tenant: BTreeMap<String, Vec<&RequestRecord>> = BTreeMap::new();
    let mut by_route: BTreeMap<String, Vec<&RequestRecord>> = BTreeMap::new();
    for r in records {
        by_tenant.entry(r.tenant_id.clone().unwrap_or_else(|| "anonymous".into())).or_default().push(r);
        by_route.entry(format!("{} {}", r.method, r.route)).or_default().push(r);
    }
    Report {
        window_secs,
        records: records.len() as u64,
        tenants: by_tenant
            .into_iter()
            .map(|(k, rs)| {
                let suggest = k != "anonymous";
                (k, figures(&rs, w, suggest))
            })
            .collect(),
        routes: by_route.into_iter().map(|(k, rs)| (k, figures(&rs, w, false))).collect(),
    }
}

/// Every record of `topic` from `since_ms` up to the end as it is now.
fn read_since(brokers: &str, topic: &str, since_ms: i64) -> anyhow::Result<Vec<RequestRecord>> {
    let c: BaseConsumer = base_config(brokers)
        .set("group.id", "mediamill-stats-unused")
        .set("enable.auto.commit", "false")
        .create()
        .context("creating a consumer")?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).context("reading topic metadata")?;
    let parts = md.topics().first().map(|t| t.partitions().len()).unwrap_or(0);
    anyhow::ensure!(parts > 0, "topic {topic} does not exist (run `mediamill topics`)");
    let mut want = TopicPartitionList::new();
    for p in 0..parts as i32 {
        want.add_partition_offset(topic, p, Offset::Offset(since_ms))?;
    }
    let starts = c.offsets_for_times(want, Duration::from_secs(10)).context("finding offsets by time")?;
    let mut ends = HashMap::new();
    let mut assign = TopicPartitionList::new();
    for e in starts.elements() {
        let (_, high) = c.fetch_watermarks(topic, e.partition(), Duration::from_secs(10))?;
        let start = match e.offset() {
            Offset::Offset(o) => o,
            _ => high, // nothing that recent
        };
        if start < high {
            ends.insert(e.partition(), high);
            assign.add_partition_offset(topic, e.partition(), Offset::Offset(start))?;
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return Ok(out);
    }
    c.assign(&assign)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !ends.is_empty() && std::time::Instant::now() < deadline {
        let Some(m) = c.poll(Duration::from_millis(500)) else { continue };
        let m = m?;
        if let Ok(env) = envelope_from_message(&m) {
            if let Ok(r) = env.data_as::<RequestRecord>() {
                out.push(r);
            }
        }
        if ends.get(&m.partition()).is_some_and(|high| m.offset() + 1 >= *high) {
            ends.remove(&m.partition());
        }
    }
    Ok(out)
}

pub async fn run(cfg: Config, args: Args, data: &std::path::Path) -> anyhow::Result<()> {
    let brokers = super::data::brokers(&cfg, data)?;
    let topic = Topics::new(&cfg.kafka.topic_prefix).name(topics::GATEWAY_REQUESTS);
    let since = mediamill_core::repo::now_ms() - args.window.as_millis() as i64;
    let records = tokio::task::spawn_blocking(move || read_since(&brokers, &topic, since)).await??;
    let records: Vec<RequestRecord> = records.into_iter().filter(|r| r.time >= since).collect();
    let rep = report(&records, args.window.as_secs());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(());
    }
    println!("{} requests in the last {} s", rep.records, rep.window_secs);
    for (title, rows) in [("tenant", &rep.tenants), ("route", &rep.routes)] {
        println!();
        println!(
            "{title}\trequests\tper_s\t4xx\t5xx\tp50_ms\tp99_ms\tbytes_in\tbytes_out\tpeak_per_s\tsuggested_limit"
        );
        for (k, f) in rows {
            println!(
                "{k}\t{}\t{:.2}\t{:.1}%\t{:.1}%\t{:.1}\t{:.1}\t{}\t{}\t{}\t{}",
                f.requests,
                f.per_sec,
                f.client_error_ratio * 100.0,
                f.server_error_ratio * 100.0,
                f.p50_ms,
                f.p99_ms,
                f.bytes_in,
                f.bytes_out,
                f.peak_per_sec,
                f.suggested_requests_per_sec.map(|s| s.to_string()).unwrap_or_else(|| "-".into())
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(tenant: Option<&str>, route: &str, status: u16, time: i64, ms: f64) -> RequestRecord {
        RequestRecord {
            time,
            request_id: "r".into(),
            tenant_id: tenant.map(str::to_string),
            key_id: None,
            method: "GET".into(),
            route: route.into(),
            status,
            bytes_in: 10,
            bytes_out: 100,
            latency_ms: ms,
            client: None,
            user_agent: None,
        }
    }

    #[test]
    fn figures_add_up_per_tenant_and_route() {
        let rs = vec![
            rec(Some("a"), "/v1/media", 200, 1_000, 1.0),
            rec(Some("a"), "/v1/media", 200, 1_500, 3.0),
            rec(Some("a"), "/v1/media/{id}", 404, 2_000, 2.0),
            rec(None, "/v1/media", 401, 2_000, 0.5),
            rec(Some("b"), "/v1/media", 503, 9_000, 100.0),
        ];
        let r = report(&rs, 10);
        assert_eq!(r.records, 5);
        let a = &r.tenants["a"];
        assert_eq!((a.requests, a.peak_per_sec, a.suggested_requests_per_sec), (3, 2, Some(4)));
        assert!((a.client_error_ratio - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!((a.p50_ms, a.p99_ms, a.bytes_in, a.bytes_out), (2.0, 3.0, 30, 300));
        assert_eq!(r.tenants["anonymous"].suggested_requests_per_sec, None);
        assert_eq!(r.tenants["b"].server_error_ratio, 1.0);
        assert_eq!(r.routes["GET /v1/media"].requests, 4);
        assert_eq!(r.routes["GET /v1/media/{id}"].requests, 1);
        assert!((r.tenants["a"].per_sec - 0.3).abs() < 1e-9);
    }
}

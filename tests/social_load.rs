//! The app's notification service under load, in a test binary of its own so that its 100 000 events do not
//! share the machine with the timing-sensitive windows of tests/app.rs: `mediamill bench social` on the real
//! Kafka and PostgreSQL, with exact counts and the notifier's memory flat.

mod harness;

use harness::Pipeline;
use serde_json::Value;

/// 100 000 social events through `mediamill bench social` on the real stack: every user's unread count and
/// every media's counts come out exact, and the notifier's memory stays flat while it works through them.
#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_social_events_end_exact_with_the_notifiers_memory_flat() {
    let p = Pipeline::start_app(&[("RUST_LOG", "warn")]).await;
    let pid = |proc: &Option<harness::Proc>| proc.as_ref().map(|c| c.id()).unwrap();
    let procs = format!("notify:{},social:{}", pid(&p.notify), pid(&p.social));
    let args =
        ["bench", "social", "--url", &p.url, "--events", "100000", "--procs", &procs, "--probe-secs", "5", "--json"];
    // The bench fails by itself when any count is off; its figures come as the last line.
    let out = p.run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bench social: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(r["events"], 100_000);
    assert_eq!(r["users_checked"], 1000, "{r}");
    assert_eq!(r["media_checked"], 3000, "{r}");
    assert_eq!(r["feed_mismatches"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["stats_mismatches"].as_array().unwrap().len(), 0, "{r}");
    assert!(r["feed_changes"].as_u64().unwrap() > 80_000, "{r}");
    assert!(r["probe_samples"].as_u64().unwrap() > 0, "{r}");
    // Flat: after the first tenth (connections, caches and buffers warmed up), the notifier grows by no more
    // than a fixed margin however many events it has handled; a per-event leak of 1 KiB would show 80 MiB.
    let rss: Vec<u64> = r["rss_mib"]["notify"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(rss.len(), 11, "{r}");
    let (warm, peak) = (rss[0], *rss.iter().max().unwrap());
    assert!(peak <= warm + 24, "the notifier's memory grew from {warm} to {peak} MiB: {rss:?}");
}

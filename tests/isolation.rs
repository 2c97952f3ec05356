//! Process isolation: decoding in sandbox children (`mediamill sandbox`) that a segfault, an abort, an
//! allocation failure or a hang ends without harm to the worker. The first tests drive the supervisor
//! directly against the real binary; the last runs the whole pipeline on the real Kafka, SeaweedFS and
//! PostgreSQL with a worker whose children honour test faults.

mod harness;

use std::time::Duration;

use harness::{bin, repo_root, Pipeline};
use mediamill_core::config::Config;
use mediamill_workers::image::{self, ImageSettings};
use mediamill_workers::sandbox::{CallError, ChildSpec, Supervisor};
use mediamill_workers::video::VideoSettings;

const MINUTE: Duration = Duration::from_secs(60);

fn spec(program: &str, args: &[&str], memory_mb: u64) -> ChildSpec {
    ChildSpec {
        program: program.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        memory_mb,
        memory_key: "isolation.image_memory_mb",
        max_jobs: 1000,
        kind: "image",
        // The tests' job folders are temporary folders: the children may use the temp folder.
        work_dir: Some(std::env::temp_dir()),
    }
}

async fn sandbox(memory_mb: u64) -> Supervisor {
    Supervisor::start(spec(bin(), &["sandbox", "--test-faults"], memory_mb), 1).await.expect("start children")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("fixtures/media").join(name)).expect("fixture")
}

fn settings() -> ImageSettings {
    ImageSettings::from_config(&Config::default())
}

/// A valid PNG with a fault marker after its end (decoders ignore trailing bytes).
fn faulty(kind: &str) -> Vec<u8> {
    let mut png = fixture("alpha.png");
    png.extend_from_slice(format!("MMFAULT:{kind}").as_bytes());
    png
}

fn reason(r: Result<image::Processed, CallError>) -> (String, String) {
    match r {
        Err(CallError::Process(e)) => (e.reason().to_string(), e.to_string()),
        Err(other) => panic!("expected a processing failure, got {other}"),
        Ok(_) => panic!("expected a failure, got variants"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_makes_the_same_variants_as_in_process_work() {
    let sb = sandbox(2048).await;
    for name in ["orient6.jpg", "alpha.png", "photo.heic", "animated.gif"] {
        let bytes = fixture(name);
        let local = image::process(&bytes, &settings()).expect("in process");
        let child = sb.image(&bytes, &settings(), MINUTE).await.expect("in a child");
        assert_eq!(child.metadata, local.metadata, "{name}");
        // GPS coordinates travel beside the record's serialisation, which leaves them out.
        assert_eq!(child.metadata.exif.gps, local.metadata.exif.gps, "{name}");
        assert_eq!(child.outputs.len(), local.outputs.len(), "{name}");
        for (c, l) in child.outputs.iter().zip(&local.outputs) {
            assert_eq!((&c.name, c.format, c.width, c.height), (&l.name, l.format, l.width, l.height), "{name}");
            assert_eq!(c.bytes, l.bytes, "{name}: {} differs", c.name);
        }
    }
    assert!(
        image::process(&fixture("orient6.jpg"), &settings()).unwrap().metadata.exif.gps.is_some(),
        "the GPS check checks something"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_is_kept_warm_for_job_after_job_and_replaced_after_max_jobs() {
    let sb = Supervisor::start(ChildSpec { max_jobs: 3, ..spec(bin(), &["sandbox"], 2048) }, 1).await.expect("start");
    let first = sb.idle_pids();
    for _ in 0..2 {
        sb.image(&fixture("alpha.png"), &settings(), MINUTE).await.expect("job");
        assert_eq!(sb.idle_pids(), first, "the same child takes the next job");
    }
    sb.image(&fixture("alpha.png"), &settings(), MINUTE).await.expect("third job");
    let next = sb.idle_pids();
    assert_eq!(next.len(), 1);
    assert_ne!(next, first, "after max_jobs the child is replaced");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_segfault_or_an_abort_fails_only_its_job_and_a_fresh_child_takes_over() {
    let sb = sandbox(2048).await;
    for (fault, signal) in [("segv", "SIGSEGV"), ("abort", "SIGABRT")] {
        let before = sb.idle_pids();
        assert_eq!(before.len(), 1);
        let (why, msg) = reason(sb.image(&faulty(fault), &settings(), MINUTE).await);
        assert_eq!(why, "crashed", "{msg}");
        assert!(msg.contains(signal), "{msg}");
        let after = sb.idle_pids();
        assert_eq!(after.len(), 1, "the dead child is replaced at once");
        assert_ne!(after, before, "by a new process");
        let ok = sb.image(&fixture("alpha.png"), &settings(), MINUTE).await.expect("the next job");
        assert!(!ok.outputs.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_decoder_is_killed_at_the_deadline_as_a_timeout() {
    let sb = sandbox(2048).await;
    let before = sb.idle_pids();
    let started = std::time::Instant::now();
    let (why, msg) = reason(sb.image(&faulty("hang"), &settings(), Duration::from_secs(2)).await);
    assert_eq!(why, "timeout", "{msg}");
    assert!(started.elapsed() < Duration::from_secs(30), "the hang was cut short");
    let pid = before[0] as i32;
    // SAFETY: signal 0 only asks whether the process exists.
    let gone = || unsafe { libc::kill(pid, 0) } != 0;
    for _ in 0..50 {
        if gone() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone(), "the hung child {pid} was killed");
    sb.image(&fixture("alpha.png"), &settings(), MINUTE).await.expect("the next job");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decode_over_the_memory_limit_is_out_of_memory_and_small_files_still_fit() {
    let sb = sandbox(512).await;
    sb.image(&fixture("photo.webp"), &settings(), MINUTE).await.expect("a small photo fits in 512 MiB");
    // 12 000 × 12 000 RGB is 432 MB decoded (a few hundred kB compressed): within a raised pixel limit, beyond
    // the child's memory.
    let mut big = Vec::new();
    let enc = ::image::codecs::png::PngEncoder::new_with_quality(
        &mut big,
        ::image::codecs::png::CompressionType::Default,
        ::image::codecs::png::FilterType::NoFilter,
    );
    ::image::ImageEncoder::write_image(
        enc,
        &vec![90u8; 12_000 * 12_000 * 3],
        12_000,
        12_000,
        ::image::ExtendedColorType::Rgb8,
    )
    .expect("encode");
    assert!(big.len() < 4 << 20, "the PNG is {} bytes: the decode, not the upload, must be what runs out", big.len());
    let roomy = ImageSettings { max_pixels: 200_000_000, ..settings() };
    let (why, msg) = reason(sb.image(&big, &roomy, MINUTE).await);
    assert_eq!(why, "out_of_memory", "{msg}");
    assert!(msg.contains("512 MiB") && msg.contains("isolation.image_memory_mb"), "{msg}");
    let (why, msg) = reason(sb.image(&faulty("alloc"), &settings(), MINUTE).await);
    assert_eq!(why, "out_of_memory", "{msg}");
    sb.image(&fixture("photo.webp"), &settings(), MINUTE).await.expect("the next job");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_video_transcodes_in_a_child_with_progress_and_files_in_the_job_folder() {
    let sb = Supervisor::start(ChildSpec { kind: "video", ..spec(bin(), &["sandbox"], 4096) }, 1).await.expect("start");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("source");
    std::fs::copy(repo_root().join("fixtures/media/clip.mp4"), &input).expect("copy");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let vs = VideoSettings::from_config(&Config::default());
    let mut reports = vec![];
    let p = sb.video(&input, &out, &vs, MINUTE, |f| reports.push(f)).await.expect("transcode");
    assert_eq!(p.renditions.len(), 1);
    assert!(p.renditions[0].path.starts_with(&out) && p.renditions[0].path.exists());
    assert!(!p.images.is_empty(), "poster variants came back");
    assert!(p.metadata.probe.video.is_some());
    assert!(reports.windows(2).all(|w| w[0] <= w[1]), "progress only rises: {reports:?}");
    // A damaged video fails the ordinary way and keeps the child.
    let pids = sb.idle_pids();
    std::fs::copy(repo_root().join("fixtures/media/truncated.mp4"), &input).expect("copy");
    let r = sb.video(&input, &out, &vs, MINUTE, |_| {}).await;
    assert!(matches!(&r, Err(CallError::Process(e)) if e.reason() == "corrupt"), "{:?}", r.err());
    assert_eq!(sb.idle_pids(), pids);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_that_talks_nonsense_is_a_crash_not_a_hang_or_a_panic() {
    // Stand-ins for a child a decoder exploit took over once started: random bytes, a huge announced header,
    // an early exit. Each says Ready (the frame below) first, so its nonsense lands on a job.
    let ready = r"printf '\007\000\000\000\000\000\000\000\042Ready\042'";
    for then in ["head -c 4096 /dev/urandom; sleep 5", r"printf '\377\377\377\177\000\000\000\000'; sleep 5", "exit 3"]
    {
        let script = format!("{ready}; {then}");
        let sb = Supervisor::start(spec("/bin/sh", &["-c", &script, "sh"], 0), 1).await.expect("start");
        let (why, msg) = reason(sb.image(&fixture("alpha.png"), &settings(), MINUTE).await);
        assert_eq!(why, "crashed", "{then}: {msg}");
    }
    // A program that cannot start, or starts and dies before it is ready, is the machine's trouble (retried,
    // and reported when the worker starts), not the file's.
    let missing = Supervisor::start(spec("/nonexistent/mediamill", &["sandbox"], 0), 1).await;
    assert!(matches!(missing, Err(CallError::Spawn(_))));
    let refuses = Supervisor::start(spec(bin(), &["sandbox", "--no-such-flag"], 0), 1).await;
    assert!(
        matches!(&refuses, Err(CallError::Spawn(e)) if e.to_string().contains("did not start")),
        "{:?}",
        refuses.err()
    );
    let too_small = Supervisor::start(spec(bin(), &["sandbox"], 70), 1).await;
    assert!(matches!(too_small, Err(CallError::Spawn(_))), "70 MiB is too little to load the program");
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_pipeline_a_crashing_decoder_fails_its_item_and_the_worker_carries_on() {
    let mut p = Pipeline::prepare(&[]).await;
    p.ingest = p.spawn("ingest", &["ingest"]);
    p.worker = Some(p.spawn_with("worker", &["worker", "--kind", "image"], &[("MEDIAMILL_SANDBOX_FAULTS", "1")]));
    p.wait_ready().await;
    let key = p.key("isolation");
    let path = p.dir.join("crash.png");
    std::fs::write(&path, faulty("segv")).expect("write");
    let (status, crash) = p.upload_file(&key, &path).await;
    assert_eq!(status, 202, "{crash}");
    let item = p.settle_within(&key, crash["id"].as_str().unwrap(), MINUTE).await;
    assert_eq!(item["status"], "failed", "{item}");
    assert_eq!(item["failure"]["reason"], "crashed", "{item}");
    assert!(item["failure"]["message"].as_str().unwrap_or("").contains("SIGSEGV"), "{item}");
    let (status, ok) = p.upload_file(&key, &repo_root().join("fixtures/media/alpha.png")).await;
    assert_eq!(status, 202);
    let item = p.settle_within(&key, ok["id"].as_str().unwrap(), MINUTE).await;
    assert_eq!(item["status"], "processed", "{item}");
    let worker = p.worker.as_mut().expect("worker");
    assert!(worker.try_wait().expect("wait").is_none(), "the worker process still runs:\n{}", p.log("worker"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_child_whose_worker_is_gone_exits_even_with_its_pipe_held_open() {
    // `sleep` keeps the child's stdin open (no EOF to notice); the shell that started it exits at once, as a
    // worker killed with SIGKILL would.
    let script = format!("sleep 30 2>/dev/null | {} sandbox --parent-pid $$ > /dev/null 2>&1 & echo $!", bin());
    let out = std::process::Command::new("/bin/sh").args(["-c", &script]).output().expect("sh");
    let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("child pid");
    // Gone, or a zombie waiting for whoever adopted it to reap it: either way it runs no more.
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')).unwrap_or(false))
            .unwrap_or(false)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while running() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!running(), "the orphaned child {pid} still runs");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hijacked_decoder_reaches_no_network_no_files_and_no_secrets() {
    // The test process's environment holds the stack's S3 secret (MEDIAMILL_TEST_S3_SECRET_KEY), as a
    // worker's holds its own: none of it may reach a child.
    assert!(std::env::vars().any(|(k, _)| k.starts_with("MEDIAMILL_")), "run through scripts/test.sh");
    let sb = sandbox(2048).await;
    let (reason, msg) = reason(sb.image(&faulty("probe"), &settings(), MINUTE).await);
    assert_eq!(reason, "crashed", "{msg}");
    for refused in ["probe connect: refused", "probe udp: refused", "probe /etc/passwd: refused", "probe exec: refused"]
    {
        assert!(msg.contains(refused), "{refused:?} not in: {msg}");
    }
    let env = msg.split("probe environment: ").nth(1).and_then(|s| s.split(';').next()).unwrap_or("?");
    assert_eq!(env.trim(), "MALLOC_ARENA_MAX", "the child saw more of the environment: {msg}");
    // The same child carries on with ordinary work.
    assert!(sb.image(&fixture("alpha.png"), &settings(), MINUTE).await.is_ok());
}

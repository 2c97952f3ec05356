//! The test harness: a mediamill pipeline (the real binary's `ingest` and `worker` roles as child processes)
//! on the real Kafka, SeaweedFS and PostgreSQL that `scripts/test.sh` started for this run.
//!
//! Each pipeline gets its own database, bucket, topic prefix and consumer groups, so tests run in parallel
//! without seeing each other's data.

#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

/// Where the shared test infrastructure is, from the variables `scripts/infra/stack.sh` writes.
pub struct Infra {
    pub kafka: String,
    pub s3_endpoint: String,
    pub s3_access_key: String,
    pub s3_secret_key: String,
    pub database_url: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh, which starts Kafka, SeaweedFS and PostgreSQL")
    })
}

impl Infra {
    pub fn from_env() -> Infra {
        Infra {
            kafka: var("MEDIAMILL_TEST_KAFKA"),
            s3_endpoint: var("MEDIAMILL_TEST_S3_ENDPOINT"),
            s3_access_key: var("MEDIAMILL_TEST_S3_ACCESS_KEY"),
            s3_secret_key: var("MEDIAMILL_TEST_S3_SECRET_KEY"),
            database_url: var("MEDIAMILL_TEST_DATABASE_URL"),
        }
    }
}

/// A process a test started. It dies with the test whatever happens: killed when the guard is dropped
/// (a panicking test unwinds through it), and killed by the kernel when the thread that started it ends
/// or the test binary dies without unwinding (`PR_SET_PDEATHSIG`). Sandbox children follow their worker
/// by themselves (parent watch).
pub struct Proc(Child);

impl Proc {
    /// Starts `cmd` under the guard.
    pub fn spawn(cmd: &mut Command) -> Proc {
        // SAFETY: prctl is async-signal-safe and touches nothing of the parent's between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Proc(cmd.spawn().expect("spawn a test process"))
    }
}

impl Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running pipeline.
pub struct Pipeline {
    pub id: String,
    pub url: String,
    pub env: Vec<(String, String)>,
    pub topic_prefix: String,
    pub kafka: String,
    pub dir: PathBuf,
    pub ingest: Proc,
    pub worker: Option<Proc>,
    pub video: Option<Proc>,
    pub batch: Option<Proc>,
    pub notify: Option<Proc>,
}

/// The mediamill binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mediamill")
}

/// The repository's root (fixtures live there).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl Pipeline {
    /// Starts ingest, one image worker, one video worker, the batch tracker and the notifier with `extra` MEDIAMILL_* settings on top of the
    /// harness's.
    pub async fn start(extra: &[(&str, &str)]) -> Pipeline {
        let mut p = Pipeline::prepare(extra).await;
        p.ingest = p.spawn("ingest", &["ingest"]);
        p.worker = Some(p.spawn("worker", &["worker", "--kind", "image"]));
        p.video = Some(p.spawn("video", &["worker", "--kind", "video"]));
        p.batch = Some(p.spawn("batch", &["batch"]));
        p.notify = Some(p.spawn("notify", &["notify"]));
        p.wait_ready().await;
        p
    }

    /// A database, bucket, topic prefix and topics of its own, with no process started yet.
    pub async fn prepare(extra: &[(&str, &str)]) -> Pipeline {
        let infra = Infra::from_env();
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let db = format!("mm_{id}");
        let mut admin = sqlx::PgConnection::connect(&infra.database_url).await.expect("connect to test PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {db}")).execute(&mut admin).await.expect("create test database");
        let base = infra.database_url.rsplit_once('/').map(|(b, _)| b.to_string()).expect("database url");
        let port = free_port();
        let topic_prefix = format!("t{id}.");
        let mut env: Vec<(String, String)> = vec![
            ("MEDIAMILL_DATABASE__URL".into(), format!("{base}/{db}")),
            ("MEDIAMILL_STORE__BACKEND".into(), "s3".into()),
            ("MEDIAMILL_STORE__S3__ENDPOINT".into(), infra.s3_endpoint.clone()),
            ("MEDIAMILL_STORE__S3__ACCESS_KEY".into(), infra.s3_access_key.clone()),
            ("MEDIAMILL_STORE__S3__SECRET_KEY".into(), infra.s3_secret_key.clone()),
            ("MEDIAMILL_STORE__S3__BUCKET".into(), format!("mm-{id}")),
            ("MEDIAMILL_KAFKA__BROKERS".into(), infra.kafka.clone()),
            ("MEDIAMILL_KAFKA__TOPIC_PREFIX".into(), topic_prefix.clone()),
            ("MEDIAMILL_KAFKA__GROUP_PREFIX".into(), format!("g{id}")),
            ("MEDIAMILL_KAFKA__JOB_PARTITIONS".into(), "3".into()),
            ("MEDIAMILL_KAFKA__EVENT_PARTITIONS".into(), "3".into()),
            ("MEDIAMILL_SERVER__LISTEN".into(), format!("127.0.0.1:{port}")),
            ("MEDIAMILL_WORKER__CONCURRENCY".into(), "2".into()),
            ("RUST_LOG".into(), "info,rdkafka=warn".into()),
        ];
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            env.push((k.to_string(), v.to_string()));
        }
        let dir = std::env::temp_dir().join(format!("mediamill-test-{id}"));
        std::fs::create_dir_all(&dir).expect("test dir");
        let p = Pipeline {
            id,
            url: format!("http://127.0.0.1:{port}"),
            env,
            topic_prefix,
            kafka: infra.kafka,
            dir,
            ingest: Proc::spawn(&mut Command::new("true")),
            worker: None,
            video: None,
            batch: None,
            notify: None,
        };
        let out = p.run(&["topics"]);
        assert!(out.status.success(), "mediamill topics: {}", String::from_utf8_lossy(&out.stderr));
        p
    }

    /// Runs a mediamill subcommand to completion with this pipeline's settings.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin()).args(args).envs(self.env.iter().cloned()).output().expect("run mediamill")
    }

    /// Starts a long-running role; its output goes to a log file in the test's folder.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        self.spawn_with(name, args, &[])
    }

    /// Like [`Pipeline::spawn`], with some settings overridden.
    pub fn spawn_with(&self, name: &str, args: &[&str], over: &[(&str, &str)]) -> Proc {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).expect("log file");
        Proc::spawn(
            Command::new(bin())
                .args(args)
                .envs(self.env.iter().cloned())
                .envs(over.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .stdout(Stdio::null())
                .stderr(log),
        )
    }

    /// A log of one role, for failure messages.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.url)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "ingest never became ready:\n{}", self.log("ingest"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new API key for `tenant`.
    pub fn key(&self, tenant: &str) -> String {
        let out = self.run(&["keys", "create", "--tenant", tenant]);
        assert!(out.status.success(), "keys create: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Uploads a fixture as a raw body; returns (status, JSON body).
    pub async fn upload(&self, key: &str, name: &str) -> (u16, serde_json::Value) {
        self.upload_file(key, &repo_root().join("fixtures/media").join(name)).await
    }

    /// Uploads any file as a raw body; returns (status, JSON body).
    pub async fn upload_file(&self, key: &str, path: &std::path::Path) -> (u16, serde_json::Value) {
        let bytes = std::fs::read(path).expect("file to upload");
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let r = reqwest::Client::new()
            .post(format!("{}/v1/media", self.url))
            .bearer_auth(key)
            .header("x-filename", name)
            .body(bytes)
            .send()
            .await
            .expect("upload");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// POSTs `body` (or nothing) to an API path that creates something and returns the new thing's id,
    /// failing the test with the answer when there is none.
    pub async fn create(&self, key: &str, path: &str, body: Option<serde_json::Value>) -> String {
        let mut req = reqwest::Client::new().post(format!("{}{path}", self.url)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let answer: serde_json::Value = req.send().await.expect("create").json().await.unwrap_or_default();
        answer["id"].as_str().unwrap_or_else(|| panic!("POST {path}: no id in {answer}")).to_string()
    }

    /// POSTs a JSON body to an API path.
    pub async fn post_json(&self, key: &str, path: &str, body: &serde_json::Value) -> reqwest::Response {
        let url = format!("{}{path}", self.url);
        reqwest::Client::new().post(url).bearer_auth(key).json(body).send().await.expect("post json")
    }

    /// POSTs a multipart form to an API path.
    pub async fn post_form(&self, key: &str, path: &str, form: reqwest::multipart::Form) -> reqwest::Response {
        let url = format!("{}{path}", self.url);
        reqwest::Client::new().post(url).bearer_auth(key).multipart(form).send().await.expect("post form")
    }

    /// GETs an API path; returns (status, JSON body).
    pub async fn get(&self, key: &str, path: &str) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new().get(format!("{}{path}", self.url)).bearer_auth(key).send().await.expect("get");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// Polls a media item until it is terminal (or 60 s pass).
    pub async fn settle(&self, key: &str, id: &str) -> serde_json::Value {
        self.settle_within(key, id, Duration::from_secs(60)).await
    }

    /// Polls a media item until it is terminal (or `wait` passes).
    pub async fn settle_within(&self, key: &str, id: &str, wait: Duration) -> serde_json::Value {
        let deadline = Instant::now() + wait;
        loop {
            let (status, item) = self.get(key, &format!("/v1/media/{id}")).await;
            let s = item["status"].as_str().unwrap_or("");
            // A deleted item answers 410: terminal too.
            if matches!(s, "processed" | "failed") || status == 410 {
                return item;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never settled: {item}\nworker log:\n{}\nvideo log:\n{}",
                self.log("worker"),
                self.log("video")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every message on one of this pipeline's topics, from the beginning: (key, headers, body).
    pub fn read_topic(
        &self,
        logical: &str,
        want: usize,
        wait: Duration,
    ) -> Vec<(String, std::collections::BTreeMap<String, String>, Vec<u8>)> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        use rdkafka::message::{Headers, Message};
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.kafka)
            .set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let topic = format!("{}{logical}", self.topic_prefix);
        let mut tpl = rdkafka::TopicPartitionList::new();
        for part in 0..3 {
            tpl.add_partition_offset(&topic, part, rdkafka::Offset::Beginning).expect("partition");
        }
        c.assign(&tpl).expect("assign");
        let mut out = Vec::new();
        let deadline = Instant::now() + wait;
        while out.len() < want && Instant::now() < deadline {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
                let mut h = std::collections::BTreeMap::new();
                if let Some(hs) = m.headers() {
                    for x in hs.iter() {
                        h.insert(x.key.to_string(), String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned());
                    }
                }
                let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                out.push((key, h, m.payload().unwrap_or_default().to_vec()));
            }
        }
        out
    }

    /// Waits (up to 60 s) until this pipeline's consumer group `role` (`workers.image`, `notify`, ...) has
    /// committed past every message now on its `topics` (logical names): it has handled them all. What a test
    /// waits for instead of sleeping and hoping.
    pub async fn wait_caught_up(&self, role: &str, topics: &[&str]) {
        let group = format!("g{}.{role}", self.id);
        let physical: Vec<String> = topics.iter().map(|t| format!("{}{t}", self.topic_prefix)).collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s =
                mediamill_core::kafka::groups::group_status(&self.kafka, &group, &physical, Duration::from_secs(10))
                    .await
                    .expect("group status");
            if s.topics.iter().all(|t| t.lag == 0) {
                return;
            }
            assert!(Instant::now() < deadline, "{group} never caught up: {s:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Peak resident memory of the ingest process, in KiB (VmHWM).
    pub fn ingest_peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.ingest.id())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }
}

// Every process of a pipeline is a `Proc`: dropping the pipeline (also while a test panics) kills them all.

/// A server of the test's own (`kafka`, `seaweedfs` or `postgres`), driven by its script in `scripts/infra/`,
/// for fault tests that stop and start it without disturbing the shared stack.
pub struct OwnServer {
    script: PathBuf,
    pub dir: PathBuf,
    start_args: Vec<String>,
}

impl OwnServer {
    pub fn new(name: &str, start_args: &[&str]) -> OwnServer {
        let dir = std::env::temp_dir().join(format!("mm-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("server dir");
        OwnServer {
            script: repo_root().join(format!("scripts/infra/{name}.sh")),
            dir,
            start_args: start_args.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn run(&self, action: &str) {
        let mut c = Command::new("bash");
        c.arg(&self.script).arg(action).arg(&self.dir);
        if action == "start" {
            c.args(&self.start_args);
        }
        let out = c.output().expect("infra script");
        assert!(out.status.success(), "{} {action}: {}", self.script.display(), String::from_utf8_lossy(&out.stderr));
    }

    pub fn start(&self) {
        self.run("start");
    }

    pub fn stop(&self) {
        self.run("stop");
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.run("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP port free on loopback now, as text.
pub fn free_port_string() -> String {
    free_port().to_string()
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    fn gone(pid: u32) -> bool {
        // A killed child that was reaped no longer exists; one not reaped is a zombie, also not running.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.is_empty() || stat.split(") ").nth(1).is_some_and(|rest| rest.starts_with('Z'))
    }

    fn wait_gone(pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if gone(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn a_panicking_test_leaves_no_process_behind() {
        let pid = std::sync::Arc::new(std::sync::Mutex::new(0));
        let p2 = pid.clone();
        let r = std::panic::catch_unwind(move || {
            let p = Proc::spawn(Command::new("sleep").arg("600"));
            *p2.lock().unwrap() = p.id();
            panic!("the test fails while its process runs");
        });
        assert!(r.is_err());
        let pid = *pid.lock().unwrap();
        assert!(pid > 0 && wait_gone(pid), "sleep {pid} outlived its panicking test");
    }

    #[test]
    fn a_process_dies_with_the_thread_that_started_it_even_unguarded() {
        // Leaked on purpose (no Drop runs), as if the test binary were killed: the kernel still ends it.
        let pid = std::thread::spawn(|| {
            let p = Proc::spawn(Command::new("sleep").arg("600"));
            let pid = p.id();
            std::mem::forget(p);
            pid
        })
        .join()
        .unwrap();
        assert!(wait_gone(pid), "sleep {pid} outlived the thread that started it");
    }
}

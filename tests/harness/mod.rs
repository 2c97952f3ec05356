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

mod api;
pub mod embedded;
mod observe;
pub mod routes;
mod servers;
pub mod smtp;

#[allow(unused_imports)] // each test binary uses its own part of the harness
pub use servers::{free_port_string, OwnServer};

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
    pub social: Option<Proc>,
}

impl Drop for Pipeline {
    /// A passing test's folder (logs, files it made) goes; a failing one's stays to be looked at.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
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

    /// [`Pipeline::prepare`] with ingest alone started and ready: uploads are recorded, nothing processes them.
    pub async fn ingest_alone(extra: &[(&str, &str)]) -> Pipeline {
        let mut p = Pipeline::prepare(extra).await;
        p.ingest = p.spawn("ingest", &["ingest"]);
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
            social: None,
        };
        let out = p.run(&["topics"]);
        assert!(out.status.success(), "mediamill topics: {}", String::from_utf8_lossy(&out.stderr));
        p
    }

    /// The id of the tenant named `name` (made by [`Pipeline::key`]).
    pub async fn tenant_id(&self, name: &str) -> String {
        let url = &self.env.iter().find(|(k, _)| k == "MEDIAMILL_DATABASE__URL").expect("database url").1;
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect to the test database");
        sqlx::query_scalar("SELECT id FROM tenants WHERE name = $1").bind(name).fetch_one(&mut c).await.expect("tenant")
    }

    /// Ingest, the notifier and the analytics role: the app's notification service.
    pub async fn start_app(extra: &[(&str, &str)]) -> Pipeline {
        let mut p = Pipeline::prepare(extra).await;
        p.ingest = p.spawn("ingest", &["ingest"]);
        p.notify = Some(p.spawn("notify", &["notify"]));
        p.social = Some(p.spawn("social", &["social"]));
        p.wait_ready().await;
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

    /// Starts another ingest instance on a port of its own (log `ingest2`); returns it and its URL once ready.
    pub async fn second_ingest(&self) -> (Proc, String) {
        let port = free_port();
        let proc =
            self.spawn_with("ingest2", &["ingest"], &[("MEDIAMILL_SERVER__LISTEN", &format!("127.0.0.1:{port}"))]);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{url}/readyz")).await.map(|r| !r.status().is_success()).unwrap_or(true) {
            assert!(Instant::now() < deadline, "second ingest never ready:\n{}", self.log("ingest2"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (proc, url)
    }

    /// The pipeline's object store (its own S3 bucket), opened as the roles open it.
    pub async fn store(&self) -> std::sync::Arc<dyn mediamill_core::store::Store> {
        let get = |k: &str| self.env.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let cfg = mediamill_core::config::S3Config {
            endpoint: get("MEDIAMILL_STORE__S3__ENDPOINT"),
            access_key: get("MEDIAMILL_STORE__S3__ACCESS_KEY"),
            secret_key: get("MEDIAMILL_STORE__S3__SECRET_KEY"),
            bucket: get("MEDIAMILL_STORE__S3__BUCKET"),
            ..Default::default()
        };
        std::sync::Arc::new(mediamill_core::store::S3Store::new(&cfg).await.expect("open the test bucket"))
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

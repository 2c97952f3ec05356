//! `mediamill up` on the embedded default (SQLite, a local folder, the in-process broker) as a child process.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{bin, Proc};

/// Starts `up` on `port` with its data in `data` (log in `data/up.log`) and `extra` settings.
pub fn start_up(data: &Path, port: u16, extra: &[(&str, &str)]) -> Proc {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(data.join("up.log")).expect("log");
    Proc::spawn(
        Command::new(bin())
            .args(["up", "--listen", &format!("127.0.0.1:{port}")])
            .env("MEDIAMILL_DATABASE__URL", format!("sqlite://{}", data.join("db.sqlite").display()))
            .env("MEDIAMILL_STORE__LOCAL_DIR", data.join("objects"))
            .env("MEDIAMILL_WORKER__CONCURRENCY", "1")
            .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .stdout(Stdio::null())
            .stderr(log),
    )
}

/// Waits until `url` answers `/readyz` with 200.
pub fn wait_ready(http: &reqwest::blocking::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http.get(format!("{url}/readyz")).send().is_ok_and(|r| r.status().is_success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("up never became ready");
}

/// The key `up` printed for the default tenant.
pub fn printed_key(data: &Path) -> String {
    let log = std::fs::read_to_string(data.join("up.log")).expect("up.log");
    log.split_whitespace().find(|w| w.starts_with("mm_")).expect("key printed").to_string()
}

/// `up` on a data folder of its own, with the key it printed; the folder goes when the test passes (a failing
/// test keeps it, with `up.log`, to look at).
pub struct Up {
    _proc: Proc,
    /// Base URL of its API.
    pub url: String,
    /// The default tenant's key.
    pub key: String,
    /// Its data folder (also a place for the test's own files).
    pub dir: std::path::PathBuf,
}

impl Up {
    /// Starts one with `extra` settings and waits until it is ready.
    pub fn start(extra: &[(&str, &str)]) -> Up {
        let dir = std::env::temp_dir().join(format!("mediamill-up-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("data folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let proc = start_up(&dir, port, extra);
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&reqwest::blocking::Client::new(), &url);
        Up { _proc: proc, key: printed_key(&dir), url, dir }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

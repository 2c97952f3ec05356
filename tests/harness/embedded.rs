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

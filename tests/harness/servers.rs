//! Servers of a test's own, for fault tests that stop and start them without disturbing the shared stack.

use std::path::PathBuf;
use std::process::Command;

use super::{free_port, repo_root};

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

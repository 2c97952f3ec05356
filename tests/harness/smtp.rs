//! A real SMTP server for the tests (aiosmtpd from PyPI, printing every message it gets), and reading what it
//! got the way a mail client shows it.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::Proc;

/// aiosmtpd on a free loopback port, its messages in a log file.
pub struct SmtpSink {
    _proc: Proc,
    /// Where notifiers send (`notify.smtp_port`).
    pub port: u16,
    log: PathBuf,
}

impl SmtpSink {
    /// Starts the server (`MEDIAMILL_TEST_PYTHON` comes from scripts/test.sh).
    pub fn start() -> SmtpSink {
        let python =
            std::env::var("MEDIAMILL_TEST_PYTHON").expect("MEDIAMILL_TEST_PYTHON: run through scripts/test.sh");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::env::temp_dir().join(format!("smtp-{port}.log"));
        let proc = Proc::spawn(
            Command::new(python)
                .args(["-u", "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Debugging"])
                .args(["-l", &format!("127.0.0.1:{port}")])
                .stdout(std::fs::File::create(&log).expect("smtp log file"))
                .stderr(Stdio::null()),
        );
        SmtpSink { _proc: proc, port, log }
    }

    /// Everything received so far, quoted-printable decoded.
    pub fn received(&self) -> String {
        unquote_printable(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Quoted-printable decoding: soft line breaks joined, `=XX` turned back into its byte.
fn unquote_printable(s: &str) -> String {
    let joined = s.replace("=\r\n", "").replace("=\n", "");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

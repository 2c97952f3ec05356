//! Email notifications through a real SMTP sink: failures and completed batches mailed to confirmed
//! recipients only, in readable text.

mod harness;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::Pipeline;

#[tokio::test(flavor = "multi_thread")]
async fn failures_and_completed_batches_are_emailed() {
    let python = std::env::var("MEDIAMILL_TEST_PYTHON").expect("MEDIAMILL_TEST_PYTHON: run through scripts/test.sh");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = std::env::temp_dir().join(format!("smtp-{port}.log"));
    let mut smtpd = harness::Proc::spawn(
        Command::new(python)
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-c",
                "aiosmtpd.handlers.Debugging",
                "-l",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(std::fs::File::create(&log_path).unwrap())
            .stderr(Stdio::null()),
    );
    let port_s = port.to_string();
    let p = Pipeline::start(&[
        ("MEDIAMILL_NOTIFY__SMTP_HOST", "127.0.0.1"),
        ("MEDIAMILL_NOTIFY__SMTP_PORT", port_s.as_str()),
        ("MEDIAMILL_NOTIFY__RETRY_BASE_MS", "300"),
    ])
    .await;
    let key = p.key("mail");
    let r = p.post_json(&key, "/v1/email-recipients", &serde_json::json!({"address": "ops@example.com"})).await;
    assert_eq!(r.status(), 201);
    let recipient = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let r = p.post_json(&key, "/v1/email-recipients", &serde_json::json!({"address": "not an address"})).await;
    assert_eq!(r.status(), 400);

    // Unconfirmed, the address gets its confirmation message and nothing else.
    let (_, early) = p.upload(&key, "truncated.jpg").await;
    let early = early["id"].as_str().unwrap().to_string();
    assert_eq!(p.settle(&key, &early).await["status"], "failed");
    let deadline = Instant::now() + Duration::from_secs(60);
    let token = loop {
        // The message is quoted-printable (a mail client decodes it before anyone clicks).
        let log = unquote_printable(&std::fs::read_to_string(&log_path).unwrap_or_default());
        if let Some(rest) = log.split("confirm?token=").nth(1) {
            break rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>();
        }
        assert!(Instant::now() < deadline, "no confirmation message arrived:\n{log}\nnotify log:\n{}", p.log("notify"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The early failure has passed the notifier (its offset committed) while the address is unconfirmed.
    p.wait_caught_up("notify", &["media.events"]).await;
    let confirm = |t: &str| {
        reqwest::Client::new().get(format!("{}/v1/email-recipients/{recipient}/confirm?token={t}", p.url)).send()
    };
    assert_eq!(confirm("wrong-token").await.unwrap().status(), 404);
    assert_eq!(confirm(&token).await.unwrap().status(), 200);
    assert_eq!(confirm(&token).await.unwrap().status(), 404, "a link works once");

    let (_, body) = p.upload(&key, "truncated.jpg").await;
    let id = body["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains(&format!("Upload {id} failed: corrupt")) {
            assert!(log.contains("ops@example.com"), "{log}");
            assert!(
                !log.contains(&format!("Upload {early} failed")),
                "mailed before the address was confirmed:\n{log}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no email arrived:\n{log}\nnotify log:\n{}", p.log("notify"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The email channel keeps the same delivery log as webhooks.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, log) = p.get(&key, &format!("/v1/email-recipients/{recipient}/deliveries")).await;
        if log["items"][0]["status"] == "delivered" {
            assert_eq!(log["items"][0]["event_type"], "mediamill.media.failed.v1");
            break;
        }
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = smtpd.kill();
    let _ = smtpd.wait();
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

//! Email notifications through a real SMTP sink: failures and completed batches mailed to confirmed
//! recipients only, in readable text.

mod harness;

use std::time::{Duration, Instant};

use harness::Pipeline;

#[tokio::test(flavor = "multi_thread")]
async fn failures_and_completed_batches_are_emailed() {
    let smtp = harness::smtp::SmtpSink::start();
    let port_s = smtp.port.to_string();
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
        let log = smtp.received();
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
        let log = smtp.received();
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
}

//! Email as a second channel: the event summarised in a plain-text message over SMTP.

use std::time::Instant;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mediamill_core::notify_model::{Attempt, Delivery};

/// Sends deliveries of the email channel.
#[derive(Clone)]
pub struct EmailSender {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: String,
}

impl EmailSender {
    /// A sender for `host:port`; an empty host means email is not configured (deliveries fail with that reason).
    pub fn new(host: &str, port: u16, from: &str) -> EmailSender {
        let transport = (!host.is_empty())
            .then(|| AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).build());
        EmailSender { transport, from: from.to_string() }
    }

    /// One attempt at a delivery.
    pub async fn send(&self, d: &Delivery) -> Attempt {
        let started = Instant::now();
        let fail = |e: String| Attempt {
            status_code: None,
            error: Some(e),
            duration_ms: started.elapsed().as_millis() as u64,
        };
        let Some(t) = &self.transport else { return fail("email is not configured (notify.smtp_host)".into()) };
        let payload: serde_json::Value = serde_json::from_str(&d.payload).unwrap_or_default();
        let subject = subject(&d.event_type, &payload["data"]);
        let body = if d.event_type.starts_with("app.notification.") {
            let data = &payload["data"];
            format!("{subject}\n\n{}\n", data["body"].as_str().unwrap_or_default())
        } else if d.event_type == mediamill_core::notify_model::EMAIL_CONFIRM {
            format!(
                "Someone asked for mediamill notifications to be sent to this address.\n\n\
                 To get them, open this link:\n{}\n\nIf that was not you, ignore this message: nothing else will be sent.\n",
                payload["data"]["confirm_url"].as_str().unwrap_or("?")
            )
        } else {
            format!(
                "{subject}\n\n{}\n\n-- \nmediamill notification {} ({})\n",
                serde_json::to_string_pretty(&payload["data"]).unwrap_or_default(),
                d.event_id,
                d.event_type
            )
        };
        let msg = match (self.from.parse(), d.target.parse()) {
            (Ok(from), Ok(to)) => {
                Message::builder().from(from).to(to).subject(subject).header(ContentType::TEXT_PLAIN).body(body)
            }
            (Err(e), _) => return fail(format!("bad notify.smtp_from: {e}")),
            (_, Err(e)) => return fail(format!("bad recipient address: {e}")),
        };
        let msg = match msg {
            Ok(m) => m,
            Err(e) => return fail(format!("building the message: {e}")),
        };
        match t.send(msg).await {
            Ok(r) => Attempt {
                status_code: Some(r.code().to_string().parse().unwrap_or(250)),
                error: None,
                duration_ms: started.elapsed().as_millis() as u64,
            },
            Err(e) => fail(format!("SMTP: {e}")),
        }
    }
}

fn subject(ty: &str, data: &serde_json::Value) -> String {
    match ty {
        "mediamill.batch.completed.v1" => format!(
            "Batch {} {}: {} processed, {} failed",
            data["batch_id"].as_str().unwrap_or("?"),
            data["outcome"].as_str().unwrap_or("completed").replace('_', " "),
            data["counts"]["processed"],
            data["counts"]["failed"]
        ),
        "mediamill.media.failed.v1" => format!(
            "Upload {} failed: {}",
            data["media_id"].as_str().unwrap_or("?"),
            data["reason"].as_str().unwrap_or("unknown reason")
        ),
        app if app.starts_with("app.notification.") => data["title"].as_str().unwrap_or("Notification").to_string(),
        mediamill_core::notify_model::EMAIL_CONFIRM => "Confirm mediamill notifications to this address".into(),
        other => format!("mediamill: {other}"),
    }
}

//! The app's notification service on the real Kafka and PostgreSQL: events emitted with `mediamill emit`
//! become feed items, Web Push messages (decrypted here with the subscription's keys), emails (a real SMTP server)
//! and SMS (a local provider sink), as the rules, aggregation windows, presence, preferences and quiet hours
//! say; invalid events are dead-lettered; analytics counts survive duplicates, reordering and a rebuild; the
//! chat archive loses nothing across a kill -9.

mod harness;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use base64::Engine;
use harness::Pipeline;
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// One request a sink got: its headers and body.
type Received = (HeaderMap, Vec<u8>);

/// Records what a local HTTP sink was sent.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Received>>>);

impl Sink {
    async fn start() -> (Sink, String) {
        let sink = Sink::default();
        let s = sink.clone();
        // `/gone` answers as a push service does for a subscription that no longer exists.
        let app = axum::Router::new()
            .route(
                "/in",
                axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                    let s = s.clone();
                    async move {
                        s.0.lock().unwrap().push((headers, body.to_vec()));
                        axum::http::StatusCode::CREATED
                    }
                }),
            )
            .route("/gone", axum::routing::post(|| async { axum::http::StatusCode::GONE }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/in", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (sink, url)
    }

    fn all(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

async fn until<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Pipeline {
    fn emit(&self, ty: &str, data: &Value, extra: &[&str]) {
        let body = data.to_string();
        let mut args = vec!["emit", ty, body.as_str()];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        assert!(out.status.success(), "emit {ty}: {}", String::from_utf8_lossy(&out.stderr));
    }

    async fn feed(&self, key: &str, user: &str) -> Value {
        let (status, v) = self.get(key, &format!("/v1/users/{user}/notifications")).await;
        assert_eq!(status, 200, "{v}");
        v
    }
}

/// A browser's side of a push subscription: its keys, and decrypting what the push service got.
struct Browser {
    keys: ece::EcKeyComponents,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Browser {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().unwrap();
        Browser { keys: pair.raw_components().unwrap(), auth }
    }

    fn subscription(&self, endpoint: &str) -> Value {
        json!({"endpoint": endpoint, "keys": {
            "p256dh": B64.encode(self.keys.public_key()), "auth": B64.encode(self.auth)}})
    }

    fn open(&self, body: &[u8]) -> Value {
        let plain =
            ece::decrypt(&self.keys, &self.auth, body).expect("the push message decrypts with the subscription's keys");
        serde_json::from_slice(&plain).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn app_events_become_notifications_on_every_channel() {
    let (push_sink, push_url) = Sink::start().await;
    let (sms_sink, sms_url) = Sink::start().await;
    let vapid = ece::generate_keypair_and_auth_secret().unwrap().0.raw_components().unwrap();
    let vapid_key = B64.encode(vapid.private_key());
    let p = Pipeline::start_app(&[
        ("MEDIAMILL_NOTIFY__ALLOW_PRIVATE_TARGETS", "true"),
        ("MEDIAMILL_NOTIFY__RETRY_BASE_MS", "300"),
        ("MEDIAMILL_APP__RULES__LIKE_WINDOW_SECS", "6"),
        ("MEDIAMILL_APP__RULES__CHAT_UNSEEN_SECS", "1"),
        ("MEDIAMILL_APP__VAPID_PRIVATE_KEY", &vapid_key),
        ("MEDIAMILL_APP__VAPID_SUBJECT", "mailto:ops@example.com"),
        ("MEDIAMILL_APP__SMS_URL", &sms_url),
        ("MEDIAMILL_APP__SMS_SECRET", "whsec_c21zLXNlY3JldC1mb3ItdGVzdHM="),
    ])
    .await;
    let key = p.key("app");
    let bob_key = p.key("other");
    let t = p.tenant_id("app").await;

    // The owner signs up and subscribes a browser.
    p.emit(
        "app.user.registered.v1",
        &json!({"tenant_id": t, "user_id": "owner", "email": "owner@example.com",
        "display_name": "Olive", "phone": "+15550001111"}),
        &[],
    );
    let browser = Browser::new();
    let r = p.post_json(&key, "/v1/users/owner/push-subscriptions", &browser.subscription(&push_url)).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // A second browser whose subscription its push service has since dropped (410 Gone).
    let gone = Browser::new().subscription(&push_url.replace("/in", "/gone"));
    let r = p.post_json(&key, "/v1/users/owner/push-subscriptions", &gone).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let bad = json!({"endpoint": push_url, "keys": {"p256dh": "short", "auth": "x"}});
    assert_eq!(p.post_json(&key, "/v1/users/owner/push-subscriptions", &bad).await.status(), 400);

    // Likes in one window: three others like, one takes it back, the owner's own like counts for nothing, and
    // a redelivered like (same event id) changes nothing. Windows are cut by event time; these events carry the
    // start of the next window, so emitting them one process at a time cannot straddle two.
    let window_ms = 6000;
    let start = (chrono::Utc::now().timestamp_millis() / window_ms + 1) * window_ms;
    let at = chrono::DateTime::from_timestamp_millis(start).unwrap().to_rfc3339();
    let in_window = ["--time", at.as_str()];
    let like = |actor: &str, name: &str| {
        json!({"tenant_id": t, "media_id": "m1", "media_owner_id": "owner",
        "actor_id": actor, "actor_name": name})
    };
    let redelivered = ["--id", "like-alice", "--time", at.as_str()];
    p.emit("app.social.like_added.v1", &like("alice", "Alice"), &redelivered);
    p.emit("app.social.like_added.v1", &like("alice", "Alice"), &redelivered);
    p.emit("app.social.like_added.v1", &like("bob", "Bob"), &in_window);
    p.emit("app.social.like_added.v1", &like("carol", "Carol"), &in_window);
    p.emit("app.social.like_added.v1", &like("owner", "Olive"), &in_window);
    let undone_at = chrono::DateTime::from_timestamp_millis(start + 1).unwrap().to_rfc3339();
    let unlike = json!({"tenant_id": t, "media_id": "m1", "media_owner_id": "owner", "actor_id": "carol"});
    p.emit("app.social.like_removed.v1", &unlike, &["--time", undone_at.as_str()]);
    let item = until("the like in the feed", 30, async || {
        let f = p.feed(&key, "owner").await;
        let items = f["items"].as_array().unwrap().clone();
        items.into_iter().find(|i| i["kind"] == "like" && i["actor_count"] == 2)
    })
    .await;
    // Equal event times: the actor named first is either of the two left.
    let title = item["title"].as_str().unwrap().to_string();
    assert!(
        ["Alice and 1 other liked your photo", "Bob and 1 other liked your photo"].contains(&title.as_str()),
        "{item}"
    );
    // The window closes: one push for the whole window, decrypted with the browser's keys, VAPID-signed.
    let (headers, body) = until("the like's push", 30, async || push_sink.all().into_iter().next()).await;
    let auth = headers["authorization"].to_str().unwrap();
    assert!(auth.starts_with("vapid t=") && auth.contains("k="), "{auth}");
    assert_eq!(headers["content-encoding"], "aes128gcm");
    let msg = browser.open(&body);
    assert_eq!(msg["title"], title.as_str(), "{msg}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(push_sink.all().len(), 1, "one push per like window");
    // The gone subscription was removed at its first 410, not retried.
    let subs = until("the gone subscription removed", 30, async || {
        let (_, v) = p.get(&key, "/v1/users/owner/push-subscriptions").await;
        (v["items"].as_array().unwrap().len() == 1).then_some(v)
    })
    .await;
    assert!(subs["items"][0]["endpoint"].as_str().unwrap().ends_with("/in"), "{subs}");
    // The user's delivery log shows both: one delivered (201), one dead at its first 410.
    let (status, log) = p.get(&key, "/v1/users/owner/deliveries").await;
    assert_eq!(status, 200, "{log}");
    let items = log["items"].as_array().unwrap();
    let push: Vec<&Value> = items.iter().filter(|d| d["channel"] == "push").collect();
    assert_eq!(push.len(), 2, "{log}");
    let by_status = |s: &str| push.iter().find(|d| d["status"] == s).copied().unwrap_or_else(|| panic!("{s}: {log}"));
    assert_eq!(by_status("delivered")["attempt_log"][0]["status_code"], 201, "{log}");
    let dead = by_status("dead");
    assert_eq!(dead["attempts"], 1, "{log}");
    assert_eq!(dead["attempt_log"][0]["status_code"], 410, "{log}");
    assert!(dead.get("secret").is_none(), "the subscription's keys are never shown");
    let long = "u".repeat(129);
    for bad in [format!("/v1/users/{long}/deliveries"), "/v1/users/owner/deliveries?limit=many".to_string()] {
        assert_eq!(p.get(&key, &bad).await.0, 400, "{bad}");
    }
    let (_, other) = p.get(&bob_key, "/v1/users/owner/deliveries").await;
    assert_eq!(other["items"].as_array().unwrap().len(), 0, "another tenant's log is its own: {other}");

    // A comment: a feed item at once and a push; SMS is off by default.
    p.emit(
        "app.social.comment_added.v1",
        &json!({"tenant_id": t, "comment_id": "c1", "media_id": "m1",
        "media_owner_id": "owner", "actor_id": "alice", "actor_name": "Alice", "text": "Lovely!"}),
        &[],
    );
    until("the comment's push", 30, async || (push_sink.all().len() == 2).then_some(())).await;
    let f = p.feed(&key, "owner").await;
    assert_eq!(f["items"][0]["kind"], "comment", "{f}");
    assert_eq!(f["items"][0]["body"], "Lovely!");
    assert_eq!(f["unread_count"], 2);
    assert!(sms_sink.all().is_empty());

    // Preferences: comments by SMS, not push.
    let prefs = json!({"channels": {"comment": {"feed": true, "push": false, "email": false, "sms": true}}});
    let r = p.put_json(&key, "/v1/users/owner/preferences", &prefs).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let bad = p.put_json(&key, "/v1/users/owner/preferences", &json!({"time_zone": "Mars/Olympus"})).await;
    assert_eq!(bad.status(), 400);
    p.emit(
        "app.social.comment_added.v1",
        &json!({"tenant_id": t, "comment_id": "c2", "media_id": "m1",
        "media_owner_id": "owner", "actor_id": "bob", "actor_name": "Bob", "text": "Wow"}),
        &[],
    );
    let (sms_headers, sms) = until("the SMS", 30, async || sms_sink.all().into_iter().next()).await;
    let sms: Value = serde_json::from_slice(&sms).unwrap();
    assert_eq!(sms["to"], "+15550001111");
    assert!(sms["text"].as_str().unwrap().contains("Bob commented"), "{sms}");
    assert!(sms_headers.contains_key("webhook-signature"));
    assert_eq!(push_sink.all().len(), 2, "comments no longer push");

    // Chat: nothing while the recipient is online, nothing for a message seen in time, a notice for one not.
    let msg = |id: &str| {
        json!({"tenant_id": t, "conversation_id": "conv1", "message_id": id, "sender_id": "alice",
        "sender_name": "Alice", "recipient_ids": ["owner"], "text": format!("hi {id}")})
    };
    p.emit("app.chat.presence_online.v1", &json!({"tenant_id": t, "user_id": "owner"}), &[]);
    p.emit("app.chat.message_sent.v1", &msg("x1"), &[]);
    p.emit("app.chat.presence_offline.v1", &json!({"tenant_id": t, "user_id": "owner"}), &[]);
    p.emit("app.chat.message_sent.v1", &msg("x2"), &[]);
    p.emit(
        "app.chat.message_seen.v1",
        &json!({"tenant_id": t, "conversation_id": "conv1", "message_id": "x2",
        "user_id": "owner"}),
        &[],
    );
    p.emit("app.chat.message_sent.v1", &msg("x3"), &[]);
    let chat = until("the chat notice", 30, async || {
        let f = p.feed(&key, "owner").await;
        f["items"].as_array().unwrap().iter().find(|i| i["kind"] == "chat").cloned()
    })
    .await;
    assert_eq!(chat["body"], "hi x3");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let f = p.feed(&key, "owner").await;
    let chats: Vec<_> = f["items"].as_array().unwrap().iter().filter(|i| i["kind"] == "chat").collect();
    assert_eq!(chats.len(), 1, "only the unseen message of the offline recipient: {f}");

    // Quiet hours all day long: the push waits, the feed has it at once.
    let quiet = json!({"quiet_hours": {"start": "00:00", "end": "23:59"}, "time_zone": "UTC"});
    assert_eq!(p.put_json(&key, "/v1/users/owner/preferences", &quiet).await.status(), 200);
    let pushes = push_sink.all().len();
    p.emit(
        "app.social.comment_added.v1",
        &json!({"tenant_id": t, "comment_id": "c3", "media_id": "m1",
        "media_owner_id": "owner", "actor_id": "carol", "actor_name": "Carol", "text": "Hush"}),
        &[],
    );
    until("the quiet comment in the feed", 30, async || {
        let f = p.feed(&key, "owner").await;
        (f["items"][0]["body"] == "Hush").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(push_sink.all().len(), pushes, "no push during quiet hours");

    // Mark read; another tenant sees nothing of this user's feed.
    let r = p.post_json(&key, "/v1/users/owner/notifications/read", &json!({})).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["unread_count"], 0, "{v}");
    let other = p.feed(&bob_key, "owner").await;
    assert_eq!(other["items"].as_array().unwrap().len(), 0, "{other}");

    // An invalid event is dead-lettered with its reason, and the consumer goes on.
    p.emit("app.social.like_added.v1", &json!({"tenant_id": t, "media_id": "m2"}), &["--invalid"]);
    p.emit(
        "app.social.comment_added.v1",
        &json!({"tenant_id": t, "comment_id": "c4", "media_id": "m1",
        "media_owner_id": "owner", "actor_id": "dave", "actor_name": "Dave", "text": "after"}),
        &[],
    );
    until("the comment after the invalid event", 30, async || {
        (p.feed(&key, "owner").await["items"][0]["body"] == "after").then_some(())
    })
    .await;
    let dlq = format!("{}app.events.dlq", p.topic_prefix);
    let letters = until("the dead letter", 30, async || {
        let l = mediamill_core::kafka::dlq::read_all(&p.kafka, &dlq).unwrap();
        (!l.is_empty()).then_some(l)
    })
    .await;
    assert!(letters.iter().all(|l| l.reason == "schema"), "{:?}", letters.iter().map(|l| &l.error).collect::<Vec<_>>());
    assert!(letters[0].error.contains("media_owner_id"), "{}", letters[0].error);
}

#[tokio::test(flavor = "multi_thread")]
async fn analytics_are_a_function_of_the_log_and_the_chat_archive_survives_kill_9() {
    let mut p = Pipeline::start_app(&[]).await;
    let key = p.key("stats");
    let t = p.tenant_id("stats").await;
    let producer = mediamill_core::kafka::EventProducer::new(&p.kafka, Duration::from_secs(30)).unwrap();
    let send = async |ty: &str, data: Value, id: &str, at: &str| {
        let topic = format!("{}{}", p.topic_prefix, mediamill_core::contract::topic_of(ty).unwrap());
        let key = mediamill_core::contract::key_of(ty, &data).unwrap();
        let mut env = mediamill_core::event::Envelope::new(ty, None, &data);
        env.id = id.to_string();
        env.time = chrono::DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&chrono::Utc);
        producer.send(&topic, &key, &env).await.unwrap();
    };
    let like = |actor: &str| {
        json!({"tenant_id": t, "media_id": "m1", "media_owner_id": "own", "actor_id": actor,
        "actor_name": actor})
    };
    let unlike = |actor: &str| json!({"tenant_id": t, "media_id": "m1", "media_owner_id": "own", "actor_id": actor});
    // a: liked; b: liked, then undone (the undo delivered first); c: liked twice (a duplicate); d: undone then
    // liked again later.
    send("app.social.like_added.v1", like("a"), "e1", "2026-11-30T10:00:00Z").await;
    send("app.social.like_removed.v1", unlike("b"), "e3", "2026-11-30T10:02:00Z").await;
    send("app.social.like_added.v1", like("b"), "e2", "2026-11-30T10:01:00Z").await;
    send("app.social.like_added.v1", like("c"), "e4", "2026-11-30T10:03:00Z").await;
    send("app.social.like_added.v1", like("c"), "e4", "2026-11-30T10:03:00Z").await;
    send("app.social.like_removed.v1", unlike("d"), "e5", "2026-11-30T10:04:00Z").await;
    send("app.social.like_added.v1", like("d"), "e6", "2026-11-30T10:05:00Z").await;
    let comment = |id: &str| {
        json!({"tenant_id": t, "comment_id": id, "media_id": "m1", "media_owner_id": "own",
        "actor_id": "a", "actor_name": "a", "text": "x"})
    };
    let uncomment = |id: &str| {
        json!({"tenant_id": t, "comment_id": id, "media_id": "m1", "media_owner_id": "own",
        "actor_id": "a"})
    };
    send("app.social.comment_added.v1", comment("k1"), "e7", "2026-11-30T10:06:00Z").await;
    send("app.social.comment_deleted.v1", uncomment("k2"), "e9", "2026-11-30T10:08:00Z").await;
    send("app.social.comment_added.v1", comment("k2"), "e8", "2026-11-30T10:07:00Z").await;
    for (i, user) in ["a", "b", "a"].iter().enumerate() {
        send("app.auth.login.v1", json!({"tenant_id": t, "user_id": user}), &format!("l{i}"), "2026-11-29T09:00:00Z")
            .await;
    }
    send("app.auth.login.v1", json!({"tenant_id": t, "user_id": "a"}), "l9", "2026-11-30T09:00:00Z").await;
    let expected = json!({"media_id": "m1", "likes": 3, "comments": 1});
    until("the live counts", 30, async || {
        let (_, s) = p.get(&key, "/v1/media/m1/stats").await;
        (s == expected).then_some(())
    })
    .await;
    let days = json!([{"day": "2026-11-29", "active_users": 2}, {"day": "2026-11-30", "active_users": 1}]);
    let daily = async || p.get(&key, "/v1/stats/daily?from=2026-11-29&to=2026-11-30").await.1["days"].clone();
    until("daily active users", 30, async || (daily().await == days).then_some(())).await;
    assert_eq!(p.get(&key, "/v1/users/own/stats").await.1["likes_received"], 3);

    // Rebuilt from the log: the same counts.
    let out = p.run(&["analytics", "rebuild"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("generation 2 active"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(p.get(&key, "/v1/media/m1/stats").await.1, expected);
    assert_eq!(daily().await, days);

    // The chat archive: 300 messages with receipts while the consumer is killed twice; nothing lost, no duplicates.
    let msg = |n: usize| {
        json!({"tenant_id": t, "conversation_id": "c", "message_id": format!("msg{n:04}"),
        "sender_id": "a", "sender_name": "A", "recipient_ids": ["b"], "text": format!("m{n}")})
    };
    for n in 0..300 {
        let at = format!("2026-11-30T11:{:02}:{:02}Z", n / 60, n % 60);
        send("app.chat.message_sent.v1", msg(n), &format!("s{n}"), &at).await;
        if n % 2 == 0 {
            let seen =
                json!({"tenant_id": t, "conversation_id": "c", "message_id": format!("msg{n:04}"), "user_id": "b"});
            send("app.chat.message_seen.v1", seen, &format!("r{n}"), &at).await;
        }
        if n == 100 || n == 200 {
            let pid = p.social.as_ref().unwrap().id() as i32;
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = p.social.as_mut().unwrap().wait();
            p.social = Some(p.spawn(&format!("social{n}"), &["social"]));
        }
    }
    let mut all = Vec::new();
    until("every archived message", 90, async || {
        all.clear();
        let mut after: Option<String> = None;
        loop {
            let q = after.as_ref().map(|a| format!("?after={a}&limit=100")).unwrap_or("?limit=100".into());
            let (_, page) = p.get(&key, &format!("/v1/conversations/c/messages{q}")).await;
            all.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => break,
            }
        }
        let seen = all.iter().filter(|m| !m["receipts"][0]["seen_at"].is_null()).count();
        (all.len() == 300 && seen == 150).then_some(())
    })
    .await;
    let ids: Vec<&str> = all.iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    let want: Vec<String> = (0..300).map(|n| format!("msg{n:04}")).collect();
    assert_eq!(ids, want.iter().map(String::as_str).collect::<Vec<_>>(), "in order, once each");
    let (status, _) = p.get(&key, "/v1/conversations/c/messages?after=bad%20id").await;
    assert_eq!(status, 400);
}

/// The app's emails through a real SMTP server: a welcome email on registration, a comment mailed at once
/// until the user puts comments in their digest (then it waits for the digest hour, while the feed has it at
/// once), and the security email on a password change whatever the preferences.
#[tokio::test(flavor = "multi_thread")]
async fn app_emails_reach_a_real_smtp_server_and_digested_kinds_wait() {
    let smtp = harness::smtp::SmtpSink::start();
    let port = smtp.port.to_string();
    let p = Pipeline::start_app(&[
        ("MEDIAMILL_NOTIFY__SMTP_HOST", "127.0.0.1"),
        ("MEDIAMILL_NOTIFY__SMTP_PORT", &port),
        ("MEDIAMILL_NOTIFY__RETRY_BASE_MS", "300"),
    ])
    .await;
    let key = p.key("mail");
    let t = p.tenant_id("mail").await;
    p.emit(
        "app.user.registered.v1",
        &json!({"tenant_id": t, "user_id": "ann", "email": "ann@example.com", "display_name": "Ann"}),
        &[],
    );
    until("the welcome email", 60, async || {
        let got = smtp.received();
        (got.contains("ann@example.com") && got.contains("Welcome!")).then_some(())
    })
    .await;

    let comment = |id: &str, text: &str| {
        json!({"tenant_id": t, "comment_id": id, "media_id": "m1", "media_owner_id": "ann",
        "actor_id": "bob", "actor_name": "Bob", "text": text})
    };
    let by_mail = json!({"channels": {"comment": {"feed": true, "push": false, "email": true, "sms": false}}});
    assert_eq!(p.put_json(&key, "/v1/users/ann/preferences", &by_mail).await.status(), 200);
    p.emit("app.social.comment_added.v1", &comment("c1", "First mailed"), &[]);
    until("the comment's email", 60, async || smtp.received().contains("First mailed").then_some(())).await;

    let mut digest = by_mail.clone();
    digest["digest"] = json!(["comment"]);
    assert_eq!(p.put_json(&key, "/v1/users/ann/preferences", &digest).await.status(), 200);
    p.emit("app.social.comment_added.v1", &comment("c2", "Kept for the digest"), &[]);
    until("the digested comment in the feed", 30, async || {
        let (_, f) = p.get(&key, "/v1/users/ann/notifications").await;
        (f["items"][0]["body"] == "Kept for the digest").then_some(())
    })
    .await;

    p.emit("app.user.password_changed.v1", &json!({"tenant_id": t, "user_id": "ann"}), &[]);
    until("the security email", 60, async || smtp.received().contains("Your password was changed").then_some(())).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!smtp.received().contains("Kept for the digest"), "a digested comment is not mailed on its own");
    // The user's delivery log has the three emails sent, each delivered.
    let (_, log) = p.get(&key, "/v1/users/ann/deliveries").await;
    let emails: Vec<&Value> = log["items"].as_array().unwrap().iter().filter(|d| d["channel"] == "email").collect();
    assert_eq!(emails.len(), 3, "{log}");
    assert!(emails.iter().all(|d| d["status"] == "delivered" && d["target"] == "ann@example.com"), "{log}");
}

//! The feed's cancellations and the per-user send slots, on the SQLite repository (the PostgreSQL one runs the
//! same SQL in tests/app.rs): a cancellation that arrives before what it cancels still wins, one that arrives
//! after the notification was sent takes it out of the feed, and rate-limited sends are spread over minutes
//! instead of dropped, each user's own (user ids may hold ':').

use mediamill_core::app_model::Kind;
use mediamill_core::model::TenantId;
use mediamill_core::notify_model::{app_target, Channel, Delivery, DeliveryTarget};
use mediamill_core::repo::{self, now_ms, FeedOp, NewNotification, Release, Repo};
use serde_json::json;
use std::sync::Arc;

async fn repo(dir: &tempfile::TempDir) -> Arc<dyn Repo> {
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    repo::open(&url, 1).await.expect("opening a fresh SQLite repository")
}

fn comment(id: &str, tenant: &TenantId, now: i64) -> FeedOp {
    FeedOp::Notify(NewNotification {
        id: id.to_string(),
        tenant_id: tenant.clone(),
        user_id: "owner".into(),
        kind: Kind::Comment,
        subject: "m1".into(),
        data: json!({"text": "hi"}),
        visible_at: Some(now),
        send_at: now,
    })
}

fn cancel(id: &str) -> FeedOp {
    FeedOp::Cancel { notification_id: id.to_string() }
}

#[tokio::test]
async fn a_cancellation_wins_in_whatever_order_it_comes() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(&dir).await;
    let t = TenantId::from("t1");
    let now = now_ms();

    // Deleted before its "added" was applied: the notification starts cancelled, and is never due.
    assert!(r.apply_feed("notify.app", "e-del", &[cancel("c1")], &[]).await.unwrap());
    assert!(r.apply_feed("notify.app", "e-add", &[comment("c1", &t, now)], &[]).await.unwrap());
    assert!(r.feed(&t, "owner", None, 10).await.unwrap().is_empty());
    assert!(r.claim_notifications(now + 1, 30_000, 10).await.unwrap().is_empty());

    // Added, sent, then deleted: it leaves the feed.
    assert!(r.apply_feed("notify.app", "e-add2", &[comment("c2", &t, now)], &[]).await.unwrap());
    assert_eq!(r.unread_count(&t, "owner").await.unwrap(), 1);
    let due = r.claim_notifications(now + 1, 30_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    r.release_notification("c2", &Release::Sent(vec![]), &[]).await.unwrap();
    assert!(r.apply_feed("notify.app", "e-del2", &[cancel("c2")], &[]).await.unwrap());
    assert_eq!(r.unread_count(&t, "owner").await.unwrap(), 0);

    // Cancelled while it was being released: the release sends nothing.
    assert!(r.apply_feed("notify.app", "e-add3", &[comment("c3", &t, now)], &[]).await.unwrap());
    let due = r.claim_notifications(now + 1, 30_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(r.apply_feed("notify.app", "e-del3", &[cancel("c3")], &[]).await.unwrap());
    let d = push(&t, "c3", now);
    r.release_notification("c3", &Release::Sent(vec![d]), &[]).await.unwrap();
    assert_eq!(r.next_send_slot(&t, Channel::Push, "owner", now, 1).await.unwrap(), now, "no delivery was made");

    // A redelivered event applies nothing.
    assert!(!r.apply_feed("notify.app", "e-add3", &[comment("c3", &t, now)], &[]).await.unwrap());
}

fn push(t: &TenantId, notification: &str, now: i64) -> Delivery {
    let target = app_target(Channel::Push, "owner", "sub1");
    let to = DeliveryTarget {
        tenant_id: t,
        channel: Channel::Push,
        target_id: &target,
        target: "http://127.0.0.1:9/p",
        secret: None,
    };
    let mut d = Delivery::pending(to, notification.to_string(), "app.notification.comment.v1".into(), "{}".into());
    d.created_at = now;
    d.next_attempt_at = now;
    d
}

#[tokio::test]
async fn rate_limited_sends_get_later_slots_never_more_than_the_limit_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(&dir).await;
    let t = TenantId::from("t1");
    let now = now_ms();
    assert_eq!(r.next_send_slot(&t, Channel::Push, "owner", now, 2).await.unwrap(), now);
    assert_eq!(r.next_send_slot(&t, Channel::Push, "owner", now, 0).await.unwrap(), now, "0: no limit");

    // Two sent now fill the minute; the third waits a minute after the first, the fourth after the second.
    let mut at = Vec::new();
    for (i, sent) in [now - 10_000, now - 5_000, 0, 0].into_iter().enumerate() {
        let slot = if sent == 0 { r.next_send_slot(&t, Channel::Push, "owner", now, 2).await.unwrap() } else { sent };
        // Sends in the past are made as they were; `not_before` only ever delays.
        let d = push(&t, &format!("n{i}"), slot.min(now)).not_before(slot);
        r.insert_deliveries(&[d]).await.unwrap();
        at.push(slot);
    }
    assert_eq!(at[2], now - 10_000 + 60_000);
    assert_eq!(at[3], now - 5_000 + 60_000);
    for (i, s) in at.iter().enumerate() {
        let in_minute = at.iter().filter(|o| **o > s - 60_000 && **o <= *s).count();
        assert!(in_minute <= 2, "slot {i} at {s}: {in_minute} sends in the minute before it");
    }
    // Another device of the same notification does not take another slot; another user is not limited.
    let mut twin = push(&t, "n3", now).not_before(at[3]);
    twin.target_id = app_target(Channel::Push, "owner", "sub2");
    r.insert_deliveries(&[twin]).await.unwrap();
    assert_eq!(r.next_send_slot(&t, Channel::Push, "owner", now, 2).await.unwrap(), at[2] + 60_000);
    assert_eq!(r.next_send_slot(&t, Channel::Push, "someone", now, 2).await.unwrap(), now);
    assert_eq!(r.next_send_slot(&t, Channel::Sms, "owner", now, 2).await.unwrap(), now);

    // User ids may hold ':': user "owner:x"'s deliveries are neither in owner's log nor in owner's minute.
    let mine = r.user_deliveries(&t, "owner", None, 100).await.unwrap().len();
    assert_eq!(mine, 5);
    let mut other = push(&t, "n9", now);
    other.target_id = app_target(Channel::Push, "owner:x", "sub1");
    let mut sms = push(&t, "n9", now);
    (sms.channel, sms.target_id) = (Channel::Sms, app_target(Channel::Sms, "owner:x", ""));
    r.insert_deliveries(&[other, sms]).await.unwrap();
    assert_eq!(r.user_deliveries(&t, "owner", None, 100).await.unwrap().len(), mine);
    assert_eq!(r.user_deliveries(&t, "owner:x", None, 100).await.unwrap().len(), 2);
    assert_eq!(r.next_send_slot(&t, Channel::Sms, "owner", now, 1).await.unwrap(), now);
    assert_eq!(r.next_send_slot(&t, Channel::Sms, "owner:x", now, 1).await.unwrap(), now + 60_000);
    assert!(r.user_deliveries(&TenantId::from("t2"), "owner", None, 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_feed_item_names_its_first_actors_and_counts_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo(&dir).await;
    let t = TenantId::from("t1");
    let now = now_ms();
    let like = FeedOp::Notify(NewNotification {
        id: "like:w".into(),
        tenant_id: t.clone(),
        user_id: "owner".into(),
        kind: Kind::Like,
        subject: "m1".into(),
        data: json!({}),
        visible_at: Some(now),
        send_at: now + 60_000,
    });
    assert!(r.apply_feed("notify.app", "n", &[like], &[]).await.unwrap());
    for i in 0..12 {
        let actor = mediamill_core::app_model::Actor { id: format!("a{i:02}"), name: None };
        let op = FeedOp::Actor {
            notification_id: "like:w".into(),
            actor,
            present: i != 3,
            at: now + i,
            event_id: format!("e{i}"),
        };
        assert!(r.apply_feed("notify.app", &format!("e{i}"), &[op], &[]).await.unwrap());
    }
    let feed = r.feed(&t, "owner", None, 10).await.unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].actor_count, 11, "every present actor counts");
    assert_eq!(feed[0].actors.len(), 10, "the first ten are named");
    assert_eq!(feed[0].actors[0].id, "a11", "newest first");
}

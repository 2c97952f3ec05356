//! The app's feed part of the repository: a like window's place in the feed follows its actors, whatever the
//! releaser made of it, and a like that arrives after its window was released empty reopens it to be sent.

use std::sync::Arc;

use mediamill_core::app_model::{Actor, Kind};
use mediamill_core::model::TenantId;
use mediamill_core::repo::{self, DueNotification, FeedOp, NewNotification, Release, Repo};

const CONSUMER: &str = "conformance-feed";

fn window(tenant: &TenantId, id: &str, now: i64) -> FeedOp {
    FeedOp::Notify(NewNotification {
        id: id.into(),
        tenant_id: tenant.clone(),
        user_id: "owner".into(),
        kind: Kind::Like,
        subject: "m1".into(),
        data: serde_json::json!({}),
        visible_at: Some(now - 60_000),
        // The window has closed: due at once.
        send_at: now - 1_000,
    })
}

fn actor(id: &str, who: &str, present: bool, at: i64, event: &str) -> FeedOp {
    let actor = Actor { id: who.into(), name: Some(who.to_uppercase()) };
    FeedOp::Actor { notification_id: id.into(), actor, present, at, event_id: event.into() }
}

async fn apply(r: &Arc<dyn Repo>, event: &str, ops: &[FeedOp]) {
    assert!(r.apply_feed(CONSUMER, event, ops, &[]).await.unwrap(), "{event} applied once");
}

async fn claimed(r: &Arc<dyn Repo>, id: &str) -> Option<DueNotification> {
    let due = r.claim_notifications(repo::now_ms(), 30_000, 1000).await.unwrap();
    due.into_iter().find(|n| n.id == id)
}

pub async fn feed_suite(r: &Arc<dyn Repo>) {
    let t = r.ensure_tenant("feed").await.unwrap();
    let unread = async || r.unread_count(&t.id, "owner").await.unwrap();
    let now = repo::now_ms();
    let id = format!("like:{}:owner:m1:1", t.id);

    // Liked, then taken back inside the window: out of the feed, and the releaser finds it empty.
    apply(r, "e1", &[window(&t.id, &id, now), actor(&id, "a", true, now - 50_000, "e1")]).await;
    assert_eq!(unread().await, 1);
    apply(r, "e2", &[actor(&id, "a", false, now - 40_000, "e2")]).await;
    assert_eq!(unread().await, 0);
    let due = claimed(r, &id).await.expect("the closed window is due");
    assert!(due.actors.is_empty(), "{due:?}");
    r.release_notification(&id, &Release::Cancelled, &[]).await.unwrap();
    assert!(claimed(r, &id).await.is_none(), "cancelled, not due again");

    // A like from inside that window, handled after it was released: in the feed, and due again to be sent.
    apply(r, "e3", &[window(&t.id, &id, now), actor(&id, "b", true, now - 30_000, "e3")]).await;
    assert_eq!(unread().await, 1, "the late like is in the feed");
    let feed = r.feed(&t.id, "owner", None, 10).await.unwrap();
    assert_eq!(feed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    let due = claimed(r, &id).await.expect("the reopened window is due");
    assert_eq!(due.actors.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["b"]);

    // The releaser decided on what it read at its claim; a like that came in since stays in the feed even
    // when the releaser's cancellation lands after it.
    apply(r, "e4", &[window(&t.id, &id, now), actor(&id, "c", true, now - 20_000, "e4")]).await;
    r.release_notification(&id, &Release::Cancelled, &[]).await.unwrap();
    assert_eq!(unread().await, 1, "the feed follows the actors, not the releaser's late decision");

    // Released with deliveries, a window stays sent: a later like joins the feed item, not a second send.
    apply(r, "e5", &[window(&t.id, &id, now), actor(&id, "d", true, now - 10_000, "e5")]).await;
    assert!(claimed(r, &id).await.is_some(), "reopened by the like after the cancellation");
    r.release_notification(&id, &Release::Sent(vec![]), &[]).await.unwrap();
    apply(r, "e6", &[window(&t.id, &id, now), actor(&id, "e", true, now - 5_000, "e6")]).await;
    assert!(claimed(r, &id).await.is_none(), "a sent window is not sent again");
    assert_eq!(unread().await, 1);

    // Other kinds keep their cancellation: a comment deleted before its event was handled never shows.
    let comment = format!("comment:{}:k1", t.id);
    apply(r, "e7", &[FeedOp::Cancel { notification_id: comment.clone() }]).await;
    let made = NewNotification {
        id: comment.clone(),
        tenant_id: t.id.clone(),
        user_id: "owner".into(),
        kind: Kind::Comment,
        subject: "m1".into(),
        data: serde_json::json!({"text": "hi", "comment_id": "k1"}),
        visible_at: Some(now - 1_000),
        send_at: now - 1_000,
    };
    apply(r, "e8", &[FeedOp::Notify(made), actor(&comment, "a", true, now - 1_000, "e8")]).await;
    assert_eq!(unread().await, 1, "the deleted comment stays out");
    assert!(claimed(r, &comment).await.is_none(), "and is not sent");
    assert!(!r.apply_feed(CONSUMER, "e3", &[], &[]).await.unwrap(), "a redelivered event changes nothing");
}

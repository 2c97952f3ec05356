//! The notification part of the repository: endpoints (secret rotation, disabling, deleting, per tenant),
//! deliveries (one per target and event, leased to one notifier at a time, moved on by each attempt with its
//! log, replayed on request).

use std::sync::Arc;

use mediamill_core::model::TenantId;
use mediamill_core::notify_model::{Attempt, Channel, Delivery, DeliveryStatus, EmailRecipient, Endpoint};
use mediamill_core::repo::{self, AfterAttempt, Repo};

fn endpoint(tenant: &TenantId) -> Endpoint {
    Endpoint {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.clone(),
        url: "https://hooks.example.com/in".into(),
        secret: "whsec_one".into(),
        event_types: vec!["mediamill.media.*".into()],
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        created_at: 1,
        previous_secret: None,
        previous_secret_until: None,
    }
}

fn delivery(e: &Endpoint, event_id: &str) -> Delivery {
    Delivery {
        channel: Channel::Webhook,
        secret: Some(e.secret.clone()),
        ..pending(&e.tenant_id, &e.id, &e.url, event_id)
    }
}

/// A pending email delivery of `event_id` to `target` (`target_id` names it), due at once.
pub fn pending(tenant: &TenantId, target_id: &str, target: &str, event_id: &str) -> Delivery {
    Delivery {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.clone(),
        channel: Channel::Email,
        target_id: target_id.into(),
        target: target.into(),
        secret: None,
        event_id: event_id.into(),
        event_type: "mediamill.media.processed.v1".into(),
        payload: r#"{"ok":true}"#.into(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: 0,
        last_status: None,
        last_error: None,
        created_at: 1,
        delivered_at: None,
        traceparent: None,
    }
}

/// Claims what is due now and keeps only `target`'s deliveries (other suites' rows share the tables).
async fn due_for(r: &Arc<dyn Repo>, target: &str) -> Vec<Delivery> {
    let all = r.claim_due(repo::now_ms(), 60_000, 1000).await.unwrap();
    all.into_iter().filter(|d| d.target_id == target).collect()
}

pub async fn notify_suite(r: &Arc<dyn Repo>) {
    let t = r.ensure_tenant("notify").await.unwrap();
    let other = r.ensure_tenant("notify-other").await.unwrap();

    // Endpoints belong to their tenant.
    let e = endpoint(&t.id);
    r.create_endpoint(&e).await.unwrap();
    assert_eq!(r.list_endpoints(&t.id).await.unwrap(), vec![e.clone()]);
    assert!(r.list_endpoints(&other.id).await.unwrap().is_empty());
    assert!(r.get_endpoint(&other.id, &e.id).await.unwrap().is_none(), "another tenant's endpoint");

    // A rotated secret keeps the old one signing beside it until the overlap ends.
    let now = repo::now_ms();
    let rotated = r.rotate_endpoint_secret(&t.id, &e.id, "whsec_two", now + 60_000).await.unwrap().unwrap();
    assert_eq!(rotated.secret, "whsec_two");
    assert_eq!(rotated.previous_secret.as_deref(), Some("whsec_one"));
    assert_eq!(rotated.signing_secrets(now), "whsec_two whsec_one");
    assert_eq!(rotated.signing_secrets(now + 120_000), "whsec_two");
    assert!(r.rotate_endpoint_secret(&other.id, &e.id, "x", now).await.unwrap().is_none());

    // One delivery per target and event, however often the fan-out is redelivered.
    let d = delivery(&e, "event-1");
    r.insert_deliveries(std::slice::from_ref(&d)).await.unwrap();
    r.insert_deliveries(&[Delivery { id: uuid::Uuid::now_v7().to_string(), ..d.clone() }]).await.unwrap();
    assert_eq!(r.list_deliveries(&e.id, None, 10).await.unwrap().len(), 1, "a redelivered event is one delivery");

    // A due delivery is leased to one notifier: a second claim inside the lease gets nothing.
    let claimed = due_for(r, &e.id).await;
    assert_eq!(claimed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [d.id.as_str()]);
    assert!(due_for(r, &e.id).await.is_empty(), "claimed twice inside its lease");

    // A failed attempt schedules the next and starts the endpoint's failure streak; success ends both.
    let failed = Attempt { status_code: Some(503), error: Some("unavailable".into()), duration_ms: 12 };
    r.record_attempt(&claimed[0], &failed, AfterAttempt::RetryAt(now + 3_600_000)).await.unwrap();
    let after = &r.list_deliveries(&e.id, None, 10).await.unwrap()[0];
    assert_eq!((after.status, after.attempts, after.last_status), (DeliveryStatus::Pending, 1, Some(503)));
    assert_eq!(after.next_attempt_at, now + 3_600_000);
    assert!(r.get_endpoint(&t.id, &e.id).await.unwrap().unwrap().failing_since.is_some());
    assert!(due_for(r, &e.id).await.is_empty(), "not due before its retry time");
    let ok = Attempt { status_code: Some(200), error: None, duration_ms: 5 };
    r.record_attempt(after, &ok, AfterAttempt::Delivered).await.unwrap();
    let done = &r.list_deliveries(&e.id, None, 10).await.unwrap()[0];
    assert_eq!((done.status, done.attempts), (DeliveryStatus::Delivered, 2));
    assert!(done.delivered_at.is_some());
    assert!(r.get_endpoint(&t.id, &e.id).await.unwrap().unwrap().failing_since.is_none());
    let log = r.delivery_attempts(&d.id).await.unwrap();
    assert_eq!(log.iter().map(|a| (a.attempt, a.status_code)).collect::<Vec<_>>(), [(1, Some(503)), (2, Some(200))]);
    assert_eq!(log[0].error.as_deref(), Some("unavailable"));

    // A replay sends the same delivery (same event id) again; only its own target's.
    assert!(!r.replay_delivery("another-target", &d.id).await.unwrap());
    assert!(r.replay_delivery(&e.id, &d.id).await.unwrap());
    let again = due_for(r, &e.id).await;
    assert_eq!(again.iter().map(|c| c.event_id.as_str()).collect::<Vec<_>>(), ["event-1"]);

    // Newest first, paged.
    for i in 2..5 {
        r.insert_deliveries(&[delivery(&e, &format!("event-{i}"))]).await.unwrap();
    }
    let page = r.list_deliveries(&e.id, None, 2).await.unwrap();
    assert_eq!(page.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(), ["event-4", "event-3"]);
    let rest = r.list_deliveries(&e.id, Some(&page[1].id), 10).await.unwrap();
    assert_eq!(rest.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(), ["event-2", "event-1"]);

    // Disabling kills what was pending, with the reason; deleting hides the endpoint.
    r.disable_endpoint(&e.id, "failing for 3 days").await.unwrap();
    let disabled = r.get_endpoint(&t.id, &e.id).await.unwrap().unwrap();
    assert!(!disabled.enabled);
    assert_eq!(disabled.disabled_reason.as_deref(), Some("failing for 3 days"));
    let dead = r.list_deliveries(&e.id, None, 10).await.unwrap();
    assert!(dead.iter().filter(|d| d.event_id != "event-1").all(|d| d.status == DeliveryStatus::Dead), "{dead:?}");
    assert!(due_for(r, &e.id).await.is_empty());
    assert!(!r.delete_endpoint(&other.id, &e.id).await.unwrap(), "not another tenant's");
    assert!(r.delete_endpoint(&t.id, &e.id).await.unwrap());
    assert!(r.get_endpoint(&t.id, &e.id).await.unwrap().is_none());
    assert!(r.list_endpoints(&t.id).await.unwrap().is_empty());

    live_targets(r).await;
}

fn recipient(tenant: &TenantId, address: &str) -> EmailRecipient {
    let id = uuid::Uuid::now_v7().to_string();
    EmailRecipient {
        id,
        tenant_id: tenant.clone(),
        address: address.into(),
        event_types: vec![],
        created_at: 1,
        confirmed_at: None,
    }
}

/// What the notifier fans an event out to: the enabled endpoints (secrets and rotation intact) and the confirmed
/// recipients of the event's tenant, nothing disabled, deleted, unconfirmed or another tenant's.
async fn live_targets(r: &Arc<dyn Repo>) {
    let t = r.ensure_tenant("notify-targets").await.unwrap();
    let other = r.ensure_tenant("notify-targets-other").await.unwrap();
    assert_eq!(r.live_targets(&t.id).await.unwrap(), Default::default(), "a tenant with no targets");

    let [live, disabled, deleted] = [endpoint(&t.id), endpoint(&t.id), endpoint(&t.id)];
    for e in [&live, &disabled, &deleted, &endpoint(&other.id)] {
        r.create_endpoint(e).await.unwrap();
    }
    let now = repo::now_ms();
    let live = r.rotate_endpoint_secret(&t.id, &live.id, "whsec_new", now + 60_000).await.unwrap().unwrap();
    r.disable_endpoint(&disabled.id, "failing").await.unwrap();
    r.delete_endpoint(&t.id, &deleted.id).await.unwrap();

    let (confirmed, unconfirmed) = (recipient(&t.id, "a@example.com"), recipient(&t.id, "b@example.com"));
    for (rc, hash) in [(&confirmed, "hash-a"), (&unconfirmed, "hash-b"), (&recipient(&other.id, "c@example.com"), "c")]
    {
        let confirmation = Delivery {
            event_id: format!("confirm:{}", rc.id),
            ..pending(&rc.tenant_id, &rc.id, &rc.address, &uuid::Uuid::now_v7().to_string())
        };
        r.create_recipient(rc, hash, &confirmation).await.unwrap();
    }
    let confirmed = r.confirm_recipient(&confirmed.id, "hash-a").await.unwrap().unwrap();

    let targets = r.live_targets(&t.id).await.unwrap();
    assert_eq!(targets.endpoints, vec![live.clone()], "only the enabled endpoint, as stored");
    assert_eq!(targets.endpoints[0].signing_secrets(now), "whsec_new whsec_one");
    assert_eq!(targets.recipients, vec![confirmed], "only the confirmed recipient");
}

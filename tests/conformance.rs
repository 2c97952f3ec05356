//! One conformance suite over the `Repo` and `Store` traits, run against every backend: SQLite and
//! PostgreSQL, the local directory and S3 (SeaweedFS). The real servers come from `scripts/test.sh`.

#[path = "conformance/batches.rs"]
mod batches;
#[path = "conformance/feed.rs"]
mod feed;
mod harness;
#[path = "conformance/notify.rs"]
mod notify;

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use mediamill_core::event::{Envelope, MEDIA_UPLOADED};
use mediamill_core::model::{KeyScope, Media, MediaId, MediaKind, MediaStatus, TenantId, Variant};
use mediamill_core::repo::{self, Completion, Inserted, MediaQuery, OutboxEvent, Repo};
use mediamill_core::store::{ByteRange, LocalStore, S3Store, Store, StoreError};
use sqlx::Connection;

fn media(tenant: &TenantId, idem: Option<&str>) -> Media {
    let id = MediaId::generate();
    Media {
        raw_key: format!("raw/{tenant}/{id}"),
        id,
        tenant_id: tenant.clone(),
        kind: MediaKind::Image,
        status: MediaStatus::Uploaded,
        content_type: "image/png".into(),
        filename: Some("a.png".into()),
        size: 10,
        sha256: "00".into(),
        width: None,
        height: None,
        metadata: None,
        failure_reason: None,
        failure_message: None,
        batch_id: None,
        idempotency_key: idem.map(String::from),
        created_at: 1,
        updated_at: 1,
    }
}

fn event(m: &Media) -> OutboxEvent {
    OutboxEvent {
        topic: "media.events".into(),
        key: m.id.to_string(),
        envelope: Envelope::new(MEDIA_UPLOADED, Some(m.id.to_string()), &1),
    }
}

async fn repo_suite(r: Arc<dyn Repo>) {
    r.ping().await.unwrap();
    let t1 = r.ensure_tenant("one").await.unwrap();
    assert_eq!(r.ensure_tenant("one").await.unwrap(), t1, "ensure_tenant is idempotent");
    let t2 = r.ensure_tenant("two").await.unwrap();
    assert_eq!(r.tenant_keeps_gps(&t1.id).await.unwrap(), Some(false), "GPS coordinates are off by default");
    assert!(r.set_tenant_keeps_gps("one", true).await.unwrap());
    assert_eq!(r.tenant_keeps_gps(&t1.id).await.unwrap(), Some(true));
    assert_eq!(r.tenant_keeps_gps(&t2.id).await.unwrap(), Some(false), "per tenant");
    assert!(!r.set_tenant_keeps_gps("nobody", true).await.unwrap());
    assert_eq!(r.tenant_keeps_gps(&"no-such-id".into()).await.unwrap(), None);

    // Keys: found by hash with their tenant, scope and state; revoked ones are found too (refused by the caller).
    let none = |_: &mediamill_core::model::ApiKey| vec![];
    let new = repo::NewKey {
        tenant_id: &t1.id,
        key_hash: "hash-1",
        prefix: "mm_abc",
        scope: KeyScope::Upload,
        expires_at: Some(5),
    };
    let k = r.create_key(&new, &none).await.unwrap();
    let (t, found) = r.key_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!((t, found.scope, found.expires_at, found.revoked_at), (t1.clone(), KeyScope::Upload, Some(5), None));
    assert!(found.expired(6) && !found.expired(4));
    assert!(r.key_by_hash("nope").await.unwrap().is_none());
    assert_eq!(r.list_keys(&t1.id).await.unwrap().len(), 1);
    r.touch_key(&k.id, 1234).await.unwrap();
    assert_eq!(r.list_keys(&t1.id).await.unwrap()[0].last_used_at, Some(1234));
    assert!(r.revoke_key(&k.id, &none).await.unwrap().is_some());
    assert!(r.revoke_key(&k.id, &none).await.unwrap().is_none(), "revoking twice says so");
    assert!(r.key_by_hash("hash-1").await.unwrap().unwrap().1.revoked_at.is_some());

    // Insert with an idempotency key: the second insert returns the first item.
    let a = media(&t1.id, Some("idem"));
    assert!(matches!(r.insert_media(&a, &[event(&a)]).await.unwrap(), Inserted::Created(_)));
    let dup = media(&t1.id, Some("idem"));
    match r.insert_media(&dup, &[event(&dup)]).await.unwrap() {
        Inserted::Existing(m) => assert_eq!(m.id, a.id),
        other => panic!("{other:?}"),
    }
    let other_tenant = media(&t2.id, Some("idem"));
    assert!(matches!(r.insert_media(&other_tenant, &[]).await.unwrap(), Inserted::Created(_)), "keys are per tenant");
    let b = media(&t1.id, None);
    r.insert_media(&b, &[event(&b)]).await.unwrap();

    // Tenancy.
    assert!(r.get_media(&t2.id, &a.id).await.unwrap().is_none());
    assert_eq!(r.get_media(&t1.id, &a.id).await.unwrap().unwrap().filename.as_deref(), Some("a.png"));

    // Guarded transitions.
    assert!(r.start_processing(&a.id, &[event(&a)]).await.unwrap());
    assert!(!r.start_processing(&a.id, &[event(&a)]).await.unwrap(), "only from uploaded");
    let done = Completion {
        width: Some(4),
        height: Some(3),
        metadata: serde_json::json!({"format": "png"}),
        variants: vec![Variant {
            name: "thumb".into(),
            format: "jpeg".into(),
            key: "k".into(),
            content_type: "image/jpeg".into(),
            width: 4,
            height: 3,
            size: 9,
            url: None,
        }],
    };
    // Several variants go in as one statement; a (name, format) given twice keeps the last one given.
    let variant = |name: &str, key: &str, width: u32| Variant {
        name: name.into(),
        format: "webp".into(),
        key: key.into(),
        content_type: "image/webp".into(),
        width,
        height: 3,
        size: 7,
        url: None,
    };
    let mut given = done.clone();
    given.variants.extend([variant("large", "first", 8), variant("medium", "m", 6), variant("large", "last", 8)]);
    assert!(r.complete(&a.id, &given, &[event(&a)]).await.unwrap());
    let expected = vec![done.variants[0].clone(), variant("medium", "m", 6), variant("large", "last", 8)];
    assert_eq!(r.variants(&a.id).await.unwrap(), expected, "ordered by width; the last large.webp kept");
    assert!(!r.complete(&a.id, &done, &[event(&a)]).await.unwrap(), "a redelivered job changes nothing");
    assert!(!r.fail(&a.id, "corrupt", "x", &[event(&a)]).await.unwrap(), "terminal stays terminal");
    let got = r.get_media(&t1.id, &a.id).await.unwrap().unwrap();
    assert_eq!((got.status, got.width, got.height), (MediaStatus::Processed, Some(4), Some(3)));
    assert_eq!(got.metadata, Some(serde_json::json!({"format": "png"})));
    assert_eq!(r.variants(&a.id).await.unwrap(), expected);
    assert!(r.fail(&b.id, "corrupt", "the file is corrupt", &[event(&b)]).await.unwrap());
    let got = r.get_media(&t1.id, &b.id).await.unwrap().unwrap();
    assert_eq!(got.failure_reason.as_deref(), Some("corrupt"));

    // Listing: filter and pages.
    let all = r.list_media(&t1.id, &MediaQuery { status: None, after: None, limit: 10 }).await.unwrap();
    assert_eq!(all.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), vec![a.id.clone(), b.id.clone()]);
    let failed =
        r.list_media(&t1.id, &MediaQuery { status: Some(MediaStatus::Failed), after: None, limit: 10 }).await.unwrap();
    assert_eq!(failed.len(), 1);
    let page2 = r.list_media(&t1.id, &MediaQuery { status: None, after: Some(a.id.clone()), limit: 1 }).await.unwrap();
    assert_eq!(page2[0].id, b.id);

    // Outbox: only events of changes that happened, in order; marking sent removes them.
    let pending = r.pending_events(100).await.unwrap();
    assert_eq!(pending.len(), 5, "a: insert, processing, processed; b: insert, failed");
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(pending[0].event.envelope.subject.as_deref(), Some(a.id.as_str()));
    r.mark_sent(&pending.iter().take(3).map(|p| p.seq).collect::<Vec<_>>()).await.unwrap();
    assert_eq!(r.pending_events(100).await.unwrap().len(), 2);
    r.append_events(&[event(&a)]).await.unwrap();
    assert_eq!(r.pending_events(100).await.unwrap().len(), 3);
    assert!(r.try_relay_lock().await.unwrap().is_some());

    // Unfinished work, then delete.
    let c = media(&t1.id, None);
    r.insert_media(&c, &[]).await.unwrap();
    let unfinished: Vec<MediaId> = r.unfinished_media(None, 100).await.unwrap().into_iter().map(|m| m.id).collect();
    assert!(unfinished.contains(&c.id) && !unfinished.contains(&a.id));
    assert!(r.delete_media(&t2.id, &a.id, &[]).await.unwrap().is_none(), "not another tenant's");
    let del = r.delete_media(&t1.id, &a.id, &[event(&a)]).await.unwrap().unwrap();
    assert_eq!(del.status, MediaStatus::Deleted);
    assert!(r.variants(&a.id).await.unwrap().is_empty());

    // Tenants are found, not created, by lookups; batches list per tenant.
    assert!(r.find_tenant("nobody").await.unwrap().is_none());
    assert!(!r.list_tenants().await.unwrap().iter().any(|t| t.name == "nobody"), "a lookup created a tenant");
    assert_eq!(r.find_tenant("one").await.unwrap(), Some(t1.clone()));

    // A deleted email recipient gets nothing more, not even what was queued for it.
    use mediamill_core::notify_model::{Delivery, EmailRecipient};
    let rcpt = EmailRecipient {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: t1.id.clone(),
        address: "ops@example.com".into(),
        event_types: vec!["*".into()],
        created_at: 1,
        confirmed_at: None,
    };
    let queued = notify::pending(&t1.id, &rcpt.id, &rcpt.address, &uuid::Uuid::now_v7().to_string());
    let confirmation =
        Delivery { id: uuid::Uuid::now_v7().to_string(), event_id: format!("confirm:{}", rcpt.id), ..queued.clone() };
    r.create_recipient(&rcpt, "token-hash", &confirmation).await.unwrap();
    assert_eq!(
        r.list_recipients(&t1.id).await.unwrap()[0].confirmed_at,
        None,
        "unconfirmed until the link is followed"
    );
    assert!(r.confirm_recipient(&rcpt.id, "wrong").await.unwrap().is_none());
    let confirmed = r.confirm_recipient(&rcpt.id, "token-hash").await.unwrap().expect("the right token confirms");
    assert!(confirmed.confirmed_at.is_some());
    assert!(r.confirm_recipient(&rcpt.id, "token-hash").await.unwrap().is_none(), "a link works once");
    r.insert_deliveries(&[queued]).await.unwrap();
    assert!(r.delete_recipient(&t1.id, &rcpt.id).await.unwrap());
    let due = r.claim_due(repo::now_ms(), 10_000, 100).await.unwrap();
    assert!(!due.iter().any(|d| d.target_id == rcpt.id), "a deleted recipient's delivery was still due");

    // Key events are written with their change; an expiry is announced once.
    use mediamill_core::outbox::key_event;
    let before = r.pending_events(10_000).await.unwrap().len();
    let new = repo::NewKey {
        tenant_id: &t2.id,
        key_hash: "hash-2",
        prefix: "mm_def",
        scope: KeyScope::Admin,
        expires_at: Some(1),
    };
    let k2 = r.create_key(&new, &|k| vec![key_event(k, mediamill_core::event::KEY_CREATED, None)]).await.unwrap();
    let expired = |k: &mediamill_core::model::ApiKey| vec![key_event(k, mediamill_core::event::KEY_EXPIRED, None)];
    assert!(r.report_expiry(&k2, &expired).await.unwrap());
    assert!(!r.report_expiry(&k2, &expired).await.unwrap(), "announced once");
    r.revoke_key(&k2.id, &|k| vec![key_event(k, mediamill_core::event::KEY_REVOKED, None)]).await.unwrap();
    let events = r.pending_events(10_000).await.unwrap();
    let types: Vec<&str> = events[before..].iter().map(|e| e.event.envelope.ty.as_str()).collect();
    assert_eq!(
        types,
        ["mediamill.auth.key.created.v1", "mediamill.auth.key.expired.v1", "mediamill.auth.key.revoked.v1"]
    );
    assert!(events[before..].iter().all(|e| e.event.topic == "auth.events" && e.event.key == k2.id));
    batches::batch_suite(&r).await;
    notify::notify_suite(&r).await;
    feed::feed_suite(&r).await;
}

async fn store_suite(s: Arc<dyn Store>) {
    let prefix = format!("t/{}", uuid::Uuid::new_v4().simple());
    // Small put/get with content type.
    s.put(&format!("{prefix}/a.jpg"), "image/jpeg", Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(s.get(&format!("{prefix}/a.jpg")).await.unwrap(), Bytes::from_static(b"hello"));
    let o = s.open(&format!("{prefix}/a.jpg"), None).await.unwrap();
    assert_eq!((o.content_type.as_str(), o.total_size), ("image/jpeg", 5));

    // A parted write (resumable uploads): parts from ranges of a file, joined in order; nothing visible before.
    let file = std::env::temp_dir().join(format!("parts-{}", uuid::Uuid::new_v4().simple()));
    let data: Vec<u8> = (0..(5 << 20) + 3000).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let key = format!("{prefix}/parted");
    let h = s.start_parts(&key, "image/jpeg").await.unwrap();
    let part = |number| mediamill_core::store::Part { key: &key, handle: &h, number };
    let first = s.put_part(&part(1), &file, 0, 5 << 20).await.unwrap();
    assert!(matches!(s.get(&key).await, Err(StoreError::NotFound(_))), "nothing visible before the join");
    let second = s.put_part(&part(2), &file, 5 << 20, 3000).await.unwrap();
    s.finish_parts(&key, &h, "image/jpeg", &[(1, first), (2, second)]).await.unwrap();
    assert_eq!(s.get(&key).await.unwrap(), Bytes::from(data.clone()));
    assert_eq!(s.open(&key, None).await.unwrap().content_type, "image/jpeg");
    // An aborted one leaves nothing, and its handle takes no more parts.
    let key2 = format!("{prefix}/parted-aborted");
    let h2 = s.start_parts(&key2, "image/jpeg").await.unwrap();
    let part2 = mediamill_core::store::Part { key: &key2, handle: &h2, number: 1 };
    s.put_part(&part2, &file, 0, 5 << 20).await.unwrap();
    s.abort_parts(&key2, &h2).await.unwrap();
    s.abort_parts(&key2, &h2).await.unwrap();
    assert!(s.put_part(&part2, &file, 0, 10).await.is_err(), "an aborted write takes no part");
    assert!(matches!(s.get(&key2).await, Err(StoreError::NotFound(_))));
    // A part longer than the file is an error, not a short part.
    let h3 = s.start_parts(&key2, "image/jpeg").await.unwrap();
    let part3 = mediamill_core::store::Part { key: &key2, handle: &h3, number: 1 };
    assert!(s.put_part(&part3, &file, (5 << 20) + 2000, 5000).await.is_err(), "a part past the file's end");
    s.abort_parts(&key2, &h3).await.unwrap();

    // Streamed parts (a tus request carrying whole parts): taken from a queue as they arrive, exactly their
    // length or nothing; they join with parts sent from a file.
    let key3 = format!("{prefix}/parted-streamed");
    let h4 = s.start_parts(&key3, "image/jpeg").await.unwrap();
    let part4 = |number| mediamill_core::store::Part { key: &key3, handle: &h4, number };
    let stream_part = |bytes: Vec<u8>, chunk: usize| {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for c in bytes.chunks(chunk) {
                if tx.send(Bytes::copy_from_slice(c)).await.is_err() {
                    return;
                }
            }
        });
        rx
    };
    let short = s.put_part_streamed(&part4(1), 5 << 20, stream_part(data[..(4 << 20)].to_vec(), 70_001)).await;
    assert!(short.is_err(), "a queue that closes short of the part's length fails the part");
    let first = s.put_part_streamed(&part4(1), 5 << 20, stream_part(data[..(5 << 20)].to_vec(), 70_001)).await.unwrap();
    let second = s.put_part(&part4(2), &file, 5 << 20, 3000).await.unwrap();
    s.finish_parts(&key3, &h4, "image/jpeg", &[(1, first), (2, second)]).await.unwrap();
    assert_eq!(s.get(&key3).await.unwrap(), Bytes::from(data.clone()), "streamed and filed parts join in order");
    let _ = std::fs::remove_file(&file);

    // A streamed write larger than one multipart part.
    let mut w = s.writer(&format!("{prefix}/big"), "video/mp4").await.unwrap();
    let chunk = Bytes::from(vec![7u8; 1 << 20]);
    for i in 0..10u8 {
        let mut c = chunk.to_vec();
        c[0] = i;
        w.write(Bytes::from(c)).await.unwrap();
    }
    assert_eq!(w.finish().await.unwrap(), 10 << 20);
    let o = s.open(&format!("{prefix}/big"), Some(ByteRange::FromTo(3 << 20, (3 << 20) + 9))).await.unwrap();
    assert_eq!(o.range, Some((3 << 20, (3 << 20) + 9)));
    assert_eq!(o.total_size, 10 << 20);
    let body: Vec<Bytes> = o.body.map(|b| b.unwrap()).collect().await;
    assert_eq!(body.concat(), [3u8, 7, 7, 7, 7, 7, 7, 7, 7, 7]);
    assert!(matches!(
        s.open(&format!("{prefix}/a.jpg"), Some(ByteRange::From(99))).await,
        Err(StoreError::RangeNotSatisfiable { .. })
    ));

    // An aborted write leaves nothing under its key.
    let mut w = s.writer(&format!("{prefix}/aborted"), "image/png").await.unwrap();
    w.write(Bytes::from(vec![1u8; 9 << 20])).await.unwrap();
    w.abort().await;
    assert!(matches!(s.get(&format!("{prefix}/aborted")).await, Err(StoreError::NotFound(_))));

    // A write dropped mid-way (the client went away, the request's future was dropped) leaves no temporary
    // file and no unfinished multipart upload behind.
    let before = s.incomplete_writes(&prefix).await.unwrap();
    let mut w = s.writer(&format!("{prefix}/dropped"), "video/mp4").await.unwrap();
    w.write(Bytes::from(vec![2u8; 9 << 20])).await.unwrap();
    assert_eq!(s.incomplete_writes(&prefix).await.unwrap(), before + 1, "the write is under way");
    drop(w);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.incomplete_writes(&prefix).await.unwrap() > before {
        assert!(std::time::Instant::now() < deadline, "a dropped write left its parts behind");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(matches!(s.get(&format!("{prefix}/dropped")).await, Err(StoreError::NotFound(_))));
    // One killed mid-write is swept once it is old enough.
    let w = s.writer(&format!("{prefix}/killed"), "video/mp4").await.unwrap();
    let mut w = std::mem::ManuallyDrop::new(w); // as if the process died: no cleanup runs
    w.write(Bytes::from(vec![3u8; 9 << 20])).await.unwrap();
    assert_eq!(
        s.sweep_incomplete(std::time::Duration::from_secs(3600)).await.unwrap(),
        0,
        "young writes are left alone"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(s.sweep_incomplete(std::time::Duration::from_secs(1)).await.unwrap() >= 1);
    assert_eq!(s.incomplete_writes(&prefix).await.unwrap(), before);

    // Writes of a declared size (uploads with a Content-Length: one request on S3 above a part): exactly that
    // many bytes make the object; fewer, more, an abort after the last byte or a drop mid-way store nothing.
    let sized = format!("{prefix}-sized");
    for size in [3u64 << 20, 10 << 20] {
        let key = format!("{sized}/exact-{size}");
        let mut w = s.writer_sized(&key, "video/mp4", size).await.unwrap();
        for i in 0..size >> 20 {
            w.write(Bytes::from(vec![i as u8; 1 << 20])).await.unwrap();
        }
        assert_eq!(w.finish().await.unwrap(), size);
        let o = s.open(&key, Some(ByteRange::FromTo(size - 2, size - 1))).await.unwrap();
        assert_eq!((o.content_type.as_str(), o.total_size), ("video/mp4", size));
        let tail: Vec<Bytes> = o.body.map(|b| b.unwrap()).collect().await;
        assert_eq!(tail.concat(), [((size >> 20) - 1) as u8; 2]);

        let short = format!("{sized}/short-{size}");
        let mut w = s.writer_sized(&short, "video/mp4", size + 5).await.unwrap();
        for _ in 0..size >> 20 {
            w.write(Bytes::from(vec![1u8; 1 << 20])).await.unwrap();
        }
        assert!(w.finish().await.is_err(), "{size}: a write ending short of its size fails");
        assert!(matches!(s.get(&short).await, Err(StoreError::NotFound(_))), "{size}: nothing of a short write");

        let long = format!("{sized}/long-{size}");
        let mut w = s.writer_sized(&long, "video/mp4", size - 1).await.unwrap();
        let mut refused = false;
        for _ in 0..size >> 20 {
            if w.write(Bytes::from(vec![1u8; 1 << 20])).await.is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "{size}: a byte more than declared is refused");
        w.abort().await;
        assert!(matches!(s.get(&long).await, Err(StoreError::NotFound(_))), "{size}: nothing of a long write");

        let aborted = format!("{sized}/aborted-{size}");
        let mut w = s.writer_sized(&aborted, "video/mp4", size).await.unwrap();
        for _ in 0..size >> 20 {
            w.write(Bytes::from(vec![1u8; 1 << 20])).await.unwrap();
        }
        w.abort().await;
        assert!(matches!(s.get(&aborted).await, Err(StoreError::NotFound(_))), "{size}: aborted after the last byte");

        let dropped = format!("{sized}/dropped-{size}");
        let mut w = s.writer_sized(&dropped, "video/mp4", size).await.unwrap();
        w.write(Bytes::from(vec![1u8; 1 << 20])).await.unwrap();
        drop(w);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(matches!(s.get(&dropped).await, Err(StoreError::NotFound(_))), "{size}: dropped mid-way");
    }
    assert_eq!(s.delete_prefix(&format!("{sized}/")).await.unwrap(), 2, "only the two exact writes");

    // Missing objects, hostile keys, deletes.
    assert!(matches!(s.get(&format!("{prefix}/nope")).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.get("../etc/passwd").await, Err(StoreError::InvalidKey(_))));
    s.delete(&format!("{prefix}/nope")).await.unwrap();
    assert_eq!(s.delete_prefix(&format!("{prefix}/")).await.unwrap(), 4, "a.jpg, parted, parted-streamed, big");
    assert!(matches!(s.get(&format!("{prefix}/big")).await, Err(StoreError::NotFound(_))));
    s.check().await.unwrap();
}

#[tokio::test]
async fn sqlite_repository_conforms() {
    let dir = std::env::temp_dir().join(format!("mm-conf-{}", uuid::Uuid::new_v4().simple()));
    let r = repo::open(&format!("sqlite://{}/db.sqlite", dir.display()), 4).await.unwrap();
    repo_suite(r).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The URL of a new, empty database on the test PostgreSQL.
async fn fresh_postgres() -> String {
    let infra = harness::Infra::from_env();
    let db = format!("mm_conf_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&infra.database_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {db}")).execute(&mut admin).await.unwrap();
    format!("{}/{db}", infra.database_url.rsplit_once('/').unwrap().0)
}

#[tokio::test]
async fn postgres_repository_conforms() {
    repo_suite(repo::open(&fresh_postgres().await, 4).await.unwrap()).await;
}

#[tokio::test]
async fn local_store_conforms() {
    let dir = std::env::temp_dir().join(format!("mm-store-{}", uuid::Uuid::new_v4().simple()));
    store_suite(Arc::new(LocalStore::new(&dir).await.unwrap())).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn s3_store_conforms() {
    let infra = harness::Infra::from_env();
    let cfg = mediamill_core::config::S3Config {
        endpoint: infra.s3_endpoint,
        access_key: infra.s3_access_key,
        secret_key: infra.s3_secret_key,
        bucket: format!("conf-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
        ..Default::default()
    };
    store_suite(Arc::new(S3Store::new(&cfg).await.unwrap())).await;
}

#[tokio::test]
async fn the_postgres_relay_hears_outbox_writes_of_other_processes() {
    let url = fresh_postgres().await;
    // Two repositories on one database stand for two processes: the relay's, and an ingest that writes.
    let (relay, writer) = (repo::open(&url, 4).await.unwrap(), repo::open(&url, 4).await.unwrap());
    let mut lock = relay.try_relay_lock().await.unwrap().expect("the first relay gets the lock");
    assert!(writer.try_relay_lock().await.unwrap().is_none(), "one relay at a time");
    let m = media(&"t-notify".into(), None);
    let wait = tokio::spawn(async move {
        lock.written_elsewhere().await;
        lock
    });
    writer.append_events(&[event(&m)]).await.unwrap();
    // Without the notification this never returns (the relay would only poll); the bound keeps a broken
    // build from hanging the run.
    let woke = tokio::time::timeout(std::time::Duration::from_secs(30), wait).await;
    assert!(matches!(woke, Ok(Ok(_))), "the relay was not told of the other process's write");
}

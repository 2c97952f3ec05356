//! Batches: items in every state, moved only forward, counted from their rows, completed once per round with
//! the event the caller builds, in the same transaction; listed per tenant.

use std::sync::Arc;

use mediamill_core::event::BATCH_COMPLETED;
use mediamill_core::model::{Batch, BatchCounts, BatchId, BatchStatus, MediaStatus};
use mediamill_core::outbox::batch_event;
use mediamill_core::repo::{self, Repo};

use super::media;

/// Batches: items in every state, moved only forward, counted from their rows, completed once per round with the
/// event the caller builds, in the same transaction; listed per tenant.
pub async fn batch_suite(r: &Arc<dyn Repo>) {
    let t = r.ensure_tenant("batches").await.unwrap();
    let other = r.ensure_tenant("batches-other").await.unwrap();
    let b = Batch {
        id: BatchId::generate(),
        tenant_id: t.id.clone(),
        name: Some("holiday".into()),
        expected_count: None,
        metadata: Some(serde_json::json!({"album": 7})),
        webhook_url: None,
        webhook_secret: None,
        status: BatchStatus::Open,
        outcome: None,
        round: 1,
        created_at: repo::now_ms(),
        sealed_at: None,
        completed_at: None,
    };
    r.create_batch(&b).await.unwrap();
    let got = r.get_batch(&t.id, &b.id).await.unwrap().expect("the batch");
    assert_eq!((got.metadata.clone(), got.status, got.round), (b.metadata.clone(), BatchStatus::Open, 1));
    assert!(r.get_batch(&other.id, &b.id).await.unwrap().is_none(), "not another tenant's");

    let mut m1 = media(&t.id, None);
    m1.batch_id = Some(b.id.clone());
    let mut m2 = media(&t.id, None);
    m2.batch_id = Some(b.id.clone());
    r.insert_media(&m1, &[]).await.unwrap();
    r.insert_media(&m2, &[]).await.unwrap();
    r.add_refused_item(&b.id, Some("notes.txt"), "unsupported_media_type", "not media").await.unwrap();
    let c = r.batch_counts(&b.id).await.unwrap();
    assert_eq!((c.uploaded, c.processing, c.processed, c.failed), (2, 0, 0, 1));

    // Forward only: a repeated or older state changes nothing.
    assert_eq!(r.advance_item(&m1.id, MediaStatus::Processing, None, None).await.unwrap(), Some(b.id.clone()));
    assert_eq!(r.advance_item(&m1.id, MediaStatus::Processing, None, None).await.unwrap(), None);
    assert_eq!(r.advance_item(&m1.id, MediaStatus::Processed, None, None).await.unwrap(), Some(b.id.clone()));
    assert_eq!(r.advance_item(&m1.id, MediaStatus::Processing, None, None).await.unwrap(), None, "never backwards");
    assert_eq!(
        r.advance_item(&m1.id, MediaStatus::Failed, Some("corrupt"), None).await.unwrap(),
        None,
        "terminal stays"
    );

    let make = |b: &Batch, c: &BatchCounts| vec![batch_event(b, c, BATCH_COMPLETED)];
    assert!(r.complete_batch_if_done(&b.id, &make).await.unwrap().is_none(), "an open batch does not complete");
    assert!(r.seal_batch(&b.id).await.unwrap());
    assert!(!r.seal_batch(&b.id).await.unwrap(), "sealed once");
    assert!(r.complete_batch_if_done(&b.id, &make).await.unwrap().is_none(), "an item is still unfinished");
    assert!(r.advance_item(&m2.id, MediaStatus::Failed, Some("corrupt"), Some("truncated")).await.unwrap().is_some());
    let before = r.pending_events(10_000).await.unwrap().len();
    let (done, counts) = r.complete_batch_if_done(&b.id, &make).await.unwrap().expect("complete now");
    assert_eq!((done.status, done.outcome.as_deref()), (BatchStatus::Completed, Some("completed_with_failures")));
    assert_eq!((counts.processed, counts.failed), (1, 2));
    assert_eq!(r.pending_events(10_000).await.unwrap().len(), before + 1, "the event is written with the completion");
    assert!(r.complete_batch_if_done(&b.id, &make).await.unwrap().is_none(), "completed once per round");

    let items = r.batch_items(&b.id, None, 10).await.unwrap();
    let states: Vec<(MediaStatus, Option<&str>)> = items.iter().map(|i| (i.state, i.reason.as_deref())).collect();
    assert_eq!(
        states,
        [
            (MediaStatus::Processed, None),
            (MediaStatus::Failed, Some("corrupt")),
            (MediaStatus::Failed, Some("unsupported_media_type"))
        ],
        "in upload order, with reasons"
    );
    assert!(r.list_batches(&t.id, None, 10).await.unwrap().iter().any(|x| x.id == b.id));
    assert!(!r.list_batches(&other.id, None, 10).await.unwrap().iter().any(|x| x.id == b.id), "per tenant");
}

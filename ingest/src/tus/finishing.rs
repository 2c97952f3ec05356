//! tus requests that have answered but are still storing. A `PATCH` that is not an upload's last answers once
//! its last byte is here; the rest of storing its bytes (the last part's reply from the store, saving the
//! progress) goes on behind the answer. The client's next request then starts while the store finishes: when
//! the answered request ended at a part's start, the next one on this instance streams its own part to the
//! store at once and saves its progress only after its predecessor's. Two parts are then on their way at a
//! time, where one request at a time kept one: the store takes them side by side.
//!
//! Any other request for the upload on this instance (`HEAD`, `DELETE`, a `PATCH` that cannot follow) waits
//! here until the storing is over, so on this instance an upload is where its last answer said. Should the
//! storing fail, or the process die first, the upload stays where its progress was last saved: the next
//! request gets `409` with that offset (a `HEAD` says it), and the client resends from there, at most the
//! bytes of the requests still storing. Shutting down waits for the storing.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mediamill_core::model::{ResumableUpload, UploadId};
use sha2::Sha256;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// What an answered request leaves for the next one.
#[derive(Clone)]
pub struct Answered {
    /// The upload at the offset the answer gave (content type, store handle); its saved parts may be fewer
    /// than `parts` until the storing is over.
    pub upload: ResumableUpload,
    /// The parts the upload has once the storing is over.
    pub parts: usize,
    /// The digest of the upload's bytes up to the answered offset, when this instance has them all.
    pub digest: Option<Sha256>,
    /// The request ended at a part's start: it leaves no tail, so the next may start before the storing ends.
    pub at_part_start: bool,
}

/// The outcome of storing: the upload as saved, or `None` when storing failed.
pub type Stored = Option<ResumableUpload>;

/// The storing a following request must see end before it saves anything.
pub struct Predecessor(watch::Receiver<Option<Stored>>);

impl Predecessor {
    /// Waits for the storing to end; `None` when it failed (or its task was lost).
    pub async fn stored(&mut self) -> Stored {
        match self.0.wait_for(Option::is_some).await {
            Ok(s) => s.clone().flatten(),
            Err(_) => None,
        }
    }
}

struct Entry {
    answered: Answered,
    /// Already followed by a request: a second may not follow the same one.
    followed: bool,
    done: watch::Receiver<Option<Stored>>,
}

impl Entry {
    fn can_follow(&self, offset: u64) -> bool {
        !self.followed && self.answered.at_part_start && self.answered.upload.progress.offset == offset
    }
}

/// Uploads whose last answered request is still storing, on this instance.
#[derive(Default)]
pub struct Finishing {
    by_upload: Mutex<HashMap<UploadId, Entry>>,
    tasks: TaskTracker,
}

impl Finishing {
    /// Runs `storing` for the request that answered `answered` (behind its answer).
    pub fn start<F>(self: &Arc<Self>, answered: Answered, storing: F)
    where
        F: Future<Output = Stored> + Send + 'static,
    {
        let id = answered.upload.id.clone();
        let (tx, rx) = watch::channel(None);
        let mine = rx.clone();
        if let Ok(mut m) = self.by_upload.lock() {
            m.insert(id.clone(), Entry { answered, followed: false, done: rx });
        }
        let me = self.clone();
        self.tasks.spawn(async move {
            let stored = storing.await;
            if let Ok(mut m) = me.by_upload.lock() {
                // A following request may have answered since and put its own entry: only this one goes.
                if m.get(&id).is_some_and(|e| e.done.same_channel(&mine)) {
                    m.remove(&id);
                }
            }
            let _ = tx.send(Some(stored));
        });
    }

    /// Whether a request at `offset` could follow one answered for `id` (see [`Finishing::follow`]).
    pub fn followable(&self, id: &UploadId, offset: u64) -> bool {
        let Ok(m) = self.by_upload.lock() else { return false };
        m.get(id).is_some_and(|e| e.can_follow(offset))
    }

    /// The request answered at `offset` for `id`, for a request to follow it before its storing is over:
    /// `None` when there is none, it answered another offset, it left a tail, or another request follows it.
    pub fn follow(&self, id: &UploadId, offset: u64) -> Option<(Answered, Predecessor)> {
        let mut m = self.by_upload.lock().ok()?;
        let e = m.get_mut(id)?;
        if !e.can_follow(offset) {
            return None;
        }
        e.followed = true;
        Some((e.answered.clone(), Predecessor(e.done.clone())))
    }

    /// Waits until `id` has nothing storing on this instance (at most `within`).
    pub async fn wait(&self, id: &UploadId, within: Duration) {
        let rx = self.by_upload.lock().ok().and_then(|m| m.get(id).map(|e| e.done.clone()));
        if let Some(rx) = rx {
            let _ = tokio::time::timeout(within, Predecessor(rx).stored()).await;
        }
    }

    /// Stops taking new storing and waits (at most `within`) for what is storing.
    pub async fn drain(&self, within: Duration) {
        self.tasks.close();
        if tokio::time::timeout(within, self.tasks.wait()).await.is_err() {
            tracing::warn!(left = self.tasks.len(), "shutting down with tus requests still storing their bytes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediamill_core::model::UploadProgress;

    fn upload(offset: u64) -> ResumableUpload {
        ResumableUpload {
            id: UploadId::from("up_1"),
            tenant_id: "t1".into(),
            length: 100 << 20,
            metadata: Default::default(),
            filename: None,
            batch_id: None,
            idempotency_key: None,
            media_id: "m1".into(),
            raw_key: "raw/t1/m1".into(),
            expires_at: 0,
            completed_at: None,
            created_at: 0,
            progress: UploadProgress { offset, ..Default::default() },
        }
    }

    fn answered(offset: u64, at_part_start: bool) -> Answered {
        Answered { upload: upload(offset), parts: 1, digest: None, at_part_start }
    }

    #[tokio::test]
    async fn one_request_follows_at_the_answered_offset_and_learns_how_storing_ended() {
        let f = Arc::new(Finishing::default());
        let id = UploadId::from("up_1");
        let (go, stop) = tokio::sync::oneshot::channel::<bool>();
        f.start(answered(8 << 20, true), async move {
            let ok = stop.await.unwrap_or(false);
            ok.then(|| upload(8 << 20))
        });
        assert!(!f.followable(&id, 4 << 20), "another offset than the answer's");
        assert!(f.followable(&id, 8 << 20));
        let (a, mut before) = f.follow(&id, 8 << 20).expect("follows");
        assert_eq!(a.upload.progress.offset, 8 << 20);
        assert!(f.follow(&id, 8 << 20).is_none(), "a second request may not follow the same one");
        go.send(true).unwrap();
        let stored = tokio::time::timeout(Duration::from_secs(5), before.stored()).await.unwrap();
        assert_eq!(stored.map(|u| u.progress.offset), Some(8 << 20));
        f.drain(Duration::from_secs(5)).await;
        assert!(!f.followable(&id, 8 << 20), "stored: nothing left to follow");
    }

    #[tokio::test]
    async fn a_request_that_left_a_tail_is_not_followed_and_a_failure_is_seen() {
        let f = Arc::new(Finishing::default());
        let id = UploadId::from("up_1");
        f.start(answered(9 << 20, false), async { None });
        assert!(f.follow(&id, 9 << 20).is_none(), "its tail must be stored and read back first");
        f.drain(Duration::from_secs(5)).await;

        let f = Arc::new(Finishing::default());
        let (go, stop) = tokio::sync::oneshot::channel::<()>();
        f.start(answered(8 << 20, true), async move {
            let _ = stop.await;
            None
        });
        let (_, mut before) = f.follow(&id, 8 << 20).expect("follows");
        go.send(()).unwrap();
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), before.stored()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_wait_lasts_until_the_storing_is_over_and_drain_waits_for_it() {
        let f = Arc::new(Finishing::default());
        let id = UploadId::from("up_1");
        let (go, stop) = tokio::sync::oneshot::channel::<()>();
        f.start(answered(8 << 20, true), async move {
            let _ = stop.await;
            Some(upload(8 << 20))
        });
        let started = tokio::time::Instant::now();
        f.wait(&id, Duration::from_millis(50)).await;
        assert!(started.elapsed() >= Duration::from_millis(50), "still storing: the wait runs out");
        let waiter = {
            let (f, id) = (f.clone(), id.clone());
            tokio::spawn(async move { f.wait(&id, Duration::from_secs(30)).await })
        };
        go.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
        // Another upload never waits.
        tokio::time::timeout(Duration::from_millis(100), f.wait(&UploadId::from("up_2"), Duration::from_secs(30)))
            .await
            .unwrap();

        let f = Arc::new(Finishing::default());
        let stored = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stored.clone();
        f.start(answered(8 << 20, true), async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.store(true, std::sync::atomic::Ordering::SeqCst);
            None
        });
        f.drain(Duration::from_secs(5)).await;
        assert!(stored.load(std::sync::atomic::Ordering::SeqCst), "drain waited for the storing");
    }
}

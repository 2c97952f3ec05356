//! tus requests that have answered but are still storing. A `PATCH` that is not an upload's last answers once
//! its last byte is here; the rest of storing its bytes (the last part's reply from the store, saving the
//! progress) goes on behind the answer. The client's next request then starts while the store finishes: when
//! the answered request ended at a part's start, the next one on this instance streams its own part to the
//! store at once and saves its progress only after its predecessor's. Parts are then on their way side by
//! side (up to [`MAX_STORING`] storing and the one being received), where one request at a time kept one.
//!
//! Any other request for the upload on this instance (`HEAD`, `DELETE`, a `PATCH` that cannot follow) waits
//! here until the storing is over, so on this instance an upload is where its last answer said. Should the
//! storing fail, or the process die first, the upload stays where its progress was last saved: the next
//! request gets `409` with that offset (a `HEAD` says it), and the client resends from there: at most the
//! bytes of the requests that were still storing. Shutting down waits for the storing.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mediamill_core::model::{ResumableUpload, TenantId, UploadId};
use sha2::Sha256;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
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

/// Requests at most this many of one upload store behind their answers at a time; the one being received
/// makes one more part on its way. The store takes parts faster side by side (docs/benchmarks.md), and the
/// bound keeps the memory of parts in flight small when the client sends faster than the store takes.
pub const MAX_STORING: usize = 3;

/// One request's storing, seen from a later one: `Some` once over.
pub type Done = watch::Receiver<Option<Stored>>;

async fn ended(rx: &mut Done) -> Stored {
    match rx.wait_for(Option::is_some).await {
        Ok(s) => s.clone().flatten(),
        Err(_) => None,
    }
}

/// The storing a following request must see end before it saves anything, with the requests before it
/// still storing when it was followed.
pub struct Predecessor {
    /// The request followed.
    followed: Done,
    /// Requests before that one, still storing when it answered; oldest first.
    ahead: Vec<Done>,
}

impl Predecessor {
    /// Waits for the followed request's storing to end; `None` when it failed (or its task was lost).
    pub async fn stored(&mut self) -> Stored {
        ended(&mut self.followed).await
    }

    /// Waits until fewer than [`MAX_STORING`] of the requests before are still storing, so that the
    /// following request may answer and store behind its answer too.
    pub async fn make_room(&mut self) {
        loop {
            self.ahead.retain(|rx| rx.borrow().is_none());
            let storing = self.ahead.len() + usize::from(self.followed.borrow().is_none());
            if storing < MAX_STORING {
                return;
            }
            // The oldest still storing: one of those ahead, else the one followed.
            let oldest = match self.ahead.first_mut() {
                Some(rx) => rx,
                None => &mut self.followed,
            };
            let _ = ended(oldest).await;
        }
    }

    /// The requests before that are still storing, oldest first (for [`Finishing::start`]).
    pub fn still_storing(&self) -> Vec<Done> {
        let followed = std::iter::once(&self.followed);
        self.ahead.iter().chain(followed).filter(|rx| rx.borrow().is_none()).cloned().collect()
    }
}

struct Entry {
    answered: Answered,
    /// Already followed by a request: a second may not follow the same one.
    followed: bool,
    done: Done,
    /// The requests before it that were still storing when it answered, oldest first.
    before: Vec<Done>,
}

/// Uploads whose last answered request is still storing, on this instance.
pub struct Finishing {
    by_upload: Mutex<HashMap<UploadId, Entry>>,
    tasks: TaskTracker,
    /// Requests of all uploads that may store behind their answers at once on this instance.
    room: Arc<Semaphore>,
}

impl Finishing {
    /// At most `most` requests of this instance store behind their answers at once (the instance's
    /// `limits.max_concurrent_uploads`): past it, requests store before they answer, as the parts in flight
    /// hold memory that the limit on uploads received at once would no longer bound.
    pub fn new(most: usize) -> Finishing {
        Finishing { by_upload: Mutex::default(), tasks: TaskTracker::new(), room: Arc::new(Semaphore::new(most)) }
    }

    /// A place for one more request to store behind its answer, when there is one.
    pub fn reserve(&self) -> Option<OwnedSemaphorePermit> {
        self.room.clone().try_acquire_owned().ok()
    }

    /// Runs `storing` for the request that answered `answered` (behind its answer), in the `place` it
    /// reserved; `follows` are the requests before it still storing ([`Predecessor::still_storing`]).
    pub fn start<F>(self: &Arc<Self>, answered: Answered, follows: Vec<Done>, place: OwnedSemaphorePermit, storing: F)
    where
        F: Future<Output = Stored> + Send + 'static,
    {
        let id = answered.upload.id.clone();
        let (tx, rx) = watch::channel(None);
        let mine = rx.clone();
        if let Ok(mut m) = self.by_upload.lock() {
            m.insert(id.clone(), Entry { answered, followed: false, done: rx, before: follows });
        }
        let me = self.clone();
        self.tasks.spawn(async move {
            let stored = storing.await;
            drop(place);
            if let Ok(mut m) = me.by_upload.lock() {
                // A following request may have answered since and put its own entry: only this one goes.
                if m.get(&id).is_some_and(|e| e.done.same_channel(&mine)) {
                    m.remove(&id);
                }
            }
            let _ = tx.send(Some(stored));
        });
    }

    /// The request answered at `offset` for `tenant`'s upload `id`, for a request to follow it before its
    /// storing is over: `None` when there is none, it is another tenant's, it answered another offset, it left
    /// a tail, or another request follows it.
    pub fn follow(&self, id: &UploadId, offset: u64, tenant: &TenantId) -> Option<(Answered, Predecessor)> {
        let mut m = self.by_upload.lock().ok()?;
        let e = m.get_mut(id)?;
        let u = &e.answered.upload;
        if e.followed || !e.answered.at_part_start || u.progress.offset != offset || u.tenant_id != *tenant {
            return None;
        }
        e.followed = true;
        let ahead = e.before.clone();
        Some((e.answered.clone(), Predecessor { followed: e.done.clone(), ahead }))
    }

    /// Waits until `id` has nothing storing on this instance (at most `within`).
    pub async fn wait(&self, id: &UploadId, within: Duration) {
        let rx = self.by_upload.lock().ok().and_then(|m| m.get(id).map(|e| e.done.clone()));
        if let Some(mut rx) = rx {
            let _ = tokio::time::timeout(within, ended(&mut rx)).await;
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
            tenant_id: t1(),
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

    impl Finishing {
        fn start_now<F>(self: &Arc<Self>, answered: Answered, follows: Vec<Done>, storing: F)
        where
            F: Future<Output = Stored> + Send + 'static,
        {
            let place = self.reserve().expect("room");
            self.start(answered, follows, place, storing);
        }
    }

    #[test]
    fn past_its_room_the_instance_has_no_place_to_store_behind_an_answer() {
        let f = Finishing::new(2);
        let (a, b) = (f.reserve(), f.reserve());
        assert!(a.is_some() && b.is_some());
        assert!(f.reserve().is_none(), "two places, both taken");
        drop(a);
        assert!(f.reserve().is_some(), "a place given back is taken again");
    }

    fn t1() -> TenantId {
        TenantId::from("t1")
    }

    fn answered(offset: u64, at_part_start: bool) -> Answered {
        Answered { upload: upload(offset), parts: 1, digest: None, at_part_start }
    }

    #[tokio::test]
    async fn one_request_follows_at_the_answered_offset_and_learns_how_storing_ended() {
        let f = Arc::new(Finishing::new(8));
        let id = UploadId::from("up_1");
        let (go, stop) = tokio::sync::oneshot::channel::<bool>();
        f.start_now(answered(8 << 20, true), vec![], async move {
            let ok = stop.await.unwrap_or(false);
            ok.then(|| upload(8 << 20))
        });
        assert!(f.follow(&id, 4 << 20, &t1()).is_none(), "another offset than the answer's");
        assert!(f.follow(&id, 8 << 20, &TenantId::from("t2")).is_none(), "another tenant's request");
        let (a, mut before) = f.follow(&id, 8 << 20, &t1()).expect("follows");
        assert_eq!(a.upload.progress.offset, 8 << 20);
        assert!(f.follow(&id, 8 << 20, &t1()).is_none(), "a second request may not follow the same one");
        go.send(true).unwrap();
        let stored = tokio::time::timeout(Duration::from_secs(5), before.stored()).await.unwrap();
        assert_eq!(stored.map(|u| u.progress.offset), Some(8 << 20));
        f.drain(Duration::from_secs(5)).await;
        assert!(f.follow(&id, 8 << 20, &t1()).is_none(), "stored: nothing left to follow");
    }

    #[tokio::test]
    async fn a_request_that_left_a_tail_is_not_followed_and_a_failure_is_seen() {
        let f = Arc::new(Finishing::new(8));
        let id = UploadId::from("up_1");
        f.start_now(answered(9 << 20, false), vec![], async { None });
        assert!(f.follow(&id, 9 << 20, &t1()).is_none(), "its tail must be stored and read back first");
        f.drain(Duration::from_secs(5)).await;

        let f = Arc::new(Finishing::new(8));
        let (go, stop) = tokio::sync::oneshot::channel::<()>();
        f.start_now(answered(8 << 20, true), vec![], async move {
            let _ = stop.await;
            None
        });
        let (_, mut before) = f.follow(&id, 8 << 20, &t1()).expect("follows");
        go.send(()).unwrap();
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), before.stored()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn no_more_than_max_storing_requests_store_behind_their_answers() {
        // A chain of requests, each following the one before, whose storing never ends until told to.
        let f = Arc::new(Finishing::new(8));
        let id = UploadId::from("up_1");
        let mut stops = Vec::new();
        let mut follows: Vec<Done> = vec![];
        for i in 0..MAX_STORING {
            let (go, stop) = tokio::sync::oneshot::channel::<()>();
            stops.push(go);
            let at = (i as u64 + 1) * (8 << 20);
            f.start_now(answered(at, true), follows, async move {
                let _ = stop.await;
                Some(upload(at))
            });
            let (_, mut p) = f.follow(&id, at, &t1()).expect("follows");
            if i + 1 < MAX_STORING {
                // Room left: it may answer at once.
                tokio::time::timeout(Duration::from_millis(200), p.make_room()).await.expect("room");
            } else {
                // MAX_STORING are storing: it waits until the oldest is over, and only that.
                assert!(tokio::time::timeout(Duration::from_millis(100), p.make_room()).await.is_err());
                stops.remove(0).send(()).unwrap();
                tokio::time::timeout(Duration::from_secs(5), p.make_room()).await.expect("room once the oldest ends");
                assert_eq!(p.still_storing().len(), MAX_STORING - 1);
            }
            follows = p.still_storing();
        }
        for go in stops {
            let _ = go.send(());
        }
        f.drain(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_wait_lasts_until_the_storing_is_over_and_drain_waits_for_it() {
        let f = Arc::new(Finishing::new(8));
        let id = UploadId::from("up_1");
        let (go, stop) = tokio::sync::oneshot::channel::<()>();
        f.start_now(answered(8 << 20, true), vec![], async move {
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

        let f = Arc::new(Finishing::new(8));
        let stored = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stored.clone();
        f.start_now(answered(8 << 20, true), vec![], async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.store(true, std::sync::atomic::Ordering::SeqCst);
            None
        });
        f.drain(Duration::from_secs(5)).await;
        assert!(stored.load(std::sync::atomic::Ordering::SeqCst), "drain waited for the storing");
    }
}

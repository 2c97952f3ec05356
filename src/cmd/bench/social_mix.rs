//! The events `bench social` publishes: users liking, unliking, commenting on and deleting comments on each
//! other's media, with popular media getting most of it and a few actors acting on their own media, and the
//! outcome those events must have (feed items per owner, counts per media, feed changes), kept as they are
//! made so the run can check it exactly.

use std::collections::HashMap;

use mediamill_core::contract;
use mediamill_core::event::Envelope;
use mediamill_notify::app::rules::like_window_id;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// Of a hundred events: likes added, likes taken back, comments, comments deleted (the rest).
const LIKE_ADDED: u32 = 62;
const LIKE_REMOVED: u32 = 8;
const COMMENT_ADDED: u32 = 25;
/// Likes and comments (in a hundred) by the media's owner, which notify nobody.
const SELF_ACTS: u32 = 3;

/// One event to publish.
pub struct Event {
    /// Its Kafka key (the media id).
    pub key: String,
    /// The CloudEvent.
    pub env: Envelope,
    /// The feed item it changes (non-self likes and comments), for the latency probe.
    pub feed_id: Option<String>,
}

/// A like window: (media, window number) → each actor's last state in it.
type Windows = HashMap<(usize, i64), HashMap<usize, bool>>;

/// The generator and the outcome it expects.
pub struct Mix {
    tenant: String,
    users: usize,
    media_per_user: usize,
    window_ms: i64,
    window_secs: u64,
    rng: StdRng,
    run: String,
    seq: u64,
    last_at: i64,
    /// (media, actor) pairs liked now, and where each is in `liked`.
    liked: Vec<(usize, usize)>,
    liked_at: HashMap<(usize, usize), usize>,
    /// Comments not deleted: (comment number, media, actor).
    comments: Vec<(u64, usize, usize)>,
    windows: Windows,
    likes_per_media: Vec<i64>,
    comments_per_media: Vec<i64>,
    /// Live comments by someone else, per owner.
    comment_items: Vec<i64>,
    /// Feed changes the events must cause: one per non-self like added and comment added.
    pub feed_changes: u64,
    /// Events made so far.
    pub made: u64,
}

impl Mix {
    /// A mix for `tenant` with `users` users owning `media_per_user` media each; like windows of `window_secs`.
    pub fn new(tenant: &str, users: usize, media_per_user: usize, window_secs: u64, seed: u64) -> Mix {
        let media = users * media_per_user;
        Mix {
            tenant: tenant.to_string(),
            users,
            media_per_user,
            window_ms: (window_secs.max(1) * 1000) as i64,
            window_secs,
            rng: StdRng::seed_from_u64(seed),
            run: format!("bench-{seed:x}"),
            seq: 0,
            last_at: 0,
            liked: Vec::new(),
            liked_at: HashMap::new(),
            comments: Vec::new(),
            windows: HashMap::new(),
            likes_per_media: vec![0; media],
            comments_per_media: vec![0; media],
            comment_items: vec![0; users],
            feed_changes: 0,
            made: 0,
        }
    }

    /// The media ids, in order.
    pub fn media_ids(&self) -> impl Iterator<Item = String> {
        (0..self.likes_per_media.len()).map(|m| format!("m{m}"))
    }

    /// The user ids, in order.
    pub fn user_ids(&self) -> impl Iterator<Item = String> {
        (0..self.users).map(|u| format!("u{u}"))
    }

    /// `(likes, comments)` media `m` must show.
    pub fn expected_stats(&self, m: usize) -> (i64, i64) {
        (self.likes_per_media[m], self.comments_per_media[m])
    }

    /// Unread feed items each user must have: like windows someone else still likes, live comments by others.
    pub fn expected_unread(&self) -> Vec<i64> {
        let mut unread = self.comment_items.clone();
        for ((m, _), actors) in &self.windows {
            if actors.values().any(|present| *present) {
                unread[m / self.media_per_user] += 1;
            }
        }
        unread
    }

    /// Popular media get most of the activity: the square of a uniform number leans towards the first ones.
    fn pick_media(&mut self) -> usize {
        let u: f64 = self.rng.gen();
        ((u * u) * self.likes_per_media.len() as f64) as usize % self.likes_per_media.len()
    }

    fn pick_actor(&mut self, owner: usize) -> usize {
        if self.rng.gen_range(0..100) < SELF_ACTS {
            owner
        } else {
            self.rng.gen_range(0..self.users)
        }
    }

    /// The next event: its time never goes back, and equal times are ordered by id, so (time, id) order is the
    /// order they were made in, whatever order they are delivered in.
    pub fn next_event(&mut self) -> Event {
        self.seq += 1;
        self.made += 1;
        let at = self.last_at.max(chrono::Utc::now().timestamp_millis());
        self.last_at = at;
        let roll = self.rng.gen_range(0..100);
        let (ty, data, feed_id) = if roll < LIKE_ADDED || (roll < LIKE_ADDED + LIKE_REMOVED && self.liked.is_empty()) {
            self.like_added(at)
        } else if roll < LIKE_ADDED + LIKE_REMOVED {
            self.like_removed(at)
        } else if roll < LIKE_ADDED + LIKE_REMOVED + COMMENT_ADDED || self.comments.is_empty() {
            self.comment_added()
        } else {
            self.comment_deleted()
        };
        let key = contract::key_of(ty, &data).unwrap_or_default();
        let mut env = Envelope::new(ty, None, &data);
        env.id = format!("{}-{:010}", self.run, self.seq);
        env.source = "mediamill-bench-social".into();
        env.time = chrono::DateTime::from_timestamp_millis(at).unwrap_or_default();
        Event { key, env, feed_id }
    }

    fn like_body(&self, m: usize, actor: usize, added: bool) -> serde_json::Value {
        let mut body = json!({"tenant_id": self.tenant, "media_id": format!("m{m}"),
            "media_owner_id": format!("u{}", m / self.media_per_user), "actor_id": format!("u{actor}")});
        if added {
            body["actor_name"] = json!(format!("User {actor}"));
        }
        body
    }

    fn like_added(&mut self, at: i64) -> (&'static str, serde_json::Value, Option<String>) {
        // A pair not liked yet: a few tries, then whatever comes (liking twice is then a no-op add).
        let (mut m, mut actor) = (0, 0);
        for _ in 0..8 {
            m = self.pick_media();
            actor = self.pick_actor(m / self.media_per_user);
            if !self.liked_at.contains_key(&(m, actor)) {
                break;
            }
        }
        if let std::collections::hash_map::Entry::Vacant(e) = self.liked_at.entry((m, actor)) {
            e.insert(self.liked.len());
            self.liked.push((m, actor));
            self.likes_per_media[m] += 1;
        }
        let owner = m / self.media_per_user;
        let feed_id = (actor != owner).then(|| {
            self.windows.entry((m, at.div_euclid(self.window_ms))).or_default().insert(actor, true);
            self.feed_changes += 1;
            self.like_window(m, at)
        });
        ("app.social.like_added.v1", self.like_body(m, actor, true), feed_id)
    }

    fn like_removed(&mut self, at: i64) -> (&'static str, serde_json::Value, Option<String>) {
        let i = self.rng.gen_range(0..self.liked.len());
        let (m, actor) = self.liked.swap_remove(i);
        self.liked_at.remove(&(m, actor));
        if let Some(moved) = self.liked.get(i) {
            self.liked_at.insert(*moved, i);
        }
        self.likes_per_media[m] -= 1;
        if actor != m / self.media_per_user {
            // Only the window the undo falls in: a like from an earlier window stays there.
            self.windows.entry((m, at.div_euclid(self.window_ms))).or_default().insert(actor, false);
        }
        ("app.social.like_removed.v1", self.like_body(m, actor, false), None)
    }

    fn like_window(&self, m: usize, at: i64) -> String {
        let owner = format!("u{}", m / self.media_per_user);
        like_window_id(&self.tenant, &owner, &format!("m{m}"), at, self.window_secs).0
    }

    fn comment_body(&self, c: u64, m: usize, actor: usize) -> serde_json::Value {
        json!({"tenant_id": self.tenant, "comment_id": format!("c{c}"), "media_id": format!("m{m}"),
            "media_owner_id": format!("u{}", m / self.media_per_user), "actor_id": format!("u{actor}")})
    }

    fn comment_added(&mut self) -> (&'static str, serde_json::Value, Option<String>) {
        let m = self.pick_media();
        let owner = m / self.media_per_user;
        let actor = self.pick_actor(owner);
        let c = self.seq;
        self.comments.push((c, m, actor));
        self.comments_per_media[m] += 1;
        let mut body = self.comment_body(c, m, actor);
        body["actor_name"] = json!(format!("User {actor}"));
        body["text"] = json!(format!("comment {c}"));
        let feed_id = (actor != owner).then(|| {
            self.comment_items[owner] += 1;
            self.feed_changes += 1;
            format!("comment:{}:c{c}", self.tenant)
        });
        ("app.social.comment_added.v1", body, feed_id)
    }

    fn comment_deleted(&mut self) -> (&'static str, serde_json::Value, Option<String>) {
        let i = self.rng.gen_range(0..self.comments.len());
        let (c, m, actor) = self.comments.swap_remove(i);
        self.comments_per_media[m] -= 1;
        let owner = m / self.media_per_user;
        if actor != owner {
            self.comment_items[owner] -= 1;
        }
        ("app.social.comment_deleted.v1", self.comment_body(c, m, actor), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_keeps_its_contract_and_the_outcome_adds_up() {
        let mut mix = Mix::new("t1", 20, 2, 60, 7);
        let mut kinds = HashMap::<String, u32>::new();
        let mut feed = 0;
        for _ in 0..5000 {
            let e = mix.next_event();
            contract::validate(&e.env.ty, &e.env.data).unwrap_or_else(|err| panic!("{}: {err}", e.env.ty));
            assert_eq!(contract::topic_of(&e.env.ty), Some("social.events"));
            *kinds.entry(e.env.ty.clone()).or_default() += 1;
            feed += e.feed_id.is_some() as u64;
        }
        for ty in ["like_added", "like_removed", "comment_added", "comment_deleted"] {
            let n = kinds.get(&format!("app.social.{ty}.v1")).copied().unwrap_or(0);
            assert!(n > 100, "{ty}: {n} of 5000");
        }
        assert_eq!(feed, mix.feed_changes);
        let likes: i64 = (0..40).map(|m| mix.expected_stats(m).0).sum();
        assert_eq!(likes as usize, mix.liked.len());
        assert!(mix.expected_unread().iter().all(|n| *n >= 0));
    }
}

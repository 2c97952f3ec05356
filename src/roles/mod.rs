//! Wiring shared by the subcommands: opening the backends the config names and starting each role's loops.
//! What every role shares is here; each role's own loops are in a file of its own.

mod batch;
mod ingest;
mod notify;
mod social;
mod worker;

use std::time::Duration;

use anyhow::Context;
use mediamill_core::backends::Backends;
use mediamill_core::config::Config;
use mediamill_core::kafka::roster::ConsumerGroup;
use mediamill_core::kafka::{ConsumerSettings, EventProducer};
use mediamill_core::outbox::Relay;
use mediamill_core::repo;
use mediamill_core::shutdown::Shutdown;
use mediamill_core::store;
use mediamill_core::topics::Topics;
use tokio::task::JoinHandle;

/// This process's roles, started on the one bundle of backends they share (`self.repo`, `self.store`… through
/// `Deref`) and one Kafka producer; each role's starter is in a file of its own.
#[derive(Clone)]
pub struct Roles(pub Backends, SharedProducer);

/// The process's one producer, made when a role first needs it. librdkafka advises one producer per process:
/// each instance has its own threads and broker connections, and its polling thread spins through the last
/// millisecond of every 100 ms wait (rdkafka truncates the remaining time to whole milliseconds), so under
/// `up` the nine producers the roles made cost more CPU than the events they sent.
type SharedProducer = std::sync::Arc<std::sync::OnceLock<EventProducer>>;

impl std::ops::Deref for Roles {
    type Target = Backends;
    fn deref(&self) -> &Backends {
        &self.0
    }
}

impl Roles {
    /// Opens the database (running migrations) and the object store.
    pub async fn open(cfg: Config) -> anyhow::Result<Roles> {
        Ok(Roles(Backends::open(cfg).await?, SharedProducer::default()))
    }

    /// Opens the backends for a long-running role (`ingest`, `worker`, `batch`, `notify`): like [`open`], but
    /// waits up to `server.startup_wait_secs` for the database, the object store and the Kafka topics (made by
    /// `mediamill topics`) to be there, since an orchestrator starts a role beside its backends, not after them.
    ///
    /// [`open`]: Roles::open
    pub async fn open_for_role(cfg: Config) -> anyhow::Result<Roles> {
        let wait = Duration::from_secs(cfg.server.startup_wait_secs);
        let url = mask(&cfg.database.url);
        let repo =
            wait_for(&format!("database {url}"), wait, || repo::open(&cfg.database.url, cfg.database.max_connections))
                .await?;
        let store = wait_for("object store", wait, || store::open(&cfg.store)).await?;
        anyhow::ensure!(!cfg.kafka.brokers.is_empty(), "kafka.brokers is not set (MEDIAMILL_KAFKA__BROKERS)");
        let tiers = cfg.worker.retry_tiers_secs.clone();
        wait_for("kafka topics (run `mediamill topics`)", wait, || async {
            let missing = mediamill_core::kafka::missing_topics(&cfg.kafka, &tiers, Duration::from_secs(5)).await?;
            match missing.first() {
                None => Ok(()),
                Some(first) => Err(anyhow::anyhow!("{} missing, {first} among them", missing.len())),
            }
        })
        .await?;
        Ok(Roles(Backends::new(cfg, repo, store), SharedProducer::default()))
    }

    fn producer(&self) -> anyhow::Result<EventProducer> {
        if let Some(p) = self.1.get() {
            return Ok(p.clone());
        }
        anyhow::ensure!(!self.cfg.kafka.brokers.is_empty(), "kafka.brokers is not set (MEDIAMILL_KAFKA__BROKERS)");
        // librdkafka keeps retrying a send for this long; the outbox keeps the event beyond that.
        let made = EventProducer::new(&self.cfg.kafka.brokers, Duration::from_secs(30))?;
        // Two roles racing here: the loser's producer is dropped unused.
        Ok(self.1.get_or_init(|| made).clone())
    }

    /// How a role consumes `group`: registered in this process's memberships, so `up` and `/readyz` wait until
    /// the group has assigned it.
    fn consumer_settings(&self, group: ConsumerGroup, capacity: usize, drain_timeout: Duration) -> ConsumerSettings {
        let group_id = group.id(&self.cfg);
        ConsumerSettings {
            brokers: self.cfg.kafka.brokers.clone(),
            joined: Some(self.consumers.register(&group_id)),
            group_id,
            topics: group.topics(&self.cfg),
            capacity,
            max_poll_interval_ms: self.cfg.kafka.max_poll_interval_ms,
            drain_timeout,
        }
    }

    /// Starts the outbox relay.
    pub fn spawn_relay(&self, shutdown: Shutdown) -> anyhow::Result<JoinHandle<()>> {
        let relay = Relay {
            repo: self.repo.clone(),
            producer: self.producer()?,
            topics: Topics::new(&self.cfg.kafka.topic_prefix),
            waker: self.waker.clone(),
            interval: Duration::from_millis(250),
        };
        Ok(tokio::spawn(relay.run(shutdown)))
    }

    /// Serves `/metrics` and `/healthz` on `server.ops_listen`, when set (workers, batch, notify).
    pub async fn spawn_ops(&self, shutdown: Shutdown) -> anyhow::Result<Option<JoinHandle<()>>> {
        let addr = self.cfg.server.ops_listen.trim();
        if addr.is_empty() {
            return Ok(None);
        }
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding server.ops_listen {addr}"))?;
        tracing::info!(addr, "serving /metrics and /healthz");
        Ok(Some(tokio::spawn(async move {
            if let Err(e) = crate::ops::serve(listener, shutdown).await {
                tracing::error!(error = %e, "ops endpoint stopped");
            }
        })))
    }
}

impl Roles {
    /// Puts a fresh job in the outbox for every item not yet terminal (after the broker lost its topics, or
    /// to recover stuck work); duplicates are harmless because processing is idempotent.
    pub async fn requeue_unfinished(&self) -> anyhow::Result<usize> {
        let (mut n, mut after) = (0, None::<mediamill_core::model::MediaId>);
        loop {
            let page = self.repo.unfinished_media(after.as_ref(), 1000).await?;
            let events: Vec<_> = page.iter().map(|m| mediamill_core::outbox::job_event(m, 1)).collect();
            self.repo.append_events(&events).await?;
            n += page.len();
            match page.last() {
                Some(m) if page.len() == 1000 => after = Some(m.id.clone()),
                _ => break,
            }
        }
        self.waker.wake();
        Ok(n)
    }

    /// Makes sure the `default` tenant has a key; returns the secret when it had to create one.
    pub async fn first_key(&self) -> anyhow::Result<Option<String>> {
        let t = self.repo.ensure_tenant("default").await?;
        let keys = self.repo.list_keys(&t.id).await?;
        if keys.iter().any(|k| k.revoked_at.is_none()) {
            return Ok(None);
        }
        let (secret, hash, prefix) = mediamill_core::apikey::generate();
        let new = repo::NewKey {
            tenant_id: &t.id,
            key_hash: &hash,
            prefix: &prefix,
            scope: mediamill_core::model::KeyScope::Admin,
            expires_at: None,
        };
        let created = |k: &mediamill_core::model::ApiKey| {
            vec![mediamill_core::outbox::key_event(k, mediamill_core::event::KEY_CREATED, None)]
        };
        self.repo.create_key(&new, &created).await?;
        self.waker.wake();
        Ok(Some(secret))
    }
}

/// A database URL with its password hidden, for messages.
pub fn mask(url: &str) -> String {
    mediamill_core::config::mask_url_password(url)
}

/// Waits for every task, logging the ones that panicked.
pub async fn join_all(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        if let Err(e) = t.await {
            tracing::error!(error = %e, "task failed");
        }
    }
}

/// Calls `attempt` until it succeeds or `wait` has passed, pausing 0.5 s doubling up to 5 s between tries and
/// logging each failure, then returns the last error with what was awaited.
pub async fn wait_for<T, E, F, Fut>(what: &str, wait: Duration, mut attempt: F) -> anyhow::Result<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    // The pauses of core's one retry helper; what differs here is the deadline, not the backoff.
    let backoff = mediamill_core::retry::Backoff { first: Duration::from_millis(500), max: Duration::from_secs(5) };
    let deadline = tokio::time::Instant::now() + wait;
    let mut tries = 0;
    loop {
        tries += 1;
        let pause = backoff.after(tries);
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() + pause < deadline => {
                tracing::warn!(error = %e, "waiting for {what}");
                tokio::time::sleep(pause).await;
            }
            Err(e) => {
                anyhow::bail!("gave up waiting for {what} after {}s (server.startup_wait_secs): {e}", wait.as_secs())
            }
        }
    }
}

//! The `notify` role's loops: the fan-out consumer and the dispatcher for media and batch events, and the
//! app's notification rules with their releaser.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mediamill_core::kafka::roster::ConsumerGroup;
use mediamill_core::kafka::run_consumer;
use mediamill_core::shutdown::Shutdown;
use tokio::task::JoinHandle;

use super::Roles;

impl Roles {
    /// Starts the notifier: a consumer of `media.events` and `batch.events` that records deliveries, the app
    /// rules consuming `user.events`, `social.events` and `chat.events`, the releaser of due notifications, and
    /// the dispatcher that sends every delivery.
    pub fn spawn_notify(&self, shutdown: Shutdown) -> anyhow::Result<Vec<JoinHandle<()>>> {
        use mediamill_notify::app::{Releaser, Rules};
        use mediamill_notify::{Dispatcher, Fanout};
        let cfg = &self.cfg;
        let wake = Arc::new(tokio::sync::Notify::new());
        let fanout = Arc::new(Fanout { repo: self.repo.clone(), shutdown: shutdown.clone(), wake: wake.clone() });
        let settings = self.consumer_settings(ConsumerGroup::Notify, 32, Duration::from_secs(10));
        let dispatcher = Dispatcher::new(self.repo.clone(), cfg.notify.clone(), &cfg.app, wake.clone())
            .context("building the webhook client")?;
        let release = Arc::new(tokio::sync::Notify::new());
        let rules = Rules { repo: self.repo.clone(), cfg: cfg.app.clone(), wake: release.clone() };
        let releaser = Releaser { repo: self.repo.clone(), cfg: cfg.app.clone(), wake: release, dispatch: wake };
        let sd = shutdown.clone();
        let mut tasks = vec![
            tokio::spawn(async move {
                if let Err(e) = run_consumer(settings, fanout, sd).await {
                    tracing::error!(error = %e, "notifier stopped");
                }
            }),
            tokio::spawn(dispatcher.run(shutdown.clone())),
            tokio::spawn(releaser.run(shutdown.clone())),
        ];
        tasks.push(self.spawn_app_consumer(ConsumerGroup::AppNotify, rules, shutdown)?);
        Ok(tasks)
    }
}

//! Events in, delivery rows out: which targets want an event.

use mediamill_core::model::{BatchId, TenantId};
use std::sync::Arc;

use async_trait::async_trait;
use mediamill_core::event::Envelope;
use mediamill_core::kafka::{Handler, Outcome, OwnedJob};
use mediamill_core::notify_model::{type_matches, Channel, Delivery, DeliveryTarget};
use mediamill_core::repo::{now_ms, Repo, RepoError};
use mediamill_core::retry::{until_ok, Backoff};
use mediamill_core::shutdown::Shutdown;
use tokio::sync::Notify;

/// Handles `media.events` and `batch.events` for notifications.
pub struct Fanout {
    /// Where the tenant's endpoints and recipients are read and the deliveries written.
    pub repo: Arc<dyn Repo>,
    /// Stops the retries of a failing write, handing the event back uncommitted.
    pub shutdown: Shutdown,
    /// Wakes the dispatcher when new deliveries exist.
    pub wake: Arc<Notify>,
}

/// The Standard Webhooks body of an event.
pub fn payload(env: &Envelope) -> String {
    serde_json::json!({
        "type": env.ty,
        "timestamp": env.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": env.data,
    })
    .to_string()
}

fn delivery(
    env: &Envelope,
    tenant_id: &TenantId,
    channel: Channel,
    target_id: &str,
    target: &str,
    secret: Option<String>,
) -> Delivery {
    let to = DeliveryTarget { tenant_id, channel, target_id, target, secret };
    Delivery::pending(to, env.id.clone(), env.ty.clone(), payload(env))
}

impl Fanout {
    /// The deliveries one event makes.
    pub async fn deliveries_for(&self, env: &Envelope) -> Result<Vec<Delivery>, RepoError> {
        let Some(tenant_id) = env.data["tenant_id"].as_str().map(TenantId::from) else { return Ok(vec![]) };
        let tenant_id = &tenant_id;
        let mut out = Vec::new();
        let targets = self.repo.live_targets(tenant_id).await?;
        for e in targets.endpoints {
            if type_matches(&e.event_types, &env.ty) {
                out.push(delivery(env, tenant_id, Channel::Webhook, &e.id, &e.url, Some(e.signing_secrets(now_ms()))));
            }
        }
        if env.ty.starts_with("mediamill.batch.") {
            if let Some(batch_id) = env.data["batch_id"].as_str().map(BatchId::from) {
                if let Some(b) = self.repo.get_batch(tenant_id, &batch_id).await? {
                    if let Some(url) = &b.webhook_url {
                        out.push(delivery(
                            env,
                            tenant_id,
                            Channel::Webhook,
                            &format!("batch:{batch_id}"),
                            url,
                            b.webhook_secret.clone(),
                        ));
                    }
                }
            }
        }
        // Unconfirmed addresses are not among the live targets: they get their confirmation message and nothing
        // else, so the service is no spam relay.
        for r in targets.recipients {
            if type_matches(&r.event_types, &env.ty) {
                out.push(delivery(env, tenant_id, Channel::Email, &r.id, &r.address, None));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Handler for Fanout {
    async fn handle(&self, msg: OwnedJob) -> Outcome {
        let Ok(env) = msg.envelope.as_ref() else { return Outcome::Done };
        let step = || async {
            let ds = self.deliveries_for(env).await?;
            if !ds.is_empty() {
                self.repo.insert_deliveries(&ds).await?;
                self.wake.notify_one();
            }
            Ok::<(), RepoError>(())
        };
        match until_ok(&self.shutdown, Backoff::BACKENDS, &env.id, "notifier", step).await {
            Some(()) => Outcome::Done,
            None => Outcome::Abandoned,
        }
    }
}

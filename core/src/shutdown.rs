//! A shutdown signal every loop holds: cloned freely, fired once, awaited anywhere. A thin name over tokio-util's
//! `CancellationToken`, split into the side that fires and the side that waits.

use tokio_util::sync::CancellationToken;

/// Tells loops to stop. Clone it into every task; [`Shutdown::wait`] resolves once [`Trigger::fire`] is called.
#[derive(Clone)]
pub struct Shutdown {
    token: CancellationToken,
}

/// Fires the shutdown.
#[derive(Clone)]
pub struct Trigger {
    token: CancellationToken,
}

/// A new signal and its trigger.
pub fn channel() -> (Trigger, Shutdown) {
    let token = CancellationToken::new();
    (Trigger { token: token.clone() }, Shutdown { token })
}

impl Trigger {
    /// Fires the signal; every [`Shutdown::wait`] resolves. Firing again does nothing.
    pub fn fire(&self) {
        self.token.cancel();
    }
}

impl Shutdown {
    /// Resolves when shutdown was fired (at once if it already was).
    pub async fn wait(&self) {
        self.token.cancelled().await;
    }
    /// Whether shutdown was fired.
    pub fn is_fired(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// Fires `trigger` on SIGINT or SIGTERM.
pub fn on_signals(trigger: Trigger) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    trigger.fire();
                    return;
                }
            };
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        trigger.fire();
    });
}

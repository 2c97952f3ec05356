//! A shutdown signal every loop holds: cloned freely, fired once, awaited anywhere.

use tokio::sync::watch;

/// Tells loops to stop. Clone it into every task; [`Shutdown::wait`] resolves once [`Trigger::fire`] is called.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// Fires the shutdown.
#[derive(Clone)]
pub struct Trigger {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

/// A new signal and its trigger.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger { tx: std::sync::Arc::new(tx) }, Shutdown { rx })
}

impl Trigger {
    pub fn fire(&self) {
        let _ = self.tx.send(true);
    }
}

impl Shutdown {
    /// Resolves when shutdown was fired (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
    /// Whether shutdown was fired.
    pub fn is_fired(&self) -> bool {
        *self.rx.borrow()
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

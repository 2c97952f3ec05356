//! The one way a role retries a step that must succeed before it may go on (a database write before an offset
//! is committed): pause with exponential backoff, log every failure, give up only when shutdown comes.
//! Retries that outlive the process (job retry tiers, webhook schedules) are data, not this loop.

use std::future::Future;
use std::time::Duration;

use crate::shutdown::Shutdown;

/// Pauses between tries: `first`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first pause.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Backoff {
    /// 0.2 s doubling to 10 s: for the database and the store, which mostly come back within seconds.
    pub const BACKENDS: Backoff = Backoff { first: Duration::from_millis(200), max: Duration::from_secs(10) };

    /// The pause before try `attempt + 1`, after `attempt` (1-based) failures.
    pub fn after(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// Calls `op` until it succeeds, logging each failure (`what`, about `subject`) and pausing as `backoff` says;
/// `None` when `shutdown` fires first, so the caller hands its work back instead of finishing it.
pub async fn until_ok<T, E, F, Fut, S>(
    shutdown: &Shutdown,
    backoff: Backoff,
    subject: &S,
    what: &str,
    mut op: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    S: std::fmt::Display + ?Sized,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(v) => return Some(v),
            Err(e) => {
                attempt += 1;
                tracing::warn!(%subject, attempt, error = %e, "{what}; retrying");
                tokio::select! {
                    _ = shutdown.wait() => return None,
                    _ = tokio::time::sleep(backoff.after(attempt)) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff { first: Duration::from_millis(100), max: Duration::from_secs(1) };
        let got: Vec<u128> = (1..=6).map(|n| b.after(n).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.after(u32::MAX), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn until_ok_retries_until_success_and_stops_at_shutdown() {
        let quick = Backoff { first: Duration::from_millis(1), max: Duration::from_millis(1) };
        let (trigger, shutdown) = crate::shutdown::channel();
        let mut calls = 0;
        let got = until_ok(&shutdown, quick, "s", "flaky", || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err("not yet")
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(got, Some(3));
        trigger.fire();
        let never: Option<()> = until_ok(&shutdown, quick, "s", "down", || async { Err::<(), _>("down") }).await;
        assert_eq!(never, None);
    }
}

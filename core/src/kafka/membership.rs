//! Whether this process's consumers have joined their groups. A consumer that has subscribed but not yet been
//! given its partitions takes no job, so an upload accepted in those first seconds waits for the group to
//! form; `up` waits for every group before it prints its address, and `/readyz` says `joining` until then.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The consumer groups this process runs, each with whether its member has been assigned yet.
#[derive(Clone)]
pub struct Memberships(Arc<watch::Sender<Vec<(String, bool)>>>);

impl Default for Memberships {
    fn default() -> Memberships {
        Memberships(Arc::new(watch::Sender::new(Vec::new())))
    }
}

impl std::fmt::Debug for Memberships {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.borrow().iter()).finish()
    }
}

impl Memberships {
    /// Adds a consumer of `group` that has not joined yet. Register before spawning the consumer, so that a
    /// wait started right after the spawn already counts it.
    pub fn register(&self, group: &str) -> Joined {
        let mut index = 0;
        self.0.send_modify(|v| {
            index = v.len();
            v.push((group.to_string(), false));
        });
        Joined { set: self.clone(), index }
    }

    /// Groups registered here whose consumer has not been assigned yet; empty when all have (or none runs).
    pub fn pending(&self) -> Vec<String> {
        self.0.borrow().iter().filter(|(_, joined)| !joined).map(|(g, _)| g.clone()).collect()
    }

    /// Whether any consumer runs in this process.
    pub fn any(&self) -> bool {
        !self.0.borrow().is_empty()
    }

    /// Waits until every registered consumer has joined, or `timeout` has passed; on timeout returns the groups
    /// still joining.
    pub async fn wait_all(&self, timeout: Duration) -> Result<(), Vec<String>> {
        let mut rx = self.0.subscribe();
        let joined = tokio::time::timeout(timeout, async { rx.wait_for(|v| v.iter().all(|(_, j)| *j)).await.is_ok() });
        match joined.await {
            Ok(true) => Ok(()),
            _ => Err(self.pending()),
        }
    }
}

/// One consumer's entry in [`Memberships`], marked by the consumer when its group first assigns it partitions
/// (or an empty share, when the group has more members than partitions: it has still joined).
#[derive(Clone)]
pub struct Joined {
    set: Memberships,
    index: usize,
}

impl std::fmt::Debug for Joined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined").field("index", &self.index).finish()
    }
}

impl Joined {
    /// Records that the group has assigned this consumer; later rebalances do not undo it (a member that
    /// lost the broker is the broker check's business, not a start-up one).
    pub fn mark(&self) {
        self.set.0.send_if_modified(|v| match v.get_mut(self.index) {
            Some((_, joined)) if !*joined => {
                *joined = true;
                true
            }
            _ => false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_every_registered_group() {
        let m = Memberships::default();
        assert!(m.wait_all(Duration::from_millis(10)).await.is_ok(), "nothing registered: nothing to wait for");
        let a = m.register("jobs");
        let b = m.register("batch");
        assert_eq!(m.pending(), ["jobs", "batch"]);
        a.mark();
        assert_eq!(m.wait_all(Duration::from_millis(20)).await, Err(vec!["batch".to_string()]));
        let waiter = tokio::spawn({
            let m = m.clone();
            async move { m.wait_all(Duration::from_secs(10)).await }
        });
        b.mark();
        b.mark();
        assert_eq!(waiter.await.unwrap(), Ok(()));
        assert!(m.pending().is_empty());
    }
}

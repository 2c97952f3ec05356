//! Which offset of each partition may be committed when jobs of one partition finish out of order.
//!
//! Jobs run in parallel, so offset 7 may finish before offset 5. Committing 8 then would lose 5 and 6 if the
//! worker died, so the committable offset only moves past a contiguous run of finished jobs. Each assignment
//! of a partition gets a new generation: a job that finishes after its partition was revoked is ignored, so a
//! partition now owned by another worker is never committed from here.

use std::collections::{BTreeMap, HashMap};

/// A job in flight: where it came from and which assignment it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    generation: u64,
}

#[derive(Debug, Default)]
struct PartitionState {
    generation: u64,
    /// offset → finished?
    in_flight: BTreeMap<i64, bool>,
}

/// Per-partition low-water marks of finished jobs.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    parts: HashMap<(String, i32), PartitionState>,
    next_generation: u64,
}

impl OffsetTracker {
    /// A tracker with nothing assigned.
    pub fn new() -> OffsetTracker {
        OffsetTracker::default()
    }

    /// A partition was assigned to this consumer: start a new generation for it.
    pub fn assign(&mut self, topic: &str, partition: i32) {
        self.next_generation += 1;
        self.parts.insert(
            (topic.to_string(), partition),
            PartitionState { generation: self.next_generation, in_flight: BTreeMap::new() },
        );
    }

    /// A partition was revoked: forget its jobs; their completions will be ignored.
    pub fn revoke(&mut self, topic: &str, partition: i32) {
        self.parts.remove(&(topic.to_string(), partition));
    }

    /// Records that the job at `offset` started. A partition not known yet is assigned implicitly.
    pub fn start(&mut self, topic: &str, partition: i32, offset: i64) -> Ticket {
        if !self.parts.contains_key(&(topic.to_string(), partition)) {
            self.assign(topic, partition);
        }
        let st = self.parts.get_mut(&(topic.to_string(), partition)).expect("assigned above");
        st.in_flight.insert(offset, false);
        Ticket { topic: topic.to_string(), partition, offset, generation: st.generation }
    }

    /// Records that a job finished. Returns the offset to commit (the next one to consume) when the
    /// contiguous finished run at the front of the partition grew.
    pub fn finish(&mut self, t: &Ticket) -> Option<i64> {
        let st = self.parts.get_mut(&(t.topic.clone(), t.partition))?;
        if st.generation != t.generation {
            return None;
        }
        *st.in_flight.get_mut(&t.offset)? = true;
        let mut commit = None;
        while let Some((&off, &done)) = st.in_flight.iter().next() {
            if !done {
                break;
            }
            st.in_flight.remove(&off);
            commit = Some(off + 1);
        }
        commit
    }

    /// Jobs started and not finished, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.parts.values().map(|p| p.in_flight.values().filter(|d| !**d).count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_past_contiguous_finished_jobs() {
        let mut t = OffsetTracker::new();
        let a = t.start("t", 0, 5);
        let b = t.start("t", 0, 6);
        let c = t.start("t", 0, 7);
        assert_eq!(t.finish(&c), None, "7 done but 5 and 6 are not");
        assert_eq!(t.finish(&a), Some(6));
        assert_eq!(t.finish(&b), Some(8), "6 closes the gap up to 7");
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = OffsetTracker::new();
        let a = t.start("t", 0, 1);
        let b = t.start("t", 1, 100);
        assert_eq!(t.finish(&b), Some(101));
        assert_eq!(t.finish(&a), Some(2));
    }

    #[test]
    fn revoked_partition_is_never_committed() {
        let mut t = OffsetTracker::new();
        let a = t.start("t", 0, 1);
        t.revoke("t", 0);
        assert_eq!(t.finish(&a), None);
        // Reassigned later: an old ticket of the same offset is still ignored.
        t.assign("t", 0);
        let b = t.start("t", 0, 1);
        assert_eq!(t.finish(&a), None);
        assert_eq!(t.finish(&b), Some(2));
    }

    #[test]
    fn double_finish_is_harmless() {
        let mut t = OffsetTracker::new();
        let a = t.start("t", 0, 1);
        assert_eq!(t.finish(&a), Some(2));
        assert_eq!(t.finish(&a), None);
    }
}

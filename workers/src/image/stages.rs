//! Where one image's CPU time goes, stage by stage, for `mediamill bench images`: decode (and at what scale),
//! colour conversion, orientation, each resize, each encode, metadata and placeholders. Off unless a thread
//! asks for it; then each stage boundary reads the thread's CPU clock once, which costs well under a
//! microsecond against the milliseconds a stage takes.

use std::cell::RefCell;

/// One stage's CPU time.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// What it was: `decode 1/2`, `colour`, `orient`, `resize 1024`, `encode 1024 jpeg`, `metadata`.
    pub name: String,
    /// Thread CPU seconds it took.
    pub cpu: f64,
}

struct Recorder {
    last: f64,
    stages: Vec<Stage>,
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// This thread's CPU time in seconds.
pub fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Starts recording stages on this thread (the clock starts now).
pub fn record() {
    RECORDER.with(|r| *r.borrow_mut() = Some(Recorder { last: thread_cpu(), stages: Vec::new() }));
}

/// Stops recording and returns the stages seen since [`record`].
pub fn take() -> Vec<Stage> {
    RECORDER.with(|r| r.borrow_mut().take().map(|r| r.stages).unwrap_or_default())
}

/// Ends the stage called `name` (the time since the previous mark); nothing when not recording.
pub fn mark(name: impl FnOnce() -> String) {
    RECORDER.with(|r| {
        if let Some(rec) = r.borrow_mut().as_mut() {
            let now = thread_cpu();
            rec.stages.push(Stage { name: name(), cpu: now - rec.last });
            rec.last = now;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_recorded_only_when_asked_and_in_order() {
        mark(|| "ignored".into());
        assert!(take().is_empty());
        record();
        let mut x = 0u64;
        for i in 0..200_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        mark(|| "work".into());
        mark(|| "nothing".into());
        let s = take();
        assert_eq!(s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["work", "nothing"]);
        assert!(s[0].cpu > 0.0 && s[1].cpu >= 0.0);
        assert!(take().is_empty(), "recording stopped");
    }
}

//! The CPU pool: processing runs on rayon threads, and async callers await the result with a timeout.
//! A panic inside the work fails that one job, never the pool.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crate::failure::ProcessError;

/// A rayon pool sized for the worker's concurrency.
#[derive(Clone)]
pub struct CpuPool {
    pool: Arc<rayon::ThreadPool>,
}

impl CpuPool {
    /// A pool of `threads` threads.
    pub fn new(threads: usize) -> CpuPool {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("mediamill-cpu-{i}"))
            .build()
            .unwrap_or_else(|_| rayon::ThreadPoolBuilder::new().build().expect("default rayon pool"));
        CpuPool { pool: Arc::new(pool) }
    }

    /// Runs `f` on the pool; fails with `Timeout` after `timeout` (the thread finishes its work unobserved;
    /// process isolation, which can kill it, is the reliability issue's) and `Crashed` on a panic.
    pub async fn run<T, F>(&self, timeout: Duration, f: F) -> Result<T, ProcessError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, ProcessError> + Send + 'static,
    {
        match tokio::time::timeout(timeout, self.spawn(f)).await {
            Ok(r) => r,
            Err(_) => Err(ProcessError::Timeout(timeout.as_secs())),
        }
    }

    /// Starts `f` on the pool and returns its result when it ends, however long that takes (the caller
    /// cancels cooperatively, e.g. with a flag `f` checks); a panic is `Crashed`.
    pub fn spawn<T, F>(&self, f: F) -> impl std::future::Future<Output = Result<T, ProcessError>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, ProcessError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(ProcessError::from_panic(p)));
            let _ = tx.send(r);
        });
        async move { rx.await.unwrap_or_else(|_| Err(ProcessError::Crashed("worker thread vanished".into()))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn panics_and_timeouts_fail_only_that_job() {
        let pool = CpuPool::new(2);
        let r: Result<(), _> = pool.run(Duration::from_secs(5), || panic!("boom")).await;
        assert_eq!(r, Err(ProcessError::Crashed("boom".into())));
        let r: Result<(), _> = pool
            .run(Duration::from_millis(50), || {
                std::thread::sleep(Duration::from_millis(500));
                Ok(())
            })
            .await;
        assert_eq!(r, Err(ProcessError::Timeout(0)));
        assert_eq!(pool.run(Duration::from_secs(5), || Ok(7)).await, Ok(7));
    }
}

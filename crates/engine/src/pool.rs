//! The threads that do the messages' CPU work (OpenSSL, MIME parsing):
//! one per core, fed by one queue. Tokio's blocking pool would run every
//! admitted message on a thread of its own (32 threads time-slicing two
//! cores, each hand-off a wake-up); here a thread that finishes takes the
//! next message at once, and the async threads only queue and await.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::{Error, Result};

/// Stack of each thread: what OpenSSL recurses through on bounded input,
/// with room to spare (as the service's runtime threads).
const STACK_BYTES: usize = 8 << 20;

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Pool {
    queue: mpsc::Sender<Job>,
}

impl Pool {
    /// `threads` threads, which end when the pool is dropped.
    pub(crate) fn new(threads: usize) -> Pool {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..threads.max(1) {
            let jobs = jobs.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("smimed-compute-{i}"))
                .stack_size(STACK_BYTES)
                .spawn(move || {
                    loop {
                        // Idle threads queue for the lock; the one holding it
                        // waits for the next job.
                        let job = match jobs.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        job();
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a compute thread");
            }
        }
        Pool { queue }
    }

    /// Runs `work` on one of the threads and returns its result.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.queue
            .send(Box::new(move || {
                let _ = done.send(catch_unwind(AssertUnwindSafe(work)));
            }))
            .map_err(|_| Error::Internal("the compute threads have stopped".into()))?;
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(Error::Internal("a computation failed: it panicked".into())),
            Err(_) => Err(Error::Internal(
                "a computation failed: no compute thread is running".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_off_the_caller_and_a_panic_is_an_error_not_a_lost_thread() {
        let pool = Pool::new(1);
        let caller = std::thread::current().id();
        let ran_on = pool.run(move || std::thread::current().id()).await.unwrap();
        assert_ne!(ran_on, caller);
        let panicked = pool.run(|| -> u32 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(Error::Internal(_))), "{panicked:?}");
        // The one thread is still there for the next job.
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }
}

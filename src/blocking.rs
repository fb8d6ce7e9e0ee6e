//! Blocking work (a keychain waiting for an unlock prompt, a file lock, a wait for etcd) off
//! the runtime thread. hsm's runtime has one thread: blocking it would stall every request in
//! flight, so such work runs on tokio's blocking pool, and the caller waits for it only up to
//! a deadline. A thread cannot be cancelled: work past its deadline runs on until it ends or
//! the process exits.

use std::time::Duration;

use crate::error::{CliError, Result};

/// What came of blocking work.
pub enum Waited<T> {
    Done(T),
    /// Not finished within the deadline; still running (its effects may still happen), and
    /// what it returns will be dropped.
    Late,
}

/// Run `op` on the blocking pool and wait for it up to `limit`, keeping the runtime thread
/// free to serve other tasks meanwhile.
pub async fn within<T: Send + 'static>(
    limit: Duration,
    op: impl FnOnce() -> T + Send + 'static,
) -> Result<Waited<T>> {
    let mut task = tokio::task::spawn_blocking(op);
    match tokio::time::timeout(limit, &mut task).await {
        Ok(Ok(value)) => Ok(Waited::Done(value)),
        Ok(Err(e)) => Err(CliError::bug(format!(
            "a credential store call failed: {e}"
        ))),
        Err(_) => Ok(Waited::Late),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    fn current_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A slow store call on the one runtime thread's behalf: another task keeps running.
    #[test]
    fn other_tasks_run_while_blocking_work_waits() {
        current_thread().block_on(async {
            let ticks = Arc::new(AtomicUsize::new(0));
            let counter = ticks.clone();
            let ticker = tokio::spawn(async move {
                loop {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            let seen = ticks.clone();
            let slow = within(Duration::from_secs(30), move || {
                let start = seen.load(Ordering::SeqCst);
                // Blocks its own thread until the ticker has advanced (proof that the runtime
                // thread is free), or gives up after 5 s.
                let until = std::time::Instant::now() + Duration::from_secs(5);
                while seen.load(Ordering::SeqCst) < start + 5 {
                    if std::time::Instant::now() > until {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                true
            });
            let Waited::Done(advanced) = slow.await.unwrap() else {
                panic!("late");
            };
            assert!(advanced, "no other task ran while the blocking work waited");
            ticker.abort();
        });
    }

    #[test]
    fn work_past_its_deadline_is_reported_late_and_runs_on() {
        current_thread().block_on(async {
            let finished = Arc::new(AtomicBool::new(false));
            let flag = finished.clone();
            let waited = within(Duration::from_millis(20), move || {
                std::thread::sleep(Duration::from_millis(200));
                flag.store(true, Ordering::SeqCst);
            })
            .await
            .unwrap();
            assert!(
                matches!(waited, Waited::Late),
                "reported before its deadline"
            );
            assert!(!finished.load(Ordering::SeqCst));
            let until = std::time::Instant::now() + Duration::from_secs(10);
            while !finished.load(Ordering::SeqCst) {
                assert!(
                    std::time::Instant::now() < until,
                    "the late work never ended"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
}

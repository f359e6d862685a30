//! The bound on API work in flight: at most `max_concurrent` requests run at once, at
//! most as many again wait for a turn, each for a short while; the rest are refused
//! with `Throttling` as AWS refuses a burst. Each running request holds a blocking
//! thread (see `lib.rs`), so the cap is also the bound on those threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use larder_model::Fault;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How the API bounds its input and its work.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Requests carried out at the same time.
    pub max_concurrent: usize,
    /// How long a request over the cap waits for a turn before it is throttled.
    pub queue_wait: Duration,
}

/// 1 MiB: the largest valid ElastiCache request (a CreateReplicationGroup with 500
/// node group configurations and 50 tags) is a few tens of KiB, and the bound times
/// the number of requests in flight is what a flood can make the daemon hold.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// Requests carried out at once by default: far above what one operator's tools
/// send, small enough that a flood of slow calls cannot exhaust threads or memory.
pub const DEFAULT_MAX_CONCURRENT: usize = 32;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            queue_wait: Duration::from_secs(1),
        }
    }
}

/// Hands out turns to run a request.
pub struct Gate {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    limits: Limits,
}

/// Decrements the waiting count however the wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn throttled() -> Fault {
    Fault::Throttling("Rate exceeded".into())
}

impl Gate {
    /// A gate for these limits.
    pub fn new(limits: Limits) -> Gate {
        Gate {
            running: Arc::new(Semaphore::new(limits.max_concurrent.max(1))),
            waiting: AtomicUsize::new(0),
            limits,
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A turn to run one request, or `Throttling` when the queue is full or the
    /// wait runs out.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Fault> {
        if let Ok(p) = self.running.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.max_concurrent {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(throttled());
        }
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(self.limits.queue_wait, self.running.clone().acquire_owned())
            .await
        {
            Ok(Ok(p)) => Ok(p),
            _ => Err(throttled()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn over_the_cap_waits_then_is_throttled() {
        let gate = Gate::new(Limits {
            max_concurrent: 1,
            queue_wait: Duration::from_millis(10),
            ..Limits::default()
        });
        let held = gate.enter().await.unwrap();
        assert_eq!(gate.enter().await.unwrap_err(), throttled());
        drop(held);
        let again = gate.enter().await.unwrap();
        drop(again);
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_full_queue_throttles_at_once() {
        let gate = Arc::new(Gate::new(Limits {
            max_concurrent: 1,
            queue_wait: Duration::from_secs(3600),
            ..Limits::default()
        }));
        let held = gate.enter().await.unwrap();
        let g = gate.clone();
        let queued = tokio::spawn(async move { g.enter().await.map(drop) });
        while gate.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.enter().await.unwrap_err(), throttled());
        drop(held);
        queued.await.unwrap().unwrap();
    }
}

//! How often a failing node step is tried again and when it is given up: a few
//! attempts with exponential backoff, capped, then a terminal failed state. Pure: the
//! caller records the attempt count and the time of the next try in the store, so a
//! restarted daemon continues the same count and keeps waiting out the same backoff.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The attempts a node step gets and the pauses between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// The pause after the first failed attempt; each later one doubles it.
    pub first_backoff: Duration,
    /// The longest pause between two attempts.
    pub max_backoff: Duration,
}

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again, not before `at`; `attempts` have failed so far.
    Retry {
        /// Failed attempts so far, this one included.
        attempts: u32,
        /// The pause before the next attempt.
        backoff: Duration,
        /// When the next attempt is due.
        at: DateTime<Utc>,
    },
    /// Every attempt failed: the step ends in its terminal failed state.
    GiveUp {
        /// Failed attempts in all.
        attempts: u32,
    },
}

impl Default for RetryPolicy {
    /// Eight attempts 2 s, 4 s, ... 60 s apart: about three minutes of pauses before a
    /// create is given up, the order of time after which ElastiCache reports a failed
    /// create, and long enough to ride out a port or disk that frees up meanwhile.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The pause after `failed` failed attempts (1 for the first failure).
    pub fn backoff(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(31);
        self.first_backoff
            .checked_mul(1 << doublings)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// The decision once an attempt failed, given the failures recorded before it.
    pub fn after_failure(&self, failed_before: u32, now: DateTime<Utc>) -> AfterFailure {
        let attempts = failed_before.saturating_add(1);
        if attempts >= self.max_attempts.max(1) {
            return AfterFailure::GiveUp { attempts };
        }
        let backoff = self.backoff(attempts);
        // A pause too long for chrono (never with sane settings) waits the longest it can.
        let pause = chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::MAX);
        let at = now
            .checked_add_signed(pause)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        AfterFailure::Retry {
            attempts,
            backoff,
            at,
        }
    }

    /// True when a step whose next attempt is due at `retry_at` may run at `now`.
    pub fn due(retry_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        retry_at.is_none_or(|at| at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_doubles_then_stays_at_the_cap() {
        let p = policy(8);
        let pauses: Vec<u64> = (1..=8).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(pauses, [2, 4, 8, 16, 32, 60, 60, 60]);
        // No overflow however many failures were recorded.
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn the_default_waits_a_few_minutes_in_all_before_giving_up() {
        let p = RetryPolicy::default();
        let total: Duration = (1..p.max_attempts).map(|n| p.backoff(n)).sum();
        assert_eq!(total, Duration::from_secs(2 + 4 + 8 + 16 + 32 + 60 + 60));
    }

    #[test]
    fn the_last_attempt_gives_up_and_earlier_ones_retry_later() {
        let p = policy(3);
        let now = Utc::now();
        match p.after_failure(0, now) {
            AfterFailure::Retry { attempts, at, .. } => {
                assert_eq!(attempts, 1);
                assert_eq!(at - now, chrono::Duration::seconds(2));
            }
            other => panic!("{other:?}"),
        }
        match p.after_failure(1, now) {
            AfterFailure::Retry { attempts, at, .. } => {
                assert_eq!(attempts, 2);
                assert_eq!(at - now, chrono::Duration::seconds(4));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            p.after_failure(2, now),
            AfterFailure::GiveUp { attempts: 3 }
        );
        // A count beyond the limit (the limit was lowered meanwhile) gives up at once.
        assert_eq!(
            p.after_failure(7, now),
            AfterFailure::GiveUp { attempts: 8 }
        );
    }

    #[test]
    fn a_single_attempt_never_retries() {
        for max in [0, 1] {
            let p = policy(max);
            assert_eq!(
                p.after_failure(0, Utc::now()),
                AfterFailure::GiveUp { attempts: 1 }
            );
        }
    }

    #[test]
    fn a_step_is_due_once_its_backoff_passed() {
        let now = Utc::now();
        assert!(RetryPolicy::due(None, now));
        assert!(RetryPolicy::due(Some(now), now));
        assert!(!RetryPolicy::due(
            Some(now + chrono::Duration::milliseconds(1)),
            now
        ));
    }
}

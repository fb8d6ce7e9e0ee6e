//! One retry policy for everything hsm retries: API calls, token refreshes, and the write of a
//! rotated refresh token. Exponential backoff with jitter, so that calls which failed together
//! (an import's concurrent requests, parallel CI jobs) do not all come back at the same moment.
//!
//! Our own rather than `backon`: every caller decides per failure whether to retry at all (a
//! request whose answer was lost is not resent) and how long to wait (a server's
//! `Retry-After` wins over the backoff, the API client caps it and pauses every call in flight
//! on a 429). Here that is a plain loop around `Backoff::next()`; with backon it would be
//! closures and adapters around its `Retryable`, for the same thirty lines. The jitter comes
//! from `fastrand`, already in the tree through tempfile.
//!
//! Whether a failure may be retried at all is one table, in `resend`: what an attempt came to
//! (not sent, sent and lost, answered) against whether the request is idempotent.

use std::time::Duration;

mod resend;
pub use resend::{Attempt, Effect, Status};

/// How often to retry, and how long to wait before the first retry (doubling after each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Retries after the first attempt.
    pub retries: u32,
    pub first_delay: Duration,
}

impl Policy {
    /// API calls: 4 retries from 200 ms.
    pub const API: Policy = Policy {
        retries: 4,
        first_delay: Duration::from_millis(200),
    };
    /// Token refreshes: 3 retries from 250 ms.
    pub const TOKEN_REFRESH: Policy = Policy {
        retries: 3,
        first_delay: Duration::from_millis(250),
    };
    /// Keeping a rotated refresh token (a keychain can be briefly busy): 2 retries from 100 ms.
    pub const STORE_WRITE: Policy = Policy {
        retries: 2,
        first_delay: Duration::from_millis(100),
    };

    pub fn backoff(self) -> Backoff {
        Backoff {
            policy: self,
            done: 0,
        }
    }
}

/// The pauses of one operation's retries.
#[derive(Debug)]
pub struct Backoff {
    policy: Policy,
    done: u32,
}

impl Iterator for Backoff {
    type Item = Duration;

    /// The pause before the next retry, or None once the retries are spent. The nominal delay
    /// doubles each time; the pause is drawn between one half and one and a half times it, so
    /// the mean stays the nominal delay.
    fn next(&mut self) -> Option<Duration> {
        if self.done >= self.policy.retries {
            return None;
        }
        let nominal = self.policy.first_delay * 2u32.saturating_pow(self.done);
        self.done += 1;
        Some(nominal.mul_f64(0.5 + fastrand::f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_counted_and_pauses_double_around_the_nominal_delay() {
        let pauses: Vec<Duration> = Policy::API.backoff().collect();
        assert_eq!(pauses.len(), 4);
        for (i, pause) in pauses.iter().enumerate() {
            let nominal = Duration::from_millis(200) * 2u32.pow(i as u32);
            assert!(
                *pause >= nominal / 2 && *pause < nominal * 3 / 2,
                "{i}: {pause:?}"
            );
        }
        assert_eq!(Policy::TOKEN_REFRESH.backoff().count(), 3);
        assert_eq!(Policy::STORE_WRITE.backoff().count(), 2);
    }

    #[test]
    fn pauses_are_jittered() {
        let a: Vec<Duration> = Policy::API.backoff().collect();
        let b: Vec<Duration> = (0..8).flat_map(|_| Policy::API.backoff().take(1)).collect();
        assert!(b.iter().any(|p| *p != a[0]), "{a:?} {b:?}");
    }
}

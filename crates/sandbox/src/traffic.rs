//! `/v2` traffic shaping and measuring: the `--rate-limit` token bucket, and the arrival window
//! behind `api_max_per_second`. Plain data driven by the caller's clock, so the math is tested
//! without sleeping.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// The busiest one-second window is measured over arrivals this far apart at most.
const WINDOW: Duration = Duration::from_secs(1);

/// One token, in the bucket's unit: a billionth of a token, so that a nanosecond at `rate`
/// tokens per second refills exactly `rate` units and no float rounding creeps in.
const TOKEN: u128 = 1_000_000_000;

/// A token bucket of capacity `rate` refilled at `rate` tokens per second: a burst of `rate`
/// requests passes at once, then one request every `1/rate` seconds.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: u128,
    /// In billionths of a token.
    level: u128,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(rate: NonZeroU32, now: Instant) -> Self {
        let rate = u128::from(rate.get());
        TokenBucket {
            rate,
            level: rate * TOKEN,
            refilled_at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        // An instant before the last refill (clocks read out of order) adds nothing.
        let elapsed = now.saturating_duration_since(self.refilled_at).as_nanos();
        let capacity = self.rate * TOKEN;
        self.level = elapsed
            .saturating_mul(self.rate)
            .saturating_add(self.level)
            .min(capacity);
        self.refilled_at = self.refilled_at.max(now);
    }

    /// Takes a token, or says how long until one is there (a refusal takes nothing).
    pub(crate) fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.level >= TOKEN {
            self.level -= TOKEN;
            return Ok(());
        }
        let nanos = (TOKEN - self.level).div_ceil(self.rate);
        Err(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))
    }
}

/// `Retry-After` for a wait: whole seconds, rounded up (a client that waits the header's value
/// must find a token), and at least 1 (0 would invite an immediate retry storm).
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The arrivals of the last second, and the most seen in any one-second window `[t, t+1s)`.
/// Memory is bounded by what the server can accept in one second.
#[derive(Debug, Default)]
pub(crate) struct ArrivalWindow {
    recent: VecDeque<Instant>,
    max: u64,
}

impl ArrivalWindow {
    /// Records an arrival; returns the most arrivals seen in one window so far. The busiest
    /// window can always be slid to end just after one of its arrivals, so checking the second
    /// before each arrival finds it.
    pub(crate) fn arrive(&mut self, now: Instant) -> u64 {
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.max = self.max.max(self.recent.len() as u64);
        self.max
    }

    /// Forgets every arrival: the next window starts empty.
    pub(crate) fn reset(&mut self) {
        self.recent.clear();
        self.max = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn rate(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    #[test]
    fn a_full_bucket_passes_a_burst_of_its_capacity_then_refuses() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(5), t0);
        for _ in 0..5 {
            assert_eq!(bucket.try_take(t0), Ok(()));
        }
        let wait = bucket.try_take(t0).expect_err("empty");
        assert_eq!(wait, ms(200), "one token every 1/5 s");
        // A refused request takes nothing: the wait shrinks with time only.
        assert_eq!(bucket.try_take(t0 + ms(50)), Err(ms(150)));
    }

    #[test]
    fn refill_is_proportional_to_time_and_capped_at_capacity() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(4), t0);
        for _ in 0..4 {
            bucket.try_take(t0).expect("full");
        }
        // 0.5 s at 4/s: two tokens.
        let t1 = t0 + ms(500);
        assert_eq!(bucket.try_take(t1), Ok(()));
        assert_eq!(bucket.try_take(t1), Ok(()));
        assert!(bucket.try_take(t1).is_err());
        // An hour idle refills to 4, not 14,400.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..4 {
            assert_eq!(bucket.try_take(t2), Ok(()));
        }
        assert!(bucket.try_take(t2).is_err());
        // A clock read out of order neither panics nor refills.
        assert!(bucket.try_take(t1).is_err());
    }

    #[test]
    fn rates_that_do_not_divide_a_second_are_exact() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(3), t0);
        for _ in 0..3 {
            bucket.try_take(t0).expect("full");
        }
        let wait = bucket.try_take(t0).expect_err("empty");
        assert_eq!(wait, Duration::from_nanos(333_333_334), "rounded up");
        assert_eq!(bucket.try_take(t0 + wait), Ok(()));
        // Three seconds later, three tokens: no drift from rounding.
        let t1 = t0 + Duration::from_secs(3);
        for _ in 0..3 {
            assert_eq!(bucket.try_take(t1), Ok(()));
        }
        assert!(bucket.try_take(t1).is_err());
    }

    #[test]
    fn a_slow_rate_waits_more_than_a_second() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate(1), t0);
        bucket.try_take(t0).expect("full");
        let wait = bucket.try_take(t0 + ms(100)).expect_err("empty");
        assert_eq!(wait, ms(900));
        assert_eq!(retry_after_secs(wait), 1);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_secs(ms(999)), 1);
        assert_eq!(retry_after_secs(ms(1000)), 1);
        assert_eq!(retry_after_secs(ms(1001)), 2);
        assert_eq!(retry_after_secs(ms(2500)), 3);
    }

    #[test]
    fn the_window_counts_arrivals_less_than_a_second_apart() {
        let t0 = Instant::now();
        let mut window = ArrivalWindow::default();
        for i in 0..5 {
            assert_eq!(window.arrive(t0 + ms(i * 100)), i + 1);
        }
        // At t0 + 1 s the arrival at t0 has left the window [t0 + 1 ms, t0 + 1 s].
        assert_eq!(window.arrive(t0 + ms(1000)), 5);
        assert_eq!(window.recent.len(), 5);
        // A quiet spell empties it; the maximum stays.
        assert_eq!(window.arrive(t0 + ms(5000)), 5);
        assert_eq!(window.recent.len(), 1);
        window.reset();
        assert_eq!(window.arrive(t0 + ms(5001)), 1);
    }

    #[test]
    fn the_window_finds_a_burst_that_straddles_a_second_boundary() {
        let t0 = Instant::now();
        let mut window = ArrivalWindow::default();
        // 3 arrivals late in one second, 3 early in the next: 6 within 200 ms.
        for at in [900, 950, 999, 1000, 1050, 1100] {
            window.arrive(t0 + ms(at));
        }
        assert_eq!(window.max, 6);
    }
}

//! The concurrency limit: how many requests may be out at once, adapted as TCP adapts its
//! congestion window (AIMD). It starts at the ceiling (`--concurrency`): slow start would spend
//! several round trips of 40-100 ms on every run, and the ceiling is what the operator allows.
//! It halves on a 429 or 503 and shrinks by a fifth when answers slow down (queueing at the
//! server), at most once per round trip so that one burst of bad answers counts once; then it
//! grows back by one per round trip of fast answers, while every slot is in use.
//!
//! AIMD rather than a gradient limiter (Netflix's concurrency-limits): its behaviour fits in
//! the paragraph above, it needs no tuning of smoothing and queue constants, and it holds a
//! steady limit against a server whose latency is fixed (a gradient limiter keeps probing
//! there). Rate limits are the rate governor's job (`rate.rs`): against a fast server even
//! one request at a time can exceed a quota, so concurrency alone cannot respect it.

use std::time::{Duration, Instant};

/// Shrink to this share of the limit on a 429 or 503.
const THROTTLED_FACTOR: f64 = 0.5;
/// Shrink to this share when answers slow down.
const SLOW_FACTOR: f64 = 0.8;
/// Answers are "slow" when the smoothed latency is over this multiple of the fastest recent
/// one, and by more than `SLOW_SLACK` (so a 1 ms local round trip that becomes 3 ms on a busy
/// laptop is not congestion).
const SLOW_MULTIPLE: f64 = 2.0;
const SLOW_SLACK: Duration = Duration::from_millis(10);
/// The fastest latency is the minimum over the last one to two of these periods, so a
/// server that became slower for good sets a new baseline instead of shrinking the limit
/// forever.
const BASELINE_PERIOD: Duration = Duration::from_secs(10);

/// Why the limit shrank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    Throttled,
    Slow,
}

/// A shrink of the limit, for the `-v` trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shrink {
    pub before: usize,
    pub after: usize,
    pub why: Why,
}

/// A change of the limit worth a `-v` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Shrank(Shrink),
    /// Grown back to the ceiling.
    Recovered(usize),
}

#[derive(Debug)]
pub(super) struct Window {
    limit: f64,
    ceiling: f64,
    latency: Latency,
    /// When it last shrank: bad answers to requests sent before then are the same trouble,
    /// already acted on (TCP's one reduction per window).
    last_shrink: Option<Instant>,
}

impl Window {
    pub(super) fn new(ceiling: usize) -> Window {
        let ceiling = ceiling.max(1) as f64;
        Window {
            limit: ceiling,
            ceiling,
            latency: Latency::default(),
            last_shrink: None,
        }
    }

    pub(super) fn limit(&self) -> usize {
        self.limit.clamp(1.0, self.ceiling) as usize
    }

    pub(super) fn ceiling(&self) -> usize {
        self.ceiling as usize
    }

    /// An answer (any status but 429/503) after `rtt`. `window_full`: the request was sent
    /// with every slot of the window in use; growing a window that is not used would only
    /// let a later burst through.
    pub(super) fn on_answer(
        &mut self,
        now: Instant,
        sent: Instant,
        window_full: bool,
    ) -> Option<Change> {
        self.latency.sample(now, now.duration_since(sent));
        if self.latency.is_slow() {
            return self
                .shrink(now, sent, SLOW_FACTOR, Why::Slow)
                .map(Change::Shrank);
        }
        if window_full && self.limit < self.ceiling {
            self.limit = (self.limit + 1.0 / self.limit).min(self.ceiling);
            if self.limit >= self.ceiling {
                return Some(Change::Recovered(self.limit()));
            }
        }
        None
    }

    /// A 429, or a 503: the server says it is overloaded.
    pub(super) fn on_throttled(&mut self, now: Instant, sent: Instant) -> Option<Shrink> {
        self.shrink(now, sent, THROTTLED_FACTOR, Why::Throttled)
    }

    /// Shrink for trouble met by a request sent at `sent`; a shrink that changes nothing (at
    /// one already) is not reported.
    fn shrink(&mut self, now: Instant, sent: Instant, factor: f64, why: Why) -> Option<Shrink> {
        if self.last_shrink.is_some_and(|at| sent < at) {
            return None;
        }
        self.last_shrink = Some(now);
        let before = self.limit();
        self.limit = (self.limit * factor).max(1.0);
        let after = self.limit();
        (after < before).then_some(Shrink { before, after, why })
    }
}

/// Smoothed latency (as TCP's SRTT, gain 1/8) against the fastest recent one.
#[derive(Debug, Default)]
struct Latency {
    smoothed: Option<Duration>,
    /// Minimum of the current period, and of the one before.
    current_min: Option<Duration>,
    previous_min: Option<Duration>,
    period_started: Option<Instant>,
}

impl Latency {
    fn sample(&mut self, now: Instant, rtt: Duration) {
        self.smoothed = Some(match self.smoothed {
            None => rtt,
            Some(s) => s.mul_f64(7.0 / 8.0) + rtt.mul_f64(1.0 / 8.0),
        });
        let started = *self.period_started.get_or_insert(now);
        if now.duration_since(started) >= BASELINE_PERIOD {
            self.previous_min = self.current_min.take();
            self.period_started = Some(now);
        }
        self.current_min = Some(self.current_min.map_or(rtt, |m| m.min(rtt)));
    }

    fn fastest(&self) -> Option<Duration> {
        match (self.current_min, self.previous_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn is_slow(&self) -> bool {
        let (Some(smoothed), Some(fastest)) = (self.smoothed, self.fastest()) else {
            return false;
        };
        smoothed > fastest.mul_f64(SLOW_MULTIPLE) && smoothed > fastest + SLOW_SLACK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feed `n` answers of `rtt`, each sent with the window full, one millisecond apart.
    /// ... and return the shrinks among the changes.
    fn answers(w: &mut Window, at: &mut Instant, n: usize, rtt: Duration) -> Vec<Shrink> {
        let mut shrinks = Vec::new();
        for _ in 0..n {
            *at += MS;
            if let Some(Change::Shrank(s)) = w.on_answer(*at, *at - rtt, true) {
                shrinks.push(s);
            }
        }
        shrinks
    }

    #[test]
    fn starts_at_the_ceiling_and_stays_there_while_answers_are_fast() {
        let mut w = Window::new(16);
        let mut at = Instant::now();
        assert_eq!(w.limit(), 16);
        assert!(answers(&mut w, &mut at, 1000, 40 * MS).is_empty());
        assert_eq!(w.limit(), 16);
    }

    #[test]
    fn an_unused_window_does_not_grow() {
        let mut w = Window::new(16);
        let mut at = Instant::now();
        w.on_throttled(at, at - 5 * MS);
        assert_eq!(w.limit(), 8);
        for _ in 0..100 {
            at += 100 * MS;
            w.on_answer(at, at - 5 * MS, false);
        }
        assert_eq!(w.limit(), 8);
    }

    #[test]
    fn a_burst_of_429s_halves_the_limit_once_then_it_grows_back_one_per_round_trip() {
        let mut w = Window::new(16);
        let mut at = Instant::now();
        answers(&mut w, &mut at, 15, 10 * MS);
        // Sixteen 429s to requests sent together, answered over a few milliseconds.
        let sent = at - 10 * MS;
        let shrinks: Vec<Shrink> = (0..16u32)
            .filter_map(|i| w.on_throttled(at + i * MS, sent))
            .collect();
        assert_eq!(
            shrinks,
            vec![Shrink {
                before: 16,
                after: 8,
                why: Why::Throttled
            }]
        );
        // Additive growth: one round trip of answers (eight or nine at 8) adds one.
        at += 100 * MS;
        answers(&mut w, &mut at, 7, 10 * MS);
        assert_eq!(w.limit(), 8);
        answers(&mut w, &mut at, 2, 10 * MS);
        assert_eq!(w.limit(), 9);
        answers(&mut w, &mut at, 200, 10 * MS);
        assert_eq!(w.limit(), 16);
        assert_eq!(
            w.on_answer(at, at - 10 * MS, true),
            None,
            "said once, at the ceiling"
        );
        // A 429 to a request sent after the shrink counts again.
        at += 100 * MS;
        assert!(w.on_throttled(at, at - 10 * MS).is_some());
    }

    #[test]
    fn answers_that_slow_down_shrink_the_limit_and_a_new_normal_becomes_the_baseline() {
        let mut w = Window::new(16);
        let mut at = Instant::now();
        answers(&mut w, &mut at, 15, 20 * MS);
        let shrinks = answers(&mut w, &mut at, 30, 200 * MS);
        assert!(!shrinks.is_empty());
        assert!(shrinks.iter().all(|s| s.why == Why::Slow));
        let shrunk = w.limit();
        assert!(shrunk < 16, "{shrunk}");
        // Twenty seconds later the slow latency is the baseline: the limit grows again.
        at += BASELINE_PERIOD * 2;
        answers(&mut w, &mut at, 2, 200 * MS);
        at += BASELINE_PERIOD;
        answers(&mut w, &mut at, 400, 200 * MS);
        assert!(w.limit() > shrunk, "{} <= {shrunk}", w.limit());
    }

    #[test]
    fn jitter_on_a_fast_local_server_is_not_congestion() {
        let mut w = Window::new(16);
        let mut at = Instant::now();
        answers(&mut w, &mut at, 15, MS);
        // 1 ms becomes 4-6 ms on a busy machine: under the 10 ms slack.
        let shrinks = answers(&mut w, &mut at, 200, 6 * MS);
        assert!(shrinks.is_empty(), "{shrinks:?}");
        assert_eq!(w.limit(), 16);
    }
}

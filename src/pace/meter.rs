//! Counts events over a sliding window of time: the answers of the last second (what the
//! server accepted, for the rate governor) and the throughput shown on the progress line.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Event instants within the last `span`; older ones are dropped as new ones arrive, so the
/// memory is bounded by the rate times the span.
#[derive(Debug)]
pub(super) struct Meter {
    span: Duration,
    times: VecDeque<Instant>,
}

impl Meter {
    pub(super) fn new(span: Duration) -> Meter {
        Meter {
            span,
            times: VecDeque::new(),
        }
    }

    pub(super) fn record(&mut self, now: Instant) {
        self.prune(now);
        self.times.push_back(now);
    }

    /// Events in the last `within` (at most the meter's span).
    pub(super) fn count_within(&mut self, now: Instant, within: Duration) -> usize {
        self.prune(now);
        let since = now.checked_sub(within.min(self.span));
        match since {
            Some(since) => self.times.len() - self.times.partition_point(|t| *t < since),
            None => self.times.len(),
        }
    }

    /// Events per second over the whole span.
    pub(super) fn per_second(&mut self, now: Instant) -> f64 {
        self.count_within(now, self.span) as f64 / self.span.as_secs_f64()
    }

    fn prune(&mut self, now: Instant) {
        while let Some(first) = self.times.front() {
            if now.duration_since(*first) < self.span {
                break;
            }
            self.times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_the_events_inside_the_window() {
        let start = Instant::now();
        let mut meter = Meter::new(Duration::from_secs(2));
        for ms in [0, 100, 900, 1500, 1900] {
            meter.record(start + Duration::from_millis(ms));
        }
        let now = start + Duration::from_millis(2000);
        assert_eq!(meter.count_within(now, Duration::from_secs(1)), 2);
        assert_eq!(meter.count_within(now, Duration::from_secs(2)), 4);
        assert!((meter.per_second(now) - 2.0).abs() < 1e-9);
        // Old events are dropped, not kept forever.
        assert_eq!(meter.times.len(), 4);
    }
}

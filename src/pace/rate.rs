//! The rate governor: requests per second, spaced evenly so that a known limit is never
//! exceeded in a burst. The limit is the operator's `--rate`, or one learned from the
//! server's 429s: on a 429 the pace drops below what the server accepted in the last second,
//! then creeps up again while sends keep waiting for their turn, probing for a higher limit
//! (additive increase, multiplicative decrease, per second rather than per round trip).

use std::time::{Duration, Instant};

/// After a 429, the pace drops to this share of what the server accepted in the last second.
const DECREASE: f64 = 0.9;
/// Each second without a 429 in which the pace held sends back, it grows by this share
/// (at least one request per second).
const INCREASE: f64 = 0.02;
/// One reaction per this period: the 429s of one overshoot arrive together.
const CALM: Duration = Duration::from_secs(1);
/// `--rate` is kept with this margin, so that a send delayed by the scheduler and the next
/// one sent on time still fit in any one-second window at the server.
const CAP_MARGIN: f64 = 0.98;
/// The slowest pace hsm goes to on its own: one request every ten seconds.
const FLOOR: f64 = 0.1;

#[derive(Debug)]
pub(super) struct Governor {
    /// `--rate`, requests per second.
    cap: Option<f64>,
    /// Learned from 429s.
    learned: Option<f64>,
    /// When the next send may go.
    next_free: Option<Instant>,
    calm_until: Option<Instant>,
    /// The start of the current growth period, and whether a send waited in it.
    period_started: Option<Instant>,
    held_back: bool,
}

impl Governor {
    pub(super) fn new(cap: Option<f64>) -> Governor {
        Governor {
            cap: cap.filter(|c| c.is_finite() && *c > 0.0),
            learned: None,
            next_free: None,
            calm_until: None,
            period_started: None,
            held_back: false,
        }
    }

    /// Requests per second now in force, if any.
    pub(super) fn rate(&self) -> Option<f64> {
        let cap = self.cap.map(|c| c * CAP_MARGIN);
        match (cap, self.learned) {
            (Some(c), Some(l)) => Some(c.min(l)),
            (c, l) => c.or(l),
        }
    }

    /// Whether a send may go at `now`. If so it counts as sent then, and the next one may go
    /// 1/rate after it; otherwise the moment to ask again. Spacing runs from when a send
    /// actually went, never from a slot booked in advance: a process that stalled (a busy
    /// CPU, a suspended VM) and wakes late does not catch up on the slots it missed in one
    /// burst. The caller lets one send at a time ask (see `Pace::slot`).
    pub(super) fn try_send(&mut self, now: Instant) -> Result<(), Instant> {
        let Some(rate) = self.rate() else {
            return Ok(());
        };
        if let Some(free) = self.next_free.filter(|free| *free > now) {
            self.held_back = true;
            return Err(free);
        }
        self.next_free = Some(now + Duration::from_secs_f64(1.0 / rate));
        Ok(())
    }

    /// A 429. `accepted_last_second`: answers other than 429 in the last second. Returns the
    /// new pace when this 429 changed it.
    pub(super) fn on_throttled(
        &mut self,
        now: Instant,
        accepted_last_second: usize,
    ) -> Option<f64> {
        // Nothing accepted in the last second (the run's first answers, or a server refusing
        // everything) is no evidence of a rate: the window shrinks and each refused request
        // waits its own Retry-After, which paces the run without a guess.
        if accepted_last_second == 0 || self.calm_until.is_some_and(|until| now < until) {
            return None;
        }
        let accepted = accepted_last_second as f64;
        let base = self.learned.map_or(accepted, |l| l.min(accepted));
        let mut learned = (base * DECREASE).max(FLOOR);
        if let Some(cap) = self.cap {
            learned = learned.min(cap);
        }
        self.learned = Some(learned);
        self.calm_until = Some(now + CALM);
        self.period_started = Some(now);
        self.held_back = false;
        self.rate()
    }

    /// Called on every answer: once a second, grow a learned pace that held sends back.
    pub(super) fn on_answer(&mut self, now: Instant) {
        let Some(learned) = self.learned else {
            return;
        };
        let started = *self.period_started.get_or_insert(now);
        if now.duration_since(started) < Duration::from_secs(1) {
            return;
        }
        if self.held_back {
            let grown = learned + (learned * INCREASE).max(1.0);
            self.learned = Some(self.cap.map_or(grown, |cap| grown.min(cap)));
        }
        self.period_started = Some(now);
        self.held_back = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// `n` sends by one caller asking from `start` on, each again at the moment it was told.
    fn send_when_allowed(g: &mut Governor, start: Instant, n: usize) -> Vec<Instant> {
        let mut at = start;
        let mut sent = Vec::new();
        while sent.len() < n {
            match g.try_send(at) {
                Ok(()) => sent.push(at),
                Err(later) => {
                    assert!(later > at);
                    at = later;
                }
            }
        }
        sent
    }

    #[test]
    fn a_send_that_goes_late_pushes_the_next_ones_back_instead_of_being_caught_up() {
        let mut g = Governor::new(Some(25.0));
        let start = Instant::now();
        assert_eq!(g.try_send(start), Ok(()));
        let Err(due) = g.try_send(start) else {
            panic!("the second send waits")
        };
        // The caller woke half a second after its turn (the process stalled): it goes then,
        // and the one after it a full interval later, not at once for the missed turns.
        let late = due + 500 * MS;
        assert_eq!(g.try_send(late), Ok(()));
        let interval = Duration::from_secs_f64(1.0 / (25.0 * CAP_MARGIN));
        assert_eq!(g.try_send(late), Err(late + interval));
    }

    #[test]
    fn no_limit_means_no_wait() {
        let mut g = Governor::new(None);
        let now = Instant::now();
        assert_eq!(g.rate(), None);
        for _ in 0..100 {
            assert_eq!(g.try_send(now), Ok(()));
        }
    }

    #[test]
    fn a_cap_spaces_sends_so_no_second_holds_more_than_the_cap() {
        let mut g = Governor::new(Some(50.0));
        let start = Instant::now();
        let slots = send_when_allowed(&mut g, start, 200);
        for (i, slot) in slots.iter().enumerate() {
            let in_window = slots[i..]
                .iter()
                .take_while(|s| s.duration_since(*slot) < Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 50,
                "{in_window} sends within a second of slot {i}"
            );
        }
        let span = slots[199].duration_since(slots[0]).as_secs_f64();
        let rate = 199.0 / span;
        assert!((47.5..=50.0).contains(&rate), "{rate}");
    }

    #[test]
    fn a_429_sets_the_pace_under_what_the_server_accepted_and_counts_once_per_burst() {
        let mut g = Governor::new(None);
        let now = Instant::now();
        assert_eq!(g.on_throttled(now, 105), Some(105.0 * DECREASE));
        assert_eq!(g.on_throttled(now + 10 * MS, 105), None);
        // Later, the server accepted fewer: the pace follows it down.
        assert_eq!(g.on_throttled(now + 2000 * MS, 40), Some(40.0 * DECREASE));
    }

    #[test]
    fn a_429_before_anything_was_accepted_sets_no_pace() {
        let mut g = Governor::new(None);
        assert_eq!(g.on_throttled(Instant::now(), 0), None);
        assert_eq!(g.rate(), None);
    }

    #[test]
    fn a_learned_pace_grows_only_while_it_holds_sends_back_and_never_past_the_cap() {
        let mut g = Governor::new(Some(100.0));
        let start = Instant::now();
        g.on_throttled(start, 100);
        let learned = g.rate().unwrap();
        // A second in which nobody waited: no growth.
        g.on_answer(start + 1100 * MS);
        assert_eq!(g.rate(), Some(learned));
        // A second in which sends queued up: growth.
        let mut at = start + 1200 * MS;
        for _ in 0..10 {
            let _ = g.try_send(at);
        }
        at += 1000 * MS;
        g.on_answer(at);
        let grown = g.rate().unwrap();
        assert!(grown > learned, "{grown} <= {learned}");
        for _ in 0..100 {
            // Two sends at once: the second waits for its turn.
            assert_eq!(g.try_send(at), Ok(()));
            assert!(g.try_send(at).is_err());
            at += 1000 * MS;
            g.on_answer(at);
        }
        assert_eq!(g.rate(), Some(100.0 * CAP_MARGIN));
    }
}

//! Bulk work at the server's pace: how many requests import and sync keep in flight
//! (`window.rs`, between 1 and `--concurrency`) and how fast they send (`rate.rs`, `--rate`
//! or a pace learned from 429s). The API client asks for a slot before every attempt and
//! reports every answer; the bulk drivers ask how many rows may be in flight.

mod meter;
mod rate;
mod window;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::output::Printer;
use meter::Meter;
use rate::Governor;
use window::{Shrink, Why, Window};

/// How one attempt ended, as far as pacing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A 429: over the server's rate limit.
    RateLimited,
    /// A 503: the server is overloaded.
    Overloaded,
    /// Any other answer; its latency counts.
    Answered,
    /// No answer (a failed connection, a lost answer): says nothing about the pace.
    NoAnswer,
}

/// The pace of one bulk run, shared by its requests. `Pace::unpaced()` for single calls.
#[derive(Clone)]
pub struct Pace(Option<Arc<Shared>>);

struct Shared {
    state: Mutex<State>,
    printer: Printer,
}

struct State {
    window: Window,
    governor: Governor,
    /// Answers other than 429, for the rate learned from a 429 and the progress line.
    accepted: Meter,
    /// Requests sent and not yet answered.
    sending: usize,
}

/// What the progress line shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub limit: usize,
    pub ceiling: usize,
    /// Answers per second over the last few seconds.
    pub throughput: f64,
    /// The pace in force (requests per second), if any.
    pub rate: Option<f64>,
}

/// The span over which the progress line's throughput is averaged.
const THROUGHPUT_SPAN: Duration = Duration::from_secs(3);

/// A request on its way: taken before an attempt is sent, handed back with its outcome.
pub struct Sending {
    pace: Option<Arc<Shared>>,
    sent: Instant,
}

impl Pace {
    /// No limit and no pacing: a single call, `hsm api`, a login.
    pub fn unpaced() -> Pace {
        Pace(None)
    }

    /// A bulk run: up to `ceiling` requests in flight, at most `rate` per second if given.
    pub fn new(ceiling: usize, rate: Option<f64>, printer: Printer) -> Pace {
        Pace(Some(Arc::new(Shared {
            state: Mutex::new(State {
                window: Window::new(ceiling),
                governor: Governor::new(rate),
                accepted: Meter::new(THROUGHPUT_SPAN),
                sending: 0,
            }),
            printer,
        })))
    }

    /// How many rows a bulk driver may have in flight now.
    pub fn limit(&self) -> usize {
        self.0
            .as_ref()
            .map_or(usize::MAX, |shared| shared.state().window.limit())
    }

    /// Wait for this attempt's turn under the pace, then count it as sent.
    pub async fn slot(&self) -> Sending {
        let Some(shared) = &self.0 else {
            return Sending {
                pace: None,
                sent: Instant::now(),
            };
        };
        let at = shared.state().governor.reserve(Instant::now());
        tokio::time::sleep_until(at.into()).await;
        shared.state().sending += 1;
        Sending {
            pace: Some(shared.clone()),
            sent: Instant::now(),
        }
    }

    /// What the progress line shows; None for an unpaced client.
    pub fn snapshot(&self) -> Option<Snapshot> {
        let shared = self.0.as_ref()?;
        let mut state = shared.state();
        let now = Instant::now();
        Some(Snapshot {
            limit: state.window.limit(),
            ceiling: state.window.ceiling(),
            throughput: state.accepted.per_second(now),
            rate: state.governor.rate(),
        })
    }
}

impl Sending {
    /// The attempt's outcome: adapts the window and the pace.
    pub fn done(mut self, signal: Signal) {
        let Some(shared) = self.pace.take() else {
            return;
        };
        let now = Instant::now();
        let mut state = shared.state();
        // Every slot of the window was in use when this answer came: the window is what
        // limits the run, and may grow. (Judged at the answer, not at the send: the requests
        // of one round go out one after the other, and only the last would see it full.)
        let window_full = state.sending >= state.window.limit();
        state.sending = state.sending.saturating_sub(1);
        let trace = match signal {
            Signal::RateLimited => {
                let accepted = state.accepted.count_within(now, Duration::from_secs(1));
                let paced = state.governor.on_throttled(now, accepted);
                let shrink = state.window.on_throttled(now);
                describe(shrink, paced)
            }
            Signal::Overloaded => describe(state.window.on_throttled(now), None),
            Signal::Answered => {
                state.accepted.record(now);
                state.governor.on_answer(now);
                let rtt = now.duration_since(self.sent);
                describe(state.window.on_answer(now, rtt, window_full), None)
            }
            Signal::NoAnswer => None,
        };
        drop(state);
        if let Some(line) = trace {
            shared.printer.trace(&line);
        }
    }
}

impl Drop for Sending {
    /// An attempt abandoned without an outcome (its task was cancelled) still frees its slot.
    fn drop(&mut self) {
        if let Some(shared) = self.pace.take() {
            let mut state = shared.state();
            state.sending = state.sending.saturating_sub(1);
        }
    }
}

impl Shared {
    /// The state, even after a panic elsewhere while it was held: pacing is advice, and a
    /// poisoned lock must not stop a run whose journal is consistent.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The `-v` line for a change of pace, if any.
fn describe(shrink: Option<Shrink>, paced: Option<f64>) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(rate) = paced {
        parts.push(format!("HTTP 429: pacing at {rate:.1} requests/s"));
    }
    if let Some(s) = shrink {
        let why = match s.why {
            Why::Throttled => "the server is throttling",
            Why::Slow => "answers are slowing down",
        };
        parts.push(format!("concurrency {} -> {} ({why})", s.before, s.after));
    }
    (!parts.is_empty()).then(|| format!("pace: {}", parts.join("; ")))
}

impl Snapshot {
    /// `concurrency 8/16, 94 req/s` and, under a pace, `(paced at 95/s)`.
    pub fn describe(&self) -> String {
        let paced = self
            .rate
            .map_or_else(String::new, |r| format!(", paced at {r:.0}/s"));
        format!(
            "concurrency {}/{}, {:.0} req/s{paced}",
            self.limit, self.ceiling, self.throughput
        )
    }
}

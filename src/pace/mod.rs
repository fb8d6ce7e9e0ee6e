//! Bulk work at the server's pace: how many requests import and sync keep in flight
//! (`window.rs`, between 1 and `--concurrency`) and how fast they send (`rate.rs`, `--rate`
//! or a pace learned from 429s). The API client asks for a slot before every attempt and
//! reports every answer; the bulk drivers ask how many rows may be in flight.

mod meter;
mod rate;
mod window;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Now, on tokio's clock (the real one, except in tests that pause it to stall the process).
fn instant_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

use crate::output::Printer;
use meter::Meter;
use rate::{Governor, Reaction};
use window::{Change, Shrink, Why, Window};

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
    /// Wakes the bulk driver when a request starts resting: a slot of the window is free.
    rest_started: tokio::sync::Notify,
    /// Wakes a request waiting for a slot of the window when an answer frees one.
    slot_freed: tokio::sync::Notify,
    /// Held by the one request asking the rate governor for its turn.
    turn: tokio::sync::Mutex<()>,
    printer: Printer,
}

struct State {
    window: Window,
    governor: Governor,
    /// Answers other than 429, for the rate learned from a 429 and the progress line.
    accepted: Meter,
    /// 429s, for the share of answers refused (is a slowdown working?).
    refused: Meter,
    /// Requests sent and not yet answered.
    sending: usize,
    /// The most requests out at once in the current round (since `round_started`): the
    /// window is in use when this reached it. Answers come in clusters, and only the first of
    /// a cluster sees the others still out.
    peak_sending: usize,
    round_started: Instant,
    /// Requests waiting out a pause before their retry (a 429's `Retry-After`): rows in
    /// flight for the driver, but not using a slot of the window.
    resting: usize,
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
                refused: Meter::new(THROUGHPUT_SPAN),
                sending: 0,
                peak_sending: 0,
                round_started: instant_now(),
                resting: 0,
            }),
            rest_started: tokio::sync::Notify::new(),
            slot_freed: tokio::sync::Notify::new(),
            turn: tokio::sync::Mutex::new(()),
            printer,
        })))
    }

    /// Whether a bulk driver with `in_flight` rows out may send another: fewer than the
    /// limit are using the window (those resting before a retry do not), and no more than
    /// twice the ceiling are out in all, so a server refusing everything does not collect
    /// an ever longer queue of resting rows.
    pub fn may_send(&self, in_flight: usize) -> bool {
        let Some(shared) = &self.0 else {
            return true;
        };
        let state = shared.state();
        let using = in_flight.saturating_sub(state.resting);
        using < state.window.limit() && in_flight < 2 * state.window.ceiling()
    }

    /// How many requests may be out at once now (the window's limit); no limit when unpaced.
    pub fn limit(&self) -> usize {
        match &self.0 {
            Some(shared) => shared.state().window.limit(),
            None => usize::MAX,
        }
    }

    /// Resolves when a request started resting since the last call (a bulk driver waits on
    /// this beside its rows' answers); never for an unpaced client.
    pub async fn rest_started(&self) {
        match &self.0 {
            Some(shared) => shared.rest_started.notified().await,
            None => std::future::pending().await,
        }
    }

    /// Wait out a pause before a retry, not counted as using the window meanwhile.
    pub async fn rest(&self, pause: Duration) {
        let Some(shared) = &self.0 else {
            return tokio::time::sleep(pause).await;
        };
        shared.state().resting += 1;
        shared.rest_started.notify_one();
        let _resting = Resting(shared);
        tokio::time::sleep(pause).await;
    }

    /// Wait for a slot of the window, then for this attempt's turn under the pace; it counts
    /// as sent from the moment it passes. The window comes first: a request that passed the
    /// pace and then waited for a slot (a retry back from its rest) would go out together
    /// with the ones that passed after it.
    pub async fn slot(&self) -> Sending {
        let Some(shared) = &self.0 else {
            return Sending {
                pace: None,
                sent: instant_now(),
            };
        };
        loop {
            {
                let mut state = shared.state();
                if state.sending < state.window.limit() {
                    state.sending += 1;
                    state.peak_sending = state.peak_sending.max(state.sending);
                    break;
                }
            }
            shared.slot_freed.notified().await;
        }
        // Holds the slot from here, and frees it if this attempt is cancelled while it waits.
        let mut sending = Sending {
            pace: Some(shared.clone()),
            sent: instant_now(),
        };
        // One request at a time asks the governor (a fair lock: in the order they came), so
        // each send is spaced from the one before as it actually went.
        let _turn = shared.turn.lock().await;
        loop {
            let now = instant_now();
            let wait = shared.state().governor.try_send(now);
            match wait {
                Ok(()) => break,
                // A timer only when there is a wait: even a due one waits for the timer
                // wheel's next millisecond tick, a fifth of a 5 ms round trip.
                Err(at) => tokio::time::sleep_until(at.into()).await,
            }
        }
        sending.sent = instant_now();
        sending
    }

    /// What the progress line shows; None for an unpaced client.
    pub fn snapshot(&self) -> Option<Snapshot> {
        let shared = self.0.as_ref()?;
        let mut state = shared.state();
        let now = instant_now();
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
        let now = instant_now();
        let mut state = shared.state();
        // Every slot of the window was in use during this request's round: the window is
        // what limits the run, and may grow. A request sent after the round began closes it.
        let window_full = state.peak_sending >= state.window.limit();
        if self.sent >= state.round_started {
            state.round_started = now;
            state.peak_sending = state.sending.saturating_sub(1); // this one is leaving
        }
        let trace = match signal {
            Signal::RateLimited => {
                state.refused.record(now);
                let second = Duration::from_secs(1);
                let accepted = state.accepted.count_within(now, second);
                let refused = state.refused.count_within(now, second);
                let paced = state
                    .governor
                    .on_throttled(now, self.sent, accepted, refused);
                let shrink = state
                    .window
                    .on_throttled(now, self.sent)
                    .map(Change::Shrank);
                trace_line(shrink, paced)
            }
            Signal::Overloaded => trace_line(
                state
                    .window
                    .on_throttled(now, self.sent)
                    .map(Change::Shrank),
                None,
            ),
            Signal::Answered => {
                state.accepted.record(now);
                state.governor.on_answer(now, self.sent);
                trace_line(state.window.on_answer(now, self.sent, window_full), None)
            }
            Signal::NoAnswer => None,
        };
        drop(state);
        shared.release();
        if let Some(line) = trace {
            shared.printer.trace(&line);
        }
    }
}

impl Drop for Sending {
    /// An attempt abandoned without an outcome (its task was cancelled) still frees its slot.
    fn drop(&mut self) {
        if let Some(shared) = self.pace.take() {
            shared.release();
        }
    }
}

/// A request resting before its retry; counted until the rest ends or is cancelled.
struct Resting<'a>(&'a Shared);

impl Drop for Resting<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.resting = state.resting.saturating_sub(1);
    }
}

impl Shared {
    /// An attempt is over: its slot of the window goes to the next one waiting.
    fn release(&self) {
        let mut state = self.state();
        state.sending = state.sending.saturating_sub(1);
        drop(state);
        self.slot_freed.notify_one();
    }

    /// The state, even after a panic elsewhere while it was held: pacing is advice, and a
    /// poisoned lock must not stop a run whose journal is consistent.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The `-v` line for a change of pace, if any.
fn trace_line(change: Option<Change>, paced: Option<Reaction>) -> Option<String> {
    let mut parts = Vec::new();
    match paced {
        Some(Reaction::Paced(rate)) => {
            parts.push(format!("HTTP 429: pacing at {rate:.1} requests/s"))
        }
        Some(Reaction::Undone(rate)) => parts.push(format!(
            "HTTP 429s as often at a slower pace: not a rate limit, {}",
            rate.map_or_else(
                || "pace lifted".to_string(),
                |r| format!("back at {r:.1} requests/s")
            )
        )),
        None => {}
    }
    match change {
        Some(Change::Shrank(Shrink { before, after, why })) => {
            let why = match why {
                Why::Throttled => "the server is throttling",
                Why::Slow => "answers are slowing down",
            };
            parts.push(format!("concurrency {before} -> {after} ({why})"));
        }
        Some(Change::Recovered(limit)) => parts.push(format!("concurrency back at {limit}")),
        None => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The most of `times` in any one-second window `[t, t+1s)`.
    fn busiest_second(times: &[Instant]) -> usize {
        let mut times = times.to_vec();
        times.sort();
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(times[i]) < Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Sixteen requests at a time, each answered at once, under `--rate 25`, on tokio's
    /// paused clock: the sending instants, with the whole process frozen for `stall` after
    /// two seconds (a busy CPU, a suspended VM, a debugger) and then five seconds on.
    async fn send_through_a_stall(stall: Duration) -> Vec<Instant> {
        let quiet = Printer::new(true, false);
        let pace = Pace::new(16, Some(25.0), quiet);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (pace, sent) = (pace.clone(), sent.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let sending = pace.slot().await;
                    sent.lock().unwrap().push(instant_now());
                    sending.done(Signal::Answered);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Time jumps with nothing running: every timer due meanwhile fires at once.
        tokio::time::advance(stall).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        for task in tasks {
            task.abort();
        }
        sent.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_is_kept_in_every_second_even_after_the_process_stalled() {
        for stall_ms in [30, 200, 500, 3000] {
            let times = send_through_a_stall(Duration::from_millis(stall_ms)).await;
            let busiest = busiest_second(&times);
            assert!(
                busiest <= 25,
                "{busiest} sends in one second at --rate 25 after a {stall_ms} ms stall"
            );
            // Still the pace, not a crawl: about 24.5 a second over the 7 s it ran.
            assert!(times.len() >= 150, "{} sends in 7 s", times.len());
        }
    }
}

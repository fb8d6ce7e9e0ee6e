//! Sending: each row's action with bounded concurrency over one client (one token, one
//! refresh, a 429 pausing everyone), every request journalled as sent before it goes out and
//! with its outcome after. Ctrl-C stops the sending, not the waiting: requests in flight get
//! their outcome recorded.

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::task::JoinSet;

use super::plan::{self, Action, Wanted};
use super::state::{Ev, Line, State};
use super::{Progress, Tally};
use crate::api::{self, Api, ApiError, Failure};
use crate::error::{CliError, Result};
use crate::output::Printer;

/// What a look-up found.
enum Looked {
    Found(Map<String, Value>),
    /// Certainly not there (a pending create's query came back empty).
    Absent,
    /// Not known: the search failed, or found another contact.
    Unsure,
}

enum Outcome {
    Created(std::result::Result<Value, ApiError>),
    Updated(std::result::Result<Option<Value>, ApiError>),
    Looked(Looked),
}

type InFlight = JoinSet<(usize, Outcome)>;

pub struct Run<'a> {
    pub state: &'a mut State,
    pub wanted: &'a [Wanted],
    pub api: Arc<Api>,
    pub resend_unknown: bool,
    pub printer: Printer,
}

impl Run<'_> {
    /// Every row, once; the tally of what came of them.
    pub async fn run(mut self) -> Result<Tally> {
        let mut tally = Tally::default();
        let mut in_flight: InFlight = JoinSet::new();
        let mut interrupt = crate::interrupt::Interrupt::install();
        let progress = Progress::new(self.printer, self.wanted.len());
        let mut fatal: Option<CliError> = None;
        let mut next = 0;
        loop {
            let stop = tally.interrupted || fatal.is_some() || tally.auth_error.is_some();
            if !stop && self.api.pace().may_send(in_flight.len()) && next < self.wanted.len() {
                if let Err(e) = self.start(next, &mut in_flight, &mut tally) {
                    fatal = Some(e);
                }
                next += 1;
                progress.tick(&tally, self.api.pace());
                continue;
            }
            if in_flight.is_empty() {
                break;
            }
            tokio::select! {
                done = in_flight.join_next() => {
                    if let Some(Ok((i, outcome))) = done
                        && let Err(e) = self.settle(i, outcome, &mut in_flight, &mut tally)
                    {
                        fatal.get_or_insert(e);
                    }
                    progress.tick(&tally, self.api.pace());
                }
                // A row resting before its retry frees a slot of the window.
                _ = self.api.pace().rest_started() => {}
                _ = interrupt.recv(), if !tally.interrupted => {
                    tally.interrupted = true;
                    self.printer.status("Interrupted: finishing the requests in flight, sending no more...");
                }
            }
        }
        progress.finish();
        match fatal {
            Some(e) => Err(e),
            None => Ok(tally),
        }
    }

    /// Journal row `i`'s request as sent, then send it (or count it, when it needs nothing).
    fn start(&mut self, i: usize, in_flight: &mut InFlight, tally: &mut Tally) -> Result<()> {
        let w = &self.wanted[i];
        let api = self.api.clone();
        match plan::action(self.state, w) {
            Action::Unchanged => tally.unchanged += 1,
            Action::Check => return self.check(i, in_flight, tally),
            Action::Create => {
                let contact = w.contact();
                let d = self.state.digests(&contact, plan::synced_fields(&contact));
                self.state.record(&Line {
                    d: Some(d),
                    ..Line::new(Ev::SentCreate, &w.x)
                })?;
                in_flight.spawn(async move {
                    (
                        i,
                        Outcome::Created(api::contacts::create(&api, contact).await),
                    )
                });
            }
            Action::Update { id, changes, .. } => {
                let d = self.state.digests(&changes, changes.keys());
                self.state.record(&Line {
                    d: Some(d),
                    ..Line::new(Ev::SentUpdate, &w.x)
                })?;
                in_flight.spawn(async move {
                    let result = api::contacts::update(&api, &id, changes).await;
                    (i, Outcome::Updated(result))
                });
            }
        }
        Ok(())
    }

    /// A pending request of an earlier run: search for the contact before anything is sent.
    fn check(&mut self, i: usize, in_flight: &mut InFlight, tally: &mut Tally) -> Result<()> {
        let w = &self.wanted[i];
        let known = self.state.known.get(&w.x).cloned().unwrap_or_default();
        let Some((query, miss_is_absent)) = plan::lookup_query(self.state, &known, w) else {
            return self.unsure(i, in_flight, tally);
        };
        let api = self.api.clone();
        let x = w.x.clone();
        in_flight.spawn(async move {
            let looked = match api::contacts::search(&api, query).await {
                Ok(answer) => match api::contacts::contact(&answer) {
                    Some(c) if c.get("external_id").and_then(Value::as_str) == Some(&x) => {
                        Looked::Found(c.clone())
                    }
                    None if miss_is_absent => Looked::Absent,
                    _ => Looked::Unsure,
                },
                Err(_) => Looked::Unsure,
            };
            (i, Outcome::Looked(looked))
        });
        Ok(())
    }

    /// A pending row whose fate a search cannot tell: listed, or with `--resend-unknown`
    /// treated as not applied and sent again.
    fn unsure(&mut self, i: usize, in_flight: &mut InFlight, tally: &mut Tally) -> Result<()> {
        let x = self.wanted[i].x.clone();
        if self.resend_unknown {
            self.state.record(&Line::new(Ev::Failed, &x))?;
            return self.follow_up(i, in_flight, tally);
        }
        tally.unknown += 1;
        tally.unknown_ids.push(x);
        Ok(())
    }

    fn settle(
        &mut self,
        i: usize,
        outcome: Outcome,
        in_flight: &mut InFlight,
        tally: &mut Tally,
    ) -> Result<()> {
        let x = self.wanted[i].x.clone();
        match outcome {
            Outcome::Created(Ok(answer)) => match api::contacts::contact_id(&answer) {
                Some(id) => {
                    tally.created += 1;
                    self.state.record(&Line {
                        id: Some(id.to_string()),
                        ..Line::new(Ev::Created, &x)
                    })
                }
                None => self.failed(
                    i,
                    ApiError::new(Failure::Unknown, "the API's answer carried no contact id"),
                    tally,
                ),
            },
            Outcome::Updated(Ok(answer)) => {
                if answer.is_some() {
                    tally.updated += 1;
                } else {
                    tally.unchanged += 1;
                }
                self.state.record(&Line::new(Ev::Updated, &x))
            }
            Outcome::Created(Err(e)) | Outcome::Updated(Err(e)) => self.failed(i, e, tally),
            Outcome::Looked(Looked::Found(contact)) => {
                let w = &self.wanted[i];
                let d = self
                    .state
                    .digests(&contact, plan::synced_fields(&w.contact()));
                let id = contact
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                tally.found += 1;
                self.state.record(&Line {
                    id,
                    d: Some(d),
                    ..Line::new(Ev::Found, &x)
                })?;
                self.follow_up(i, in_flight, tally)
            }
            Outcome::Looked(Looked::Absent) => {
                self.state.record(&Line::new(Ev::Absent, &x))?;
                self.follow_up(i, in_flight, tally)
            }
            Outcome::Looked(Looked::Unsure) => self.unsure(i, in_flight, tally),
        }
    }

    /// After a look-up, the row's own request; none once the run is stopping (Ctrl-C, a lost
    /// session): the next run takes the row from what the look-up recorded.
    fn follow_up(&mut self, i: usize, in_flight: &mut InFlight, tally: &mut Tally) -> Result<()> {
        if tally.interrupted || tally.auth_error.is_some() {
            return Ok(());
        }
        self.start(i, in_flight, tally)
    }

    /// A request that failed: refused (its status kept), failed, or unknown (left pending).
    fn failed(&mut self, i: usize, e: ApiError, tally: &mut Tally) -> Result<()> {
        let w = &self.wanted[i];
        match e.failure {
            Failure::Unknown => {
                tally.unknown += 1;
                tally.unknown_ids.push(w.x.clone());
                return self.state.record(&Line::new(Ev::Unknown, &w.x));
            }
            Failure::Refused => {
                tally.refused += 1;
                let mut why = e.message.clone();
                if !e.fields.is_empty() {
                    why = format!("{why} ({})", e.fields.join("; "));
                }
                tally.note_problem(format!(
                    "line {}, external id {}: refused: {why}",
                    w.line, w.x
                ));
            }
            Failure::Auth | Failure::Store | Failure::Usage => {
                tally.failed += 1;
                tally.auth_error.get_or_insert_with(|| e.clone().into_cli());
            }
            Failure::Network => tally.failed += 1,
        }
        self.state.record(&Line {
            status: e.status,
            ..Line::new(Ev::Failed, &w.x)
        })
    }
}

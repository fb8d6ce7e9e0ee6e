//! The one send loop of import and sync. Rows are read in batches (memory stays flat at any
//! size), looked up in the ledger a batch at a time, and each row's request goes out at the
//! server's pace, recorded in the ledger as sent before it goes out and with its outcome
//! after. Rows are recorded (armed) a window ahead, so no ledger write stands between an
//! answer and the next request. A row whose earlier outcome is unknown is looked up before anything is sent for it;
//! a failed look-up keeps it unknown. Ctrl-C stops the sending, not the waiting; a second
//! Ctrl-C stops the waiting too, leaving the rows in flight unknown (the ledger has them).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use futures_util::FutureExt;
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use super::Tally;
use super::plan::{self, Action, Item, Kind};
use super::progress::Progress;
use super::report::{Entry, Report, Status};
use crate::api::{self, Api, ApiError, Failure};
use crate::error::{CliError, Result};
use crate::ledger::{self, Outcome, Pending, Record, Writer};
use crate::output::Printer;
use crate::rows::Row;

/// What a look-up showed.
enum Looked {
    Found(Map<String, Value>),
    /// The search answered, and no contact with this row's external id matched.
    NoMatch,
    /// The search failed (5xx, 429, no answer): nothing is known.
    Failed(ApiError),
    /// The row lacks the fields any search needs.
    NotSearchable,
}

enum Done {
    Created(std::result::Result<Value, ApiError>, Option<Looked>),
    Updated(std::result::Result<Option<Value>, ApiError>),
    Looked(Looked),
}

/// One line of a dry run's plan.
pub enum Planned {
    Create(String),
    Update(String, Vec<String>, bool),
    Check(String),
}

type InFlight = JoinSet<(Item, Record, Done)>;

/// A request's task, ended: its row, what the ledger held, and how it went.
type Joined = std::result::Result<(Item, Record, Done), tokio::task::JoinError>;

/// A row's request (or look-up), ready to go once its record is committed.
type Launch =
    std::pin::Pin<Box<dyn std::future::Future<Output = (Item, Record, Done)> + Send + 'static>>;

/// A row whose record is committed and whose request is ready to go: rows are armed ahead
/// of the pace (as many as the window holds), so that when an answer frees a slot the next
/// request goes out at once, with no write to the ledger on the way.
struct Armed {
    item: Item,
    /// Recorded as sent (a look-up is not recorded before it goes).
    recorded: bool,
    launch: Launch,
}

pub struct Driver<'a> {
    pub kind: Kind,
    pub ledger: &'a mut Writer,
    /// None in a dry run: nothing is sent, the plan goes to `plan`.
    pub api: Option<Arc<Api>>,
    pub report: Option<&'a mut Report>,
    pub resend_unknown: bool,
    pub printer: Printer,
    pub total: Option<u64>,
    pub plan: Option<&'a mut dyn FnMut(Planned)>,
    /// Rows already known to repeat an earlier row's external id (a first pass found them,
    /// and recorded every id as seen); None: this pass finds them itself.
    pub repeats: Option<&'a std::collections::HashSet<u64>>,
}

/// A run's moving parts: its rows waiting, armed, out and answered, its counts, and the
/// error that stopped it.
#[derive(Default)]
struct State {
    tally: Tally,
    /// Rows read and decided, waiting to be armed.
    queue: VecDeque<Queued>,
    armed: VecDeque<Armed>,
    in_flight: InFlight,
    /// The rows of the requests out, by row number (unknown if the run stops before their answer).
    out: BTreeMap<u64, Item>,
    /// Answers in, not settled yet.
    answered: Vec<Joined>,
    fatal: Option<CliError>,
    read_all: bool,
}

impl State {
    /// Nothing more is sent: Ctrl-C, an error, or a login that no longer works.
    fn stopping(&self) -> bool {
        self.tally.interrupted || self.fatal.is_some() || self.tally.auth_error.is_some()
    }

    /// The first error is the one reported.
    fn fail(&mut self, result: Result<()>) {
        if let Err(e) = result {
            self.fatal.get_or_insert(e);
        }
    }

    /// An answer in: its row is no longer out (an aborted or failed task's row stays out,
    /// unknown).
    fn answer_in(&mut self, joined: Joined) {
        if let Ok((item, ..)) = &joined {
            self.out.remove(&item.number);
        }
        self.answered.push(joined);
    }
}

/// What one step of the loop did.
enum Step {
    /// Read rows or wrote to the ledger (the progress line moves).
    Worked,
    /// Sent armed rows, or found nothing to do yet.
    Again,
    /// Only an answer (or a Ctrl-C) can move the run on.
    Wait,
    Done,
}

/// A row waiting for its turn: what it needs, and what the ledger holds of it.
struct Queued {
    item: Item,
    action: Action,
    record: Record,
}

impl Driver<'_> {
    /// Every row, once. An error that stops the run (unreadable input, a ledger that cannot be
    /// written) comes back beside the tally, so the summary is still printed.
    pub async fn run(
        mut self,
        rows: &mut dyn Iterator<Item = Result<Row>>,
    ) -> (Tally, Option<CliError>) {
        let mut st = State::default();
        let mut interrupt = crate::interrupt::Interrupt::install();
        let progress = Progress::new(self.printer, self.total);
        let pace = self.api.as_ref().map(|a| a.pace().clone());
        loop {
            // Also between steps: a run with always something to do would not reach the wait.
            if interrupt.recv().now_or_never().is_some() && self.interrupted(&mut st).await {
                break;
            }
            match self.step(&mut st, rows, pace.as_ref()).await {
                Step::Worked => progress.tick(&st.tally, pace.as_ref()),
                Step::Again => {}
                Step::Done => break,
                Step::Wait => {
                    let rest = async {
                        match &pace {
                            Some(p) => p.rest_started().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        done = st.in_flight.join_next() => {
                            if let Some(joined) = done {
                                st.answer_in(joined);
                            }
                        }
                        // A row resting before its retry frees a slot of the window.
                        _ = rest => {}
                        _ = interrupt.recv() => {
                            if self.interrupted(&mut st).await {
                                break;
                            }
                        }
                    }
                }
            }
        }
        progress.finish();
        let committed = self.ledger.ledger.commit_batch().await;
        st.fail(committed);
        (st.tally, st.fatal)
    }

    /// One step that needs no waiting, the most urgent first: answers in (their slots are
    /// free), then the armed rows out, then the ledger's work (reading rows, settling answers,
    /// arming the next rows) while those requests are on the wire.
    async fn step(
        &mut self,
        st: &mut State,
        rows: &mut dyn Iterator<Item = Result<Row>>,
        pace: Option<&crate::pace::Pace>,
    ) -> Step {
        let stop = st.stopping();
        while let Some(joined) = st.in_flight.try_join_next() {
            st.answer_in(joined);
        }
        if stop && !st.armed.is_empty() {
            let disarmed = self.disarm(&mut st.armed).await;
            st.fail(disarmed);
            return Step::Worked;
        }
        if !stop && self.send_armed(st, pace) {
            // Let them reach the wire before anything else runs on this thread.
            tokio::task::yield_now().await;
            return Step::Again;
        }
        let ahead = pace.map_or(usize::MAX, |p| p.limit());
        let short = !stop && st.armed.len() < ahead;
        if short && st.queue.is_empty() && !st.read_all {
            match self.next_batch(rows, &mut st.tally, &mut st.queue).await {
                Ok(more) => st.read_all = !more,
                Err(e) => st.fatal = Some(e),
            }
            return Step::Worked;
        }
        if !st.answered.is_empty() || (short && !st.queue.is_empty()) {
            let worked = self.ledger_work(st, if short { ahead } else { 0 }).await;
            st.fail(worked);
            return Step::Worked;
        }
        match (
            st.in_flight.is_empty(),
            stop || (st.queue.is_empty() && st.read_all),
        ) {
            (true, true) => Step::Done,
            (true, false) => Step::Again,
            (false, _) => Step::Wait,
        }
    }

    /// A Ctrl-C: the first stops the sending; the second stops the waiting too (true: the
    /// run ends now).
    async fn interrupted(&mut self, st: &mut State) -> bool {
        if st.tally.interrupted {
            let stopped = self.stop_now(st).await;
            st.fail(stopped);
            return true;
        }
        st.tally.interrupted = true;
        self.printer.status("Interrupted: finishing the requests in flight, sending no more (Ctrl-C again to stop now)...");
        false
    }

    /// Spawn the armed rows the pace allows; whether any went.
    fn send_armed(&mut self, st: &mut State, pace: Option<&crate::pace::Pace>) -> bool {
        let mut sent = false;
        while pace.is_none_or(|p| p.may_send(st.in_flight.len()))
            && let Some(next) = st.armed.pop_front()
        {
            if next.recorded {
                st.tally.sent += 1;
            }
            st.out.insert(next.item.number, next.item);
            st.in_flight.spawn(next.launch);
            sent = true;
        }
        sent
    }

    /// The ledger's work, in one batch (one commit): settle the answers in, then arm up to
    /// `wanted` rows, each recorded as sent. A row is armed only once that commit is done, so
    /// no request goes out before its record is durable. An error stops the run; what was
    /// recorded before it is kept.
    async fn ledger_work(&mut self, st: &mut State, wanted: usize) -> Result<()> {
        let sending = self.api.is_some();
        if sending {
            self.ledger.ledger.begin_batch().await?;
        }
        let mut result = Ok(());
        for (item, record, done) in std::mem::take(&mut st.answered).into_iter().flatten() {
            result = self
                .settle(item, record, done, &mut st.queue, &mut st.tally)
                .await;
            if result.is_err() {
                break;
            }
        }
        let mut fresh = Vec::new();
        while result.is_ok()
            && st.armed.len() + fresh.len() < wanted
            && let Some(next) = st.queue.pop_front()
        {
            match self.prepare(next, &mut st.tally).await {
                Ok(Some(ready)) => fresh.push(ready),
                Ok(None) => {}
                Err(e) => result = Err(e),
            }
        }
        if sending {
            self.ledger.ledger.commit_batch().await?;
        }
        st.armed.extend(fresh);
        result
    }

    /// The run stops with rows armed and not sent: their records are taken back, in one
    /// batch, so the ledger does not hold them as sent. (Were that to fail, or hsm to die
    /// before, they read as unknown: looked up, never resent blindly.)
    async fn disarm(&mut self, armed: &mut VecDeque<Armed>) -> Result<()> {
        // Never sent, whatever happens below.
        let armed = std::mem::take(armed);
        self.ledger.ledger.begin_batch().await?;
        let mut result = Ok(());
        for next in armed.into_iter().filter(|a| a.recorded) {
            if let Err(e) = self.ledger.unsend(&next.item.x).await {
                result = Err(e);
                break;
            }
        }
        self.ledger.ledger.commit_batch().await?;
        result
    }

    /// Read up to a batch of rows: the invalid ones are counted and reported, the valid ones
    /// looked up in the ledger together and decided. False when the input is exhausted.
    async fn next_batch(
        &mut self,
        rows: &mut dyn Iterator<Item = Result<Row>>,
        tally: &mut Tally,
        queue: &mut VecDeque<Queued>,
    ) -> Result<bool> {
        let mut items = Vec::with_capacity(ledger::BATCH);
        let mut more = true;
        while items.len() < ledger::BATCH {
            let Some(row) = rows.next() else {
                more = false;
                break;
            };
            let row = row?;
            match (row.contact, row.external_id) {
                (Err(why), x) => self.invalid(tally, row.number, row.line, x, &why)?,
                (Ok(_), None) => {
                    self.invalid(tally, row.number, row.line, None, "no external_id")?;
                }
                (Ok(contact), Some(x)) => items.push(Item {
                    number: row.number,
                    line: row.line,
                    x,
                    contact,
                }),
            }
        }
        let ids: Vec<&str> = items.iter().map(|i| i.x.as_str()).collect();
        let fresh = match self.repeats {
            Some(repeats) => items.iter().map(|i| !repeats.contains(&i.number)).collect(),
            None => self.ledger.ledger.see(&ids).await?,
        };
        let records = self.ledger.ledger.lookup(&self.ledger.realm, &ids).await?;
        let mut records = records;
        for (item, fresh) in items.into_iter().zip(fresh) {
            if !fresh {
                let why = "the external id appears twice in the file";
                self.invalid(tally, item.number, item.line, Some(item.x), why)?;
                continue;
            }
            let record = records.remove(&item.x).unwrap_or_default();
            self.decide(item, record, tally, queue)?;
        }
        Ok(more)
    }

    /// Count what needs no request; queue the rest.
    fn decide(
        &mut self,
        item: Item,
        record: Record,
        tally: &mut Tally,
        queue: &mut VecDeque<Queued>,
    ) -> Result<()> {
        let known = record != Record::default();
        let action = plan::action(
            self.kind,
            &self.ledger.realm,
            known.then_some(&record),
            &item,
        );
        match action {
            Action::Unchanged => tally.unchanged += 1,
            Action::Skip(id) => {
                tally.skipped += 1;
                self.report(&Entry {
                    contact_id: Some(id),
                    ..Entry::new(item.number, item.line, Some(item.x), Status::Skipped)
                })?;
            }
            action => queue.push_back(Queued {
                item,
                action,
                record,
            }),
        }
        Ok(())
    }

    fn invalid(
        &mut self,
        tally: &mut Tally,
        number: u64,
        line: u64,
        x: Option<String>,
        why: &str,
    ) -> Result<()> {
        tally.invalid += 1;
        tally.note_problem(line, x.as_deref(), &format!("invalid: {why}"));
        self.report(&Entry {
            error: Some(why.to_string()),
            ..Entry::new(number, line, x, Status::Invalid)
        })
    }

    fn report(&mut self, entry: &Entry) -> Result<()> {
        match self.report.as_deref_mut() {
            Some(report) => report.record(entry),
            None => Ok(()),
        }
    }

    /// Record the row's request as sent and make it ready to go (in a dry run, plan it).
    async fn prepare(&mut self, queued: Queued, tally: &mut Tally) -> Result<Option<Armed>> {
        let Queued {
            item,
            action,
            record,
        } = queued;
        let Some(api) = self.api.clone() else {
            self.plan_only(item, action, tally)?;
            return Ok(None);
        };
        let realm = self.ledger.realm.clone();
        let shown = item.clone();
        let recorded = matches!(action, Action::Create | Action::Update { .. });
        let launch: Launch = match action {
            Action::Unchanged | Action::Skip(_) => return Ok(None),
            Action::Check => {
                let query = plan::lookup_query(&realm, &record, &item.contact);
                Box::pin(async move {
                    let looked = match query {
                        Some(query) => look(&api, query, &item.x).await,
                        None => Looked::NotSearchable,
                    };
                    (item, record, Done::Looked(looked))
                })
            }
            Action::Create => {
                let pending = Pending {
                    create: true,
                    d: realm.digests(&item.contact, ledger::synced_fields(&item.contact)),
                };
                // Committed before the request exists: a crash from here on leaves the row
                // unknown, never silently unsent or silently sent twice.
                self.ledger.sent(&item.x, &pending).await?;
                let record = Record {
                    pending: Some(pending),
                    ..record
                };
                Box::pin(async move {
                    let contact = item.contact.clone();
                    let result = api::contacts::create(&api, contact).await;
                    // Sent, and the server may have acted on it: look before anyone resends.
                    let looked = match &result {
                        Err(e) if e.failure == Failure::Unknown => {
                            match plan::lookup_query(&realm, &record, &item.contact) {
                                Some(query) => Some(look(&api, query, &item.x).await),
                                None => None,
                            }
                        }
                        _ => None,
                    };
                    (item, record, Done::Created(result, looked))
                })
            }
            Action::Update { id, changes, .. } => {
                let pending = Pending {
                    create: false,
                    d: realm.digests(&changes, changes.keys()),
                };
                self.ledger.sent(&item.x, &pending).await?;
                let record = Record {
                    pending: Some(pending),
                    ..record
                };
                Box::pin(async move {
                    let result = api::contacts::update(&api, &id, changes).await;
                    (item, record, Done::Updated(result))
                })
            }
        };
        Ok(Some(Armed {
            item: shown,
            recorded,
            launch,
        }))
    }

    fn plan_only(&mut self, item: Item, action: Action, tally: &mut Tally) -> Result<()> {
        let planned = match action {
            Action::Create => {
                tally.created += 1;
                Planned::Create(item.x)
            }
            Action::Update { changes, all, .. } => {
                tally.updated += 1;
                Planned::Update(item.x, changes.keys().cloned().collect(), all)
            }
            Action::Check => {
                tally.note_unknown(&item.x);
                Planned::Check(item.x)
            }
            Action::Unchanged | Action::Skip(_) => return Ok(()),
        };
        if let Some(plan) = self.plan.as_deref_mut() {
            plan(planned);
        }
        Ok(())
    }

    async fn settle(
        &mut self,
        item: Item,
        record: Record,
        done: Done,
        queue: &mut VecDeque<Queued>,
        tally: &mut Tally,
    ) -> Result<()> {
        match done {
            Done::Created(Ok(answer), _) => match api::contacts::contact_id(&answer) {
                Some(id) => {
                    tally.created += 1;
                    self.ledger
                        .settle(&item.x, &Outcome::Created(id.to_string()))
                        .await?;
                    self.report(&Entry {
                        contact_id: Some(id.to_string()),
                        ..Entry::new(item.number, item.line, Some(item.x), Status::Created)
                    })
                }
                None => {
                    let e =
                        ApiError::new(Failure::Unknown, "the API's answer carried no contact id");
                    self.failed(item, e, None, tally).await
                }
            },
            Done::Created(Err(e), Some(Looked::Found(contact))) => {
                let _ = e;
                self.found(item, contact, queue, tally).await
            }
            Done::Created(Err(e), looked) => self.failed(item, e, looked, tally).await,
            Done::Updated(Ok(answer)) => {
                if answer.is_some() {
                    tally.updated += 1;
                } else {
                    tally.unchanged += 1;
                }
                self.ledger
                    .settle(&item.x, &Outcome::Updated(answer.is_some()))
                    .await
            }
            Done::Updated(Err(e)) => self.failed(item, e, None, tally).await,
            Done::Looked(Looked::Found(contact)) => self.found(item, contact, queue, tally).await,
            // Only with --resend-unknown: a search that answered and found nothing (or none
            // is possible): the earlier request is taken as not applied, and the row's own goes.
            Done::Looked(Looked::NoMatch | Looked::NotSearchable) if self.resend_unknown => {
                self.ledger.settle(&item.x, &Outcome::Absent).await?;
                let record = Record {
                    pending: None,
                    ..record
                };
                self.follow_up(item, record, queue, tally)
            }
            Done::Looked(looked) => self.still_unknown(item, looked, tally),
        }
    }

    /// A look-up found the contact: it is recorded with the server's values, and the row goes
    /// on from there (sync may still PATCH what differs).
    async fn found(
        &mut self,
        item: Item,
        contact: Map<String, Value>,
        queue: &mut VecDeque<Queued>,
        tally: &mut Tally,
    ) -> Result<()> {
        let realm = self.ledger.realm.clone();
        let d = realm.digests(&contact, ledger::synced_fields(&item.contact));
        let id = contact
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        tally.found += 1;
        self.ledger
            .settle(&item.x, &Outcome::Found(id.clone(), d.clone()))
            .await?;
        self.report(&Entry {
            contact_id: Some(id.clone()),
            ..Entry::new(item.number, item.line, Some(item.x.clone()), Status::Found)
        })?;
        let record = Record {
            contact_id: Some(id),
            digests: Some(d),
            pending: None,
        };
        if self.kind == Kind::Sync {
            return self.follow_up(item, record, queue, tally);
        }
        Ok(())
    }

    /// After a look-up, the row's own request, first in line; none once the run is stopping
    /// (the next run takes the row from what the look-up recorded).
    fn follow_up(
        &mut self,
        item: Item,
        record: Record,
        queue: &mut VecDeque<Queued>,
        tally: &mut Tally,
    ) -> Result<()> {
        if tally.interrupted || tally.auth_error.is_some() {
            return Ok(());
        }
        let action = plan::action(self.kind, &self.ledger.realm, Some(&record), &item);
        match action {
            Action::Unchanged | Action::Skip(_) => {
                if self.kind == Kind::Sync {
                    tally.unchanged += 1;
                }
                Ok(())
            }
            action => {
                queue.push_front(Queued {
                    item,
                    action,
                    record,
                });
                Ok(())
            }
        }
    }

    /// A pending row whose fate no search could tell: it stays unknown, never resent blindly.
    fn still_unknown(&mut self, item: Item, looked: Looked, tally: &mut Tally) -> Result<()> {
        let why = match looked {
            Looked::Failed(e) => format!("the search to check it failed: {}", e.message),
            Looked::NotSearchable => {
                "it cannot be searched for (no Medicare number, or name with birth date, email or phone)".to_string()
            }
            Looked::NoMatch => "a search found no such contact (yet)".to_string(),
            Looked::Found(_) => String::new(),
        };
        tally.note_unknown(&item.x);
        self.report(&Entry {
            error: Some(format!("sent earlier, outcome unknown; not resent: {why}")),
            ..Entry::new(item.number, item.line, Some(item.x), Status::Unknown)
        })
    }

    /// A request that failed: refused (its status kept), failed, or unknown (left pending).
    async fn failed(
        &mut self,
        item: Item,
        e: ApiError,
        looked: Option<Looked>,
        tally: &mut Tally,
    ) -> Result<()> {
        let mut why = e.message.clone();
        if !e.fields.is_empty() {
            why = format!("{why} ({})", e.fields.join("; "));
        }
        match &looked {
            Some(Looked::NoMatch) => why.push_str("; a search found no such contact yet"),
            Some(Looked::Failed(s)) => {
                why.push_str(&format!("; the search to check it failed: {}", s.message));
            }
            _ => {}
        }
        let (status, outcome) = match e.failure {
            Failure::Unknown => {
                tally.note_unknown(&item.x);
                (Status::Unknown, Outcome::Unknown(e.status))
            }
            Failure::Refused => {
                tally.refused += 1;
                let code = e.status.map_or_else(String::new, |s| format!(" {s}"));
                tally.note_problem(
                    item.line,
                    Some(&item.x),
                    &format!("refused by the API{code}: {why}"),
                );
                (Status::Failed, Outcome::Failed(e.status))
            }
            Failure::Auth | Failure::Store | Failure::Usage => {
                tally.failed += 1;
                tally.auth_error.get_or_insert_with(|| e.clone().into_cli());
                (Status::Failed, Outcome::Failed(e.status))
            }
            Failure::Network => {
                tally.failed += 1;
                (Status::Failed, Outcome::Failed(e.status))
            }
        };
        self.ledger.settle(&item.x, &outcome).await?;
        self.report(&Entry {
            http_status: e.status,
            error: Some(why),
            ..Entry::new(item.number, item.line, Some(item.x), status)
        })
    }

    /// The second Ctrl-C: answers already in are settled, rows armed are taken back, the rest
    /// stay unknown (the ledger holds them as sent).
    async fn stop_now(&mut self, st: &mut State) -> Result<()> {
        st.in_flight.abort_all();
        let disarmed = self.disarm(&mut st.armed).await;
        while let Some(joined) = st.in_flight.join_next().await {
            st.answer_in(joined);
        }
        let mut queue = VecDeque::new();
        for (item, record, done) in std::mem::take(&mut st.answered).into_iter().flatten() {
            self.settle(item, record, done, &mut queue, &mut st.tally)
                .await?;
        }
        for (_, item) in std::mem::take(&mut st.out) {
            st.tally.note_unknown(&item.x);
            self.ledger.settle(&item.x, &Outcome::Unknown(None)).await?;
            self.report(&Entry {
                error: Some("stopped (second Ctrl-C) before the answer arrived".to_string()),
                ..Entry::new(item.number, item.line, Some(item.x), Status::Unknown)
            })?;
        }
        disarmed
    }
}

/// Search for a row's contact: found (with this external id), no match, or failed.
async fn look(api: &Api, query: Map<String, Value>, x: &str) -> Looked {
    match api::contacts::search(api, query).await {
        Ok(answer) => match api::contacts::contact(&answer) {
            Some(c) if c.get("external_id").and_then(Value::as_str) == Some(x) => {
                Looked::Found(c.clone())
            }
            _ => Looked::NoMatch,
        },
        Err(e) => Looked::Failed(e),
    }
}

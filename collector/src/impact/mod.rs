//! The business view: each outcome the organisation's systems report (`POST /v1/outcomes`),
//! joined by interaction id to the answers that carry one, by effort band, with what the
//! difference costs and which measure moves it most.
//!
//! The index of the joinable answers ([`crate::stats::joins`]) is kept by the store, which
//! counts each answer into it as it counts the stats cells, so it is complete however the
//! collectors' commits interleave. [`Impact`] adds the rest: after open it reads in, on a thread
//! of its own, the answers the store held before (sled's; PostgreSQL's tail counts them as it
//! opens) and the outcomes, and until then a question is answered "being prepared"
//! ([`ViewError::Preparing`]: `503` with `Retry-After`) rather than made to wait seconds; then
//! each question, and each import, reads only the outcomes numbered after the last one read
//! (numbers the store hands out in commit order). A question tallies the answers of its period
//! in memory ([`view`]).
//!
//! Files: [`lines`] reads import bodies, [`model`] the arithmetic (bands, Wilson intervals, the
//! fitted slope), [`view`] tallies a period and writes it as JSON and sentences.

pub mod lines;
pub mod model;
pub mod view;

use std::{
    sync::{Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

use crate::{
    stats::joins::Joins,
    store::{outcomes::Outcome, Store, StoreError},
};

/// Why a question was not answered.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The answers stored before the collector started are still being read in.
    #[error("the business view is being prepared")]
    Preparing,
}

/// Outcomes read before they are added to the index in one step.
const OUTCOME_BATCH: usize = 4096;

/// Adds to `joins` the outcomes numbered after the last one it holds, until `until`; says
/// whether it read them all. `reading` is held throughout, so two catch-ups never read the same
/// outcomes; the index itself only while a batch is added, so answers are counted meanwhile.
fn catch_up_outcomes(
    store: &dyn Store,
    joins: &Joins,
    reading: &Mutex<()>,
    until: Option<Instant>,
) -> Result<bool, StoreError> {
    let _reading = reading.lock().unwrap_or_else(|p| p.into_inner());
    let after = joins.lock().outcomes_to;
    let mut batch: Vec<(u64, Outcome)> = Vec::new();
    let add = |batch: &mut Vec<(u64, Outcome)>| {
        let mut joined = joins.lock();
        for (seq, o) in batch.drain(..) {
            joined.add_outcome(seq, &o.interaction, &o.outcome, o.value);
        }
    };
    let mut all = true;
    store.outcomes_after(after, &mut |seq, outcome| {
        batch.push((seq, outcome));
        if batch.len() >= OUTCOME_BATCH {
            add(&mut batch);
            all = until.is_none_or(|until| Instant::now() < until);
        }
        all
    })?;
    add(&mut batch);
    Ok(all)
}

/// How long opening reads the index in itself before it leaves the rest to a thread: a small
/// store is ready at once.
pub const AT_OPEN: Duration = Duration::from_millis(100);

/// Whether the index is ready, and the signal the report waits on.
#[derive(Default)]
struct Ready {
    done: Mutex<Option<Result<(), String>>>,
    signal: Condvar,
}

/// The business view over one store, shared by every request.
pub struct Impact {
    store: Arc<dyn Store>,
    joins: Option<Arc<Joins>>,
    reading: Arc<Mutex<()>>,
    ready: Arc<Ready>,
}
/// What a question asks: answers given in `from_micros..to_micros` (the time `/v1/stats` counts
/// an answer at: submitted, or received when that is earlier), at one touchpoint or all.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub from_micros: u64,
    pub to_micros: u64,
    pub touchpoint: Option<String>,
}

impl Query {
    /// Whole UTC days `from_day..to_day` (day numbers since the epoch), at `touchpoint` or all.
    pub fn of_days(from_day: i64, to_day: i64, touchpoint: Option<String>) -> Self {
        let micros = |day: i64| {
            u64::try_from(day)
                .unwrap_or(0)
                .saturating_mul(86_400_000_000)
        };
        Self {
            from_micros: micros(from_day),
            to_micros: micros(to_day),
            touchpoint,
        }
    }
}

impl Impact {
    /// The view over `store`'s index; reads in, on a thread of its own, what the index does
    /// not yet hold (the answers stored before open, on sled, and the outcomes).
    pub fn new(store: Arc<dyn Store>) -> Self {
        let joins = store.joins();
        let impact = Self {
            store,
            joins,
            reading: Arc::default(),
            ready: Arc::default(),
        };
        if let Some(joins) = &impact.joins {
            if joins.claim_fill() {
                impact.prepare(Arc::clone(joins));
            }
        }
        impact
    }

    /// Reads in the answers stored before open and the outcomes: for [`AT_OPEN`] here, the
    /// rest on a thread of its own, and then says the index is ready.
    fn prepare(&self, joins: Arc<Joins>) {
        let started = Instant::now();
        // Reading every record churns far more than the index keeps.
        let purging = crate::allocator::purging_at_once();
        let until = started + AT_OPEN;
        let at_once = self
            .store
            .fill_joins(&joins, 0, Some(until))
            .and_then(|stopped| {
                Ok(match stopped {
                    Some(key) => Some(key),
                    None => (!catch_up_outcomes(&*self.store, &joins, &self.reading, Some(until))?)
                        .then_some(u64::MAX),
                })
            });
        let (store, reading, ready) = (
            Arc::clone(&self.store),
            Arc::clone(&self.reading),
            Arc::clone(&self.ready),
        );
        let done_at_once = matches!(at_once, Ok(None));
        let rest = move || {
            let filled = at_once.and_then(|stopped| match stopped {
                None => Ok(()),
                Some(key) => {
                    if key < u64::MAX {
                        store.fill_joins(&joins, key, None)?;
                    }
                    catch_up_outcomes(&*store, &joins, &reading, None).map(drop)
                }
            });
            let mut joined = joins.lock();
            joined.trim();
            match &filled {
                Ok(()) => tracing::info!(
                    answers = joined.answers.len(),
                    outcomes = joined.outcomes_to,
                    mib = joined.heap_bytes() >> 20,
                    ms = started.elapsed().as_millis() as u64,
                    "the business view is ready"
                ),
                Err(error) => tracing::error!(%error, "the business view could not be prepared"),
            }
            drop(joined);
            crate::allocator::release_freed();
            drop(purging);
            if filled.is_ok() {
                joins.set_ready();
            }
            *ready.done.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(filled.map_err(|e| e.to_string()));
            ready.signal.notify_all();
        };
        if done_at_once {
            rest();
            return;
        }
        if let Err(error) = thread::Builder::new()
            .name("touchpoint-impact-fill".into())
            .spawn(rest)
        {
            tracing::error!(%error, "the business view's reader did not start");
        }
    }

    /// The index, ready.
    fn joins(&self) -> Result<&Joins, ViewError> {
        let joins = self.joins.as_deref().ok_or(StoreError::NoStats)?;
        if !joins.is_ready() {
            let done = self.ready.done.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(Err(error)) = &*done {
                return Err(StoreError::Database(error.clone()).into());
            }
            return Err(ViewError::Preparing);
        }
        Ok(joins)
    }

    /// Reads the outcomes stored since the last read (after an import: the import pays for
    /// it, not the next question).
    pub fn catch_up(&self) -> Result<(), ViewError> {
        let joins = self.joins()?;
        catch_up_outcomes(&*self.store, joins, &self.reading, None)?;
        Ok(())
    }

    /// The view of `query`, with costs from `org`, or [`ViewError::Preparing`] while the index
    /// is read in after open (blocking: call it off the async workers).
    pub fn view(
        &self,
        query: &Query,
        org: Option<&crate::org::Organisation>,
    ) -> Result<view::View, ViewError> {
        self.catch_up()?;
        let joins = self.joins()?;
        let joined = joins.lock();
        Ok(view::tally(&joined, query, org))
    }

    /// [`Impact::view`], waiting while the index is read in (the council report, which is
    /// whole or not made).
    pub fn view_when_ready(
        &self,
        query: &Query,
        org: Option<&crate::org::Organisation>,
    ) -> Result<view::View, StoreError> {
        if let Some(joins) = &self.joins {
            let mut done = self.ready.done.lock().unwrap_or_else(|p| p.into_inner());
            // Another view over the same store may be the one reading in: its index says.
            while done.is_none() && !joins.is_ready() {
                done = self
                    .ready
                    .signal
                    .wait_timeout(done, std::time::Duration::from_millis(100))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        self.view(query, org).map_err(|error| match error {
            ViewError::Store(error) => error,
            ViewError::Preparing => StoreError::Interrupted,
        })
    }
}

//! One submission's way in, in one direction: parse, validate and mask the comment (`protocol`),
//! bound its `submitted_at` by its arrival → the channel's rules ([`crate::channel`]) → dedupe
//! and write ([`crate::store`]) → wait until the write is on disk ([`commit`], group commit) → an
//! outcome, counted once, here ([`Ingest::settle`]). A 2xx is never answered before the record is
//! flushed, and neither is a "duplicate" (the first copy may still be in flight).

pub mod commit;
pub mod metrics;
pub mod outcome;

use std::sync::Arc;

use protocol::{Rejection, SubmissionId};

use self::{
    commit::{GroupCommit, NotDurable, Wrote},
    outcome::Outcomes,
};
use crate::{
    channel::{agent::InvitationError, ChannelRefusal, Rules},
    clock::{self, Clock},
    config::{Bounded, Bounds},
    store::{Put, Store, StoreError},
};

/// A submission the collector now holds durably.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored for the first time.
    Stored,
    /// Already stored with the same content: a retry, nothing new stored.
    Duplicate,
}

impl Accepted {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Duplicate => "duplicate",
        }
    }
}

/// Why a submission was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("invalid submission: {0}")]
    Invalid(#[from] Rejection),
    #[error("the id is already stored with other content")]
    IdConflict,
    #[error("this interaction has already been answered")]
    AlreadyAnswered,
    #[error("{0}")]
    Invitation(InvitationError),
    #[error("a new {} past the configured bound", .0.field())]
    TooManyValues(Bounded),
    #[error("this device sends faster than its limit; retry in {0} s")]
    RateLimited(u64),
    #[error("cannot store now: {0}")]
    Unavailable(#[from] NotDurable),
    #[error("cannot store now: {0}")]
    Storage(#[from] StoreError),
}

impl From<ChannelRefusal> for Refused {
    fn from(refusal: ChannelRefusal) -> Self {
        match refusal {
            ChannelRefusal::Invitation(error) => Self::Invitation(error),
            ChannelRefusal::RateLimited(secs) => Self::RateLimited(secs),
        }
    }
}

impl Refused {
    /// The stable code counted for this outcome (and sent to the client).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(rejection) => rejection.code(),
            Self::IdConflict => "id_conflict",
            Self::AlreadyAnswered => "already_answered",
            Self::Invitation(error) => error.code(),
            Self::TooManyValues(_) => "too_many_values",
            Self::RateLimited(_) => "rate_limited",
            Self::Unavailable(_) | Self::Storage(_) => "unavailable",
        }
    }
}

/// What one submission came to: its id when it was readable, and the outcome.
pub type Outcome = Result<(SubmissionId, Accepted), (Option<SubmissionId>, Refused)>;

/// One submission written (its id, what the store did, the epoch to wait for), or refused.
type Written = Result<(SubmissionId, Put, u64), (Option<SubmissionId>, Refused)>;

/// The ingest service shared by the HTTP handlers.
#[derive(Clone)]
pub struct Ingest {
    store: Arc<dyn Store>,
    commit: GroupCommit,
    pub outcomes: Arc<Outcomes>,
    rules: Arc<Rules>,
    bounds: Bounds,
    arrival_clock: Clock,
}

impl Ingest {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let commit = GroupCommit::start(Arc::clone(&store));
        Self {
            store,
            commit,
            outcomes: Arc::default(),
            rules: Arc::default(),
            bounds: Bounds::default(),
            arrival_clock: Clock::System,
        }
    }

    /// Accepts at most `bounds` distinct touchpoints, sites, segments, agents and devices.
    pub fn with_bounds(mut self, bounds: Bounds) -> Self {
        self.bounds = bounds;
        self
    }

    /// Takes `clock`'s time as each answer's arrival when bounding its `submitted_at`.
    pub fn with_arrival_clock(mut self, clock: Clock) -> Self {
        self.arrival_clock = clock;
        self
    }

    /// Applies the channels' `rules` before each write.
    pub fn with_rules(mut self, rules: Rules) -> Self {
        self.rules = Arc::new(rules);
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn commit(&self) -> &GroupCommit {
        &self.commit
    }

    /// Parses, dedupes and writes one submission without waiting for the disk; returns the epoch
    /// to wait for before answering.
    fn write(&self, body: &[u8]) -> Written {
        let mut submission = protocol::parse_submission(body).map_err(|r| (None, r.into()))?;
        // What a customer should not have typed (an e-mail, a phone or card number) is masked
        // before anything keeps it; a retry masks the same way, so it is still a duplicate.
        if let Some(comment) = submission.comment.as_mut() {
            comment.mask();
        }
        let arrival_millis = (self.arrival_clock.now_micros() / 1000) as i64;
        submission
            .submitted_at
            .check_arrival(arrival_millis)
            .map_err(|r| (Some(submission.id.clone()), r.into()))?;
        self.rules
            .check(&submission, clock::now_micros())
            .map_err(|refusal| (Some(submission.id.clone()), refusal.into()))?;
        if !self.commit.accepting() {
            let refused = Refused::Unavailable(NotDurable::StorageFailing);
            return Err((Some(submission.id.clone()), refused));
        }
        // Written before the commit's lock, which every write waits for in turn.
        let json = submission.to_json();
        let (put, epoch) = self.commit.write(
            || self.store.put(&submission, &json, &self.bounds),
            |put| match put {
                Ok(Put::Stored { .. }) => Wrote::Stored,
                Err(StoreError::Io(_)) => Wrote::Failed,
                _ => Wrote::Nothing,
            },
        );
        let put = put.map_err(|e| (Some(submission.id.clone()), e.into()))?;
        Ok((submission.id, put, epoch))
    }

    fn settle(&self, written: Written, durable: Result<(), NotDurable>) -> Outcome {
        let outcome = match (written, durable) {
            (Err(refused), _) => Err(refused),
            (Ok((id, _, _)), Err(not_durable)) => {
                Err((Some(id), Refused::Unavailable(not_durable)))
            }
            (Ok((id, put, _)), Ok(())) => match put {
                Put::Stored { .. } => Ok((id, Accepted::Stored)),
                Put::Duplicate => Ok((id, Accepted::Duplicate)),
                Put::IdConflict => Err((Some(id), Refused::IdConflict)),
                Put::AlreadyAnswered => Err((Some(id), Refused::AlreadyAnswered)),
                Put::TooManyValues(full) => Err((Some(id), Refused::TooManyValues(full))),
            },
        };
        let code = match &outcome {
            Ok((_, accepted)) => accepted.as_str(),
            Err((_, refused)) => refused.code(),
        };
        self.outcomes.record(code);
        match &outcome {
            Ok((id, accepted)) => {
                tracing::debug!(
                    submission_id = id.as_str(),
                    outcome = accepted.as_str(),
                    "ingested"
                )
            }
            Err((id, refused)) => tracing::debug!(
                submission_id = id.as_ref().map(SubmissionId::as_str),
                outcome = refused.code(),
                "refused"
            ),
        }
        outcome
    }

    /// Counts a request refused before its body reached ingest (its origin, size or rate), so
    /// the outcome counts add up to the requests received.
    pub fn count_refused(&self, code: &'static str) {
        self.outcomes.record(code);
    }

    /// Writes each body: on the async worker for a store that answers at once (sled), on the
    /// blocking pool for one that may wait on the network (PostgreSQL), so a slow database
    /// never holds up the requests that share the worker.
    async fn write_all(&self, bodies: &[&[u8]]) -> Vec<Written> {
        if !self.store.blocking_writes() {
            return bodies.iter().map(|body| self.write(body)).collect();
        }
        let this = self.clone();
        let owned: Vec<Vec<u8>> = bodies.iter().map(|body| body.to_vec()).collect();
        let written =
            tokio::task::spawn_blocking(move || owned.iter().map(|b| this.write(b)).collect());
        written.await.unwrap_or_else(|_| {
            bodies
                .iter()
                .map(|_| Err((None, Refused::Storage(StoreError::Interrupted))))
                .collect()
        })
    }

    /// One submission: answered only once its outcome is durable.
    pub async fn submit(&self, body: &[u8]) -> Outcome {
        let written = self
            .write_all(&[body])
            .await
            .pop()
            .unwrap_or(Err((None, Refused::Storage(StoreError::Interrupted))));
        let durable = match &written {
            Ok((_, _, epoch)) => self.commit.durable(*epoch).await,
            Err(_) => Ok(()),
        };
        self.settle(written, durable)
    }

    /// Several submissions sharing one wait for the disk; one outcome per item, in order.
    pub async fn submit_batch(&self, bodies: &[&[u8]]) -> Vec<Outcome> {
        let written = self.write_all(bodies).await;
        let epoch = written
            .iter()
            .filter_map(|w| w.as_ref().ok().map(|(_, _, e)| *e))
            .max();
        let durable = match epoch {
            Some(epoch) => self.commit.durable(epoch).await,
            None => Ok(()),
        };
        written
            .into_iter()
            .map(|w| self.settle(w, durable))
            .collect()
    }

    /// Flushes what is pending and stops the flusher.
    pub fn shutdown(&self) {
        self.commit.stop();
        if !self.commit.accepting() {
            // sled's flush may never return now; what was acknowledged is on disk already.
            return;
        }
        if let Err(error) = self.store.flush() {
            tracing::error!(%error, "final flush failed");
        }
    }
}

//! One submission's way in: parse and validate (protocol) → dedupe and write (store) → wait until
//! the write is on disk (durable) → an outcome, counted. A 2xx is never answered before the record
//! is flushed, and neither is a "duplicate" (the first copy may still be in flight).

use std::sync::Arc;

use protocol::{Rejection, SubmissionId};

use crate::{
    durable::{GroupCommit, NotDurable},
    invitations::{now_secs, InvitationError, Invitations},
    limits::{now_millis, Limiter, Rate},
    outcome::Outcomes,
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
    #[error("this device sends faster than its limit; retry in {0} s")]
    RateLimited(u64),
    #[error("cannot store now: {0}")]
    Unavailable(#[from] NotDurable),
    #[error("cannot store now: {0}")]
    Storage(#[from] StoreError),
}

impl Refused {
    /// The stable code counted for this outcome (and sent to the client).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(rejection) => rejection.code(),
            Self::IdConflict => "id_conflict",
            Self::AlreadyAnswered => "already_answered",
            Self::Invitation(error) => error.code(),
            Self::RateLimited(_) => "rate_limited",
            Self::Unavailable(_) | Self::Storage(_) => "unavailable",
        }
    }
}

/// What one submission came to: its id when it was readable, and the outcome.
pub type Outcome = Result<(SubmissionId, Accepted), (Option<SubmissionId>, Refused)>;

/// The ingest service shared by the HTTP handlers.
#[derive(Clone)]
pub struct Ingest {
    store: Arc<dyn Store>,
    commit: GroupCommit,
    pub outcomes: Arc<Outcomes>,
    per_device: Arc<Limiter>,
    invitations: Option<Arc<Invitations>>,
}

impl Ingest {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let commit = GroupCommit::start(Arc::clone(&store));
        Self {
            store,
            commit,
            outcomes: Arc::default(),
            per_device: Arc::new(Limiter::new(None)),
            invitations: None,
        }
    }

    /// Checks answers that carry an invitation against the call it binds.
    pub fn with_invitations(mut self, invitations: Arc<Invitations>) -> Self {
        self.invitations = Some(invitations);
        self
    }

    /// Limits how fast one device (touchpoint + `context.device_id`) may submit.
    pub fn with_device_limit(mut self, rate: Option<Rate>) -> Self {
        self.per_device = Arc::new(Limiter::new(rate));
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
    fn write(
        &self,
        body: &[u8],
    ) -> Result<(SubmissionId, Put, u64), (Option<SubmissionId>, Refused)> {
        let submission = protocol::parse_submission(body).map_err(|r| (None, r.into()))?;
        if let Some(invitations) = &self.invitations {
            invitations
                .check(&submission, now_secs())
                .map_err(|e| (Some(submission.id.clone()), Refused::Invitation(e)))?;
        }
        if let Some(device) = &submission.context.device_id {
            let key = [submission.touchpoint.as_str(), "/", device.as_str()].concat();
            self.per_device
                .take(&key, now_millis())
                .map_err(|secs| (Some(submission.id.clone()), Refused::RateLimited(secs)))?;
        }
        if !self.commit.accepting() {
            let refused = Refused::Unavailable(NotDurable::StorageFailing);
            return Err((Some(submission.id.clone()), refused));
        }
        let put = self
            .store
            .put(&submission, &submission.to_json())
            .map_err(|e| (Some(submission.id.clone()), e.into()))?;
        let epoch = match put {
            Put::Stored { .. } => self.commit.wrote(),
            _ => self.commit.current(),
        };
        Ok((submission.id, put, epoch))
    }

    fn settle(
        &self,
        written: Result<(SubmissionId, Put, u64), (Option<SubmissionId>, Refused)>,
        durable: Result<(), NotDurable>,
    ) -> Outcome {
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

    /// One submission: answered only once its outcome is durable.
    pub async fn submit(&self, body: &[u8]) -> Outcome {
        let written = self.write(body);
        let durable = match &written {
            Ok((_, _, epoch)) => self.commit.durable(*epoch).await,
            Err(_) => Ok(()),
        };
        self.settle(written, durable)
    }

    /// Several submissions sharing one wait for the disk; one outcome per item, in order.
    pub async fn submit_batch(&self, bodies: &[&[u8]]) -> Vec<Outcome> {
        let written: Vec<_> = bodies.iter().map(|body| self.write(body)).collect();
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

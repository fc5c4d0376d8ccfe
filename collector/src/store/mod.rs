//! The store: everything the collector keeps (records, their id and interaction indexes, the
//! stats days, the invitations' secret, dashboard sessions, the council's actions, the events
//! out with their alerts and acknowledgements), behind one trait ([`Store`]), and its two
//! backends: sled, embedded ([`sled`](self::sled), the default), and PostgreSQL, shared by any
//! number of collectors ([`postgres`](self::postgres)). Duplicates are detected here: `put`
//! answers whether a submission's id
//! or interaction is already stored, under the same lock that writes it.

pub mod events;
pub mod outcomes;
pub mod postgres;
pub mod sled;

use protocol::{Channel, Submission};

use self::events::{Acknowledgement, Alert, Delivery, EndpointState, Event, EventKey, EventKind};
use self::outcomes::{Outcome, OutcomePut};
use crate::{
    config::{Bounded, Bounds},
    org::agenda::Action,
    stats::{
        joins::{Joining, Joins},
        Aggregates,
    },
};
use std::{sync::Arc, time::Instant};

/// Counts into `joins` the records keyed `from..to` that carry an interaction id, read from the
/// records themselves, until `until`; then says the key to go on from.
pub fn fill_joins_from_records<S: Store + ?Sized>(
    store: &S,
    joins: &Joins,
    from: u64,
    to: u64,
    until: Option<Instant>,
) -> Result<Option<u64>, StoreError> {
    let mut failed = None;
    let mut stopped = None;
    store.scan(from, to, &mut |record| {
        if until.is_some_and(|until| Instant::now() >= until) {
            stopped = Some(record.received_micros);
            return false;
        }
        match Joining::of_json(record.json, record.touchpoint, record.received_micros) {
            Ok(Some(answer)) => joins.add_one(answer),
            Ok(None) => {}
            Err(_) => {
                failed = Some(StoreError::Corrupt {
                    key: record.received_micros,
                });
                return false;
            }
        }
        true
    })?;
    failed.map_or(Ok(stopped), Err)
}

pub use self::postgres::PgStore;
pub use self::sled::SledStore;

/// Bit of a record's flags byte: stored as a burst ([`crate::channel::kiosk::is_burst`]). It is
/// stored and exported like any other record; stats leave it out unless asked.
pub const FLAG_BURST: u8 = 0x01;

/// Why the store could not do what was asked. Any of these means "not stored; try again later".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data directory {path} is in use by another collector process")]
    Locked { path: String },
    #[error("storage failed: {0}")]
    Io(#[from] ::sled::Error),
    #[error("a stored record is damaged (key {key})")]
    Corrupt { key: u64 },
    #[error("reading the store stopped unexpectedly")]
    Interrupted,
    #[error("the database failed: {0}")]
    Database(String),
    #[error("this store keeps no stats cells")]
    NoStats,
    #[error("this store keeps no events")]
    NoEvents,
    #[error("this store keeps no short links")]
    NoLinks,
    #[error("this store keeps no outcomes")]
    NoOutcomes,
    #[error(
        "the store in {path} is damaged and was not opened ({reason}); restore it from a backup"
    )]
    Damaged { path: String, reason: String },
}

/// A failure of a file the store keeps beside its database (its progress marker, a rewrite's
/// files, a secret made from the system's randomness): reported as the database's own I/O.
impl From<std::io::Error> for StoreError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(::sled::Error::Io(error))
    }
}

/// What happened to a submission offered to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Written now (not yet flushed), under this arrival key.
    Stored { key: u64 },
    /// The same id with the same content is already stored: a retry.
    Duplicate,
    /// The same id is stored with other content.
    IdConflict,
    /// Another submission already answered this channel + touchpoint + interaction.
    AlreadyAnswered,
    /// It brings a new value to a dimension already holding as many as it may; nothing stored.
    TooManyValues(Bounded),
}

/// One stored record, borrowed from the store while it is read.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Receive time, microseconds since the Unix epoch; also the arrival order.
    pub received_micros: u64,
    /// [`FLAG_BURST`] or 0.
    pub flags: u8,
    pub channel: Channel,
    pub touchpoint: &'a str,
    /// The submission in its canonical JSON form (`Submission::to_json`).
    pub json: &'a str,
}

/// Everything the collector keeps goes through this trait: the seam a second backend plugs
/// into. sled implements it; tests wrap it to inject faults.
pub trait Store: Send + Sync + 'static {
    /// Writes `submission` (canonical form `json`) unless its id or interaction is already known,
    /// or it brings a new touchpoint, site, segment, agent or device past `bounds` (known values
    /// always pass); a stored answer's `response.created` event goes in the outbox with it
    /// ([`events`]), unless [`Store::answer_events_when`] says nothing reads it. The write is in
    /// memory until the next [`Store::flush`].
    fn put(&self, submission: &Submission, json: &str, bounds: &Bounds) -> Result<Put, StoreError>;

    /// Makes an answer's `response.created` event only while `wanted` is true (the organisation
    /// file in force has an endpoint or an alert rule that reads it, [`crate::org::Current`]):
    /// an event nobody reads would be written, flushed and removed again for nothing. Until this
    /// is called, every answer makes its event. A store shared by several collectors (each with
    /// its own file) keeps making them all: this default does nothing.
    fn answer_events_when(&self, _wanted: std::sync::Arc<std::sync::atomic::AtomicBool>) {}

    /// Makes every completed `put` durable (blocking; call it off the async workers).
    fn flush(&self) -> Result<(), StoreError>;

    /// Whether a failed [`Store::flush`] loses the writes it covered (a transaction that did not
    /// commit) rather than leaving them for the next flush (sled).
    fn flush_failure_loses_writes(&self) -> bool {
        false
    }

    /// Whether a `put` may wait on the network (a database server): ingest then calls it off
    /// the async workers.
    fn blocking_writes(&self) -> bool {
        false
    }

    /// What the store waits for before it can store again (the database it cannot reach), if
    /// anything: `/healthz` says it.
    fn waiting_for(&self) -> Option<String> {
        None
    }

    /// Calls `visit` for each record with `from <= received_micros < to`, in arrival order, until
    /// it returns `false`.
    fn scan(
        &self,
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(Record<'_>) -> bool,
    ) -> Result<(), StoreError>;

    /// How many records are stored.
    fn len(&self) -> usize;

    /// Whether an answer to this channel + touchpoint + interaction is stored.
    fn interaction_answered(
        &self,
        _channel: Channel,
        _touchpoint: &str,
        _interaction: &str,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// The stats cells, where the store keeps them (the sled store does).
    fn aggregates(&self) -> Option<&Aggregates> {
        None
    }

    /// The business view's index, where the store keeps it (both backends do): it counts each
    /// answer with an interaction id into it as it counts the stats cells.
    fn joins(&self) -> Option<Arc<Joins>> {
        None
    }

    /// Counts into `joins` the answers stored before open (keyed `from..joins.fill_below()`),
    /// until `until`; then says the key to go on from. By default from the records; sled reads
    /// what it saved of the index beside each sealed block ([`sled`](self::sled)).
    fn fill_joins(
        &self,
        joins: &Joins,
        from: u64,
        until: Option<Instant>,
    ) -> Result<Option<u64>, StoreError> {
        fill_joins_from_records(self, joins, from, joins.fill_below(), until)
    }

    /// Bytes the store occupies on disk, where known.
    fn size_on_disk(&self) -> u64 {
        0
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The secret called `name`: made by `make` and kept durably the first time it is asked
    /// for, the same ever after (the invitations' signing key).
    fn secret(
        &self,
        name: &str,
        make: &mut dyn FnMut() -> std::io::Result<String>,
    ) -> Result<String, StoreError>;

    /// Opens the dashboard session `id` until `expires_secs` (Unix seconds), forgetting those
    /// expired by `now_secs`.
    fn open_session(&self, id: &str, expires_secs: u64, now_secs: u64) -> Result<(), StoreError>;

    /// When the session `id` expires (Unix seconds), if it is open.
    fn session_expiry(&self, id: &str) -> Result<Option<u64>, StoreError>;

    /// Ends the session `id`.
    fn end_session(&self, id: &str) -> Result<(), StoreError>;

    /// Keeps the invitation `token` under the short link `id` until `expires_secs` (Unix seconds),
    /// durably before it returns, forgetting links expired by `now_secs`. A store that keeps none
    /// answers [`StoreError::NoLinks`], and invitations then get their long links.
    fn put_link(
        &self,
        _id: &str,
        _token: &str,
        _expires_secs: u64,
        _now_secs: u64,
    ) -> Result<(), StoreError> {
        Err(StoreError::NoLinks)
    }

    /// The invitation token the short link `id` stands for, if it is kept.
    fn link(&self, _id: &str) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    /// Records `action` durably, or replaces the one with its id (closing it).
    fn put_action(&self, action: &Action) -> Result<(), StoreError>;

    /// Every action the council recorded, oldest first.
    fn actions(&self) -> Result<Vec<Action>, StoreError>;

    /// Puts an event made by the collector itself (an alert's) in the outbox with its `data`,
    /// durably before it returns.
    fn push_event(&self, _kind: EventKind, _data: &str) -> Result<EventKey, StoreError> {
        Err(StoreError::NoEvents)
    }

    /// Up to `limit` events in the outbox, oldest first; an answer's event only once the answer
    /// is durable.
    fn pending_events(&self, _limit: usize) -> Result<Vec<Event>, StoreError> {
        Ok(Vec::new())
    }

    /// Hands events to their endpoints: writes each one's deliveries (none when no endpoint
    /// wants it), durably, then takes the events out of the outbox.
    fn fan_out(&self, _handed: &[(EventKey, Vec<Delivery>)]) -> Result<(), StoreError> {
        Err(StoreError::NoEvents)
    }

    /// How many events wait in the outbox.
    fn outbox_len(&self) -> usize {
        0
    }

    /// Calls `visit` with each pending delivery, by endpoint then event, until it returns `false`.
    fn deliveries(&self, _visit: &mut dyn FnMut(Delivery) -> bool) -> Result<(), StoreError> {
        Ok(())
    }

    /// Each endpoint's pending deliveries (how many, and when the soonest is next tried), for
    /// the endpoints that have some, from the store's own count: no delivery is read.
    fn pending_deliveries(
        &self,
    ) -> Result<std::collections::HashMap<String, events::Pending>, StoreError> {
        Ok(std::collections::HashMap::new())
    }

    /// The pending delivery of `event` to `endpoint`.
    fn delivery(&self, _endpoint: &str, _event: EventKey) -> Result<Option<Delivery>, StoreError> {
        Ok(None)
    }

    /// Writes `delivery` again (its attempts and next attempt changed).
    fn put_delivery(&self, _delivery: &Delivery) -> Result<(), StoreError> {
        Err(StoreError::NoEvents)
    }

    /// Forgets a delivery: accepted, or given up.
    fn remove_delivery(&self, _endpoint: &str, _event: EventKey) -> Result<(), StoreError> {
        Err(StoreError::NoEvents)
    }

    /// An endpoint's state and delivery log (the default state for one never used).
    fn endpoint_state(&self, _endpoint: &str) -> Result<EndpointState, StoreError> {
        Ok(EndpointState::default())
    }

    fn put_endpoint_state(
        &self,
        _endpoint: &str,
        _state: &EndpointState,
    ) -> Result<(), StoreError> {
        Err(StoreError::NoEvents)
    }

    /// Records `alert`, or replaces the one with its id.
    fn put_alert(&self, _alert: &Alert) -> Result<(), StoreError> {
        Err(StoreError::NoEvents)
    }

    /// Every alert, oldest first.
    fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        Ok(Vec::new())
    }

    /// Records `ack` durably, replacing an earlier one of its alert.
    fn put_acknowledgement(&self, _ack: &Acknowledgement) -> Result<(), StoreError> {
        Err(StoreError::NoEvents)
    }

    /// Every alert's acknowledgement, in no particular order.
    fn acknowledgements(&self) -> Result<Vec<Acknowledgement>, StoreError> {
        Ok(Vec::new())
    }

    /// Stores each outcome whose identity ([`Outcome::identity`]) is new, durably before it
    /// returns, and says for each what happened, in order. A store that keeps none answers
    /// [`StoreError::NoOutcomes`].
    fn put_outcomes(&self, _outcomes: &[Outcome]) -> Result<Vec<OutcomePut>, StoreError> {
        Err(StoreError::NoOutcomes)
    }

    /// Calls `visit` with each stored outcome numbered after `after`, in the order stored, until
    /// it returns `false`. Numbers are handed out in commit order, so a reader that saw a number
    /// has seen every smaller one.
    fn outcomes_after(
        &self,
        _after: u64,
        _visit: &mut dyn FnMut(u64, Outcome) -> bool,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

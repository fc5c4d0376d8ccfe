//! What the store keeps for the events the collector sends out: the outbox of events not yet
//! fanned out to endpoints, each endpoint's pending deliveries, its delivery log and state, and
//! the alerts with their history and acknowledgements. Every stored answer is a `response.created` event, put in the
//! outbox by [`super::Store::put`] under the same lock and in the same flush as the answer, so an
//! acknowledged answer's event survives any crash.

use serde::{Deserialize, Serialize};

pub use crate::org::notify::EventKind;

/// Which event: when it happened (for `response.created`, the answer's arrival key) and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey {
    pub at: u64,
    pub kind: EventKind,
}

impl EventKey {
    /// The `webhook-id` of this event: the same on every attempt and for every endpoint, so a
    /// receiver dedupes by it.
    pub fn webhook_id(self) -> String {
        format!("msg_{}_{}", self.at, self.kind.byte())
    }

    /// Nine bytes that sort as the events happened.
    pub fn to_bytes(self) -> [u8; 9] {
        let mut bytes = [0; 9];
        bytes[..8].copy_from_slice(&self.at.to_be_bytes());
        bytes[8] = self.kind.byte();
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let at = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let kind = EventKind::from_byte(*bytes.get(8)?)?;
        Some(Self { at, kind })
    }
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub key: EventKey,
    /// The event's `data` as JSON, for alert events; a `response.created` event's data is read
    /// from its answer.
    pub data: Option<String>,
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub endpoint: String,
    pub event_at: u64,
    pub kind: EventKind,
    /// The body, fixed when the event was fanned out, so every attempt sends the same bytes.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, microseconds since the Unix epoch.
    pub next_at: u64,
    /// When the event was fanned out to this endpoint.
    pub created_at: u64,
}

impl Delivery {
    pub fn event(&self) -> EventKey {
        EventKey {
            at: self.event_at,
            kind: self.kind,
        }
    }
}

/// One attempt to deliver, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: u64,
    pub webhook_id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why the attempt failed, without the endpoint's secret or the body.
    pub error: Option<String>,
    pub latency_ms: u64,
    /// When it is tried again, when it will be.
    pub next_retry: Option<u64>,
}

/// How many attempts an endpoint's delivery log keeps.
pub const LOG_ATTEMPTS: usize = 50;

/// An endpoint's state: whether it is disabled, and its recent attempts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointState {
    /// Why the endpoint no longer receives events (410 Gone, or failing through the whole retry
    /// schedule); cleared when the organisation file is reloaded.
    pub disabled: Option<String>,
    pub disabled_at: Option<u64>,
    pub delivered: u64,
    pub failed_attempts: u64,
    /// Events that went through the whole schedule without being accepted.
    pub abandoned: u64,
    /// The most recent attempts, newest last.
    pub log: Vec<Attempt>,
}

impl EndpointState {
    /// Adds `attempt` to the log, dropping the oldest past [`LOG_ATTEMPTS`].
    pub fn record(&mut self, attempt: Attempt) {
        self.log.push(attempt);
        if self.log.len() > LOG_ATTEMPTS {
            let excess = self.log.len() - LOG_ATTEMPTS;
            self.log.drain(..excess);
        }
    }
}

/// An alert: opened by a rule in one scope, resolved when it no longer holds (rate alerts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `rule` + `scope` + when it opened: unique.
    pub id: String,
    pub rule: String,
    /// The scope it holds in, as `kind:value` (`touchpoint:card-activation`), or `all`.
    pub scope: String,
    pub opened_at: u64,
    pub resolved_at: Option<u64>,
    /// What opened it (the answer, or the rate over the window), as sent in `alert.opened`.
    pub detail: serde_json::Value,
    /// Answers that matched the rule while it was open (one-answer rules).
    pub count: u64,
    /// The last answer that matched (one-answer rules resolve after a calm hour).
    pub last_at: u64,
    /// Opened in quiet hours: sent in the digest when they end.
    pub held: bool,
}

/// The deliveries waiting for one endpoint: how many, and when the soonest is next tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub count: u64,
    pub next_at: Option<u64>,
}

/// Each endpoint's pending deliveries, kept in step with the deliveries a store holds, for a
/// store without an index of its own (sled): counted once when the store opens, then changed
/// with every delivery written or removed, so reading it reads no delivery.
#[derive(Debug, Default)]
pub struct PendingIndex {
    /// Per endpoint: how many, and how many are next tried at each time.
    endpoints: std::collections::HashMap<String, (u64, std::collections::BTreeMap<u64, u64>)>,
}

impl PendingIndex {
    /// `delivery` is now pending (`was`: the one it replaced, if any).
    pub fn wrote(&mut self, delivery: &Delivery, was: Option<&Delivery>) {
        if let Some(was) = was {
            self.removed(was);
        }
        let (count, next) = self.endpoints.entry(delivery.endpoint.clone()).or_default();
        *count += 1;
        *next.entry(delivery.next_at).or_default() += 1;
    }

    /// `delivery` is no longer pending.
    pub fn removed(&mut self, delivery: &Delivery) {
        let Some((count, next)) = self.endpoints.get_mut(&delivery.endpoint) else {
            return;
        };
        *count = count.saturating_sub(1);
        if let Some(at) = next.get_mut(&delivery.next_at) {
            *at = at.saturating_sub(1);
            if *at == 0 {
                next.remove(&delivery.next_at);
            }
        }
        if *count == 0 {
            self.endpoints.remove(&delivery.endpoint);
        }
    }

    /// Each endpoint's pending deliveries, for those that have some.
    pub fn pending(&self) -> std::collections::HashMap<String, Pending> {
        self.endpoints
            .iter()
            .map(|(endpoint, (count, next))| {
                let pending = Pending {
                    count: *count,
                    next_at: next.keys().next().copied(),
                };
                (endpoint.clone(), pending)
            })
            .collect()
    }
}

/// Someone taking an alert on: who, when, and a note. Kept apart from the [`Alert`], which the
/// delivery thread rewrites as it counts and resolves, so neither overwrites the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The [`Alert::id`] acknowledged.
    pub alert: String,
    /// The name the person gave.
    pub by: String,
    /// Where it was done: `dashboard` (a signed-in session) or `api` (the admin token).
    pub via: String,
    /// Microseconds since the Unix epoch.
    pub at: u64,
    pub note: String,
}

impl Acknowledgement {
    /// The only way to make one: `by` 1–100 characters, `note` at most 1000, both trimmed.
    pub fn new(
        alert: &str,
        by: &str,
        note: &str,
        via: &str,
        at: u64,
    ) -> Result<Self, crate::org::agenda::BadAction> {
        let by = by.trim();
        if by.is_empty() || by.chars().count() > 100 {
            return Err(crate::org::agenda::BadAction {
                field: "by",
                rule: "say who acknowledges, in 1 to 100 characters",
            });
        }
        let note = note.trim();
        if note.chars().count() > 1000 {
            return Err(crate::org::agenda::BadAction {
                field: "note",
                rule: "at most 1000 characters",
            });
        }
        Ok(Self {
            alert: alert.to_owned(),
            by: by.to_owned(),
            via: via.to_owned(),
            at,
            note: note.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_names_who_and_keeps_its_note_short() {
        let ack = Acknowledgement::new("a@all@1", "  Sam Okafor ", " on it ", "dashboard", 7)
            .expect("valid");
        assert_eq!(
            (ack.by.as_str(), ack.note.as_str()),
            ("Sam Okafor", "on it")
        );
        for (by, note, field) in [
            ("  ", "", "by"),
            (&*"x".repeat(101), "", "by"),
            ("Sam", &*"n".repeat(1001), "note"),
        ] {
            let refused = Acknowledgement::new("a", by, note, "api", 1).err();
            assert_eq!(refused.map(|e| e.field), Some(field));
        }
    }
}

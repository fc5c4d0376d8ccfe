//! What the store keeps of the organisation's outcomes (`POST /v1/outcomes`): each line once,
//! by its identity (interaction id, outcome, time), numbered in the order stored so readers
//! catch up from where they were.

use serde::{Deserialize, Serialize};

/// One outcome from the organisation's own systems: what happened after an interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The interaction it follows (`context.interaction_id` of the answer it joins).
    pub interaction: String,
    /// Its kind, an identifier (`repeat_contact`), costed in the organisation file.
    pub outcome: String,
    /// When it happened, as sent (RFC 3339).
    pub at: String,
    /// `at` in Unix milliseconds: with the interaction and the kind, the line's identity.
    pub at_millis: i64,
    /// Its own amount in the organisation's currency, when it has one (a refund), instead of
    /// the file's cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

impl Outcome {
    /// The line's identity: the same outcome of the same interaction at the same instant is
    /// one line, however often it is sent.
    pub fn identity(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.interaction.len() + self.outcome.len() + 10);
        key.extend_from_slice(self.interaction.as_bytes());
        key.push(0);
        key.extend_from_slice(self.outcome.as_bytes());
        key.push(0);
        key.extend_from_slice(&self.at_millis.to_be_bytes());
        key
    }

    /// Whether `other`, of the same identity, says the same (a retry) rather than something
    /// else (a conflict).
    pub fn same_as(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

/// What happened to one outcome offered to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomePut {
    /// Stored now, durably, under this sequence number.
    Stored(u64),
    /// Already stored with the same value.
    Duplicate,
    /// Already stored with another value; nothing changed.
    Conflict,
}

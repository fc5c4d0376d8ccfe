//! sled behind a small trait. Three trees, written together in one transaction:
//! - `responses`: arrival key → record. The key is the receive time in microseconds since the Unix
//!   epoch, strictly increasing (a clock that steps back does not reorder), so key order is arrival
//!   order and a time range is a key range.
//! - `ids`: submission id → arrival key. This is where a duplicate is detected.
//! - `interactions`: channel + touchpoint + interaction id → submission id (one answer per call).

use std::{
    path::Path,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use protocol::{Channel, Submission};
use sled::{
    transaction::{ConflictableTransactionError, TransactionError},
    Transactional,
};

/// Why the store could not do what was asked. Any of these means "not stored; try again later".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data directory {path} is in use by another collector process")]
    Locked { path: String },
    #[error("storage failed: {0}")]
    Io(#[from] sled::Error),
    #[error("a stored record is damaged (key {key})")]
    Corrupt { key: u64 },
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
}

/// One stored record, borrowed from the store while it is read.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Receive time, microseconds since the Unix epoch; also the arrival order.
    pub received_micros: u64,
    pub channel: Channel,
    pub touchpoint: &'a str,
    /// The submission in its canonical JSON form (`Submission::to_json`).
    pub json: &'a str,
}

/// The operations ingest and export need; sled implements it, tests can wrap it to inject faults.
pub trait Store: Send + Sync + 'static {
    /// Writes `submission` (canonical form `json`) unless its id or interaction is already known.
    /// The write is in memory until the next [`Store::flush`].
    fn put(&self, submission: &Submission, json: &str) -> Result<Put, StoreError>;

    /// Makes every completed `put` durable (blocking; call it off the async workers).
    fn flush(&self) -> Result<(), StoreError>;

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

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const RECORD_FORMAT: u8 = 1;

fn channel_code(channel: Channel) -> u8 {
    match channel {
        Channel::Web => 0,
        Channel::Kiosk => 1,
        Channel::Agent => 2,
    }
}

fn channel_from_code(code: u8) -> Option<Channel> {
    Channel::ALL.into_iter().find(|c| channel_code(*c) == code)
}

/// `[format][flags][channel][touchpoint len][touchpoint][canonical json]`: the header lets export
/// filter by channel and touchpoint without parsing the JSON.
fn encode(submission: &Submission, json: &str) -> Vec<u8> {
    let touchpoint = submission.touchpoint.as_str().as_bytes();
    let mut value = Vec::with_capacity(4 + touchpoint.len() + json.len());
    value.extend_from_slice(&[RECORD_FORMAT, 0, channel_code(submission.channel)]);
    value.push(touchpoint.len() as u8); // an Ident is at most 64 bytes
    value.extend_from_slice(touchpoint);
    value.extend_from_slice(json.as_bytes());
    value
}

fn decode(key: u64, value: &[u8]) -> Result<Record<'_>, StoreError> {
    let corrupt = || StoreError::Corrupt { key };
    let [format, _flags, channel, len, rest @ ..] = value else {
        return Err(corrupt());
    };
    if *format != RECORD_FORMAT || rest.len() < usize::from(*len) {
        return Err(corrupt());
    }
    let (touchpoint, json) = rest.split_at(usize::from(*len));
    Ok(Record {
        received_micros: key,
        channel: channel_from_code(*channel).ok_or_else(corrupt)?,
        touchpoint: std::str::from_utf8(touchpoint).map_err(|_| corrupt())?,
        json: std::str::from_utf8(json).map_err(|_| corrupt())?,
    })
}

fn interaction_key(submission: &Submission) -> Option<Vec<u8>> {
    let interaction = submission.context.interaction_id.as_ref()?;
    let mut key = vec![channel_code(submission.channel)];
    key.extend_from_slice(submission.touchpoint.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(interaction.as_str().as_bytes());
    Some(key)
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The sled store.
pub struct SledStore {
    db: sled::Db,
    responses: sled::Tree,
    ids: sled::Tree,
    interactions: sled::Tree,
    /// Serialises writers: the dedupe check and the write are one step, and arrival keys are
    /// handed out in order. Holds the last arrival key.
    writer: Mutex<u64>,
}

impl SledStore {
    /// Opens (or creates) the store under `dir`. Fails if another process holds it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(dir).open().map_err(|e| match e {
            sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                StoreError::Locked {
                    path: dir.display().to_string(),
                }
            }
            sled::Error::Io(io) if io.to_string().contains("lock") => StoreError::Locked {
                path: dir.display().to_string(),
            },
            other => StoreError::Io(other),
        })?;
        let responses = db.open_tree("responses")?;
        let ids = db.open_tree("ids")?;
        let interactions = db.open_tree("interactions")?;
        let last = match responses.last()? {
            Some((key, _)) => u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { key: 0 })?,
            ),
            None => 0,
        };
        Ok(Self {
            db,
            responses,
            ids,
            interactions,
            writer: Mutex::new(last),
        })
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    fn existing(&self, submission: &Submission, json: &str) -> Result<Option<Put>, StoreError> {
        if let Some(key) = self.ids.get(submission.id.as_str())? {
            let key = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { key: 0 })?,
            );
            let value = self
                .responses
                .get(key.to_be_bytes())?
                .ok_or(StoreError::Corrupt { key })?;
            let same = decode(key, &value)?.json == json;
            return Ok(Some(if same {
                Put::Duplicate
            } else {
                Put::IdConflict
            }));
        }
        if let Some(key) = interaction_key(submission) {
            if self.interactions.contains_key(key)? {
                return Ok(Some(Put::AlreadyAnswered));
            }
        }
        Ok(None)
    }
}

impl SledStore {
    /// [`Store::put`] with a chosen receive time (never earlier than the last record's): for
    /// importing and for generating demo data into an empty store.
    pub fn put_at(
        &self,
        submission: &Submission,
        json: &str,
        received_micros: u64,
    ) -> Result<Put, StoreError> {
        let mut last = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = self.existing(submission, json)? {
            return Ok(known);
        }
        let key = received_micros.max(*last + 1);
        let value = encode(submission, json);
        let interaction = interaction_key(submission);
        (&self.responses, &self.ids, &self.interactions)
            .transaction(|(responses, ids, interactions)| {
                responses.insert(&key.to_be_bytes(), value.as_slice())?;
                ids.insert(submission.id.as_str(), &key.to_be_bytes())?;
                if let Some(ik) = &interaction {
                    interactions.insert(ik.as_slice(), submission.id.as_str())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Io(e),
                TransactionError::Abort(()) => StoreError::Corrupt { key },
            })?;
        *last = key;
        Ok(Put::Stored { key })
    }
}

impl Store for SledStore {
    fn put(&self, submission: &Submission, json: &str) -> Result<Put, StoreError> {
        self.put_at(submission, json, now_micros())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn scan(
        &self,
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(Record<'_>) -> bool,
    ) -> Result<(), StoreError> {
        for entry in self.responses.range(from.to_be_bytes()..to.to_be_bytes()) {
            let (key, value) = entry?;
            let key = u64::from_be_bytes(
                key.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { key: 0 })?,
            );
            if !visit(decode(key, &value)?) {
                break;
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.responses.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(id: &str, effort: i64, interaction: Option<&str>) -> Submission {
        let context = match interaction {
            Some(i) => format!(r#","context":{{"interaction_id":"{i}"}}"#),
            None => String::new(),
        };
        let body = format!(
            r#"{{"id":"{id}","survey":{{"id":"core-cx","version":1}},"channel":"agent","touchpoint":"billing","answers":{{"effort":{effort}}},"locale":"en"{context},"submitted_at":"2026-11-22T10:00:00Z"}}"#
        );
        protocol::parse_submission(body.as_bytes()).expect("valid")
    }

    fn put(store: &SledStore, s: &Submission) -> Put {
        store.put(s, &s.to_json()).expect("put")
    }

    #[test]
    fn an_id_is_stored_once_and_conflicts_are_told_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let first = submission("aaaaaaaaaaaaaaaa01", 6, Some("call-1"));
        assert!(matches!(put(&store, &first), Put::Stored { .. }));
        assert_eq!(put(&store, &first), Put::Duplicate);
        assert_eq!(
            put(&store, &submission("aaaaaaaaaaaaaaaa01", 5, Some("call-1"))),
            Put::IdConflict
        );
        assert_eq!(
            put(&store, &submission("aaaaaaaaaaaaaaaa02", 6, Some("call-1"))),
            Put::AlreadyAnswered
        );
        assert!(matches!(
            put(&store, &submission("aaaaaaaaaaaaaaaa03", 6, Some("call-2"))),
            Put::Stored { .. }
        ));
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn arrival_keys_increase_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut keys = Vec::new();
        for round in 0..2 {
            let store = SledStore::open(dir.path()).expect("open");
            for i in 0..50 {
                let s = submission(&format!("bbbbbbbbbbbbbbbb{round}{i:02}"), 3, None);
                let Put::Stored { key } = put(&store, &s) else {
                    panic!("not stored")
                };
                keys.push(key);
            }
            store.flush().expect("flush");
        }
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "keys must strictly increase"
        );
        let store = SledStore::open(dir.path()).expect("open");
        let mut seen = Vec::new();
        store
            .scan(0, u64::MAX, &mut |r| {
                seen.push(r.received_micros);
                true
            })
            .expect("scan");
        assert_eq!(seen, keys);
    }

    #[test]
    fn a_second_process_cannot_open_the_same_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _held = SledStore::open(dir.path()).expect("open");
        assert!(matches!(
            SledStore::open(dir.path()),
            Err(StoreError::Locked { .. }) | Err(StoreError::Io(_))
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Against a model: whatever the order of first sends, retries, conflicting resends and
        /// second answers to an interaction, each id is stored at most once with its first content.
        #[test]
        fn dedupe_matches_a_model(ops in proptest::collection::vec((0u8..6, 1i64..4, proptest::option::of(0u8..3)), 1..60)) {
            use std::collections::HashMap;
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SledStore::open(dir.path()).expect("open");
            let mut by_id: HashMap<String, String> = HashMap::new();
            let mut interactions: HashMap<u8, String> = HashMap::new();
            for (id, effort, interaction) in ops {
                let id = format!("cccccccccccccccc{id}");
                let call = interaction.map(|i| format!("call-{i}"));
                let s = submission(&id, effort, call.as_deref());
                let json = s.to_json();
                let expected = match by_id.get(&id) {
                    Some(stored) if *stored == json => Put::Duplicate,
                    Some(_) => Put::IdConflict,
                    None if interaction.is_some_and(|i| interactions.contains_key(&i)) => Put::AlreadyAnswered,
                    None => {
                        by_id.insert(id.clone(), json.clone());
                        if let Some(i) = interaction {
                            interactions.insert(i, id.clone());
                        }
                        Put::Stored { key: 0 }
                    }
                };
                let got = store.put(&s, &json).expect("put");
                let got = if let Put::Stored { .. } = got { Put::Stored { key: 0 } } else { got };
                proptest::prop_assert_eq!(got, expected);
            }
            let mut stored = Vec::new();
            store.scan(0, u64::MAX, &mut |r| { stored.push(r.json.to_owned()); true }).expect("scan");
            let mut expected: Vec<String> = by_id.into_values().collect();
            stored.sort();
            expected.sort();
            proptest::prop_assert_eq!(stored, expected);
        }
    }
}

//! The sled backend: the collector's default store, embedded under `--data`. Its trees and a
//! checkpoint:
//! - `responses`: arrival key → record. The key is the receive time in microseconds since the Unix
//!   epoch, strictly increasing (a clock that steps back does not reorder), so key order is arrival
//!   order and a time range is a key range.
//! - `ids`: submission id → arrival key. This is where a duplicate is detected.
//! - `interactions`: channel + touchpoint + interaction id → submission id (one answer per call).
//! - `sealed`: older records packed 256 to a value, so an export reads 256 times fewer sled
//!   entries. A background thread moves flushed records there from `responses`.
//! - `meta/checkpoint`: the last arrival key a completed flush covered.
//! - `aggregates`: the stats cells of each day (see [`crate::stats`]), and `meta/devices`, each
//!   device's last `submitted_at`. Both live in memory and are updated with every write; about
//!   once a second (and at a clean stop) the days that changed are saved, each stamped with the
//!   arrival key it covers, made durable together with every record up to that key, and then
//!   `meta/derived` (the floor) moves to that key. On open the saved days are loaded and only the
//!   records after the floor are counted again, each into a day that does not already cover it;
//!   anything doubtful (a saved day newer than the checkpoint, a store without them) means a full
//!   rebuild from the records. Either way they match what is durably stored.
//!
//! A record's flags byte marks a *burst* ([`FLAG_BURST`], by the kiosk channel's rule), told
//! under the writer lock from each device's last stored answer.
//!
//! A record is written before its index entries, without a sled transaction (they cost six times
//! the throughput). What a crash can leave behind is confined to writes after the checkpoint, none
//! of them acknowledged: on open, every record after the checkpoint gets its index entries back
//! (so a retry is recognised, not stored twice), and an index entry whose record is missing is
//! ignored (so a retry is stored, not lost).

//!
//! Files: [`format`] the bytes of every value, [`trees`] finding and sealing records,
//! [`recovery`] repair on open and the saved stats.

mod format;
mod recovery;
mod trees;

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
};

use protocol::{Channel, Submission};

use self::format::{
    block_header, block_records, decode, encode, interaction_key, interaction_key_of, key_of,
    BLOCK_RECORDS,
};
use self::recovery::Derived;
use self::trees::{answered, Sealer, Trees};
use crate::{
    channel::kiosk,
    clock,
    stats::Aggregates,
    store::{Put, Record, Store, StoreError, FLAG_BURST},
};

/// What the writer lock guards.
pub(crate) struct Writer {
    /// The last arrival key handed out.
    pub(crate) last: u64,
    /// Each device's last stored `submitted_at` (Unix milliseconds), to tell a burst.
    pub(crate) devices: HashMap<String, i64>,
}

/// The sled store.
pub struct SledStore {
    trees: Trees,
    /// Serialises writers: the dedupe check and the write are one step, and arrival keys are
    /// handed out in order.
    writer: Arc<Mutex<Writer>>,
    stats: Arc<Aggregates>,
    block: usize,
    _sealer: Option<Sealer>,
}

impl SledStore {
    /// Opens (or creates) the store under `dir` with a 128 MiB cache. Fails if another process
    /// holds it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, 128)
    }

    /// Opens the store with a page cache of `cache_mib` MiB (the bound on the store's memory)
    /// and seals blocks in the background.
    pub fn open_with_cache(dir: &Path, cache_mib: u64) -> Result<Self, StoreError> {
        Self::open_with(dir, cache_mib, BLOCK_RECORDS, true)
    }

    /// sled panics on some damaged files instead of returning an error; opening is done where
    /// such a panic becomes [`StoreError::Damaged`] and the panic's own message is kept quiet.
    fn open_guarded(
        dir: &Path,
        cache_mib: u64,
        block: usize,
        seal: bool,
    ) -> Result<Self, StoreError> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let opened = std::panic::catch_unwind(|| Self::open_unguarded(dir, cache_mib, block, seal));
        std::panic::set_hook(hook);
        opened.unwrap_or_else(|panic| {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(StoreError::Damaged {
                path: dir.display().to_string(),
                reason,
            })
        })
    }

    fn open_with(dir: &Path, cache_mib: u64, block: usize, seal: bool) -> Result<Self, StoreError> {
        Self::open_guarded(dir, cache_mib, block, seal)
    }

    fn open_unguarded(
        dir: &Path,
        cache_mib: u64,
        block: usize,
        seal: bool,
    ) -> Result<Self, StoreError> {
        let locked = || StoreError::Locked {
            path: dir.display().to_string(),
        };
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mib.max(8) << 20)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => locked(),
                sled::Error::Io(io) if io.to_string().contains("lock") => locked(),
                other => StoreError::Io(other),
            })?;
        let trees = Trees {
            responses: db.open_tree("responses")?,
            sealed: db.open_tree("sealed")?,
            ids: db.open_tree("ids")?,
            interactions: db.open_tree("interactions")?,
            meta: db.open_tree("meta")?,
            aggregates: db.open_tree("aggregates")?,
            seal_guard: Arc::default(),
            marker: Arc::new(dir.join("touchpoint.state")),
            marked: Arc::default(),
            db,
        };
        let last_recent = match trees.responses.last()? {
            Some((key, _)) => key_of(&key)?,
            None => 0,
        };
        let last = last_recent.max(trees.last_sealed()?.unwrap_or(0));
        let marked = std::fs::read_to_string(&*trees.marker)
            .ok()
            .and_then(|text| text.trim().strip_prefix("last_key=")?.parse::<u64>().ok())
            .unwrap_or(0);
        if marked > last {
            return Err(StoreError::Damaged {
                path: dir.display().to_string(),
                reason: format!("it had records up to key {marked} and now ends at {last}"),
            });
        }
        trees
            .marked
            .store(marked, std::sync::atomic::Ordering::Relaxed);
        // The checkpoint names the last record a completed flush covered: a store that no longer
        // reaches it has lost acknowledged records and must not start as if nothing happened.
        if trees.checkpoint()? > last {
            return Err(StoreError::Damaged {
                path: dir.display().to_string(),
                reason: "records covered by a completed flush are missing".into(),
            });
        }
        let mut store = Self {
            trees,
            writer: Arc::new(Mutex::new(Writer {
                last,
                devices: HashMap::new(),
            })),
            stats: Arc::default(),
            block,
            _sealer: None,
        };
        store.reconcile()?;
        store.load_derived()?;
        if seal {
            store._sealer = Some(Sealer::start(store.trees.clone(), block, store.derived()));
        }
        Ok(store)
    }

    /// Seals every full block of flushed records now (the background sealer does this on its
    /// own); returns how many blocks were sealed.
    pub fn seal_now(&self) -> Result<usize, StoreError> {
        let mut sealed = 0;
        loop {
            match self.trees.seal(self.block, 64)? {
                0 => break,
                n => sealed += n,
            }
        }
        self.flush()?;
        self.flush()?; // the second makes the first one's checkpoint durable
        self.trees.mark_progress()?;
        Ok(sealed)
    }

    /// What the store already holds for this submission, if anything. Index entries whose record
    /// is missing (a crash lost the record) count as nothing.
    fn existing(&self, submission: &Submission, json: &str) -> Result<Option<Put>, StoreError> {
        let t = &self.trees;
        if let Some(key) = t.ids.get(submission.id.as_str())? {
            let key = key_of(&key)?;
            if let Some(value) = t.record(key)? {
                let same = decode(key, &value)?.json == json;
                return Ok(Some(if same {
                    Put::Duplicate
                } else {
                    Put::IdConflict
                }));
            }
        }
        if let Some(key) = interaction_key(submission) {
            if answered(t, &key)? {
                return Ok(Some(Put::AlreadyAnswered));
            }
        }
        Ok(None)
    }

    /// [`Store::put`] with a chosen receive time (never earlier than the last record's): for
    /// importing and for generating demo data into an empty store.
    pub fn put_at(
        &self,
        submission: &Submission,
        json: &str,
        received_micros: u64,
    ) -> Result<Put, StoreError> {
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = self.existing(submission, json)? {
            return Ok(known);
        }
        let key = received_micros.max(writer.last + 1);
        let submitted = submission.submitted_at.unix_millis();
        let device = kiosk::device(submission);
        let previous = device.as_ref().and_then(|d| writer.devices.get(d)).copied();
        let burst = kiosk::is_burst(previous, submitted);
        let flags = if burst { FLAG_BURST } else { 0 };
        let t = &self.trees;
        // The record first, then its index entries: see the module doc for why no transaction.
        t.responses
            .insert(key.to_be_bytes(), encode(submission, json, flags))?;
        t.ids.insert(submission.id.as_str(), &key.to_be_bytes())?;
        if let Some(ik) = interaction_key(submission) {
            t.interactions.insert(ik, submission.id.as_str())?;
        }
        writer.last = key;
        if let Some(device) = device {
            writer.devices.insert(device, submitted);
        }
        // Counted before the flush that acknowledges it; a crash before that flush is followed by
        // a rebuild from the records that did reach the disk.
        self.stats.add(submission, key, burst);
        Ok(Put::Stored { key })
    }

    fn derived(&self) -> Derived {
        Derived {
            writer: Arc::clone(&self.writer),
            stats: Arc::clone(&self.stats),
        }
    }

    /// A `meta` value, for tests that set up what a crash leaves.
    #[cfg(test)]
    pub(crate) fn trees_meta(&self, key: &[u8]) -> Option<sled::IVec> {
        self.trees.meta.get(key).expect("meta")
    }

    #[cfg(test)]
    pub(crate) fn set_meta(&self, key: &[u8], value: Option<sled::IVec>) {
        match value {
            Some(v) => self.trees.meta.insert(key, v).map(drop),
            None => self.trees.meta.remove(key).map(drop),
        }
        .expect("meta");
    }

    /// Saves the stats now (the sealer does it about once a second).
    pub(crate) fn save_stats(&self) -> Result<(), StoreError> {
        self.derived().save(&self.trees)?;
        self.trees.db.flush()?;
        Ok(())
    }
}

impl Drop for SledStore {
    /// A clean stop records how far the store got, so damage found at the next start is noticed
    /// even when the background sealer had not recorded it yet.
    fn drop(&mut self) {
        self._sealer.take();
        let flushed = Store::flush(self).and_then(|()| Store::flush(self));
        if let Err(error) = flushed.and_then(|()| self.trees.mark_progress()) {
            tracing::warn!(%error, "recording the store's progress at stop failed");
        }
        if let Err(error) = self.save_stats() {
            tracing::warn!(%error, "saving the stats at stop failed; they are recounted at the next start");
        }
    }
}

impl Store for SledStore {
    fn put(&self, submission: &Submission, json: &str) -> Result<Put, StoreError> {
        self.put_at(submission, json, clock::now_micros())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.derived().flush(&self.trees)
    }

    fn scan(
        &self,
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(Record<'_>) -> bool,
    ) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        let t = &self.trees;
        let _shared = t.seal_guard.read().unwrap_or_else(|p| p.into_inner());
        let first_block = match t.sealed.range(..=from.to_be_bytes()).next_back() {
            Some(entry) => entry?.0,
            None => sled::IVec::from(&from.to_be_bytes()),
        };
        for entry in t
            .sealed
            .range(first_block..sled::IVec::from(&to.to_be_bytes()))
        {
            let (_, block) = entry?;
            for record in block_records(&block) {
                let (key, value) = record?;
                if key >= to {
                    return Ok(());
                }
                if key >= from && !visit(decode(key, value)?) {
                    return Ok(());
                }
            }
        }
        let recent_from = from.max(t.last_sealed()?.map_or(0, |k| k + 1));
        if recent_from >= to {
            return Ok(());
        }
        for entry in t
            .responses
            .range(recent_from.to_be_bytes()..to.to_be_bytes())
        {
            let (key, value) = entry?;
            let key = key_of(&key)?;
            if !visit(decode(key, &value)?) {
                break;
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        let t = &self.trees;
        let sealed: usize = t
            .sealed
            .iter()
            .values()
            .filter_map(|b| b.ok().and_then(|b| block_header(&b).ok()))
            .map(|(count, _)| count as usize)
            .sum();
        sealed + t.responses.len()
    }

    fn is_empty(&self) -> bool {
        self.trees.responses.is_empty() && self.trees.sealed.is_empty()
    }

    fn interaction_answered(
        &self,
        channel: Channel,
        touchpoint: &str,
        interaction: &str,
    ) -> Result<bool, StoreError> {
        answered(
            &self.trees,
            &interaction_key_of(channel, touchpoint, interaction),
        )
    }

    fn size_on_disk(&self) -> u64 {
        self.trees.db.size_on_disk().unwrap_or(0)
    }

    fn aggregates(&self) -> Option<&Aggregates> {
        Some(&self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::format::encode_block;
    use super::*;
    use protocol::Timestamp;

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

    /// Reopens `dir` in this process: sled's background thread lets go of the lock shortly after
    /// the previous handle is dropped.
    fn reopen(dir: &Path) -> SledStore {
        for _ in 0..100 {
            match SledStore::open(dir) {
                Err(StoreError::Locked { .. }) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => return other.expect("reopen"),
            }
        }
        panic!("the store stayed locked")
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
            let store = reopen(dir.path());
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
        let store = reopen(dir.path());
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
        fn dedupe_matches_a_model(ops in proptest::collection::vec((0u8..6, 1i64..4, proptest::option::of(0u8..3), proptest::bool::weighted(0.2)), 1..60)) {
            use std::collections::HashMap;
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SledStore::open_with(dir.path(), 8, 2, false).expect("open");
            let mut by_id: HashMap<String, String> = HashMap::new();
            let mut interactions: HashMap<u8, String> = HashMap::new();
            for (id, effort, interaction, seal) in ops {
                if seal {
                    store.flush().expect("flush");
                    store.seal_now().expect("seal");
                }
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

    /// A crash can keep a record and lose its index entries (they are written after it, without a
    /// transaction), or keep an index entry and lose its record. Neither can be provoked reliably
    /// with SIGKILL, so the tests write those states directly.
    #[test]
    fn after_an_unclean_stop_retries_are_neither_stored_twice_nor_lost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kept = submission("dddddddddddddddd01", 6, Some("call-7"));
        let lost = submission("dddddddddddddddd02", 5, None);
        {
            let store = SledStore::open(dir.path()).expect("open");
            store.flush().expect("a checkpoint");
            // A record whose index entries did not reach the disk.
            let key = crate::clock::now_micros();
            store
                .trees
                .responses
                .insert(key.to_be_bytes(), encode(&kept, &kept.to_json(), 0))
                .expect("insert");
            // An index entry whose record did not.
            store
                .trees
                .ids
                .insert(lost.id.as_str(), &(key + 1).to_be_bytes())
                .expect("insert");
            store.trees.db.flush().expect("flush");
        }
        let store = reopen(dir.path());
        assert_eq!(
            put(&store, &kept),
            Put::Duplicate,
            "the record's index was restored"
        );
        let other_answer = submission("dddddddddddddddd03", 2, Some("call-7"));
        assert_eq!(put(&store, &other_answer), Put::AlreadyAnswered);
        assert!(
            matches!(put(&store, &lost), Put::Stored { .. }),
            "a dangling index entry is ignored"
        );
        assert_eq!(store.len(), 2);
    }

    fn ids_in(store: &SledStore, from: u64, to: u64) -> Vec<String> {
        let mut ids = Vec::new();
        store
            .scan(from, to, &mut |r| {
                ids.push(
                    protocol::parse_submission(r.json.as_bytes())
                        .expect("valid")
                        .id
                        .as_str()
                        .to_owned(),
                );
                true
            })
            .expect("scan");
        ids
    }

    #[test]
    fn sealed_records_are_found_scanned_in_order_and_deduplicated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open_with(dir.path(), 8, 4, false).expect("open");
        let subs: Vec<Submission> = (0..10)
            .map(|i| {
                submission(
                    &format!("eeeeeeeeeeeeeeee{i:02}"),
                    1 + i % 7,
                    Some(&format!("call-{i}")),
                )
            })
            .collect();
        let mut keys = Vec::new();
        for (i, s) in subs.iter().enumerate() {
            let Put::Stored { key } = store
                .put_at(s, &s.to_json(), 1_000 + i as u64 * 10)
                .expect("put")
            else {
                panic!("not stored")
            };
            keys.push(key);
        }
        store.flush().expect("flush");
        assert_eq!(
            store.seal_now().expect("seal"),
            2,
            "two full blocks of four"
        );
        assert_eq!(store.trees.responses.len(), 2, "the last two stay recent");
        assert_eq!(store.len(), 10);
        let all: Vec<String> = subs.iter().map(|s| s.id.as_str().to_owned()).collect();
        assert_eq!(ids_in(&store, 0, u64::MAX), all);
        assert_eq!(
            ids_in(&store, keys[2], keys[7]),
            all[2..7].to_vec(),
            "a range across blocks"
        );
        assert_eq!(ids_in(&store, keys[9], keys[9]), Vec::<String>::new());
        assert_eq!(
            put(&store, &subs[1]),
            Put::Duplicate,
            "found inside a sealed block"
        );
        assert_eq!(
            put(&store, &submission("eeeeeeeeeeeeeeee01", 7, Some("call-1"))),
            Put::IdConflict
        );
        assert_eq!(
            put(&store, &submission("eeeeeeeeeeeeeeee99", 3, Some("call-5"))),
            Put::AlreadyAnswered
        );
    }

    fn kiosk(n: u32, device: &str, submitted_at: &str) -> Submission {
        let body = format!(
            r#"{{"id":"kioskkioskkiosk{n:04}","survey":{{"id":"core-cx","version":1}},"channel":"kiosk","touchpoint":"branch-queue","answers":{{"effort":4}},"locale":"en","context":{{"site_id":"branch-042","device_id":"{device}"}},"submitted_at":"{submitted_at}"}}"#
        );
        protocol::parse_submission(body.as_bytes()).expect("valid")
    }

    fn flags_in(store: &SledStore) -> Vec<u8> {
        let mut flags = Vec::new();
        store
            .scan(0, u64::MAX, &mut |r| {
                flags.push(r.flags);
                true
            })
            .expect("scan");
        flags
    }

    /// The burst rule: answers from one device given closer together than a person could give
    /// them are flagged (never dropped); the spacing that counts is the answers' own
    /// `submitted_at`, not when they arrive.
    #[test]
    fn a_burst_from_one_device_is_flagged_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let answers = [
            kiosk(1, "kiosk-1", "2026-11-22T10:00:00Z"),
            kiosk(2, "kiosk-1", "2026-11-22T10:00:01Z"), // one second later: a burst
            kiosk(3, "kiosk-1", "2026-11-22T10:00:02.500Z"), // still bursting
            kiosk(4, "kiosk-2", "2026-11-22T10:00:02.600Z"), // another device
            kiosk(5, "kiosk-1", "2026-11-22T10:01:00Z"), // a person's pace again
        ];
        for s in &answers {
            assert!(matches!(put(&store, s), Put::Stored { .. }));
        }
        assert_eq!(flags_in(&store), [0, FLAG_BURST, FLAG_BURST, 0, 0]);
        assert_eq!(
            put(&store, &answers[1]),
            Put::Duplicate,
            "a retry is not a burst"
        );
        // The devices' last answers survive a clean stop.
        drop(store);
        let store = reopen(dir.path());
        put(&store, &kiosk(6, "kiosk-1", "2026-11-22T10:01:01Z"));
        assert_eq!(flags_in(&store).last(), Some(&FLAG_BURST));
    }

    /// Regression (issue 4): a kiosk offline for days drains hundreds of queued answers within
    /// seconds of reconnecting; answered at a person's pace, none of them is a burst.
    #[test]
    fn a_drained_offline_backlog_with_realistic_spacing_is_not_flagged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let start = Timestamp::parse("2026-11-18T08:00:00Z")
            .expect("a time")
            .unix_millis();
        let mut at = start;
        let received = crate::clock::now_micros();
        for n in 0..300u32 {
            // Between 20 s and 20 min apart, as customers come to the kiosk.
            at += 20_000 + i64::from(n % 60) * 20_000;
            let s = kiosk(n, "kiosk-3", Timestamp::from_unix_millis(at).as_str());
            // All of them arrive within the same few milliseconds.
            assert!(matches!(
                store.put_at(&s, &s.to_json(), received + u64::from(n)),
                Ok(Put::Stored { .. })
            ));
        }
        assert!(flags_in(&store).iter().all(|f| *f == 0));
    }

    /// A crash between writing a block and removing its records leaves both copies.
    #[test]
    fn a_crash_while_sealing_leaves_no_second_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let subs: Vec<Submission> = (0..4)
            .map(|i| submission(&format!("ffffffffffffffff{i:02}"), 4, None))
            .collect();
        {
            let store = SledStore::open_with(dir.path(), 8, 4, false).expect("open");
            for s in &subs {
                put(&store, s);
            }
            store.flush().expect("flush");
            let records: Vec<(u64, sled::IVec)> = store
                .trees
                .responses
                .iter()
                .map(|e| {
                    e.map(|(k, v)| (key_of(&k).expect("key"), v))
                        .expect("entry")
                })
                .collect();
            store
                .trees
                .sealed
                .insert(records[0].0.to_be_bytes(), encode_block(&records))
                .expect("insert");
            store.trees.db.flush().expect("flush");
        }
        let store = reopen(dir.path());
        assert_eq!(store.len(), 4);
        assert_eq!(ids_in(&store, 0, u64::MAX).len(), 4);
        assert_eq!(put(&store, &subs[0]), Put::Duplicate);
    }
}

//! Recovery of the sled backend: what an unclean stop can leave is repaired on open, and the
//! stats cells and the devices' last answers are recovered from what was saved, or rebuilt from
//! the records; [`Derived`] saves them about once a second while the store runs.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use super::format::{
    decode, decode_devices, encode_devices, interaction_key, key_of, CHECKPOINT, DERIVED,
    DERIVED_FORMAT, DEVICES,
};
use super::trees::Trees;
use super::{SledStore, Writer};
use crate::{
    channel::kiosk,
    stats::{self, Aggregates},
    store::{Store, StoreError, FLAG_BURST},
};

/// The writer and the stats, shared with the sealer thread, which saves the stats.
#[derive(Clone)]
pub(super) struct Derived {
    pub(super) writer: Arc<Mutex<Writer>>,
    pub(super) stats: Arc<Aggregates>,
}

impl Derived {
    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes every write so far durable and records the last key it covered (the checkpoint).
    pub(super) fn flush(&self, trees: &Trees) -> Result<(), StoreError> {
        let covered = self.writer().last;
        trees.db.flush()?;
        // Durable with the next flush; until then the previous checkpoint stays valid.
        trees.meta.insert(CHECKPOINT, &covered.to_be_bytes())?;
        Ok(())
    }

    /// Saves the days changed since the last save and the devices, as of one arrival key; makes
    /// them and every record up to that key durable; then moves the floor to that key.
    pub(super) fn save(&self, trees: &Trees) -> Result<(), StoreError> {
        let (covered, days, devices) = {
            // Under the writer lock: the cells hold exactly the records up to `last`.
            let writer = self.writer();
            (
                writer.last,
                self.stats.take_dirty(),
                encode_devices(&writer.devices),
            )
        };
        if days.is_empty() && floor(trees)? == Some(covered) {
            return Ok(());
        }
        let stamp = covered.to_be_bytes();
        let written = (|| {
            for (day, cells) in &days {
                let mut value = Vec::with_capacity(9 + cells.len());
                value.push(DERIVED_FORMAT);
                value.extend_from_slice(&stamp);
                value.extend_from_slice(cells);
                trees
                    .aggregates
                    .insert((*day as u64).to_be_bytes(), value)?;
            }
            trees
                .meta
                .insert(DEVICES, [&stamp[..], &devices].concat())?;
            // The first flush makes the days and the records durable, the second the checkpoint
            // that covers them; only then may the floor move.
            self.flush(trees)?;
            self.flush(trees)?;
            trees
                .meta
                .insert(DERIVED, [&[DERIVED_FORMAT][..], &stamp].concat())?;
            Ok(())
        })();
        if written.is_err() {
            // Saved again next time: the floor must not pass a day that was not saved.
            self.stats.mark_dirty(days.iter().map(|(day, _)| *day));
        }
        written
    }
}

/// The saved floor, when the saved stats are of this format.
fn floor(trees: &Trees) -> Result<Option<u64>, StoreError> {
    Ok(trees.meta.get(DERIVED)?.and_then(|v| match &v[..] {
        [DERIVED_FORMAT, key @ ..] => key_of(key).ok(),
        _ => None,
    }))
}

impl SledStore {
    /// Repairs what an unclean stop can leave: records written after the last checkpoint get
    /// their index entries back (a crash may have kept a record and lost its index entries), and
    /// records both sealed and recent (a crash while sealing) lose their recent copy. Then flushes.
    pub(super) fn reconcile(&self) -> Result<(), StoreError> {
        let t = &self.trees;
        let mut removed = 0u64;
        if let Some(last_sealed) = t.last_sealed()? {
            for entry in t.responses.range(..=last_sealed.to_be_bytes()) {
                t.responses.remove(entry?.0)?;
                removed += 1;
            }
        }
        let mut repaired = 0u64;
        for entry in t.responses.range((t.checkpoint()? + 1).to_be_bytes()..) {
            let (key_bytes, value) = entry?;
            let key = key_of(&key_bytes)?;
            let record = decode(key, &value)?;
            let submission = protocol::parse_submission(record.json.as_bytes())
                .map_err(|_| StoreError::Corrupt { key })?;
            match t.ids.get(submission.id.as_str())? {
                Some(indexed) if key_of(&indexed)? == key => {}
                Some(indexed) if t.record(key_of(&indexed)?)?.is_some() => {
                    // A second copy of a stored id: keep the first.
                    t.responses.remove(&key_bytes)?;
                    removed += 1;
                    continue;
                }
                _ => {
                    t.ids.insert(submission.id.as_str(), &key.to_be_bytes())?;
                    repaired += 1;
                }
            }
            if let Some(ik) = interaction_key(&submission) {
                t.interactions.insert(ik, submission.id.as_str())?;
            }
        }
        if repaired + removed > 0 {
            tracing::warn!(
                repaired,
                removed,
                "repaired the store after an unclean stop"
            );
        }
        self.flush()
    }

    /// The stats cells and the devices' last answers: recovered from what was saved, or rebuilt
    /// from the records; then saved, so the floor is current.
    pub(super) fn load_derived(&self) -> Result<(), StoreError> {
        match self.recover_into(&self.stats)? {
            Some(devices) => {
                self.writer
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .devices = devices
            }
            None => self.rebuild_derived()?,
        }
        self.derived().save(&self.trees)
    }

    /// Loads the saved days into `stats` and counts again the records after the floor, each into
    /// a day that does not already cover it; returns the devices' last answers. `None` when what
    /// was saved cannot be trusted (then `stats` holds partial counts: clear it).
    pub(crate) fn recover_into(
        &self,
        stats: &Aggregates,
    ) -> Result<Option<HashMap<String, i64>>, StoreError> {
        let t = &self.trees;
        let Some(floor) = floor(t)? else {
            return Ok(None);
        };
        let checkpoint = t.checkpoint()?;
        // Saved with a key that no completed flush covered: its records may be lost.
        let trusted = |key: u64| key <= checkpoint;
        let mut covers: HashMap<i64, u64> = HashMap::new();
        for entry in t.aggregates.iter() {
            let (day, value) = entry?;
            let day = key_of(&day)? as i64;
            let (DERIVED_FORMAT, Some(key)) = (
                value.first().copied().unwrap_or(0),
                value.get(1..9).and_then(|k| key_of(k).ok()),
            ) else {
                return Ok(None);
            };
            if !trusted(key) || stats.load_day(day, &value[9..]).is_none() {
                return Ok(None);
            }
            covers.insert(day, key);
        }
        let Some(saved) = t.meta.get(DEVICES)? else {
            return Ok(None);
        };
        let Some((devices_key, mut devices)) = saved
            .get(..8)
            .and_then(|k| key_of(k).ok())
            .zip(decode_devices(&saved[8.min(saved.len())..]))
        else {
            return Ok(None);
        };
        if !trusted(devices_key) || !trusted(floor) {
            return Ok(None);
        }
        let mut replayed = 0u64;
        self.scan(floor + 1, u64::MAX, &mut |record| {
            let Ok(submission) = protocol::parse_submission(record.json.as_bytes()) else {
                return true;
            };
            let key = record.received_micros;
            let day = stats::day_of(submission.submitted_at.unix_millis(), key);
            if key > covers.get(&day).copied().unwrap_or(0) {
                stats.add(&submission, key, record.flags & FLAG_BURST != 0);
                replayed += 1;
            }
            if key > devices_key {
                if let Some(device) = kiosk::device(&submission) {
                    devices.insert(device, submission.submitted_at.unix_millis());
                }
            }
            true
        })?;
        if replayed > 0 {
            tracing::info!(
                replayed,
                "counted the records written after the stats were saved"
            );
        }
        Ok(Some(devices))
    }

    /// Recounts every record into fresh cells and devices.
    pub(crate) fn rebuild_derived(&self) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        self.stats.clear();
        self.trees.aggregates.clear()?;
        let mut devices = HashMap::new();
        let mut unreadable = 0u64;
        let mut records = 0u64;
        self.scan(0, u64::MAX, &mut |record| {
            match protocol::parse_submission(record.json.as_bytes()) {
                Ok(submission) => {
                    if let Some(device) = kiosk::device(&submission) {
                        devices.insert(device, submission.submitted_at.unix_millis());
                    }
                    self.stats.add(
                        &submission,
                        record.received_micros,
                        record.flags & FLAG_BURST != 0,
                    );
                    records += 1;
                }
                // Kept and exported as stored; only the stats cannot count it.
                Err(_) => unreadable += 1,
            }
            true
        })?;
        if unreadable > 0 {
            tracing::warn!(unreadable, "records the stats could not read were left out");
        }
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .devices = devices;
        if records > 0 {
            tracing::info!(
                records,
                rebuild_seconds = started.elapsed().as_secs_f64(),
                "rebuilt the stats from the records"
            );
        }
        Ok(())
    }
}

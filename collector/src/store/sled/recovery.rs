//! Recovery of the sled backend: what an unclean stop can leave is repaired on open, and the
//! stats cells and the devices' last answers are recovered from what was saved, or rebuilt from
//! the records; [`Derived`] saves those that changed about once a second while the store runs.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use super::format::{
    decode, decode_cell, decode_device, encode_cell, encode_device, interaction_key, key_of,
    CHECKPOINT, DERIVED, DERIVED_FORMAT, DEVICES_FORMAT_2,
};
use super::index::Recent;
use super::trees::Trees;
use super::{SledStore, Writer};
use crate::{
    channel::kiosk,
    clock,
    stats::{self, themes::PHRASES_TAG, Aggregates},
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
        trees.flush()?;
        // Durable with the next flush; until then the previous checkpoint stays valid.
        trees.meta.insert(CHECKPOINT, &covered.to_be_bytes())?;
        Ok(())
    }

    /// Saves the cells and the devices changed since the last save, as of one arrival key;
    /// makes them and every record up to that key durable; then moves the floor to that key.
    /// What it writes is what changed, whatever the open days and devices already hold: a cell
    /// of a day still taking answers, a device on its own; a closed day (before yesterday, by
    /// the one clock) as one packed value. Returns how many bytes of keys and values it gave the
    /// store to write.
    pub(super) fn save(&self, trees: &Trees) -> Result<usize, StoreError> {
        self.save_closing(trees, clock::today() - 1)
    }

    /// [`Derived::save`], with the days before `closed_before` closed.
    pub(super) fn save_closing(
        &self,
        trees: &Trees,
        closed_before: i64,
    ) -> Result<usize, StoreError> {
        let (covered, cells, devices) = {
            // Under the writer lock: the cells hold exactly the records up to `last`.
            let mut writer = self.writer();
            let names: Vec<String> = writer.changed_devices.drain().collect();
            let changed: Vec<(String, i64)> = names
                .into_iter()
                .filter_map(|d| writer.devices.get(&d).map(|m| (d, *m)))
                .collect();
            (writer.last, self.stats.take_changed(closed_before), changed)
        };
        if cells.is_empty() && devices.is_empty() && floor(trees)? == Some(covered) {
            return Ok(0);
        }
        let written = (|| {
            let mut bytes = 0;
            for (key, counts) in &cells.entries {
                let value = encode_cell(covered, counts);
                bytes += key.len() + value.len();
                if let Some(replaced) = stats::replaced_by(key) {
                    // A packed day replaces the day's single cells, a whole theme group its
                    // pieces, at once: a crash leaves either, never both.
                    let mut batch = sled::Batch::default();
                    for single in trees.aggregates.scan_prefix(replaced).keys() {
                        batch.remove(single?);
                    }
                    batch.insert(key.as_slice(), value);
                    trees.aggregates.apply_batch(batch)?;
                } else {
                    trees.aggregates.insert(key.as_slice(), value)?;
                }
            }
            for (device, millis) in &devices {
                let value = encode_device(covered, *millis);
                bytes += device.len() + value.len();
                trees.devices.insert(device.as_bytes(), &value)?;
            }
            // The first flush makes the cells and the records durable, the second the checkpoint
            // that covers them; only then may the floor move.
            self.flush(trees)?;
            self.flush(trees)?;
            trees.meta.insert(
                DERIVED,
                [&[DERIVED_FORMAT][..], &covered.to_be_bytes()].concat(),
            )?;
            Ok(bytes)
        })();
        if written.is_err() {
            // Saved again next time: the floor must not pass a cell or device that was not saved.
            self.stats.mark_changed(cells);
            self.writer()
                .changed_devices
                .extend(devices.into_iter().map(|(d, _)| d));
        }
        written
    }
}

/// The devices' last answers as recovered, and those that changed since they were saved.
#[derive(Debug, Default)]
pub(crate) struct Devices {
    pub(crate) last: HashMap<String, i64>,
    pub(crate) changed: HashSet<String>,
}

/// The saved floor, when the saved stats are of this format.
fn floor(trees: &Trees) -> Result<Option<u64>, StoreError> {
    Ok(trees.meta.get(DERIVED)?.and_then(|v| match &v[..] {
        [DERIVED_FORMAT, key @ ..] => key_of(key).ok(),
        _ => None,
    }))
}

impl SledStore {
    /// Repairs what an unclean stop can leave and builds the recent index: records both sealed
    /// and recent (a crash while sealing) lose their recent copy; every other record in
    /// `responses` is indexed by id and interaction in memory (a second copy of an id, which
    /// stores of an older form could hold, is removed, the first kept); the `ids` and
    /// `interactions` entries older forms wrote for recent records are dropped. Then flushes.
    pub(super) fn reconcile(&self) -> Result<(), StoreError> {
        let t = &self.trees;
        let mut removed = 0u64;
        if let Some(last_sealed) = t.last_sealed()? {
            let mut copies = sled::Batch::default();
            for entry in t.responses.range(..=last_sealed.to_be_bytes()) {
                copies.remove(entry?.0);
                removed += 1;
            }
            t.responses.apply_batch(copies)?;
        }
        let mut recent = Recent::default();
        let mut unreadable = 0u64;
        for entry in t.responses.iter() {
            let (key_bytes, value) = entry?;
            let key = key_of(&key_bytes)?;
            let Ok(submission) = protocol::parse_submission(decode(key, &value)?.json.as_bytes())
            else {
                // Kept and exported as stored; no answer can be sent again with its id.
                unreadable += 1;
                continue;
            };
            if !recent.add(submission.id.as_str(), interaction_key(&submission), key) {
                t.responses.remove(&key_bytes)?;
                removed += 1;
            }
        }
        for tree in [&t.ids, &t.interactions] {
            if !tree.is_empty() {
                tree.clear()?;
            }
        }
        if removed + unreadable > 0 {
            tracing::warn!(
                removed,
                unreadable,
                "repaired the store after an unclean stop"
            );
        }
        *t.recent() = recent;
        self.flush()
    }

    /// The stats cells and the devices' last answers: recovered from what was saved, or rebuilt
    /// from the records; then saved, so the floor is current.
    pub(super) fn load_derived(&self) -> Result<(), StoreError> {
        match self.recover_into(&self.stats)? {
            Some(devices) => {
                let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
                writer.devices = devices.last;
                writer.changed_devices = devices.changed;
            }
            None => {
                self.rebuild_derived()?;
                crate::allocator::release_freed();
            }
        }
        self.derived().save(&self.trees).map(drop)
    }

    /// Loads the saved cells into `stats` and counts again the records after the floor, each into
    /// a cell that does not already cover it; returns the devices' last answers. `None` when what
    /// was saved cannot be trusted (then `stats` holds partial counts: clear it).
    pub(crate) fn recover_into(&self, stats: &Aggregates) -> Result<Option<Devices>, StoreError> {
        let t = &self.trees;
        let Some(floor) = floor(t)? else {
            return Ok(None);
        };
        let checkpoint = t.checkpoint()?;
        // Saved with a key that no completed flush covered: its records may be lost.
        let trusted = |key: u64| key <= checkpoint;
        if !trusted(floor) {
            return Ok(None);
        }
        let mut covers: HashMap<Vec<u8>, u64> = HashMap::new();
        // The saved phrases first: the theme cells name them by id.
        let phrases = t.aggregates.scan_prefix([PHRASES_TAG]);
        let others = t
            .aggregates
            .iter()
            .filter(|e| !matches!(e, Ok((k, _)) if k.first() == Some(&PHRASES_TAG)));
        for entry in phrases.chain(others) {
            let (key, value) = entry?;
            let Some((stamp, counts)) = decode_cell(&value) else {
                return Ok(None);
            };
            if !trusted(stamp) || stats.load_cell(&key, counts).is_none() {
                return Ok(None);
            }
            if stamp > floor {
                // A theme group's pieces: the latest covers the group.
                let cell = stats::themes::covered_key(&key);
                let covered = covers.entry(cell.to_vec()).or_default();
                *covered = stamp.max(*covered);
            }
        }
        let mut devices = Devices::default();
        let mut device_covers: HashMap<String, u64> = HashMap::new();
        for entry in t.devices.iter() {
            let (name, value) = entry?;
            let (Ok(name), Some((stamp, millis))) =
                (String::from_utf8(name.to_vec()), decode_device(&value))
            else {
                return Ok(None);
            };
            if !trusted(stamp) {
                return Ok(None);
            }
            if stamp > floor {
                device_covers.insert(name.clone(), stamp);
            }
            devices.last.insert(name, millis);
        }
        let mut replayed = 0u64;
        self.scan(floor + 1, u64::MAX, &mut |record| {
            let Ok(submission) = protocol::parse_submission(record.json.as_bytes()) else {
                return true;
            };
            let key = record.received_micros;
            let burst = record.flags & FLAG_BURST != 0;
            // Into each cell (stats or theme) that its saved copy does not already cover.
            let uncovered = |cell: &[u8]| {
                let covered = covers
                    .get(cell)
                    .or_else(|| stats::packed_day_key(cell).and_then(|day| covers.get(&day)));
                key > covered.copied().unwrap_or(floor)
            };
            if stats.add_where(&submission, key, burst, Some(&uncovered)) {
                replayed += 1;
            }
            if let Some(device) = kiosk::device(&submission) {
                if key > device_covers.get(&device).copied().unwrap_or(floor) {
                    devices
                        .last
                        .insert(device.clone(), submission.submitted_at.unix_millis());
                    devices.changed.insert(device);
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
        self.trees.devices.clear()?;
        self.trees.meta.remove(DEVICES_FORMAT_2)?;
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
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer.changed_devices = devices.keys().cloned().collect();
        writer.devices = devices;
        drop(writer);
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

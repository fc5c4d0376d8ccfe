//! The sled backend's trees: finding a record (recent or sealed), the checkpoint and the
//! progress marker, and moving flushed records into sealed blocks.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, RwLock,
    },
};

use super::compact::{each_record, encode_block};
use super::format::{block_header, key_of, CHECKPOINT};
use crate::store::StoreError;

/// Whether the interaction under `key` has a stored answer (an index entry whose record a crash
/// left missing does not count).
pub(super) fn answered(t: &Trees, key: &[u8]) -> Result<bool, StoreError> {
    let Some(id) = t.interactions.get(key)? else {
        return Ok(false);
    };
    match t.ids.get(&id)? {
        Some(arrival) => Ok(t.record(key_of(&arrival)?)?.is_some()),
        None => Ok(false),
    }
}

/// The trees, cloneable so the sealer thread can hold them.
#[derive(Clone)]
pub(super) struct Trees {
    pub(super) db: sled::Db,
    pub(super) responses: sled::Tree,
    pub(super) sealed: sled::Tree,
    pub(super) ids: sled::Tree,
    pub(super) interactions: sled::Tree,
    pub(super) meta: sled::Tree,
    pub(super) aggregates: sled::Tree,
    pub(super) devices: sled::Tree,
    pub(super) sessions: sled::Tree,
    /// Short invitation links (see the module's layout).
    pub(super) links: sled::Tree,
    pub(super) actions: sled::Tree,
    /// Events not yet handed to their endpoints, by [`EventKey`](crate::store::events::EventKey).
    pub(super) outbox: sled::Tree,
    /// Pending deliveries: endpoint id, a zero byte, the event key → the delivery as JSON.
    pub(super) deliveries: sled::Tree,
    /// Endpoints' states (`endpoint/<id>`), alerts (`alert/<id>`) and their acknowledgements
    /// (`ack/<alert id>`), as JSON.
    pub(super) hooks: sled::Tree,
    /// The organisation's outcomes, by identity and by sequence number.
    pub(super) outcomes: sled::Tree,
    /// Scans hold it shared; sealing holds it exclusively while it moves records, so a scan
    /// never sees a record twice or misses one that moved under it.
    pub(super) seal_guard: Arc<RwLock<()>>,
    /// `touchpoint.state` beside sled's files: how far the store had got, kept outside sled so
    /// that a damaged sled file that opens empty is noticed.
    pub(super) marker: Arc<PathBuf>,
    pub(super) marked: Arc<Mutex<u64>>,
    /// Set by the first flush that fails. sled 0.34 keeps its first I/O error until it is opened
    /// again and fails every later write, yet a flush with nothing new to write still returns
    /// `Ok`: without this, such a flush would look like the disk had recovered.
    pub(super) failed: Arc<AtomicBool>,
}

impl Trees {
    /// Makes every write so far durable; once a flush has failed, every later one fails too,
    /// until the store is opened again.
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(StoreError::Io(sled::Error::Io(std::io::Error::other(
                "an earlier write failed; the store writes again once reopened",
            ))));
        }
        self.db.flush().map(drop).map_err(|error| {
            self.failed.store(true, Ordering::SeqCst);
            StoreError::Io(error)
        })
    }

    /// Records the checkpoint in the marker file (written aside, synced, renamed) when it moved.
    /// One writer at a time (the sealer and a caller may both record progress): two would write
    /// the same file aside, and the second rename would find it gone.
    pub(super) fn mark_progress(&self) -> Result<(), StoreError> {
        let mut marked = self.marked.lock().unwrap_or_else(|p| p.into_inner());
        let checkpoint = self.checkpoint()?;
        if checkpoint <= *marked {
            return Ok(());
        }
        let aside = self.marker.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&aside)?;
            std::io::Write::write_all(&mut file, format!("last_key={checkpoint}\n").as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&aside, &*self.marker)
        };
        write().map_err(|e| StoreError::Io(sled::Error::Io(e)))?;
        *marked = checkpoint;
        Ok(())
    }

    pub(super) fn checkpoint(&self) -> Result<u64, StoreError> {
        Ok(match self.meta.get(CHECKPOINT)? {
            Some(v) => key_of(&v)?,
            None => 0,
        })
    }

    /// The last key in a sealed block, if any block exists.
    pub(super) fn last_sealed(&self) -> Result<Option<u64>, StoreError> {
        match self.sealed.last()? {
            Some((_, block)) => Ok(Some(block_header(&block)?.1)),
            None => Ok(None),
        }
    }

    /// The stored record under `key`, recent or sealed. Sealing writes a block before it removes
    /// the records, so looking in `responses` first and the blocks second never misses one.
    pub(super) fn record(&self, key: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.responses.get(key.to_be_bytes())? {
            return Ok(Some(value.to_vec()));
        }
        if let Some((_, block)) = self
            .sealed
            .range(..=key.to_be_bytes())
            .next_back()
            .transpose()?
        {
            let mut found = None;
            each_record(&block, &mut |k, record| {
                if k == key {
                    found = Some(record.to_vec());
                }
                Ok(k < key)
            })?;
            return Ok(found);
        }
        Ok(None)
    }

    /// Moves the oldest flushed records into sealed blocks of `block` records, at most
    /// `max_blocks` at a time; returns how many blocks it sealed (0 when fewer than `block`
    /// records wait). The blocks are flushed before the records leave `responses`, so a crash in
    /// between leaves two copies (removed again on open), never none.
    pub(super) fn seal(&self, block: usize, max_blocks: usize) -> Result<usize, StoreError> {
        let checkpoint = self.checkpoint()?;
        let _exclusive = self.seal_guard.write().unwrap_or_else(|p| p.into_inner());
        let mut records = Vec::with_capacity(block);
        let mut sealed_keys = Vec::new();
        for entry in self
            .responses
            .range(..=checkpoint.to_be_bytes())
            .take(block * max_blocks)
        {
            let (key, value) = entry?;
            records.push((key_of(&key)?, value));
            if records.len() == block {
                self.sealed
                    .insert(records[0].0.to_be_bytes(), encode_block(&records))?;
                sealed_keys.extend(records.drain(..).map(|(key, _)| key));
            }
        }
        if sealed_keys.is_empty() {
            return Ok(0);
        }
        self.flush()?;
        for key in &sealed_keys {
            self.responses.remove(key.to_be_bytes())?;
        }
        Ok(sealed_keys.len() / block)
    }
}

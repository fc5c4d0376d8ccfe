//! The sled backend's trees: finding a record (recent or sealed, by arrival key, id or
//! interaction), the checkpoint and the progress marker, and moving flushed records into sealed
//! blocks, whose index replaces their `ids` and `interactions` entries, each with its part of the
//! business view's index saved beside it.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, RwLock,
    },
    time::Instant,
};

use super::blocks::BlockFile;
use super::compact::{
    block_index, each_record, encode_block, parse_records, record_at, Deflater, Indexed,
};
use super::format::{
    block_header, block_pointer, decode, interaction_key, key_of, pointed, CHECKPOINT,
};
use super::index::{BlockIndex, HashKey, Recent, SealedIndex};
use super::joined;
use crate::stats::joins::Joins;
use crate::store::StoreError;

/// Writes `bytes` to the file at `path` whole or not at all: to a file beside it (its name and
/// `.tmp`), synced, then renamed over it.
pub(super) fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".tmp");
    let mut file = std::fs::File::create(&aside)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    std::fs::rename(&aside, path)
}

/// Whether the interaction under `key` has a stored answer: a recent one, or a sealed one through
/// the sealed index.
pub(super) fn answered(t: &Trees, key: &[u8]) -> Result<bool, StoreError> {
    if let Some(arrival) = t.recent().interaction(key) {
        if t.record(arrival)?.is_some() {
            return Ok(true);
        }
    }
    t.sealed_interaction(key)
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
    /// The business view's index of each sealed block, keyed as `sealed` ([`super::joined`]).
    pub(super) joined: sled::Tree,
    /// The sealed blocks' bytes, which `sealed` points to ([`super::blocks`]).
    pub(super) blocks: Arc<BlockFile>,
    /// The records in `responses` by id and interaction, in memory ([`Recent`]).
    pub(super) recent: Arc<Mutex<Recent>>,
    /// The sealed blocks' ids and interaction keys, in memory ([`SealedIndex`]).
    pub(super) index: Arc<RwLock<SealedIndex>>,
    /// The key of the hashes in the blocks and in `index`.
    pub(super) hash_key: HashKey,
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
            return Err(StoreError::from(std::io::Error::other(
                "an earlier write failed; the store writes again once reopened",
            )));
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
        replace_file(&self.marker, format!("last_key={checkpoint}\n").as_bytes())?;
        *marked = checkpoint;
        Ok(())
    }

    pub(super) fn checkpoint(&self) -> Result<u64, StoreError> {
        Ok(match self.meta.get(CHECKPOINT)? {
            Some(v) => key_of(&v)?,
            None => 0,
        })
    }

    /// The block a `sealed` value under `key` holds or points to.
    pub(super) fn block_of(&self, key: u64, value: sled::IVec) -> Result<sled::IVec, StoreError> {
        Ok(
            match pointed(&value).map_err(|_| StoreError::Corrupt { key })? {
                Some((offset, len)) => sled::IVec::from(self.blocks.read(key, offset, len)?),
                None => value,
            },
        )
    }

    /// Writes `block` to the end of the file of sealed blocks, not yet synced, and returns
    /// the `sealed` value that points to it.
    pub(super) fn put_in_file(&self, block: &[u8]) -> Result<Vec<u8>, StoreError> {
        block_pointer(block, self.blocks.append(block)?)
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
        if let Some(block) = self
            .sealed
            .range(..=key.to_be_bytes())
            .next_back()
            .transpose()?
        {
            let block = self.block_of(key_of(&block.0)?, block.1)?;
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

    /// Reads the index of every sealed block into memory (at open: one value per block, not an
    /// entry per record).
    pub(super) fn load_index(&self) -> Result<(), StoreError> {
        let mut index = SealedIndex::default();
        for entry in self.sealed.iter() {
            let (key, value) = entry?;
            let block = self.block_of(key_of(&key)?, value)?;
            let block_index = block_index(&block)?.ok_or(StoreError::Corrupt { key: 0 })?;
            index.load(key_of(&key)?, block_header(&block)?.1, &block_index);
        }
        index.shrink();
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = index;
        Ok(())
    }

    /// The arrival key and record of the sealed record with this id, if there is one: the blocks
    /// the index names are read and the id confirmed in them, so a hash that two ids share
    /// never mistakes one for the other.
    pub(super) fn sealed_id(&self, id: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let hash = self.hash_key.hash(id.as_bytes());
        let mut found = None;
        let blocks = self.sealed_index().id_blocks(hash);
        self.in_sealed(
            blocks,
            |index| index.ids_hashed(hash).collect(),
            |submission| submission.id.as_str() == id,
            &mut found,
        )?;
        Ok(found)
    }

    /// Whether a sealed record answered the interaction under `key` (confirmed as
    /// [`Self::sealed_id`] confirms an id).
    pub(super) fn sealed_interaction(&self, key: &[u8]) -> Result<bool, StoreError> {
        let hash = self.hash_key.hash(key);
        let mut found = None;
        let blocks = self.sealed_index().interaction_blocks(hash);
        self.in_sealed(
            blocks,
            |index| index.interactions_hashed(hash).collect(),
            |submission| interaction_key(submission).as_deref() == Some(key),
            &mut found,
        )?;
        Ok(found.is_some())
    }

    pub(super) fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn sealed_index(&self) -> std::sync::RwLockReadGuard<'_, SealedIndex> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The first record, in the blocks under `blocks` at the positions `positions` gives, that
    /// `is` accepts.
    fn in_sealed(
        &self,
        blocks: Vec<u64>,
        positions: impl Fn(&BlockIndex) -> Vec<u32>,
        is: impl Fn(&protocol::Submission) -> bool,
        found: &mut Option<(u64, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        for block_key in blocks {
            let Some(value) = self.sealed.get(block_key.to_be_bytes())? else {
                continue;
            };
            let block = self.block_of(block_key, value)?;
            let Some(index) = block_index(&block)? else {
                continue;
            };
            for position in positions(&index) {
                let Some((key, record)) = record_at(&block, position)? else {
                    continue;
                };
                let json = decode(key, &record)?.json;
                if protocol::parse_submission(json.as_bytes()).is_ok_and(|s| is(&s)) {
                    *found = Some((key, record));
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Removes the `ids` and `interactions` entries of records a durable block indexes (those
    /// that stores of the older forms kept).
    pub(super) fn unindex(&self, indexed: &[Indexed]) -> Result<(), StoreError> {
        let mut ids = sled::Batch::default();
        let mut interactions = sled::Batch::default();
        for record in indexed {
            ids.remove(record.id.as_bytes());
            if let Some(ik) = &record.interaction {
                interactions.remove(ik.as_slice());
            }
        }
        self.interactions.apply_batch(interactions)?;
        self.ids.apply_batch(ids)?;
        Ok(())
    }

    /// Moves the oldest flushed records into sealed blocks of `block` records, at most
    /// `max_blocks` at a time; returns how many blocks it sealed (0 when fewer than `block`
    /// records wait). Each block carries the hashes of its ids and interaction keys, added to the
    /// in-memory index as it is written. The blocks are flushed before their records' index
    /// entries and then the records leave their trees, so a crash in between leaves two copies
    /// (removed again on open), never none. The blocks are deflated with `deflater`.
    pub(super) fn seal(
        &self,
        block: usize,
        max_blocks: usize,
        deflater: &mut Deflater,
    ) -> Result<usize, StoreError> {
        let checkpoint = self.checkpoint()?;
        let _exclusive = self.seal_guard.write().unwrap_or_else(|p| p.into_inner());
        let mut records = Vec::with_capacity(block);
        let mut full = Vec::new();
        for entry in self
            .responses
            .range(..=checkpoint.to_be_bytes())
            .take(block * max_blocks)
        {
            let (key, value) = entry?;
            records.push((key_of(&key)?, value));
            if records.len() == block {
                full.push(std::mem::replace(&mut records, Vec::with_capacity(block)));
            }
        }
        // The blocks' bytes first, synced, and only then what points to them: a pointer never
        // names bytes a crash could lose.
        let mut written = Vec::with_capacity(full.len());
        for records in full {
            // Parsed once, for the block and for its part of the business view.
            let parsed = parse_records(&records);
            let (value, records_indexed) = encode_block(&records, &parsed, self.hash_key, deflater);
            let pointer = self.put_in_file(&value)?;
            written.push((records, parsed, value, pointer, records_indexed));
        }
        if !written.is_empty() {
            self.blocks.sync()?;
        }
        let mut sealed_keys = Vec::new();
        let mut indexed = Vec::new();
        for (records, parsed, value, pointer, records_indexed) in written {
            let first = records[0].0.to_be_bytes();
            self.sealed.insert(first, pointer)?;
            // After its block: a crash in between leaves a block without it, made on open.
            let joined = joined::of_records(&records, &parsed, deflater)?;
            self.joined.insert(first, joined)?;
            if let Some(index) = block_index(&value)? {
                self.index.write().unwrap_or_else(|p| p.into_inner()).add(
                    records[0].0,
                    records[block - 1].0,
                    &index,
                );
            }
            indexed.extend(records_indexed);
            sealed_keys.extend(records.into_iter().map(|(key, _)| key));
        }
        if sealed_keys.is_empty() {
            return Ok(0);
        }
        self.flush()?;
        let mut recent = self.recent();
        for record in &indexed {
            recent.remove(&record.id, record.interaction.as_deref());
        }
        drop(recent);
        // One removal at a time, not one batch: sled 0.34 applies a batch under a lock that
        // every other write of the store waits for (6 ms on average and up to 19 ms for four
        // blocks' records, about 13 times a second under load), while a single removal shares
        // it. A crash part-way leaves the rest as the copies `reconcile` removes.
        for key in &sealed_keys {
            self.responses.remove(key.to_be_bytes())?;
        }
        Ok(sealed_keys.len() / block)
    }

    /// Counts into `joins` the sealed records keyed `from..to` from the blocks' saved values (saving
    /// those missing), until `until`; says the key where it stopped, or where the sealed records end
    /// (the rest are read from `responses`).
    pub(super) fn fill_joins(
        &self,
        joins: &Joins,
        from: u64,
        to: u64,
        until: Option<Instant>,
    ) -> Result<(u64, bool), StoreError> {
        // As a scan: sealing waits, so no record moves from `responses` into a block meanwhile.
        let _shared = self.seal_guard.read().unwrap_or_else(|p| p.into_inner());
        // The blocks from the in-memory index, so a block whose value is saved is not read:
        // sled 0.34 would keep every block read here (30 MB at a million answers).
        let spans = self.sealed_index().spans(from, to);
        let (mut next, mut saved_blocks, mut made_blocks) = (from, 0u64, 0u64);
        let mut deflater = None;
        let log = |saved_blocks, made_blocks, stopped| {
            tracing::info!(
                saved_blocks,
                made_blocks,
                stopped,
                "read the sealed blocks' part of the business view's index"
            );
        };
        for (start, last) in spans {
            // Stopped only after a block, so each call goes on from further than it began.
            if start > from && next > from && until.is_some_and(|until| Instant::now() >= until) {
                log(saved_blocks, made_blocks, true);
                return Ok((start, true));
            }
            let block_key = start.to_be_bytes();
            let saved = match self.joined.get(block_key)? {
                Some(saved) => {
                    saved_blocks += 1;
                    saved
                }
                None => {
                    let block = self
                        .sealed
                        .get(block_key)?
                        .ok_or(StoreError::Corrupt { key: start })?;
                    let block = self.block_of(start, block)?;
                    let saved = sled::IVec::from(joined::of_block(
                        &block,
                        deflater.get_or_insert_with(Deflater::default),
                    )?);
                    self.joined.insert(block_key, saved.clone())?;
                    made_blocks += 1;
                    saved
                }
            };
            joined::each_saved(&saved, &mut |key, answer| {
                if (from..to).contains(&key) {
                    joins.add_one(answer);
                }
            })?;
            next = next.max(last.saturating_add(1));
        }
        log(saved_blocks, made_blocks, false);
        Ok((next, false))
    }
}

//! The sled backend: the collector's default store, embedded under `--data`. Its trees and a
//! checkpoint:
//! - `responses`: arrival key → record. The key is the receive time in microseconds since the Unix
//!   epoch, strictly increasing (a clock that steps back does not reorder), so key order is arrival
//!   order and a time range is a key range.
//! - `sealed`: older records packed 256 to a block, in the compact form ([`compact`]: 15.5 bytes a
//!   record for the demo data, 333 before), with the keyed hashes of their ids and interaction
//!   keys ([`index`]). A background thread moves flushed records there from `responses`. The
//!   blocks' bytes are in a file of their own beside sled's, `sealed.blocks`, read with `pread`
//!   ([`blocks`]), and the tree keeps where each is under its first key, so what reads them keeps
//!   none in memory; stores sealed before the file have their blocks moved there on open, once
//!   ([`migrate::move_blocks`]).
//! - No sled entry per answer finds it by id or interaction (this is where a duplicate is
//!   detected, [`index`]): the records in `responses` are indexed in memory, built from
//!   `responses` at open; a sealed record is found through the in-memory index of the blocks'
//!   hashes (8 bytes an entry, read from the blocks at open) and confirmed in its block. The
//!   `ids` and `interactions` trees of older stores (an entry per answer) are emptied on open,
//!   their sealed blocks rewritten with the hashes once ([`migrate`]).
//! - `meta/checkpoint`: the last arrival key a completed flush covered; `meta/secret/…`: the
//!   secrets the collector made once (the invitations' signing key).
//! - `sessions`: dashboard session id → its expiry (Unix seconds, big-endian).
//! - `links`: a short invitation link's id (`i` + id) → its expiry (Unix seconds, big-endian) and
//!   the signed token it stands for; beside each, `e` + expiry + id, so expired links are found
//!   in expiry order and forgotten without reading the others.
//! - `actions`: the council's actions, by id in the order recorded → the action as JSON.
//! - `outbox`: events not yet handed to their endpoints ([`crate::store::events`]). An answer's
//!   `response.created` is written there under the writer lock just before the record, so a
//!   record that reached the disk always has its event; an event whose record a crash lost is
//!   dropped when it comes up. While the organisation file in force reads no answer's event (no
//!   endpoint subscribes to `response.created`, no alert rule), none is written
//!   ([`Store::answer_events_when`]). `deliveries`: each endpoint's pending deliveries (counted per
//!   endpoint in memory, from the tree at open and with every change after); `hooks`: the
//!   endpoints' states, the alerts and their acknowledgements.
//! - `outcomes`: the organisation's outcomes ([`crate::store::outcomes`]), packed ([`outcomes`]):
//!   `p` + the first one's sequence number (big-endian) → up to 512 consecutive outcomes with the
//!   hashes of their identities, each import written as one sled batch under the writer lock and
//!   flushed before it is answered; a line already stored is found through an in-memory index of
//!   the hashes and confirmed in its pack. Older stores' entries (`i` + identity → number, `s` +
//!   number → the outcome as JSON; `meta/outcomes`, the last number then) are moved into packs on
//!   open ([`migrate`]).
//! - `joined`: the business view's index of each sealed block, one value per block, keyed as
//!   `sealed` ([`joined`]), so a start reads it instead of every sealed record.
//! - `aggregates`: the stats cells (see [`crate::stats`]): one entry per cell for the days still
//!   taking answers (today and yesterday), one packed value per closed day (key byte `D`), and
//!   the theme cells beside them (one value per closed day and slot, key byte `G`, an open day's
//!   in pieces after it, and the phrases they name, saved once, `P`); `devices`, each device's
//!   last `submitted_at`, one entry per device. Both live in memory and are updated with
//!   every write; about once a second (and at a clean stop) the cells and devices that changed
//!   are saved, each stamped with the arrival key it covers, made durable together with every
//!   record up to that key, and then `meta/derived` (the floor) moves to that key. A save writes
//!   what changed, not the open day or the device map around it: an open day's theme comments
//!   that arrived since the last save as one piece; a closed day is written whole,
//!   once when it closes (replacing its single cells, or its theme pieces, in one batch) and
//!   again only when a late answer changes it. On open the saved cells are loaded (cells saved one by one, as
//!   earlier stores saved every day, are read and packed by the first save)
//!   and only the records after the floor are counted again, each into a cell that does not
//!   already cover it; anything doubtful (a saved cell newer than the checkpoint, a store without
//!   them or of an older format) means a full rebuild from the records. Either way they match
//!   what is durably stored. The values they hold are the known touchpoints, sites, segments,
//!   agents and devices that the bounds count (see [`Store::put`]).
//!
//! A record's flags byte marks a *burst* ([`FLAG_BURST`], by the kiosk channel's rule), told
//! under the writer lock from each device's last stored answer.
//!
//! An answer is two sled writes, its event and its record (the record alone when nothing reads
//! its event), without a sled transaction (they cost six times the throughput). What a crash can leave behind is confined to writes after the
//! checkpoint, none of them acknowledged: whichever records reached the disk are indexed again
//! on open (so a retry is recognised, not stored twice), and those that did not are not (so a
//! retry is stored, not lost).
//!
//! An open reads what the store keeps in memory (every sealed block for its index, the records
//! not yet sealed, the saved stats cells and devices, the pending deliveries), then closes sled
//! and opens it again (`SledStore::reopened`): sled 0.34 keeps every node it has read, so those
//! reads would otherwise stay resident for as long as the collector runs.

//!
//! Files: [`format`] the bytes of every value, [`compact`] the sealed records' compact form,
//! [`index`] finding records by id and interaction, [`joined`] the business view's index saved
//! per block, [`migrate`] rewriting older blocks into it (and older outcomes into packs),
//! [`outcomes`] the packed outcomes, [`trees`] finding and sealing records,
//! [`sealer`] the thread that seals and saves in the background, [`recovery`] repair on open and
//! the saved stats, [`vacuum`] rewriting sled's log into a fresh one on open once it is mostly
//! dead copies.

mod blocks;
mod compact;
mod format;
mod index;
mod joined;
mod migrate;
mod outcomes;
mod recovery;
mod sealer;
mod trees;
mod vacuum;

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, OnceLock,
    },
};

use protocol::{Channel, Submission};

use self::compact::Deflater;
use self::format::{
    block_header, decode, encode, interaction_key, interaction_key_of, key_of, BLOCK_RECORDS,
};
use self::recovery::Derived;
use self::sealer::Sealer;
use self::trees::{answered, Trees};
use crate::{
    channel::kiosk,
    clock,
    config::{Bounded, Bounds},
    org::agenda::Action,
    stats::{joins::Joins, Aggregates},
    store::events::{
        Acknowledgement, Alert, Delivery, EndpointState, Event, EventKey, EventKind, Pending,
        PendingIndex,
    },
    store::outcomes::{Outcome, OutcomePut},
    store::{Put, Record, Store, StoreError, FLAG_BURST},
};

/// Blocks migrated between two openings of sled (about 128 000 records).
const MIGRATE_BLOCKS: u64 = 512;

thread_local! {
    /// Whether a panic on this thread is caught and reported by its caller ([`quietly`]).
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic, with the panic's own message kept quiet on this thread only: the
/// process's panic hook is wrapped once, so a panic on another thread (another store opening,
/// a test) is still reported.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static WRAPPED: std::sync::Once = std::sync::Once::new();
    WRAPPED.call_once(|| {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                hook(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    result
}

/// What the writer lock guards.
pub(crate) struct Writer {
    /// The last arrival key handed out.
    pub(crate) last: u64,
    /// Each device's last stored `submitted_at` (Unix milliseconds), to tell a burst.
    pub(crate) devices: HashMap<String, i64>,
    /// Devices whose last answer changed since they were saved.
    pub(crate) changed_devices: HashSet<String>,
}

/// The sled store.
pub struct SledStore {
    trees: Trees,
    /// Serialises writers: the dedupe check and the write are one step, and arrival keys are
    /// handed out in order.
    writer: Arc<Mutex<Writer>>,
    stats: Arc<Aggregates>,
    /// The business view's index: each answer counted at `put`, those stored before open read
    /// in after it.
    joins: Arc<Joins>,
    /// Each endpoint's pending deliveries, counted from `deliveries` at open and kept in step
    /// with it: held while a delivery is written or removed.
    pending: Mutex<PendingIndex>,
    /// Where each stored outcome's identity is, read from the packs at the first import.
    outcome_index: Mutex<Option<outcomes::OutcomeIndex>>,
    /// Whether anything reads answers' events ([`Store::answer_events_when`]); unset, an answer
    /// always makes one.
    answer_events: OnceLock<Arc<AtomicBool>>,
    block: usize,
    _sealer: Option<Sealer>,
    /// The store's folder and sled's cache, when a clean stop is to rewrite a grown log
    /// ([`vacuum`]): set by the open for the store it hands out, not for a handle closed within it.
    rewrite_at_stop: Option<(PathBuf, u64)>,
    /// Removing the files of a log a swap replaced ([`vacuum::discard_old`]), joined at stop.
    discarding: Option<std::thread::JoinHandle<()>>,
    /// The open's lock, taken by a stop that rewrote the log and held until sled is closed (the
    /// fields drop in order, this one last): sled's last flush, even a snapshot, goes to the old
    /// files, never into a store another process has meanwhile swapped the copy into.
    closing: Option<vacuum::Opening>,
}

impl SledStore {
    /// Opens (or creates) the store under `dir` with the default cache
    /// ([`DEFAULT_CACHE_MIB`](crate::config::DEFAULT_CACHE_MIB)). Fails if another process holds
    /// it.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, crate::config::DEFAULT_CACHE_MIB)
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
        let opened = {
            let _purging = crate::allocator::purging_at_once();
            quietly(|| Self::open_unguarded(dir, cache_mib, block, seal))
        };
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

    /// The store without its background sealer, for tests that read what a crash would leave
    /// while nothing else writes the saved stats.
    #[cfg(test)]
    pub(crate) fn open_quiet(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, 128, BLOCK_RECORDS, false)
    }

    fn open_with(dir: &Path, cache_mib: u64, block: usize, seal: bool) -> Result<Self, StoreError> {
        Self::open_guarded(dir, cache_mib, block, seal)
    }

    /// Opens sled under `dir` and its trees.
    fn open_trees(dir: &Path, cache_mib: u64) -> Result<Trees, StoreError> {
        let locked = || StoreError::Locked {
            path: dir.display().to_string(),
        };
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mib.max(8) << 20)
            // No flusher thread of sled's own: it runs sled 0.34's segment cleaning, which on a
            // store with much free space in its file moves pages without end, about 1 MiB a
            // second whether answers come or not (the README's "Disk bytes per answer"). The
            // collector flushes itself: each acknowledged write (group commit), and the sealer
            // once a second for everything else.
            .flush_every_ms(None)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => locked(),
                sled::Error::Io(io) if io.to_string().contains("lock") => locked(),
                // Its log damaged past what a torn write leaves (a store closed cleanly has a
                // snapshot, which the log must match).
                sled::Error::Corruption { .. } => StoreError::Damaged {
                    path: dir.display().to_string(),
                    reason: "sled found corrupted data in its log".into(),
                },
                other => StoreError::Io(other),
            })?;
        let meta = db.open_tree("meta")?;
        let hash_key = index::hash_key(&meta)?;
        let trees = Trees {
            responses: db.open_tree("responses")?,
            sealed: db.open_tree("sealed")?,
            ids: db.open_tree("ids")?,
            interactions: db.open_tree("interactions")?,
            meta,
            aggregates: db.open_tree("aggregates")?,
            devices: db.open_tree("devices")?,
            sessions: db.open_tree("sessions")?,
            links: db.open_tree("links")?,
            actions: db.open_tree("actions")?,
            outbox: db.open_tree("outbox")?,
            deliveries: db.open_tree("deliveries")?,
            hooks: db.open_tree("hooks")?,
            outcomes: db.open_tree("outcomes")?,
            joined: db.open_tree("joined")?,
            blocks: Arc::new(blocks::BlockFile::open(dir)?),
            recent: Arc::default(),
            index: Arc::default(),
            hash_key,
            seal_guard: Arc::default(),
            marker: Arc::new(dir.join("touchpoint.state")),
            marked: Arc::default(),
            failed: Arc::default(),
            db,
        };
        Ok(trees)
    }

    /// [`Self::open_trees`] just after closing them: sled's threads may hold its file a moment
    /// longer.
    fn open_again(dir: &Path, cache_mib: u64) -> Result<Trees, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Self::open_trees(dir, cache_mib) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => return opened,
            }
        }
    }

    /// This store with sled closed and opened again, once the open has read what it needs (the
    /// sealed blocks for their index, the records not yet sealed, the saved stats): sled 0.34
    /// keeps every node it has read, whatever its cache setting (it applies the limit per shard of
    /// 256, only after 64 reads of that shard, and keeps each shard's latest node), so those reads
    /// would stay resident for as long as the collector runs (58 MB at a million answers; the
    /// README's "What the store reads at open, let go"). Everything the store holds in memory
    /// (the writer, the stats, the indexes of recent and sealed records, the pending
    /// deliveries) carries over; the sled handle it read through is closed first, everything
    /// written so far made durable, as at a clean stop.
    fn reopened(mut self, dir: &Path, cache_mib: u64) -> Result<Self, StoreError> {
        self.trees.flush()?;
        let discarding = self.discarding.take();
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let (writer, stats, block) = (
            Arc::clone(&self.writer),
            Arc::clone(&self.stats),
            self.block,
        );
        let (recent, index, marked) = (
            Arc::clone(&self.trees.recent),
            Arc::clone(&self.trees.index),
            Arc::clone(&self.trees.marked),
        );
        drop(self);
        let mut trees = Self::open_again(dir, cache_mib)?;
        (trees.recent, trees.index, trees.marked) = (recent, index, marked);
        Ok(Self {
            trees,
            writer,
            stats,
            joins: Arc::new(Joins::new(0)),
            pending: Mutex::new(pending),
            outcome_index: Mutex::default(),
            answer_events: OnceLock::new(),
            block,
            _sealer: None,
            rewrite_at_stop: None,
            discarding,
            closing: None,
        })
    }

    fn open_unguarded(
        dir: &Path,
        cache_mib: u64,
        block: usize,
        seal: bool,
    ) -> Result<Self, StoreError> {
        let started = std::time::Instant::now();
        let opening = vacuum::opening(dir)?;
        if vacuum::recover(dir)? {
            tracing::info!("finished swapping in the store's rewritten log");
        }
        let mut trees = Self::open_trees(dir, cache_mib)?;
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
        // The checkpoint names the last record a completed flush covered: a store that no longer
        // reaches it has lost acknowledged records and must not start as if nothing happened.
        if trees.checkpoint()? > last {
            return Err(StoreError::Damaged {
                path: dir.display().to_string(),
                reason: "records covered by a completed flush are missing".into(),
            });
        }
        let mut migrated = migrate::compact_blocks(&trees, MIGRATE_BLOCKS)?;
        if migrated.from > 0 {
            tracing::info!(
                from = migrated.from,
                "resuming the migration of sealed records to the indexed compact form"
            );
        }
        let (mut rewritten, mut kept) = (0, 0);
        while migrated.rewritten + migrated.kept > 0 {
            (rewritten, kept) = (rewritten + migrated.rewritten, kept + migrated.kept);
            // sled 0.34 keeps what it wrote resident, whatever its cache (migrating a million
            // answers in one go held 3.6 GiB): closed and opened again every few hundred blocks,
            // the collector migrates, and then starts, as small as after any other open.
            drop(trees);
            trees = Self::open_again(dir, cache_mib)?;
            if migrated.done {
                break;
            }
            migrated = migrate::compact_blocks(&trees, MIGRATE_BLOCKS)?;
        }
        if rewritten > 0 {
            tracing::info!(
                rewritten,
                already = kept,
                seconds = started.elapsed().as_secs_f64(),
                "migrated sealed records to the indexed compact form"
            );
        }
        let moving = std::time::Instant::now();
        let mut moved = 0;
        loop {
            let step = migrate::move_blocks(&trees, MIGRATE_BLOCKS)?;
            moved += step.moved;
            if step.moved > 0 {
                // As above: what sled read and wrote for the move is let go.
                drop(trees);
                trees = Self::open_again(dir, cache_mib)?;
            }
            if step.done || step.moved == 0 {
                break;
            }
        }
        if moved > 0 {
            // The blocks' old copies are dead in sled's log: rewritten below if it is large.
            vacuum::forget_last_rewrite(&trees.meta)?;
            tracing::info!(
                moved,
                seconds = moving.elapsed().as_secs_f64(),
                "moved sealed blocks into their file"
            );
        }
        let packing = std::time::Instant::now();
        let packed = migrate::pack_outcomes(&trees)?;
        if packed.moved + packed.dropped > 0 {
            tracing::info!(
                moved = packed.moved,
                packs = packed.packs,
                dropped = packed.dropped,
                seconds = packing.elapsed().as_secs_f64(),
                "migrated outcomes into packs"
            );
        }
        if vacuum::wanted(&trees.db, &trees.meta, vacuum::At::Open)? {
            let rewriting = std::time::Instant::now();
            match vacuum::copy_beside(dir, &trees.db, cache_mib) {
                Ok((before, after)) => {
                    drop(trees);
                    vacuum::swap(dir)?;
                    trees = Self::open_again(dir, cache_mib)?;
                    tracing::info!(
                        before,
                        after,
                        seconds = rewriting.elapsed().as_secs_f64(),
                        "rewrote the store's log"
                    );
                }
                Err(error) => {
                    tracing::warn!(%error, "the store's log was not rewritten; it opens as it was");
                }
            }
        }
        *trees.marked.lock().unwrap_or_else(|p| p.into_inner()) = marked;
        let discarding = vacuum::discard_old(dir)?;
        let store = Self {
            trees,
            writer: Arc::new(Mutex::new(Writer {
                last,
                devices: HashMap::new(),
                changed_devices: HashSet::new(),
            })),
            stats: Arc::default(),
            joins: Arc::new(Joins::new(0)),
            pending: Mutex::default(),
            outcome_index: Mutex::default(),
            answer_events: OnceLock::new(),
            block,
            _sealer: None,
            rewrite_at_stop: None,
            discarding,
            closing: None,
        };
        let sled_seconds = started.elapsed().as_secs_f64();
        store.count_pending()?;
        store.reconcile()?;
        store.trees.load_index()?;
        let repair_seconds = started.elapsed().as_secs_f64() - sled_seconds;
        store.load_derived()?;
        let stats_seconds = started.elapsed().as_secs_f64() - sled_seconds - repair_seconds;
        let mut store = store.reopened(dir, cache_mib)?;
        // What the first handle held is freed on this thread: given back now, not when a later
        // allocation here comes to look.
        crate::allocator::release_freed();
        // Held until sled is open again: no other process opens the store in between.
        drop(opening);
        // What an open at a million answers spends its time on (the README's "Where the disk and
        // the memory go").
        let sealed_index_bytes = store.trees.sealed_index().bytes();
        tracing::info!(
            sled_seconds,
            repair_seconds,
            sealed_index_bytes,
            stats_seconds,
            reopen_seconds =
                started.elapsed().as_secs_f64() - sled_seconds - repair_seconds - stats_seconds,
            "opened the store"
        );
        let next = store.writer.lock().unwrap_or_else(|p| p.into_inner()).last + 1;
        store.joins = Arc::new(Joins::new(next));
        if seal {
            store._sealer = Some(Sealer::start(store.trees.clone(), block, store.derived()));
        }
        store.rewrite_at_stop = Some((dir.to_owned(), cache_mib));
        Ok(store)
    }

    /// Seals every full block of flushed records now (the background sealer does this on its
    /// own); returns how many blocks were sealed.
    pub fn seal_now(&self) -> Result<usize, StoreError> {
        let (mut sealed, mut deflater) = (0, Deflater::default());
        loop {
            match self.trees.seal(self.block, 64, &mut deflater)? {
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
        let mut stored = None;
        if let Some(key) = t.recent().id(submission.id.as_str()) {
            stored = t.record(key)?.map(|value| (key, value));
        }
        if stored.is_none() {
            stored = t.sealed_id(submission.id.as_str())?;
        }
        if let Some((key, value)) = stored {
            let same = decode(key, &value)?.json == json;
            return Ok(Some(if same {
                Put::Duplicate
            } else {
                Put::IdConflict
            }));
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
    /// It takes every value, as restoring a backup must, and makes no event: restoring a backup
    /// or seeding a demo does not announce old answers again.
    pub fn put_at(
        &self,
        submission: &Submission,
        json: &str,
        received_micros: u64,
    ) -> Result<Put, StoreError> {
        self.write(submission, json, received_micros, &Bounds::NONE, false)
    }

    fn write(
        &self,
        submission: &Submission,
        json: &str,
        received_micros: u64,
        bounds: &Bounds,
        event: bool,
    ) -> Result<Put, StoreError> {
        // A comment's phrases are read before the writer lock: other answers are not held up.
        let phrases = self.stats.themes().prepare(submission);
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(known) = self.existing(submission, json)? {
            return Ok(known);
        }
        let device = kiosk::device(submission);
        let previous = device.as_ref().and_then(|d| writer.devices.get(d)).copied();
        // Known values always pass; a new one only while its dimension has room.
        let new_device = device.is_some() && previous.is_none();
        if new_device && writer.devices.len() >= bounds.devices {
            return Ok(Put::TooManyValues(Bounded::Device));
        }
        if let Some(full) = self.stats.new_value_past(submission, bounds) {
            return Ok(Put::TooManyValues(full));
        }
        let key = received_micros.max(writer.last + 1);
        let submitted = submission.submitted_at.unix_millis();
        let burst = kiosk::is_burst(previous, submitted);
        let flags = if burst { FLAG_BURST } else { 0 };
        let t = &self.trees;
        // Nothing reads it: written, flushed and removed again by the delivery thread for
        // nothing (the organisation file has no endpoint for it and no alert rule).
        let event = event
            && self
                .answer_events
                .get()
                .is_none_or(|wanted| wanted.load(Ordering::SeqCst));
        if event {
            let created = EventKey {
                at: key,
                kind: EventKind::ResponseCreated,
            };
            t.outbox.insert(created.to_bytes(), &[])?;
        }
        // The record, then its place in the recent index: see the module doc for why no
        // transaction.
        t.responses
            .insert(key.to_be_bytes(), encode(submission, json, flags))?;
        t.recent()
            .add(submission.id.as_str(), interaction_key(submission), key);
        writer.last = key;
        if let Some(device) = device {
            writer.devices.insert(device.clone(), submitted);
            writer.changed_devices.insert(device);
        }
        // Counted before the flush that acknowledges it; a crash before that flush is followed by
        // a rebuild from the records that did reach the disk.
        self.stats.add_prepared(submission, phrases, key, burst);
        self.joins.add(submission, key);
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

    /// Saves the stats now (the sealer does it about once a second); returns the bytes of keys
    /// and values it wrote.
    pub(crate) fn save_stats(&self) -> Result<usize, StoreError> {
        let written = self.derived().save(&self.trees)?;
        self.trees.flush()?;
        Ok(written)
    }

    /// [`SledStore::save_stats`] as if the days before `closed_before` were the closed ones.
    #[cfg(test)]
    pub(crate) fn save_stats_closing(&self, closed_before: i64) -> Result<usize, StoreError> {
        let written = self.derived().save_closing(&self.trees, closed_before)?;
        self.trees.flush()?;
        Ok(written)
    }
}

impl Drop for SledStore {
    /// A clean stop records how far the store got, so damage found at the next start is noticed
    /// even when the background sealer had not recorded it yet, and copies a grown log for the
    /// next open to swap in ([`vacuum`]).
    fn drop(&mut self) {
        self._sealer.take();
        let flushed = Store::flush(self).and_then(|()| Store::flush(self));
        if let Err(error) = flushed.and_then(|()| self.trees.mark_progress()) {
            tracing::warn!(%error, "recording the store's progress at stop failed");
        }
        if let Err(error) = self.save_stats().map(drop) {
            tracing::warn!(%error, "saving the stats at stop failed; they are recounted at the next start");
        } else if let Some((dir, cache_mib)) = self.rewrite_at_stop.take() {
            match self.rewrite_for_next_open(&dir, cache_mib) {
                Ok(closing) => self.closing = closing,
                Err(error) => {
                    tracing::warn!(%error, "the store's log was not rewritten at stop; it opens as it was");
                }
            }
        }
        if let Some(discarding) = self.discarding.take() {
            let _ = discarding.join();
        }
    }
}

impl SledStore {
    /// At a clean stop, everything written and nothing writing any more: copies a grown log
    /// beside the store for the next open to swap in ([`vacuum`]). Returns the open's lock,
    /// for the caller to hold until sled is closed, so that no other process opens the store
    /// half-way.
    fn rewrite_for_next_open(
        &self,
        dir: &Path,
        cache_mib: u64,
    ) -> Result<Option<vacuum::Opening>, StoreError> {
        let started = std::time::Instant::now();
        if !vacuum::wanted(&self.trees.db, &self.trees.meta, vacuum::At::Stop)? {
            return Ok(None);
        }
        let opening = vacuum::opening(dir)?;
        let (before, after) = vacuum::copy_beside(dir, &self.trees.db, cache_mib)?;
        vacuum::swap_at_next_open(dir)?;
        tracing::info!(
            before,
            after,
            seconds = started.elapsed().as_secs_f64(),
            "rewrote the store's log at stop; the next open swaps it in"
        );
        Ok(Some(opening))
    }
}

impl Store for SledStore {
    fn put(&self, submission: &Submission, json: &str, bounds: &Bounds) -> Result<Put, StoreError> {
        self.write(submission, json, clock::now_micros(), bounds, true)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.derived().flush(&self.trees)
    }

    fn answer_events_when(&self, wanted: Arc<AtomicBool>) {
        if self.answer_events.set(wanted).is_err() {
            tracing::warn!("the store already follows another organisation's events");
        }
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
            let (key, value) = entry?;
            let block = t.block_of(key_of(&key)?, value)?;
            let mut more = true;
            compact::each_record(&block, &mut |key, value| {
                more = key < to && (key < from || visit(decode(key, value)?));
                Ok(more)
            })?;
            if !more {
                return Ok(());
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

    fn joins(&self) -> Option<Arc<Joins>> {
        Some(Arc::clone(&self.joins))
    }

    /// The sealed records from their blocks' saved part of the index ([`joined`]), then the
    /// records not yet sealed.
    fn fill_joins(
        &self,
        joins: &Joins,
        from: u64,
        until: Option<std::time::Instant>,
    ) -> Result<Option<u64>, StoreError> {
        let to = joins.fill_below();
        let (next, stopped) = self.trees.fill_joins(joins, from, to, until)?;
        if stopped {
            return Ok(Some(next));
        }
        crate::store::fill_joins_from_records(self, joins, next, to, until)
    }

    fn secret(
        &self,
        name: &str,
        make: &mut dyn FnMut() -> std::io::Result<String>,
    ) -> Result<String, StoreError> {
        let key = format::secret_key(name);
        if let Some(kept) = self.trees.meta.get(&key)? {
            return String::from_utf8(kept.to_vec()).map_err(|_| StoreError::Corrupt { key: 0 });
        }
        let made = make()?;
        // Whoever asked first keeps theirs; durable before anything is signed with it.
        let _ =
            self.trees
                .meta
                .compare_and_swap(&key, None as Option<&[u8]>, Some(made.as_bytes()))?;
        self.trees.flush()?;
        self.secret(name, make)
    }

    fn open_session(&self, id: &str, expires_secs: u64, now_secs: u64) -> Result<(), StoreError> {
        let sessions = &self.trees.sessions;
        for entry in sessions.iter() {
            let (key, expires) = entry?;
            if key_of(&expires)? <= now_secs {
                sessions.remove(key)?;
            }
        }
        sessions.insert(id, &expires_secs.to_be_bytes())?;
        Ok(())
    }

    fn session_expiry(&self, id: &str) -> Result<Option<u64>, StoreError> {
        self.trees
            .sessions
            .get(id)?
            .map(|expires| key_of(&expires))
            .transpose()
    }

    fn end_session(&self, id: &str) -> Result<(), StoreError> {
        self.trees.sessions.remove(id)?;
        Ok(())
    }

    fn put_link(
        &self,
        id: &str,
        token: &str,
        expires_secs: u64,
        now_secs: u64,
    ) -> Result<(), StoreError> {
        let links = &self.trees.links;
        let expired = [b"e".as_slice(), &now_secs.saturating_add(1).to_be_bytes()].concat();
        for entry in links.range(b"e".as_slice()..expired.as_slice()) {
            let (key, _) = entry?;
            links.remove(&key)?;
            links.remove([b"i".as_slice(), &key[9..]].concat())?;
        }
        let expires = expires_secs.to_be_bytes();
        links.insert(
            [b"i".as_slice(), id.as_bytes()].concat(),
            [expires.as_slice(), token.as_bytes()].concat(),
        )?;
        links.insert(
            [b"e".as_slice(), &expires, id.as_bytes()].concat(),
            b"".as_slice(),
        )?;
        // The link is given to the customer next: it must outlive a crash.
        self.trees.flush()?;
        Ok(())
    }

    fn link(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.trees
            .links
            .get([b"i".as_slice(), id.as_bytes()].concat())?
            .map(|value| {
                value
                    .get(8..)
                    .and_then(|token| String::from_utf8(token.to_vec()).ok())
                    .ok_or(StoreError::Corrupt { key: 0 })
            })
            .transpose()
    }

    fn put_action(&self, action: &Action) -> Result<(), StoreError> {
        let json = serde_json::to_vec(action).map_err(|_| StoreError::Corrupt { key: 0 })?;
        self.trees
            .actions
            .insert(format::action_key(&action.id), json)?;
        self.trees.flush()?;
        Ok(())
    }

    fn actions(&self) -> Result<Vec<Action>, StoreError> {
        self.trees
            .actions
            .iter()
            .values()
            .map(|value| {
                let value = value?;
                serde_json::from_slice(&value).map_err(|_| StoreError::Corrupt { key: 0 })
            })
            .collect()
    }

    fn push_event(&self, kind: EventKind, data: &str) -> Result<EventKey, StoreError> {
        let t = &self.trees;
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let last = match t.hooks.get(LAST_EVENT)? {
            Some(v) => key_of(&v)?,
            None => 0,
        };
        let key = EventKey {
            at: clock::now_micros().max(last + 1),
            kind,
        };
        t.hooks.insert(LAST_EVENT, &key.at.to_be_bytes())?;
        t.outbox.insert(key.to_bytes(), data.as_bytes())?;
        t.flush()?;
        Ok(key)
    }

    fn pending_events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        let durable = self.trees.checkpoint()?;
        let mut events = Vec::new();
        for entry in self.trees.outbox.iter() {
            let (key, value) = entry?;
            let key = EventKey::from_bytes(&key).ok_or(StoreError::Corrupt { key: 0 })?;
            let data = match key.kind {
                // Not durable yet: it waits for the flush that acknowledges its answer.
                EventKind::ResponseCreated if key.at > durable => continue,
                EventKind::ResponseCreated => None,
                _ => Some(String::from_utf8_lossy(&value).into_owned()),
            };
            events.push(Event { key, data });
            if events.len() == limit {
                break;
            }
        }
        Ok(events)
    }

    fn fan_out(&self, handed: &[(EventKey, Vec<Delivery>)]) -> Result<(), StoreError> {
        let t = &self.trees;
        let mut wrote = false;
        for (_, deliveries) in handed {
            for delivery in deliveries {
                self.write_delivery(delivery)?;
                wrote = true;
            }
        }
        if wrote {
            t.flush()?;
        }
        for (event, _) in handed {
            t.outbox.remove(event.to_bytes())?;
        }
        Ok(())
    }

    fn outbox_len(&self) -> usize {
        self.trees.outbox.len()
    }

    fn deliveries(&self, visit: &mut dyn FnMut(Delivery) -> bool) -> Result<(), StoreError> {
        for value in self.trees.deliveries.iter().values() {
            if !visit(from_json(&value?)?) {
                break;
            }
        }
        Ok(())
    }

    fn delivery(&self, endpoint: &str, event: EventKey) -> Result<Option<Delivery>, StoreError> {
        self.trees
            .deliveries
            .get(delivery_key(endpoint, event))?
            .map(|value| from_json(&value))
            .transpose()
    }

    fn put_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.write_delivery(delivery)
    }

    fn remove_delivery(&self, endpoint: &str, event: EventKey) -> Result<(), StoreError> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(was) = self
            .trees
            .deliveries
            .remove(delivery_key(endpoint, event))?
        {
            pending.removed(&from_json(&was)?);
        }
        Ok(())
    }

    fn pending_deliveries(&self) -> Result<HashMap<String, Pending>, StoreError> {
        Ok(self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pending())
    }

    fn endpoint_state(&self, endpoint: &str) -> Result<EndpointState, StoreError> {
        match self.trees.hooks.get(hook_key("endpoint/", endpoint))? {
            Some(value) => from_json(&value),
            None => Ok(EndpointState::default()),
        }
    }

    fn put_endpoint_state(&self, endpoint: &str, state: &EndpointState) -> Result<(), StoreError> {
        self.trees
            .hooks
            .insert(hook_key("endpoint/", endpoint), to_json(state)?)?;
        Ok(())
    }

    fn put_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        self.put_hook_durably("alert/", &alert.id, alert)
    }

    fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let mut alerts: Vec<Alert> = self.hooks_under("alert/")?;
        alerts.sort_by_key(|a| a.opened_at);
        Ok(alerts)
    }

    fn put_acknowledgement(&self, ack: &Acknowledgement) -> Result<(), StoreError> {
        self.put_hook_durably("ack/", &ack.alert, ack)
    }

    fn acknowledgements(&self) -> Result<Vec<Acknowledgement>, StoreError> {
        self.hooks_under("ack/")
    }

    fn put_outcomes(&self, lines: &[Outcome]) -> Result<Vec<OutcomePut>, StoreError> {
        let t = &self.trees;
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut index = self.outcome_index.lock().unwrap_or_else(|p| p.into_inner());
        let index = match &mut *index {
            Some(index) => index,
            None => {
                let last = match t.meta.get(LAST_OUTCOME)? {
                    Some(v) => key_of(&v)?,
                    None => 0,
                };
                index.insert(outcomes::OutcomeIndex::load(&t.outcomes, last)?)
            }
        };
        let puts = outcomes::put(&t.outcomes, index, t.hash_key, lines)?;
        t.flush()?;
        Ok(puts)
    }

    fn outcomes_after(
        &self,
        after: u64,
        visit: &mut dyn FnMut(u64, Outcome) -> bool,
    ) -> Result<(), StoreError> {
        outcomes::after(&self.trees.outcomes, after, visit)
    }
}

impl SledStore {
    /// Writes `delivery` (new, or replacing its earlier state) and counts it pending.
    fn write_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let was = self.trees.deliveries.insert(
            delivery_key(&delivery.endpoint, delivery.event()),
            to_json(delivery)?,
        )?;
        let was = was.map(|w| from_json::<Delivery>(&w)).transpose()?;
        pending.wrote(delivery, was.as_ref());
        Ok(())
    }

    /// Counts the pending deliveries the store holds (at open).
    fn count_pending(&self) -> Result<(), StoreError> {
        let mut pending = PendingIndex::default();
        for value in self.trees.deliveries.iter().values() {
            pending.wrote(&from_json(&value?)?, None);
        }
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = pending;
        Ok(())
    }

    /// Writes `value` under `prefix` + `id` in `hooks` and flushes.
    fn put_hook_durably<T: serde::Serialize>(
        &self,
        prefix: &str,
        id: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        self.trees
            .hooks
            .insert(hook_key(prefix, id), to_json(value)?)?;
        self.trees.flush()?;
        Ok(())
    }

    /// Every value under `prefix` in `hooks`, in key order.
    fn hooks_under<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.trees
            .hooks
            .scan_prefix(prefix.as_bytes())
            .values()
            .map(|value| from_json(&value?))
            .collect()
    }
}

/// `meta` key of the last outcome's sequence number, in stores before outcomes were packed.
const LAST_OUTCOME: &[u8] = b"outcomes";

/// `hooks` key of the last alert event's time, so event keys never repeat.
const LAST_EVENT: &[u8] = b"last_event";

fn delivery_key(endpoint: &str, event: EventKey) -> Vec<u8> {
    let mut key = Vec::with_capacity(endpoint.len() + 10);
    key.extend_from_slice(endpoint.as_bytes());
    key.push(0);
    key.extend_from_slice(&event.to_bytes());
    key
}

fn hook_key(prefix: &str, id: &str) -> Vec<u8> {
    [prefix.as_bytes(), id.as_bytes()].concat()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|_| StoreError::Corrupt { key: 0 })
}

fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt { key: 0 })
}

#[cfg(test)]
mod blocks_tests;
#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod event_tests;
#[cfg(test)]
mod joined_tests;
#[cfg(test)]
mod outcome_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod theme_tests;

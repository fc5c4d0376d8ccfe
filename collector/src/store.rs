//! sled behind a small trait. Three trees and a checkpoint:
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
//! A record's flags byte marks a *burst* (bit `0x01`): a submission whose device's previous stored
//! submission was answered less than [`BURST_WINDOW_MILLIS`] apart, by the submissions' own
//! `submitted_at` — faster than a person can answer. It is stored and exported like any other;
//! stats leave it out unless asked. Arrival time does not count: a kiosk that drains days of
//! queued answers within seconds delivers real answers.
//!
//! A record is written before its index entries, without a sled transaction (they cost six times
//! the throughput). What a crash can leave behind is confined to writes after the checkpoint, none
//! of them acknowledged: on open, every record after the checkpoint gets its index entries back
//! (so a retry is recognised, not stored twice), and an index entry whose record is missing is
//! ignored (so a retry is stored, not lost).

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use std::collections::HashMap;

use protocol::{Channel, Submission};

use crate::stats::{self, Aggregates};

/// Bit of a record's flags byte: stored as a burst (see the module doc).
pub const FLAG_BURST: u8 = 0x01;

/// Submissions from one device answered closer together than this are a burst: the three
/// questions take a person longer than three seconds.
pub const BURST_WINDOW_MILLIS: i64 = 3_000;

/// Why the store could not do what was asked. Any of these means "not stored; try again later".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data directory {path} is in use by another collector process")]
    Locked { path: String },
    #[error("storage failed: {0}")]
    Io(#[from] sled::Error),
    #[error("a stored record is damaged (key {key})")]
    Corrupt { key: u64 },
    #[error(
        "the store in {path} is damaged and was not opened ({reason}); restore it from a backup"
    )]
    Damaged { path: String, reason: String },
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
    /// [`FLAG_BURST`] or 0.
    pub flags: u8,
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

    /// Bytes the store occupies on disk, where known.
    fn size_on_disk(&self) -> u64 {
        0
    }

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
fn encode(submission: &Submission, json: &str, flags: u8) -> Vec<u8> {
    let touchpoint = submission.touchpoint.as_str().as_bytes();
    let mut value = Vec::with_capacity(4 + touchpoint.len() + json.len());
    value.extend_from_slice(&[RECORD_FORMAT, flags, channel_code(submission.channel)]);
    value.push(touchpoint.len() as u8); // an Ident is at most 64 bytes
    value.extend_from_slice(touchpoint);
    value.extend_from_slice(json.as_bytes());
    value
}

fn decode(key: u64, value: &[u8]) -> Result<Record<'_>, StoreError> {
    let corrupt = || StoreError::Corrupt { key };
    let [format, flags, channel, len, rest @ ..] = value else {
        return Err(corrupt());
    };
    if *format != RECORD_FORMAT || rest.len() < usize::from(*len) {
        return Err(corrupt());
    }
    let (touchpoint, json) = rest.split_at(usize::from(*len));
    Ok(Record {
        received_micros: key,
        flags: *flags,
        channel: channel_from_code(*channel).ok_or_else(corrupt)?,
        touchpoint: std::str::from_utf8(touchpoint).map_err(|_| corrupt())?,
        json: std::str::from_utf8(json).map_err(|_| corrupt())?,
    })
}

fn interaction_key(submission: &Submission) -> Option<Vec<u8>> {
    let interaction = submission.context.interaction_id.as_ref()?;
    Some(interaction_key_of(
        submission.channel,
        submission.touchpoint.as_str(),
        interaction.as_str(),
    ))
}

fn interaction_key_of(channel: Channel, touchpoint: &str, interaction: &str) -> Vec<u8> {
    let mut key = vec![channel_code(channel)];
    key.extend_from_slice(touchpoint.as_bytes());
    key.push(0);
    key.extend_from_slice(interaction.as_bytes());
    key
}

const CHECKPOINT: &[u8] = b"checkpoint";
/// `[format][key u64 BE]`, the floor: every saved day covers all of its records up to this key
/// (see the module doc). A saved day is `[format][key u64 BE][cells]`, the devices
/// `[key u64 BE][devices]`.
const DERIVED: &[u8] = b"derived";
const DERIVED_FORMAT: u8 = 2;
const DEVICES: &[u8] = b"devices";

/// The device a submission came from, when it says: site and device id (two branches may both
/// have a `kiosk-1`).
fn device_key(submission: &Submission) -> Option<String> {
    let device = submission.context.device_id.as_ref()?;
    let site = submission
        .context
        .site_id
        .as_ref()
        .map_or("", |s| s.as_str());
    Some([site, "/", device.as_str()].concat())
}

fn encode_devices(devices: &HashMap<String, i64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(devices.len() * 40);
    for (key, millis) in devices {
        out.push(key.len() as u8); // site and device are at most 64 bytes each
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&millis.to_be_bytes());
    }
    out
}

fn decode_devices(mut bytes: &[u8]) -> Option<HashMap<String, i64>> {
    let mut devices = HashMap::new();
    while let Some((&len, rest)) = bytes.split_first() {
        let key = std::str::from_utf8(rest.get(..usize::from(len))?).ok()?;
        let (millis, rest) = rest[usize::from(len)..].split_first_chunk::<8>()?;
        devices.insert(key.to_owned(), i64::from_be_bytes(*millis));
        bytes = rest;
    }
    Some(devices)
}

/// Whether the interaction under `key` has a stored answer (an index entry whose record a crash
/// left missing does not count).
fn answered(t: &Trees, key: &[u8]) -> Result<bool, StoreError> {
    let Some(id) = t.interactions.get(key)? else {
        return Ok(false);
    };
    match t.ids.get(&id)? {
        Some(arrival) => Ok(t.record(key_of(&arrival)?)?.is_some()),
        None => Ok(false),
    }
}

fn key_of(bytes: &[u8]) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(
        bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt { key: 0 })?,
    ))
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Records per sealed block: enough that export reads few sled entries, few enough that a block
/// (~90 KB) stays below the size sled moves out into a separate blob file, and that finding one
/// record in a block stays cheap.
pub const BLOCK_RECORDS: usize = 256;
const BLOCK_FORMAT: u8 = 2;
/// Blocks sealed per flush by the background sealer: up to ~50 000 records a second.
const SEAL_STEP: usize = 4;

/// `[format][count u32 LE][last key u64 BE]`, then per record `[key u64 BE][len u32 LE][record]`.
fn encode_block(records: &[(u64, sled::IVec)]) -> Vec<u8> {
    let size: usize = records.iter().map(|(_, v)| 12 + v.len()).sum();
    let mut block = Vec::with_capacity(13 + size);
    block.push(BLOCK_FORMAT);
    block.extend_from_slice(&(records.len() as u32).to_le_bytes());
    block.extend_from_slice(&records.last().map_or(0, |(k, _)| *k).to_be_bytes());
    for (key, value) in records {
        block.extend_from_slice(&key.to_be_bytes());
        block.extend_from_slice(&(value.len() as u32).to_le_bytes());
        block.extend_from_slice(value);
    }
    block
}

/// The number of records in a block and its last key.
fn block_header(block: &[u8]) -> Result<(u32, u64), StoreError> {
    match block {
        [BLOCK_FORMAT, count @ ..] if count.len() >= 12 => Ok((
            u32::from_le_bytes(
                count[..4]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { key: 0 })?,
            ),
            key_of(&count[4..12])?,
        )),
        _ => Err(StoreError::Corrupt { key: 0 }),
    }
}

/// The `(key, record bytes)` pairs of a block, in key order.
fn block_records(block: &[u8]) -> impl Iterator<Item = Result<(u64, &[u8]), StoreError>> {
    let mut rest = block.get(13..).unwrap_or(&[]);
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let key = key_of(rest.get(..8)?).ok()?;
            let len = u32::from_le_bytes(rest.get(8..12)?.try_into().ok()?) as usize;
            let record = rest.get(12..12 + len)?;
            Some((key, record, 12 + len))
        })();
        match parsed {
            Some((key, record, used)) => {
                rest = &rest[used..];
                Some(Ok((key, record)))
            }
            None => {
                rest = &[];
                Some(Err(StoreError::Corrupt { key: 0 }))
            }
        }
    })
}

/// The trees, cloneable so the sealer thread can hold them.
#[derive(Clone)]
struct Trees {
    db: sled::Db,
    responses: sled::Tree,
    sealed: sled::Tree,
    ids: sled::Tree,
    interactions: sled::Tree,
    meta: sled::Tree,
    aggregates: sled::Tree,
    /// Scans hold it shared; sealing holds it exclusively while it moves records, so a scan
    /// never sees a record twice or misses one that moved under it.
    seal_guard: Arc<RwLock<()>>,
    /// `touchpoint.state` beside sled's files: how far the store had got, kept outside sled so
    /// that a damaged sled file that opens empty is noticed.
    marker: Arc<PathBuf>,
    marked: Arc<AtomicU64>,
}

impl Trees {
    /// Records the checkpoint in the marker file (written aside, synced, renamed) when it moved.
    fn mark_progress(&self) -> Result<(), StoreError> {
        let checkpoint = self.checkpoint()?;
        if checkpoint <= self.marked.load(Ordering::Relaxed) {
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
        self.marked.store(checkpoint, Ordering::Relaxed);
        Ok(())
    }

    fn checkpoint(&self) -> Result<u64, StoreError> {
        Ok(match self.meta.get(CHECKPOINT)? {
            Some(v) => key_of(&v)?,
            None => 0,
        })
    }

    /// The last key in a sealed block, if any block exists.
    fn last_sealed(&self) -> Result<Option<u64>, StoreError> {
        match self.sealed.last()? {
            Some((_, block)) => Ok(Some(block_header(&block)?.1)),
            None => Ok(None),
        }
    }

    /// The stored record under `key`, recent or sealed. Sealing writes a block before it removes
    /// the records, so looking in `responses` first and the blocks second never misses one.
    fn record(&self, key: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.responses.get(key.to_be_bytes())? {
            return Ok(Some(value.to_vec()));
        }
        if let Some((_, block)) = self
            .sealed
            .range(..=key.to_be_bytes())
            .next_back()
            .transpose()?
        {
            for entry in block_records(&block) {
                let (k, record) = entry?;
                if k == key {
                    return Ok(Some(record.to_vec()));
                }
            }
        }
        Ok(None)
    }

    /// Moves the oldest flushed records into sealed blocks of `block` records, at most
    /// `max_blocks` at a time; returns how many blocks it sealed (0 when fewer than `block`
    /// records wait). The blocks are flushed before the records leave `responses`, so a crash in
    /// between leaves two copies (removed again on open), never none.
    fn seal(&self, block: usize, max_blocks: usize) -> Result<usize, StoreError> {
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
        self.db.flush()?;
        for key in &sealed_keys {
            self.responses.remove(key.to_be_bytes())?;
        }
        Ok(sealed_keys.len() / block)
    }
}

/// Seals blocks in the background while the store is open.
struct Sealer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sealer {
    fn start(trees: Trees, block: usize, derived: Derived) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("touchpoint-sealer".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        // Work through a backlog in small steps (a big one would stall the
                        // requests sharing the disk), then rest for a second.
                        loop {
                            match trees.seal(block, SEAL_STEP) {
                                Ok(SEAL_STEP) if !stop.load(Ordering::Relaxed) => {
                                    std::thread::sleep(Duration::from_millis(20));
                                    continue;
                                }
                                Ok(_) => break,
                                Err(error) => {
                                    tracing::warn!(%error, "sealing blocks failed; will retry");
                                    break;
                                }
                            }
                        }
                        if let Err(error) = trees.mark_progress() {
                            tracing::warn!(%error, "recording the store's progress failed");
                        }
                        if let Err(error) = derived.save(&trees) {
                            tracing::warn!(%error, "saving the stats failed; will retry");
                        }
                        for _ in 0..10 {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                })
                .ok()
        };
        Self { stop, thread }
    }
}

impl Drop for Sealer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer and the stats, shared with the sealer thread, which saves the stats.
#[derive(Clone)]
struct Derived {
    writer: Arc<Mutex<Writer>>,
    stats: Arc<Aggregates>,
}

impl Derived {
    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes every write so far durable and records the last key it covered (the checkpoint).
    fn flush(&self, trees: &Trees) -> Result<(), StoreError> {
        let covered = self.writer().last;
        trees.db.flush()?;
        // Durable with the next flush; until then the previous checkpoint stays valid.
        trees.meta.insert(CHECKPOINT, &covered.to_be_bytes())?;
        Ok(())
    }

    /// Saves the days changed since the last save and the devices, as of one arrival key; makes
    /// them and every record up to that key durable; then moves the floor to that key.
    fn save(&self, trees: &Trees) -> Result<(), StoreError> {
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

/// What the writer lock guards.
struct Writer {
    /// The last arrival key handed out.
    last: u64,
    /// Each device's last stored `submitted_at` (Unix milliseconds), to tell a burst.
    devices: HashMap<String, i64>,
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
        trees.marked.store(marked, Ordering::Relaxed);
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

    /// Repairs what an unclean stop can leave: records written after the last checkpoint get
    /// their index entries back (a crash may have kept a record and lost its index entries), and
    /// records both sealed and recent (a crash while sealing) lose their recent copy. Then flushes.
    fn reconcile(&self) -> Result<(), StoreError> {
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
        let device = device_key(submission);
        let burst = device
            .as_ref()
            .and_then(|d| writer.devices.get(d))
            .is_some_and(|previous| (submitted - previous).abs() < BURST_WINDOW_MILLIS);
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

    /// The stats cells and the devices' last answers: recovered from what was saved, or rebuilt
    /// from the records; then saved, so the floor is current.
    fn load_derived(&self) -> Result<(), StoreError> {
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
                if let Some(device) = device_key(&submission) {
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
                    if let Some(device) = device_key(&submission) {
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
        self.put_at(submission, json, now_micros())
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
            let key = now_micros();
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
        let received = now_micros();
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

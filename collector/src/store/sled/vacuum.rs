//! Rewrites sled's log into a fresh one when it holds far more than its live data, and swaps it in
//! crash-safely. sled 0.34 frees a segment of its log only when nothing in it is live, and its
//! segment cleaning is off (the README's "Disk bytes per answer"), so records passing through
//! `responses`, cells rewritten and nodes consolidated leave a log many times what it holds (at
//! a million answers, 495 MB for 52 MB). Every tree copied into a new database in a folder beside
//! the store takes about a third of that.
//!
//! The copy is made at a clean stop, when nothing else writes, so that opens stay quick: at a
//! million answers the copy and the old log's removal made an open of 0.5 s take 2.5 s. The
//! open rewrites only a store that has grown twice as far without a clean stop (or after a
//! migration), as a collector always killed would otherwise keep its log growing.
//!
//! The swap moves files, so it is done in two phases that the next open finishes from the marker
//! `vacuum.swap` (written aside, synced, renamed): `1`, the old store's sled files go into
//! `vacuum.old`; `2`, the new store's files come out of `vacuum.new`. Both phases only rename,
//! and are done again from the start after a stop, so a kill anywhere leaves either the old
//! store whole (no marker: `vacuum.new` is thrown away) or a swap that the next open completes.
//! A stop marks phase `1` and leaves the renames to the next open, before sled opens the files.
//! sled's own `import` is not used: it panics on an I/O error, where a full disk must leave the
//! old store as it was.

use std::path::{Path, PathBuf};

use super::trees::replace_file;
use crate::store::StoreError;

/// The new store, written beside the old one.
const NEW: &str = "vacuum.new";
/// The old store's files during a swap.
const OLD: &str = "vacuum.old";
/// The old store's files after a swap, numbered, until they are removed ([`discard_old`]).
const GONE: &str = "vacuum.gone.";
/// Present from when the new store is complete until it has replaced the old one.
const MARKER: &str = "vacuum.swap";
/// Locked by the process opening the store while it recovers or rewrites: sled's own lock is on
/// its log, which the swap moves, and a second process must not finish or discard a rewrite
/// that the first is making.
const LOCK: &str = "touchpoint.lock";
/// `meta` key: the store's size on disk just after its last rewrite.
const REWRITTEN: &[u8] = b"vacuumed";
/// A store is rewritten at a clean stop when its files are this many times their size after
/// the last rewrite (or, never rewritten, over [`FLOOR`]): the log is then mostly dead copies,
/// and rewriting each time the store grows by half keeps the total work linear in what was
/// written.
const FACTOR: u64 = 3;
const FACTOR_DIVISOR: u64 = 2;
/// Smaller stores are never rewritten: the time would be spent for a few megabytes.
const FLOOR: u64 = 64 << 20;
/// At an open both thresholds are this many times those of a stop: only a store that grew past
/// a stop's threshold without a clean stop since, or one never rewritten (migrated), is
/// rewritten there, and the opens in between stay quick.
const AT_OPEN: u64 = 2;
/// Test hooks: the floor instead of [`FLOOR`]; the process kills itself (SIGKILL) at the step
/// named (`written`, `old`, `new`: after moving one file in a phase; `gone`: before removing the
/// old files), as a crash would stop it.
const FLOOR_ENV: &str = "TOUCHPOINT_TEST_VACUUM_FLOOR";
const KILL_AT: &str = "TOUCHPOINT_TEST_VACUUM_KILL_AT";

/// The lock on [`LOCK`], held while it lives.
pub(super) struct Opening {
    _lock: std::fs::File,
}

/// Takes the lock on `dir`'s rewrite, or fails with [`StoreError::Locked`] when another process
/// is opening the same store.
pub(super) fn opening(dir: &Path) -> Result<Opening, StoreError> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |_| StoreError::Locked {
            path: dir.display().to_string(),
        },
    )?;
    Ok(Opening { _lock: file })
}

/// sled's files in a store's folder: the log, its configuration, its snapshots and its blobs.
fn sled_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if matches!(&*name, "db" | "conf" | "blobs") || name.starts_with("snap.") {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

fn kill_at(step: &str) {
    if std::env::var(KILL_AT).is_ok_and(|at| at == step) {
        super::migrate::crash_here();
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::from)
}

/// Writes the marker's phase, whole ([`replace_file`]), and makes its name durable.
fn mark(dir: &Path, phase: u8) -> Result<(), StoreError> {
    replace_file(&dir.join(MARKER), &[b'0' + phase])?;
    sync_dir(dir)
}

/// Before sled opens `dir`: finishes a swap that a stop interrupted, or throws away a new store
/// that was never complete. Returns whether a swap was finished.
pub(super) fn recover(dir: &Path) -> Result<bool, StoreError> {
    let phase = match std::fs::read(dir.join(MARKER)) {
        Ok(phase) => phase,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join(NEW).exists() {
                std::fs::remove_dir_all(dir.join(NEW))?;
            }
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    if phase == b"1" {
        move_old_out(dir)?;
    }
    move_new_in(dir)?;
    Ok(true)
}

/// Phase 1: the old store's sled files into `vacuum.old`.
fn move_old_out(dir: &Path) -> Result<(), StoreError> {
    let old = dir.join(OLD);
    std::fs::create_dir_all(&old)?;
    for file in sled_files(dir)? {
        let name = file.file_name().unwrap_or_default().to_owned();
        std::fs::rename(&file, old.join(name))?;
        kill_at("old");
    }
    sync_dir(dir)?;
    mark(dir, 2)
}

/// Phase 2: the new store's files out of `vacuum.new`, then the marker, and the old files set
/// aside under a name of their own, for [`discard_old`].
fn move_new_in(dir: &Path) -> Result<(), StoreError> {
    let new = dir.join(NEW);
    if new.exists() {
        for file in sled_files(&new)? {
            let name = file.file_name().unwrap_or_default().to_owned();
            std::fs::rename(&file, dir.join(name))?;
            kill_at("new");
        }
    }
    sync_dir(dir)?;
    std::fs::remove_file(dir.join(MARKER))?;
    sync_dir(dir)?;
    if dir.join(NEW).exists() {
        std::fs::remove_dir_all(dir.join(NEW))?;
    }
    if dir.join(OLD).exists() {
        let mut n = 0;
        while dir.join(format!("{GONE}{n}")).exists() {
            n += 1;
        }
        std::fs::rename(dir.join(OLD), dir.join(format!("{GONE}{n}")))?;
    }
    Ok(())
}

/// Removes the old stores' files that swaps set aside, on a thread of its own: removing half a
/// gigabyte of log takes about 0.4 s, which the open need not wait for. The store joins it at
/// stop; a kill part-way leaves the rest to the next open's. `None` when nothing is set aside.
pub(super) fn discard_old(dir: &Path) -> Result<Option<std::thread::JoinHandle<()>>, StoreError> {
    let mut gone = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(GONE) {
            gone.push(entry.path());
        }
    }
    if gone.is_empty() {
        return Ok(None);
    }
    let discarding = std::thread::Builder::new()
        .name("old-log-removal".into())
        .spawn(move || {
            kill_at("gone");
            for old in gone {
                if let Err(error) = std::fs::remove_dir_all(&old) {
                    tracing::warn!(%error, path = %old.display(), "an old log was not removed");
                }
            }
        })?;
    Ok(Some(discarding))
}

/// Makes the next [`wanted`] judge the store as never rewritten: after a change that left much
/// of the log dead at once (the sealed blocks moved into their file).
pub(super) fn forget_last_rewrite(meta: &sled::Tree) -> Result<(), StoreError> {
    meta.remove(REWRITTEN)?;
    Ok(())
}

/// When a rewrite is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum At {
    /// A clean stop: the copy is made then and swapped in by the next open.
    Stop,
    /// An open: only a store grown twice as far ([`AT_OPEN`]).
    Open,
}

/// Whether the store open in `db` has grown enough since its last rewrite to be rewritten `at`.
pub(super) fn wanted(db: &sled::Db, meta: &sled::Tree, at: At) -> Result<bool, StoreError> {
    let floor = std::env::var(FLOOR_ENV)
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or(FLOOR);
    let last = match meta.get(REWRITTEN)? {
        Some(v) => super::format::key_of(&v)?,
        None => 0,
    };
    let size = db.size_on_disk()?;
    let times = if at == At::Open { AT_OPEN } else { 1 };
    Ok(size > floor * times && size * FACTOR_DIVISOR > last * FACTOR * times)
}

/// Copies every tree of `db` (open on `dir`, nothing else writing) into a new store in
/// `vacuum.new`, durable and closed, and checks that both hold the same; returns the old and the
/// new size on disk. On an error (a full disk) the new store is removed and the old one is left
/// as it was. The caller closes `db` and then calls [`swap`].
pub(super) fn copy_beside(
    dir: &Path,
    db: &sled::Db,
    cache_mib: u64,
) -> Result<(u64, u64), StoreError> {
    let before = db.size_on_disk()?;
    let new_dir = dir.join(NEW);
    match copy(db, &new_dir, cache_mib) {
        Ok(after) => Ok((before, after)),
        Err(error) => {
            let _ = std::fs::remove_dir_all(&new_dir);
            Err(error)
        }
    }
}

/// Replaces the store's sled files in `dir` (closed) by the copy [`copy_beside`] made.
pub(super) fn swap(dir: &Path) -> Result<(), StoreError> {
    swap_at_next_open(dir)?;
    move_old_out(dir)?;
    move_new_in(dir)
}

/// Marks the copy [`copy_beside`] made as complete, for the next open to swap it in
/// ([`recover`]) before sled opens the files. The old store may stay open until then: the copy
/// holds all it holds, and nothing writes to it any more.
pub(super) fn swap_at_next_open(dir: &Path) -> Result<(), StoreError> {
    kill_at("written");
    mark(dir, 1)
}

/// The copy, durable and closed; returns its size on disk.
fn copy(db: &sled::Db, new_dir: &Path, cache_mib: u64) -> Result<u64, StoreError> {
    if new_dir.exists() {
        std::fs::remove_dir_all(new_dir)?;
    }
    let new = sled::Config::new()
        .path(new_dir)
        .cache_capacity(cache_mib.max(8) << 20)
        .flush_every_ms(None)
        .open()?;
    for name in db.tree_names() {
        let (from, to) = (db.open_tree(&name)?, new.open_tree(&name)?);
        for entry in from.iter() {
            let (key, value) = entry?;
            to.insert(key, value)?;
        }
    }
    if db.checksum()? != new.checksum()? {
        return Err(StoreError::Damaged {
            path: new_dir.display().to_string(),
            reason: "the rewritten store does not hold what the store holds".into(),
        });
    }
    new.flush()?;
    let size = new.size_on_disk()?;
    new.open_tree("meta")?
        .insert(REWRITTEN, &size.to_be_bytes())?;
    new.flush()?;
    drop(new);
    sync_dir(new_dir)?;
    Ok(size)
}

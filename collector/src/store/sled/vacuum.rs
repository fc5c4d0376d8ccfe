//! Rewrites sled's log into a fresh one when it holds far more than its live data, and swaps it in
//! crash-safely. sled 0.34 frees a segment of its log only when nothing in it is live, and its
//! segment cleaning is off (the README's "Disk bytes per answer"), so records passing through
//! `responses`, cells rewritten and nodes consolidated leave a log many times what it holds (at
//! a million answers, 495 MB for 52 MB). Every tree copied into a new database in a folder beside
//! the store takes about a third of that.
//!
//! The swap moves files, so it is done in two phases that a later open finishes from the marker
//! `vacuum.swap` (written aside, synced, renamed): `1`, the old store's sled files go into
//! `vacuum.old`; `2`, the new store's files come out of `vacuum.new`. Both phases only rename,
//! and are done again from the start after a stop, so a kill anywhere leaves either the old
//! store whole (no marker: `vacuum.new` is thrown away) or a swap that the next open completes.
//! sled's own `import` is not used: it panics on an I/O error, where a full disk must leave the
//! old store as it was.

use std::path::{Path, PathBuf};

use super::trees::replace_file;
use crate::store::StoreError;

/// The new store, written beside the old one.
const NEW: &str = "vacuum.new";
/// The old store's files during a swap.
const OLD: &str = "vacuum.old";
/// Present from when the new store is complete until it has replaced the old one.
const MARKER: &str = "vacuum.swap";
/// Locked by the process opening the store while it recovers or rewrites: sled's own lock is on
/// its log, which the swap moves, and a second process must not finish or discard a rewrite
/// that the first is making.
const LOCK: &str = "touchpoint.lock";
/// `meta` key: the store's size on disk just after its last rewrite.
const REWRITTEN: &[u8] = b"vacuumed";
/// A store is rewritten when its files are this many times their size after the last rewrite
/// (or, never rewritten, over [`FLOOR`]): the log is then mostly dead copies, and rewriting
/// each time the store grows by half keeps the total work linear in what was written.
const FACTOR: u64 = 3;
const FACTOR_DIVISOR: u64 = 2;
/// Smaller stores are never rewritten: the time would be spent for a few megabytes.
const FLOOR: u64 = 64 << 20;
/// Test hooks: the floor instead of [`FLOOR`]; the process kills itself (SIGKILL) at the step
/// named (`written`, `old`, `new`), after moving one file in a phase, as a crash would stop it.
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

/// Phase 2: the new store's files out of `vacuum.new`, then the marker and the old files gone.
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
    for leftover in [NEW, OLD] {
        if dir.join(leftover).exists() {
            std::fs::remove_dir_all(dir.join(leftover))?;
        }
    }
    Ok(())
}

/// Makes the next [`wanted`] judge the store as never rewritten: after a change that left much
/// of the log dead at once (the sealed blocks moved into their file).
pub(super) fn forget_last_rewrite(meta: &sled::Tree) -> Result<(), StoreError> {
    meta.remove(REWRITTEN)?;
    Ok(())
}

/// Whether the store open in `db` has grown enough since its last rewrite to be rewritten.
pub(super) fn wanted(db: &sled::Db, meta: &sled::Tree) -> Result<bool, StoreError> {
    let floor = std::env::var(FLOOR_ENV)
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or(FLOOR);
    let last = match meta.get(REWRITTEN)? {
        Some(v) => super::format::key_of(&v)?,
        None => 0,
    };
    let size = db.size_on_disk()?;
    Ok(size > floor && size * FACTOR_DIVISOR > last * FACTOR)
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
    kill_at("written");
    mark(dir, 1)?;
    move_old_out(dir)?;
    move_new_in(dir)
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

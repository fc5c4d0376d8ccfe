//! Rewrites a store's older sealed blocks (format 2, the records as they were in `responses`;
//! format 3, compact without an index) into the indexed compact form on open, once, and removes
//! the `ids` and `interactions` entries of their records, which the blocks' index replaces. Each
//! block is replaced under its own key (one sled write, whole or not at all) and says its own
//! format, so a migration stopped anywhere (a kill, a full disk) leaves a store that reads
//! correctly and goes on from where it stopped at the next open; `meta/blocks` records where it
//! got to, and that it finished, so a migrated store is not read through again.

use super::compact::{self, each_record, Indexed};
use super::format::{key_of, BLOCK_FORMAT_2, BLOCK_FORMAT_INDEXED as BLOCK_FORMAT};
use super::trees::Trees;
use crate::store::StoreError;

/// `meta` key: `[4]` once every block is indexed; `[2][key u64 BE]` while migrating, every block
/// before that key being done (`[3]`, all compact without an index, starts again from the first).
const BLOCKS: &[u8] = b"blocks";
/// Blocks rewritten between two flushes (and progress records): about 2 000 records.
const STEP: usize = 8;
/// Test hook: the process kills itself (SIGKILL) after rewriting this many blocks, as a crash in
/// the middle of a migration would stop it.
const KILL_AFTER: &str = "TOUCHPOINT_TEST_MIGRATION_KILL_AFTER";

/// How far one call of [`compact_blocks`] got.
#[derive(Debug, Default)]
pub(super) struct Migrated {
    /// The key it started from (0 unless an earlier migration stopped).
    pub(super) from: u64,
    pub(super) rewritten: u64,
    /// Blocks already in the indexed form (rewritten before a stop).
    pub(super) kept: u64,
    /// Whether every block is now indexed.
    pub(super) done: bool,
}

/// Migrates up to `limit` blocks of an older format, going on from where the last call stopped.
pub(super) fn compact_blocks(t: &Trees, limit: u64) -> Result<Migrated, StoreError> {
    let from = match t.meta.get(BLOCKS)?.as_deref() {
        Some([BLOCK_FORMAT]) => {
            return Ok(Migrated {
                done: true,
                ..Migrated::default()
            })
        }
        Some([BLOCK_FORMAT_2, key @ ..]) => key_of(key)?,
        _ => 0,
    };
    let kill_after: Option<u64> = std::env::var(KILL_AFTER).ok().and_then(|n| n.parse().ok());
    let mut done = Migrated {
        from,
        done: true,
        ..Migrated::default()
    };
    let mut pending = 0;
    let mut indexed = Vec::new();
    for entry in t.sealed.range(from.to_be_bytes()..) {
        let (key, block) = entry?;
        if done.rewritten + done.kept == limit {
            done.done = false;
            break;
        }
        let mut records = Vec::new();
        each_record(&block, &mut |key, record| {
            records.push((key, sled::IVec::from(record)));
            Ok(true)
        })?;
        // A block already rewritten (before a stop) may still have its records' entries.
        let (value, records_indexed) = compact::encode_block(&records, t.hash_key);
        indexed.extend(records_indexed);
        if block.first() == Some(&BLOCK_FORMAT) {
            done.kept += 1;
        } else {
            t.sealed.insert(&key, value)?;
            done.rewritten += 1;
        }
        pending += 1;
        if kill_after == Some(done.rewritten) {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        }
        if pending == STEP {
            pending = 0;
            step_done(t, &mut indexed, key_of(&key)?.saturating_add(1))?;
        }
    }
    if done.done {
        t.flush()?;
        t.unindex(&indexed)?;
        t.meta.insert(BLOCKS, &[BLOCK_FORMAT])?;
        t.flush()?;
    }
    Ok(done)
}

/// Makes the blocks rewritten so far durable, then removes their records' entries, then records
/// that every block before `next` is done.
fn step_done(t: &Trees, indexed: &mut Vec<Indexed>, next: u64) -> Result<(), StoreError> {
    t.flush()?;
    t.unindex(&std::mem::take(indexed))?;
    t.meta.insert(
        BLOCKS,
        [&[BLOCK_FORMAT_2][..], &next.to_be_bytes()].concat(),
    )?;
    t.flush()
}

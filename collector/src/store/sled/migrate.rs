//! Rewrites a store's older sealed blocks (format 2, the records as they were in `responses`;
//! format 3, compact without an index) into the indexed compact form on open, once, and removes
//! the `ids` and `interactions` entries of their records, which the blocks' index replaces. Each
//! block is replaced under its own key (one sled write, whole or not at all) and says its own
//! format, so a migration stopped anywhere (a kill, a full disk) leaves a store that reads
//! correctly and goes on from where it stopped at the next open; `meta/blocks` records where it
//! got to, and that it finished, so a migrated store is not read through again.

use std::time::Instant;

use super::compact::{self, each_record};
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

/// Migrates every block of an older format; returns how many it rewrote.
pub(super) fn compact_blocks(t: &Trees) -> Result<u64, StoreError> {
    let from = match t.meta.get(BLOCKS)?.as_deref() {
        Some([BLOCK_FORMAT]) => return Ok(0),
        Some([BLOCK_FORMAT_2, key @ ..]) => key_of(key)?,
        _ => 0,
    };
    let started = Instant::now();
    let kill_after: Option<u64> = std::env::var(KILL_AFTER).ok().and_then(|n| n.parse().ok());
    if from > 0 {
        tracing::info!(
            from,
            "resuming the migration of sealed records to the indexed compact form"
        );
    }
    let (mut rewritten, mut kept) = (0u64, 0u64);
    let mut pending = 0;
    let mut indexed = Vec::new();
    for entry in t.sealed.range(from.to_be_bytes()..) {
        let (key, block) = entry?;
        let mut records = Vec::new();
        each_record(&block, &mut |key, record| {
            records.push((key, sled::IVec::from(record)));
            Ok(true)
        })?;
        // A block already rewritten (before a stop) may still have its records' entries.
        let (value, records_indexed) = compact::encode_block(&records, t.hash_key);
        indexed.extend(records_indexed);
        if block.first() == Some(&BLOCK_FORMAT) {
            kept += 1;
        } else {
            t.sealed.insert(&key, value)?;
            rewritten += 1;
        }
        pending += 1;
        if kill_after == Some(rewritten) {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        }
        if pending == STEP {
            pending = 0;
            // The blocks durable before their records' entries go.
            t.flush()?;
            t.unindex(&std::mem::take(&mut indexed))?;
            let next = key_of(&key)?.saturating_add(1);
            t.meta.insert(
                BLOCKS,
                [&[BLOCK_FORMAT_2][..], &next.to_be_bytes()].concat(),
            )?;
            t.flush()?;
        }
    }
    t.flush()?;
    t.unindex(&indexed)?;
    t.meta.insert(BLOCKS, &[BLOCK_FORMAT])?;
    t.flush()?;
    if rewritten > 0 {
        tracing::info!(
            rewritten,
            already = kept,
            seconds = started.elapsed().as_secs_f64(),
            "migrated sealed records to the indexed compact form"
        );
    }
    Ok(rewritten)
}

//! Rewrites a store's format-2 sealed blocks into the compact form on open, once. Each block is
//! replaced under its own key (one sled write, whole or not at all) and says its own format, so a
//! migration stopped anywhere (a kill, a full disk) leaves a store that reads correctly and goes
//! on from where it stopped at the next open; `meta/blocks` records where it got to, and that it
//! finished, so a migrated store is not read through again.

use std::time::Instant;

use super::compact::{self, each_record};
use super::format::{key_of, BLOCK_FORMAT_2, BLOCK_FORMAT_COMPACT as BLOCK_FORMAT};
use super::trees::Trees;
use crate::store::StoreError;

/// `meta` key: `[3]` once every block is compact; `[2][key u64 BE]` while migrating, every block
/// before that key being done.
const BLOCKS: &[u8] = b"blocks";
/// Blocks rewritten between two flushes (and progress records): about 2 000 records.
const STEP: usize = 8;
/// Test hook: the process kills itself (SIGKILL) after rewriting this many blocks, as a crash in
/// the middle of a migration would stop it.
const KILL_AFTER: &str = "TOUCHPOINT_TEST_MIGRATION_KILL_AFTER";

/// Migrates every format-2 block; returns how many it rewrote.
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
            "resuming the migration of sealed records to the compact form"
        );
    }
    let (mut rewritten, mut kept) = (0u64, 0u64);
    let mut pending = 0;
    for entry in t.sealed.range(from.to_be_bytes()..) {
        let (key, block) = entry?;
        if block.first() != Some(&BLOCK_FORMAT_2) {
            kept += 1;
            continue;
        }
        let mut records = Vec::new();
        each_record(&block, &mut |key, record| {
            records.push((key, sled::IVec::from(record)));
            Ok(true)
        })?;
        t.sealed.insert(&key, compact::encode_block(&records))?;
        rewritten += 1;
        pending += 1;
        if kill_after == Some(rewritten) {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        }
        if pending == STEP {
            pending = 0;
            let next = key_of(&key)?.saturating_add(1);
            t.meta.insert(
                BLOCKS,
                [&[BLOCK_FORMAT_2][..], &next.to_be_bytes()].concat(),
            )?;
            t.flush()?;
        }
    }
    t.meta.insert(BLOCKS, &[BLOCK_FORMAT])?;
    t.flush()?;
    if rewritten > 0 {
        tracing::info!(
            rewritten,
            already = kept,
            seconds = started.elapsed().as_secs_f64(),
            "migrated sealed records to the compact form"
        );
    }
    Ok(rewritten)
}

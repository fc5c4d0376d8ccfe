//! Rewrites a store's older sealed blocks (format 2, the records as they were in `responses`;
//! format 3, compact without an index) into the indexed compact form on open, once, and removes
//! the `ids` and `interactions` entries of their records, which the blocks' index replaces. Each
//! block is replaced under its own key (one sled write, whole or not at all) and says its own
//! format, so a migration stopped anywhere (a kill, a full disk) leaves a store that reads
//! correctly and goes on from where it stopped at the next open; `meta/blocks` records where it
//! got to, and that it finished, so a migrated store is not read through again. The outcomes
//! of older stores (two entries a line) are moved into packs the same way ([`pack_outcomes`]).

use super::compact::{self, each_record, Deflater, Indexed};
use super::format::{
    key_of, pointed, BLOCK_FORMAT_2, BLOCK_FORMAT_INDEXED as BLOCK_FORMAT, BLOCK_IN_FILE,
};
use super::outcomes;
use super::trees::Trees;
use crate::store::{outcomes::Outcome, StoreError};

/// `meta` key: `[4]` once every block is indexed; `[5]` once, besides, every block is in the file
/// of sealed blocks ([`move_blocks`]); `[2][key u64 BE]` while migrating, every block before that
/// key being done (`[3]`, all compact without an index, starts again from the first).
const BLOCKS: &[u8] = b"blocks";
/// Blocks rewritten between two flushes (and progress records): about 2 000 records.
const STEP: usize = 8;
/// Test hook: the process kills itself (SIGKILL) after rewriting this many blocks, as a crash in
/// the middle of a migration would stop it.
const KILL_AFTER: &str = "TOUCHPOINT_TEST_MIGRATION_KILL_AFTER";

/// The test hooks' crash: the process kills itself with SIGKILL, as a crash would stop it.
pub(super) fn crash_here() {
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
}

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
        Some([BLOCK_FORMAT | BLOCK_IN_FILE]) => {
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
    let (mut pending, mut deflater) = (0, Deflater::default());
    let mut indexed = Vec::new();
    for entry in t.sealed.range(from.to_be_bytes()..) {
        let (key, value) = entry?;
        if done.rewritten + done.kept == limit {
            done.done = false;
            break;
        }
        let block = t.block_of(key_of(&key)?, value)?;
        let mut records = Vec::new();
        each_record(&block, &mut |key, record| {
            records.push((key, sled::IVec::from(record)));
            Ok(true)
        })?;
        // A block already rewritten (before a stop) may still have its records' entries.
        let (value, records_indexed) = compact::encode_block(
            &records,
            &compact::parse_records(&records),
            t.hash_key,
            &mut deflater,
        );
        indexed.extend(records_indexed);
        if block.first() == Some(&BLOCK_FORMAT) {
            done.kept += 1;
        } else {
            t.sealed.insert(&key, value)?;
            done.rewritten += 1;
        }
        pending += 1;
        if kill_after == Some(done.rewritten) {
            crash_here();
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

/// Blocks moved into the file between two syncs and flushes: about 0.5 MB.
const MOVE_STEP: usize = 64;
/// Test hook: the process kills itself (SIGKILL) once it has written this many blocks to the file
/// and pointed at none of them, as a crash in the middle of a move would stop it.
const MOVE_KILL_AFTER: &str = "TOUCHPOINT_TEST_MOVE_KILL_AFTER";

/// How far one call of [`move_blocks`] got.
#[derive(Debug, Default)]
pub(super) struct Moved {
    pub(super) moved: u64,
    /// Whether every block is now in the file.
    pub(super) done: bool,
}

/// Moves up to `limit` blocks that `sealed` holds itself (every block, in stores sealed before
/// the file) into the file of sealed blocks ([`super::blocks`]), once every block is indexed.
/// Each step appends its blocks, syncs the file, and only then points their keys at them (a
/// sled write each, whole or not at all), so a stop anywhere leaves each block either where it
/// was or in the file, and at worst bytes in the file that nothing names; a block already moved
/// is passed over.
pub(super) fn move_blocks(t: &Trees, limit: u64) -> Result<Moved, StoreError> {
    match t.meta.get(BLOCKS)?.as_deref() {
        Some([BLOCK_IN_FILE]) => {
            return Ok(Moved {
                moved: 0,
                done: true,
            })
        }
        Some([BLOCK_FORMAT]) => {}
        // Not every block indexed yet: [`compact_blocks`] first.
        _ => return Ok(Moved::default()),
    }
    let mut moved = Moved {
        moved: 0,
        done: true,
    };
    let kill_after: Option<u64> = std::env::var(MOVE_KILL_AFTER)
        .ok()
        .and_then(|n| n.parse().ok());
    let mut step = Vec::with_capacity(MOVE_STEP);
    for entry in t.sealed.iter() {
        let (key, value) = entry?;
        if pointed(&value)?.is_some() {
            continue;
        }
        if moved.moved == limit {
            moved.done = false;
            break;
        }
        step.push((key, t.put_in_file(&value)?));
        moved.moved += 1;
        if kill_after == Some(moved.moved) {
            t.blocks.sync()?;
            crash_here();
        }
        if step.len() == MOVE_STEP {
            point_at_moved(t, &mut step)?;
        }
    }
    point_at_moved(t, &mut step)?;
    if moved.done {
        t.meta.insert(BLOCKS, &[BLOCK_IN_FILE])?;
        t.flush()?;
    }
    Ok(moved)
}

/// Syncs the file, then points the blocks of `step` (key, pointer) at their bytes there, durably.
fn point_at_moved(t: &Trees, step: &mut Vec<(sled::IVec, Vec<u8>)>) -> Result<(), StoreError> {
    if step.is_empty() {
        return Ok(());
    }
    t.blocks.sync()?;
    for (key, pointer) in step.drain(..) {
        t.sealed.insert(key, pointer)?;
    }
    t.flush()
}

/// Outcomes moved into packs between two flushes: a few packs' worth.
const OUTCOME_STEP: usize = 8 * outcomes::PACK;
/// Test hooks: the process kills itself (SIGKILL) after this many steps of moving outcomes; steps
/// of this many lines instead of [`OUTCOME_STEP`], so that a small store takes several.
const OUTCOMES_KILL_AFTER: &str = "TOUCHPOINT_TEST_OUTCOMES_KILL_AFTER";
const OUTCOMES_STEP: &str = "TOUCHPOINT_TEST_OUTCOMES_STEP";

/// How far one call of [`pack_outcomes`] got.
#[derive(Debug, Default)]
pub(super) struct PackedOutcomes {
    pub(super) moved: u64,
    pub(super) packs: u64,
    /// Numbers whose identity a crash had not written (never a stored line), dropped.
    pub(super) dropped: u64,
}

/// Moves the outcomes of an older store (`s` + number → the outcome as JSON, `i` + identity →
/// number: two entries a line) into packs keeping their numbers, so readers catch up from where
/// they were. Each step is one sled batch that writes its packs and removes the entries they
/// replace, whole or not at all, then a flush: a migration stopped anywhere goes on at the next
/// open with the entries still there, and a store with none reads nothing more than one key.
pub(super) fn pack_outcomes(t: &Trees) -> Result<PackedOutcomes, StoreError> {
    pack_outcomes_steps(t, u64::MAX)
}

/// [`pack_outcomes`], stopping after `limit` steps (as a kill would) without the final clean-up.
pub(super) fn pack_outcomes_steps(t: &Trees, limit: u64) -> Result<PackedOutcomes, StoreError> {
    let kill_after: Option<u64> = std::env::var(OUTCOMES_KILL_AFTER)
        .ok()
        .and_then(|n| n.parse().ok());
    let step: usize = std::env::var(OUTCOMES_STEP)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(OUTCOME_STEP);
    let mut done = PackedOutcomes::default();
    let mut steps = 0;
    loop {
        let mut batch = sled::Batch::default();
        let mut run: Vec<Outcome> = Vec::new();
        let mut first = 0;
        let mut taken = 0;
        for entry in t.outcomes.scan_prefix(b"s").take(step) {
            let (key, value) = entry?;
            taken += 1;
            batch.remove(&key);
            let seq = key_of(&key[1..])?;
            let outcome: Outcome =
                serde_json::from_slice(&value).map_err(|_| StoreError::Corrupt { key: seq })?;
            let identity = [b"i".as_slice(), &outcome.identity()].concat();
            if t.outcomes.get(&identity)?.as_deref() != Some(&key[1..]) {
                done.dropped += 1;
                continue;
            }
            batch.remove(identity);
            if !run.is_empty() && (first + run.len() as u64 != seq || run.len() == outcomes::PACK) {
                batch.insert(
                    &outcomes::pack_key(first),
                    outcomes::encode(&run, t.hash_key)?,
                );
                done.packs += 1;
                run.clear();
            }
            if run.is_empty() {
                first = seq;
            }
            run.push(outcome);
            done.moved += 1;
        }
        if taken == 0 {
            break;
        }
        if !run.is_empty() {
            batch.insert(
                &outcomes::pack_key(first),
                outcomes::encode(&run, t.hash_key)?,
            );
            done.packs += 1;
        }
        t.outcomes.apply_batch(batch)?;
        t.flush()?;
        steps += 1;
        if kill_after == Some(steps) {
            crash_here();
        }
        if steps == limit {
            return Ok(done);
        }
    }
    // An identity whose number is gone cannot be left by the older form (the number was written
    // first); none is kept either way.
    let mut batch = sled::Batch::default();
    let mut leftover = false;
    for key in t.outcomes.scan_prefix(b"i").keys() {
        batch.remove(key?);
        leftover = true;
    }
    if leftover {
        t.outcomes.apply_batch(batch)?;
        t.flush()?;
    }
    Ok(done)
}

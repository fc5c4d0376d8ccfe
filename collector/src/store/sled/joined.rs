//! The business view's index saved beside the sealed blocks (tree `joined`, keyed as `sealed`):
//! for each block, one value with its records that carry an interaction id, as the index keeps
//! them ([`Joining`]): arrival key, when given, touchpoint, the three measures and the
//! interaction id, deflated. So a start reads one value per block instead of decoding and parsing
//! every record ([`fill`]), and only the records not yet sealed are read as records.
//!
//! The value is written just after its block when the block is sealed. A block without one (sealed
//! by an older collector, or a crash between the two writes) is read from its records once, when
//! the index is filled, and its value saved then. A block never changes its records (the migration
//! to the compact form rewrites a block with the same records), so a saved value stays true; it is
//! derived data, written without a flush of its own: one a crash loses is made again.
//!
//! Layout (format 1): `[1]`, then deflated: the touchpoints the block's entries use (a count, then
//! each as length and bytes), the number of entries, and per entry the arrival key less the
//! previous entry's, the arrival key less the time given, the touchpoint's number, the measures
//! (effort, confidence and emotion, 3 bits each) and the interaction id (length and bytes), all
//! as LEB128 numbers.

use std::{collections::HashMap, time::Instant};

use super::compact::{each_record, put_bytes, put_varint, Reader};
use super::format::{block_header, decode, key_of};
use super::trees::Trees;
use crate::stats::joins::{Joining, Joins};
use crate::store::StoreError;

const FORMAT: u8 = 1;

/// A block's entries being written.
#[derive(Default)]
struct Saving {
    touchpoints: Vec<String>,
    numbers: HashMap<String, u64>,
    entries: Vec<u8>,
    count: u64,
    previous: u64,
}

impl Saving {
    fn add(&mut self, key: u64, answer: &Joining<'_>) {
        let next = self.touchpoints.len() as u64;
        let touchpoint = *self
            .numbers
            .entry(answer.touchpoint.to_owned())
            .or_insert(next);
        if touchpoint == next {
            self.touchpoints.push(answer.touchpoint.to_owned());
        }
        let measure = |m: u8| u64::from(m.min(7));
        put_varint(&mut self.entries, key.saturating_sub(self.previous));
        put_varint(&mut self.entries, key.saturating_sub(answer.given_micros));
        put_varint(&mut self.entries, touchpoint);
        put_varint(
            &mut self.entries,
            measure(answer.effort) | measure(answer.confidence) << 3 | measure(answer.emotion) << 6,
        );
        put_bytes(&mut self.entries, answer.interaction.as_bytes());
        self.previous = key;
        self.count += 1;
    }

    fn finish(self) -> Vec<u8> {
        let mut plain = Vec::with_capacity(self.entries.len() + 64);
        put_varint(&mut plain, self.touchpoints.len() as u64);
        for touchpoint in &self.touchpoints {
            put_bytes(&mut plain, touchpoint.as_bytes());
        }
        put_varint(&mut plain, self.count);
        plain.extend_from_slice(&self.entries);
        let mut value = vec![FORMAT];
        value.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&plain, 6));
        value
    }
}

/// The saved value for `records` (arrival key, record in the form of `responses`, in key order).
pub(super) fn of_records<'a>(
    records: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> Result<Vec<u8>, StoreError> {
    let mut saving = Saving::default();
    for (key, value) in records {
        add_record(&mut saving, key, value)?;
    }
    Ok(saving.finish())
}

fn add_record(saving: &mut Saving, key: u64, value: &[u8]) -> Result<(), StoreError> {
    let record = decode(key, value)?;
    let answer = Joining::of_json(record.json, record.touchpoint, key)
        .map_err(|_| StoreError::Corrupt { key })?;
    if let Some(answer) = answer {
        saving.add(key, &answer);
    }
    Ok(())
}

/// The saved value for a sealed block, read from its records.
fn of_block(block: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut saving = Saving::default();
    each_record(block, &mut |key, value| {
        add_record(&mut saving, key, value)?;
        Ok(true)
    })?;
    Ok(saving.finish())
}

/// Calls `visit` with each entry of a saved value (arrival key, the answer).
fn each_saved(value: &[u8], visit: &mut dyn FnMut(u64, Joining<'_>)) -> Result<(), StoreError> {
    let corrupt = || StoreError::Corrupt { key: 0 };
    let [FORMAT, deflated @ ..] = value else {
        return Err(corrupt());
    };
    let plain = miniz_oxide::inflate::decompress_to_vec(deflated).map_err(|_| corrupt())?;
    let mut reader = Reader(&plain);
    let touchpoints = (0..reader.varint()?)
        .map(|_| reader.str())
        .collect::<Result<Vec<&str>, _>>()?;
    let mut key = 0u64;
    for _ in 0..reader.varint()? {
        key = key.checked_add(reader.varint()?).ok_or_else(corrupt)?;
        let given_micros = key.checked_sub(reader.varint()?).ok_or_else(corrupt)?;
        let touchpoint = usize::try_from(reader.varint()?).map_err(|_| corrupt())?;
        let measures = reader.varint()?;
        let measure = |shift: u64| (measures >> shift & 7) as u8;
        visit(
            key,
            Joining {
                given_micros,
                touchpoint: touchpoints.get(touchpoint).ok_or_else(corrupt)?,
                interaction: reader.str()?,
                effort: measure(0),
                confidence: measure(3),
                emotion: measure(6),
            },
        );
    }
    Ok(())
}

/// Counts into `joins` the sealed records keyed `from..to` from the blocks' saved values (saving
/// those missing), until `until`; says the key where it stopped, or where the sealed records end
/// (the rest are read from `responses`).
pub(super) fn fill(
    t: &Trees,
    joins: &Joins,
    from: u64,
    to: u64,
    until: Option<Instant>,
) -> Result<(u64, bool), StoreError> {
    // As a scan: sealing waits, so no record moves from `responses` into a block meanwhile.
    let _shared = t.seal_guard.read().unwrap_or_else(|p| p.into_inner());
    let first_block = match t.sealed.range(..=from.to_be_bytes()).next_back() {
        Some(entry) => entry?.0,
        None => sled::IVec::from(&from.to_be_bytes()),
    };
    let (mut next, mut saved_blocks, mut made_blocks) = (from, 0u64, 0u64);
    let log = |saved_blocks, made_blocks, stopped| {
        tracing::info!(
            saved_blocks,
            made_blocks,
            stopped,
            "read the sealed blocks' part of the business view's index"
        );
    };
    for entry in t
        .sealed
        .range(first_block..sled::IVec::from(&to.to_be_bytes()))
    {
        let (block_key, block) = entry?;
        let start = key_of(&block_key)?;
        // Stopped only after a block, so each call goes on from further than it began.
        if start > from && next > from && until.is_some_and(|until| Instant::now() >= until) {
            log(saved_blocks, made_blocks, true);
            return Ok((start, true));
        }
        let saved = match t.joined.get(&block_key)? {
            Some(saved) => {
                saved_blocks += 1;
                saved
            }
            None => {
                let saved = sled::IVec::from(of_block(&block)?);
                t.joined.insert(&block_key, saved.clone())?;
                made_blocks += 1;
                saved
            }
        };
        each_saved(&saved, &mut |key, answer| {
            if (from..to).contains(&key) {
                joins.add_one(answer);
            }
        })?;
        next = next.max(block_header(&block)?.1.saturating_add(1));
    }
    log(saved_blocks, made_blocks, false);
    Ok((next, false))
}

//! The business view's index saved beside the sealed blocks (tree `joined`, keyed as `sealed`):
//! for each block, one value with its records that carry an interaction id, as the index keeps
//! them ([`Joining`]): arrival key, when given, touchpoint, the three measures and the
//! interaction id, deflated. So a start reads one value per block instead of decoding and parsing
//! every record ([`Trees::fill_joins`](super::trees::Trees::fill_joins)), and only the records not yet sealed are read as records.
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

use super::compact::{each_record, put_bytes, put_varint, Deflater, Parsed, Reader, Table};
use super::format::decode;
use crate::stats::joins::Joining;
use crate::store::StoreError;

const FORMAT: u8 = 1;

/// A block's entries being written.
#[derive(Default)]
struct Saving {
    touchpoints: Table,
    entries: Vec<u8>,
    count: u64,
    previous: u64,
}

impl Saving {
    fn add(&mut self, key: u64, answer: &Joining<'_>) {
        let measure = |m: u8| u64::from(m.min(7));
        put_varint(&mut self.entries, key.saturating_sub(self.previous));
        put_varint(&mut self.entries, key.saturating_sub(answer.given_micros));
        self.touchpoints.put(&mut self.entries, answer.touchpoint);
        put_varint(
            &mut self.entries,
            measure(answer.effort) | measure(answer.confidence) << 3 | measure(answer.emotion) << 6,
        );
        put_bytes(&mut self.entries, answer.interaction.as_bytes());
        self.previous = key;
        self.count += 1;
    }

    fn finish(self, deflater: &mut Deflater) -> Vec<u8> {
        let mut plain = Vec::with_capacity(self.entries.len() + 64);
        self.touchpoints.write(&mut plain);
        put_varint(&mut plain, self.count);
        plain.extend_from_slice(&self.entries);
        let mut value = vec![FORMAT];
        deflater.deflate(&plain, &mut value);
        value
    }
}

/// The saved value for `records` (arrival key, record in the form of `responses`, in key order)
/// being sealed, from the submissions their block was made of where they could be parsed (the
/// same fields as the records' JSON gives), deflated with `deflater`.
pub(super) fn of_records(
    records: &[(u64, sled::IVec)],
    parsed: &[Option<Parsed>],
    deflater: &mut Deflater,
) -> Result<Vec<u8>, StoreError> {
    let mut saving = Saving::default();
    for ((key, value), parsed) in records.iter().zip(parsed) {
        match parsed {
            Some(parsed) => {
                if let Some(answer) = Joining::of(&parsed.submission, *key) {
                    saving.add(*key, &answer);
                }
            }
            None => add_record(&mut saving, *key, value)?,
        }
    }
    Ok(saving.finish(deflater))
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
pub(super) fn of_block(block: &[u8], deflater: &mut Deflater) -> Result<Vec<u8>, StoreError> {
    let mut saving = Saving::default();
    each_record(block, &mut |key, value| {
        add_record(&mut saving, key, value)?;
        Ok(true)
    })?;
    Ok(saving.finish(deflater))
}

/// Calls `visit` with each entry of a saved value (arrival key, the answer).
pub(super) fn each_saved(
    value: &[u8],
    visit: &mut dyn FnMut(u64, Joining<'_>),
) -> Result<(), StoreError> {
    let corrupt = || StoreError::Corrupt { key: 0 };
    let [FORMAT, deflated @ ..] = value else {
        return Err(corrupt());
    };
    let plain = miniz_oxide::inflate::decompress_to_vec(deflated).map_err(|_| corrupt())?;
    let mut reader = Reader(&plain);
    let touchpoints = reader.table()?;
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

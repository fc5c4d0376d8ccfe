//! The sled backend's byte formats: records, sealed blocks, index and meta keys, the saved stats
//! cells and the devices' last answers. Each value starts with a format byte (or is stamped under
//! a floor that has one), so a later format can be told apart.

use protocol::{Channel, Submission};

use crate::store::{Record, StoreError};

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
pub(super) fn encode(submission: &Submission, json: &str, flags: u8) -> Vec<u8> {
    let touchpoint = submission.touchpoint.as_str().as_bytes();
    let mut value = Vec::with_capacity(4 + touchpoint.len() + json.len());
    value.extend_from_slice(&[RECORD_FORMAT, flags, channel_code(submission.channel)]);
    value.push(touchpoint.len() as u8); // an Ident is at most 64 bytes
    value.extend_from_slice(touchpoint);
    value.extend_from_slice(json.as_bytes());
    value
}

pub(super) fn decode(key: u64, value: &[u8]) -> Result<Record<'_>, StoreError> {
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

pub(super) fn interaction_key(submission: &Submission) -> Option<Vec<u8>> {
    let interaction = submission.context.interaction_id.as_ref()?;
    Some(interaction_key_of(
        submission.channel,
        submission.touchpoint.as_str(),
        interaction.as_str(),
    ))
}

pub(super) fn interaction_key_of(channel: Channel, touchpoint: &str, interaction: &str) -> Vec<u8> {
    let mut key = vec![channel_code(channel)];
    key.extend_from_slice(touchpoint.as_bytes());
    key.push(0);
    key.extend_from_slice(interaction.as_bytes());
    key
}

pub(super) const CHECKPOINT: &[u8] = b"checkpoint";
/// `[format][key u64 BE]`, the floor: every saved cell and device covers all of its records up to
/// this key (see the module doc). A saved cell is its key in `aggregates` (see
/// [`crate::stats::Aggregates::cell_key`]) → `[format][key u64 BE][counts]`; a saved device its
/// name in `devices` → `[key u64 BE][last submitted_at, ms i64 BE]`.
pub(super) const DERIVED: &[u8] = b"derived";
/// 3: a value per cell and per device (2 saved a whole day, and every device, in one value);
/// 4: theme cells saved beside the stats cells (a store of 3 has none: its cells are rebuilt).
pub(super) const DERIVED_FORMAT: u8 = 4;
/// Where format 2 kept every device in one value; removed by the rebuild that replaces it.
pub(super) const DEVICES_FORMAT_2: &[u8] = b"devices";

/// A saved cell: `[format][stamp][counts]`.
pub(super) fn encode_cell(stamp: u64, counts: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(9 + counts.len());
    value.push(DERIVED_FORMAT);
    value.extend_from_slice(&stamp.to_be_bytes());
    value.extend_from_slice(counts);
    value
}

/// The stamp and counts of a saved cell, when it is of this format.
pub(super) fn decode_cell(value: &[u8]) -> Option<(u64, &[u8])> {
    match value {
        [DERIVED_FORMAT, rest @ ..] if rest.len() >= 8 => {
            Some((key_of(&rest[..8]).ok()?, &rest[8..]))
        }
        _ => None,
    }
}

/// A saved device: `[stamp][millis]`.
pub(super) fn encode_device(stamp: u64, millis: i64) -> [u8; 16] {
    let mut value = [0; 16];
    value[..8].copy_from_slice(&stamp.to_be_bytes());
    value[8..].copy_from_slice(&millis.to_be_bytes());
    value
}

/// The stamp and the last `submitted_at` of a saved device.
pub(super) fn decode_device(value: &[u8]) -> Option<(u64, i64)> {
    let value: &[u8; 16] = value.try_into().ok()?;
    let (stamp, millis) = value.split_at(8);
    Some((
        key_of(stamp).ok()?,
        i64::from_be_bytes(millis.try_into().ok()?),
    ))
}

/// The `meta` key of the secret called `name`.
pub(super) fn secret_key(name: &str) -> Vec<u8> {
    [b"secret/", name.as_bytes()].concat()
}

/// The key of an action: its id (digits, the time it was recorded) padded to sort in that order.
pub(super) fn action_key(id: &str) -> Vec<u8> {
    format!("{id:0>20}").into_bytes()
}

/// An arrival key from its big-endian bytes.
pub(super) fn key_of(bytes: &[u8]) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(
        bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt { key: 0 })?,
    ))
}

/// Records per sealed block: enough that export reads few sled entries, few enough that finding
/// one record in a block stays cheap.
pub const BLOCK_RECORDS: usize = 256;
/// Blocks of this format keep their records as they were in `responses`; sealing wrote them until
/// the compact form ([`super::compact`], format 3), to which opening migrates them.
pub(super) const BLOCK_FORMAT_2: u8 = 2;
/// Blocks of this format keep their records in the compact form ([`super::compact`]), and their
/// ids in `ids`; opening migrates them to [`BLOCK_FORMAT_INDEXED`].
pub(super) const BLOCK_FORMAT_COMPACT_3: u8 = 3;
/// Blocks of this format keep their records in the compact form with the hashes of their ids and
/// interaction keys ([`super::index`]); their records have no `ids` or `interactions` entries.
pub(super) const BLOCK_FORMAT_INDEXED: u8 = 4;
/// A `sealed` value of this form holds no records: it says where a block of
/// [`BLOCK_FORMAT_INDEXED`] is in the file of sealed blocks ([`super::blocks`]), after the same
/// header as the block's: `[5][count u32 LE][last key u64 BE][offset u64 LE][length u32 LE]`.
pub(super) const BLOCK_IN_FILE: u8 = 5;

/// The `sealed` value for `block` (of [`BLOCK_FORMAT_INDEXED`]) written at `offset` in the file.
pub(super) fn block_pointer(block: &[u8], offset: u64) -> Result<Vec<u8>, StoreError> {
    let header = block.get(1..13).ok_or(StoreError::Corrupt { key: 0 })?;
    let len = u32::try_from(block.len()).map_err(|_| StoreError::Corrupt { key: 0 })?;
    Ok([
        &[BLOCK_IN_FILE][..],
        header,
        &offset.to_le_bytes(),
        &len.to_le_bytes(),
    ]
    .concat())
}

/// Where the block a `sealed` value points to is (offset, length), or `None` for a value that
/// holds its block itself (as every block did before the file).
pub(super) fn pointed(value: &[u8]) -> Result<Option<(u64, u32)>, StoreError> {
    match value {
        [BLOCK_IN_FILE, rest @ ..] if rest.len() == 24 => Ok(Some((
            u64::from_le_bytes(
                rest[12..20]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { key: 0 })?,
            ),
            u32::from_le_bytes(
                rest[20..24]
                    .try_into()
                    .map_err(|_| StoreError::Corrupt { key: 0 })?,
            ),
        ))),
        [BLOCK_IN_FILE, ..] => Err(StoreError::Corrupt { key: 0 }),
        _ => Ok(None),
    }
}

/// The number of records in a block and its last key: `[format][count u32 LE][last key u64 BE]`
/// opens a block of every format, and a pointer to one in the file.
pub(super) fn block_header(block: &[u8]) -> Result<(u32, u64), StoreError> {
    match block {
        [BLOCK_FORMAT_2 | BLOCK_FORMAT_COMPACT_3 | BLOCK_FORMAT_INDEXED | BLOCK_IN_FILE, count @ ..]
            if count.len() >= 12 =>
        {
            Ok((
                u32::from_le_bytes(
                    count[..4]
                        .try_into()
                        .map_err(|_| StoreError::Corrupt { key: 0 })?,
                ),
                key_of(&count[4..12])?,
            ))
        }
        _ => Err(StoreError::Corrupt { key: 0 }),
    }
}

/// What reads a block's records: given each (key, record in the form of `responses`), whether to
/// go on.
pub(super) type Visit<'v> = dyn FnMut(u64, &[u8]) -> Result<bool, StoreError> + 'v;

/// A format-2 block, as sealing wrote it before the compact form: for tests of the migration.
#[cfg(test)]
pub(super) fn encode_block_2(records: &[(u64, sled::IVec)]) -> Vec<u8> {
    let mut block = vec![BLOCK_FORMAT_2];
    block.extend_from_slice(&(records.len() as u32).to_le_bytes());
    block.extend_from_slice(&records.last().map_or(0, |(k, _)| *k).to_be_bytes());
    for (key, value) in records {
        block.extend_from_slice(&key.to_be_bytes());
        block.extend_from_slice(&(value.len() as u32).to_le_bytes());
        block.extend_from_slice(value);
    }
    block
}

/// The `(key, record bytes)` pairs of a format-2 block, in key order: after the header, per
/// record `[key u64 BE][len u32 LE][record]`.
pub(super) fn block_records_2(
    block: &[u8],
) -> impl Iterator<Item = Result<(u64, &[u8]), StoreError>> {
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

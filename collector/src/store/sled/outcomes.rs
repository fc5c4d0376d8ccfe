//! The sled backend's outcomes, packed: each import is written as a few values of up to
//! [`PACK`] consecutive outcomes (key `p` + the first one's sequence number), each carrying the
//! keyed hashes of its lines' identities, instead of two sled entries per line. Whether a line is
//! already stored is found through an in-memory index of those hashes, read from the packs the
//! first time it is needed, and confirmed in the pack, so two identities sharing a hash are still
//! told apart.

use std::collections::{BTreeSet, HashMap};

use super::index::HashKey;
use crate::store::outcomes::{Outcome, OutcomePut};
use crate::store::StoreError;

/// Outcomes in one packed value at most: about 12 KB, far under what sled moves out to a blob.
pub(super) const PACK: usize = 512;
/// The first byte of a packed value: its format.
const FORMAT: u8 = 1;
/// The first byte of a packed value's key.
const PREFIX: u8 = b'p';

/// The key of the pack whose first outcome is number `seq`.
pub(super) fn pack_key(seq: u64) -> [u8; 9] {
    let mut key = [PREFIX; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The first sequence number of the pack under `key`.
fn first_of(key: &[u8]) -> Result<u64, StoreError> {
    match key {
        [PREFIX, seq @ ..] => super::format::key_of(seq),
        _ => Err(StoreError::Corrupt { key: 0 }),
    }
}

/// `[FORMAT][count u32 LE][identity hash u64 LE × count][the outcomes as a JSON array, deflated]`.
/// The hashes come first so the index is read without inflating anything.
pub(super) fn encode(outcomes: &[Outcome], key: HashKey) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_vec(outcomes).map_err(|_| StoreError::Corrupt { key: 0 })?;
    let mut value = Vec::with_capacity(5 + outcomes.len() * 8 + json.len() / 4);
    value.push(FORMAT);
    value.extend_from_slice(&(outcomes.len() as u32).to_le_bytes());
    for outcome in outcomes {
        value.extend_from_slice(&key.hash(&outcome.identity()).to_le_bytes());
    }
    value.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&json, 6));
    Ok(value)
}

/// The identity hashes of a packed value, and the rest of it.
fn hashes(value: &[u8]) -> Result<(Vec<u64>, &[u8]), StoreError> {
    let corrupt = || StoreError::Corrupt { key: 0 };
    let [FORMAT, rest @ ..] = value else {
        return Err(corrupt());
    };
    let (count, rest) = rest.split_at_checked(4).ok_or_else(corrupt)?;
    let count = u32::from_le_bytes(count.try_into().map_err(|_| corrupt())?) as usize;
    let (hashes, body) = rest
        .split_at_checked(count.checked_mul(8).ok_or_else(corrupt)?)
        .ok_or_else(corrupt)?;
    let hashes = hashes
        .chunks_exact(8)
        .map(|h| u64::from_le_bytes(h.try_into().unwrap_or_default()))
        .collect();
    Ok((hashes, body))
}

/// The outcomes of a packed value, in the order numbered.
pub(super) fn decode(value: &[u8]) -> Result<Vec<Outcome>, StoreError> {
    let corrupt = || StoreError::Corrupt { key: 0 };
    let (hashes, body) = hashes(value)?;
    let json = miniz_oxide::inflate::decompress_to_vec(body).map_err(|_| corrupt())?;
    let outcomes: Vec<Outcome> = serde_json::from_slice(&json).map_err(|_| corrupt())?;
    if outcomes.len() != hashes.len() {
        return Err(corrupt());
    }
    Ok(outcomes)
}

/// Which packs hold a line of each identity hash: `(hash, the pack's first number)`, about 16
/// bytes a line (the demo's 173 817 outcomes: under 4 MB).
#[derive(Debug, Default)]
pub(super) struct OutcomeIndex {
    entries: BTreeSet<(u64, u64)>,
    /// The number after the last stored outcome's.
    next: u64,
}

impl OutcomeIndex {
    /// Reads the hashes of every pack in `tree`; `last` is the last number handed out before
    /// outcomes were packed (an older store's `meta/outcomes`), which packs must not reuse.
    pub(super) fn load(tree: &sled::Tree, last: u64) -> Result<Self, StoreError> {
        let mut index = Self {
            next: last + 1,
            ..Self::default()
        };
        for entry in tree.range(pack_key(0)..=pack_key(u64::MAX)) {
            let (key, value) = entry?;
            index.add(first_of(&key)?, &hashes(&value)?.0);
        }
        Ok(index)
    }

    fn add(&mut self, first: u64, hashes: &[u64]) {
        self.entries.extend(hashes.iter().map(|h| (*h, first)));
        self.next = self.next.max(first + hashes.len() as u64);
    }

    /// Names the pack `first` for `hash`, as a line sharing another's hash would.
    #[cfg(test)]
    pub(super) fn add_for_test(&mut self, hash: u64, first: u64) {
        self.entries.insert((hash, first));
    }

    /// The first numbers of the packs holding a line whose identity hashes to `hash`.
    fn packs(&self, hash: u64) -> impl Iterator<Item = u64> + '_ {
        self.entries
            .range((hash, 0)..=(hash, u64::MAX))
            .map(|e| e.1)
    }
}

/// Stores each of `outcomes` whose identity is new, as packs written in one sled batch (all of
/// them or none); a line whose identity is stored already, or comes earlier in `outcomes`, is a
/// duplicate when it says the same and a conflict when not. The caller holds the writer lock and
/// flushes.
pub(super) fn put(
    tree: &sled::Tree,
    index: &mut OutcomeIndex,
    key: HashKey,
    outcomes: &[Outcome],
) -> Result<Vec<OutcomePut>, StoreError> {
    let mut packs: HashMap<u64, Vec<Outcome>> = HashMap::new();
    let mut new: Vec<Outcome> = Vec::new();
    let mut new_by_identity: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut puts = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        let identity = outcome.identity();
        let stored = match new_by_identity.get(&identity) {
            Some(&at) => Some(new[at].clone()),
            None => stored(tree, index, &mut packs, key.hash(&identity), &identity)?,
        };
        puts.push(match stored {
            Some(stored) if stored.same_as(outcome) => OutcomePut::Duplicate,
            Some(_) => OutcomePut::Conflict,
            None => {
                new_by_identity.insert(identity, new.len());
                new.push(outcome.clone());
                OutcomePut::Stored(index.next + new.len() as u64 - 1)
            }
        });
    }
    let mut batch = sled::Batch::default();
    let mut added = Vec::new();
    for (n, pack) in new.chunks(PACK).enumerate() {
        let first = index.next + (n * PACK) as u64;
        let value = encode(pack, key)?;
        added.push((first, hashes(&value)?.0));
        batch.insert(&pack_key(first), value);
    }
    tree.apply_batch(batch)?;
    // In the tree now (durable at the caller's flush): a retry, even after a failed flush, finds
    // them rather than numbering them again.
    for (first, hashes) in added {
        index.add(first, &hashes);
    }
    Ok(puts)
}

/// The stored line of this identity, looked for in the packs whose lines share its hash (each
/// pack read once per import).
fn stored(
    tree: &sled::Tree,
    index: &OutcomeIndex,
    packs: &mut HashMap<u64, Vec<Outcome>>,
    hash: u64,
    identity: &[u8],
) -> Result<Option<Outcome>, StoreError> {
    for first in index.packs(hash) {
        let pack = match packs.entry(first) {
            std::collections::hash_map::Entry::Occupied(pack) => pack.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let value = tree
                    .get(pack_key(first))?
                    .ok_or(StoreError::Corrupt { key: first })?;
                entry.insert(decode(&value)?)
            }
        };
        if let Some(found) = pack.iter().find(|o| o.identity() == identity) {
            return Ok(Some(found.clone()));
        }
    }
    Ok(None)
}

/// Calls `visit` with each stored outcome numbered after `after`, in order, until it returns
/// false.
pub(super) fn after(
    tree: &sled::Tree,
    after: u64,
    visit: &mut dyn FnMut(u64, Outcome) -> bool,
) -> Result<(), StoreError> {
    let wanted = after.saturating_add(1);
    // The pack holding `wanted`, which may have begun before it.
    let start = match tree.range(pack_key(0)..=pack_key(wanted)).next_back() {
        Some(entry) => first_of(&entry?.0)?,
        None => wanted,
    };
    for entry in tree.range(pack_key(start)..=pack_key(u64::MAX)) {
        let (key, value) = entry?;
        let first = first_of(&key)?;
        for (seq, outcome) in (first..).zip(decode(&value)?) {
            if seq >= wanted && !visit(seq, outcome) {
                return Ok(());
            }
        }
    }
    Ok(())
}

//! Finding an answer by id or interaction without a sled entry per answer: each sealed block
//! carries a keyed hash of each of its records' ids and interaction keys, and the store keeps a
//! compact in-memory index of them (8 bytes per entry: a hash prefix and the block's number),
//! built at open from the blocks and confirmed in the block, so a duplicate is recognised
//! exactly; the records not yet sealed are indexed in memory ([`Recent`]), from `responses` at
//! open.

use std::collections::HashMap;
use std::hash::Hasher;

use siphasher::sip::SipHasher13;

use super::format::key_of;
use crate::store::StoreError;

/// `meta` key of the index's hash key: 16 random bytes made when a store first opens, so nobody
/// outside can choose ids whose hashes collide.
pub(super) const HASH_KEY: &[u8] = b"index_key";

/// A keyed hash (SipHash-1-3, whose output is fixed by its specification, so hashes written into
/// blocks stay valid across builds).
#[derive(Clone, Copy)]
pub(super) struct HashKey(u64, u64);

impl HashKey {
    pub(super) fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt { key: 0 };
        let (a, b) = bytes.split_at_checked(8).ok_or_else(corrupt)?;
        Ok(Self(key_of(a)?, key_of(b)?))
    }

    /// The hash of `bytes`, never 0 (0 marks a record the block does not index).
    pub(super) fn hash(self, bytes: &[u8]) -> u64 {
        let mut hasher = SipHasher13::new_with_keys(self.0, self.1);
        hasher.write(bytes);
        hasher.finish().max(1)
    }
}

/// The store's hash key, made (from the system's random source) and kept in `meta` the first
/// time it opens; durable with the open's first flush, before any block uses it.
pub(super) fn hash_key(meta: &sled::Tree) -> Result<HashKey, StoreError> {
    if let Some(kept) = meta.get(HASH_KEY)? {
        return HashKey::from_bytes(&kept);
    }
    let mut made = [0u8; 16];
    getrandom::getrandom(&mut made)
        .map_err(|e| StoreError::from(std::io::Error::other(e.to_string())))?;
    meta.insert(HASH_KEY, &made)?;
    HashKey::from_bytes(&made)
}

/// What a block indexes: for each record, by its position, the hash of its id (0 when its id
/// could not be read: then its `ids` entry stays), and the hashes of the interaction keys.
#[derive(Debug, Default, PartialEq)]
pub(super) struct BlockIndex {
    pub(super) ids: Vec<u64>,
    pub(super) interactions: Vec<(u32, u64)>,
}

impl BlockIndex {
    /// `[id hash u64 LE × records][(position u32 LE, hash u64 LE) × interactions]`, after a
    /// length (u32 LE) of the whole.
    pub(super) fn write(&self, out: &mut Vec<u8>) {
        let len = self.ids.len() * 8 + self.interactions.len() * 12;
        out.extend_from_slice(&(len as u32).to_le_bytes());
        for hash in &self.ids {
            out.extend_from_slice(&hash.to_le_bytes());
        }
        for (position, hash) in &self.interactions {
            out.extend_from_slice(&position.to_le_bytes());
            out.extend_from_slice(&hash.to_le_bytes());
        }
    }

    /// Reads an index of `count` records from the start of `bytes`; returns it and the bytes
    /// after it.
    pub(super) fn read(bytes: &[u8], count: u32) -> Result<(Self, &[u8]), StoreError> {
        let corrupt = || StoreError::Corrupt { key: 0 };
        let (len, rest) = bytes.split_at_checked(4).ok_or_else(corrupt)?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| corrupt())?) as usize;
        let (index, rest) = rest.split_at_checked(len).ok_or_else(corrupt)?;
        let (ids, interactions) = index
            .split_at_checked(count as usize * 8)
            .ok_or_else(corrupt)?;
        if interactions.len() % 12 != 0 {
            return Err(corrupt());
        }
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
        Ok((
            Self {
                ids: ids.chunks_exact(8).map(word).collect(),
                interactions: interactions
                    .chunks_exact(12)
                    .map(|e| {
                        let position = u32::from_le_bytes(e[..4].try_into().unwrap_or_default());
                        (position, word(&e[4..]))
                    })
                    .collect(),
            },
            rest,
        ))
    }

    /// The positions of the records whose id hashes to `hash`.
    pub(super) fn ids_hashed(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        (0u32..)
            .zip(&self.ids)
            .filter(move |(_, h)| **h == hash)
            .map(|(p, _)| p)
    }

    /// The positions of the records whose interaction key hashes to `hash`.
    pub(super) fn interactions_hashed(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        self.interactions
            .iter()
            .filter(move |(_, h)| *h == hash)
            .map(|(p, _)| *p)
    }
}

/// Bits of an entry that hold the block's number; the rest hold the top of the hash.
const BLOCK_BITS: u32 = 24;
const BLOCK_MASK: u64 = (1 << BLOCK_BITS) - 1;

/// The entries of `block`'s hashes (0, an unindexed record, has none).
fn entries(hashes: impl Iterator<Item = u64>, block: u32) -> impl Iterator<Item = u64> {
    hashes
        .filter(|h| *h != 0)
        .map(move |h| h & !BLOCK_MASK | u64::from(block))
}

/// Hashes to block numbers, as sorted `u64`s (`hash prefix | block number`): 8 bytes an entry. New
/// blocks' entries go to a small sorted tail, merged into the rest when it grows, so sealing a
/// block does not move the whole index.
#[derive(Debug, Default)]
struct Packed {
    sorted: Vec<u64>,
    tail: Vec<u64>,
}

impl Packed {
    fn add(&mut self, hashes: impl Iterator<Item = u64>, block: u32) {
        self.tail.extend(entries(hashes, block));
        if self.tail.len() > 4096 + self.sorted.len() / 8 {
            self.sorted.append(&mut self.tail);
            // Two sorted runs: the standard sort merges them in one pass.
            self.sorted.sort();
            self.sorted.dedup();
        } else {
            self.tail.sort();
        }
    }

    /// The blocks that may hold a record whose hash is `hash`.
    fn blocks(&self, hash: u64) -> Vec<u32> {
        let (low, high) = (hash & !BLOCK_MASK, hash | BLOCK_MASK);
        let mut blocks = Vec::new();
        for part in [&self.sorted, &self.tail] {
            let from = first_at_least(part, low);
            blocks.extend(
                part[from..]
                    .iter()
                    .take_while(|e| **e <= high)
                    .map(|e| (e & BLOCK_MASK) as u32),
            );
        }
        blocks.dedup();
        blocks
    }

    fn bytes(&self) -> usize {
        (self.sorted.capacity() + self.tail.capacity()) * 8
    }

    /// Merges the tail and gives back what the vectors hold spare.
    fn shrink(&mut self) {
        self.sorted.append(&mut self.tail);
        self.sorted.sort();
        self.sorted.dedup();
        self.sorted.shrink_to_fit();
        self.tail.shrink_to_fit();
    }
}

/// Where the first entry not below `low` is in `sorted`, as `partition_point` says, found from
/// where `low` would be if the entries were spread evenly over the `u64`s (they are: the top of
/// keyed hashes), widening the window step by doubling step until it holds the answer. A lookup
/// reads a few neighbouring cache lines near the guess, where a binary search over a million
/// entries reads twenty scattered ones: that search was 1.5 % of the collector's samples under
/// load on a fresh store and 3 % at 800 000 answers (`perf record`, the README's "What grew
/// with the store"). Hand-written, as no maintained crate offers this search over a slice.
fn first_at_least(sorted: &[u64], low: u64) -> usize {
    let len = sorted.len();
    if len == 0 {
        return 0;
    }
    // Below `len`, as `low` < 2^64.
    let guess = ((u128::from(low) * len as u128) >> 64) as usize;
    // Every entry before `from` is below `low`; every entry from `to` on is not.
    let (mut from, mut to) = (0, len);
    let mut step = 1;
    if sorted[guess] < low {
        from = guess + 1;
        while let Some(&entry) = sorted.get(guess + step) {
            if entry >= low {
                to = guess + step;
                break;
            }
            from = guess + step + 1;
            step *= 2;
        }
    } else {
        to = guess;
        while let Some(at) = guess.checked_sub(step) {
            if sorted[at] < low {
                from = at + 1;
                break;
            }
            to = at;
            step *= 2;
        }
    }
    from + sorted[from..to].partition_point(|e| *e < low)
}

/// The in-memory index of every sealed block: its key and its last record's key by number, and
/// the hashes of its ids and interaction keys.
#[derive(Debug, Default)]
pub(super) struct SealedIndex {
    blocks: Vec<u64>,
    lasts: Vec<u64>,
    ids: Packed,
    interactions: Packed,
}

impl SealedIndex {
    /// Adds a block read at open (in key order), unsorted until [`Self::shrink`].
    pub(super) fn load(&mut self, key: u64, last: u64, index: &BlockIndex) {
        let number = self.blocks.len() as u32;
        self.blocks.push(key);
        self.lasts.push(last);
        for (part, hashes) in [
            (&mut self.ids, index.ids.clone()),
            (
                &mut self.interactions,
                index.interactions.iter().map(|(_, h)| *h).collect(),
            ),
        ] {
            part.sorted.extend(entries(hashes.into_iter(), number));
        }
    }

    /// Adds a block sealed under `key`, its last record keyed `last` (blocks are added in key
    /// order).
    pub(super) fn add(&mut self, key: u64, last: u64, index: &BlockIndex) {
        let number = self.blocks.len() as u32;
        self.blocks.push(key);
        self.lasts.push(last);
        self.ids.add(index.ids.iter().copied(), number);
        self.interactions
            .add(index.interactions.iter().map(|(_, h)| *h), number);
    }

    /// The keys of the blocks that may hold a record with this id hash.
    pub(super) fn id_blocks(&self, hash: u64) -> Vec<u64> {
        self.keys(self.ids.blocks(hash))
    }

    /// The keys of the blocks that may hold a record with this interaction key hash.
    pub(super) fn interaction_blocks(&self, hash: u64) -> Vec<u64> {
        self.keys(self.interactions.blocks(hash))
    }

    /// The key and last record's key of each block that may hold a record keyed `from..to`: the
    /// last block that begins at or before `from`, and every block that begins after it and
    /// before `to`.
    pub(super) fn spans(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        let first = self
            .blocks
            .partition_point(|k| *k <= from)
            .saturating_sub(1);
        let end = self.blocks.partition_point(|k| *k < to).max(first);
        self.blocks[first..end]
            .iter()
            .zip(&self.lasts[first..end])
            .map(|(k, l)| (*k, *l))
            .collect()
    }

    fn keys(&self, numbers: Vec<u32>) -> Vec<u64> {
        numbers
            .into_iter()
            .filter_map(|n| self.blocks.get(n as usize).copied())
            .collect()
    }

    /// Gives back what it holds spare (after loading it at open).
    pub(super) fn shrink(&mut self) {
        self.blocks.shrink_to_fit();
        self.lasts.shrink_to_fit();
        self.ids.shrink();
        self.interactions.shrink();
    }

    /// The bytes it holds.
    pub(super) fn bytes(&self) -> usize {
        (self.blocks.capacity() + self.lasts.capacity()) * 8
            + self.ids.bytes()
            + self.interactions.bytes()
    }
}

/// The records in `responses` (flushed or not, not yet sealed) by id and by interaction key, in
/// memory: built from `responses` at open, added to by every write under the writer lock, and
/// emptied of each block's records once the block is durable. No sled entry is written for them,
/// so an answer costs the store two keys (its event and its record).
#[derive(Debug, Default)]
pub(super) struct Recent {
    ids: HashMap<String, u64>,
    interactions: HashMap<Vec<u8>, u64>,
}

impl Recent {
    /// Adds the record under `key`; returns `false` (and adds nothing) when its id is already
    /// there.
    pub(super) fn add(&mut self, id: &str, interaction: Option<Vec<u8>>, key: u64) -> bool {
        if self.ids.contains_key(id) {
            return false;
        }
        self.ids.insert(id.to_owned(), key);
        if let Some(ik) = interaction {
            self.interactions.insert(ik, key);
        }
        true
    }

    /// The arrival key of the recent record with this id.
    pub(super) fn id(&self, id: &str) -> Option<u64> {
        self.ids.get(id).copied()
    }

    /// The arrival key of the recent record that answered this interaction.
    pub(super) fn interaction(&self, key: &[u8]) -> Option<u64> {
        self.interactions.get(key).copied()
    }

    /// Forgets a record that a durable block now holds.
    pub(super) fn remove(&mut self, id: &str, interaction: Option<&[u8]>) {
        self.ids.remove(id);
        if let Some(ik) = interaction {
            self.interactions.remove(ik);
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_index_reads_back_as_written() {
        let index = BlockIndex {
            ids: vec![7, 0, u64::MAX],
            interactions: vec![(2, 99)],
        };
        let mut bytes = Vec::new();
        index.write(&mut bytes);
        bytes.extend_from_slice(b"body");
        let (read, rest) = BlockIndex::read(&bytes, 3).expect("an index");
        assert_eq!(read, index);
        assert_eq!(rest, b"body");
        assert!(BlockIndex::read(&bytes[..10], 3).is_err());
    }

    proptest::proptest! {
        /// Issue 18: the search from an even spread's guess finds what a binary search finds,
        /// however unevenly the entries are spread (all in one corner, repeated, or none).
        #[test]
        fn the_guessed_search_finds_what_a_binary_search_finds(
            mut entries in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<u64>(),
                    0u64..64,
                    (u64::MAX - 64)..=u64::MAX,
                ],
                0..300,
            ),
            probes in proptest::collection::vec(proptest::prelude::any::<u64>(), 1..20),
        ) {
            entries.sort_unstable();
            let mut probes = probes;
            probes.extend(entries.iter().copied());
            probes.extend([0, 1, u64::MAX]);
            for low in probes {
                proptest::prop_assert_eq!(
                    first_at_least(&entries, low),
                    entries.partition_point(|e| *e < low),
                    "{}", low
                );
            }
        }
    }

    #[test]
    fn every_hash_finds_its_block_across_merges() {
        let key = HashKey(1, 2);
        let mut sealed = SealedIndex::default();
        let id = |n: u64| key.hash(format!("id-{n}").as_bytes());
        for block in 0..200u64 {
            let index = BlockIndex {
                ids: (block * 100..block * 100 + 100).map(id).collect(),
                interactions: vec![(0, id(block + 1_000_000))],
            };
            sealed.add(block * 10, block * 10 + 9, &index);
        }
        for n in (0..20_000).step_by(37) {
            assert!(sealed.id_blocks(id(n)).contains(&(n / 100 * 10)), "{n}");
        }
        assert_eq!(sealed.interaction_blocks(id(1_000_150)), vec![1500]);
        assert!(sealed.id_blocks(id(20_001)).is_empty());
    }
}

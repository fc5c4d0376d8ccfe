//! Theme cells: for each day and (channel, touchpoint, locale), how many comments carry each
//! keyphrase ([`phrases`]), with those answers' counts (effort, confidence, emotion) and the
//! arrival keys of the latest few that carry it, so a query finds example comments without
//! reading any others. Counted at ingest beside the stats cells, by the same stores (sled at
//! `put`, PostgreSQL from its stats tail, which also counts the other collectors' answers), saved
//! and recovered with them ([`crate::stats::Aggregates`]). Bursts are left out, as the stats
//! leave them out unless asked.
//!
//! What is counted is the comment as stored: masked (e-mail addresses, phone and card numbers)
//! before it was ever written.

pub mod phrases;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, RwLock},
};

use protocol::{Channel, Submission};

use super::{query::Query, Counts};
use crate::org;

/// Arrival keys of example comments kept per theme cell: the latest.
pub const EXAMPLES: usize = 3;

/// A theme key longer than this (a "word" of a hundred letters) is not a theme.
const MAX_KEY: usize = 64;

/// The first byte of a theme cell's saving key; a stats cell's key starts with its day (`0x00`
/// for any day after 1970 and before the year 9999), so the two share the saved cells' tree.
pub const KEY_TAG: u8 = b'T';

/// What one theme cell counts: the answers whose comment carries the theme, and the arrival keys
/// of the latest [`EXAMPLES`] of them (newest first, 0 = none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThemeCounts {
    pub counts: Counts,
    pub examples: [u64; EXAMPLES],
}

/// Keeps the `n` largest keys of `keys` and `key`, largest first, in `keys` (0 = empty).
fn keep_latest(keys: &mut [u64], key: u64) {
    if keys.contains(&key) {
        return;
    }
    if let Some(at) = keys.iter().position(|k| *k < key) {
        keys[at..].rotate_right(1);
        keys[at] = key;
    }
}

/// Everything a theme cell is keyed by apart from its day and theme.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Slot {
    channel: Channel,
    touchpoint: Arc<str>,
    locale: &'static str,
}

type Day = HashMap<Slot, HashMap<Arc<str>, ThemeCounts>>;

#[derive(Default)]
struct Cells {
    days: BTreeMap<i64, Day>,
    /// One shared copy of each touchpoint and theme key.
    names: HashSet<Arc<str>>,
    changed: HashSet<(i64, Slot, Arc<str>)>,
}

impl Cells {
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.names.get(name) {
            return Arc::clone(n);
        }
        let n: Arc<str> = Arc::from(name);
        self.names.insert(Arc::clone(&n));
        n
    }

    fn add(&mut self, day: i64, slot: &Slot, theme: &str, counts: &Counts, key: u64) {
        let theme = self.intern(theme);
        let cell = self
            .days
            .entry(day)
            .or_default()
            .entry(slot.clone())
            .or_default()
            .entry(Arc::clone(&theme))
            .or_default();
        cell.counts.add(counts);
        keep_latest(&mut cell.examples, key);
        self.changed.insert((day, slot.clone(), theme));
    }
}

/// What a submission brings to the theme cells: its keys, counts and slot.
struct Carried {
    slot: (Channel, String, &'static str),
    keys: Vec<String>,
    counts: Counts,
}

fn carried(submission: &Submission, burst: bool) -> Option<Carried> {
    let comment = submission.comment.as_ref().filter(|_| !burst)?;
    let locale = submission.locale.as_str();
    let keys: Vec<String> = phrases::candidates(locale, comment.as_str())
        .into_iter()
        .map(|f| f.key)
        .filter(|k| k.len() <= MAX_KEY)
        .collect();
    (!keys.is_empty()).then(|| Carried {
        slot: (
            submission.channel,
            submission.touchpoint.as_str().to_owned(),
            locale,
        ),
        keys,
        counts: Counts::of(submission),
    })
}

/// One theme over a period: its locale and key, its answers' counts, its latest examples.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub locale: &'static str,
    pub key: String,
    pub counts: Counts,
    /// Arrival keys, newest first.
    pub examples: Vec<u64>,
}

/// The theme cells of every day.
#[derive(Default)]
pub struct Themes {
    cells: RwLock<Cells>,
}

/// Theme cells changed since their last save.
pub(super) type Changed = Vec<(i64, Slot, Arc<str>)>;

/// Cells encoded for saving: `(key, value)`.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

impl Themes {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cells> {
        self.cells.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cells> {
        self.cells.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the themes of one stored submission on `day`, under its arrival `key`: only
    /// those cells whose saving key `wanted` accepts (all of them at ingest; on recovery, those
    /// that a saved cell does not already cover).
    pub(super) fn add(
        &self,
        submission: &Submission,
        day: i64,
        key: u64,
        burst: bool,
        wanted: super::Wanted<'_>,
    ) {
        // The words are read before the lock is taken: queries are not held up by them.
        let Some(carried) = carried(submission, burst) else {
            return;
        };
        let (channel, touchpoint, locale) = &carried.slot;
        let mut cells = self.write();
        let slot = Slot {
            channel: *channel,
            touchpoint: cells.intern(touchpoint),
            locale,
        };
        for theme in &carried.keys {
            if wanted.is_none_or(|wanted| wanted(&encode_key(day, &slot, theme))) {
                cells.add(day, &slot, theme, &carried.counts, key);
            }
        }
    }

    pub(super) fn clear(&self) {
        *self.write() = Cells::default();
    }

    /// The cells changed since the last call, encoded for saving (`[counts][examples]`, each a
    /// little-endian u64), and clears the changed set.
    pub(super) fn take_changed(&self) -> (Changed, Entries) {
        let mut cells = self.write();
        let changed: Changed = cells.changed.drain().collect();
        let entries = changed
            .iter()
            .map(|(day, slot, theme)| {
                let cell = cells
                    .days
                    .get(day)
                    .and_then(|d| d.get(slot))
                    .and_then(|s| s.get(theme))
                    .copied()
                    .unwrap_or_default();
                let value: Vec<u8> = cell
                    .counts
                    .words()
                    .iter()
                    .chain(&cell.examples)
                    .flat_map(|w| w.to_le_bytes())
                    .collect();
                (encode_key(*day, slot, theme), value)
            })
            .collect();
        (changed, entries)
    }

    pub(super) fn mark_changed(&self, changed: Changed) {
        self.write().changed.extend(changed);
    }

    /// Loads one saved cell (its key starts with [`KEY_TAG`]); `None` when it is damaged.
    pub(super) fn load(&self, key: &[u8], value: &[u8]) -> Option<()> {
        let (&[KEY_TAG], rest) = key.split_first_chunk::<1>()? else {
            return None;
        };
        let (&day, rest) = rest.split_first_chunk::<8>()?;
        let day = u64::from_be_bytes(day) as i64;
        let (&[channel, locale, len], rest) = rest.split_first_chunk::<3>()?;
        let touchpoint = std::str::from_utf8(rest.get(..usize::from(len))?).ok()?;
        let theme = std::str::from_utf8(&rest[usize::from(len)..]).ok()?;
        if value.len() != (Counts::WORDS + EXAMPLES) * 8 || theme.is_empty() {
            return None;
        }
        let mut words = [0u64; Counts::WORDS + EXAMPLES];
        for (w, bytes) in words.iter_mut().zip(value.chunks_exact(8)) {
            *w = u64::from_le_bytes(bytes.try_into().ok()?);
        }
        let counts = Counts::from_words(words[..Counts::WORDS].try_into().ok()?);
        let mut examples = [0u64; EXAMPLES];
        examples.copy_from_slice(&words[Counts::WORDS..]);
        let mut cells = self.write();
        let slot = Slot {
            channel: *Channel::ALL.get(usize::from(channel))?,
            touchpoint: cells.intern(touchpoint),
            locale: protocol::instrument::LOCALE_CODES.get(usize::from(locale))?,
        };
        let theme = cells.intern(theme);
        cells
            .days
            .entry(day)
            .or_default()
            .entry(slot)
            .or_default()
            .insert(theme, ThemeCounts { counts, examples });
        Some(())
    }

    /// Every theme of the comments `query` selects (its days, channel, touchpoint, department and
    /// locale), with up to `examples` arrival keys each, in no particular order.
    pub fn tally(&self, query: &Query, examples: usize) -> Vec<Tally> {
        let cells = self.read();
        let from = query.from_day.unwrap_or(i64::MIN);
        let to = query.to_day.unwrap_or(i64::MAX);
        let mut at: foldhash::HashMap<(&'static str, &str), (Counts, Vec<u64>)> =
            foldhash::HashMap::default();
        if from >= to {
            return Vec::new();
        }
        for day in cells.days.range(from..to).map(|(_, d)| d) {
            for (slot, themes) in day {
                if !matches(query, slot) {
                    continue;
                }
                for (theme, cell) in themes {
                    let (counts, keys) = at.entry((slot.locale, theme)).or_default();
                    counts.add(&cell.counts);
                    for key in cell.examples.iter().filter(|k| **k > 0) {
                        if keys.len() < examples {
                            keys.push(0);
                        }
                        keep_latest(keys, *key);
                    }
                }
            }
        }
        at.into_iter()
            .map(|((locale, key), (counts, examples))| Tally {
                locale,
                key: key.to_owned(),
                counts,
                examples: examples.into_iter().filter(|k| *k > 0).collect(),
            })
            .collect()
    }
}

fn matches(query: &Query, slot: &Slot) -> bool {
    let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    query.channel.is_none_or(|c| c == slot.channel)
        && same(&query.touchpoint, &slot.touchpoint)
        && same(&query.locale, slot.locale)
        && query
            .department
            .as_deref()
            .is_none_or(|d| org::department_of(query.owners(), slot.channel, &slot.touchpoint) == d)
}

/// `[KEY_TAG][day u64 BE][channel][locale][len][touchpoint][theme]`.
fn encode_key(day: i64, slot: &Slot, theme: &str) -> Vec<u8> {
    let channel = Channel::ALL
        .iter()
        .position(|c| *c == slot.channel)
        .unwrap_or(0);
    let locale = protocol::instrument::LOCALE_CODES
        .iter()
        .position(|l| *l == slot.locale)
        .unwrap_or(0);
    let mut out = Vec::with_capacity(13 + slot.touchpoint.len() + theme.len());
    out.push(KEY_TAG);
    out.extend_from_slice(&(day as u64).to_be_bytes());
    out.extend_from_slice(&[channel as u8, locale as u8, slot.touchpoint.len() as u8]);
    out.extend_from_slice(slot.touchpoint.as_bytes());
    out.extend_from_slice(theme.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::keep_latest;

    #[test]
    fn the_latest_examples_are_kept_newest_first() {
        let mut keys = [0u64; 3];
        for key in [5, 9, 1, 7, 9, 3] {
            keep_latest(&mut keys, key);
        }
        assert_eq!(keys, [9, 7, 5]);
    }
}

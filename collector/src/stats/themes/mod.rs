//! Theme cells: for each day and (channel, touchpoint, locale), the comments that carry
//! keyphrases ([`phrases`]): each comment's arrival key, its answers (effort, confidence and
//! emotion in one small code) and the ids of its phrases. A query over a period adds up, for each
//! phrase, the comments of the days and slots it selects, and finds the latest ones that carry it
//! (its example comments) without reading any record. Counted at ingest beside the stats cells, by
//! the same stores (sled at `put`, PostgreSQL from its stats tail, which also counts the other
//! collectors' answers), saved and recovered with them ([`crate::stats::Aggregates`]). Bursts are
//! left out, as the stats leave them out unless asked.
//!
//! Why comments rather than a count per (day, slot, phrase): most phrases are rare (names, one-off
//! words), so a year of comments makes millions of such cells, each with its own key and counts,
//! while a comment is a dozen bytes and four per phrase. Phrases are interned once, as u32 ids
//! ([`indexmap::IndexSet`]); slots likewise. A day and slot's comments are one flat `Vec<u32>`,
//! and are saved as one value ([`KEY_TAG`]) holding the phrases' ids; the phrases themselves are
//! saved once, those new since the last save in one value ([`PHRASES_TAG`]), so a store opens
//! with its table read in order and no phrase looked up.
//!
//! What is counted is the comment as stored: masked (e-mail addresses, phone and card numbers)
//! before it was ever written.

pub mod phrases;

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use indexmap::{Equivalent, IndexSet};
use protocol::{Channel, Submission};

use super::{query::Query, Counts};
use crate::org;

/// A theme key longer than this (a "word" of a hundred letters) is not a theme.
const MAX_KEY: usize = 64;

/// The first byte of the saving key of one day and slot's theme comments; a stats cell's key
/// starts with its day (`0x00` for any day after 1970 and before the year 9999), so the two share
/// the saved cells' tree.
pub const KEY_TAG: u8 = b'G';

/// The first byte of a theme cell saved on its own, one key per (day, slot, phrase), as stores
/// saved them before [`KEY_TAG`]: not read (it holds counts, not comments), so a store that has
/// them counts its cells again from the records, once, and saves them the new way.
pub const OLD_KEY_TAG: u8 = b'T';

/// The first byte of the saving key of the phrases new since the previous save:
/// `[PHRASES_TAG][first id u32 BE]`, so they are read back in the order of their ids.
pub const PHRASES_TAG: u8 = b'P';

/// The version byte that opens a saved group's value: 2 holds the phrases' ids ([`PHRASES_TAG`]);
/// 1, which stores saved before, its own phrases' text (still read, each phrase looked up).
const GROUP_FORMAT: u8 = 2;
const GROUP_FORMAT_1: u8 = 1;

/// The version byte that opens saved phrases.
const PHRASES_FORMAT: u8 = 1;

type Hasher = foldhash::fast::RandomState;

/// A phrase: its locale (index in `LOCALE_CODES`) and key ("activ code").
type Phrase = (u8, Box<str>);

/// A phrase looked up without allocating its key.
#[derive(Hash)]
struct PhraseRef<'a>(u8, &'a str);

impl Equivalent<Phrase> for PhraseRef<'_> {
    fn equivalent(&self, key: &Phrase) -> bool {
        self.0 == key.0 && self.1 == &*key.1
    }
}

/// Everything a theme cell is keyed by apart from its day and phrase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Slot {
    channel: Channel,
    touchpoint: Box<str>,
    locale: &'static str,
}

fn locale_index(locale: &str) -> u8 {
    protocol::instrument::LOCALE_CODES
        .iter()
        .position(|l| *l == locale)
        .unwrap_or(0) as u8
}

/// Effort (0 = none, 1–7), confidence (0, 1–5) and emotion (0, 1 + its index) in one number
/// below [`CODES`].
fn code_of(counts: &Counts) -> u16 {
    let at = |dist: &[u64]| dist.iter().position(|n| *n > 0).map_or(0, |i| i + 1) as u16;
    at(&counts.effort) * 36 + at(&counts.confidence) * 6 + at(&counts.emotion)
}

const CODES: u16 = 8 * 6 * 6;

/// Adds one comment's answers, as [`code_of`] wrote them, to `counts`.
fn add_code(counts: &mut Counts, code: u16) {
    let code = usize::from(code);
    let (effort, confidence, emotion) = (code / 36, code / 6 % 6, code % 6);
    counts.responses += 1;
    counts.comments += 1;
    if effort > 0 {
        counts.effort[effort - 1] += 1;
    }
    if confidence > 0 {
        counts.confidence[confidence - 1] += 1;
    }
    if emotion > 0 {
        counts.emotion[emotion - 1] += 1;
    }
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

/// Appends one comment to a group: `[key high][key low][code | phrases << 16][phrase ids…]`.
fn push_comment(group: &mut Vec<u32>, key: u64, code: u16, ids: &[u32]) {
    group.extend_from_slice(&[
        (key >> 32) as u32,
        key as u32,
        u32::from(code) | ((ids.len() as u32) << 16),
    ]);
    group.extend_from_slice(ids);
}

/// Calls `f` with each comment of a group: its arrival key, answers' code and phrase ids.
fn each_comment(group: &[u32], mut f: impl FnMut(u64, u16, &[u32])) {
    let mut rest = group;
    while let [high, low, head, tail @ ..] = rest {
        let n = (*head >> 16) as usize;
        let (ids, next) = tail.split_at(n.min(tail.len()));
        f(
            (u64::from(*high) << 32) | u64::from(*low),
            *head as u16,
            ids,
        );
        rest = next;
    }
}

/// A day's groups, by slot id.
type Day = foldhash::HashMap<u32, Vec<u32>>;

#[derive(Default)]
struct Cells {
    slots: IndexSet<Slot, Hasher>,
    days: BTreeMap<i64, Day>,
    /// (day, slot id) of the groups changed since their last save.
    changed: HashSet<(i64, u32)>,
    /// How much of each group saved in pieces (its `u32`s, from the start) is saved. Only those:
    /// any other group is saved whole the next time, so a year of closed days' groups keeps no
    /// entry here.
    saved: foldhash::HashMap<(i64, u32), usize>,
    /// Groups saved in pieces (days still taking answers): saved whole once their day closes.
    pieces: BTreeSet<(i64, u32)>,
    /// How many phrases, from id 0, are saved.
    saved_phrases: usize,
}

impl Cells {
    /// The groups of the days and slots `query` selects.
    fn selected(&self, query: &Query) -> Vec<&[u32]> {
        let from = query.from_day.unwrap_or(i64::MIN);
        let to = query.to_day.unwrap_or(i64::MAX);
        if from >= to {
            return Vec::new();
        }
        // Each slot is matched once, not once per day: a department's owners are looked up here.
        let mut matched: Vec<Option<bool>> = vec![None; self.slots.len()];
        let mut out = Vec::new();
        for day in self.days.range(from..to).map(|(_, d)| d) {
            for (slot, group) in day {
                let Some(seen) = matched.get_mut(*slot as usize) else {
                    continue;
                };
                if *seen.get_or_insert_with(|| matches(query, &self.slots[*slot as usize])) {
                    out.push(group.as_slice());
                }
            }
        }
        out
    }
}

/// What one answer brings to the theme cells, read before any lock is taken: its slot, answers
/// and phrase ids (none when it has no comment or no phrase).
pub struct Prepared(Option<Carried>);

struct Carried {
    channel: Channel,
    touchpoint: String,
    locale: &'static str,
    code: u16,
    ids: Vec<u32>,
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

/// The theme cells of every day. Lock order: `cells`, then `phrases`.
#[derive(Default)]
pub struct Themes {
    cells: RwLock<Cells>,
    /// Every phrase seen, by id; only ever grows (an id handed out is never reused).
    phrases: RwLock<IndexSet<Phrase, Hasher>>,
}

/// Theme groups changed since their last save, (day, slot id), how much of each was saved and
/// whether in pieces before this save, and how many phrases were saved before it.
#[derive(Default)]
pub(super) struct Changed {
    groups: Vec<(i64, u32)>,
    saved_before: Vec<((i64, u32), usize, bool)>,
    phrases_before: usize,
}

impl Changed {
    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Groups encoded for saving: `(key, value)`.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

impl Themes {
    fn write(&self) -> RwLockWriteGuard<'_, Cells> {
        self.cells.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, Cells> {
        self.cells.read().unwrap_or_else(|p| p.into_inner())
    }

    /// How many groups it keeps a save position for (those saved in pieces).
    #[cfg(test)]
    pub(crate) fn positions(&self) -> usize {
        self.read().saved.len()
    }

    fn phrases(&self) -> RwLockReadGuard<'_, IndexSet<Phrase, Hasher>> {
        self.phrases.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The ids of `keys` in `locale`, each added to the phrase table when new.
    fn intern<'k>(&self, locale: u8, keys: impl Iterator<Item = &'k str>) -> Vec<u32> {
        let mut table = self.phrases.write().unwrap_or_else(|p| p.into_inner());
        keys.map(|key| {
            let id = match table.get_index_of(&PhraseRef(locale, key)) {
                Some(id) => id,
                None => table.insert_full((locale, key.into())).0,
            };
            id as u32
        })
        .collect()
    }

    /// How many phrases the table holds, and about how many bytes of memory it takes: each
    /// entry (its hash, locale and boxed key), the index over them (a slot and a control byte
    /// each) and the keys' bytes. The table only grows: see the README ("Comment themes").
    pub fn phrase_table(&self) -> (usize, usize) {
        let table = self.phrases();
        let keys: usize = table.iter().map(|(_, key)| key.len()).sum();
        let entry = std::mem::size_of::<usize>() + std::mem::size_of::<Phrase>();
        let slot = std::mem::size_of::<usize>() + 1;
        (table.len(), table.capacity() * (entry + slot) + keys)
    }

    /// Reads the phrases of `submission`'s comment: the costly part of counting it, done
    /// before the store's writer lock and the cells' lock are taken.
    pub fn prepare(&self, submission: &Submission) -> Prepared {
        let Some(comment) = submission.comment.as_ref() else {
            return Prepared(None);
        };
        let locale = submission.locale.as_str();
        let found = phrases::candidates(locale, comment.as_str());
        let keys = found
            .iter()
            .map(|f| f.key.as_str())
            .filter(|k| k.len() <= MAX_KEY);
        let ids = self.intern(locale_index(locale), keys);
        Prepared((!ids.is_empty()).then(|| Carried {
            channel: submission.channel,
            touchpoint: submission.touchpoint.as_str().to_owned(),
            locale,
            code: code_of(&Counts::of(submission)),
            ids,
        }))
    }

    /// Counts one stored answer's `prepared` phrases on `day`, under its arrival `key`, unless
    /// it is a burst or `wanted` refuses its group's saving key (on recovery, a group whose saved
    /// copy already covers it).
    pub(super) fn add(
        &self,
        prepared: Prepared,
        day: i64,
        key: u64,
        burst: bool,
        wanted: super::Wanted<'_>,
    ) {
        let Some(carried) = prepared.0.filter(|_| !burst) else {
            return;
        };
        let slot = Slot {
            channel: carried.channel,
            touchpoint: carried.touchpoint.into(),
            locale: carried.locale,
        };
        if wanted.is_some_and(|wanted| !wanted(&group_key(day, &slot))) {
            return;
        }
        let mut cells = self.write();
        let slot = cells.slots.insert_full(slot).0 as u32;
        let group = cells.days.entry(day).or_default().entry(slot).or_default();
        push_comment(group, key, carried.code, &carried.ids);
        cells.changed.insert((day, slot));
    }

    /// Forgets every cell (before a rebuild); the phrase table is kept, as ids may be in flight.
    pub(super) fn clear(&self) {
        *self.write() = Cells::default();
    }

    /// The groups changed since the last call, encoded for saving ([`encode_group`]), and clears
    /// the changed set. What a save writes is what arrived since the last one, not the whole day
    /// (a busy slot's group holds every comment of its day, so writing it whole about once a
    /// second, under the store's writer lock, cost more with every answer of the day): a group
    /// of a day still taking answers is saved in pieces, each the comments added since its last
    /// save, under the group's key and the first one's arrival key ([`piece_key`]). A group of a
    /// closed day (before `closed_before`), a group saved for the first time and a group read in
    /// an earlier form are saved whole, which replaces its pieces ([`replaced_by`]): a day's
    /// pieces become one value once it closes, and again only when a late answer changes it.
    /// The phrases new since the last save come first, in one value: every id a group refers
    /// to is saved with it or before.
    pub(super) fn take_changed(&self, closed_before: i64) -> (Changed, Entries) {
        let mut guard = self.write();
        let cells = &mut *guard;
        let mut groups: Vec<(i64, u32)> = cells.changed.drain().collect();
        // Groups in pieces whose day has closed since: saved whole, changed or not.
        groups.extend(cells.pieces.range(..(closed_before, 0)));
        groups.sort_unstable();
        groups.dedup();
        let phrases = self.phrases();
        let phrases_before = cells.saved_phrases;
        let mut entries = Entries::new();
        if phrases.len() > phrases_before && !groups.is_empty() {
            entries.push((
                [&[PHRASES_TAG][..], &(phrases_before as u32).to_be_bytes()].concat(),
                encode_phrases(&phrases, phrases_before),
            ));
            cells.saved_phrases = phrases.len();
        }
        let mut saved_before = Vec::with_capacity(groups.len());
        for &(day, slot) in &groups {
            let (Some(group), Some(named)) = (
                cells.days.get(&day).and_then(|d| d.get(&slot)),
                cells.slots.get_index(slot as usize),
            ) else {
                continue;
            };
            let saved = cells.saved.get(&(day, slot)).copied().unwrap_or(0);
            let in_pieces = cells.pieces.contains(&(day, slot));
            let key = group_key(day, named);
            if day < closed_before || saved == 0 {
                entries.push((key, encode_group(group)));
                cells.pieces.remove(&(day, slot));
            } else {
                let Some(piece @ [high, low, ..]) = group.get(saved..) else {
                    continue;
                };
                let first = (u64::from(*high) << 32) | u64::from(*low);
                entries.push((piece_key(key, first), encode_group(piece)));
                cells.pieces.insert((day, slot));
            }
            saved_before.push(((day, slot), saved, in_pieces));
            if day < closed_before {
                cells.saved.remove(&(day, slot));
            } else {
                cells.saved.insert((day, slot), group.len());
            }
        }
        (
            Changed {
                groups,
                saved_before,
                phrases_before,
            },
            entries,
        )
    }

    /// Marks the groups of a save that failed as changed again, as saved as they were before it.
    pub(super) fn mark_changed(&self, changed: Changed) {
        let mut cells = self.write();
        cells.changed.extend(changed.groups);
        for (group, saved, in_pieces) in changed.saved_before {
            if saved > 0 {
                cells.saved.insert(group, saved);
            } else {
                cells.saved.remove(&group);
            }
            if in_pieces {
                cells.pieces.insert(group);
            } else {
                cells.pieces.remove(&group);
            }
        }
        cells.saved_phrases = cells.saved_phrases.min(changed.phrases_before);
    }

    /// Loads saved phrases ([`PHRASES_TAG`], which the store reads before the groups) or one
    /// saved group ([`KEY_TAG`]), whole or a piece of it (read after the whole, in key order, and
    /// added to it); `None` when it is damaged or of the old form ([`OLD_KEY_TAG`]), so the cells
    /// are counted again from the records.
    pub(super) fn load(&self, key: &[u8], value: &[u8]) -> Option<()> {
        if key.first() == Some(&PHRASES_TAG) {
            return self.load_phrases(key, value);
        }
        let read = read_group_key(key)?;
        let slot = Slot {
            channel: *Channel::ALL.get(usize::from(read.channel))?,
            touchpoint: std::str::from_utf8(read.touchpoint).ok()?.into(),
            locale: protocol::instrument::LOCALE_CODES.get(usize::from(read.locale))?,
        };
        let (group, earlier_form) = match value.first() {
            Some(&GROUP_FORMAT) => (decode_group(value, self.phrases().len())?, false),
            // Pieces were only ever written in this form.
            _ if read.piece.is_some() => return None,
            _ => {
                let (keys, comments) = decode_group_1(value)?;
                let ids = self.intern(read.locale, keys.into_iter());
                let mut group = Vec::new();
                let mut local = Vec::new();
                for (key, code, phrases) in comments {
                    local.clear();
                    for at in phrases {
                        local.push(*ids.get(at as usize)?);
                    }
                    push_comment(&mut group, key, code, &local);
                }
                group.shrink_to_fit();
                (group, true)
            }
        };
        let day = read.day;
        let mut guard = self.write();
        let cells = &mut *guard;
        let slot = cells.slots.insert_full(slot).0 as u32;
        let groups = cells.days.entry(day).or_default();
        let saved = if read.piece.is_some() {
            let whole = groups.entry(slot).or_default();
            whole.extend_from_slice(&group);
            cells.pieces.insert((day, slot));
            whole.len()
        } else {
            let len = group.len();
            groups.insert(slot, group);
            cells.pieces.remove(&(day, slot));
            len
        };
        if earlier_form {
            // Saved again whole in this form, its phrases with it, by the next save.
            cells.changed.insert((day, slot));
            cells.saved.remove(&(day, slot));
        } else if read.piece.is_some() {
            cells.saved.insert((day, slot), saved);
        }
        Some(())
    }

    /// A group saved in this form, written again in format 1 (the phrases' text in it), as
    /// stores saved groups before: for tests of such stores.
    #[cfg(test)]
    pub(crate) fn in_format_1(&self, value: &[u8]) -> Option<Vec<u8>> {
        let phrases = self.phrases();
        let group = decode_group(value, phrases.len())?;
        let mut order: Vec<u32> = Vec::new();
        each_comment(&group, |_, _, ids| {
            for id in ids {
                if !order.contains(id) {
                    order.push(*id);
                }
            }
        });
        let mut out = vec![GROUP_FORMAT_1, 1];
        out.extend_from_slice(&(order.len() as u32).to_le_bytes());
        for id in &order {
            let (_, key) = phrases.get_index(*id as usize)?;
            out.push(key.len() as u8);
            out.extend_from_slice(key.as_bytes());
        }
        each_comment(&group, |key, code, ids| {
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&code.to_le_bytes());
            out.push(ids.len() as u8);
            for id in ids {
                out.push(order.iter().position(|o| o == id).unwrap_or(0) as u8);
            }
        });
        Some(out)
    }

    /// Appends saved phrases to the table; they must start where it ends.
    fn load_phrases(&self, key: &[u8], value: &[u8]) -> Option<()> {
        let first = u32::from_be_bytes(*<&[u8; 4]>::try_from(key.get(1..)?).ok()?) as usize;
        let (&PHRASES_FORMAT, mut rest) = value.split_first()? else {
            return None;
        };
        let mut cells = self.write();
        let mut table = self.phrases.write().unwrap_or_else(|p| p.into_inner());
        if table.len() != first {
            return None;
        }
        while let Some((&[locale, len], tail)) = rest.split_first_chunk::<2>() {
            let (text, tail) = tail.split_at_checked(usize::from(len))?;
            let text = std::str::from_utf8(text).ok()?;
            if !table.insert((locale, text.into())) {
                return None;
            }
            rest = tail;
        }
        if !rest.is_empty() {
            return None;
        }
        cells.saved_phrases = table.len();
        Some(())
    }

    /// Every theme of the comments `query` selects (its days, channel, touchpoint, department and
    /// locale), with up to `examples` arrival keys each, best first.
    pub fn tally(&self, query: &Query, examples: usize) -> Vec<Tally> {
        self.tally_at_least(query, 1, examples)
    }

    /// The themes of the comments `query` selects that at least `min` of them carry, best first
    /// ([`Themes::ranked`]).
    pub fn tally_at_least(&self, query: &Query, min: u64, examples: usize) -> Vec<Tally> {
        let mut all = Vec::new();
        self.ranked(query, min, examples, |tally| {
            all.push(tally);
            true
        });
        all
    }

    /// Hands `take` the themes of the comments `query` selects that at least `min` of them
    /// carry, best first, until it returns `false`: ranked by how many comments carry them, then
    /// the more words first (a phrase before its own words), then the more letters (a longer
    /// word says more), then by locale and key, so the order never depends on when a phrase
    /// was first seen. Each comes with its answers added up and its latest `examples` arrival
    /// keys, newest first.
    ///
    /// A period holds a long tail of phrases carried by a few comments each, and a caller looks
    /// at the first few dozen. So the selected comments are passed over once to count every
    /// phrase into a vector indexed by phrase id; only the best [`RANKED_AT_ONCE`] of those
    /// carried often enough are put in order, and only theirs are added up (one more pass); the
    /// next ones only if `take` asks for them.
    pub fn ranked(
        &self,
        query: &Query,
        min: u64,
        examples: usize,
        mut take: impl FnMut(Tally) -> bool,
    ) {
        let cells = self.read();
        let groups = cells.selected(query);
        let phrases = self.phrases();
        let mut candidates: Vec<Candidate<'_>> = carried(&groups, phrases.len())
            .into_iter()
            .enumerate()
            .filter(|(_, n)| u64::from(*n) >= min.max(1))
            .filter_map(|(id, n)| {
                let (locale, key) = phrases.get_index(id)?;
                Some(Candidate {
                    comments: n,
                    words: key.split(' ').count() as u32,
                    letters: key.chars().filter(|c| *c != ' ').count() as u32,
                    locale: protocol::instrument::LOCALE_CODES.get(usize::from(*locale))?,
                    key,
                    id: id as u32,
                })
            })
            .collect();
        // Which of the phrases being added up each id is, plus one (0: none of them).
        let mut at = vec![0u32; phrases.len()];
        let mut rest = candidates.as_mut_slice();
        while !rest.is_empty() {
            let n = RANKED_AT_ONCE.min(rest.len());
            if n < rest.len() {
                rest.select_nth_unstable_by(n - 1, Candidate::rank);
            }
            let (best, next) = rest.split_at_mut(n);
            best.sort_unstable_by(Candidate::rank);
            for (i, c) in best.iter().enumerate() {
                at[c.id as usize] = i as u32 + 1;
            }
            let mut counts = vec![Counts::default(); n];
            let mut latest = vec![0u64; n * examples];
            for group in &groups {
                each_comment(group, |key, code, ids| {
                    for id in ids {
                        let Some(i) = at.get(*id as usize).filter(|i| **i > 0) else {
                            continue;
                        };
                        let i = *i as usize - 1;
                        add_code(&mut counts[i], code);
                        keep_latest(&mut latest[i * examples..(i + 1) * examples], key);
                    }
                });
            }
            for (i, (c, counts)) in best.iter().zip(counts).enumerate() {
                at[c.id as usize] = 0;
                let keys = &latest[i * examples..(i + 1) * examples];
                let tally = Tally {
                    locale: c.locale,
                    key: c.key.to_string(),
                    counts,
                    examples: keys.iter().copied().filter(|k| *k > 0).collect(),
                };
                if !take(tally) {
                    return;
                }
            }
            rest = next;
        }
    }

    /// How many comments `query` selects carry each of `themes` (locale, key).
    pub fn count_each(&self, query: &Query, themes: &[(&str, &str)]) -> Vec<u64> {
        let cells = self.read();
        let phrases = self.phrases();
        let at = carried(&cells.selected(query), phrases.len());
        themes
            .iter()
            .map(|(locale, key)| {
                phrases
                    .get_index_of(&PhraseRef(locale_index(locale), key))
                    .and_then(|id| at.get(id))
                    .map_or(0, |n| u64::from(*n))
            })
            .collect()
    }

    /// The arrival keys of the latest `n` comments `query` selects that carry the theme `key` of
    /// `locale`, newest first.
    pub fn latest(&self, query: &Query, (locale, key): (&str, &str), n: usize) -> Vec<u64> {
        let cells = self.read();
        let Some(id) = self
            .phrases()
            .get_index_of(&PhraseRef(locale_index(locale), key))
        else {
            return Vec::new();
        };
        let mut keys = vec![0u64; n];
        for group in cells.selected(query) {
            each_comment(group, |key, _, ids| {
                if ids.contains(&(id as u32)) {
                    keep_latest(&mut keys, key);
                }
            });
        }
        keys.retain(|k| *k > 0);
        keys
    }
}

/// How many of `groups`' comments carry each phrase, by phrase id, for a table of `phrases`
/// (taken under the cells' lock: every id in the groups is below its length).
fn carried(groups: &[&[u32]], phrases: usize) -> Vec<u32> {
    let mut at = vec![0u32; phrases];
    for group in groups {
        each_comment(group, |_, _, ids| {
            for id in ids {
                if let Some(n) = at.get_mut(*id as usize) {
                    *n += 1;
                }
            }
        });
    }
    at
}

/// Phrases [`Themes::ranked`] puts in order and adds up at once: a page of themes and those
/// left out beside them (20 shown, rarely more than 40 looked at).
const RANKED_AT_ONCE: usize = 64;

/// A phrase carried often enough, with what ranks it.
struct Candidate<'a> {
    comments: u32,
    words: u32,
    letters: u32,
    locale: &'static str,
    key: &'a str,
    id: u32,
}

impl Candidate<'_> {
    /// Best first: see [`Themes::ranked`].
    fn rank(a: &Self, b: &Self) -> std::cmp::Ordering {
        b.comments
            .cmp(&a.comments)
            .then(b.words.cmp(&a.words))
            .then(b.letters.cmp(&a.letters))
            .then(a.locale.cmp(b.locale))
            .then(a.key.cmp(b.key))
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

/// A piece of a group ([`Themes::take_changed`]): the group's key and the arrival key (u64 BE)
/// of the piece's first comment, so a group's pieces follow its whole value in key order.
fn piece_key(mut group_key: Vec<u8>, first: u64) -> Vec<u8> {
    group_key.extend_from_slice(&first.to_be_bytes());
    group_key
}

/// A theme group's saving key, read.
struct GroupKey<'a> {
    day: i64,
    channel: u8,
    locale: u8,
    touchpoint: &'a [u8],
    /// A piece's first arrival key; `None` for the whole group.
    piece: Option<u64>,
}

/// Reads a key written by [`group_key`] or [`piece_key`].
fn read_group_key(key: &[u8]) -> Option<GroupKey<'_>> {
    let (&[KEY_TAG], rest) = key.split_first_chunk::<1>()? else {
        return None;
    };
    let (&day, rest) = rest.split_first_chunk::<8>()?;
    let (&[channel, locale, len], rest) = rest.split_first_chunk::<3>()?;
    let (touchpoint, rest) = rest.split_at_checked(usize::from(len))?;
    let piece = match rest {
        [] => None,
        piece => Some(u64::from_be_bytes(piece.try_into().ok()?)),
    };
    Some(GroupKey {
        day: u64::from_be_bytes(day) as i64,
        channel,
        locale,
        touchpoint,
        piece,
    })
}

/// The saving key whose coverage a saved key's stamp tells on recovery: a piece's group's key
/// (its pieces, each saved after the one before, cover what the latest one's stamp covers), any
/// other key itself.
pub fn covered_key(key: &[u8]) -> &[u8] {
    match read_group_key(key) {
        Some(GroupKey { piece: Some(_), .. }) => &key[..key.len() - 8],
        _ => key,
    }
}

/// The saved keys that a whole group's value replaces, by their common prefix: its own key and
/// its pieces'. `None` for any other key.
pub fn replaced_by(key: &[u8]) -> Option<&[u8]> {
    read_group_key(key)
        .is_some_and(|read| read.piece.is_none())
        .then_some(key)
}

/// `[KEY_TAG][day u64 BE][channel][locale][len][touchpoint]`.
fn group_key(day: i64, slot: &Slot) -> Vec<u8> {
    let channel = Channel::ALL
        .iter()
        .position(|c| *c == slot.channel)
        .unwrap_or(0);
    let mut out = Vec::with_capacity(12 + slot.touchpoint.len());
    out.push(KEY_TAG);
    out.extend_from_slice(&(day as u64).to_be_bytes());
    out.extend_from_slice(&[
        channel as u8,
        locale_index(slot.locale),
        slot.touchpoint.len() as u8, // an Ident is at most 64 bytes
    ]);
    out.extend_from_slice(slot.touchpoint.as_bytes());
    out
}

/// Phrases from id `from` on: `[PHRASES_FORMAT]`, then each `[locale][len][key]`.
fn encode_phrases(table: &IndexSet<Phrase, Hasher>, from: usize) -> Vec<u8> {
    let mut out = vec![PHRASES_FORMAT];
    for (locale, key) in table.iter().skip(from) {
        out.extend_from_slice(&[*locale, key.len() as u8]); // at most MAX_KEY bytes
        out.extend_from_slice(key.as_bytes());
    }
    out
}

/// A group as saved: `[GROUP_FORMAT]`, then each comment `[key u64 LE][code u16 LE][n]` and its
/// `n` phrase ids (u32 LE).
fn encode_group(group: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + group.len() * 4);
    out.push(GROUP_FORMAT);
    each_comment(group, |key, code, ids| {
        out.extend_from_slice(&key.to_le_bytes());
        out.extend_from_slice(&code.to_le_bytes());
        out.push(ids.len() as u8); // at most phrases::PER_COMMENT
        for id in ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
    });
    out
}

/// A saved group's comments, as [`push_comment`] keeps them; `None` when it is damaged or names
/// a phrase id at or past `phrases`.
fn decode_group(value: &[u8], phrases: usize) -> Option<Vec<u32>> {
    let (&GROUP_FORMAT, rest) = value.split_first()? else {
        return None;
    };
    let mut group = Vec::with_capacity(rest.len() / 4);
    read_comments(rest, 4, phrases, |key, code, ids| {
        push_comment(&mut group, key, code, ids)
    })?;
    Some(group)
}

/// Calls `f` with each saved comment of `rest`, `[key u64 LE][code u16 LE][n]` and its `n`
/// phrases, each `width` bytes little-endian and below `phrases`; `None` when they are damaged.
fn read_comments(
    mut rest: &[u8],
    width: usize,
    phrases: usize,
    mut f: impl FnMut(u64, u16, &[u32]),
) -> Option<()> {
    let mut ids = Vec::new();
    while !rest.is_empty() {
        let (&key, tail) = rest.split_first_chunk::<8>()?;
        let (&code, tail) = tail.split_first_chunk::<2>()?;
        let (&n, mut tail) = tail.split_first()?;
        let code = u16::from_le_bytes(code);
        if code >= CODES || n == 0 {
            return None;
        }
        ids.clear();
        for _ in 0..n {
            let (at, next) = tail.split_at_checked(width)?;
            let mut bytes = [0u8; 4];
            bytes[..width].copy_from_slice(at);
            let id = u32::from_le_bytes(bytes);
            if id as usize >= phrases {
                return None;
            }
            ids.push(id);
            tail = next;
        }
        f(u64::from_le_bytes(key), code, &ids);
        rest = tail;
    }
    Some(())
}

/// A saved comment: its arrival key, answers' code and phrases (indexes into its group's).
type SavedComment = (u64, u16, Vec<u32>);

/// The phrases and comments of a group saved in format 1, `[1][width][phrases u32 LE]`, each
/// phrase `[len][key]`, then the comments ([`read_comments`]), their phrases indexes into the
/// group's own, each `width` bytes (1, 2 or 4); `None` when it is damaged.
fn decode_group_1(value: &[u8]) -> Option<(Vec<&str>, Vec<SavedComment>)> {
    let (&[GROUP_FORMAT_1, width], rest) = value.split_first_chunk::<2>()? else {
        return None;
    };
    let width = usize::from(width);
    if !matches!(width, 1 | 2 | 4) {
        return None;
    }
    let (&count, mut rest) = rest.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(count) as usize;
    let mut keys = Vec::with_capacity(count.min(rest.len()));
    for _ in 0..count {
        let (&len, tail) = rest.split_first()?;
        let (key, tail) = tail.split_at_checked(usize::from(len))?;
        let key = std::str::from_utf8(key).ok()?;
        if key.is_empty() {
            return None;
        }
        keys.push(key);
        rest = tail;
    }
    let mut comments = Vec::new();
    read_comments(rest, width, keys.len(), |key, code, ids| {
        comments.push((key, code, ids.to_vec()))
    })?;
    Some((keys, comments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_examples_are_kept_newest_first() {
        let mut keys = [0u64; 3];
        for key in [5, 9, 1, 7, 9, 3] {
            keep_latest(&mut keys, key);
        }
        assert_eq!(keys, [9, 7, 5]);
    }

    /// More phrases than one ranked page: each carried by 1–5 comments, some of two words, in
    /// two locales (ranked by code, not by index); the order is the documented one across pages, and asking for fewer stops.
    #[test]
    fn themes_come_best_first_across_ranked_pages_and_stop_when_enough() {
        let themes = Themes::default();
        let mut expected: Vec<(u64, usize, usize, &str, String, u64)> = Vec::new();
        let mut key = 0u64;
        for i in 0..150u32 {
            let (locale, code) = if i % 4 == 0 { ("ar", 4) } else { ("en", 0) };
            let phrase = if i % 3 == 0 {
                format!("w{} z{i}", i % 11)
            } else {
                format!("w{i}")
            };
            let ids = themes.intern(code, std::iter::once(phrase.as_str()));
            let carried = 1 + u64::from(i % 5);
            let mut cells = themes.write();
            let slot = cells
                .slots
                .insert_full(Slot {
                    channel: Channel::Web,
                    touchpoint: "checkout".into(),
                    locale,
                })
                .0 as u32;
            for _ in 0..carried {
                key += 1;
                let group = cells
                    .days
                    .entry(20_000)
                    .or_default()
                    .entry(slot)
                    .or_default();
                push_comment(group, key, 2 * 36, &ids);
            }
            let letters = phrase.chars().filter(|c| *c != ' ').count();
            expected.push((
                carried,
                phrase.split(' ').count(),
                letters,
                locale,
                phrase,
                key,
            ));
        }
        // Interned by their index, ranked by their code: "ar" (last) before "en" (first).
        let codes = protocol::instrument::LOCALE_CODES;
        assert_eq!([codes[0], codes[4]], ["en", "ar"]);
        expected.sort_by(|a, b| {
            (b.0, b.1, b.2)
                .cmp(&(a.0, a.1, a.2))
                .then(a.3.cmp(b.3))
                .then(a.4.cmp(&b.4))
        });
        let query = Query::default();
        let all = themes.tally_at_least(&query, 2, 1);
        let order: Vec<(&str, &str, u64, Vec<u64>)> = all
            .iter()
            .map(|t| {
                (
                    t.locale,
                    t.key.as_str(),
                    t.counts.responses,
                    t.examples.clone(),
                )
            })
            .collect();
        let wanted: Vec<(&str, &str, u64, Vec<u64>)> = expected
            .iter()
            .filter(|e| e.0 >= 2)
            .map(|e| (e.3, e.4.as_str(), e.0, vec![e.5]))
            .collect();
        assert!(wanted.len() > RANKED_AT_ONCE, "more than one page");
        assert_eq!(order, wanted);
        assert!(all.iter().all(|t| t.counts.effort[1] == t.counts.responses));
        let mut taken = Vec::new();
        themes.ranked(&query, 2, 1, |t| {
            taken.push(t);
            taken.len() < RANKED_AT_ONCE + 6
        });
        assert_eq!(taken, all[..RANKED_AT_ONCE + 6]);
    }
}

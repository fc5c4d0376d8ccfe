//! Stats: counts per cell, kept up to date at ingest, so a query reads cells and never records.
//!
//! A cell is one (UTC day, burst flag, channel, touchpoint, site, agent, segment, locale); it
//! holds the number of responses, the distribution of each scale, the emotion counts and the
//! number of comments. Means derive from the distributions. Cells live in memory, grouped by day,
//! so a query over a time range reads only that range's days. The store adds each new record's
//! cell right after writing it (before the flush that acknowledges it), saves the changed cells about
//! once a second, and on open counts again only what came after the last save (see `store`).
//! A day still taking answers (today and yesterday, by the store's clock) saves each changed cell
//! on its own, so an answer costs the disk one cell whatever its day holds; a closed day is saved
//! as one packed value ([`DAY_TAG`]), written when it closes and again only when a late answer
//! (a kiosk's backlog) changes it, so opening a store reads a value a day, not one per cell. The values seen in
//! each named dimension are known with their responses ([`known`]): the cardinality bound counts
//! them and the dashboard's menus offer the busiest.
//!
//! The day of a response is the UTC day its customer answered (`submitted_at`), or the day it was
//! received when the client's clock claims a later time: a kiosk that drains a backlog after days
//! offline counts its answers on the days they were given.

use indexmap::IndexSet;
use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    sync::{Arc, RwLock},
};

use protocol::{Channel, Submission};
use serde_json::{json, Value};

use crate::config::{Bounded, Bounds};

pub mod calendar;
pub mod joins;
mod known;
pub mod query;
pub mod themes;

pub use self::calendar::{date_of, day_of, iso_week, parse_date, week_label, week_start};
pub use self::known::Busiest;
use self::known::Known;
use self::query::Part;
pub use self::query::{Answer, BadQuery, Dim, Group, Params, Query};
use self::themes::Themes;

/// What one cell counts. Every field counts answers actually given: a response that skipped the
/// effort question adds nothing to `effort`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub responses: u64,
    /// Answers 1–7.
    pub effort: [u64; 7],
    /// Answers 1–5.
    pub confidence: [u64; 5],
    /// In the order of `protocol::Emotion::ALL`.
    pub emotion: [u64; 5],
    pub comments: u64,
}

impl Counts {
    /// The counts of one submission.
    pub fn of(submission: &Submission) -> Self {
        let mut counts = Self {
            responses: 1,
            comments: u64::from(submission.comment.is_some()),
            ..Self::default()
        };
        if let Some(e) = submission.answers.effort() {
            counts.effort[usize::from(e.get()) - 1] = 1;
        }
        if let Some(c) = submission.answers.confidence() {
            counts.confidence[usize::from(c.get()) - 1] = 1;
        }
        if let Some(m) = submission.answers.emotion() {
            counts.emotion[m.index()] = 1;
        }
        counts
    }

    pub fn add(&mut self, other: &Self) {
        self.responses += other.responses;
        self.comments += other.comments;
        for (a, b) in self.effort.iter_mut().zip(other.effort) {
            *a += b;
        }
        for (a, b) in self.confidence.iter_mut().zip(other.confidence) {
            *a += b;
        }
        for (a, b) in self.emotion.iter_mut().zip(other.emotion) {
            *a += b;
        }
    }

    /// Adds a cell's tally (as [`Counts::add`], without widening it first: a query adds every
    /// cell of its days).
    fn add_tally(&mut self, tally: &Tally) {
        let t = &tally.0;
        self.responses += u64::from(t[0]);
        self.comments += u64::from(t[18]);
        for (a, b) in self.effort.iter_mut().zip(&t[1..8]) {
            *a += u64::from(*b);
        }
        for (a, b) in self.confidence.iter_mut().zip(&t[8..13]) {
            *a += u64::from(*b);
        }
        for (a, b) in self.emotion.iter_mut().zip(&t[13..18]) {
            *a += u64::from(*b);
        }
    }

    /// The mean of a distribution over answers 1..=n; `None` when nobody answered.
    pub fn mean(dist: &[u64]) -> Option<f64> {
        let answered: u64 = dist.iter().sum();
        (answered > 0).then(|| {
            let sum: u64 = dist.iter().zip(1..).map(|(n, v)| n * v).sum();
            sum as f64 / answered as f64
        })
    }

    pub fn effort_mean(&self) -> Option<f64> {
        Self::mean(&self.effort)
    }

    pub fn confidence_mean(&self) -> Option<f64> {
        Self::mean(&self.confidence)
    }

    /// The answer shape of `GET /v1/stats`; means rounded to two decimals.
    pub fn to_json(&self) -> Value {
        let round = |m: Option<f64>| m.map(|m| (m * 100.0).round() / 100.0);
        let emotion: serde_json::Map<String, Value> = protocol::Emotion::ALL
            .iter()
            .map(|e| (e.as_str().to_owned(), json!(self.emotion[e.index()])))
            .collect();
        json!({
            "count": self.responses,
            "effort": {"mean": round(self.effort_mean()), "dist": self.effort},
            "confidence": {"mean": round(self.confidence_mean()), "dist": self.confidence},
            "emotion": emotion,
            "comments": self.comments,
        })
    }

    const WORDS: usize = 19;

    fn words(&self) -> [u64; Self::WORDS] {
        let mut w = [0; Self::WORDS];
        w[0] = self.responses;
        w[1..8].copy_from_slice(&self.effort);
        w[8..13].copy_from_slice(&self.confidence);
        w[13..18].copy_from_slice(&self.emotion);
        w[18] = self.comments;
        w
    }

    /// Appends the counts as 19 little-endian u64s.
    fn write_words(&self, out: &mut Vec<u8>) {
        for w in self.words() {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// Reads counts as [`Counts::write_words`] wrote them from the front of `rest`.
    fn read_words(rest: &mut &[u8]) -> Option<Self> {
        let (bytes, tail) = rest.split_at_checked(Self::WORDS * 8)?;
        let mut w = [0u64; Self::WORDS];
        for (w, bytes) in w.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes(bytes.try_into().ok()?);
        }
        *rest = tail;
        Some(Self::from_words(w))
    }

    /// The counts [`Counts::words`] gave.
    fn from_words(w: [u64; Self::WORDS]) -> Self {
        let mut c = Self {
            responses: w[0],
            comments: w[18],
            ..Self::default()
        };
        c.effort.copy_from_slice(&w[1..8]);
        c.confidence.copy_from_slice(&w[8..13]);
        c.emotion.copy_from_slice(&w[13..18]);
        c
    }
}

/// A cell's counts as memory keeps them: the 19 numbers of [`Counts`] in 32 bits each, 76 bytes
/// where `Counts` takes 152 (a year of 200 000-odd cells: 17 MB less). A cell whose day passes
/// 4 294 967 295 in one number goes on in another `Tally` under the same id ([`Cells::add`]), so
/// nothing is ever lost to the narrower numbers; every reader sums a cell's tallies.
#[derive(Debug, Clone, Copy, Default)]
struct Tally([u32; Counts::WORDS]);

impl Tally {
    /// Adds as much of `words` as fits in each number; returns what did not fit.
    fn fill(&mut self, words: [u64; Counts::WORDS]) -> [u64; Counts::WORDS] {
        let mut rest = [0; Counts::WORDS];
        for ((kept, word), rest) in self.0.iter_mut().zip(words).zip(&mut rest) {
            let room = u64::from(u32::MAX - *kept);
            let taken = word.min(room);
            *kept += taken as u32; // `taken` is at most the room left below `u32::MAX`
            *rest = word - taken;
        }
        rest
    }
}

/// Everything a cell is keyed by, apart from its day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cell {
    pub burst: bool,
    pub channel: Channel,
    pub touchpoint: Arc<str>,
    pub site: Option<Arc<str>>,
    pub agent: Option<Arc<str>>,
    pub segment: Option<Arc<str>>,
    pub locale: &'static str,
}

/// The first byte of the saving key of a closed day's stats cells, packed into one value
/// (`[DAY_TAG][day u64 BE]`); a single cell's key starts with its day (`0x00` for any day after
/// 1970 and before the year 9999), so the two share the saved cells' tree.
pub const DAY_TAG: u8 = b'D';

/// The version byte that opens a packed day's value.
const DAY_FORMAT: u8 = 1;

/// A day's cells: each one's id (in [`Cells::ids`]) and counts, sorted by id (a cell past 32-bit
/// counts has more than one [`Tally`], in a row). A cell costs its 76 bytes of counts and four
/// bytes, where a map keyed by the cell itself cost about 440 bytes (the key's names and the
/// table's spare room) for each of a year's 200 000-odd cells.
type Day = Vec<(u32, Tally)>;

/// The cells of every day, and the names they share.
#[derive(Default)]
struct Cells {
    days: BTreeMap<i64, Day>,
    /// Every cell seen, apart from its day, by id: the days repeat the same few thousand.
    ids: IndexSet<Cell, foldhash::fast::RandomState>,
    known: Known,
    /// Cells changed since they were last saved: (day, cell id).
    changed: HashSet<(i64, u32)>,
    /// Days whose cells are saved one by one (days still taking answers, and days a store of
    /// the earlier form saved so): packed once they are closed.
    loose: BTreeSet<i64>,
}

impl Cells {
    /// The id of `cell`, given when it is new.
    fn id_of(&mut self, cell: Cell) -> u32 {
        self.ids.insert_full(cell).0 as u32
    }

    /// Adds `counts` to cell `id` on `day`: to its last tally as far as each number fits, the
    /// rest in a new tally after it.
    fn add(&mut self, day: i64, id: u32, counts: &Counts) {
        let day = self.days.entry(day).or_default();
        let held = tallies(day, id);
        let mut rest = counts.words();
        if !held.is_empty() {
            rest = day[held.end - 1].1.fill(rest);
        }
        let mut at = held.end;
        while rest.iter().any(|w| *w > 0) {
            let mut tally = Tally::default();
            rest = tally.fill(rest);
            day.insert(at, (id, tally));
            at += 1;
        }
    }

    /// Makes `counts` the counts of cell `id` on `day`, whatever it held.
    fn set(&mut self, day: i64, id: u32, counts: &Counts) {
        if let Some(cells) = self.days.get_mut(&day) {
            cells.drain(tallies(cells, id));
        }
        self.add(day, id, counts);
    }

    /// The counts of cell `id` on `day`, its tallies summed; `None` when it has none.
    fn counts(&self, day: i64, id: u32) -> Option<Counts> {
        let cells = self.days.get(&day)?;
        let held = tallies(cells, id);
        (!held.is_empty()).then(|| sum(cells[held].iter().map(|(_, t)| t)))
    }

    /// The cell of `submission`, its names shared with the cells before it.
    fn cell_of(&mut self, submission: &Submission, burst: bool) -> Cell {
        let context = &submission.context;
        let known = &mut self.known;
        let touchpoint = known.intern(Dim::Touchpoint, submission.touchpoint.as_str());
        let mut name = |dim: Dim, value: Option<&protocol::Ident>| {
            value.map(|v| known.intern(dim, v.as_str()))
        };
        Cell {
            burst,
            channel: submission.channel,
            touchpoint,
            site: name(Dim::Site, context.site_id.as_ref()),
            agent: name(Dim::Agent, context.agent_id.as_ref()),
            segment: name(Dim::Segment, context.segment.as_ref()),
            locale: submission.locale.as_str(),
        }
    }
}

/// The cells changed since the last save, each encoded as a `(key, counts)` entry: a stats
/// cell's ([`Aggregates::cell_key`], 19 little-endian u64 counts), a closed day's stats cells
/// packed ([`DAY_TAG`]: it replaces the day's single cells), a day and slot's theme comments or
/// the phrases new since the last save ([`themes`]).
pub struct Changed {
    cells: Vec<(i64, u32)>,
    /// Days packed by this save: saved one by one again if it fails.
    packed: Vec<i64>,
    themes: themes::Changed,
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Changed {
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.packed.is_empty() && self.themes.is_empty()
    }
}

/// The saving key of the packed day that holds the single cell saved under `cell_key`, when
/// `cell_key` is a stats cell's: where a recovery finds what covers the cell once its day closed.
pub fn packed_day_key(cell_key: &[u8]) -> Option<Vec<u8>> {
    let day = cell_key.get(..8)?;
    (!matches!(
        cell_key.first(),
        Some(&(DAY_TAG | themes::KEY_TAG | themes::OLD_KEY_TAG | themes::PHRASES_TAG))
    ))
    .then(|| [&[DAY_TAG][..], day].concat())
}

/// The saved keys that the value saved under `key` replaces, by their common prefix, so the save
/// writes it and removes them in one batch (a crash leaves either, never both): a closed day's
/// packed stats cells replace its single cells, a whole theme group its pieces
/// ([`themes::replaced_by`]). `None` for a key that replaces only itself.
pub fn replaced_by(key: &[u8]) -> Option<&[u8]> {
    match key.first() {
        Some(&DAY_TAG) => key.get(1..),
        _ => themes::replaced_by(key),
    }
}

/// Which cells a record is counted into, by their saving keys: all when `None`.
pub type Wanted<'a> = Option<&'a dyn Fn(&[u8]) -> bool>;

/// All cells, shared by ingest (writes) and queries (reads): the stats cells and the theme cells.
#[derive(Default)]
pub struct Aggregates {
    cells: RwLock<Cells>,
    themes: Themes,
}

impl Aggregates {
    /// Counts one stored submission.
    pub fn add(&self, submission: &Submission, received_micros: u64, burst: bool) {
        let prepared = self.themes.prepare(submission);
        self.add_prepared(submission, prepared, received_micros, burst);
    }

    /// Counts one stored submission whose comment's phrases were read beforehand
    /// ([`Themes::prepare`]), so that a store's writer lock is not held while they are read.
    pub fn add_prepared(
        &self,
        submission: &Submission,
        prepared: themes::Prepared,
        received_micros: u64,
        burst: bool,
    ) {
        self.count(submission, prepared, received_micros, burst, None);
    }

    /// Counts one stored submission into those of its cells whose saving key `wanted` accepts
    /// (all of them when `None`); on recovery, those a saved cell does not already cover.
    /// Returns whether its stats cell took it.
    pub fn add_where(
        &self,
        submission: &Submission,
        received_micros: u64,
        burst: bool,
        wanted: Wanted<'_>,
    ) -> bool {
        let prepared = self.themes.prepare(submission);
        self.count(submission, prepared, received_micros, burst, wanted)
    }

    fn count(
        &self,
        submission: &Submission,
        prepared: themes::Prepared,
        received_micros: u64,
        burst: bool,
        wanted: Wanted<'_>,
    ) -> bool {
        let day = day_of(submission.submitted_at.unix_millis(), received_micros);
        let counted =
            wanted.is_none_or(|wanted| wanted(&Self::cell_key(submission, received_micros, burst)));
        if counted {
            let mut cells = self.cells.write().unwrap_or_else(|p| p.into_inner());
            let cell = cells.cell_of(submission, burst);
            cells.known.count(&cell, 1);
            let id = cells.id_of(cell);
            cells.add(day, id, &Counts::of(submission));
            cells.changed.insert((day, id));
        }
        self.themes
            .add(prepared, day, received_micros, burst, wanted);
        counted
    }

    /// The theme cells.
    pub fn themes(&self) -> &Themes {
        &self.themes
    }

    /// The first dimension in which `submission` brings a value not seen before while the
    /// dimension already holds `bounds` of them (devices are the store's to count).
    pub fn new_value_past(&self, submission: &Submission, bounds: &Bounds) -> Option<Bounded> {
        let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
        let context = &submission.context;
        [
            (
                Bounded::Touchpoint,
                Dim::Touchpoint,
                Some(&submission.touchpoint),
            ),
            (Bounded::Site, Dim::Site, context.site_id.as_ref()),
            (Bounded::Segment, Dim::Segment, context.segment.as_ref()),
            (Bounded::Agent, Dim::Agent, context.agent_id.as_ref()),
        ]
        .into_iter()
        .find(|(bounded, dim, value)| {
            value.is_some_and(|v| {
                !cells.known.contains(*dim, v.as_str())
                    && cells.known.len(*dim) >= bounds.of(*bounded)
            })
        })
        .map(|(bounded, _, _)| bounded)
    }

    /// The `n` busiest values ever seen in `dim` (touchpoint, site, agent or segment), for the
    /// menus: reading them costs the number of values, not of cells.
    pub fn busiest(&self, dim: Dim, n: usize) -> Busiest {
        let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
        cells.known.busiest(dim, n)
    }

    /// Answers `query` from the cells of its days.
    pub fn query(&self, query: &Query) -> Answer {
        self.query_all(std::slice::from_ref(query))
            .pop()
            .unwrap_or_default()
    }

    /// Answers each of `queries` (in their order) from one read of their days' cells: a page
    /// with several sections over one period reads its cells once.
    pub fn query_all(&self, queries: &[Query]) -> Vec<Answer> {
        let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
        let range = |q: &Query| (q.from_day.unwrap_or(i64::MIN), q.to_day.unwrap_or(i64::MAX));
        let mut answers = vec![Answer::default(); queries.len()];
        // Each cell is hashed into a group of every query that wants it: foldhash is several
        // times cheaper than the default hasher on these short keys, and its random seed still
        // keeps chosen names from colliding on purpose.
        let mut groups: Vec<foldhash::HashMap<[Part<'_>; 3], Counts>> =
            vec![foldhash::HashMap::default(); queries.len()];
        let wanted: Vec<(i64, i64)> = queries
            .iter()
            .map(range)
            .filter(|(from, to)| from < to)
            .collect();
        let (Some(from), Some(to)) = (
            wanted.iter().map(|r| r.0).min(),
            wanted.iter().map(|r| r.1).max(),
        ) else {
            return answers;
        };
        for (day, day_cells) in cells.days.range(from..to) {
            for (id, tally) in day_cells {
                let Some(cell) = cells.ids.get_index(*id as usize) else {
                    continue;
                };
                for ((query, answer), groups) in queries.iter().zip(&mut answers).zip(&mut groups) {
                    let (from, to) = range(query);
                    if !(from..to).contains(day) || !query.matches(cell) {
                        continue;
                    }
                    answer.total.add_tally(tally);
                    if query.group_by.is_empty() {
                        continue;
                    }
                    let mut key = [Part::Missing; 3];
                    for (part, dim) in key.iter_mut().zip(&query.group_by) {
                        *part = dim.part(*day, cell, query.owners());
                    }
                    groups.entry(key).or_default().add_tally(tally);
                }
            }
        }
        for ((query, answer), groups) in queries.iter().zip(&mut answers).zip(groups) {
            let dims = &query.group_by;
            // Sorted while the keys are borrowed parts, then written out once.
            let mut groups: Vec<([Part<'_>; 3], Counts)> = groups.into_iter().collect();
            groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            answer.groups = groups
                .into_iter()
                .map(|(key, counts)| Group {
                    key: dims.iter().zip(key).map(|(d, p)| (*d, d.text(p))).collect(),
                    counts,
                })
                .collect();
        }
        answers
    }

    /// The days `query` asks for (`from_day..to_day`), or the `days` days up to the latest
    /// answer's for those it leaves out; refused when they are no period.
    pub fn period(&self, query: &Query, days: i64) -> Result<(i64, i64), BadQuery> {
        let to = query.to_day.unwrap_or_else(|| {
            self.day_range()
                .map_or(crate::clock::today(), |(_, last)| last)
                + 1
        });
        let from = query.from_day.unwrap_or(to - days);
        if from >= to {
            return Err(BadQuery("from must be before to"));
        }
        Ok((from, to))
    }

    /// The days holding any cell: the range of the data.
    pub fn day_range(&self) -> Option<(i64, i64)> {
        let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
        Some((*cells.days.keys().next()?, *cells.days.keys().next_back()?))
    }

    /// Forgets every cell (before a rebuild).
    pub fn clear(&self) {
        *self.cells.write().unwrap_or_else(|p| p.into_inner()) = Cells::default();
        self.themes.clear();
    }

    /// The cells changed since the last call, encoded for saving, and clears the changed set.
    /// Days before `closed_before` are closed: each one changed, or still saved one cell at a
    /// time, is packed into one value.
    pub fn take_changed(&self, closed_before: i64) -> Changed {
        let (themes, theme_entries) = self.themes.take_changed(closed_before);
        let mut guard = self.cells.write().unwrap_or_else(|p| p.into_inner());
        let cells = &mut *guard;
        let changed: Vec<(i64, u32)> = cells.changed.drain().collect();
        let mut packed: BTreeSet<i64> = changed
            .iter()
            .map(|(day, _)| *day)
            .filter(|day| *day < closed_before)
            .collect();
        let still_loose = cells.loose.split_off(&closed_before);
        packed.extend(std::mem::replace(&mut cells.loose, still_loose));
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (day, id) in changed.iter().filter(|(day, _)| *day >= closed_before) {
            let (Some(cell), Some(counts)) =
                (cells.ids.get_index(*id as usize), cells.counts(*day, *id))
            else {
                continue;
            };
            let mut words = Vec::with_capacity(Counts::WORDS * 8);
            counts.write_words(&mut words);
            entries.push((encode_key(*day, cell), words));
            cells.loose.insert(*day);
        }
        for day in &packed {
            let day_cells = cells
                .days
                .get(day)
                .map(|d| pack_day(d, &cells.ids))
                .unwrap_or_default();
            entries.push((
                [&[DAY_TAG][..], &(*day as u64).to_be_bytes()].concat(),
                day_cells,
            ));
        }
        entries.extend(theme_entries);
        Changed {
            cells: changed,
            packed: packed.into_iter().collect(),
            themes,
            entries,
        }
    }

    /// Marks cells as changed again (their save failed), so they are saved next time.
    pub fn mark_changed(&self, changed: Changed) {
        self.themes.mark_changed(changed.themes);
        let mut cells = self.cells.write().unwrap_or_else(|p| p.into_inner());
        cells.changed.extend(changed.cells);
        // Packed again next time.
        cells.loose.extend(changed.packed);
    }

    /// The saving key of the cell `submission` counts in: what [`Changed`] entries are keyed by.
    pub fn cell_key(submission: &Submission, received_micros: u64, burst: bool) -> Vec<u8> {
        let day = day_of(submission.submitted_at.unix_millis(), received_micros);
        let context = &submission.context;
        fn name(v: Option<&protocol::Ident>) -> Option<&str> {
            v.map(protocol::Ident::as_str)
        }
        key_bytes(
            day,
            burst,
            submission.channel,
            submission.locale.as_str(),
            [
                Some(submission.touchpoint.as_str()),
                name(context.site_id.as_ref()),
                name(context.agent_id.as_ref()),
                name(context.segment.as_ref()),
            ],
        )
    }

    /// Loads one saved value: a stats cell, a closed day's packed cells, a theme cell or phrases
    /// ([`themes`]); `None` when it is damaged.
    pub fn load_cell(&self, key: &[u8], counts: &[u8]) -> Option<()> {
        match key.first() {
            Some(&(themes::KEY_TAG | themes::OLD_KEY_TAG | themes::PHRASES_TAG)) => {
                return self.themes.load(key, counts);
            }
            Some(&DAY_TAG) => return self.load_day(key, counts),
            _ => {}
        }
        let (&day, mut rest) = key.split_first_chunk::<8>()?;
        let day = u64::from_be_bytes(day) as i64;
        let saved = read_cell(&mut rest)?;
        if !rest.is_empty() || counts.len() != Counts::WORDS * 8 {
            return None;
        }
        let counts = Counts::read_words(&mut &counts[..])?;
        let mut cells = self.cells.write().unwrap_or_else(|p| p.into_inner());
        cells.loose.insert(day);
        let cell = cells.intern(saved)?;
        cells.known.count(&cell, counts.responses);
        let id = cells.id_of(cell);
        cells.set(day, id, &counts);
        Some(())
    }

    /// Loads a closed day's packed cells ([`pack_day`]), which replace any the day held.
    fn load_day(&self, key: &[u8], value: &[u8]) -> Option<()> {
        let (&[DAY_TAG], rest) = key.split_first_chunk::<1>()? else {
            return None;
        };
        let day = u64::from_be_bytes(*<&[u8; 8]>::try_from(rest).ok()?) as i64;
        let (&DAY_FORMAT, packed) = value.split_first()? else {
            return None;
        };
        let plain = miniz_oxide::inflate::decompress_to_vec(packed).ok()?;
        let mut rest = plain.as_slice();
        let mut loaded = Vec::new();
        while !rest.is_empty() {
            let saved = read_cell(&mut rest)?;
            loaded.push((saved, Counts::read_words(&mut rest)?));
        }
        let mut cells = self.cells.write().unwrap_or_else(|p| p.into_inner());
        let mut by_id = Vec::with_capacity(loaded.len());
        for (saved, counts) in loaded {
            let cell = cells.intern(saved)?;
            cells.known.count(&cell, counts.responses);
            by_id.push((cells.id_of(cell), counts));
        }
        by_id.sort_unstable_by_key(|(id, _)| *id);
        by_id.dedup_by_key(|(id, _)| *id);
        cells.days.insert(day, Day::with_capacity(by_id.len()));
        for (id, counts) in &by_id {
            cells.add(day, *id, counts);
        }
        Some(())
    }
}

/// A cell as saved, its names not yet shared: flags, channel and locale (indexes), then the
/// touchpoint, site, agent and segment.
type SavedCell<'a> = ([u8; 3], [Option<&'a str>; 4]);

/// Reads one cell as [`cell_bytes`] wrote it from the front of `rest`.
fn read_cell<'a>(rest: &mut &'a [u8]) -> Option<SavedCell<'a>> {
    let (&head, mut tail) = rest.split_first_chunk::<3>()?;
    let mut names = [None; 4];
    for name in &mut names {
        let (&len, after) = tail.split_first()?;
        let (text, after) = after.split_at_checked(usize::from(len))?;
        *name = (len > 0).then_some(std::str::from_utf8(text).ok()?);
        tail = after;
    }
    *rest = tail;
    Some((head, names))
}

impl Cells {
    /// The cell a saved one stands for, its names shared with the cells before it.
    fn intern(&mut self, ([flags, channel, locale], names): SavedCell<'_>) -> Option<Cell> {
        let known = &mut self.known;
        let mut intern = |dim: Dim, name: Option<&str>| name.map(|n| known.intern(dim, n));
        Some(Cell {
            burst: flags & 1 == 1,
            channel: *Channel::ALL.get(usize::from(channel))?,
            touchpoint: intern(Dim::Touchpoint, Some(names[0]?))?,
            site: intern(Dim::Site, names[1]),
            agent: intern(Dim::Agent, names[2]),
            segment: intern(Dim::Segment, names[3]),
            locale: protocol::instrument::LOCALE_CODES.get(usize::from(locale))?,
        })
    }
}

/// A closed day's cells in one value: `[DAY_FORMAT]` and, deflated, each cell as in its own key
/// ([`cell_bytes`]) followed by its 19 counts (u64 little-endian). Mostly zeros and repeated
/// names, so it deflates about tenfold; packing and unpacking a day costs less than reading one
/// sled entry per cell.
fn pack_day(day_cells: &Day, ids: &IndexSet<Cell, foldhash::fast::RandomState>) -> Vec<u8> {
    let mut plain = Vec::with_capacity(day_cells.len() * 200);
    for (cell, counts) in day_cells.chunk_by(|a, b| a.0 == b.0).filter_map(|tallies| {
        let cell = ids.get_index(tallies[0].0 as usize)?;
        Some((cell, sum(tallies.iter().map(|(_, t)| t))))
    }) {
        cell_bytes(
            &mut plain,
            cell.burst,
            cell.channel,
            cell.locale,
            cell.names(),
        );
        counts.write_words(&mut plain);
    }
    let mut out = vec![DAY_FORMAT];
    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&plain, 1));
    out
}

/// `[day u64 BE][flags][channel][locale]`, then the touchpoint, site, agent and segment, each
/// `[len][bytes]` (0 = absent): a cell's key in the store, so one cell is saved on its own.
fn key_bytes(
    day: i64,
    burst: bool,
    channel: Channel,
    locale: &str,
    names: [Option<&str>; 4],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(11 + names.iter().flatten().map(|n| 1 + n.len()).sum::<usize>());
    out.extend_from_slice(&(day as u64).to_be_bytes());
    cell_bytes(&mut out, burst, channel, locale, names);
    out
}

/// A cell apart from its day, as its key and a packed day write it.
fn cell_bytes(
    out: &mut Vec<u8>,
    burst: bool,
    channel: Channel,
    locale: &str,
    names: [Option<&str>; 4],
) {
    let channel = Channel::ALL.iter().position(|c| *c == channel).unwrap_or(0);
    let locale = protocol::instrument::LOCALE_CODES
        .iter()
        .position(|l| *l == locale)
        .unwrap_or(0);
    out.extend_from_slice(&[u8::from(burst), channel as u8, locale as u8]);
    for name in names {
        let name = name.unwrap_or("");
        out.push(name.len() as u8); // an Ident is at most 64 bytes
        out.extend_from_slice(name.as_bytes());
    }
}

impl Cell {
    fn names(&self) -> [Option<&str>; 4] {
        [
            Some(&self.touchpoint),
            self.site.as_deref(),
            self.agent.as_deref(),
            self.segment.as_deref(),
        ]
    }
}

/// Where cell `id`'s tallies are in `day`, found by its sorted ids (an empty range where they
/// would go).
fn tallies(day: &Day, id: u32) -> std::ops::Range<usize> {
    let from = day.partition_point(|(i, _)| *i < id);
    from..from + day[from..].iter().take_while(|(i, _)| *i == id).count()
}

/// The counts of a cell's tallies together.
fn sum<'a>(tallies: impl Iterator<Item = &'a Tally>) -> Counts {
    tallies.fold(Counts::default(), |mut all, t| {
        all.add_tally(t);
        all
    })
}

fn encode_key(day: i64, cell: &Cell) -> Vec<u8> {
    key_bytes(day, cell.burst, cell.channel, cell.locale, cell.names())
}

#[cfg(test)]
mod tests;

//! Stats: counts per cell, kept up to date at ingest, so a query reads cells and never records.
//!
//! A cell is one (UTC day, burst flag, channel, touchpoint, site, agent, segment, locale); it
//! holds the number of responses, the distribution of each scale, the emotion counts and the
//! number of comments. Means derive from the distributions. Cells live in memory, grouped by day,
//! so a query over a time range reads only that range's days. The store adds each new record's
//! cell right after writing it (before the flush that acknowledges it), saves the changed days about
//! once a second, and on open counts again only what came after the last save (see `store`).
//!
//! The day of a response is the UTC day its customer answered (`submitted_at`), or the day it was
//! received when the client's clock claims a later time: a kiosk that drains a backlog after days
//! offline counts its answers on the days they were given.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, RwLock},
};

use protocol::{Channel, Submission};
use serde_json::{json, Value};

pub mod calendar;
pub mod query;

pub use self::calendar::{date_of, day_of, iso_week, parse_date, week_label, week_start};
use self::query::Part;
pub use self::query::{Answer, BadQuery, Dim, Group, Params, Query};

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

    fn from_words(w: &[u64; Self::WORDS]) -> Self {
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

/// The cells of every day, and the names they share.
#[derive(Default)]
struct Cells {
    days: BTreeMap<i64, HashMap<Cell, Counts>>,
    names: HashSet<Arc<str>>,
    /// Days changed since the cells were last saved.
    dirty: HashSet<i64>,
}

impl Cells {
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.names.get(name) {
            return Arc::clone(known);
        }
        let name: Arc<str> = Arc::from(name);
        self.names.insert(Arc::clone(&name));
        name
    }
}

/// All cells, shared by ingest (writes) and queries (reads).
#[derive(Default)]
pub struct Aggregates {
    cells: RwLock<Cells>,
}

impl Aggregates {
    /// Counts one stored submission.
    pub fn add(&self, submission: &Submission, received_micros: u64, burst: bool) {
        let day = day_of(submission.submitted_at.unix_millis(), received_micros);
        let mut cells = self.cells.write().unwrap_or_else(|p| p.into_inner());
        let context = &submission.context;
        let cell = Cell {
            burst,
            channel: submission.channel,
            touchpoint: cells.intern(submission.touchpoint.as_str()),
            site: context.site_id.as_ref().map(|s| cells.intern(s.as_str())),
            agent: context.agent_id.as_ref().map(|s| cells.intern(s.as_str())),
            segment: context.segment.as_ref().map(|s| cells.intern(s.as_str())),
            locale: submission.locale.as_str(),
        };
        cells
            .days
            .entry(day)
            .or_default()
            .entry(cell)
            .or_default()
            .add(&Counts::of(submission));
        cells.dirty.insert(day);
    }

    /// Answers `query` from the cells of its days.
    pub fn query(&self, query: &Query) -> Answer {
        let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
        let from = query.from_day.unwrap_or(i64::MIN);
        let to = query.to_day.unwrap_or(i64::MAX);
        let mut answer = Answer::default();
        if from >= to {
            return answer;
        }
        let dims = &query.group_by;
        let mut groups: HashMap<[Part<'_>; 3], Counts> = HashMap::new();
        for (day, day_cells) in cells.days.range(from..to) {
            for (cell, counts) in day_cells {
                if !query.matches(cell) {
                    continue;
                }
                answer.total.add(counts);
                if dims.is_empty() {
                    continue;
                }
                let mut key = [Part::Missing; 3];
                for (part, dim) in key.iter_mut().zip(dims) {
                    *part = dim.part(*day, cell, query.owners());
                }
                groups.entry(key).or_default().add(counts);
            }
        }
        let mut groups: Vec<(Vec<Option<String>>, Counts)> = groups
            .into_iter()
            .map(|(key, counts)| {
                let text = dims.iter().zip(key).map(|(d, p)| d.text(p)).collect();
                (text, counts)
            })
            .collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        answer.groups = groups
            .into_iter()
            .map(|(key, counts)| Group {
                key: dims.iter().copied().zip(key).collect(),
                counts,
            })
            .collect();
        answer
    }

    /// The days holding any cell: the range of the data.
    pub fn day_range(&self) -> Option<(i64, i64)> {
        let cells = self.cells.read().unwrap_or_else(|p| p.into_inner());
        Some((*cells.days.keys().next()?, *cells.days.keys().next_back()?))
    }

    /// Forgets every cell (before a rebuild).
    pub fn clear(&self) {
        *self.cells.write().unwrap_or_else(|p| p.into_inner()) = Cells::default();
    }

    /// The days changed since the last call, each with its cells encoded for saving; and clears
    /// the changed set.
    pub fn take_dirty(&self) -> Vec<(i64, Vec<u8>)> {
        let mut cells = self.cells.write().unwrap_or_else(|p| p.into_inner());
        let dirty: Vec<i64> = cells.dirty.drain().collect();
        dirty
            .into_iter()
            .map(|day| {
                let encoded = cells.days.get(&day).map(encode_day).unwrap_or_default();
                (day, encoded)
            })
            .collect()
    }

    /// Marks days as changed, so they are saved again.
    pub fn mark_dirty(&self, days: impl Iterator<Item = i64>) {
        self.cells
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .dirty
            .extend(days);
    }

    /// Loads one saved day; `None` when it is damaged.
    pub fn load_day(&self, day: i64, bytes: &[u8]) -> Option<()> {
        let mut cells = self.cells.write().unwrap_or_else(|p| p.into_inner());
        let mut rest = bytes;
        let mut day_cells = HashMap::new();
        while !rest.is_empty() {
            let (&[flags, channel, locale], tail) = rest.split_first_chunk::<3>()?;
            rest = tail;
            let mut name = |rest: &mut &[u8]| -> Option<Option<Arc<str>>> {
                let (&len, tail) = rest.split_first()?;
                let text = std::str::from_utf8(tail.get(..usize::from(len))?).ok()?;
                *rest = &tail[usize::from(len)..];
                Some((len > 0).then(|| cells.intern(text)))
            };
            let touchpoint = name(&mut rest)??;
            let site = name(&mut rest)?;
            let agent = name(&mut rest)?;
            let segment = name(&mut rest)?;
            let mut words = [0u64; Counts::WORDS];
            for w in &mut words {
                let (bytes, tail) = rest.split_first_chunk::<8>()?;
                *w = u64::from_le_bytes(*bytes);
                rest = tail;
            }
            let cell = Cell {
                burst: flags & 1 == 1,
                channel: *Channel::ALL.get(usize::from(channel))?,
                touchpoint,
                site,
                agent,
                segment,
                locale: protocol::instrument::LOCALE_CODES.get(usize::from(locale))?,
            };
            day_cells.insert(cell, Counts::from_words(&words));
        }
        cells.days.insert(day, day_cells);
        Some(())
    }
}

/// `[flags][channel][locale]`, four length-prefixed names (0 = absent), 19 counts (u64 LE),
/// per cell.
fn encode_day(cells: &HashMap<Cell, Counts>) -> Vec<u8> {
    let mut out = Vec::with_capacity(cells.len() * 200);
    for (cell, counts) in cells {
        let channel = Channel::ALL
            .iter()
            .position(|c| *c == cell.channel)
            .unwrap_or(0);
        let locale = protocol::instrument::LOCALE_CODES
            .iter()
            .position(|l| *l == cell.locale)
            .unwrap_or(0);
        out.extend_from_slice(&[u8::from(cell.burst), channel as u8, locale as u8]);
        for name in [
            Some(&cell.touchpoint),
            cell.site.as_ref(),
            cell.agent.as_ref(),
            cell.segment.as_ref(),
        ] {
            let name = name.map_or("", |n| n);
            out.push(name.len() as u8); // an Ident is at most 64 bytes
            out.extend_from_slice(name.as_bytes());
        }
        for w in counts.words() {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests;

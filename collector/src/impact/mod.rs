//! The business view: each outcome the organisation's systems report (`POST /v1/outcomes`),
//! joined by interaction id to the answers that carry one, by effort band, with what the
//! difference costs and which measure moves it most.
//!
//! [`Impact`] keeps an index of the joinable answers (arrival time, touchpoint, interaction,
//! the three measures: a few bytes each) and of the outcomes by interaction. It is built on the
//! first question and caught up on each later one from where it stopped: records are read in
//! arrival order and outcomes by their sequence number, both of which the store hands out in
//! commit order, so nothing is skipped or read twice. A question then tallies the answers of
//! its period in memory ([`view`]).
//!
//! Files: [`lines`] reads import bodies, [`model`] the arithmetic (bands, Wilson intervals, the
//! fitted slope), [`view`] tallies a period and writes it as JSON and sentences.

pub mod lines;
pub mod model;
pub mod view;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use serde::Deserialize;

use crate::store::{outcomes::Outcome, Store, StoreError};

/// One answer that carries an interaction id, as the index keeps it.
#[derive(Debug, Clone, Copy)]
struct Answer {
    /// When it was given, as `/v1/stats` counts it: submitted, or received when that is
    /// earlier (microseconds since the epoch).
    given_micros: u64,
    touchpoint: u32,
    interaction: u32,
    /// 1–7, 0 when not answered.
    effort: u8,
    /// 1–5, 0 when not answered.
    confidence: u8,
    /// 1 (angry) – 5 (delighted), 0 when not answered.
    emotion: u8,
}

/// One outcome of an interaction: its kind and its own amount.
#[derive(Debug, Clone, Copy)]
struct Happened {
    kind: u32,
    value: Option<f64>,
}

/// Names interned as small numbers.
#[derive(Debug, Default)]
struct Names {
    names: Vec<Arc<str>>,
    numbers: HashMap<Arc<str>, u32>,
}

impl Names {
    fn number(&mut self, name: &str) -> u32 {
        if let Some(n) = self.numbers.get(name) {
            return *n;
        }
        let n = self.names.len() as u32;
        let name: Arc<str> = Arc::from(name);
        self.names.push(Arc::clone(&name));
        self.numbers.insert(name, n);
        n
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.numbers.get(name).copied()
    }

    fn name(&self, n: u32) -> &str {
        &self.names[n as usize]
    }
}

/// The index, caught up to `answers_to` (every record received before it) and `outcomes_to`
/// (every outcome numbered up to it).
#[derive(Debug, Default)]
struct Index {
    answers_to: u64,
    outcomes_to: u64,
    answers: Vec<Answer>,
    touchpoints: Names,
    interactions: Names,
    kinds: Names,
    happened: HashMap<u32, Vec<Happened>>,
}

/// The fields of a record the index reads; serde skips the rest.
#[derive(Deserialize)]
struct Lite<'a> {
    #[serde(borrow)]
    submitted_at: &'a str,
    #[serde(default)]
    answers: LiteAnswers<'a>,
    #[serde(default, borrow)]
    context: Option<LiteContext<'a>>,
}

#[derive(Deserialize, Default)]
struct LiteAnswers<'a> {
    effort: Option<u8>,
    confidence: Option<u8>,
    #[serde(borrow)]
    emotion: Option<&'a str>,
}

#[derive(Deserialize)]
struct LiteContext<'a> {
    #[serde(borrow)]
    interaction_id: Option<&'a str>,
}

/// 1 (angry) – 5 (delighted), 0 for none.
fn emotion_rank(emotion: Option<&str>) -> u8 {
    emotion
        .and_then(|e| protocol::Emotion::parse(e).ok())
        .map_or(0, |e| e.index() as u8 + 1)
}

impl Index {
    fn catch_up(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        let mut failed = None;
        let mut last = None;
        store.scan(self.answers_to, u64::MAX, &mut |record| {
            last = Some(record.received_micros);
            let lite: Lite<'_> = match serde_json::from_str(record.json) {
                Ok(lite) => lite,
                Err(_) => {
                    failed = Some(StoreError::Corrupt {
                        key: record.received_micros,
                    });
                    return false;
                }
            };
            let Some(interaction) = lite.context.and_then(|c| c.interaction_id) else {
                return true;
            };
            let submitted = protocol::Timestamp::parse(lite.submitted_at)
                .map_or(i64::MAX, |t| t.unix_millis())
                .max(0)
                .unsigned_abs()
                .saturating_mul(1000);
            let answer = Answer {
                given_micros: submitted.min(record.received_micros),
                touchpoint: self.touchpoints.number(record.touchpoint),
                interaction: self.interactions.number(interaction),
                effort: lite.answers.effort.unwrap_or(0),
                confidence: lite.answers.confidence.unwrap_or(0),
                emotion: emotion_rank(lite.answers.emotion),
            };
            self.answers.push(answer);
            true
        })?;
        if let Some(error) = failed {
            return Err(error);
        }
        if let Some(last) = last {
            self.answers_to = last + 1;
        }
        let mut outcomes_to = self.outcomes_to;
        store.outcomes_after(self.outcomes_to, &mut |seq, outcome: Outcome| {
            let interaction = self.interactions.number(&outcome.interaction);
            let kind = self.kinds.number(&outcome.outcome);
            self.happened
                .entry(interaction)
                .or_default()
                .push(Happened {
                    kind,
                    value: outcome.value,
                });
            outcomes_to = seq;
            true
        })?;
        self.outcomes_to = outcomes_to;
        Ok(())
    }

    /// The answers given in `from..to`.
    fn period(&self, from: u64, to: u64) -> impl Iterator<Item = &Answer> {
        self.answers
            .iter()
            .filter(move |a| from <= a.given_micros && a.given_micros < to)
    }
}

/// The business view's index over one store, shared by every request.
pub struct Impact {
    store: Arc<dyn Store>,
    index: Mutex<Index>,
}

/// What a question asks: answers given in `from_micros..to_micros` (the time `/v1/stats` counts
/// an answer at: submitted, or received when that is earlier), at one touchpoint or all.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub from_micros: u64,
    pub to_micros: u64,
    pub touchpoint: Option<String>,
}

impl Query {
    /// Whole UTC days `from_day..to_day` (day numbers since the epoch), at `touchpoint` or all.
    pub fn of_days(from_day: i64, to_day: i64, touchpoint: Option<String>) -> Self {
        let micros = |day: i64| {
            u64::try_from(day)
                .unwrap_or(0)
                .saturating_mul(86_400_000_000)
        };
        Self {
            from_micros: micros(from_day),
            to_micros: micros(to_day),
            touchpoint,
        }
    }
}

impl Impact {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            index: Mutex::default(),
        }
    }

    /// The view of `query`, with costs from `org` (blocking: call it off the async workers).
    pub fn view(
        &self,
        query: &Query,
        org: Option<&crate::org::Organisation>,
    ) -> Result<view::View, StoreError> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        index.catch_up(&*self.store)?;
        Ok(view::tally(&index, query, org))
    }
}

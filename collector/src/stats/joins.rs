//! The business view's index: the answers that carry an interaction id, 16 bytes each, and the
//! organisation's outcomes by interaction, each interaction id kept once. The store keeps it
//! beside the stats cells and counts each answer into it where it counts the cells: on sled at
//! `put`, on PostgreSQL from the stats tail (its own commits at once, the other collectors' by
//! transaction id), so no answer committed late is left out and a question never reads records.
//! What a store held before it was opened is read once after open, in the background
//! ([`Joins::fill_below`]); the view answers only once that is done ([`Joins::is_ready`]).
//!
//! An answer counted while a question holds the index waits in a short queue, taken in by the
//! next question or answer, so ingest never waits for a question's tally.

use std::{
    collections::HashMap,
    hash::BuildHasher,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use protocol::Submission;
use serde::Deserialize;

/// One answer that carries an interaction id, as the index keeps it.
#[derive(Debug, Clone, Copy)]
pub struct Joinable {
    /// When it was given, as `/v1/stats` counts it: submitted, or received when that is
    /// earlier (microseconds since the epoch).
    pub given_micros: u64,
    /// Its interaction's number ([`Joined::happened`]).
    pub interaction: u32,
    /// The touchpoint's number (high 23 bits) and the three measures (3 bits each: effort 1–7,
    /// confidence 1–5, emotion 1 (angry) – 5 (delighted), 0 when not answered).
    packed: u32,
}

impl Joinable {
    pub fn touchpoint(&self) -> u32 {
        self.packed >> 9
    }

    pub fn effort(&self) -> u8 {
        (self.packed & 7) as u8
    }

    pub fn confidence(&self) -> u8 {
        (self.packed >> 3 & 7) as u8
    }

    pub fn emotion(&self) -> u8 {
        (self.packed >> 6 & 7) as u8
    }
}

/// An answer offered to the index, borrowed from a submission or a stored record.
#[derive(Debug, Clone, Copy)]
pub struct Joining<'a> {
    pub given_micros: u64,
    pub touchpoint: &'a str,
    pub interaction: &'a str,
    pub effort: u8,
    pub confidence: u8,
    pub emotion: u8,
}

impl<'a> Joining<'a> {
    /// `submission`, stored under `received_micros`, if it carries an interaction id.
    pub fn of(submission: &'a Submission, received_micros: u64) -> Option<Self> {
        let interaction = submission.context.interaction_id.as_ref()?;
        let submitted = submission
            .submitted_at
            .unix_millis()
            .max(0)
            .unsigned_abs()
            .saturating_mul(1000);
        let answers = &submission.answers;
        Some(Self {
            given_micros: submitted.min(received_micros),
            touchpoint: submission.touchpoint.as_str(),
            interaction: interaction.as_str(),
            effort: answers.effort().map_or(0, |e| e.get()),
            confidence: answers.confidence().map_or(0, |c| c.get()),
            emotion: answers.emotion().map_or(0, |e| e.index() as u8 + 1),
        })
    }

    /// The answer stored as `json` under `received_micros` at `touchpoint`, if it carries an
    /// interaction id: only the fields the index keeps are read, without building the whole
    /// submission.
    pub fn of_json(
        json: &'a str,
        touchpoint: &'a str,
        received_micros: u64,
    ) -> Result<Option<Self>, serde_json::Error> {
        let lite = serde_json::from_str::<Lite<'_>>(json)?;
        let Some(interaction) = lite.context.and_then(|c| c.interaction_id) else {
            return Ok(None);
        };
        let submitted = protocol::Timestamp::parse(lite.submitted_at)
            .map_or(i64::MAX, |t| t.unix_millis())
            .max(0)
            .unsigned_abs()
            .saturating_mul(1000);
        Ok(Some(Self {
            given_micros: submitted.min(received_micros),
            touchpoint,
            interaction,
            effort: lite.answers.effort.unwrap_or(0),
            confidence: lite.answers.confidence.unwrap_or(0),
            emotion: emotion_rank(lite.answers.emotion),
        }))
    }

    fn to_owned(self) -> Waiting {
        Waiting {
            given_micros: self.given_micros,
            touchpoint: self.touchpoint.into(),
            interaction: self.interaction.into(),
            measures: [self.effort, self.confidence, self.emotion],
        }
    }
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

/// An answer waiting in the queue while a question holds the index.
struct Waiting {
    given_micros: u64,
    touchpoint: Box<str>,
    interaction: Box<str>,
    measures: [u8; 3],
}

/// One outcome of an interaction, in a chain of its interaction's outcomes.
#[derive(Debug, Clone, Copy)]
pub struct Happened {
    /// Its kind's number in [`Joined::kinds`].
    pub kind: u32,
    /// The interaction's previous outcome, plus one (0: none).
    previous: u32,
    /// Its own amount, NaN when it has none.
    value: f64,
}

impl Happened {
    pub fn value(&self) -> Option<f64> {
        (!self.value.is_nan()).then_some(self.value)
    }
}

/// Names interned as small numbers (touchpoints, outcome kinds: a few of each).
#[derive(Debug, Default)]
pub struct Names {
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

    pub fn get(&self, name: &str) -> Option<u32> {
        self.numbers.get(name).copied()
    }

    pub fn name(&self, n: u32) -> &str {
        &self.names[n as usize]
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Interaction ids, each kept once: their bytes end to end, where each ends, and a table of
/// their numbers by hash (hashbrown's `HashTable`, which keeps only the 4-byte number per id
/// where a `HashMap<String, u32>` would keep a string header and an allocation more).
#[derive(Default)]
struct Interactions {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::FixedState,
}

impl Interactions {
    fn id(&self, n: u32) -> &[u8] {
        id_in(&self.bytes, &self.ends, n)
    }

    fn number(&mut self, id: &str) -> u32 {
        let Self {
            bytes,
            ends,
            table,
            hasher,
        } = self;
        let hash = hasher.hash_one(id.as_bytes());
        if let Some(&n) = table.find(hash, |&n| id_in(bytes, ends, n) == id.as_bytes()) {
            return n;
        }
        let n = ends.len() as u32;
        bytes.extend_from_slice(id.as_bytes());
        ends.push(bytes.len() as u32);
        table.insert_unique(hash, n, |&m| hasher.hash_one(id_in(bytes, ends, m)));
        n
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// The id numbered `n` in `bytes`, where `ends` says where each ends.
fn id_in<'a>(bytes: &'a [u8], ends: &[u32], n: u32) -> &'a [u8] {
    let end = ends[n as usize] as usize;
    let start = match n {
        0 => 0,
        n => ends[n as usize - 1] as usize,
    };
    &bytes[start..end]
}

/// The index itself, read by a question while it holds it ([`Joins::lock`]).
#[derive(Default)]
pub struct Joined {
    pub answers: Vec<Joinable>,
    pub touchpoints: Names,
    pub kinds: Names,
    interactions: Interactions,
    /// Per interaction, its last outcome in `happened`, plus one (0: none).
    last: Vec<u32>,
    happened: Vec<Happened>,
    /// Every outcome numbered up to this one is in.
    pub outcomes_to: u64,
}

/// The most touchpoints the index tells apart (23 bits).
const MAX_TOUCHPOINTS: u32 = 1 << 23;

impl Joined {
    fn interaction(&mut self, id: &str) -> u32 {
        let n = self.interactions.number(id);
        if self.last.len() < self.interactions.len() {
            self.last.push(0);
        }
        n
    }

    fn add(&mut self, answer: Joining<'_>) {
        let touchpoint = self.touchpoints.number(answer.touchpoint);
        if touchpoint >= MAX_TOUCHPOINTS {
            return;
        }
        let interaction = self.interaction(answer.interaction);
        let measure = |m: u8| u32::from(m.min(7));
        self.answers.push(Joinable {
            given_micros: answer.given_micros,
            interaction,
            packed: touchpoint << 9
                | measure(answer.emotion) << 6
                | measure(answer.confidence) << 3
                | measure(answer.effort),
        });
    }

    /// Adds one outcome of `interaction`, numbered `seq`.
    pub fn add_outcome(&mut self, seq: u64, interaction: &str, kind: &str, value: Option<f64>) {
        let interaction = self.interaction(interaction) as usize;
        let kind = self.kinds.number(kind);
        self.happened.push(Happened {
            kind,
            previous: self.last[interaction],
            value: value.unwrap_or(f64::NAN),
        });
        self.last[interaction] = self.happened.len() as u32;
        self.outcomes_to = self.outcomes_to.max(seq);
    }

    /// The outcomes of interaction `n`, latest first.
    pub fn happened(&self, n: u32) -> impl Iterator<Item = &Happened> {
        let mut next = self.last.get(n as usize).copied().unwrap_or(0);
        std::iter::from_fn(move || {
            let happened = self.happened.get(next.checked_sub(1)? as usize)?;
            next = happened.previous;
            Some(happened)
        })
    }

    /// Whether interaction `n` had any outcome.
    pub fn had_any(&self, n: u32) -> bool {
        self.last.get(n as usize).is_some_and(|&l| l > 0)
    }

    /// The interaction id numbered `n`.
    pub fn interaction_id(&self, n: u32) -> &[u8] {
        self.interactions.id(n)
    }

    /// Gives back what reading in left unused: each list keeps an eighth more room than it
    /// holds (doubling as it grew may have left it with nearly as much again).
    pub fn trim(&mut self) {
        fn trim<T>(list: &mut Vec<T>) {
            list.shrink_to(list.len() + list.len() / 8);
        }
        trim(&mut self.answers);
        trim(&mut self.interactions.bytes);
        trim(&mut self.interactions.ends);
        trim(&mut self.last);
        trim(&mut self.happened);
    }

    /// Bytes the index holds, about.
    pub fn heap_bytes(&self) -> usize {
        self.answers.capacity() * std::mem::size_of::<Joinable>()
            + self.interactions.bytes.capacity()
            + self.interactions.ends.capacity() * 4
            + self.interactions.table.capacity() * 5
            + self.last.capacity() * 4
            + self.happened.capacity() * std::mem::size_of::<Happened>()
    }
}

/// The index, shared by the store (which counts answers into it) and the business view.
pub struct Joins {
    joined: Mutex<Joined>,
    waiting: Mutex<Vec<Waiting>>,
    fill_below: u64,
    filling: AtomicBool,
    ready: AtomicBool,
}

/// Answers the queue holds before an answer waits for the index to take them in.
const QUEUE: usize = 4096;

impl Joins {
    /// An index whose store's records keyed below `fill_below` are read after open (0: none,
    /// when the store counts every record into it as it opens).
    pub fn new(fill_below: u64) -> Self {
        Self {
            joined: Mutex::default(),
            waiting: Mutex::default(),
            fill_below,
            filling: AtomicBool::new(false),
            ready: AtomicBool::new(false),
        }
    }

    /// Records keyed below this are read after open, once ([`Joins::claim_fill`]); the store
    /// counts the others.
    pub fn fill_below(&self) -> u64 {
        self.fill_below
    }

    /// Whether the caller is the one to read the store's earlier records in: true once.
    pub fn claim_fill(&self) -> bool {
        !self.filling.swap(true, Ordering::SeqCst)
    }

    /// Whether the earlier records and outcomes are in.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Counts the answer `submission`, stored under `received_micros`, if it carries an
    /// interaction id.
    pub fn add(&self, submission: &Submission, received_micros: u64) {
        if let Some(answer) = Joining::of(submission, received_micros) {
            self.add_one(answer);
        }
    }

    /// Counts `answer`: at once, or in the queue while a question holds the index.
    pub fn add_one(&self, answer: Joining<'_>) {
        if let Ok(mut joined) = self.joined.try_lock() {
            self.take_waiting(&mut joined);
            joined.add(answer);
            return;
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        waiting.push(answer.to_owned());
        if waiting.len() < QUEUE {
            return;
        }
        // A long question: this answer takes the queue in once it ends.
        drop(waiting);
        drop(self.lock());
    }

    /// The index with every counted answer in it.
    pub fn lock(&self) -> MutexGuard<'_, Joined> {
        let mut joined = self.joined.lock().unwrap_or_else(|p| p.into_inner());
        self.take_waiting(&mut joined);
        joined
    }

    fn take_waiting(&self, joined: &mut Joined) {
        let waiting = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|p| p.into_inner()));
        for answer in &waiting {
            joined.add(answer_of(answer));
        }
    }
}

fn answer_of(waiting: &Waiting) -> Joining<'_> {
    let [effort, confidence, emotion] = waiting.measures;
    Joining {
        given_micros: waiting.given_micros,
        touchpoint: &waiting.touchpoint,
        interaction: &waiting.interaction,
        effort,
        confidence,
        emotion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(interaction: &str, effort: u8) -> Joining<'_> {
        Joining {
            given_micros: 1_000,
            touchpoint: "card-activation",
            interaction,
            effort,
            confidence: 5,
            emotion: 1,
        }
    }

    #[test]
    fn an_id_is_kept_once_and_its_outcomes_join_whichever_came_first() {
        let joins = Joins::new(0);
        {
            let mut joined = joins.lock();
            joined.add_outcome(1, "call-1", "repeat_contact", None);
        }
        joins.add_one(answer("call-1", 2));
        joins.add_one(answer("call-2", 6));
        let mut joined = joins.lock();
        joined.add_outcome(2, "call-1", "refund", Some(12.5));
        assert_eq!(joined.interactions.len(), 2);
        let [first, second] = [joined.answers[0], joined.answers[1]];
        assert_eq!(joined.interaction_id(first.interaction), b"call-1");
        assert_eq!(
            (first.effort(), first.confidence(), first.emotion()),
            (2, 5, 1)
        );
        let kinds: Vec<(&str, Option<f64>)> = joined
            .happened(first.interaction)
            .map(|h| (joined.kinds.name(h.kind), h.value()))
            .collect();
        assert_eq!(kinds, [("refund", Some(12.5)), ("repeat_contact", None)]);
        assert!(!joined.had_any(second.interaction));
        assert_eq!(joined.outcomes_to, 2);
    }

    #[test]
    fn an_answer_counted_while_a_question_holds_the_index_is_in_the_next_one() {
        let joins = Joins::new(0);
        let held = joins.lock();
        joins.add_one(answer("call-9", 4));
        assert!(held.answers.is_empty());
        drop(held);
        let joined = joins.lock();
        assert_eq!(joined.answers.len(), 1);
        assert_eq!(
            joined.interaction_id(joined.answers[0].interaction),
            b"call-9"
        );
    }
}

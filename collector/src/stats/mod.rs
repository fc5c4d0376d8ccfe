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
                    *part = dim.part(*day, cell);
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
mod tests {
    use super::calendar::DAY_MILLIS;
    use super::*;
    use protocol::Timestamp;

    #[test]
    fn days_weeks_and_dates_agree() {
        let day = parse_date("2026-11-22").expect("a date");
        assert_eq!(date_of(day), "2026-11-22");
        assert_eq!(week_label(day), "2026-W47", "a Sunday ends its week");
        assert_eq!(week_label(day + 1), "2026-W48");
        assert_eq!(
            week_label(parse_date("2021-01-03").expect("a date")),
            "2020-W53"
        );
        assert_eq!(
            week_label(parse_date("2024-12-30").expect("a date")),
            "2025-W01"
        );
        assert_eq!(
            week_start(2026, 47).map(date_of).as_deref(),
            Some("2026-11-16")
        );
        assert_eq!(week_start(2025, 53), None, "2025 has 52 weeks");
        assert_eq!(
            week_start(2026, 53).map(date_of).as_deref(),
            Some("2026-12-28"),
            "2026 starts on a Thursday: 53 weeks"
        );
        assert_eq!(
            week_start(2020, 53).map(date_of).as_deref(),
            Some("2020-12-28")
        );
    }

    #[test]
    fn the_day_is_when_the_customer_answered_unless_the_clock_ran_ahead() {
        let nov_22 = parse_date("2026-11-22").expect("a date");
        let received = (nov_22 + 3) as u64 * 86_400_000_000 + 5;
        assert_eq!(day_of(nov_22 * DAY_MILLIS + 1000, received), nov_22);
        assert_eq!(day_of((nov_22 + 30) * DAY_MILLIS, received), nov_22 + 3);
    }

    #[test]
    fn query_parameters_are_checked() {
        let parse = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Query::parse(&move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        let q = parse(&[
            ("from", "2026-11-01"),
            ("to", "2026-11-08T13:00:00+01:00"),
            ("group_by", "channel,touchpoint"),
            ("include_bursts", "true"),
        ])
        .expect("valid");
        assert_eq!(q.from_day, parse_date("2026-11-01"));
        assert_eq!(q.to_day, parse_date("2026-11-08"));
        assert_eq!(q.group_by, vec![Dim::Channel, Dim::Touchpoint]);
        assert!(q.include_bursts);
        for bad in [
            ("from", "yesterday"),
            ("to", "2026-13-01"),
            ("channel", "fax"),
            ("touchpoint", "check out"),
            ("group_by", "colour"),
            ("group_by", "channel,site,agent,day"),
            ("include_bursts", "yes"),
            ("locale", "xx"),
        ] {
            assert!(parse(&[bad]).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn saved_days_load_back_the_same() {
        let aggregates = Aggregates::default();
        for (i, body) in [
            r#"{"id":"aaaaaaaaaaaaaaaa01","survey":{"id":"core-cx","version":1},"channel":"kiosk","touchpoint":"branch-queue","answers":{"effort":2,"emotion":"angry"},"comment":"slow","locale":"fr","context":{"site_id":"branch-042","device_id":"kiosk-1","segment":"premium"},"submitted_at":"2026-11-22T10:00:00Z"}"#,
            r#"{"id":"aaaaaaaaaaaaaaaa02","survey":{"id":"core-cx","version":1},"channel":"agent","touchpoint":"billing","answers":{"confidence":5},"locale":"en","context":{"agent_id":"a-7"},"submitted_at":"2026-11-22T11:00:00Z"}"#,
        ]
        .iter()
        .enumerate()
        {
            let s = protocol::parse_submission(body.as_bytes()).expect("valid");
            aggregates.add(&s, u64::MAX / 2, i == 1);
        }
        let all = Query {
            include_bursts: true,
            group_by: vec![Dim::Channel, Dim::Site],
            ..Query::default()
        };
        let before = aggregates.query(&all);
        assert_eq!(before.total.responses, 2);
        assert_eq!(before.total.effort[1], 1);
        assert_eq!(before.total.confidence[4], 1);
        assert_eq!(before.total.comments, 1);
        assert_eq!(
            aggregates.query(&Query::default()).total.responses,
            1,
            "bursts are left out unless asked for"
        );
        let saved = aggregates.take_dirty();
        assert!(aggregates.take_dirty().is_empty());
        let loaded = Aggregates::default();
        for (day, bytes) in &saved {
            loaded.load_day(*day, bytes).expect("loads");
        }
        assert_eq!(loaded.query(&all), before);
        assert!(loaded.load_day(0, &saved[0].1[..10]).is_none());
    }

    /// What a reader of the export would compute by hand, with none of the code above: one line
    /// per record, keyed by the grouped fields' values.
    /// Groups (key values, counts) and the total.
    type Flat = (Vec<(Vec<Option<String>>, Counts)>, Counts);

    fn recompute(ndjson: &str, query: &Query) -> Flat {
        let mut groups: BTreeMap<Vec<Option<String>>, Counts> = BTreeMap::new();
        let mut total = Counts::default();
        for line in ndjson.lines() {
            let row: Value = serde_json::from_str(line).expect("a JSON line");
            let text = |v: &Value| v.as_str().map(str::to_owned);
            let millis = |v: &Value| {
                Timestamp::parse(v.as_str().expect("a time"))
                    .expect("RFC 3339")
                    .unix_millis()
            };
            let day = millis(&row["submitted_at"])
                .min(millis(&row["received_at"]))
                .div_euclid(DAY_MILLIS);
            let fields = [
                ("channel", text(&row["channel"])),
                ("touchpoint", text(&row["touchpoint"])),
                ("site", text(&row["context"]["site_id"])),
                ("agent", text(&row["context"]["agent_id"])),
                ("segment", text(&row["context"]["segment"])),
                ("locale", text(&row["locale"])),
                ("day", Some(date_of(day))),
                ("week", Some(week_label(day))),
            ];
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, v)| v.clone())
            };
            let wanted = [
                ("channel", query.channel.map(|c| c.as_str().to_owned())),
                ("touchpoint", query.touchpoint.clone()),
                ("site", query.site.clone()),
                ("agent", query.agent.clone()),
                ("segment", query.segment.clone()),
                ("locale", query.locale.clone()),
            ];
            let in_range =
                query.from_day.is_none_or(|f| day >= f) && query.to_day.is_none_or(|t| day < t);
            let burst = row["burst"].as_bool().expect("a burst field");
            if !in_range
                || (burst && !query.include_bursts)
                || wanted.iter().any(|(n, w)| w.is_some() && field(n) != *w)
            {
                continue;
            }
            let mut counts = Counts {
                responses: 1,
                ..Counts::default()
            };
            let answers = &row["answers"];
            if let Some(e) = answers["effort"].as_u64() {
                counts.effort[e as usize - 1] += 1;
            }
            if let Some(c) = answers["confidence"].as_u64() {
                counts.confidence[c as usize - 1] += 1;
            }
            if let Some(m) = answers["emotion"].as_str() {
                let at = ["angry", "frustrated", "neutral", "pleased", "delighted"]
                    .iter()
                    .position(|e| *e == m)
                    .expect("an emotion");
                counts.emotion[at] += 1;
            }
            counts.comments = u64::from(row.get("comment").is_some());
            total.add(&counts);
            if !query.group_by.is_empty() {
                let key = query.group_by.iter().map(|d| field(d.name())).collect();
                groups.entry(key).or_default().add(&counts);
            }
        }
        (groups.into_iter().collect(), total)
    }

    fn answered(aggregates: &Aggregates, query: &Query) -> Flat {
        let answer = aggregates.query(query);
        (
            answer
                .groups
                .into_iter()
                .map(|g| (g.key.into_iter().map(|(_, v)| v).collect(), g.counts))
                .collect(),
            answer.total,
        )
    }

    type Row = (
        (u8, u8, Option<u8>, Option<u8>, Option<u8>, u8),
        (Option<u8>, Option<u8>, Option<u8>, bool, Option<u8>),
        (u32, i32),
    );

    fn body(n: usize, row: &Row, base_millis: i64) -> (Value, u64) {
        let (
            (channel, touchpoint, site, agent, segment, locale),
            (effort, confidence, emotion, comment, device),
            (offset, skew),
        ) = *row;
        let mut answers = serde_json::Map::new();
        if let Some(e) = effort {
            answers.insert("effort".into(), json!(e));
        }
        if let Some(c) = confidence {
            answers.insert("confidence".into(), json!(c));
        }
        let emotion = match (effort, confidence) {
            (None, None) => Some(emotion.unwrap_or(2)), // at least one answer
            _ => emotion,
        };
        if let Some(m) = emotion {
            answers.insert(
                "emotion".into(),
                json!(protocol::Emotion::ALL[usize::from(m)].as_str()),
            );
        }
        let mut context = serde_json::Map::new();
        let mut put = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                context.insert(name.into(), json!(v));
            }
        };
        put("site_id", site.map(|s| format!("branch-{s}")));
        put("agent_id", agent.map(|a| format!("a-{a}")));
        put(
            "segment",
            segment.map(|s| ["standard", "premium", "business"][usize::from(s)].to_owned()),
        );
        put("device_id", device.map(|d| format!("kiosk-{d}")));
        // Seconds apart over a few days; some within the burst window of the one before.
        let submitted = base_millis + i64::from(offset) * 1000;
        let received = (submitted + i64::from(skew) * 1000).max(base_millis) as u64 * 1000;
        let channel = ["web", "kiosk", "agent"][usize::from(channel)];
        let touchpoint = ["checkout", "login", "billing"][usize::from(touchpoint)];
        let locale = protocol::instrument::LOCALE_CODES[usize::from(locale)];
        let mut value = json!({
            "id": format!("propstatsprop{n:06}"),
            "survey": {"id": "core-cx", "version": 1},
            "channel": channel,
            "touchpoint": touchpoint,
            "answers": answers,
            "locale": locale,
            "context": context,
            "submitted_at": Timestamp::from_unix_millis(submitted).as_str(),
        });
        if comment {
            value["comment"] = json!("a comment");
        }
        (value, received)
    }

    fn row() -> impl proptest::strategy::Strategy<Value = Row> {
        use proptest::{option, prelude::*, prop_oneof};
        (
            (
                0u8..3,
                0u8..3,
                option::of(0u8..2),
                option::of(0u8..2),
                option::of(0u8..3),
                0u8..5,
            ),
            (
                option::of(1u8..=7),
                option::of(1u8..=5),
                option::of(0u8..5),
                any::<bool>(),
                option::of(0u8..2),
            ),
            // Up to four days, in seconds; a receive time up to a day before (a clock running
            // ahead) or two days after (a queued answer).
            // Some crowd into the first seconds, so a device's answers fall in the burst window.
            (prop_oneof![0u32..345_600, 0u32..12], -86_400i32..172_800),
        )
    }

    fn queries(first_day: i64) -> Vec<Query> {
        let mut queries = Vec::new();
        let groupings: [&[Dim]; 6] = [
            &[],
            &[Dim::Channel],
            &[Dim::Touchpoint, Dim::Site],
            &[Dim::Day, Dim::Channel],
            &[Dim::Week, Dim::Segment, Dim::Agent],
            &[Dim::Locale],
        ];
        for (i, group_by) in groupings.into_iter().enumerate() {
            for include_bursts in [false, true] {
                queries.push(Query {
                    group_by: group_by.to_vec(),
                    include_bursts,
                    from_day: (i % 2 == 1).then_some(first_day + 1),
                    to_day: (i % 3 == 2).then_some(first_day + 3),
                    channel: (i == 4).then_some(Channel::Kiosk),
                    touchpoint: (i == 5).then(|| "login".to_owned()),
                    segment: (i == 1).then(|| "premium".to_owned()),
                    ..Query::default()
                });
            }
        }
        queries
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// For random answers, the stats equal a recomputation from the export: live, as recovered
        /// after a crash (saved days plus the records after them), after a clean reopen, and after
        /// a rebuild from the records.
        #[test]
        fn stats_equal_a_recomputation_from_the_export(mut rows in proptest::collection::vec(row(), 1..80)) {
            use crate::store::{SledStore, Store};
            let base = Timestamp::parse("2026-11-20T00:00:00Z").expect("a time").unix_millis();
            rows.sort_by_key(|r| r.2 .0); // a device's answers arrive in the order given
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SledStore::open(dir.path()).expect("open");
            // The stats are saved about once a second while records keep coming; a crash can keep
            // the days of the last save but not its floor.
            let mut first_floor = None;
            for (n, row) in rows.iter().enumerate() {
                if n == rows.len() / 3 {
                    store.save_stats().expect("saved");
                    first_floor = store.trees_meta(b"derived");
                }
                if n == rows.len() * 2 / 3 {
                    store.save_stats().expect("saved");
                }
                let (value, received) = body(n, row, base);
                let s = protocol::parse_submission(value.to_string().as_bytes()).expect("valid");
                store.put_at(&s, &s.to_json(), received).expect("put");
            }
            store.flush().expect("flush");
            store.flush().expect("a durable checkpoint");
            let mut ndjson = Vec::new();
            crate::read::export::write(&store, &crate::read::export::Filter::default(), crate::read::export::Format::Ndjson, &mut ndjson).expect("export");
            let ndjson = String::from_utf8(ndjson).expect("utf-8");
            let first_day = base.div_euclid(DAY_MILLIS) - 1;
            let check = |store: &SledStore| -> Result<(), proptest::test_runner::TestCaseError> {
                for query in queries(first_day) {
                    let aggregates = store.aggregates().expect("cells");
                    proptest::prop_assert_eq!(answered(aggregates, &query), recompute(&ndjson, &query), "{:?}", query);
                }
                Ok(())
            };
            check(&store)?;
            // What an open after a crash here recovers: the saved days, plus the records after
            // them counted again.
            store.set_meta(b"derived", first_floor);
            let recovered = Aggregates::default();
            proptest::prop_assert!(store.recover_into(&recovered).expect("recovered").is_some());
            for query in queries(first_day) {
                proptest::prop_assert_eq!(answered(&recovered, &query), recompute(&ndjson, &query), "{:?}", query);
            }
            drop(store);
            let store = (0..100)
                .find_map(|_| SledStore::open(dir.path()).ok().or_else(|| {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    None
                }))
                .expect("reopens");
            check(&store)?;
            store.rebuild_derived().expect("rebuild");
            check(&store)?;
        }
    }
}

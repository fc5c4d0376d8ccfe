//! A period's business view: the tally of the index's answers in it, per touchpoint and
//! outcome, and how it reads (JSON for `GET /v1/impact`, sentences for the dashboard and the
//! report).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{
    model::{wilson, Band, Slope, Sums, MIN_ANSWERS},
    Query,
};
use crate::{
    org::{outcomes::Currency, Organisation},
    stats::joins::Joined,
};

/// The three measures a fit is made on, each scaled to 0..1 over its answers.
pub const MEASURES: [&str; 3] = ["effort", "confidence", "emotion"];

/// One outcome at one touchpoint, over the period.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeView {
    pub id: String,
    pub name: String,
    /// What one costs (the organisation file's), when it says.
    pub cost_each: Option<f64>,
    /// Answers in each band whose interaction had the outcome at least once.
    pub with: [u64; 3],
    /// Occurrences without an amount of their own, in each band.
    pub occurrences: [u64; 3],
    /// The amounts occurrences brought themselves (`value`), in each band.
    pub values: [f64; 3],
    /// Sums for a line of the outcome on effort, confidence and emotion.
    pub sums: [Sums; 3],
}

/// One touchpoint over the period: its joinable answers by band, and each outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct TouchpointView {
    pub id: String,
    pub name: String,
    /// Answers with an interaction id, by band.
    pub answers: [u64; 3],
    /// Answers with an interaction id and no effort answer (in no band).
    pub no_effort: u64,
    pub outcomes: Vec<OutcomeView>,
}

/// The whole view.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub currency: Currency,
    pub touchpoints: Vec<TouchpointView>,
}

/// Tallies the answers of `query`'s period in `index`.
pub(super) fn tally(index: &Joined, query: &Query, org: Option<&Organisation>) -> View {
    // The outcomes shown: the file's, then any other reported, by id.
    let mut kinds: Vec<(String, String, Option<f64>)> = org
        .map(|o| {
            o.outcomes
                .iter()
                .map(|c| (c.id.clone(), c.name.clone(), Some(c.cost)))
                .collect()
        })
        .unwrap_or_default();
    let mut others: Vec<&str> = index
        .kinds
        .names()
        .filter(|n| !kinds.iter().any(|(id, _, _)| id == n))
        .collect();
    others.sort_unstable();
    kinds.extend(
        others
            .into_iter()
            .map(|n| (n.to_owned(), n.to_owned(), None)),
    );
    let position: HashMap<u32, usize> = kinds
        .iter()
        .enumerate()
        .filter_map(|(at, (id, _, _))| Some((index.kinds.get(id)?, at)))
        .collect();
    let wanted = query
        .touchpoint
        .as_deref()
        .map(|t| index.touchpoints.get(t));
    let blank = |id: &str| TouchpointView {
        id: id.to_owned(),
        name: org
            .and_then(|o| o.touchpoint(id))
            .map_or_else(|| id.to_owned(), |t| t.name.clone()),
        answers: [0; 3],
        no_effort: 0,
        outcomes: kinds
            .iter()
            .map(|(id, name, cost)| OutcomeView {
                id: id.clone(),
                name: name.clone(),
                cost_each: *cost,
                with: [0; 3],
                occurrences: [0; 3],
                values: [0.0; 3],
                sums: [Sums::default(); 3],
            })
            .collect(),
    };
    // By touchpoint number: its view, and the sums of each measure over its answers, which are
    // the same for every outcome; an outcome adds only where it happened (y = 1), so a
    // question costs a few additions per answer and a few more per answer with an outcome.
    let mut views: Vec<Option<TouchpointView>> = vec![None; index.touchpoints.len()];
    let mut measured = vec![[Sums::default(); 3]; index.touchpoints.len()];
    let mut had = vec![(false, 0u64, 0.0f64); kinds.len()];
    let period = index
        .answers
        .iter()
        .filter(|a| query.from_micros <= a.given_micros && a.given_micros < query.to_micros);
    for answer in period {
        let touchpoint = answer.touchpoint();
        if wanted.is_some_and(|w| w != Some(touchpoint)) {
            continue;
        }
        let at_touchpoint = touchpoint as usize;
        let view =
            views[at_touchpoint].get_or_insert_with(|| blank(index.touchpoints.name(touchpoint)));
        let (effort, confidence, emotion) =
            (answer.effort(), answer.confidence(), answer.emotion());
        let band = (effort > 0).then(|| Band::of(effort) as usize);
        match band {
            Some(b) => view.answers[b] += 1,
            None => view.no_effort += 1,
        }
        let xs = [
            (effort > 0).then(|| f64::from(effort - 1) / 6.0),
            (confidence > 0).then(|| f64::from(confidence - 1) / 4.0),
            (emotion > 0).then(|| f64::from(emotion - 1) / 4.0),
        ];
        for (sums, x) in measured[at_touchpoint].iter_mut().zip(xs) {
            if let Some(x) = x {
                sums.add(x, 0.0);
            }
        }
        if !index.had_any(answer.interaction) {
            continue;
        }
        had.iter_mut().for_each(|h| *h = (false, 0, 0.0));
        for happened in index.happened(answer.interaction) {
            if let Some(&at) = position.get(&happened.kind) {
                had[at].0 = true;
                match happened.value() {
                    Some(v) => had[at].2 += v,
                    None => had[at].1 += 1,
                }
            }
        }
        for (outcome, &(yes, occurrences, values)) in view.outcomes.iter_mut().zip(&had) {
            if !yes {
                continue;
            }
            if let Some(b) = band {
                outcome.with[b] += 1;
                outcome.occurrences[b] += occurrences;
                outcome.values[b] += values;
            }
            for (sums, x) in outcome.sums.iter_mut().zip(xs) {
                if let Some(x) = x {
                    sums.y += 1.0;
                    sums.xy += x;
                }
            }
        }
    }
    let mut touchpoints: Vec<TouchpointView> = Vec::new();
    for (view, measured) in views.into_iter().zip(&measured) {
        let Some(mut view) = view else { continue };
        for outcome in &mut view.outcomes {
            for (sums, m) in outcome.sums.iter_mut().zip(measured) {
                (sums.n, sums.x, sums.xx) = (m.n, m.x, m.xx);
            }
        }
        touchpoints.push(view);
    }
    touchpoints.sort_by(|a, b| a.id.cmp(&b.id));
    View {
        currency: org.map(|o| o.currency.clone()).unwrap_or_default(),
        touchpoints,
    }
}

/// A rate with its interval, as the page shows it: "30.0 % (18.1–45.4 %)".
pub fn rate_text(outcome: &OutcomeView, answers: &[u64; 3], band: Band) -> String {
    outcome.rate(answers, band).map_or_else(
        || "–".to_owned(),
        |(rate, (low, high))| {
            format!(
                "{:.1} % ({:.1}–{:.1} %)",
                rate * 100.0,
                low * 100.0,
                high * 100.0
            )
        },
    )
}

/// Whether an outcome happened at the touchpoint at all in the period.
pub fn happened(outcome: &OutcomeView) -> bool {
    outcome.with.iter().sum::<u64>() > 0
}

/// How the numbers are made, said once above them.
pub const EXPLAINED: &str = "Only answers that carry an interaction id (a call, an order, a ticket) are joined to the outcomes your systems sent for the same id. Each rate is the share of a band's answers whose interaction had the outcome at least once, with its 95 % Wilson interval. The cost is what the hard band's answers cost beyond what the same number would have cost at the easy band's cost per answer. Each fit is a straight line of the outcome on one measure (lowest answer to highest), with its 95 % interval; a measure moves the outcome when that interval leaves out zero.";

/// A share as a percentage with one decimal.
fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

impl OutcomeView {
    /// The share of `band`'s answers whose interaction had the outcome, with its Wilson interval.
    pub fn rate(&self, answers: &[u64; 3], band: Band) -> Option<(f64, (f64, f64))> {
        let (k, n) = (self.with[band as usize], answers[band as usize]);
        wilson(k, n).map(|interval| (k as f64 / n as f64, interval))
    }

    /// What the outcome cost per answer in `band`, when its cost is known.
    fn cost_per_answer(&self, answers: &[u64; 3], band: Band) -> Option<f64> {
        let b = band as usize;
        if answers[b] == 0 {
            return None;
        }
        let plain = match (self.occurrences[b], self.cost_each) {
            (0, _) => 0.0,
            (n, Some(cost)) => n as f64 * cost,
            (_, None) => return None,
        };
        Some((plain + self.values[b]) / answers[b] as f64)
    }

    /// Whether both hard and easy have enough answers to compare.
    fn comparable(answers: &[u64; 3]) -> bool {
        answers[Band::Hard as usize] >= MIN_ANSWERS && answers[Band::Easy as usize] >= MIN_ANSWERS
    }

    /// How many times as often the hard band had it as the easy band.
    pub fn ratio(&self, answers: &[u64; 3]) -> Option<f64> {
        if !Self::comparable(answers) {
            return None;
        }
        let (hard, _) = self.rate(answers, Band::Hard)?;
        let (easy, _) = self.rate(answers, Band::Easy)?;
        (easy > 0.0).then(|| hard / easy)
    }

    /// What the hard band's answers cost over the period beyond what they would have at the
    /// easy band's cost per answer.
    pub fn excess_cost(&self, answers: &[u64; 3]) -> Option<f64> {
        if !Self::comparable(answers) {
            return None;
        }
        let hard = self.cost_per_answer(answers, Band::Hard)?;
        let easy = self.cost_per_answer(answers, Band::Easy)?;
        Some((hard - easy) * answers[Band::Hard as usize] as f64)
    }

    /// The fit on each measure (`None`: too few answers to say).
    pub fn fits(&self) -> [Option<Slope>; 3] {
        self.sums.map(|s| s.fit())
    }

    /// The measure whose fitted line moves the outcome most, among those whose interval leaves
    /// out zero.
    pub fn moves_most(&self) -> Option<&'static str> {
        self.fits()
            .iter()
            .zip(MEASURES)
            .filter_map(|(fit, m)| fit.filter(Slope::clear).map(|f| (f.slope.abs(), m)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, m)| m)
    }

    /// The headline: how much more often customers who found it hard had the outcome, and
    /// what that cost; or why it cannot be said.
    pub fn sentence(&self, touchpoint: &str, answers: &[u64; 3], currency: &Currency) -> String {
        let (hard_n, easy_n) = (answers[Band::Hard as usize], answers[Band::Easy as usize]);
        if !Self::comparable(answers) {
            return format!(
                "Too few answers to say: {hard_n} found {touchpoint} hard and {easy_n} found it easy; at least {MIN_ANSWERS} of each are needed."
            );
        }
        let (Some((hard, _)), Some((easy, _))) = (
            self.rate(answers, Band::Hard),
            self.rate(answers, Band::Easy),
        ) else {
            return String::new();
        };
        let name = self.name.to_lowercase();
        let mut text = match self.ratio(answers) {
            Some(ratio) => format!(
                "Customers who found {touchpoint} hard had {name} {ratio:.1} times as often as those who found it easy ({} against {})",
                percent(hard),
                percent(easy)
            ),
            None => format!(
                "Customers who found {touchpoint} hard had {name} {} of the time; none of those who found it easy did",
                percent(hard)
            ),
        };
        match self.excess_cost(answers) {
            Some(cost) if cost > 0.0 => {
                text += &format!(": about {} over the period.", currency.format(cost))
            }
            Some(_) => text += ": no extra cost over the period.",
            None => text += ". (No cost for it in the organisation file.)",
        }
        text
    }

    /// What a fit says, in words: the line, its interval, or too few answers.
    pub fn fit_sentence(&self, measure: &str, fit: Option<Slope>, n: u64) -> String {
        match fit {
            None => format!("{measure}: too few answers to say ({n} answered it)."),
            Some(f) => format!(
                "{measure}: from the lowest answer to the highest, the rate of {} changes by {:+.1} points (95 % interval {:+.1} to {:+.1}; {n} answers){}",
                self.name.to_lowercase(),
                f.slope * 100.0,
                f.low * 100.0,
                f.high * 100.0,
                if f.clear() { "." } else { ": no clear link." }
            ),
        }
    }

    pub fn to_json(&self, touchpoint: &str, answers: &[u64; 3], currency: &Currency) -> Value {
        let bands: serde_json::Map<String, Value> = Band::ALL
            .iter()
            .map(|&band| {
                let b = band as usize;
                let rate = self.rate(answers, band);
                (
                    band.name().to_owned(),
                    json!({
                        "answers": answers[b],
                        "with_outcome": self.with[b],
                        "occurrences": self.occurrences[b],
                        "values": self.values[b],
                        "rate": rate.map(|r| r.0),
                        "interval": rate.map(|r| [r.1 .0, r.1 .1]),
                        "cost_per_answer": self.cost_per_answer(answers, band),
                    }),
                )
            })
            .collect();
        let fits: Vec<Value> = self
            .fits()
            .iter()
            .zip(MEASURES)
            .zip(&self.sums)
            .map(|((fit, measure), sums)| {
                json!({
                    "measure": measure,
                    "answers": sums.n,
                    "slope": fit.map(|f| f.slope),
                    "interval": fit.map(|f| [f.low, f.high]),
                    "clear": fit.map(|f| f.clear()),
                    "says": self.fit_sentence(measure, *fit, sums.n),
                })
            })
            .collect();
        json!({
            "outcome": self.id,
            "name": self.name,
            "cost_each": self.cost_each,
            "bands": bands,
            "ratio": self.ratio(answers),
            "excess_cost": self.excess_cost(answers),
            "says": self.sentence(touchpoint, answers, currency),
            "fits": fits,
            "moves_most": self.moves_most(),
        })
    }
}

impl View {
    pub fn to_json(&self) -> Value {
        json!({
            "currency": self.currency.code,
            "bands": Band::ALL.iter().map(|b| json!({"band": b.name(), "effort": b.meaning()})).collect::<Vec<_>>(),
            "min_answers": MIN_ANSWERS,
            "touchpoints": self.touchpoints.iter().map(|t| json!({
                "touchpoint": t.id,
                "name": t.name,
                "answers": {
                    "hard": t.answers[0],
                    "neutral": t.answers[1],
                    "easy": t.answers[2],
                    "no_effort": t.no_effort,
                },
                "outcomes": t.outcomes.iter().map(|o| o.to_json(&t.name, &t.answers, &self.currency)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

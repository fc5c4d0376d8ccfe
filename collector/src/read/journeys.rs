//! Journeys: each journey of the organisation file, its steps in the customer's order with their
//! measures over a period, the department that owns each step, and where it breaks — the step
//! furthest below the journey's own mean effort, and the step whose channels differ most.

use protocol::Channel;
use serde_json::{json, Value};

use crate::{
    org::{self, Organisation},
    stats::{Aggregates, Counts, Dim, Query},
};

/// Steps and channels with fewer answers than this are shown but never named as the break.
pub const MIN_ANSWERS: u64 = 5;

/// One step of a journey over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub touchpoint: String,
    pub name: String,
    pub department: String,
    pub counts: Counts,
    /// Each channel's counts at this step, in `Channel::ALL` order.
    pub channels: Vec<(Channel, Counts)>,
}

impl Step {
    /// The difference between this step's best and worst channel's mean effort, among channels
    /// with enough answers.
    pub fn channel_gap(&self) -> Option<f64> {
        let means: Vec<f64> = self
            .channels
            .iter()
            .filter(|(_, c)| c.responses >= MIN_ANSWERS)
            .filter_map(|(_, c)| c.effort_mean())
            .collect();
        (means.len() > 1).then(|| {
            means.iter().copied().fold(f64::MIN, f64::max)
                - means.iter().copied().fold(f64::MAX, f64::min)
        })
    }
}

/// A journey over a period, and where it breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyView {
    pub id: String,
    pub name: String,
    pub steps: Vec<Step>,
    /// The journey's mean effort over its steps' answers.
    pub effort_mean: Option<f64>,
    /// The index of the step furthest below the journey's mean effort.
    pub weakest_step: Option<usize>,
    /// The index of the step whose channels differ most in effort.
    pub widest_gap: Option<usize>,
}

/// Every journey of `org` over the days `from_day..to_day` (bursts left out).
pub fn journeys(
    aggregates: &Aggregates,
    org: &Organisation,
    from_day: i64,
    to_day: i64,
) -> Vec<JourneyView> {
    let answer = aggregates.query(&Query {
        from_day: Some(from_day),
        to_day: Some(to_day),
        group_by: vec![Dim::Touchpoint, Dim::Channel],
        ..Query::default()
    });
    let cell = |touchpoint: &str, channel: Channel| {
        answer
            .groups
            .iter()
            .find(|g| {
                g.get(Dim::Touchpoint) == Some(touchpoint)
                    && g.get(Dim::Channel) == Some(channel.as_str())
            })
            .map(|g| g.counts)
            .unwrap_or_default()
    };
    org.journeys
        .iter()
        .map(|journey| {
            let steps: Vec<Step> = journey
                .steps
                .iter()
                .map(|touchpoint| {
                    let channels: Vec<(Channel, Counts)> = Channel::ALL
                        .iter()
                        .map(|c| (*c, cell(touchpoint, *c)))
                        .collect();
                    let mut counts = Counts::default();
                    for (_, c) in &channels {
                        counts.add(c);
                    }
                    Step {
                        touchpoint: touchpoint.clone(),
                        name: org
                            .touchpoint(touchpoint)
                            .map_or_else(|| touchpoint.clone(), |t| t.name.clone()),
                        department: org::department_of(Some(org), Channel::Web, touchpoint)
                            .to_owned(),
                        counts,
                        channels,
                    }
                })
                .collect();
            let mut all = Counts::default();
            for step in &steps {
                all.add(&step.counts);
            }
            let effort_mean = all.effort_mean();
            let weakest_step = effort_mean.and_then(|mean| {
                steps
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.counts.responses >= MIN_ANSWERS)
                    .filter_map(|(i, s)| Some((i, s.counts.effort_mean()? - mean)))
                    .filter(|(_, below)| *below < 0.0)
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(i, _)| i)
            });
            let widest_gap = steps
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((i, s.channel_gap()?)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| i);
            JourneyView {
                id: journey.id.clone(),
                name: journey.name.clone(),
                steps,
                effort_mean,
                weakest_step,
                widest_gap,
            }
        })
        .collect()
}

impl JourneyView {
    /// The answer shape of `GET /v1/journeys`.
    pub fn to_json(&self) -> Value {
        let round = |m: Option<f64>| m.map(|m| (m * 100.0).round() / 100.0);
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let channels: serde_json::Map<String, Value> = s
                    .channels
                    .iter()
                    .map(|(c, counts)| (c.as_str().to_owned(), counts.to_json()))
                    .collect();
                let mut step = s.counts.to_json();
                step["touchpoint"] = json!(s.touchpoint);
                step["name"] = json!(s.name);
                step["department"] = json!(s.department);
                step["channels"] = Value::Object(channels);
                step["channel_gap"] = json!(round(s.channel_gap()));
                step
            })
            .collect();
        let at = |i: Option<usize>| i.map(|i| self.steps[i].touchpoint.clone());
        json!({
            "id": self.id,
            "name": self.name,
            "effort": {"mean": round(self.effort_mean)},
            "steps": steps,
            "breaks": {"weakest_step": at(self.weakest_step), "widest_channel_gap": at(self.widest_gap)},
        })
    }
}

//! The council report: what a customer-experience council goes through each period, in the order
//! it goes through it — first the actions from the last meeting (done, open, overdue), then the
//! overall measures against the previous period, each department's, the journeys and where they
//! break, the best practice to share (what improved most), the biggest movers, and the
//! lowest-scoring touchpoints with their comment themes and sample comments. Every figure comes
//! from the stats cells ([`crate::stats`]), so the report and `GET /v1/stats` agree (the themes
//! from the theme cells, as `GET /v1/themes`); only the sample comments are read from the
//! records. Where the caller asks, the business view of the period follows the lowest
//! touchpoints (from [`crate::impact`]). [`period`] reads the period; [`write`] writes the report as Markdown,
//! printable HTML or JSON from one outline, so the formats cannot drift apart.

pub mod period;
mod write;

use std::sync::Arc;

use protocol::Channel;

pub use self::period::Period;
pub use super::html::Stylesheet;
use crate::{
    org::{
        self,
        agenda::{Action, Standing},
        Organisation,
    },
    read::{
        journeys::{self, JourneyView},
        themes::{self, Themes},
    },
    stats::{self, query::Owners, Answer, Counts, Dim, Group, Query},
    store::{Store, StoreError, FLAG_BURST},
};

/// A line's key: one value per dimension it is grouped by.
pub type Key = Vec<(Dim, Option<String>)>;

/// One line of a report table: a period's counts against the previous period's.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub key: Key,
    /// What a reader calls it: a department's or touchpoint's name, with its channel.
    pub label: String,
    pub now: Counts,
    pub before: Counts,
}

/// Share of emotion answers that are pleased or delighted, in percent.
pub fn positive_share(c: &Counts) -> Option<f64> {
    let answered: u64 = c.emotion.iter().sum();
    (answered > 0).then(|| (c.emotion[3] + c.emotion[4]) as f64 * 100.0 / answered as f64)
}

impl Line {
    /// Change of the mean effort against the previous period.
    pub fn effort_change(&self) -> Option<f64> {
        Some(self.now.effort_mean()? - self.before.effort_mean()?)
    }

    /// The key's value in `dim`.
    pub fn get(&self, dim: Dim) -> Option<&str> {
        self.key
            .iter()
            .find(|(d, _)| *d == dim)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// A comment quoted in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub effort: Option<u64>,
    pub locale: String,
    pub text: String,
}

/// What improved most, to share: a line and what it is (a touchpoint, a site).
#[derive(Debug, Clone, PartialEq)]
pub struct Practice {
    pub what: &'static str,
    pub line: Line,
}

/// The report's content, before it is written out.
#[derive(Debug, Clone)]
pub struct Report {
    pub organisation: Option<Arc<Organisation>>,
    pub period: Period,
    pub previous: Period,
    /// The council's actions still to be reported on, as they stood at the period's end.
    pub actions: Vec<(Action, Standing)>,
    pub total: Line,
    pub departments: Vec<Line>,
    pub journeys: Vec<JourneyView>,
    pub best_practice: Vec<Practice>,
    pub touchpoints: Vec<Line>,
    /// The largest changes of mean effort, either way.
    pub movers: Vec<Line>,
    /// The lowest mean effort, with sample comments.
    pub lowest: Vec<(Line, Vec<Quote>)>,
    /// The business view of the period, when it was asked for ([`crate::impact`]).
    pub impact: Option<crate::impact::view::View>,
    /// The comment themes of each of `lowest`, in its order.
    pub lowest_themes: Vec<Themes>,
}

/// Themes the report gives each lowest-scoring touchpoint.
const THEMES_PER_LINE: usize = 5;

/// Lines with fewer answers than this are left out of movers, lowest and best practice: too few
/// to judge.
pub const MIN_ANSWERS: u64 = 5;

/// The lines of one grouping: its answer for the period and for the previous one, paired by
/// key, named by `label`: the period's groups in key order, then those only the previous period
/// has. Both answers list their groups in key order, so they are paired by walking them side by
/// side, and each key moves into its line without being copied or hashed.
fn lines(now: Answer, before: Answer, label: &dyn Fn(&Key) -> String) -> Vec<Line> {
    let order = |a: &Key, b: &Key| a.iter().map(|(_, v)| v).cmp(b.iter().map(|(_, v)| v));
    let line = |key: Key, now: Counts, before: Counts| Line {
        label: label(&key),
        key,
        now,
        before,
    };
    let mut lines = Vec::with_capacity(now.groups.len());
    let mut only_before = Vec::new();
    let mut earlier = before.groups.into_iter().peekable();
    for g in now.groups {
        let mut paired = Counts::default();
        while let Some(b) = earlier.next_if(|b| order(&b.key, &g.key).is_le()) {
            if order(&b.key, &g.key).is_eq() {
                paired = b.counts;
            } else {
                only_before.push(line(b.key, Counts::default(), b.counts));
            }
        }
        lines.push(line(g.key, g.counts, paired));
    }
    only_before.extend(earlier.map(|b| line(b.key, Counts::default(), b.counts)));
    lines.append(&mut only_before);
    lines
}

/// Whether a line has enough answers in both periods to be compared.
fn comparable(line: &Line) -> bool {
    line.now.responses >= MIN_ANSWERS && line.before.responses >= MIN_ANSWERS
}

/// Builds the report for `period` from the store's cells and actions, with departments and
/// journeys from `org` (the channels' departments without one); actions are judged as they
/// stood at the period's end, or on `today` while it runs. Sample comments from the records.
pub fn build(
    store: &dyn Store,
    period: &Period,
    org: Option<Arc<Organisation>>,
    today: i64,
) -> Result<Report, StoreError> {
    let aggregates = store.aggregates().ok_or(StoreError::NoStats)?;
    let owners = org.clone().map(Owners);
    let previous = period.previous();
    let get = |key: &Key, dim: Dim| {
        key.iter()
            .find(|(d, _)| *d == dim)
            .and_then(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let touchpoint_name = |id: &str| {
        org.as_deref()
            .and_then(|o| o.touchpoint(id))
            .map_or_else(|| id.to_owned(), |t| t.name.clone())
    };
    // Every grouping of both periods from one read of their cells, and only two of them hashed
    // per cell: touchpoints per channel (which also give the departments and the touchpoints
    // best practice looks at) and sites.
    let groupings: [&[Dim]; 2] = [&[Dim::Channel, Dim::Touchpoint], &[Dim::Site]];
    let query = |p: &Period, by: &[Dim]| Query {
        from_day: Some(p.from_day),
        to_day: Some(p.to_day),
        group_by: by.to_vec(),
        owners: owners.clone(),
        ..Query::default()
    };
    let queries: Vec<Query> = groupings
        .iter()
        .flat_map(|by| [query(period, by), query(&previous, by)])
        .collect();
    let mut answers = aggregates.query_all(&queries).into_iter();
    let mut next_pair = || {
        (
            answers.next().unwrap_or_default(),
            answers.next().unwrap_or_default(),
        )
    };
    let (touchpoints_now, touchpoints_before) = next_pair();
    let sites = next_pair();
    let department_of = |g: &Group| {
        let channel = g.get(Dim::Channel).and_then(|c| Channel::parse(c).ok());
        let department = match (channel, g.get(Dim::Touchpoint)) {
            (Some(channel), Some(touchpoint)) => {
                Some(org::department_of(org.as_deref(), channel, touchpoint).to_owned())
            }
            _ => None,
        };
        vec![(Dim::Department, department)]
    };
    let touchpoint_of =
        |g: &Group| vec![(Dim::Touchpoint, g.get(Dim::Touchpoint).map(String::from))];
    let (departments_now, departments_before) = (
        touchpoints_now.regroup(department_of),
        touchpoints_before.regroup(department_of),
    );
    let best_practice_answers = [
        (
            touchpoints_now.regroup(touchpoint_of),
            touchpoints_before.regroup(touchpoint_of),
        ),
        sites,
    ];
    let total = Line {
        key: Vec::new(),
        label: "All".to_owned(),
        now: departments_now.total,
        before: departments_before.total,
    };
    let mut departments = lines(departments_now, departments_before, &|key| {
        org::department_name(org.as_deref(), &get(key, Dim::Department))
    });
    let order: Vec<String> = org::departments(org.as_deref())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    departments.sort_by_key(|l| {
        order
            .iter()
            .position(|id| Some(id.as_str()) == l.get(Dim::Department))
            .unwrap_or(order.len())
    });
    let touchpoints = lines(touchpoints_now, touchpoints_before, &|key| {
        format!(
            "{} ({})",
            touchpoint_name(&get(key, Dim::Touchpoint)),
            get(key, Dim::Channel)
        )
    });
    // Movers and the weakest are a few lines out of thousands: chosen by reference, and only
    // those copied.
    let mut movers: Vec<&Line> = touchpoints
        .iter()
        .filter(|l| comparable(l))
        .filter(|l| l.effort_change().is_some_and(|c| c.abs() >= 0.05))
        .collect();
    movers.sort_by(|a, b| {
        let size = |l: &Line| l.effort_change().map_or(0.0, f64::abs);
        size(b).total_cmp(&size(a)).then(a.label.cmp(&b.label))
    });
    let movers: Vec<Line> = movers.into_iter().take(5).cloned().collect();
    let mut weakest: Vec<&Line> = touchpoints
        .iter()
        .filter(|l| l.now.responses >= MIN_ANSWERS && l.now.effort_mean().is_some())
        .collect();
    weakest.sort_by(|a, b| {
        let mean = |l: &Line| l.now.effort_mean().unwrap_or(f64::MAX);
        mean(a).total_cmp(&mean(b)).then(a.label.cmp(&b.label))
    });
    let weakest: Vec<Line> = weakest.into_iter().take(3).cloned().collect();
    let quotes = sample_comments(store, period, &weakest, 3)?;
    let lowest_themes = weakest
        .iter()
        .map(|line| {
            let query = Query {
                channel: line.get(Dim::Channel).and_then(|c| Channel::parse(c).ok()),
                touchpoint: line.get(Dim::Touchpoint).map(str::to_owned),
                ..Query::default()
            };
            themes::themes(
                store,
                &query,
                period.from_day,
                period.to_day,
                THEMES_PER_LINE,
                0,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let lowest = weakest.into_iter().zip(quotes).collect();
    let best_practice = [("touchpoint", Dim::Touchpoint), ("site", Dim::Site)]
        .into_iter()
        .zip(best_practice_answers)
        .filter_map(|((what, dim), (now, before))| {
            lines(now, before, &|key| {
                let value = get(key, dim);
                if dim == Dim::Touchpoint {
                    touchpoint_name(&value)
                } else {
                    value
                }
            })
            .into_iter()
            .filter(|l| l.get(dim).is_some() && comparable(l))
            .filter(|l| l.effort_change().is_some_and(|c| c >= 0.05))
            .max_by(|a, b| {
                a.effort_change()
                    .unwrap_or(0.0)
                    .total_cmp(&b.effort_change().unwrap_or(0.0))
                    .then(b.label.cmp(&a.label))
            })
            .map(|line| Practice { what, line })
        })
        .collect();
    let journeys = org
        .as_deref()
        .map(|o| journeys::journeys(aggregates, o, period.from_day, period.to_day))
        .unwrap_or_default();
    let as_of = stats::date_of(today.min(period.to_day - 1));
    let start = stats::date_of(period.from_day);
    let end = stats::date_of(period.to_day);
    let actions = store
        .actions()?
        .into_iter()
        .filter(|a| a.recorded_on() < end.as_str())
        .filter(|a| a.closed_on().is_none_or(|closed| closed >= start.as_str()))
        .map(|a| {
            let standing = a.standing(&as_of);
            (a, standing)
        })
        .collect();
    Ok(Report {
        organisation: org,
        period: period.clone(),
        previous,
        actions,
        total,
        departments,
        journeys,
        best_practice,
        touchpoints,
        movers,
        lowest,
        impact: None,
        lowest_themes,
    })
}

/// Up to `per_line` comments for each line, from the period's records (bursts left out), the
/// hardest experiences first.
fn sample_comments(
    store: &dyn Store,
    period: &Period,
    lines: &[Line],
    per_line: usize,
) -> Result<Vec<Vec<Quote>>, StoreError> {
    const DAY_MICROS: u64 = 86_400_000_000;
    let mut found: Vec<Vec<Quote>> = vec![Vec::new(); lines.len()];
    if lines.is_empty() {
        return Ok(found);
    }
    // Records are keyed by receive time, which is never before the day answered; queued answers
    // may arrive up to a week late.
    let from = u64::try_from(period.from_day).unwrap_or(0) * DAY_MICROS;
    let to = (u64::try_from(period.to_day).unwrap_or(0) + 7) * DAY_MICROS;
    store.scan(from, to, &mut |record| {
        // The cheap tests first: most records are at another touchpoint.
        let Some(at) = lines.iter().position(|l| {
            l.get(Dim::Touchpoint) == Some(record.touchpoint)
                && l.get(Dim::Channel) == Some(record.channel.as_str())
        }) else {
            return true;
        };
        if record.flags & FLAG_BURST != 0 || !record.json.contains("\"comment\":") {
            return true;
        }
        let Ok(s) = protocol::parse_submission(record.json.as_bytes()) else {
            return true;
        };
        let day = stats::day_of(s.submitted_at.unix_millis(), record.received_micros);
        if (period.from_day..period.to_day).contains(&day) {
            if let Some(comment) = &s.comment {
                found[at].push(Quote {
                    effort: s.answers.effort().map(|e| u64::from(e.get())),
                    locale: s.locale.as_str().to_owned(),
                    text: comment.as_str().to_owned(),
                });
            }
        }
        true
    })?;
    for quotes in &mut found {
        quotes.sort_by_key(|q| q.effort.unwrap_or(8));
        quotes.truncate(per_line);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Markdown report of a fixed week of the demo data with the demo bank's organisation
    /// and an action from the last meeting, checked in: a change to the report's figures or
    /// layout shows up as a diff to review.
    #[test]
    fn markdown_report_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::SledStore::open(dir.path()).expect("open");
        // 2026-11-23T00:00:00Z: eight weeks of demo answers up to the end of 2026-W47.
        crate::demo::seed(&store, 3000, 56, 1_795_392_000_000_000).expect("seeded");
        let org = Organisation::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../demo-site/northbank.toml"
        )))
        .expect("the demo organisation");
        let mut done = Action::record(
            "1".into(),
            "Give call agents the fault checklist",
            "call-centre",
            Some("fault-call"),
            "2026-11-20",
            "2026-11-09T10:00:00Z".into(),
        )
        .expect("an action");
        done.close(
            "In the call script since 18 Nov",
            "2026-11-18T09:00:00Z".into(),
        )
        .expect("closed");
        store.put_action(&done).expect("kept");
        let late = Action::record(
            "2".into(),
            "More staff at branch-017 on Saturdays",
            "branches",
            None,
            "2026-11-19",
            "2026-11-09T10:05:00Z".into(),
        )
        .expect("an action");
        store.put_action(&late).expect("kept");
        let period = Period::parse("2026-W47").expect("a week");
        let report = build(&store, &period, Some(Arc::new(org)), period.to_day + 3).expect("built");
        insta::assert_snapshot!(report.to_markdown());
    }
}

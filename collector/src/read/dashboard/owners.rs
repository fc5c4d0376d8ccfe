//! The dashboard's views by owner: each department's touchpoints (weakest first, with their
//! change against the previous period), the touchpoints no department owns yet, and each
//! journey as a row of steps coloured by effort, where it breaks marked in words too.

use std::{collections::BTreeMap, fmt::Write as _};

use protocol::Channel;

use super::{
    busiest_note, busiest_rows,
    charts::{fmt_change, fmt_mean},
    View,
};
use crate::{
    org::{self, Organisation},
    read::{
        html::escape,
        journeys::{self, MIN_ANSWERS},
        report::positive_share,
    },
    stats::{Aggregates, Answer, Counts, Dim},
};

/// Each touchpoint's counts over a query grouped by touchpoint and channel, gathered by the
/// department that owns it: department id → touchpoint → counts.
fn by_department(
    answer: &crate::stats::Answer,
    org: Option<&Organisation>,
) -> BTreeMap<String, BTreeMap<String, Counts>> {
    let mut departments: BTreeMap<String, BTreeMap<String, Counts>> = BTreeMap::new();
    for group in &answer.groups {
        let (Some(touchpoint), Some(channel)) = (
            group.get(Dim::Touchpoint),
            group.get(Dim::Channel).and_then(|c| Channel::parse(c).ok()),
        ) else {
            continue;
        };
        let department = org::department_of(org, channel, touchpoint);
        departments
            .entry(department.to_owned())
            .or_default()
            .entry(touchpoint.to_owned())
            .or_default()
            .add(&group.counts);
    }
    departments
}

/// Touchpoints a department's table shows: its weakest.
const DEPARTMENT_ROWS: usize = 20;
/// Unassigned touchpoints listed: the busiest.
const UNASSIGNED_ROWS: usize = 50;

/// The departments section, and the unassigned touchpoints when a file is in force, from the
/// view's and the previous period's answers grouped by touchpoint and channel.
pub(super) fn departments(
    out: &mut String,
    matrix: &Answer,
    matrix_before: &Answer,
    org: Option<&Organisation>,
) {
    let now = by_department(matrix, org);
    let before = by_department(matrix_before, org);
    out.push_str("<section class=\"panel\" id=\"departments\"><h2>Departments</h2>\n<p class=\"note\">Each department's touchpoints, weakest effort first (1 very difficult – 7 very easy), against the previous period.</p>\n<div class=\"departments\">\n");
    for (id, name) in org::departments(org) {
        let touchpoints = now.get(&id);
        let _ = write!(out, "<div class=\"department\"><h3>{}</h3>", escape(&name));
        let Some(touchpoints) = touchpoints.filter(|t| !t.is_empty()) else {
            out.push_str("<p class=\"note\">No answers in this view.</p></div>\n");
            continue;
        };
        let mut rows: Vec<(&String, &Counts)> = touchpoints.iter().collect();
        rows.sort_by(|a, b| {
            a.1.effort_mean()
                .unwrap_or(f64::MAX)
                .total_cmp(&b.1.effort_mean().unwrap_or(f64::MAX))
        });
        if rows.len() > DEPARTMENT_ROWS {
            let _ = writeln!(
                out,
                "<p class=\"note\">The {DEPARTMENT_ROWS} weakest of its {} touchpoints in this view.</p>",
                rows.len()
            );
            rows.truncate(DEPARTMENT_ROWS);
        }
        out.push_str("<div class=\"scroll\"><table class=\"owned\"><thead><tr><th scope=\"col\">touchpoint</th><th scope=\"col\">n</th><th scope=\"col\">effort</th><th scope=\"col\">confidence</th><th scope=\"col\">pleased or delighted</th><th scope=\"col\">change in effort</th></tr></thead><tbody>\n");
        for (touchpoint, counts) in rows {
            let previous = before
                .get(&id)
                .and_then(|t| t.get(touchpoint))
                .and_then(Counts::effort_mean);
            let (change, class) = fmt_change(counts.effort_mean(), previous, "");
            let _ = writeln!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
                escape(org.and_then(|o| o.touchpoint(touchpoint)).map_or(touchpoint, |t| &t.name)),
                counts.responses,
                fmt_mean(counts.effort_mean()),
                fmt_mean(counts.confidence_mean()),
                positive_share(counts).map_or_else(|| "–".to_owned(), |p| format!("{p:.0} %")),
                escape(change.trim_end_matches(" vs previous")),
            );
        }
        out.push_str("</tbody></table></div></div>\n");
    }
    out.push_str("</div>\n");
    if let Some(unassigned) = now.get(org::UNASSIGNED).filter(|_| org.is_some()) {
        out.push_str("<h3>Answered, but owned by no department</h3>\n<p class=\"note\">Touchpoints whose tags send answers but which the organisation file does not declare: their answers are kept; declare them to give them an owner.</p>\n");
        let (shown, all) = busiest_rows(
            unassigned.iter().map(|(t, c)| (t.clone(), *c)).collect(),
            UNASSIGNED_ROWS,
        );
        busiest_note(out, shown.len(), all, "unassigned touchpoints");
        out.push_str("<ul class=\"unassigned\">");
        for (touchpoint, counts) in &shown {
            let _ = write!(
                out,
                "<li><code>{}</code> — {} answers</li>",
                escape(touchpoint),
                counts.responses
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

/// Each journey of the file as a row of steps, left to right, coloured by effort and labelled
/// with it, the step where it breaks marked in words.
pub(super) fn journeys(
    out: &mut String,
    aggregates: &Aggregates,
    view: &View,
    org: Option<&Organisation>,
) {
    let Some(org) = org.filter(|o| !o.journeys.is_empty()) else {
        return;
    };
    out.push_str("<section class=\"panel\" id=\"journeys\"><h2>Journeys</h2>\n<p class=\"note\">Each journey's steps in the customer's order: mean effort (1 very difficult – 7 very easy), answers, owner. The step furthest below the journey's own mean is marked as where it breaks; steps with fewer than 5 answers are never marked.</p>\n");
    for journey in journeys::journeys(aggregates, org, view.from, view.to) {
        let _ = write!(
            out,
            "<h3>{} <small>mean effort {}</small></h3>\n<ol class=\"journey\" aria-label=\"{}\">",
            escape(&journey.name),
            fmt_mean(journey.effort_mean),
            escape(&journey.name)
        );
        for (i, step) in journey.steps.iter().enumerate() {
            let mean = step.counts.effort_mean();
            let heat = mean.map_or_else(
                || "none".to_owned(),
                |m| format!("h{}", m.round().clamp(1.0, 7.0)),
            );
            let mut marks = String::new();
            if journey.weakest_step == Some(i) {
                marks.push_str("<span class=\"badge\">breaks here</span>");
            }
            if journey.widest_gap == Some(i) {
                let _ = write!(
                    marks,
                    "<span class=\"gap\">channels differ by {}</span>",
                    fmt_mean(step.channel_gap())
                );
            }
            let few = if step.counts.responses < MIN_ANSWERS {
                " (few answers)"
            } else {
                ""
            };
            let _ = write!(
                out,
                "<li class=\"step {heat}\"><strong>{}</strong><span>effort {}</span><small>n={}{few} · {}</small>{marks}</li>",
                escape(&step.name),
                fmt_mean(mean),
                step.counts.responses,
                escape(&org::department_name(Some(org), &step.department)),
            );
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</section>\n");
}

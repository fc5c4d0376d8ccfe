//! The dashboard's sections, top to bottom: filters, headline tiles, trends, the touchpoint ×
//! channel matrix, the bars (segments, sites, emotions) and the latest comments. Each writes its
//! HTML into the page.

use std::{collections::HashMap, fmt::Write as _};

use protocol::Channel;

use super::charts::{effort_bars, emotion_bars, fmt_change, fmt_mean, line_chart, options, tile};
use super::{busiest_note, busiest_rows, latest_comments, rows_of, values, View};
use crate::{
    read::{
        html::escape,
        report::{self, positive_share, MIN_ANSWERS},
    },
    stats::{self, Aggregates, Answer, Counts, Dim},
    store::{Store, StoreError},
};

/// Touchpoints the matrix shows: the busiest in the view, and those holding a weakest cell.
pub(super) const MATRIX_ROWS: usize = 50;
/// Bars per chart of segments or of sites: the busiest in the view.
const BAR_ROWS: usize = 20;

/// Filters: a GET form, so the view is its URL.
pub(super) fn filters(out: &mut String, aggregates: &Aggregates, view: &View) {
    out.push_str("<section class=\"panel no-print\" aria-label=\"Filters\"><form class=\"filters\" method=\"get\" action=\"/dashboard\">\n");
    let _ = writeln!(
        out,
        "<label>From<input type=\"date\" name=\"from\" value=\"{}\"></label>\n<label>To (excluded)<input type=\"date\" name=\"to\" value=\"{}\"></label>",
        stats::date_of(view.from),
        stats::date_of(view.to)
    );
    let channels: Vec<String> = Channel::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    let q = &view.query;
    options(
        out,
        "channel",
        "Channel",
        &channels,
        q.channel.map(|c| c.as_str()),
    );
    let mut more = Vec::new();
    for (name, label, dim, chosen) in [
        ("touchpoint", "Touchpoint", Dim::Touchpoint, &q.touchpoint),
        ("site", "Site", Dim::Site, &q.site),
        ("segment", "Segment", Dim::Segment, &q.segment),
    ] {
        let (values, of) = values(aggregates, dim, chosen.as_deref());
        options(out, name, label, &values, chosen.as_deref());
        if of > values.len() {
            more.push(format!("{of} {name}s"));
        }
    }
    let _ = write!(
        out,
        "<label>Comments<select name=\"comments\"><option value=\"all\">all</option><option value=\"difficult\"{}>difficult (effort ≤ 3)</option></select></label>\n\
         <label>Bursts<select name=\"include_bursts\"><option value=\"false\">left out</option><option value=\"true\"{}>counted</option></select></label>\n\
         <button type=\"submit\">Apply</button></form>\n<p class=\"shortcuts\">",
        if view.difficult_only { " selected" } else { "" },
        if q.include_bursts { " selected" } else { "" }
    );
    for days in [7, 28, 91] {
        let _ = write!(
            out,
            "<a href=\"{}\">last {days} days</a>",
            escape(&view.link(&[
                ("from", Some(stats::date_of(view.to - days))),
                ("to", Some(stats::date_of(view.to))),
            ]))
        );
    }
    if !more.is_empty() {
        let _ = write!(
            out,
            "</p>\n<p class=\"note\">The menus offer the busiest of {}; for any other, put its name in the address (<code>touchpoint=…</code>, <code>site=…</code>, <code>segment=…</code>).</p>\n<p class=\"shortcuts\">",
            more.join(", ")
        );
    }
    let week = report::Period::week_of(view.to - 1);
    let month = stats::date_of(view.to - 1)[..7].to_owned();
    let _ = writeln!(
        out,
        "<a href=\"/dashboard/report?period={0}\">council report {0}</a><a href=\"/dashboard/report?period={1}\">council report {1}</a><a href=\"/dashboard\">reset</a></p></section>",
        escape(&week.label),
        escape(&month)
    );
}

/// Headline tiles.
pub(super) fn tiles(out: &mut String, total_now: &Counts, total_before: &Counts) {
    out.push_str("<section class=\"tiles\" aria-label=\"Headline\">\n");
    tile(
        out,
        "Responses",
        total_now.responses.to_string(),
        (
            format!("{} in the previous period", total_before.responses),
            "flat",
        ),
    );
    tile(
        out,
        "Effort (1 very difficult – 7 very easy)",
        fmt_mean(total_now.effort_mean()),
        fmt_change(total_now.effort_mean(), total_before.effort_mean(), ""),
    );
    tile(
        out,
        "Confidence (1–5)",
        fmt_mean(total_now.confidence_mean()),
        fmt_change(
            total_now.confidence_mean(),
            total_before.confidence_mean(),
            "",
        ),
    );
    tile(
        out,
        "Emotion: pleased or delighted",
        positive_share(total_now).map_or_else(|| "–".to_owned(), |p| format!("{p:.0} %")),
        fmt_change(
            positive_share(total_now),
            positive_share(total_before),
            " pts",
        ),
    );
    out.push_str("</section>\n");
}

/// Trends per channel: by day over a month or less, by ISO week beyond.
/// What the trends are counted by: days over a month or less, ISO weeks beyond.
pub(super) fn trend_bucket(view: &View) -> Dim {
    if view.to - view.from <= 31 {
        Dim::Day
    } else {
        Dim::Week
    }
}

/// `trend` is the view's answer by [`trend_bucket`] and channel.
pub(super) fn trends(out: &mut String, view: &View, trend: &Answer) {
    let bucket = trend_bucket(view);
    let by_day = bucket == Dim::Day;
    let mut labels: Vec<String> = Vec::new();
    for day in view.from..view.to {
        let label = if by_day {
            stats::date_of(day)[5..].to_owned()
        } else {
            stats::week_label(day)
        };
        if labels.last() != Some(&label) {
            labels.push(label);
        }
    }
    // A day's group reads `2026-11-22`, its label `11-22`; a week's group is its label.
    let by_label: HashMap<(&str, &str), &Counts> = trend
        .groups
        .iter()
        .filter_map(|g| {
            let b = g.get(bucket)?;
            let label = if by_day { b.get(5..)? } else { b };
            Some(((g.get(Dim::Channel)?, label), &g.counts))
        })
        .collect();
    let series_of = |pick: &dyn Fn(&Counts) -> Option<f64>| -> Vec<(&str, Vec<Option<f64>>)> {
        Channel::ALL
            .iter()
            .map(|c| {
                let values = labels
                    .iter()
                    .map(|label| {
                        by_label
                            .get(&(c.as_str(), label.as_str()))
                            .and_then(|counts| pick(counts))
                    })
                    .collect();
                (c.as_str(), values)
            })
            .collect()
    };
    out.push_str(
        "<div class=\"grid\">\n<section class=\"panel\"><h2>Effort over time, per channel</h2>\n",
    );
    line_chart(
        out,
        "Mean effort per channel over time (1 very difficult – 7 very easy)",
        &labels,
        &series_of(&Counts::effort_mean),
        (1.0, 7.0),
    );
    out.push_str("<ul class=\"legend\"><li><span class=\"key k-web\"></span>web</li><li><span class=\"key k-kiosk\"></span>kiosk</li><li><span class=\"key k-agent\"></span>agent</li></ul></section>\n");
    out.push_str("<section class=\"panel\"><h2>Confidence over time, per channel</h2>\n");
    line_chart(
        out,
        "Mean confidence per channel over time (1–5)",
        &labels,
        &series_of(&Counts::confidence_mean),
        (1.0, 5.0),
    );
    out.push_str("<ul class=\"legend\"><li><span class=\"key k-web\"></span>web</li><li><span class=\"key k-kiosk\"></span>kiosk</li><li><span class=\"key k-agent\"></span>agent</li></ul></section>\n</div>\n");
}

/// The counts of a touchpoint × channel answer, by (touchpoint, channel).
fn by_cell(answer: &Answer) -> HashMap<(&str, &str), Counts> {
    answer
        .groups
        .iter()
        .filter_map(|g| Some(((g.get(Dim::Touchpoint)?, g.get(Dim::Channel)?), g.counts)))
        .collect()
}

/// The channel × touchpoint matrix.
/// `matrix` and `matrix_before` are the view's and the previous period's answers grouped by
/// touchpoint and channel.
pub(super) fn matrix(out: &mut String, matrix: &Answer, matrix_before: &Answer) {
    let mut ranked: Vec<(f64, &str, &str)> = matrix
        .groups
        .iter()
        .filter(|g| g.counts.responses >= MIN_ANSWERS)
        .filter_map(|g| {
            Some((
                g.counts.effort_mean()?,
                g.get(Dim::Touchpoint)?,
                g.get(Dim::Channel)?,
            ))
        })
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let weakest: Vec<(&str, &str)> = ranked.iter().take(3).map(|r| (r.1, r.2)).collect();
    let (now, before) = (by_cell(matrix), by_cell(matrix_before));
    // Each touchpoint's responses over its channels, in name order (the groups' order).
    let mut totals: Vec<(String, Counts)> = Vec::new();
    for g in &matrix.groups {
        let Some(t) = g.get(Dim::Touchpoint) else {
            continue;
        };
        match totals.last_mut() {
            Some((last, counts)) if last == t => counts.add(&g.counts),
            _ => totals.push((t.to_owned(), g.counts)),
        }
    }
    let (shown, all) = busiest_rows(totals, MATRIX_ROWS);
    let mut touchpoints: Vec<&str> = shown.iter().map(|(t, _)| t.as_str()).collect();
    for (t, _) in &weakest {
        if !touchpoints.contains(t) {
            touchpoints.push(t);
        }
    }
    touchpoints.sort_unstable();
    out.push_str("<section class=\"panel\"><h2>Effort by touchpoint and channel</h2>\n<p class=\"note\">Mean effort (1 very difficult – 7 very easy), responses below it, change against the previous period. The three weakest cells with at least 5 responses are marked; the gap is the difference between a touchpoint's best and worst channel.</p>\n");
    if all > touchpoints.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\">The {} busiest of the {all} touchpoints in this view, and those with a weakest cell; choose a touchpoint in the filters to see any other.</p>",
            shown.len()
        );
    }
    out.push_str("<div class=\"scroll\"><table class=\"matrix\">\n<thead><tr><th scope=\"col\">touchpoint</th>");
    for c in Channel::ALL {
        let _ = write!(out, "<th scope=\"col\">{}</th>", c.as_str());
    }
    out.push_str("<th scope=\"col\">gap between channels</th></tr></thead>\n<tbody>\n");
    for t in &touchpoints {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(t));
        let mut means = Vec::new();
        for c in Channel::ALL {
            let key = (*t, c.as_str());
            match now.get(&key).filter(|c| c.responses > 0) {
                Some(counts) => {
                    let mean = counts.effort_mean();
                    if counts.responses >= MIN_ANSWERS {
                        means.extend(mean);
                    }
                    let heat = mean.map_or_else(
                        || "none".to_owned(),
                        |m| format!("h{}", m.round().clamp(1.0, 7.0)),
                    );
                    let change =
                        fmt_change(mean, before.get(&key).and_then(Counts::effort_mean), "");
                    let badge = if weakest.contains(&key) {
                        "<span class=\"badge\">weakest</span>"
                    } else {
                        ""
                    };
                    let _ = write!(
                        out,
                        "<td class=\"cell {heat}\">{}{badge}<small>n={} · {}</small></td>",
                        fmt_mean(mean),
                        counts.responses,
                        escape(change.0.trim_end_matches(" vs previous"))
                    );
                }
                None => out.push_str("<td class=\"cell none\">–</td>"),
            }
        }
        let gap = (means.len() > 1).then(|| {
            means.iter().copied().fold(f64::MIN, f64::max)
                - means.iter().copied().fold(f64::MAX, f64::min)
        });
        let _ = writeln!(
            out,
            "<td>{}</td></tr>",
            gap.map_or_else(|| "–".to_owned(), |g| format!("{g:.2}"))
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

/// Segments, sites, emotion mix, from the view's answers by segment, by site, and by touchpoint
/// and channel (`matrix`).
pub(super) fn bars(out: &mut String, segments: &Answer, sites: &Answer, matrix: &Answer) {
    out.push_str(
        "<div class=\"grid bars\">\n<section class=\"panel\"><h2>Effort by segment</h2>\n",
    );
    let (segment_rows, all) =
        busiest_rows(rows_of(segments, Dim::Segment, "(not given)"), BAR_ROWS);
    busiest_note(out, segment_rows.len(), all, "segments");
    effort_bars(out, "Mean effort by customer segment", &segment_rows);
    out.push_str("</section>\n<section class=\"panel\"><h2>Effort by site</h2>\n");
    let site_rows: Vec<(String, Counts)> = rows_of(sites, Dim::Site, "")
        .into_iter()
        .filter(|(s, _)| !s.is_empty())
        .collect();
    let (site_rows, all) = busiest_rows(site_rows, BAR_ROWS);
    if site_rows.is_empty() {
        out.push_str("<p class=\"note\">No answers with a site in this view.</p>\n");
    } else {
        busiest_note(out, site_rows.len(), all, "sites");
        effort_bars(out, "Mean effort by site", &site_rows);
    }
    out.push_str("</section>\n<section class=\"panel\"><h2>Emotion mix</h2>\n");
    let mut by_channel: std::collections::BTreeMap<&str, Counts> = Default::default();
    for g in &matrix.groups {
        if let Some(channel) = g.get(Dim::Channel) {
            by_channel.entry(channel).or_default().add(&g.counts);
        }
    }
    let mut emotion_rows: Vec<(String, Counts)> = by_channel
        .into_iter()
        .map(|(c, counts)| (c.to_owned(), counts))
        .collect();
    emotion_rows.push(("all channels".to_owned(), matrix.total));
    emotion_bars(out, "Emotion mix per channel, in percent", &emotion_rows);
    out.push_str("</section>\n</div>\n");
}

/// Latest comments, as text.
pub(super) fn comments(out: &mut String, store: &dyn Store, view: &View) -> Result<(), StoreError> {
    let comments = latest_comments(store, view, 20)?;
    let _ = writeln!(
        out,
        "<section class=\"panel\"><h2>Latest comments{}</h2>",
        if view.difficult_only {
            " (difficult experiences)"
        } else {
            ""
        }
    );
    if comments.is_empty() {
        out.push_str("<p class=\"note\">No comments in this view.</p>\n");
    }
    out.push_str("<ul class=\"comments\">\n");
    for c in &comments {
        let effort = c.effort.map_or_else(|| "–".to_owned(), |e| e.to_string());
        let _ = writeln!(
            out,
            "<li lang=\"{0}\" dir=\"auto\">{1}<span class=\"meta\">{2} · {3} · {4} · effort {5} · {0}</span></li>",
            c.locale,
            escape(&c.text),
            stats::date_of(c.day),
            c.channel.as_str(),
            escape(&c.touchpoint),
            effort
        );
    }
    out.push_str("</ul></section>\n");
    Ok(())
}

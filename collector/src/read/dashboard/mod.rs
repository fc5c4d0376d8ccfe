//! The CX dashboard: server-rendered HTML with SVG charts, no JavaScript at all. Filters are a GET
//! form, so every view is a URL; comments are escaped text. Every figure comes from the stats
//! cells; the latest comments are read from the records, the comment themes from the theme cells
//! ([`themes`]); the alerts and the endpoints' delivery logs from what the delivery thread keeps. The page is built by [`render`] from
//! the [`sections`], which draw with [`charts`]; the sign-in session is HTTP's (`http::session`).

pub mod agenda;
mod alerts;
mod charts;
pub mod impact;
mod owners;
mod sections;
mod themes;

use std::fmt::Write as _;

use protocol::Channel;

use crate::{
    clock,
    org::Organisation,
    read::html::{escape, head, Stylesheet},
    stats::{self, Aggregates, Answer, BadQuery, Counts, Dim, Query},
    store::{Store, StoreError, FLAG_BURST},
};

/// The sign-in form; `error` says why the last attempt failed.
pub fn sign_in_page(error: Option<&str>) -> String {
    let mut out = String::new();
    head(
        &mut out,
        "Sign in — Touchpoint dashboard",
        Stylesheet::DASHBOARD,
    );
    out.push_str("</head>\n");
    out.push_str("<body>\n<main>\n<form class=\"panel signin\" method=\"post\" action=\"/dashboard/session\">\n<h1>Touchpoint dashboard</h1>\n");
    if let Some(error) = error {
        let _ = writeln!(
            out,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    out.push_str(
        "<label for=\"token\">Admin token</label>\n\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\n\
         <p><button type=\"submit\">Sign in</button></p>\n\
         <p class=\"note\">The token is sent once, in this form's body; a session cookie keeps you signed in for 12 hours.</p>\n\
         </form>\n</main>\n</body>\n</html>\n",
    );
    out
}

/// A page that says why the dashboard could not show what was asked, with a way back.
pub fn error_page(message: &str) -> String {
    let mut out = String::new();
    head(&mut out, "Touchpoint dashboard", Stylesheet::DASHBOARD);
    let _ = writeln!(
        out,
        "</head>\n<body>\n<main>\n<section class=\"panel\"><h1>That view cannot be shown</h1>\n\
         <p class=\"error\" role=\"alert\">{}</p>\n<p><a href=\"/dashboard\">Back to the dashboard</a></p>\n\
         </section>\n</main>\n</body>\n</html>",
        escape(message)
    );
    out
}

/// Why a dashboard page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    BadQuery(#[from] BadQuery),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Values a filter menu offers: the busiest ever seen; any other is one URL parameter away.
const MENU_VALUES: usize = 100;

/// The filters of a dashboard view, as read from its URL.
struct View {
    query: Query,
    from: i64,
    to: i64,
    difficult_only: bool,
    /// The theme whose comments are listed (locale, key).
    theme: Option<(String, String)>,
}

/// The parameters of a dashboard view: the stats filters it offers, and which comments to show.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    from: Option<String>,
    to: Option<String>,
    channel: Option<String>,
    touchpoint: Option<String>,
    site: Option<String>,
    segment: Option<String>,
    include_bursts: Option<String>,
    comments: Option<String>,
    theme: Option<String>,
}

impl Params {
    pub const UNKNOWN: BadQuery = BadQuery(
        "unknown or repeated parameter: use from, to, channel, touchpoint, site, segment, include_bursts, comments, theme",
    );
}

fn view(aggregates: &Aggregates, params: &Params) -> Result<View, BadQuery> {
    let query = stats::Params {
        from: params.from.clone(),
        to: params.to.clone(),
        channel: params.channel.clone(),
        touchpoint: params.touchpoint.clone(),
        site: params.site.clone(),
        segment: params.segment.clone(),
        include_bursts: params.include_bursts.clone(),
        ..stats::Params::default()
    }
    .query()?;
    let today = clock::today();
    let last = aggregates.day_range().map_or(today, |(_, last)| last);
    let to = query.to_day.unwrap_or(last + 1);
    let from = query.from_day.unwrap_or(to - 28);
    if from >= to {
        return Err(BadQuery("from must be before to"));
    }
    if to - from > 3660 {
        return Err(BadQuery("a dashboard view spans at most ten years"));
    }
    let difficult_only = match params.comments.as_deref() {
        None | Some("" | "all") => false,
        Some("difficult") => true,
        Some(_) => return Err(BadQuery("comments must be all or difficult")),
    };
    let theme = params
        .theme
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(themes::parse)
        .transpose()?;
    Ok(View {
        query,
        from,
        to,
        difficult_only,
        theme,
    })
}

impl View {
    fn over(&self, from: i64, to: i64, group_by: &[Dim]) -> Query {
        Query {
            from_day: Some(from),
            to_day: Some(to),
            group_by: group_by.to_vec(),
            ..self.query.clone()
        }
    }

    fn now(&self, group_by: &[Dim]) -> Query {
        self.over(self.from, self.to, group_by)
    }

    fn before(&self, group_by: &[Dim]) -> Query {
        let len = self.to - self.from;
        self.over(self.from - len, self.from, group_by)
    }

    /// This view's URL with some parameters changed.
    fn link(&self, changes: &[(&str, Option<String>)]) -> String {
        let mut pairs: Vec<(String, String)> = vec![
            ("from".into(), stats::date_of(self.from)),
            ("to".into(), stats::date_of(self.to)),
        ];
        let q = &self.query;
        for (name, value) in [
            ("channel", q.channel.map(|c| c.as_str().to_owned())),
            ("touchpoint", q.touchpoint.clone()),
            ("site", q.site.clone()),
            ("segment", q.segment.clone()),
            (
                "include_bursts",
                q.include_bursts.then(|| "true".to_owned()),
            ),
            (
                "comments",
                self.difficult_only.then(|| "difficult".to_owned()),
            ),
            (
                "theme",
                self.theme.as_ref().map(|(l, k)| format!("{l}:{k}")),
            ),
        ] {
            if let Some(v) = value {
                pairs.push((name.into(), v));
            }
        }
        for (name, value) in changes {
            pairs.retain(|(n, _)| n != name);
            if let Some(v) = value {
                pairs.push(((*name).to_owned(), v.clone()));
            }
        }
        let query: Vec<String> = pairs
            .iter()
            .map(|(n, v)| format!("{n}={}", url_encode(v)))
            .collect();
        format!("/dashboard?{}", query.join("&"))
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The values a filter menu offers: the `MENU_VALUES` busiest ever seen in `dim`, and the one
/// chosen; how many there are in all.
fn values(aggregates: &Aggregates, dim: Dim, chosen: Option<&str>) -> (Vec<String>, usize) {
    let busiest = aggregates.busiest(dim, MENU_VALUES);
    let mut values = busiest.values;
    if let Some(chosen) = chosen.filter(|c| !values.iter().any(|v| v == c)) {
        values.push(chosen.to_owned());
        values.sort();
    }
    (values, busiest.of)
}

/// At most `n` of `rows`, the busiest, in their order; and how many there were.
fn busiest_rows(rows: Vec<(String, Counts)>, n: usize) -> (Vec<(String, Counts)>, usize) {
    let all = rows.len();
    if all <= n {
        return (rows, all);
    }
    let mut responses: Vec<u64> = rows.iter().map(|(_, c)| c.responses).collect();
    let (_, least, _) = responses.select_nth_unstable_by(n - 1, |a, b| b.cmp(a));
    let least = *least;
    let above = rows.iter().filter(|(_, c)| c.responses > least).count();
    let mut ties = n - above;
    let kept = rows
        .into_iter()
        .filter(|(_, c)| {
            c.responses > least
                || (c.responses == least && ties > 0 && {
                    ties -= 1;
                    true
                })
        })
        .collect();
    (kept, all)
}

fn rows_of(answer: &Answer, dim: Dim, missing: &str) -> Vec<(String, Counts)> {
    answer
        .groups
        .iter()
        .map(|g| (g.get(dim).unwrap_or(missing).to_owned(), g.counts))
        .collect()
}

/// Says that only the `shown` busiest of `all` values are shown, when that is so.
pub(super) fn busiest_note(out: &mut String, shown: usize, all: usize, what: &str) {
    if all > shown {
        let _ = writeln!(
            out,
            "<p class=\"note\">The {shown} busiest of the {all} {what} in this view; filter by one to see any other.</p>"
        );
    }
}

/// A comment as the dashboard lists it.
struct Latest {
    day: i64,
    channel: Channel,
    touchpoint: String,
    effort: Option<u8>,
    locale: &'static str,
    text: String,
}

/// The newest comments matching the view, at most `limit`, newest first. Reads the records of the
/// view's last two weeks (by receive time; queued answers may arrive a week late).
fn latest_comments(
    store: &dyn Store,
    view: &View,
    limit: usize,
) -> Result<Vec<Latest>, StoreError> {
    const DAY_MICROS: u64 = 86_400_000_000;
    let from = u64::try_from(view.from.max(view.to - 14)).unwrap_or(0) * DAY_MICROS;
    let to = u64::try_from(view.to + 7).unwrap_or(0) * DAY_MICROS;
    let q = &view.query;
    let mut found = std::collections::VecDeque::with_capacity(limit + 1);
    store.scan(from, to, &mut |record| {
        let wanted = (q.include_bursts || record.flags & FLAG_BURST == 0)
            && q.channel.is_none_or(|c| c == record.channel)
            && q.touchpoint
                .as_deref()
                .is_none_or(|t| t == record.touchpoint)
            && record.json.contains("\"comment\":");
        if !wanted {
            return true;
        }
        let Ok(s) = protocol::parse_submission(record.json.as_bytes()) else {
            return true;
        };
        let day = stats::day_of(s.submitted_at.unix_millis(), record.received_micros);
        let same = |want: &Option<String>, have: Option<&protocol::Ident>| {
            want.as_deref()
                .is_none_or(|w| have.map(protocol::Ident::as_str) == Some(w))
        };
        let effort = s.answers.effort().map(|e| e.get());
        if (view.from..view.to).contains(&day)
            && same(&q.site, s.context.site_id.as_ref())
            && same(&q.segment, s.context.segment.as_ref())
            && (!view.difficult_only || effort.is_some_and(|e| e <= 3))
        {
            if let Some(comment) = s.comment {
                found.push_back(Latest {
                    day,
                    channel: s.channel,
                    touchpoint: s.touchpoint.as_str().to_owned(),
                    effort,
                    locale: s.locale.as_str(),
                    text: comment.as_str().to_owned(),
                });
                if found.len() > limit {
                    found.pop_front();
                }
            }
        }
        true
    })?;
    Ok(found.into_iter().rev().collect())
}

/// The dashboard page for the filters in `params`.
pub fn render(
    store: &dyn Store,
    params: &Params,
    org: Option<&Organisation>,
) -> Result<String, RenderError> {
    render_with(store, params, org, None)
}

/// [`render`], with the business view of the same period and touchpoint from `business`.
pub fn render_with(
    store: &dyn Store,
    params: &Params,
    org: Option<&Organisation>,
    business: Option<&crate::impact::Impact>,
) -> Result<String, RenderError> {
    let aggregates = store.aggregates().ok_or(StoreError::NoStats)?;
    let view = view(aggregates, params)?;
    // Every figure of the page from one read of the two periods' cells. The touchpoint ×
    // channel answers hold the totals and the channels' rows too: they serve the tiles, the
    // matrix and the emotion mix.
    let by_cell = [Dim::Touchpoint, Dim::Channel];
    let mut answers = aggregates
        .query_all(&[
            view.now(&by_cell),
            view.before(&by_cell),
            view.now(&[sections::trend_bucket(&view), Dim::Channel]),
            view.now(&[Dim::Segment]),
            view.now(&[Dim::Site]),
        ])
        .into_iter();
    let mut next = || answers.next().unwrap_or_default();
    let (now, before, trend, segments, sites) = (next(), next(), next(), next(), next());
    let mut out = String::with_capacity(64 * 1024);
    head(
        &mut out,
        "Touchpoint — customer-experience dashboard",
        Stylesheet::DASHBOARD,
    );
    out.push_str("</head>\n");
    let _ = write!(
        out,
        "<body>\n<header class=\"top\"><h1>Customer-experience dashboard</h1>\
         <span>{} – {} (to excluded) · against the {} days before</span>\
         <form method=\"post\" action=\"/dashboard/sign-out\"><button class=\"link\" type=\"submit\">Sign out</button></form></header>\n<main>\n",
        stats::date_of(view.from),
        stats::date_of(view.to),
        view.to - view.from
    );
    sections::filters(&mut out, aggregates, &view);
    sections::tiles(&mut out, &now.total, &before.total);
    alerts::section(&mut out, store, org)?;
    agenda::section(
        &mut out,
        &store.actions()?,
        org,
        &stats::date_of(clock::today()),
    );
    owners::departments(&mut out, &now, &before, org);
    owners::journeys(&mut out, aggregates, &view, org);
    sections::trends(&mut out, &view, &trend);
    sections::matrix(&mut out, &now, &before);
    sections::bars(&mut out, &segments, &sites, &now);
    themes::section(&mut out, store, &view)?;
    sections::comments(&mut out, store, &view)?;
    if let Some(business) = business {
        let query =
            crate::impact::Query::of_days(view.from, view.to, view.query.touchpoint.clone());
        let costed = org.is_some_and(|o| !o.outcomes.is_empty());
        match business.view(&query, org) {
            Ok(view) => impact::section(&mut out, &view, costed),
            Err(crate::impact::ViewError::Preparing) => impact::preparing(&mut out),
            Err(crate::impact::ViewError::Store(error)) => return Err(error.into()),
        }
    }
    alerts::endpoints(&mut out, store, org)?;
    out.push_str("</main>\n</body>\n</html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests;

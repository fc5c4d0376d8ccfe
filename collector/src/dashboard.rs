//! The CX dashboard: server-rendered HTML with SVG charts, no JavaScript at all. Filters are a GET
//! form, so every view is a URL; comments are escaped text. Signing in once with the admin token
//! opens a session held in memory and named by an HttpOnly, Secure, SameSite=Strict cookie — the
//! token never travels in a URL. Every figure comes from the stats cells; the latest comments are
//! read from the records.

use std::{
    collections::HashMap,
    fmt::Write as _,
    io::Read as _,
    sync::Mutex,
    time::{Duration, Instant},
};

use protocol::Channel;

use crate::{
    export::BadQuery,
    report::{self, escape, positive_share, MIN_ANSWERS},
    stats::{self, Aggregates, Answer, Counts, Dim, Query},
    store::{Store, StoreError, FLAG_BURST},
};

/// The dashboard's and the report's stylesheet, served at `/dashboard/style.css`.
pub const STYLE: &str = include_str!("../assets/dashboard.css");

/// Nothing but the collector's own stylesheet and forms: no script may run on these pages.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The session cookie's name.
pub const COOKIE: &str = "tp_session";

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Signed-in sessions, by random id, with their expiry. In memory: a restart signs everyone out.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    /// A new session id: 32 random bytes from the operating system, hex.
    pub fn create(&self) -> std::io::Result<String> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, expires| *expires > now);
        open.insert(id.clone(), now + SESSION_TTL);
        Ok(id)
    }

    pub fn is_valid(&self, id: &str) -> bool {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(id)
            .is_some_and(|expires| *expires > Instant::now())
    }

    pub fn end(&self, id: &str) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// The `Set-Cookie` value that opens a session.
pub fn session_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

/// The `Set-Cookie` value that ends one.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0")
}

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<link rel=\"icon\" href=\"data:,\">\n<link rel=\"stylesheet\" href=\"/dashboard/style.css\">\n</head>\n",
        escape(title)
    );
}

/// The sign-in form; `error` says why the last attempt failed.
pub fn sign_in_page(error: Option<&str>) -> String {
    let mut out = String::new();
    head(&mut out, "Sign in — Touchpoint dashboard");
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

/// Why a dashboard page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    BadQuery(#[from] BadQuery),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The filters of a dashboard view, as read from its URL.
struct View {
    query: Query,
    from: i64,
    to: i64,
    difficult_only: bool,
}

const FILTERS: [&str; 7] = [
    "from",
    "to",
    "channel",
    "touchpoint",
    "site",
    "segment",
    "include_bursts",
];

fn view(aggregates: &Aggregates, params: &HashMap<String, String>) -> Result<View, BadQuery> {
    let query = Query::parse(&|name| {
        FILTERS
            .contains(&name)
            .then(|| params.get(name).cloned())
            .flatten()
    })?;
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| (d.as_secs() / 86_400) as i64);
    let last = aggregates.day_range().map_or(today, |(_, last)| last);
    let to = query.to_day.unwrap_or(last + 1);
    let from = query.from_day.unwrap_or(to - 28);
    if from >= to {
        return Err(BadQuery("from must be before to"));
    }
    if to - from > 3660 {
        return Err(BadQuery("a dashboard view spans at most ten years"));
    }
    let difficult_only = match params.get("comments").map(String::as_str) {
        None | Some("" | "all") => false,
        Some("difficult") => true,
        Some(_) => return Err(BadQuery("comments must be all or difficult")),
    };
    Ok(View {
        query,
        from,
        to,
        difficult_only,
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

fn fmt_mean(m: Option<f64>) -> String {
    m.map_or_else(|| "–".to_owned(), |m| format!("{m:.2}"))
}

/// A change against the previous period, with the class that colours it (higher is better).
fn fmt_change(now: Option<f64>, before: Option<f64>, unit: &str) -> (String, &'static str) {
    match (now, before) {
        (Some(n), Some(b)) if (n - b).abs() < 0.005 => (format!("±0{unit} vs previous"), "flat"),
        (Some(n), Some(b)) if n > b => (format!("▲ +{:.2}{unit} vs previous", n - b), "up"),
        (Some(n), Some(b)) => (format!("▼ −{:.2}{unit} vs previous", b - n), "down"),
        _ => ("no previous figures".to_owned(), "flat"),
    }
}

fn tile(out: &mut String, label: &str, value: String, change: (String, &'static str)) {
    let _ = writeln!(
        out,
        "<div class=\"tile\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"change {}\">{}</div></div>",
        escape(label),
        escape(&value),
        change.1,
        escape(&change.0)
    );
}

/// A line chart of one value per x label per series, on a fixed y scale.
fn line_chart(
    out: &mut String,
    title: &str,
    labels: &[String],
    series: &[(&str, Vec<Option<f64>>)],
    y: (f64, f64),
) {
    const W: f64 = 640.0;
    const H: f64 = 230.0;
    const LEFT: f64 = 34.0;
    const BOTTOM: f64 = 26.0;
    let x_of = |i: usize| {
        let span = (labels.len().max(2) - 1) as f64;
        LEFT + 8.0 + (W - LEFT - 16.0) * i as f64 / span
    };
    let y_of = |v: f64| 8.0 + (H - BOTTOM - 8.0) * (1.0 - (v - y.0) / (y.1 - y.0));
    svg_open(out, W, H, title);
    let mut v = y.0;
    while v <= y.1 + 1e-9 {
        let _ = writeln!(
            out,
            "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{W}\" y1=\"{0:.1}\" y2=\"{0:.1}\"/><text x=\"{1}\" y=\"{2:.1}\" text-anchor=\"end\">{v}</text>",
            y_of(v),
            LEFT - 6.0,
            y_of(v) + 4.0
        );
        v += 1.0;
    }
    let every = labels.len().div_ceil(8).max(1);
    for (i, label) in labels.iter().enumerate() {
        if i % every == 0 || i + 1 == labels.len() {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x_of(i),
                H - 8.0,
                escape(label)
            );
        }
    }
    for (name, values) in series {
        // Gaps (no answers in that bucket) break the line rather than invent a value.
        let mut path = String::new();
        let mut pen_down = false;
        for (i, value) in values.iter().enumerate() {
            match value {
                Some(v) => {
                    let _ = write!(
                        path,
                        "{}{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x_of(i),
                        y_of(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = writeln!(
            out,
            "<path class=\"series s-{name}\" d=\"{}\"><title>{name}</title></path>",
            path.trim_end()
        );
        for (i, value) in values.iter().enumerate() {
            if let Some(v) = value {
                let _ = writeln!(
                    out,
                    "<circle class=\"s-{name}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\"><title>{name} {}: {v:.2}</title></circle>",
                    x_of(i),
                    y_of(*v),
                    escape(&labels[i])
                );
            }
        }
    }
    out.push_str("</svg>\n");
}

/// Horizontal bars of mean effort (1–7), the weakest marked.
fn effort_bars(out: &mut String, title: &str, rows: &[(String, Counts)]) {
    const W: f64 = 400.0;
    const ROW: f64 = 24.0;
    const LABEL: f64 = 90.0;
    let h = ROW * rows.len() as f64 + 8.0;
    let lowest = rows
        .iter()
        .filter(|(_, c)| c.responses >= MIN_ANSWERS)
        .filter_map(|(_, c)| c.effort_mean())
        .fold(f64::MAX, f64::min);
    svg_open(out, W, h, title);
    for (i, (label, counts)) in rows.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        let mean = counts.effort_mean();
        let width = mean.map_or(0.0, |m| (W - LABEL - 100.0) * m / 7.0);
        let weak = mean == Some(lowest) && rows.len() > 1;
        let _ = writeln!(
            out,
            "<text x=\"0\" y=\"{:.1}\">{}</text><rect class=\"bar{}\" x=\"{LABEL}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\"><title>{}: effort {}, {} responses</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{} · n={}</text>",
            y + 15.0,
            escape(label),
            if weak { " weak" } else { "" },
            y + 3.0,
            ROW - 8.0,
            escape(label),
            fmt_mean(mean),
            counts.responses,
            LABEL + width + 6.0,
            y + 15.0,
            fmt_mean(mean),
            counts.responses
        );
    }
    out.push_str("</svg>\n");
}

/// Opens a chart: its size, and its title as the accessible name and the tooltip.
fn svg_open(out: &mut String, width: f64, height: f64, title: &str) {
    let title = escape(title);
    let _ = writeln!(
        out,
        "<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{title}\"><title>{title}</title>"
    );
}

const EMOTIONS: [&str; 5] = ["angry", "frustrated", "neutral", "pleased", "delighted"];

/// One stacked bar per row: the emotion mix in percent.
fn emotion_bars(out: &mut String, title: &str, rows: &[(String, Counts)]) {
    const W: f64 = 400.0;
    const ROW: f64 = 26.0;
    const LABEL: f64 = 90.0;
    let h = ROW * rows.len() as f64 + 8.0;
    svg_open(out, W, h, title);
    for (i, (label, counts)) in rows.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        let answered: u64 = counts.emotion.iter().sum();
        let _ = write!(
            out,
            "<text x=\"0\" y=\"{:.1}\">{}</text>",
            y + 16.0,
            escape(label)
        );
        let mut x = LABEL;
        for (e, n) in EMOTIONS.iter().zip(counts.emotion) {
            if answered == 0 || n == 0 {
                continue;
            }
            let share = n as f64 / answered as f64;
            let width = (W - LABEL) * share;
            let _ = write!(
                out,
                "<rect class=\"e-{e}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\"><title>{}: {e} {:.0} % ({n})</title></rect>",
                y + 3.0,
                ROW - 8.0,
                escape(label),
                share * 100.0
            );
            x += width;
        }
        out.push('\n');
    }
    out.push_str("</svg>\n<ul class=\"legend\">");
    for e in EMOTIONS {
        let _ = write!(out, "<li><span class=\"key k-{e}\"></span>{e}</li>");
    }
    out.push_str("</ul>\n");
}

fn options(out: &mut String, name: &str, label: &str, values: &[String], chosen: Option<&str>) {
    let _ = write!(
        out,
        "<label>{}<select name=\"{name}\"><option value=\"\">all</option>",
        escape(label)
    );
    for v in values {
        let selected = if chosen == Some(v.as_str()) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<option value=\"{0}\"{selected}>{0}</option>",
            escape(v)
        );
    }
    out.push_str("</select></label>\n");
}

/// The values seen in one dimension over all time, for the filter menus.
fn values(aggregates: &Aggregates, dim: Dim) -> Vec<String> {
    aggregates
        .query(&Query {
            group_by: vec![dim],
            include_bursts: true,
            ..Query::default()
        })
        .groups
        .iter()
        .filter_map(|g| g.get(dim).map(str::to_owned))
        .collect()
}

fn rows_of(answer: &Answer, dim: Dim, missing: &str) -> Vec<(String, Counts)> {
    answer
        .groups
        .iter()
        .map(|g| (g.get(dim).unwrap_or(missing).to_owned(), g.counts))
        .collect()
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
pub fn render(store: &dyn Store, params: &HashMap<String, String>) -> Result<String, RenderError> {
    let aggregates = store.aggregates().ok_or(StoreError::Corrupt { key: 0 })?;
    let view = view(aggregates, params)?;
    let total_now = aggregates.query(&view.now(&[])).total;
    let total_before = aggregates.query(&view.before(&[])).total;
    let mut out = String::with_capacity(64 * 1024);
    head(&mut out, "Touchpoint — customer-experience dashboard");
    let _ = write!(
        out,
        "<body>\n<header class=\"top\"><h1>Customer-experience dashboard</h1>\
         <span>{} – {} (to excluded) · against the {} days before</span>\
         <form method=\"post\" action=\"/dashboard/sign-out\"><button class=\"link\" type=\"submit\">Sign out</button></form></header>\n<main>\n",
        stats::date_of(view.from),
        stats::date_of(view.to),
        view.to - view.from
    );

    // Filters: a GET form, so the view is its URL.
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
        &mut out,
        "channel",
        "Channel",
        &channels,
        q.channel.map(|c| c.as_str()),
    );
    for (name, label, dim, chosen) in [
        ("touchpoint", "Touchpoint", Dim::Touchpoint, &q.touchpoint),
        ("site", "Site", Dim::Site, &q.site),
        ("segment", "Segment", Dim::Segment, &q.segment),
    ] {
        options(
            &mut out,
            name,
            label,
            &values(aggregates, dim),
            chosen.as_deref(),
        );
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
    let week = report::Period::week_of(view.to - 1);
    let month = stats::date_of(view.to - 1)[..7].to_owned();
    let _ = writeln!(
        out,
        "<a href=\"/dashboard/report?period={0}\">council report {0}</a><a href=\"/dashboard/report?period={1}\">council report {1}</a><a href=\"/dashboard\">reset</a></p></section>",
        escape(&week.label),
        escape(&month)
    );

    // Headline tiles.
    out.push_str("<section class=\"tiles\" aria-label=\"Headline\">\n");
    tile(
        &mut out,
        "Responses",
        total_now.responses.to_string(),
        (
            format!("{} in the previous period", total_before.responses),
            "flat",
        ),
    );
    tile(
        &mut out,
        "Effort (1 very difficult – 7 very easy)",
        fmt_mean(total_now.effort_mean()),
        fmt_change(total_now.effort_mean(), total_before.effort_mean(), ""),
    );
    tile(
        &mut out,
        "Confidence (1–5)",
        fmt_mean(total_now.confidence_mean()),
        fmt_change(
            total_now.confidence_mean(),
            total_before.confidence_mean(),
            "",
        ),
    );
    tile(
        &mut out,
        "Emotion: pleased or delighted",
        positive_share(&total_now).map_or_else(|| "–".to_owned(), |p| format!("{p:.0} %")),
        fmt_change(
            positive_share(&total_now),
            positive_share(&total_before),
            " pts",
        ),
    );
    out.push_str("</section>\n");

    // Trends per channel: by day over a month or less, by ISO week beyond.
    let by_day = view.to - view.from <= 31;
    let bucket = if by_day { Dim::Day } else { Dim::Week };
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
    let trend = aggregates.query(&view.now(&[bucket, Dim::Channel]));
    let series_of = |pick: &dyn Fn(&Counts) -> Option<f64>| -> Vec<(&str, Vec<Option<f64>>)> {
        Channel::ALL
            .iter()
            .map(|c| {
                let values = labels
                    .iter()
                    .map(|label| {
                        trend
                            .groups
                            .iter()
                            .find(|g| {
                                g.get(Dim::Channel) == Some(c.as_str())
                                    && g.get(bucket).is_some_and(|b| b.ends_with(label.as_str()))
                            })
                            .and_then(|g| pick(&g.counts))
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
        &mut out,
        "Mean effort per channel over time (1 very difficult – 7 very easy)",
        &labels,
        &series_of(&Counts::effort_mean),
        (1.0, 7.0),
    );
    out.push_str("<ul class=\"legend\"><li><span class=\"key k-web\"></span>web</li><li><span class=\"key k-kiosk\"></span>kiosk</li><li><span class=\"key k-agent\"></span>agent</li></ul></section>\n");
    out.push_str("<section class=\"panel\"><h2>Confidence over time, per channel</h2>\n");
    line_chart(
        &mut out,
        "Mean confidence per channel over time (1–5)",
        &labels,
        &series_of(&Counts::confidence_mean),
        (1.0, 5.0),
    );
    out.push_str("<ul class=\"legend\"><li><span class=\"key k-web\"></span>web</li><li><span class=\"key k-kiosk\"></span>kiosk</li><li><span class=\"key k-agent\"></span>agent</li></ul></section>\n</div>\n");

    // The channel × touchpoint matrix.
    let matrix = aggregates.query(&view.now(&[Dim::Touchpoint, Dim::Channel]));
    let matrix_before = aggregates.query(&view.before(&[Dim::Touchpoint, Dim::Channel]));
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
    let mut touchpoints: Vec<&str> = matrix
        .groups
        .iter()
        .filter_map(|g| g.get(Dim::Touchpoint))
        .collect();
    touchpoints.dedup();
    out.push_str("<section class=\"panel\"><h2>Effort by touchpoint and channel</h2>\n<p class=\"note\">Mean effort (1 very difficult – 7 very easy), responses below it, change against the previous period. The three weakest cells with at least 5 responses are marked; the gap is the difference between a touchpoint's best and worst channel.</p>\n<div class=\"scroll\"><table class=\"matrix\">\n<thead><tr><th scope=\"col\">touchpoint</th>");
    for c in Channel::ALL {
        let _ = write!(out, "<th scope=\"col\">{}</th>", c.as_str());
    }
    out.push_str("<th scope=\"col\">gap between channels</th></tr></thead>\n<tbody>\n");
    for t in &touchpoints {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(t));
        let mut means = Vec::new();
        for c in Channel::ALL {
            let find = |a: &Answer| {
                a.groups
                    .iter()
                    .find(|g| {
                        g.get(Dim::Touchpoint) == Some(t) && g.get(Dim::Channel) == Some(c.as_str())
                    })
                    .map(|g| g.counts)
            };
            match find(&matrix).filter(|c| c.responses > 0) {
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
                        fmt_change(mean, find(&matrix_before).and_then(|b| b.effort_mean()), "");
                    let badge = if weakest.contains(&(t, c.as_str())) {
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

    // Segments, sites, emotion mix.
    out.push_str(
        "<div class=\"grid bars\">\n<section class=\"panel\"><h2>Effort by segment</h2>\n",
    );
    let segments = aggregates.query(&view.now(&[Dim::Segment]));
    effort_bars(
        &mut out,
        "Mean effort by customer segment",
        &rows_of(&segments, Dim::Segment, "(not given)"),
    );
    out.push_str("</section>\n<section class=\"panel\"><h2>Effort by site</h2>\n");
    let sites = aggregates.query(&view.now(&[Dim::Site]));
    let site_rows: Vec<(String, Counts)> = rows_of(&sites, Dim::Site, "")
        .into_iter()
        .filter(|(s, _)| !s.is_empty())
        .collect();
    if site_rows.is_empty() {
        out.push_str("<p class=\"note\">No answers with a site in this view.</p>\n");
    } else {
        effort_bars(&mut out, "Mean effort by site", &site_rows);
    }
    out.push_str("</section>\n<section class=\"panel\"><h2>Emotion mix</h2>\n");
    let by_channel = aggregates.query(&view.now(&[Dim::Channel]));
    let mut emotion_rows = rows_of(&by_channel, Dim::Channel, "");
    emotion_rows.push(("all channels".to_owned(), total_now));
    emotion_bars(
        &mut out,
        "Emotion mix per channel, in percent",
        &emotion_rows,
    );
    out.push_str("</section>\n</div>\n");

    // Latest comments, as text.
    let comments = latest_comments(store, &view, 20)?;
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
    out.push_str("</ul></section>\n</main>\n</body>\n</html>\n");
    Ok(out)
}

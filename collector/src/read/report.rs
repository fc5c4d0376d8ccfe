//! The council report: what a customer-experience council goes through each period — the
//! measures against the previous period per department (channel) and per touchpoint, the biggest
//! movers, the lowest-scoring touchpoints with sample comments, and the response counts. Every
//! figure comes from the stats cells ([`crate::stats`]), so the report and `GET /v1/stats` agree;
//! only the sample comments are read from the records. Written as Markdown or printable HTML.

use std::fmt::Write as _;

use serde_json::{json, Value};

pub use super::html::Stylesheet;
use super::html::{escape, head, is_bidi_control};
use crate::{
    stats::{self, Aggregates, BadQuery, Counts, Dim, Query},
    store::{Store, StoreError, FLAG_BURST},
};

/// A reporting period: an ISO week (`2026-W47`) or a month (`2026-11`), as whole UTC days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub from_day: i64,
    /// Exclusive.
    pub to_day: i64,
}

impl Period {
    pub fn parse(text: &str) -> Result<Self, BadQuery> {
        let bad = BadQuery("period must be an ISO week like 2026-W47 or a month like 2026-11");
        let year: i64 = text
            .get(..4)
            .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|y| y.parse().ok())
            .ok_or(bad)?;
        match text.get(4..) {
            Some(week) if week.starts_with("-W") && week.len() == 4 => {
                let n: i64 = week[2..].parse().map_err(|_| bad)?;
                let from_day = stats::week_start(year, n).ok_or(bad)?;
                Ok(Self {
                    label: format!("{year:04}-W{n:02}"),
                    from_day,
                    to_day: from_day + 7,
                })
            }
            Some(month) if month.starts_with('-') && month.len() == 3 => {
                let m: i64 = month[1..].parse().map_err(|_| bad)?;
                if !(1..=12).contains(&m) {
                    return Err(bad);
                }
                let from_day = stats::parse_date(&format!("{year:04}-{m:02}-01")).ok_or(bad)?;
                let (ny, nm) = if m == 12 {
                    (year + 1, 1)
                } else {
                    (year, m + 1)
                };
                let to_day = stats::parse_date(&format!("{ny:04}-{nm:02}-01")).ok_or(bad)?;
                Ok(Self {
                    label: format!("{year:04}-{m:02}"),
                    from_day,
                    to_day,
                })
            }
            _ => Err(bad),
        }
    }

    /// The period just before, of the same kind.
    pub fn previous(&self) -> Self {
        if self.label.contains("-W") {
            let from_day = self.from_day - 7;
            return Self {
                label: stats::week_label(from_day),
                from_day,
                to_day: self.from_day,
            };
        }
        let last = stats::date_of(self.from_day - 1);
        Self::parse(&last[..7]).unwrap_or(Self {
            label: last[..7].to_owned(),
            from_day: self.from_day - 30,
            to_day: self.from_day,
        })
    }

    /// The current ISO week of a day.
    pub fn week_of(day: i64) -> Self {
        let label = stats::week_label(day);
        Self::parse(&label).unwrap_or(Self {
            label,
            from_day: day,
            to_day: day + 1,
        })
    }

    /// `2026-11-16 – 2026-11-22`
    pub fn dates(&self) -> String {
        format!(
            "{} – {}",
            stats::date_of(self.from_day),
            stats::date_of(self.to_day - 1)
        )
    }
}

/// What a department's head calls a channel.
pub fn department(channel: &str) -> &'static str {
    match channel {
        "web" => "Digital (web)",
        "kiosk" => "Branches (kiosk)",
        "agent" => "Call centre (agent)",
        _ => "Other",
    }
}

/// One line of a report table: a period's counts against the previous period's.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub channel: Option<String>,
    pub touchpoint: Option<String>,
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

    fn name(&self) -> String {
        match (&self.channel, &self.touchpoint) {
            (Some(c), Some(t)) => format!("{t} ({c})"),
            (Some(c), None) => department(c).to_owned(),
            (None, Some(t)) => t.clone(),
            (None, None) => "All".to_owned(),
        }
    }
}

/// A comment quoted in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    pub effort: Option<u64>,
    pub locale: String,
    pub text: String,
}

/// The report's content, before it is written out.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub period: Period,
    pub previous: Period,
    pub total: Line,
    pub departments: Vec<Line>,
    pub touchpoints: Vec<Line>,
    /// The largest changes of mean effort, either way.
    pub movers: Vec<Line>,
    /// The lowest mean effort, with sample comments.
    pub lowest: Vec<(Line, Vec<Quote>)>,
}

/// Lines with fewer answers than this are left out of movers and lowest: too few to judge.
pub const MIN_ANSWERS: u64 = 5;

fn lines(aggregates: &Aggregates, period: &Period, previous: &Period, by: &[Dim]) -> Vec<Line> {
    let query = |p: &Period| Query {
        from_day: Some(p.from_day),
        to_day: Some(p.to_day),
        group_by: by.to_vec(),
        ..Query::default()
    };
    let now = aggregates.query(&query(period));
    let before = aggregates.query(&query(previous));
    let mut lines: Vec<Line> = now
        .groups
        .iter()
        .map(|g| Line {
            channel: g.get(Dim::Channel).map(str::to_owned),
            touchpoint: g.get(Dim::Touchpoint).map(str::to_owned),
            now: g.counts,
            before: Counts::default(),
        })
        .collect();
    for g in before.groups {
        let (channel, touchpoint) = (g.get(Dim::Channel), g.get(Dim::Touchpoint));
        match lines
            .iter_mut()
            .find(|l| l.channel.as_deref() == channel && l.touchpoint.as_deref() == touchpoint)
        {
            Some(line) => line.before = g.counts,
            None => lines.push(Line {
                channel: channel.map(str::to_owned),
                touchpoint: touchpoint.map(str::to_owned),
                now: Counts::default(),
                before: g.counts,
            }),
        }
    }
    lines
}

/// Builds the report for `period` from the store's cells; sample comments from its records.
pub fn build(store: &dyn Store, period: &Period) -> Result<Report, StoreError> {
    let aggregates = store.aggregates().ok_or(StoreError::NoStats)?;
    let previous = period.previous();
    let total_of = |p: &Period| {
        aggregates
            .query(&Query {
                from_day: Some(p.from_day),
                to_day: Some(p.to_day),
                ..Query::default()
            })
            .total
    };
    let total = Line {
        channel: None,
        touchpoint: None,
        now: total_of(period),
        before: total_of(&previous),
    };
    let departments = lines(aggregates, period, &previous, &[Dim::Channel]);
    let touchpoints = lines(
        aggregates,
        period,
        &previous,
        &[Dim::Channel, Dim::Touchpoint],
    );
    let mut movers: Vec<Line> = touchpoints
        .iter()
        .filter(|l| l.now.responses >= MIN_ANSWERS && l.before.responses >= MIN_ANSWERS)
        .filter(|l| l.effort_change().is_some_and(|c| c.abs() >= 0.05))
        .cloned()
        .collect();
    movers.sort_by(|a, b| {
        let size = |l: &Line| l.effort_change().map_or(0.0, f64::abs);
        size(b).total_cmp(&size(a)).then(a.name().cmp(&b.name()))
    });
    movers.truncate(5);
    let mut weakest: Vec<Line> = touchpoints
        .iter()
        .filter(|l| l.now.responses >= MIN_ANSWERS && l.now.effort_mean().is_some())
        .cloned()
        .collect();
    weakest.sort_by(|a, b| {
        let mean = |l: &Line| l.now.effort_mean().unwrap_or(f64::MAX);
        mean(a).total_cmp(&mean(b)).then(a.name().cmp(&b.name()))
    });
    weakest.truncate(3);
    let quotes = sample_comments(store, period, &weakest, 3)?;
    let lowest = weakest.into_iter().zip(quotes).collect();
    Ok(Report {
        period: period.clone(),
        previous,
        total,
        departments,
        touchpoints,
        movers,
        lowest,
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
        if record.flags & FLAG_BURST != 0 || !record.json.contains("\"comment\":") {
            return true;
        }
        let Some(at) = lines.iter().position(|l| {
            l.touchpoint.as_deref() == Some(record.touchpoint)
                && l.channel.as_deref() == Some(record.channel.as_str())
        }) else {
            return true;
        };
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

fn mean(m: Option<f64>) -> String {
    m.map_or_else(|| "–".to_owned(), |m| format!("{m:.2}"))
}

fn change(now: Option<f64>, before: Option<f64>) -> String {
    match (now, before) {
        (Some(n), Some(b)) if (n - b).abs() < 0.005 => "±0.00".to_owned(),
        (Some(n), Some(b)) if n > b => format!("+{:.2}", n - b),
        (Some(n), Some(b)) => format!("−{:.2}", b - n),
        _ => "–".to_owned(),
    }
}

fn share(p: Option<f64>) -> String {
    p.map_or_else(|| "–".to_owned(), |p| format!("{p:.0} %"))
}

/// The cells of one table row: name, responses (and before), effort, Δ, confidence, Δ, positive.
fn row(line: &Line) -> [String; 8] {
    [
        line.name(),
        line.now.responses.to_string(),
        line.before.responses.to_string(),
        mean(line.now.effort_mean()),
        change(line.now.effort_mean(), line.before.effort_mean()),
        mean(line.now.confidence_mean()),
        change(line.now.confidence_mean(), line.before.confidence_mean()),
        share(positive_share(&line.now)),
    ]
}

const HEADER: [&str; 8] = [
    "",
    "responses",
    "before",
    "effort (1–7)",
    "Δ effort",
    "confidence (1–5)",
    "Δ confidence",
    "pleased or delighted",
];

/// Markdown text that renders as itself: markup characters escaped, line breaks flattened, bidi
/// controls dropped (as on the pages).
fn md_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if is_bidi_control(c) => {}
            '\n' | '\r' | '\t' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn md_table(out: &mut String, first: &str, lines: &[Line]) {
    let mut header = HEADER;
    header[0] = first;
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for line in lines {
        let cells: Vec<String> = row(line).iter().map(|c| md_text(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

impl Report {
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Customer-experience council — {} ({})\n",
            self.period.label,
            self.period.dates()
        );
        let t = &self.total;
        let _ = writeln!(
            out,
            "Against {} ({}). {} responses ({} before); bursts left out. Effort: 1 very difficult … 7 very easy.\n",
            self.previous.label,
            self.previous.dates(),
            t.now.responses,
            t.before.responses
        );
        let _ = writeln!(out, "## Headline\n");
        md_table(&mut out, "measure", std::slice::from_ref(t));
        let _ = writeln!(out, "## By department\n");
        md_table(&mut out, "department", &self.departments);
        let _ = writeln!(out, "## Biggest movers (effort)\n");
        if self.movers.is_empty() {
            let _ = writeln!(out, "No touchpoint moved by 0.05 or more.\n");
        } else {
            md_table(&mut out, "touchpoint", &self.movers);
        }
        let _ = writeln!(out, "## Lowest-scoring touchpoints\n");
        if self.lowest.is_empty() {
            let _ = writeln!(out, "No touchpoint had {MIN_ANSWERS} responses.\n");
        }
        for (line, quotes) in &self.lowest {
            let _ = writeln!(
                out,
                "### {} — effort {} ({} responses)\n",
                md_text(&line.name()),
                mean(line.now.effort_mean()),
                line.now.responses
            );
            if quotes.is_empty() {
                let _ = writeln!(out, "No comments this period.\n");
            }
            for q in quotes {
                let effort = q.effort.map_or_else(|| "–".to_owned(), |e| e.to_string());
                let _ = writeln!(
                    out,
                    "> {} *(effort {effort}, {})*\n",
                    md_text(&q.text),
                    q.locale
                );
            }
        }
        let _ = writeln!(out, "## Every touchpoint\n");
        md_table(&mut out, "touchpoint", &self.touchpoints);
        let _ = writeln!(
            out,
            "Touchpoints with fewer than {MIN_ANSWERS} responses are not ranked among movers or lowest."
        );
        out
    }

    /// The printable HTML page; `stylesheet` is the path of the report's stylesheet.
    pub fn to_html(&self, stylesheet: Stylesheet) -> String {
        let mut out = String::new();
        let title = format!(
            "Customer-experience council — {} ({})",
            self.period.label,
            self.period.dates()
        );
        head(&mut out, &title, stylesheet);
        let _ = writeln!(
            out,
            "</head>\n<body class=\"report\">\n<main>\n<h1>{}</h1>",
            escape(&title)
        );
        let t = &self.total;
        let _ = writeln!(
            out,
            "<p>Against {} ({}). {} responses ({} before); bursts left out. Effort: 1 very difficult … 7 very easy.</p>",
            escape(&self.previous.label),
            escape(&self.previous.dates()),
            t.now.responses,
            t.before.responses
        );
        out.push_str("<h2>Headline</h2>\n");
        html_table(&mut out, "measure", std::slice::from_ref(t));
        out.push_str("<h2>By department</h2>\n");
        html_table(&mut out, "department", &self.departments);
        out.push_str("<h2>Biggest movers (effort)</h2>\n");
        if self.movers.is_empty() {
            out.push_str("<p>No touchpoint moved by 0.05 or more.</p>\n");
        } else {
            html_table(&mut out, "touchpoint", &self.movers);
        }
        out.push_str("<h2>Lowest-scoring touchpoints</h2>\n");
        if self.lowest.is_empty() {
            let _ = writeln!(out, "<p>No touchpoint had {MIN_ANSWERS} responses.</p>");
        }
        for (line, quotes) in &self.lowest {
            let _ = writeln!(
                out,
                "<section class=\"lowest\"><h3>{} — effort {} ({} responses)</h3>",
                escape(&line.name()),
                mean(line.now.effort_mean()),
                line.now.responses
            );
            if quotes.is_empty() {
                out.push_str("<p>No comments this period.</p>\n");
            }
            for q in quotes {
                let effort = q.effort.map_or_else(|| "–".to_owned(), |e| e.to_string());
                let _ = writeln!(
                    out,
                    "<blockquote lang=\"{}\" dir=\"auto\">{}<footer>effort {effort}, {}</footer></blockquote>",
                    escape(&q.locale),
                    escape(&q.text),
                    escape(&q.locale)
                );
            }
            out.push_str("</section>\n");
        }
        out.push_str("<h2>Every touchpoint</h2>\n");
        html_table(&mut out, "touchpoint", &self.touchpoints);
        let _ = writeln!(
            out,
            "<p class=\"note\">Touchpoints with fewer than {MIN_ANSWERS} responses are not ranked among movers or lowest.</p>\n</main>\n</body>\n</html>"
        );
        out
    }

    /// The figures as JSON: each line's counts in the shape of `GET /v1/stats`.
    pub fn to_json(&self) -> Value {
        let line = |l: &Line| {
            json!({
                "channel": l.channel, "touchpoint": l.touchpoint,
                "now": l.now.to_json(), "before": l.before.to_json(),
            })
        };
        json!({
            "period": self.period.label,
            "from": stats::date_of(self.period.from_day),
            "to": stats::date_of(self.period.to_day),
            "previous": self.previous.label,
            "total": line(&self.total),
            "departments": self.departments.iter().map(line).collect::<Vec<_>>(),
            "touchpoints": self.touchpoints.iter().map(line).collect::<Vec<_>>(),
            "movers": self.movers.iter().map(line).collect::<Vec<_>>(),
            "lowest": self.lowest.iter().map(|(l, q)| {
                let mut v = line(l);
                v["comments"] = json!(q.iter().map(|q| &q.text).collect::<Vec<_>>());
                v
            }).collect::<Vec<_>>(),
        })
    }
}

fn html_table(out: &mut String, first: &str, lines: &[Line]) {
    let mut header = HEADER;
    header[0] = first;
    out.push_str("<table>\n<thead><tr>");
    for h in header {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for line in lines {
        out.push_str("<tr>");
        for (i, cell) in row(line).iter().enumerate() {
            let tag = if i == 0 { "th scope=\"row\"" } else { "td" };
            let close = if i == 0 { "th" } else { "td" };
            let _ = write!(out, "<{tag}>{}</{close}>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_weeks_or_months() {
        let w = Period::parse("2026-W47").expect("a week");
        assert_eq!(w.dates(), "2026-11-16 – 2026-11-22");
        assert_eq!(w.previous().label, "2026-W46");
        assert_eq!(
            Period::parse("2026-W01").expect("a week").previous().label,
            "2025-W52"
        );
        let m = Period::parse("2026-03").expect("a month");
        assert_eq!(m.dates(), "2026-03-01 – 2026-03-31");
        assert_eq!(m.previous().dates(), "2026-02-01 – 2026-02-28");
        assert_eq!(
            Period::parse("2026-01").expect("a month").previous().label,
            "2025-12"
        );
        for bad in [
            "2026", "2026-W54", "2025-W53", "2026-13", "26-W01", "2026-W4x", "",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn comments_are_text_in_both_formats() {
        let hostile = "<script>alert(1)</script> <img src=x onerror=alert(2)> | *bold* [x](y)";
        assert_eq!(
            escape(hostile),
            "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt; | *bold* [x](y)"
        );
        assert_eq!(
            md_text(hostile),
            "&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt; \\| \\*bold\\* \\[x\\](y)"
        );
    }

    #[test]
    fn bidi_controls_leave_the_markdown_report() {
        for (text, written) in [
            ("refund\u{202E}gnp.exe", "refundgnp.exe"),
            ("\u{2066}a\u{2069} \u{200F}b\u{200E} \u{061C}c", "a b c"),
            ("شكرا", "شكرا"),
        ] {
            assert_eq!(md_text(text), written, "{text:?}");
        }
    }

    /// The Markdown report of a fixed week of the demo data, checked in: a change to the report's
    /// figures or layout shows up as a diff to review.
    #[test]
    fn markdown_report_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::SledStore::open(dir.path()).expect("open");
        // 2026-11-23T00:00:00Z: eight weeks of demo answers up to the end of 2026-W47.
        crate::demo::seed(&store, 3000, 56, 1_795_392_000_000_000).expect("seeded");
        let report = build(&store, &Period::parse("2026-W47").expect("a week")).expect("built");
        insta::assert_snapshot!(report.to_markdown());
    }
}

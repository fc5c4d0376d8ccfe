//! The report written out: one outline of blocks (headings, paragraphs, tables, quotes), rendered
//! as Markdown, as printable HTML, or the figures as JSON. Comments and names are text in every
//! format: escaped for HTML, markup-escaped for Markdown, bidi controls dropped.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{positive_share, Line, Report, Stylesheet, MIN_ANSWERS};
use crate::{
    impact::{
        model::Band,
        view::{happened, rate_text, View, EXPLAINED, MEASURES},
    },
    org::agenda::Standing,
    org::department_name,
    read::{
        html::{escape, head, is_bidi_control},
        themes::Themes,
    },
    stats,
};

/// One piece of the report's outline.
enum Block {
    H2(String),
    H3(String),
    P(String),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Quote {
        text: String,
        locale: String,
        effort: String,
    },
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

/// The comment themes of a touchpoint: each with its comments, share, mean effort and the
/// change of its share; or a line saying there is none.
fn themes_table(themes: &Themes) -> Block {
    if themes.themes.is_empty() {
        return Block::P("No comment theme this period.".into());
    }
    let percent = |p: Option<f64>| p.map(|p| p * 100.0);
    Block::Table {
        header: [
            "comment theme",
            "comments",
            "share",
            "effort (1–7)",
            "Δ share (points)",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: themes
            .themes
            .iter()
            .map(|t| {
                let (now, before) = t.shares(themes);
                vec![
                    t.label.clone(),
                    t.counts.responses.to_string(),
                    share(percent(now)),
                    mean(t.counts.effort_mean()),
                    change(percent(now), percent(before)),
                ]
            })
            .collect(),
    }
}

/// A table of lines: name, responses (and before), effort, Δ, confidence, Δ, positive.
fn table(first: &str, lines: &[Line]) -> Block {
    Block::Table {
        header: [
            first,
            "responses",
            "before",
            "effort (1–7)",
            "Δ effort",
            "confidence (1–5)",
            "Δ confidence",
            "pleased or delighted",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: lines
            .iter()
            .map(|line| {
                vec![
                    line.label.clone(),
                    line.now.responses.to_string(),
                    line.before.responses.to_string(),
                    mean(line.now.effort_mean()),
                    change(line.now.effort_mean(), line.before.effort_mean()),
                    mean(line.now.confidence_mean()),
                    change(line.now.confidence_mean(), line.before.confidence_mean()),
                    share(positive_share(&line.now)),
                ]
            })
            .collect(),
    }
}

impl Report {
    fn title(&self) -> String {
        let of = self
            .organisation
            .as_ref()
            .map_or_else(String::new, |o| [o.name.as_str(), " — "].concat());
        format!(
            "{of}Customer-experience council — {} ({})",
            self.period.label,
            self.period.dates()
        )
    }

    /// The report's outline, in the order a council goes through it.
    fn outline(&self) -> Vec<Block> {
        let org = self.organisation.as_deref();
        let t = &self.total;
        let mut out = vec![Block::P(format!(
            "Against {} ({}). {} responses ({} before); bursts left out. Effort: 1 very difficult … 7 very easy.",
            self.previous.label,
            self.previous.dates(),
            t.now.responses,
            t.before.responses
        ))];
        out.push(Block::H2("Actions from the last meeting".into()));
        if self.actions.is_empty() {
            out.push(Block::P("No actions were open.".into()));
        } else {
            out.push(Block::Table {
                header: [
                    "action",
                    "department",
                    "touchpoint",
                    "due",
                    "status",
                    "what was done",
                ]
                .map(str::to_owned)
                .to_vec(),
                rows: self
                    .actions
                    .iter()
                    .map(|(a, standing)| {
                        vec![
                            a.what.clone(),
                            department_name(org, &a.department),
                            a.touchpoint.clone().unwrap_or_else(|| "–".into()),
                            a.due.clone(),
                            standing.as_str().to_owned(),
                            match standing {
                                Standing::Done => a.note.clone().unwrap_or_default(),
                                _ => String::new(),
                            },
                        ]
                    })
                    .collect(),
            });
        }
        out.push(Block::H2("Headline".into()));
        out.push(table("measure", std::slice::from_ref(t)));
        out.push(Block::H2("By department".into()));
        out.push(table("department", &self.departments));
        if !self.journeys.is_empty() {
            out.push(Block::H2("Journeys".into()));
        }
        for journey in &self.journeys {
            out.push(Block::H3(format!(
                "{} — mean effort {}",
                journey.name,
                mean(journey.effort_mean)
            )));
            out.push(Block::Table {
                header: [
                    "step",
                    "department",
                    "responses",
                    "effort (1–7)",
                    "confidence (1–5)",
                    "pleased or delighted",
                    "",
                ]
                .map(str::to_owned)
                .to_vec(),
                rows: journey
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let mut marks = Vec::new();
                        if journey.weakest_step == Some(i) {
                            marks.push("breaks here".to_owned());
                        }
                        if journey.widest_gap == Some(i) {
                            marks.push(format!("channels differ by {}", mean(s.channel_gap())));
                        }
                        vec![
                            format!("{}. {}", i + 1, s.name),
                            department_name(org, &s.department),
                            s.counts.responses.to_string(),
                            mean(s.counts.effort_mean()),
                            mean(s.counts.confidence_mean()),
                            share(positive_share(&s.counts)),
                            marks.join("; "),
                        ]
                    })
                    .collect(),
            });
        }
        out.push(Block::H2("Best practice to share".into()));
        if self.best_practice.is_empty() {
            out.push(Block::P(format!(
                "No touchpoint or site with {MIN_ANSWERS} responses in both periods improved its effort."
            )));
        }
        for p in &self.best_practice {
            let l = &p.line;
            out.push(Block::P(format!(
                "The {} that improved most: {} — effort {} → {} ({}), pleased or delighted {} → {}, {} responses.",
                p.what,
                l.label,
                mean(l.before.effort_mean()),
                mean(l.now.effort_mean()),
                change(l.now.effort_mean(), l.before.effort_mean()),
                share(positive_share(&l.before)),
                share(positive_share(&l.now)),
                l.now.responses
            )));
        }
        out.push(Block::H2("Biggest movers (effort)".into()));
        if self.movers.is_empty() {
            out.push(Block::P("No touchpoint moved by 0.05 or more.".into()));
        } else {
            out.push(table("touchpoint", &self.movers));
        }
        out.push(Block::H2("Lowest-scoring touchpoints".into()));
        if self.lowest.is_empty() {
            out.push(Block::P(format!(
                "No touchpoint had {MIN_ANSWERS} responses."
            )));
        }
        for ((line, quotes), themes) in self.lowest.iter().zip(&self.lowest_themes) {
            out.push(Block::H3(format!(
                "{} — effort {} ({} responses)",
                line.label,
                mean(line.now.effort_mean()),
                line.now.responses
            )));
            out.push(themes_table(themes));
            if quotes.is_empty() {
                out.push(Block::P("No comments this period.".into()));
            }
            for q in quotes {
                out.push(Block::Quote {
                    text: q.text.clone(),
                    locale: q.locale.clone(),
                    effort: q.effort.map_or_else(|| "–".to_owned(), |e| e.to_string()),
                });
            }
        }
        if let Some(view) = &self.impact {
            out.extend(impact_blocks(view));
        }
        out.push(Block::H2("Every touchpoint".into()));
        out.push(table("touchpoint", &self.touchpoints));
        out.push(Block::P(format!(
            "Touchpoints with fewer than {MIN_ANSWERS} responses are not ranked among movers, lowest or best practice."
        )));
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n\n", md_text(&self.title()));
        for block in self.outline() {
            match block {
                Block::H2(text) => {
                    let _ = writeln!(out, "## {}\n", md_text(&text));
                }
                Block::H3(text) => {
                    let _ = writeln!(out, "### {}\n", md_text(&text));
                }
                Block::P(text) => {
                    let _ = writeln!(out, "{}\n", md_text(&text));
                }
                Block::Table { header, rows } => {
                    let cells = |row: &[String]| {
                        row.iter()
                            .map(|c| md_text(c))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    };
                    let _ = writeln!(out, "| {} |", cells(&header));
                    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
                    for row in rows {
                        let _ = writeln!(out, "| {} |", cells(&row));
                    }
                    out.push('\n');
                }
                Block::Quote {
                    text,
                    locale,
                    effort,
                } => {
                    let _ = writeln!(out, "> {} *(effort {effort}, {locale})*\n", md_text(&text));
                }
            }
        }
        out
    }

    /// The printable HTML page; `stylesheet` is where its styles come from.
    pub fn to_html(&self, stylesheet: Stylesheet) -> String {
        let mut out = String::new();
        let title = self.title();
        head(&mut out, &title, stylesheet);
        let _ = writeln!(
            out,
            "</head>\n<body class=\"report\">\n<main>\n<h1>{}</h1>",
            escape(&title)
        );
        for block in self.outline() {
            match block {
                Block::H2(text) => {
                    let _ = writeln!(out, "<h2>{}</h2>", escape(&text));
                }
                Block::H3(text) => {
                    let _ = writeln!(out, "<h3>{}</h3>", escape(&text));
                }
                Block::P(text) => {
                    let _ = writeln!(out, "<p>{}</p>", escape(&text));
                }
                Block::Table { header, rows } => {
                    out.push_str("<table>\n<thead><tr>");
                    for h in &header {
                        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
                    }
                    out.push_str("</tr></thead>\n<tbody>\n");
                    for row in rows {
                        out.push_str("<tr>");
                        for (i, cell) in row.iter().enumerate() {
                            if i == 0 {
                                let _ = write!(out, "<th scope=\"row\">{}</th>", escape(cell));
                            } else {
                                let _ = write!(out, "<td>{}</td>", escape(cell));
                            }
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</tbody>\n</table>\n");
                }
                Block::Quote {
                    text,
                    locale,
                    effort,
                } => {
                    let _ = writeln!(
                        out,
                        "<blockquote lang=\"{0}\" dir=\"auto\">{1}<footer>effort {2}, {0}</footer></blockquote>",
                        escape(&locale),
                        escape(&text),
                        escape(&effort)
                    );
                }
            }
        }
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }

    /// The figures as JSON: each line's counts in the shape of `GET /v1/stats`.
    pub fn to_json(&self) -> Value {
        let line = |l: &Line| {
            let key: serde_json::Map<String, Value> = l
                .key
                .iter()
                .map(|(d, v)| (d.name().to_owned(), json!(v)))
                .collect();
            json!({
                "key": key, "label": l.label,
                "now": l.now.to_json(), "before": l.before.to_json(),
            })
        };
        json!({
            "organisation": self.organisation.as_ref().map(|o| o.name.clone()),
            "period": self.period.label,
            "from": stats::date_of(self.period.from_day),
            "to": stats::date_of(self.period.to_day),
            "previous": self.previous.label,
            "actions": self.actions.iter().map(|(a, standing)| {
                let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
                v["status"] = json!(standing.as_str());
                v
            }).collect::<Vec<_>>(),
            "total": line(&self.total),
            "departments": self.departments.iter().map(line).collect::<Vec<_>>(),
            "journeys": self.journeys.iter().map(|j| j.to_json()).collect::<Vec<_>>(),
            "best_practice": self.best_practice.iter().map(|p| {
                let mut v = line(&p.line);
                v["what"] = json!(p.what);
                v
            }).collect::<Vec<_>>(),
            "touchpoints": self.touchpoints.iter().map(line).collect::<Vec<_>>(),
            "movers": self.movers.iter().map(line).collect::<Vec<_>>(),
            "lowest": self.lowest.iter().zip(&self.lowest_themes).map(|((l, q), themes)| {
                let mut v = line(l);
                v["comments"] = json!(q.iter().map(|q| &q.text).collect::<Vec<_>>());
                v["themes"] = json!(themes.themes.iter().map(|t| t.to_json(themes)).collect::<Vec<_>>());
                v
            }).collect::<Vec<_>>(),
            "impact": self.impact.as_ref().map(|v| v.to_json()),
        })
    }
}

/// The business view's blocks, after the lowest touchpoints: for each touchpoint where an
/// outcome joined answers, what a hard experience cost and which measure moves it most;
/// nothing when no outcome joined an answer in the period.
fn impact_blocks(view: &View) -> Vec<Block> {
    let mut out = Vec::new();
    for t in &view.touchpoints {
        for o in t.outcomes.iter().filter(|o| happened(o)) {
            if out.is_empty() {
                out.push(Block::H2("What a hard experience costs".into()));
                out.push(Block::P(EXPLAINED.into()));
            }
            out.push(Block::H3(format!("{} — {}", t.name, o.name)));
            out.push(Block::P(o.sentence(&t.name, &t.answers, &view.currency)));
            out.push(Block::Table {
                header: [
                    "effort band",
                    "answers",
                    "with the outcome",
                    "rate (95 % interval)",
                ]
                .map(str::to_owned)
                .to_vec(),
                rows: Band::ALL
                    .iter()
                    .map(|&band| {
                        vec![
                            format!("{} ({})", band.name(), band.meaning()),
                            t.answers[band as usize].to_string(),
                            o.with[band as usize].to_string(),
                            rate_text(o, &t.answers, band),
                        ]
                    })
                    .collect(),
            });
            for ((measure, fit), sums) in MEASURES.iter().zip(o.fits()).zip(&o.sums) {
                out.push(Block::P(o.fit_sentence(measure, fit, sums.n)));
            }
        }
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

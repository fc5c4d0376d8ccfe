//! The dashboard's charts and form pieces: headline tiles, a line chart, effort and emotion bars
//! as SVG with a text alternative, and the filters' selects.

use std::fmt::Write as _;

use crate::{
    read::{html::escape, report::MIN_ANSWERS},
    stats::Counts,
};

pub(super) fn fmt_mean(m: Option<f64>) -> String {
    m.map_or_else(|| "–".to_owned(), |m| format!("{m:.2}"))
}

/// A change against the previous period, with the class that colours it (higher is better).
pub(super) fn fmt_change(
    now: Option<f64>,
    before: Option<f64>,
    unit: &str,
) -> (String, &'static str) {
    match (now, before) {
        (Some(n), Some(b)) if (n - b).abs() < 0.005 => (format!("±0{unit} vs previous"), "flat"),
        (Some(n), Some(b)) if n > b => (format!("▲ +{:.2}{unit} vs previous", n - b), "up"),
        (Some(n), Some(b)) => (format!("▼ −{:.2}{unit} vs previous", b - n), "down"),
        _ => ("no previous figures".to_owned(), "flat"),
    }
}

pub(super) fn tile(out: &mut String, label: &str, value: String, change: (String, &'static str)) {
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
pub(super) fn line_chart(
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
pub(super) fn effort_bars(out: &mut String, title: &str, rows: &[(String, Counts)]) {
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
pub(super) fn emotion_bars(out: &mut String, title: &str, rows: &[(String, Counts)]) {
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

pub(super) fn options(
    out: &mut String,
    name: &str,
    label: &str,
    values: &[String],
    chosen: Option<&str>,
) {
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

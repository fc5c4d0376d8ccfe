//! The dashboard's comment themes: a bubble list (a circle's area = the comments that carry the
//! theme, its colour = their mean effort, and every figure also written out as text), each theme
//! a link to the same view that lists the comments carrying it (`theme=locale:key`).

use std::fmt::Write as _;

use super::{charts::fmt_mean, View};
use crate::{
    read::{html::escape, themes},
    stats::BadQuery,
    store::{Store, StoreError},
};

/// Themes the dashboard shows, and comments listed for the one chosen.
const SHOWN: usize = 12;
const COMMENTS: usize = 20;

/// Reads the `theme` parameter: `locale:key`, as the themes link it.
pub(super) fn parse(text: &str) -> Result<(String, String), BadQuery> {
    const RULE: BadQuery = BadQuery(
        "theme must be a locale, ':' and a theme's key, as the dashboard's themes link it",
    );
    let (locale, key) = text.split_once(':').ok_or(RULE)?;
    let locale = protocol::Locale::parse(locale).map_err(|_| RULE)?;
    if key.is_empty() || key.len() > 64 {
        return Err(RULE);
    }
    Ok((locale.as_str().to_owned(), key.to_owned()))
}

/// The effort band that colours a bubble, named in words too.
fn band(mean: Option<f64>) -> (&'static str, &'static str) {
    match mean {
        Some(m) if m <= 3.0 => ("hard", "hard"),
        Some(m) if m < 5.0 => ("mid", "neutral"),
        Some(_) => ("easy", "easy"),
        None => ("none", "no effort answers"),
    }
}

/// The themes of the view, and the comments of the chosen one.
pub(super) fn section(out: &mut String, store: &dyn Store, view: &View) -> Result<(), StoreError> {
    let query = view.now(&[]);
    let found = themes::themes(store, &query, view.from, view.to, SHOWN, 0)?;
    out.push_str("<section class=\"panel\" id=\"themes\"><h2>Comment themes</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">Phrases that at least {} comments carry, in their language: a circle's area is the number of comments, its colour their mean effort (red hard, amber neutral, green easy); the change is in the share of comments against the {} days before.{}</p>",
        themes::MIN_COMMENTS,
        view.to - view.from,
        if view.query.site.is_some() || view.query.segment.is_some() {
            " Themes are counted by touchpoint, channel and locale: the site and segment filters do not narrow them."
        } else {
            ""
        }
    );
    if found.themes.is_empty() {
        out.push_str("<p class=\"note\">No theme in this view yet.</p>\n");
    }
    let most = found
        .themes
        .iter()
        .map(|t| t.counts.responses)
        .max()
        .unwrap_or(1)
        .max(1);
    out.push_str("<ul class=\"themes\">\n");
    for theme in &found.themes {
        let (now, before) = theme.shares(&found);
        let mean = theme.counts.effort_mean();
        let (class, words) = band(mean);
        // Area in proportion to the count: the radius goes with its square root.
        let radius = 4.0 + 14.0 * (theme.counts.responses as f64 / most as f64).sqrt();
        let change = match (now, before) {
            (Some(n), Some(b)) if (n - b).abs() < 0.0005 => "±0 pts".to_owned(),
            (Some(n), Some(b)) if n > b => format!("▲ +{:.1} pts", (n - b) * 100.0),
            (Some(n), Some(b)) => format!("▼ −{:.1} pts", (b - n) * 100.0),
            _ => "no previous figures".to_owned(),
        };
        let link = view.link(&[("theme", Some(format!("{}:{}", theme.locale, theme.key)))]);
        let _ = writeln!(
            out,
            "<li><svg class=\"bubble\" viewBox=\"0 0 40 40\" aria-hidden=\"true\"><circle class=\"b-{class}\" cx=\"20\" cy=\"20\" r=\"{radius:.1}\"/></svg>\
             <a href=\"{}#themes\" lang=\"{}\" dir=\"auto\">{}</a>\
             <span class=\"meta\">{} comments ({:.1} %) · effort {} ({words}) · {change} · {}</span></li>",
            escape(&link),
            theme.locale,
            escape(&theme.label),
            theme.counts.responses,
            now.unwrap_or(0.0) * 100.0,
            fmt_mean(mean),
            theme.locale,
        );
    }
    out.push_str("</ul>\n");
    if let Some((locale, key)) = &view.theme {
        let label = found
            .themes
            .iter()
            .find(|t| t.locale == locale && &t.key == key)
            .map_or(key.as_str(), |t| t.label.as_str());
        let comments =
            themes::comments_of(store, &query, (view.from, view.to), (locale, key), COMMENTS)?;
        let _ = writeln!(
            out,
            "<h3>Comments on “<span lang=\"{locale}\" dir=\"auto\">{}</span>”</h3><p class=\"note\">The latest, newest first. <a href=\"{}#themes\">Close</a></p>",
            escape(label),
            escape(&view.link(&[("theme", None)]))
        );
        if comments.is_empty() {
            out.push_str("<p class=\"note\">No comment in this view carries it.</p>\n");
        }
        out.push_str("<ul class=\"comments\">\n");
        for c in &comments {
            let _ = writeln!(
                out,
                "<li lang=\"{0}\" dir=\"auto\">{1}<span class=\"meta\">{2} · {3} · {4} · effort {5} · {0}</span></li>",
                c.locale,
                escape(&c.comment),
                escape(c.submitted_at.get(..10).unwrap_or_default()),
                c.channel,
                escape(&c.touchpoint),
                c.effort.map_or_else(|| "–".to_owned(), |e| e.to_string()),
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
    Ok(())
}

//! Comment themes over a period (`GET /v1/themes`, the dashboard's themes, the council report):
//! the keyphrases that several comments carry ([`crate::stats::themes`]), merged into themes,
//! each with its count, share of the comments, mean effort and confidence, emotion mix, change
//! against the period before and the latest comments that carry it, read from their records.
//!
//! Merging: a phrase is a theme when at least [`MIN_COMMENTS`] comments carry it; the themes are
//! ranked by how many carry them (a phrase before its own words when as many carry both, then the
//! longer words first: "code" says more than "arrive"; [`crate::stats::themes::Themes::ranked`]
//! hands them over in that order, the best first, and adds up only those looked at), and a
//! phrase whose words all belong to a theme ranked above, carried by at least two thirds as many
//! comments, is left out: "activation" and "code" are not shown beside "activation code" when
//! they mostly come from it. So is a phrase carried by the very comments of a theme above it (as
//! many, with the same latest ones): "arrived" beside "activation code" when every comment that
//! says one says the other.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::{
    stats::{self, themes::phrases, themes::Tally, Counts, Query},
    store::{Store, StoreError},
};

/// Comments a phrase needs to be a theme: one comment's words are not a theme.
pub const MIN_COMMENTS: u64 = 2;

/// Latest comments compared to tell two phrases carried by the same comments.
const COMPARED: usize = 3;

/// One comment that carries a theme, as its record holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub id: String,
    pub submitted_at: String,
    pub channel: &'static str,
    pub touchpoint: String,
    pub locale: &'static str,
    pub effort: Option<u8>,
    pub confidence: Option<u8>,
    pub emotion: Option<&'static str>,
    pub comment: String,
}

/// One theme of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub locale: &'static str,
    /// The stems that identify it ("activ code").
    pub key: String,
    /// Its words as a comment wrote them ("activation code").
    pub label: String,
    pub counts: Counts,
    /// Comments that carried it in the period before, as long.
    pub previous: u64,
    pub examples: Vec<Example>,
}

/// The themes of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Themes {
    pub from: i64,
    pub to: i64,
    /// Comments in the period, and in the period before (`from - (to - from)..from`).
    pub comments: u64,
    pub previous_comments: u64,
    pub themes: Vec<Theme>,
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// The themes of the comments `query` selects over `from..to` (its channel, touchpoint,
/// department and locale filters; bursts left out), at most `limit`, each with up to `examples`
/// of its latest comments.
pub fn themes(
    store: &dyn Store,
    query: &Query,
    from: i64,
    to: i64,
    limit: usize,
    examples: usize,
) -> Result<Themes, StoreError> {
    let aggregates = store.aggregates().ok_or(StoreError::NoStats)?;
    let over = |from: i64, to: i64| Query {
        from_day: Some(from),
        to_day: Some(to),
        include_bursts: false,
        group_by: Vec::new(),
        ..query.clone()
    };
    let (now, before) = (over(from, to), over(from - (to - from), from));
    let totals = aggregates.query_all(&[now.clone(), before.clone()]);
    let comments = |i: usize| totals.get(i).map_or(0, |a| a.total.comments);
    // Which themes are shown is decided on the cells alone (under their lock, cheap); their
    // records are read after.
    let mut picked: Vec<Tally> = Vec::new();
    if limit > 0 {
        aggregates
            .themes()
            .ranked(&now, MIN_COMMENTS, examples.max(COMPARED), |tally| {
                if !left_out(&picked, &tally) {
                    picked.push(tally);
                }
                picked.len() < limit
            });
    }
    // At least one comment of each is read, for the label; a comment that several themes show
    // is read once.
    let shown = |t: &Tally| t.examples.len().min(examples.max(1));
    let mut keys: Vec<u64> = picked
        .iter()
        .flat_map(|t| t.examples[..shown(t)].iter().copied())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let records: HashMap<u64, Example> = keys
        .iter()
        .copied()
        .zip(read_each(store, &keys)?)
        .filter_map(|(k, e)| Some((k, e?)))
        .collect();
    let mut chosen: Vec<Theme> = Vec::with_capacity(picked.len());
    for tally in picked {
        let mut read: Vec<Example> = tally.examples[..shown(&tally)]
            .iter()
            .filter_map(|k| records.get(k).cloned())
            .collect();
        let label = read
            .iter()
            .find_map(|e| phrases::label(tally.locale, &e.comment, &tally.key))
            .unwrap_or_else(|| tally.key.clone());
        read.truncate(examples);
        chosen.push(Theme {
            previous: 0,
            locale: tally.locale,
            key: tally.key,
            label,
            counts: tally.counts,
            examples: read,
        });
    }
    let wanted: Vec<(&str, &str)> = chosen.iter().map(|t| (t.locale, t.key.as_str())).collect();
    let previous = aggregates.themes().count_each(&before, &wanted);
    for (theme, previous) in chosen.iter_mut().zip(previous) {
        theme.previous = previous;
    }
    Ok(Themes {
        from,
        to,
        comments: comments(0),
        previous_comments: comments(1),
        themes: chosen,
    })
}

/// Whether `tally` is left out beside the themes `chosen` above it: its words all belong to
/// one of them with more words that as many comments carry (two thirds as many at least), or
/// it is carried by the very comments of one of them (as many, the same latest ones).
fn left_out(chosen: &[Tally], tally: &Tally) -> bool {
    let words: Vec<&str> = tally.key.split(' ').collect();
    fn compared(t: &Tally) -> &[u64] {
        &t.examples[..t.examples.len().min(COMPARED)]
    }
    chosen.iter().any(|theme| {
        theme.locale == tally.locale
            && ((theme.key.split(' ').count() > words.len()
                && words.iter().all(|w| theme.key.split(' ').any(|t| t == *w))
                && theme.counts.responses * 3 >= tally.counts.responses * 2)
                || (theme.counts.responses == tally.counts.responses
                    && compared(theme) == compared(tally)))
    })
}

/// The latest `n` comments over `from..to` that `query` selects and that carry the theme `key`
/// of `locale`, newest first.
pub fn comments_of(
    store: &dyn Store,
    query: &Query,
    (from, to): (i64, i64),
    (locale, key): (&str, &str),
    n: usize,
) -> Result<Vec<Example>, StoreError> {
    let aggregates = store.aggregates().ok_or(StoreError::NoStats)?;
    let query = Query {
        from_day: Some(from),
        to_day: Some(to),
        locale: Some(locale.to_owned()),
        ..query.clone()
    };
    let keys = aggregates.themes().latest(&query, (locale, key), n);
    read_examples(store, &keys)
}

/// The records under `keys`, as examples; a record that cannot be read is left out.
fn read_examples(store: &dyn Store, keys: &[u64]) -> Result<Vec<Example>, StoreError> {
    Ok(read_each(store, keys)?.into_iter().flatten().collect())
}

/// The record under each of `keys` as an example, `None` where it cannot be read.
fn read_each(store: &dyn Store, keys: &[u64]) -> Result<Vec<Option<Example>>, StoreError> {
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let mut found = None;
        store.scan(*key, key + 1, &mut |record| {
            if let Ok(s) = protocol::parse_submission(record.json.as_bytes()) {
                if let Some(comment) = &s.comment {
                    found = Some(Example {
                        id: s.id.as_str().to_owned(),
                        submitted_at: s.submitted_at.as_str().to_owned(),
                        channel: s.channel.as_str(),
                        touchpoint: s.touchpoint.as_str().to_owned(),
                        locale: s.locale.as_str(),
                        effort: s.answers.effort().map(|e| e.get()),
                        confidence: s.answers.confidence().map(|c| c.get()),
                        emotion: s.answers.emotion().map(|e| e.as_str()),
                        comment: comment.as_str().to_owned(),
                    });
                }
            }
            false
        })?;
        out.push(found);
    }
    Ok(out)
}

impl Theme {
    /// The share of the period's comments that carry it, and of the period before's.
    pub fn shares(&self, themes: &Themes) -> (Option<f64>, Option<f64>) {
        (
            share(self.counts.responses, themes.comments),
            share(self.previous, themes.previous_comments),
        )
    }

    /// The answer shape of one theme in `GET /v1/themes`.
    pub fn to_json(&self, themes: &Themes) -> Value {
        let (now, before) = self.shares(themes);
        let counts = self.counts.to_json();
        let examples: Vec<Value> = self
            .examples
            .iter()
            .map(|e| {
                json!({
                    "id": e.id,
                    "submitted_at": e.submitted_at,
                    "channel": e.channel,
                    "touchpoint": e.touchpoint,
                    "locale": e.locale,
                    "effort": e.effort,
                    "confidence": e.confidence,
                    "emotion": e.emotion,
                    "comment": e.comment,
                })
            })
            .collect();
        json!({
            "theme": self.label,
            "key": self.key,
            "locale": self.locale,
            "count": self.counts.responses,
            "share": now.map(|s| round(s, 4)),
            "effort": counts["effort"],
            "confidence": counts["confidence"],
            "emotion": counts["emotion"],
            "previous": {"count": self.previous, "share": before.map(|s| round(s, 4))},
            "change": match (now, before) {
                (Some(now), Some(before)) => Some(round(now - before, 4)),
                _ => None,
            },
            "examples": examples,
        })
    }
}

impl Themes {
    /// The answer of `GET /v1/themes`.
    pub fn to_json(&self) -> Value {
        let len = self.to - self.from;
        json!({
            "from": stats::date_of(self.from),
            "to": stats::date_of(self.to),
            "previous": {
                "from": stats::date_of(self.from - len),
                "to": stats::date_of(self.from),
                "comments": self.previous_comments,
            },
            "comments": self.comments,
            "themes": self.themes.iter().map(|t| t.to_json(self)).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        demo,
        stats::Query,
        store::{SledStore, Store},
    };

    /// The demo's story: card activation is hard, and its comments say why in every locale.
    #[test]
    fn the_demo_card_activation_comments_give_an_activation_code_theme_in_each_locale() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        demo::seed(&store, 3000, 28, 1_795_341_600_000_000).expect("seeded");
        let (first, last) = store
            .aggregates()
            .and_then(|a| a.day_range())
            .expect("days");
        for (locale, label) in [
            ("en", "activation code"),
            ("es", "código de activación"),
            ("fr", "code d'activation"),
            ("de", "aktivierungscode"),
            ("ar", "رمز التفعيل"),
        ] {
            let query = Query {
                touchpoint: Some("card-activation".into()),
                locale: Some(locale.into()),
                ..Query::default()
            };
            let found = super::themes(&store, &query, first, last + 1, 20, 3).expect("themes");
            let theme = found.themes.iter().find(|t| t.label == label);
            assert!(
                theme.is_some_and(|t| t.examples.iter().all(|e| e.locale == locale
                    && e.touchpoint == "card-activation"
                    && e.comment.to_lowercase().contains(label))),
                "{locale}: {:?}",
                found
                    .themes
                    .iter()
                    .map(|t| (&t.label, t.counts.responses))
                    .collect::<Vec<_>>()
            );
        }
    }
}

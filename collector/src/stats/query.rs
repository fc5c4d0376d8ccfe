//! Stats queries: the filters and groupings of `GET /v1/stats` (and of the dashboard and the
//! report), read once from their parameters, and their answers.

use std::sync::Arc;

use protocol::{Channel, Timestamp};
use serde_json::{json, Value};

use super::calendar::{date_of, parse_date, week_label, weekday, DAY_MILLIS};
use super::{Cell, Counts};
use crate::org::{self, Organisation};

/// A bad query parameter; the message names the parameter and its rule, never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadQuery(pub &'static str);

/// A `channel` parameter: one of the channels.
pub fn parse_channel(text: &str) -> Result<Channel, BadQuery> {
    Channel::parse(text).map_err(|_| BadQuery("channel must be one of web, kiosk, agent"))
}

/// A dimension to filter or group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim {
    Channel,
    Touchpoint,
    Site,
    Agent,
    Segment,
    Locale,
    Day,
    Week,
    /// The department that owns the touchpoint, by the organisation file in force (or the
    /// channel's, without one).
    Department,
}

impl Dim {
    pub const ALL: [Dim; 9] = [
        Dim::Channel,
        Dim::Touchpoint,
        Dim::Site,
        Dim::Agent,
        Dim::Segment,
        Dim::Locale,
        Dim::Day,
        Dim::Week,
        Dim::Department,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dim::Channel => "channel",
            Dim::Touchpoint => "touchpoint",
            Dim::Site => "site",
            Dim::Agent => "agent",
            Dim::Segment => "segment",
            Dim::Locale => "locale",
            Dim::Day => "day",
            Dim::Week => "week",
            Dim::Department => "department",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == text)
    }

    /// The cell's value in this dimension, cheaply comparable; written out only once per group.
    /// Departments are read from `owners`.
    pub(super) fn part<'a>(
        self,
        day: i64,
        cell: &'a Cell,
        owners: Option<&'a Organisation>,
    ) -> Part<'a> {
        fn name(n: Option<&Arc<str>>) -> Part<'_> {
            n.map_or(Part::Missing, |n| Part::Name(n))
        }
        match self {
            Dim::Channel => Part::Name(cell.channel.as_str()),
            Dim::Touchpoint => Part::Name(&cell.touchpoint),
            Dim::Site => name(cell.site.as_ref()),
            Dim::Agent => name(cell.agent.as_ref()),
            Dim::Segment => name(cell.segment.as_ref()),
            Dim::Locale => Part::Name(cell.locale),
            Dim::Day => Part::Day(day),
            Dim::Week => Part::Day(day - weekday(day)),
            Dim::Department => {
                Part::Name(org::department_of(owners, cell.channel, &cell.touchpoint))
            }
        }
    }

    /// The text of a part of a group's key in this dimension.
    pub(super) fn text(self, part: Part<'_>) -> Option<String> {
        match (self, part) {
            (_, Part::Missing) => None,
            (_, Part::Name(name)) => Some(name.to_owned()),
            (Dim::Week, Part::Day(monday)) => Some(week_label(monday)),
            (_, Part::Day(day)) => Some(date_of(day)),
        }
    }
}

/// One part of a group's key while a query runs: a name borrowed from the cells, or a day. Parts
/// order as their text does (a missing value first; days and ISO weeks by date), so groups are
/// sorted before their keys are written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Part<'a> {
    Missing,
    Name(&'a str),
    Day(i64),
}

/// A stats query: whole UTC days `from_day..to_day`, equality filters, up to three dimensions to
/// group by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub from_day: Option<i64>,
    pub to_day: Option<i64>,
    pub channel: Option<Channel>,
    pub touchpoint: Option<String>,
    pub site: Option<String>,
    pub agent: Option<String>,
    pub segment: Option<String>,
    pub locale: Option<String>,
    pub group_by: Vec<Dim>,
    pub include_bursts: bool,
    pub department: Option<String>,
    /// Where departments come from: the organisation file in force, or none (the channels').
    pub owners: Option<Owners>,
}

/// The organisation a query reads departments from, compared by identity (one file in force).
#[derive(Debug, Clone)]
pub struct Owners(pub Arc<Organisation>);

impl PartialEq for Owners {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Query {
    /// The organisation departments are read from.
    pub fn owners(&self) -> Option<&Organisation> {
        self.owners.as_ref().map(|o| &*o.0)
    }
}

/// The parameters of `GET /v1/stats`, read by serde; anything else is refused
/// ([`Params::UNKNOWN`]) so a typo is not a silently unfiltered answer.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub from: Option<String>,
    pub to: Option<String>,
    pub channel: Option<String>,
    pub touchpoint: Option<String>,
    pub site: Option<String>,
    pub agent: Option<String>,
    pub segment: Option<String>,
    pub locale: Option<String>,
    pub group_by: Option<String>,
    pub include_bursts: Option<String>,
    pub department: Option<String>,
}

impl Params {
    /// The rule a query string that names another parameter (or one twice) breaks.
    pub const UNKNOWN: BadQuery = BadQuery(
        "unknown or repeated parameter: use from, to, channel, touchpoint, site, agent, segment, locale, department, group_by, include_bursts",
    );

    /// The query these parameters ask.
    pub fn query(&self) -> Result<Query, BadQuery> {
        Query::parse(&|name| {
            match name {
                "from" => &self.from,
                "to" => &self.to,
                "channel" => &self.channel,
                "touchpoint" => &self.touchpoint,
                "site" => &self.site,
                "agent" => &self.agent,
                "segment" => &self.segment,
                "locale" => &self.locale,
                "group_by" => &self.group_by,
                "include_bursts" => &self.include_bursts,
                "department" => &self.department,
                _ => &None,
            }
            .clone()
        })
    }
}

impl Query {
    /// Reads query parameters. `from`/`to` are dates or RFC 3339 times, truncated to their UTC
    /// day; `from` is inclusive and `to` exclusive.
    pub fn parse(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, BadQuery> {
        let value = |name: &str| get(name).filter(|v| !v.is_empty());
        let day = |name: &str, message: &'static str| -> Result<Option<i64>, BadQuery> {
            let Some(text) = value(name) else {
                return Ok(None);
            };
            if let Some(day) = parse_date(&text) {
                return Ok(Some(day));
            }
            Timestamp::parse(&text)
                .map(|t| Some(t.unix_millis().div_euclid(DAY_MILLIS)))
                .map_err(|_| BadQuery(message))
        };
        let ident = |name: &str, message: &'static str| -> Result<Option<String>, BadQuery> {
            value(name)
                .map(|v| {
                    protocol::Ident::parse(&v)
                        .map(|i| i.as_str().to_owned())
                        .ok_or(BadQuery(message))
                })
                .transpose()
        };
        let mut group_by = Vec::new();
        if let Some(dims) = value("group_by") {
            for name in dims.split(',') {
                let dim = Dim::parse(name.trim()).ok_or(BadQuery(
                    "group_by must be up to three of channel, touchpoint, site, agent, segment, locale, department, day, week (comma-separated)",
                ))?;
                if !group_by.contains(&dim) {
                    group_by.push(dim);
                }
            }
            if group_by.len() > 3 {
                return Err(BadQuery("group_by takes at most three dimensions"));
            }
        }
        Ok(Self {
            from_day: day(
                "from",
                "from must be a YYYY-MM-DD date or an RFC 3339 timestamp",
            )?,
            to_day: day(
                "to",
                "to must be a YYYY-MM-DD date or an RFC 3339 timestamp",
            )?,
            channel: value("channel").map(|c| parse_channel(&c)).transpose()?,
            touchpoint: ident(
                "touchpoint",
                "touchpoint must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'",
            )?,
            site: ident(
                "site",
                "site must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'",
            )?,
            agent: ident(
                "agent",
                "agent must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'",
            )?,
            segment: ident(
                "segment",
                "segment must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'",
            )?,
            locale: value("locale")
                .map(|l| {
                    protocol::Locale::parse(&l)
                        .map(|l| l.as_str().to_owned())
                        .map_err(|_| BadQuery("locale must be one of the instrument's locales"))
                })
                .transpose()?,
            group_by,
            include_bursts: match value("include_bursts").as_deref() {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => return Err(BadQuery("include_bursts must be true or false")),
            },
            department: ident(
                "department",
                "department must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'",
            )?,
            owners: None,
        })
    }

    pub(super) fn matches(&self, cell: &Cell) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| have == Some(w))
        };
        (self.include_bursts || !cell.burst)
            && self.channel.is_none_or(|c| c == cell.channel)
            && same(&self.touchpoint, Some(&cell.touchpoint))
            && same(&self.site, cell.site.as_deref())
            && same(&self.agent, cell.agent.as_deref())
            && same(&self.segment, cell.segment.as_deref())
            && same(&self.locale, Some(cell.locale))
            // Looked up only when asked for: most queries do not filter by department.
            && self.department.as_deref().is_none_or(|d| {
                org::department_of(self.owners(), cell.channel, &cell.touchpoint) == d
            })
    }
}

/// One group of an answer: its key (one value per `group_by` dimension) and its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: Vec<(Dim, Option<String>)>,
    pub counts: Counts,
}

impl Group {
    /// The key's value in `dim`, when the answer is grouped by it.
    pub fn get(&self, dim: Dim) -> Option<&str> {
        self.key
            .iter()
            .find(|(d, _)| *d == dim)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// What a stats query answers: the groups in key order and the total over all of them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    pub groups: Vec<Group>,
    pub total: Counts,
}

impl Answer {
    /// The same answer grouped coarser: each group under the key `key` gives it (which must
    /// name the same dimensions for every group), groups with one key summed, in key order. A
    /// page that needs a grouping and a coarser one (touchpoints per channel, and touchpoints or
    /// departments) reads and hashes the cells once, for the finer.
    pub fn regroup(&self, key: impl Fn(&Group) -> Vec<(Dim, Option<String>)>) -> Answer {
        let mut at: foldhash::HashMap<Vec<(Dim, Option<String>)>, Counts> =
            foldhash::HashMap::default();
        for group in &self.groups {
            at.entry(key(group)).or_default().add(&group.counts);
        }
        let mut groups: Vec<Group> = at
            .into_iter()
            .map(|(key, counts)| Group { key, counts })
            .collect();
        groups.sort_by(|a, b| {
            a.key
                .iter()
                .map(|(_, v)| v)
                .cmp(b.key.iter().map(|(_, v)| v))
        });
        Answer {
            groups,
            total: self.total,
        }
    }

    pub fn to_json(&self) -> Value {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|g| {
                let mut value = g.counts.to_json();
                let key: serde_json::Map<String, Value> = g
                    .key
                    .iter()
                    .map(|(d, v)| (d.name().to_owned(), json!(v)))
                    .collect();
                value["key"] = Value::Object(key);
                value
            })
            .collect();
        json!({"groups": groups, "total": self.total.to_json()})
    }
}

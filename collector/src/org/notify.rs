//! The organisation file's `[[endpoint]]` and `[[alert]]` sections: where events go (Standard
//! Webhooks, or a readable message for Slack- and Teams-style incoming webhooks) and which answers
//! raise an alert, each in a scope and routed to endpoints. Read and checked here, with the line
//! and rule of every mistake; sending is [`crate::webhooks`]'s.

use std::ops::Range;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{Department, OrgError};

/// What happened: the `type` of a webhook's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "response.created")]
    ResponseCreated,
    #[serde(rename = "alert.opened")]
    AlertOpened,
    #[serde(rename = "alert.resolved")]
    AlertResolved,
}

impl EventKind {
    pub const ALL: [Self; 3] = [
        Self::ResponseCreated,
        Self::AlertOpened,
        Self::AlertResolved,
    ];

    /// The name endpoints subscribe to, and the body's `type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::ResponseCreated => "response.created",
            Self::AlertOpened => "alert.opened",
            Self::AlertResolved => "alert.resolved",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn byte(self) -> u8 {
        match self {
            Self::ResponseCreated => 0,
            Self::AlertOpened => 1,
            Self::AlertResolved => 2,
        }
    }

    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.byte() == byte)
    }
}

/// What an endpoint receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"type","timestamp","data"}`, signed per the Standard Webhooks specification.
    StandardWebhooks,
    /// `{"text": …}`: a message people read, for Slack- or Teams-style incoming webhooks.
    Slack,
}

/// Where an endpoint's or an alert's answers come from; every part given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub department: Option<String>,
    pub touchpoint: Option<String>,
    pub site: Option<String>,
    pub channel: Option<protocol::Channel>,
}

impl Scope {
    /// Whether an answer on `channel` at `touchpoint` (of `department`, at `site`) is in scope.
    pub fn matches(
        &self,
        department: &str,
        touchpoint: &str,
        site: Option<&str>,
        channel: protocol::Channel,
    ) -> bool {
        self.department.as_deref().is_none_or(|d| d == department)
            && self.touchpoint.as_deref().is_none_or(|t| t == touchpoint)
            && self.site.as_deref().is_none_or(|s| Some(s) == site)
            && self.channel.is_none_or(|c| c == channel)
    }

    /// `department:digital,touchpoint:card-activation`, or `all`.
    pub fn label(&self) -> String {
        let parts: Vec<String> = [
            self.department.as_ref().map(|d| format!("department:{d}")),
            self.touchpoint.as_ref().map(|t| format!("touchpoint:{t}")),
            self.site.as_ref().map(|s| format!("site:{s}")),
            self.channel.map(|c| format!("channel:{}", c.as_str())),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            "all".into()
        } else {
            parts.join(",")
        }
    }
}

/// A `[[endpoint]]`.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    /// The `whsec_` secrets, decoded: the first signs; while a secret is rotated, each signs.
    pub secrets: Vec<SigningKey>,
    /// The environment variable named by `secret = "env:…"` (shown instead of the secret).
    pub secret_env: String,
    pub events: Vec<EventKind>,
    pub scope: Scope,
    pub format: Format,
}

/// A decoded `whsec_` secret; never printed.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// Decodes `whsec_<base64>`.
    pub fn parse(text: &str) -> Option<Self> {
        let encoded = text.trim().strip_prefix("whsec_")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        (!bytes.is_empty()).then_some(Self(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
}

/// What an `[[alert]]` watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// One answer: every condition given must hold.
    Answer {
        effort_at_most: Option<u8>,
        confidence_at_most: Option<u8>,
        emotions: Vec<String>,
        comment: bool,
    },
    /// The share of answers with effort at most `low_effort_at_most` over the last
    /// `window_minutes`, once there are `min_responses`; resolved when it falls below.
    Rate {
        low_share_at_least: f64,
        low_effort_at_most: u8,
        window_minutes: u32,
        min_responses: u32,
    },
}

/// A `[[alert]]`.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub id: String,
    pub scope: Scope,
    pub condition: Condition,
    /// Endpoint ids.
    pub notify: Vec<String>,
    /// Minutes of the day, in the organisation's time zone: from (inclusive), to (exclusive);
    /// it may wrap past midnight.
    pub quiet_hours: Option<(u16, u16)>,
}

impl AlertRule {
    /// Whether `minute` (of the day, 0–1439) falls in the rule's quiet hours.
    pub fn is_quiet(&self, minute: u16) -> bool {
        match self.quiet_hours {
            None => false,
            Some((from, to)) if from <= to => (from..to).contains(&minute),
            Some((from, to)) => minute >= from || minute < to,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    id: Spanned<String>,
    url: Spanned<String>,
    secret: Spanned<String>,
    events: Spanned<Vec<Spanned<String>>>,
    department: Option<Spanned<String>>,
    touchpoint: Option<Spanned<String>>,
    site: Option<Spanned<String>>,
    channel: Option<Spanned<String>>,
    #[serde(default)]
    format: Option<Spanned<String>>,
}

struct RawScope {
    department: Option<Spanned<String>>,
    touchpoint: Option<Spanned<String>>,
    site: Option<Spanned<String>>,
    channel: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlert {
    id: Spanned<String>,
    department: Option<Spanned<String>>,
    touchpoint: Option<Spanned<String>>,
    site: Option<Spanned<String>>,
    channel: Option<Spanned<String>>,
    effort_at_most: Option<Spanned<i64>>,
    confidence_at_most: Option<Spanned<i64>>,
    emotions: Option<Spanned<Vec<Spanned<String>>>>,
    comment: Option<Spanned<bool>>,
    low_share_at_least: Option<Spanned<f64>>,
    low_effort_at_most: Option<Spanned<i64>>,
    window_minutes: Option<Spanned<i64>>,
    min_responses: Option<Spanned<i64>>,
    notify: Spanned<Vec<Spanned<String>>>,
    quiet_hours: Option<Spanned<String>>,
}

type At<'a> = &'a dyn Fn(Range<usize>, String) -> OrgError;

fn scope(raw: RawScope, departments: &[Department], at: At<'_>) -> Result<Scope, OrgError> {
    let ident = |v: &Spanned<String>, what: &str| {
        protocol::Ident::parse(v.get_ref())
            .map(|_| v.get_ref().clone())
            .ok_or_else(|| {
                at(
                    v.span(),
                    format!("{what} must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'"),
                )
            })
    };
    if let Some(d) = &raw.department {
        if !departments.iter().any(|known| &known.id == d.get_ref()) {
            return Err(at(
                d.span(),
                format!(
                    "department {:?}, which no [[department]] declares",
                    d.get_ref()
                ),
            ));
        }
    }
    Ok(Scope {
        department: raw.department.as_ref().map(|d| d.get_ref().clone()),
        touchpoint: raw
            .touchpoint
            .as_ref()
            .map(|t| ident(t, "a touchpoint"))
            .transpose()?,
        site: raw.site.as_ref().map(|s| ident(s, "a site")).transpose()?,
        channel: raw
            .channel
            .as_ref()
            .map(|c| {
                protocol::Channel::ALL
                    .into_iter()
                    .find(|known| known.as_str() == c.get_ref())
                    .ok_or_else(|| at(c.span(), "channel must be web, kiosk or agent".into()))
            })
            .transpose()?,
    })
}

/// Checks the endpoints; `ids` holds every id declared so far.
pub(super) fn endpoints(
    raw: Vec<Spanned<RawEndpoint>>,
    departments: &[Department],
    at: At<'_>,
) -> Result<Vec<Endpoint>, OrgError> {
    let mut out: Vec<Endpoint> = Vec::new();
    for e in raw {
        let e = e.into_inner();
        let id = e.id.get_ref().clone();
        if protocol::Ident::parse(&id).is_none() {
            return Err(at(
                e.id.span(),
                "an endpoint's id must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'".into(),
            ));
        }
        if out.iter().any(|known| known.id == id) {
            return Err(at(
                e.id.span(),
                format!("endpoint {id:?} is declared twice"),
            ));
        }
        let url = e.url.get_ref().trim();
        let parsed = reqwest::Url::parse(url).map_err(|_| {
            at(
                e.url.span(),
                format!("endpoint {id:?}: url must be an absolute http:// or https:// URL"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(at(
                e.url.span(),
                format!("endpoint {id:?}: url must be an absolute http:// or https:// URL"),
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(at(
                e.url.span(),
                format!("endpoint {id:?}: url must not hold a user or password; sign with the secret instead"),
            ));
        }
        let Some(var) = e.secret.get_ref().strip_prefix("env:") else {
            return Err(at(
                e.secret.span(),
                format!("endpoint {id:?}: secret must be \"env:VARIABLE\", naming the environment variable that holds it, never the secret itself"),
            ));
        };
        let value = std::env::var(var).unwrap_or_default();
        if value.trim().is_empty() {
            return Err(at(
                e.secret.span(),
                format!("endpoint {id:?}: the environment variable {var} is not set"),
            ));
        }
        let secrets = value
            .split_whitespace()
            .map(SigningKey::parse)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                at(
                    e.secret.span(),
                    format!("endpoint {id:?}: {var} must hold whsec_ secrets (whsec_ then base64), several separated by spaces while one is rotated"),
                )
            })?;
        let mut events = Vec::new();
        for name in e.events.get_ref() {
            let kind = EventKind::parse(name.get_ref()).ok_or_else(|| {
                at(
                    name.span(),
                    format!(
                        "endpoint {id:?}: event {:?} is not one of response.created, alert.opened, alert.resolved",
                        name.get_ref()
                    ),
                )
            })?;
            if !events.contains(&kind) {
                events.push(kind);
            }
        }
        if events.is_empty() {
            return Err(at(
                e.events.span(),
                format!("endpoint {id:?} needs at least one event"),
            ));
        }
        let format = match e.format.as_ref().map(|f| f.get_ref().as_str()) {
            None | Some("standard-webhooks") => Format::StandardWebhooks,
            Some("slack") => Format::Slack,
            Some(_) => {
                let span = e.format.as_ref().map_or(0..0, |f| f.span());
                return Err(at(
                    span,
                    format!("endpoint {id:?}: format must be \"standard-webhooks\" or \"slack\""),
                ));
            }
        };
        out.push(Endpoint {
            id,
            url: url.to_owned(),
            secrets,
            secret_env: var.to_owned(),
            events,
            scope: scope(
                RawScope {
                    department: e.department,
                    touchpoint: e.touchpoint,
                    site: e.site,
                    channel: e.channel,
                },
                departments,
                at,
            )?,
            format,
        });
    }
    Ok(out)
}

/// Checks the alerts against the endpoints they notify.
pub(super) fn alerts(
    raw: Vec<Spanned<RawAlert>>,
    departments: &[Department],
    endpoints: &[Endpoint],
    at: At<'_>,
) -> Result<Vec<AlertRule>, OrgError> {
    let mut out: Vec<AlertRule> = Vec::new();
    for a in raw {
        let span = a.span();
        let a = a.into_inner();
        let id = a.id.get_ref().clone();
        if protocol::Ident::parse(&id).is_none() {
            return Err(at(
                a.id.span(),
                "an alert's id must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'"
                    .into(),
            ));
        }
        if out.iter().any(|known| known.id == id) {
            return Err(at(a.id.span(), format!("alert {id:?} is declared twice")));
        }
        let int = |v: &Option<Spanned<i64>>, what: &str, range: Range<i64>| {
            v.as_ref()
                .map(|v| {
                    if range.contains(v.get_ref()) {
                        Ok(*v.get_ref())
                    } else {
                        Err(at(
                            v.span(),
                            format!(
                                "alert {id:?}: {what} must be {} to {}",
                                range.start,
                                range.end - 1
                            ),
                        ))
                    }
                })
                .transpose()
        };
        let condition = if let Some(share) = &a.low_share_at_least {
            if !(share.get_ref() > &0.0 && share.get_ref() <= &1.0) {
                return Err(at(
                    share.span(),
                    format!("alert {id:?}: low_share_at_least must be above 0 and at most 1"),
                ));
            }
            if a.effort_at_most.is_some() || a.confidence_at_most.is_some() || a.emotions.is_some()
            {
                return Err(at(
                    span,
                    format!("alert {id:?}: a rate alert (low_share_at_least) takes no conditions on one answer"),
                ));
            }
            Condition::Rate {
                low_share_at_least: *share.get_ref(),
                low_effort_at_most: int(&a.low_effort_at_most, "low_effort_at_most", 1..8)?
                    .unwrap_or(3) as u8,
                window_minutes: int(&a.window_minutes, "window_minutes", 1..10_081)?.unwrap_or(60)
                    as u32,
                min_responses: int(&a.min_responses, "min_responses", 1..1_000_001)?.unwrap_or(10)
                    as u32,
            }
        } else {
            for (field, given) in [
                ("low_effort_at_most", a.low_effort_at_most.is_some()),
                ("window_minutes", a.window_minutes.is_some()),
                ("min_responses", a.min_responses.is_some()),
            ] {
                if given {
                    return Err(at(
                        span.clone(),
                        format!("alert {id:?}: {field} belongs to a rate alert, which needs low_share_at_least"),
                    ));
                }
            }
            let mut emotions = Vec::new();
            for e in a
                .emotions
                .as_ref()
                .map(|e| e.get_ref().as_slice())
                .unwrap_or(&[])
            {
                if protocol::Emotion::parse(e.get_ref()).is_err() {
                    return Err(at(
                        e.span(),
                        format!(
                            "alert {id:?}: emotion {:?} is not one of angry, frustrated, neutral, pleased, delighted",
                            e.get_ref()
                        ),
                    ));
                }
                emotions.push(e.get_ref().clone());
            }
            let condition = Condition::Answer {
                effort_at_most: int(&a.effort_at_most, "effort_at_most", 1..8)?.map(|v| v as u8),
                confidence_at_most: int(&a.confidence_at_most, "confidence_at_most", 1..6)?
                    .map(|v| v as u8),
                emotions,
                comment: a.comment.as_ref().is_some_and(|c| *c.get_ref()),
            };
            if condition
                == (Condition::Answer {
                    effort_at_most: None,
                    confidence_at_most: None,
                    emotions: Vec::new(),
                    comment: false,
                })
            {
                return Err(at(
                    span,
                    format!("alert {id:?} needs a condition: effort_at_most, confidence_at_most, emotions, comment = true, or low_share_at_least"),
                ));
            }
            condition
        };
        let mut notify = Vec::new();
        for n in a.notify.get_ref() {
            if !endpoints.iter().any(|e| &e.id == n.get_ref()) {
                return Err(at(
                    n.span(),
                    format!(
                        "alert {id:?} notifies {:?}, which no [[endpoint]] declares",
                        n.get_ref()
                    ),
                ));
            }
            notify.push(n.get_ref().clone());
        }
        if notify.is_empty() {
            return Err(at(
                a.notify.span(),
                format!("alert {id:?} needs at least one endpoint in notify"),
            ));
        }
        let quiet_hours = a
            .quiet_hours
            .as_ref()
            .map(|q| {
                parse_quiet_hours(q.get_ref()).ok_or_else(|| {
                    at(
                        q.span(),
                        format!("alert {id:?}: quiet_hours must be \"HH:MM-HH:MM\" (like \"22:00-07:00\")"),
                    )
                })
            })
            .transpose()?;
        out.push(AlertRule {
            id,
            scope: scope(
                RawScope {
                    department: a.department,
                    touchpoint: a.touchpoint,
                    site: a.site,
                    channel: a.channel,
                },
                departments,
                at,
            )?,
            condition,
            notify,
            quiet_hours,
        });
    }
    Ok(out)
}

/// `"22:00-07:00"` → minutes of the day, from and to; empty spans are refused.
fn parse_quiet_hours(text: &str) -> Option<(u16, u16)> {
    let minute = |hm: &str| -> Option<u16> {
        let (h, m) = hm.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && hm.trim().len() == 5).then_some(h * 60 + m)
    };
    let (from, to) = text.split_once('-')?;
    let (from, to) = (minute(from)?, minute(to)?);
    (from != to).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours_read_and_wrap_past_midnight() {
        assert_eq!(parse_quiet_hours("22:00-07:00"), Some((1320, 420)));
        assert_eq!(parse_quiet_hours("12:30-13:00"), Some((750, 780)));
        for bad in ["22:00", "24:00-07:00", "22:00-22:00", "7:00-8:00", "22-07"] {
            assert_eq!(parse_quiet_hours(bad), None, "{bad}");
        }
        let rule = |q| AlertRule {
            id: "r".into(),
            scope: Scope::default(),
            condition: Condition::Answer {
                effort_at_most: Some(2),
                confidence_at_most: None,
                emotions: Vec::new(),
                comment: false,
            },
            notify: vec!["e".into()],
            quiet_hours: Some(q),
        };
        let night = rule((1320, 420));
        assert!(night.is_quiet(23 * 60) && night.is_quiet(0) && night.is_quiet(419));
        assert!(!night.is_quiet(420) && !night.is_quiet(12 * 60) && !night.is_quiet(1319));
        let lunch = rule((750, 780));
        assert!(lunch.is_quiet(750) && !lunch.is_quiet(780) && !lunch.is_quiet(0));
    }

    #[test]
    fn signing_keys_are_whsec_base64_and_never_print() {
        let key = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("valid");
        assert_eq!(key.bytes().len(), 24);
        assert!(!format!("{key:?}").contains("C2FV"));
        assert!(SigningKey::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_none());
        assert!(SigningKey::parse("whsec_not base64!").is_none());
    }
}

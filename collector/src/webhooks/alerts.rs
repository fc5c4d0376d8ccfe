//! The alert rules of the organisation file, applied to each answer as its event is handed on,
//! and to the passing of time: on one answer (an open alert per rule and touchpoint, resolved
//! after an hour without another matching answer) or on the share of low answers over a sliding
//! window (resolved when the share falls below the threshold). One open alert per rule and scope,
//! so a storm of low answers is one notification. In a rule's quiet hours (the organisation's
//! time zone) nothing is sent; when they end, one digest lists what opened and resolved.
//!
//! Pure: the time is passed in, and what to do comes back as [`Effect`]s, which the worker
//! writes to the store.

use std::collections::{HashMap, VecDeque};

use serde_json::{json, Value};

use crate::{
    org::notify::{AlertRule, Condition},
    store::events::{Alert, EventKind},
};

/// How long a one-answer alert stays open after its last matching answer.
pub const CALM_MICROS: u64 = 60 * 60 * 1_000_000;

/// One answer, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub at: u64,
    pub department: &'a str,
    pub touchpoint: &'a str,
    pub site: Option<&'a str>,
    pub channel: protocol::Channel,
    pub effort: Option<u8>,
    pub confidence: Option<u8>,
    pub emotion: Option<&'a str>,
    pub comment: bool,
    /// The answer as `response.created` carries it.
    pub data: &'a Value,
}

/// What the worker does for the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Record the alert (new, or changed).
    Save(Alert),
    /// Send an event to these endpoints.
    Emit {
        kind: EventKind,
        notify: Vec<String>,
        data: Value,
    },
}

/// The alerts not yet done with (open, or waiting for their rule's digest) and the rate windows.
#[derive(Debug, Default)]
pub struct Engine {
    alerts: HashMap<String, Alert>,
    /// Per rate rule: (arrival, low) of the answers in its window, oldest first.
    windows: HashMap<String, VecDeque<(u64, bool)>>,
}

impl Engine {
    /// Starts from the alerts the store kept.
    pub fn load(alerts: Vec<Alert>) -> Self {
        Self {
            alerts: alerts
                .into_iter()
                .filter(|a| a.resolved_at.is_none() || a.held)
                .map(|a| (a.id.clone(), a))
                .collect(),
            windows: HashMap::new(),
        }
    }

    /// The alerts open now.
    pub fn open(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values().filter(|a| a.resolved_at.is_none())
    }

    fn open_id(&self, rule: &str, scope: &str) -> Option<String> {
        self.alerts
            .values()
            .find(|a| a.rule == rule && a.scope == scope && a.resolved_at.is_none())
            .map(|a| a.id.clone())
    }

    /// Applies the rules to one answer at `now`; `quiet` tells whether a rule is in its quiet
    /// hours now.
    pub fn on_answer(
        &mut self,
        rules: &[AlertRule],
        answer: &Answer<'_>,
        now: u64,
        quiet: &dyn Fn(&AlertRule) -> bool,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        for rule in rules {
            if !rule.scope.matches(
                answer.department,
                answer.touchpoint,
                answer.site,
                answer.channel,
            ) {
                continue;
            }
            match &rule.condition {
                Condition::Answer {
                    effort_at_most,
                    confidence_at_most,
                    emotions,
                    comment,
                } => {
                    let at_most = |limit: &Option<u8>, value: Option<u8>| {
                        limit.is_none_or(|l| value.is_some_and(|v| v <= l))
                    };
                    let holds = at_most(effort_at_most, answer.effort)
                        && at_most(confidence_at_most, answer.confidence)
                        && (emotions.is_empty()
                            || answer
                                .emotion
                                .is_some_and(|e| emotions.iter().any(|x| x == e)))
                        && (!comment || answer.comment);
                    if !holds {
                        continue;
                    }
                    let scope = format!("touchpoint:{}", answer.touchpoint);
                    if let Some(id) = self.open_id(&rule.id, &scope) {
                        if let Some(alert) = self.alerts.get_mut(&id) {
                            alert.count += 1;
                            alert.last_at = answer.at;
                        }
                        continue;
                    }
                    let summary = describe(answer);
                    let detail = json!({"summary": summary, "response": answer.data});
                    self.opened(
                        rule,
                        scope,
                        detail,
                        now,
                        answer.at,
                        quiet(rule),
                        &mut effects,
                    );
                }
                Condition::Rate {
                    low_effort_at_most, ..
                } => {
                    let Some(effort) = answer.effort else {
                        continue;
                    };
                    self.windows
                        .entry(rule.id.clone())
                        .or_default()
                        .push_back((answer.at, effort <= *low_effort_at_most));
                    self.rate(rule, now, quiet(rule), &mut effects);
                }
            }
        }
        effects
    }

    /// Puts an answer already handed on in the rate rules' windows, without deciding anything
    /// (after a restart).
    pub fn remember(&mut self, rules: &[AlertRule], answer: &Answer<'_>) {
        for rule in rules {
            if let Condition::Rate {
                low_effort_at_most, ..
            } = rule.condition
            {
                let in_scope = rule.scope.matches(
                    answer.department,
                    answer.touchpoint,
                    answer.site,
                    answer.channel,
                );
                if let (true, Some(effort)) = (in_scope, answer.effort) {
                    self.windows
                        .entry(rule.id.clone())
                        .or_default()
                        .push_back((answer.at, effort <= low_effort_at_most));
                }
            }
        }
    }

    /// The passing of time at `now`: windows slide, calm alerts resolve, quiet hours end.
    pub fn tick(
        &mut self,
        rules: &[AlertRule],
        now: u64,
        quiet: &dyn Fn(&AlertRule) -> bool,
    ) -> Vec<Effect> {
        let mut effects = Vec::new();
        for rule in rules {
            let quiet_now = quiet(rule);
            match rule.condition {
                Condition::Rate { .. } => self.rate(rule, now, quiet_now, &mut effects),
                Condition::Answer { .. } => {
                    let calm: Vec<String> = self
                        .alerts
                        .values()
                        .filter(|a| {
                            a.rule == rule.id
                                && a.resolved_at.is_none()
                                && now.saturating_sub(a.last_at) >= CALM_MICROS
                        })
                        .map(|a| a.id.clone())
                        .collect();
                    for id in calm {
                        let summary = "no matching answer for an hour".to_owned();
                        self.resolved(rule, &id, summary, now, quiet_now, &mut effects);
                    }
                }
            }
            if !quiet_now {
                self.digest(rule, &mut effects);
            }
        }
        // Alerts of rules no longer in the file are done with.
        self.alerts
            .retain(|_, a| rules.iter().any(|r| r.id == a.rule));
        effects
    }

    fn rate(&mut self, rule: &AlertRule, now: u64, quiet: bool, effects: &mut Vec<Effect>) {
        let Condition::Rate {
            low_share_at_least,
            window_minutes,
            min_responses,
            ..
        } = rule.condition
        else {
            return;
        };
        let window = self.windows.entry(rule.id.clone()).or_default();
        let since = now.saturating_sub(u64::from(window_minutes) * 60 * 1_000_000);
        while window.front().is_some_and(|(at, _)| *at < since) {
            window.pop_front();
        }
        let total = window.len();
        let low = window.iter().filter(|(_, low)| *low).count();
        let share = if total == 0 {
            0.0
        } else {
            low as f64 / total as f64
        };
        let scope = rule.scope.label();
        let summary = format!(
            "{low} of {total} answers ({:.0} %) were low in the last {window_minutes} min",
            share * 100.0
        );
        let detail = json!({"summary": summary, "low": low, "total": total, "share": share,
            "window_minutes": window_minutes});
        match self.open_id(&rule.id, &scope) {
            None if total >= min_responses as usize && share >= low_share_at_least => {
                self.opened(rule, scope, detail, now, now, quiet, effects);
            }
            Some(id) if share < low_share_at_least => {
                self.resolved(rule, &id, summary, now, quiet, effects);
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn opened(
        &mut self,
        rule: &AlertRule,
        scope: String,
        detail: Value,
        now: u64,
        last_at: u64,
        quiet: bool,
        effects: &mut Vec<Effect>,
    ) {
        let alert = Alert {
            id: format!("{}@{}@{now}", rule.id, scope),
            rule: rule.id.clone(),
            scope,
            opened_at: now,
            resolved_at: None,
            detail,
            count: 1,
            last_at,
            held: quiet,
        };
        effects.push(Effect::Save(alert.clone()));
        if !quiet {
            effects.push(Effect::Emit {
                kind: EventKind::AlertOpened,
                notify: rule.notify.clone(),
                data: data(&alert),
            });
        }
        self.alerts.insert(alert.id.clone(), alert);
    }

    fn resolved(
        &mut self,
        rule: &AlertRule,
        id: &str,
        summary: String,
        now: u64,
        quiet: bool,
        effects: &mut Vec<Effect>,
    ) {
        let Some(alert) = self.alerts.get_mut(id) else {
            return;
        };
        alert.resolved_at = Some(now);
        alert.detail["resolution"] = Value::String(summary);
        alert.held |= quiet;
        effects.push(Effect::Save(alert.clone()));
        if !alert.held {
            let mut sent = data(alert);
            sent["summary"] = alert.detail["resolution"].clone();
            effects.push(Effect::Emit {
                kind: EventKind::AlertResolved,
                notify: rule.notify.clone(),
                data: sent,
            });
            self.alerts.remove(id);
        }
    }

    /// One `alert.opened` listing what the quiet hours held back, if anything.
    fn digest(&mut self, rule: &AlertRule, effects: &mut Vec<Effect>) {
        let mut held: Vec<Alert> = self
            .alerts
            .values()
            .filter(|a| a.rule == rule.id && a.held)
            .cloned()
            .collect();
        if held.is_empty() {
            return;
        }
        held.sort_by_key(|a| a.opened_at);
        for alert in &mut held {
            alert.held = false;
            effects.push(Effect::Save(alert.clone()));
            if alert.resolved_at.is_some() {
                self.alerts.remove(&alert.id);
            } else {
                self.alerts.insert(alert.id.clone(), alert.clone());
            }
        }
        effects.push(Effect::Emit {
            kind: EventKind::AlertOpened,
            notify: rule.notify.clone(),
            data: json!({
                "digest": true,
                "rule": rule.id,
                "summary": format!("{} alert(s) while quiet hours lasted", held.len()),
                "alerts": held.iter().map(data).collect::<Vec<_>>(),
            }),
        });
    }
}

/// An alert as its events carry it.
pub fn data(alert: &Alert) -> Value {
    json!({
        "alert_id": alert.id,
        "rule": alert.rule,
        "scope": alert.scope,
        "opened_at": super::message::rfc3339(alert.opened_at),
        "resolved_at": alert.resolved_at.map(super::message::rfc3339),
        "summary": alert.detail["summary"],
        "count": alert.count,
        "detail": alert.detail,
    })
}

fn describe(answer: &Answer<'_>) -> String {
    let mut parts = Vec::new();
    if let Some(e) = answer.effort {
        parts.push(format!("effort {e}/7"));
    }
    if let Some(c) = answer.confidence {
        parts.push(format!("confidence {c}/5"));
    }
    if let Some(e) = answer.emotion {
        parts.push(e.to_owned());
    }
    format!(
        "an answer at {} ({}) with {}",
        answer.touchpoint,
        answer.channel.as_str(),
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::notify::Scope;

    const MIN: u64 = 60 * 1_000_000;

    fn one_answer_rule(quiet_hours: Option<(u16, u16)>) -> AlertRule {
        AlertRule {
            id: "struggled".into(),
            scope: Scope {
                department: Some("digital".into()),
                ..Scope::default()
            },
            condition: Condition::Answer {
                effort_at_most: Some(2),
                confidence_at_most: None,
                emotions: Vec::new(),
                comment: false,
            },
            notify: vec!["team".into()],
            quiet_hours,
        }
    }

    fn rate_rule() -> AlertRule {
        AlertRule {
            id: "queue-worse".into(),
            scope: Scope::default(),
            condition: Condition::Rate {
                low_share_at_least: 0.5,
                low_effort_at_most: 3,
                window_minutes: 10,
                min_responses: 4,
            },
            notify: vec!["team".into()],
            quiet_hours: None,
        }
    }

    fn answer(at: u64, effort: u8, data: &Value) -> Answer<'_> {
        Answer {
            at,
            department: "digital",
            touchpoint: "card-activation",
            site: None,
            channel: protocol::Channel::Web,
            effort: Some(effort),
            confidence: None,
            emotion: None,
            comment: false,
            data,
        }
    }

    fn emitted(effects: &[Effect]) -> Vec<(EventKind, Value)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Emit { kind, data, .. } => Some((*kind, data.clone())),
                Effect::Save(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_storm_of_low_answers_is_one_alert_until_it_is_calm() {
        let rules = [one_answer_rule(None)];
        let loud = |_: &AlertRule| false;
        let data = json!({});
        let mut engine = Engine::default();
        let first = engine.on_answer(&rules, &answer(1, 2, &data), 1, &loud);
        assert_eq!(emitted(&first).len(), 1);
        assert_eq!(emitted(&first)[0].0, EventKind::AlertOpened);
        for n in 2..20 {
            let more = engine.on_answer(&rules, &answer(n, 1, &data), n, &loud);
            assert!(
                emitted(&more).is_empty(),
                "one open alert per rule and scope"
            );
        }
        assert!(engine
            .on_answer(&rules, &answer(30, 6, &data), 30, &loud)
            .is_empty());
        assert!(emitted(&engine.tick(&rules, 19 + CALM_MICROS - 1, &loud)).is_empty());
        let calm = engine.tick(&rules, 19 + CALM_MICROS, &loud);
        assert_eq!(emitted(&calm)[0].0, EventKind::AlertResolved);
        assert_eq!(emitted(&calm)[0].1["count"], 19);
        assert_eq!(engine.open().count(), 0);
        let again = engine.on_answer(
            &rules,
            &answer(2 * CALM_MICROS, 2, &data),
            2 * CALM_MICROS,
            &loud,
        );
        assert_eq!(emitted(&again).len(), 1, "a new alert after it resolved");
    }

    #[test]
    fn a_rate_alert_opens_over_the_share_and_resolves_when_it_recovers() {
        let rules = [rate_rule()];
        let loud = |_: &AlertRule| false;
        let data = json!({});
        let mut engine = Engine::default();
        let mut opened = Vec::new();
        for (n, effort) in [2, 6, 2].into_iter().enumerate() {
            let at = n as u64 * MIN;
            opened.extend(emitted(&engine.on_answer(
                &rules,
                &answer(at, effort, &data),
                at,
                &loud,
            )));
        }
        assert!(opened.is_empty(), "three answers are under min_responses");
        let fourth = engine.on_answer(&rules, &answer(3 * MIN, 1, &data), 3 * MIN, &loud);
        assert_eq!(emitted(&fourth)[0].0, EventKind::AlertOpened);
        assert_eq!(emitted(&fourth)[0].1["detail"]["low"], 3);
        // Good answers bring the share under a half.
        let mut resolved = Vec::new();
        for n in 4..8 {
            resolved.extend(emitted(&engine.on_answer(
                &rules,
                &answer(n * MIN, 7, &data),
                n * MIN,
                &loud,
            )));
        }
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].0, EventKind::AlertResolved);
        // Low answers again, then the window slides past them: resolved by time alone.
        for n in 8..16 {
            engine.on_answer(&rules, &answer(n * MIN, 1, &data), n * MIN, &loud);
        }
        assert_eq!(engine.open().count(), 1);
        let later = engine.tick(&rules, 40 * MIN, &loud);
        assert_eq!(emitted(&later)[0].0, EventKind::AlertResolved);
    }

    #[test]
    fn remembered_answers_keep_a_rate_alert_open_after_a_restart() {
        let rules = [rate_rule()];
        let loud = |_: &AlertRule| false;
        let data = json!({});
        let mut before = Engine::default();
        for n in 0..4 {
            before.on_answer(&rules, &answer(n * MIN, 1, &data), n * MIN, &loud);
        }
        let kept: Vec<Alert> = before.open().cloned().collect();
        assert_eq!(kept.len(), 1);
        let mut forgetful = Engine::load(kept.clone());
        let resolved = forgetful.tick(&rules, 5 * MIN, &loud);
        assert_eq!(
            emitted(&resolved)[0].0,
            EventKind::AlertResolved,
            "an empty window resolves"
        );
        let mut after = Engine::load(kept);
        for n in 0..4 {
            after.remember(&rules, &answer(n * MIN, 1, &data));
        }
        assert!(emitted(&after.tick(&rules, 5 * MIN, &loud)).is_empty());
        assert_eq!(after.open().count(), 1);
    }

    #[test]
    fn quiet_hours_hold_alerts_back_for_one_digest() {
        let rules = [one_answer_rule(Some((22 * 60, 7 * 60)))];
        let data = json!({});
        let mut engine = Engine::default();
        let night = |_: &AlertRule| true;
        let day = |_: &AlertRule| false;
        let mut sent = Vec::new();
        sent.extend(emitted(&engine.on_answer(
            &rules,
            &answer(1, 1, &data),
            1,
            &night,
        )));
        let mut other = answer(2, 2, &data);
        other.touchpoint = "branch-queue";
        sent.extend(emitted(&engine.on_answer(&rules, &other, 2, &night)));
        sent.extend(emitted(&engine.tick(&rules, 3, &night)));
        assert!(sent.is_empty(), "nothing is sent in quiet hours");
        let morning = engine.tick(&rules, 4, &day);
        let digest = emitted(&morning);
        assert_eq!(digest.len(), 1, "one digest");
        assert_eq!(digest[0].0, EventKind::AlertOpened);
        assert_eq!(digest[0].1["digest"], true);
        assert_eq!(digest[0].1["alerts"].as_array().map(Vec::len), Some(2));
        assert!(
            emitted(&engine.tick(&rules, 5, &day)).is_empty(),
            "the digest goes once"
        );
        assert_eq!(engine.open().count(), 2, "still open after the digest");
    }
}

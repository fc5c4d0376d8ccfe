//! The admin routes of events and alerts: `GET /v1/endpoints` (each endpoint of the organisation
//! file with its state, pending deliveries and delivery log; never its secret) and
//! `GET /v1/alerts` (the alert rules, and every alert with its history), and
//! `POST /v1/endpoints/{id}/replay` (the answers of a period sent to one endpoint again).

use std::collections::HashMap;

use actix_web::{http::header, web, HttpResponse};
use serde_json::{json, Value};

use super::{error::ApiError, AppState};
use crate::{
    clock,
    org::notify::{Condition, Format},
    read::export::Filter,
    stats::BadQuery,
    store::events::Attempt,
    webhooks::{alerts, message::rfc3339},
};

fn time(micros: Option<u64>) -> Value {
    micros.map_or(Value::Null, |m| Value::String(rfc3339(m)))
}

fn attempt(a: &Attempt) -> Value {
    json!({
        "at": rfc3339(a.at),
        "webhook_id": a.webhook_id,
        "type": a.kind.name(),
        "status": a.status,
        "error": a.error,
        "latency_ms": a.latency_ms,
        "next_retry": time(a.next_retry),
    })
}

/// `GET /v1/endpoints`.
pub async fn endpoints_route(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let org = state.org.get();
    let store = std::sync::Arc::clone(state.ingest.store());
    let (depth, oldest) = *state
        .webhooks
        .metrics
        .queue
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let body = web::block(move || -> Result<Value, crate::store::StoreError> {
        // Pending deliveries per endpoint, and the soonest next attempt.
        let mut pending: HashMap<String, (u64, u64)> = HashMap::new();
        store.deliveries(&mut |d| {
            let entry = pending.entry(d.endpoint).or_insert((0, u64::MAX));
            entry.0 += 1;
            entry.1 = entry.1.min(d.next_at);
            true
        })?;
        let mut endpoints = Vec::new();
        for endpoint in org.as_ref().map_or(&[][..], |o| &o.endpoints[..]) {
            let s = store.endpoint_state(&endpoint.id)?;
            let (count, next) = pending.get(&endpoint.id).copied().unwrap_or((0, u64::MAX));
            endpoints.push(json!({
                "id": endpoint.id,
                "url": endpoint.url,
                "secret": format!("env:{}", endpoint.secret_env),
                "events": endpoint.events.iter().map(|e| e.name()).collect::<Vec<_>>(),
                "scope": endpoint.scope.label(),
                "format": match endpoint.format {
                    Format::StandardWebhooks => "standard-webhooks",
                    Format::Slack => "slack",
                },
                "status": if s.disabled.is_some() { "disabled" } else { "enabled" },
                "disabled": s.disabled,
                "disabled_at": time(s.disabled_at),
                "delivered": s.delivered,
                "failed_attempts": s.failed_attempts,
                "abandoned": s.abandoned,
                "pending": count,
                "next_attempt": time((next != u64::MAX).then_some(next)),
                "log": s.log.iter().rev().map(attempt).collect::<Vec<_>>(),
            }));
        }
        Ok(json!({
            "endpoints": endpoints,
            "queue": {
                "outbox": store.outbox_len(),
                "deliveries": depth,
                "oldest_age_seconds": oldest.map(|o| clock::now_micros().saturating_sub(o) / 1_000_000),
            },
        }))
    })
    .await
    .map_err(|_| ApiError::Busy)??;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// `GET /v1/alerts`.
pub async fn alerts_route(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let org = state.org.get();
    let store = std::sync::Arc::clone(state.ingest.store());
    let alerts = web::block(move || store.alerts())
        .await
        .map_err(|_| ApiError::Busy)??;
    let rules: Vec<Value> = org
        .as_ref()
        .map_or(&[][..], |o| &o.alerts[..])
        .iter()
        .map(|rule| {
            let condition = match &rule.condition {
                Condition::Answer {
                    effort_at_most,
                    confidence_at_most,
                    emotions,
                    comment,
                } => json!({"on": "answer", "effort_at_most": effort_at_most,
                    "confidence_at_most": confidence_at_most, "emotions": emotions,
                    "comment": comment}),
                Condition::Rate {
                    low_share_at_least,
                    low_effort_at_most,
                    window_minutes,
                    min_responses,
                } => json!({"on": "rate", "low_share_at_least": low_share_at_least,
                    "low_effort_at_most": low_effort_at_most, "window_minutes": window_minutes,
                    "min_responses": min_responses}),
            };
            json!({
                "id": rule.id,
                "scope": rule.scope.label(),
                "condition": condition,
                "notify": rule.notify,
                "quiet_hours": rule.quiet_hours.map(|(from, to)| format!(
                    "{:02}:{:02}-{:02}:{:02}", from / 60, from % 60, to / 60, to % 60)),
            })
        })
        .collect();
    let alerts: Vec<Value> = alerts
        .iter()
        .rev()
        .map(|a| {
            let mut shown = alerts::data(a);
            shown["status"] = json!(if a.resolved_at.is_some() {
                "resolved"
            } else {
                "open"
            });
            shown["held_for_digest"] = json!(a.held);
            shown
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"rules": rules, "alerts": alerts})))
}

/// The parameters of `POST /v1/endpoints/{id}/replay`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayParams {
    from: Option<String>,
    to: Option<String>,
}

impl ReplayParams {
    pub const UNKNOWN: BadQuery =
        BadQuery("unknown or repeated parameter: use from (required) and to");
}

/// `POST /v1/endpoints/{id}/replay?from=&to=`: the answers received in `from..to` go to the
/// endpoint again (202; the worker does it in the background), each under its own `webhook-id`
/// as before, so a receiver that kept an event recognises it.
pub async fn replay_route(
    id: web::Path<String>,
    params: web::Query<ReplayParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let period = Filter::parse(params.from.as_deref(), params.to.as_deref(), None, None)?;
    let from = period
        .from_micros
        .ok_or(BadQuery("from is required: RFC 3339 or YYYY-MM-DD"))?;
    let to = period.to_micros.unwrap_or_else(|| clock::now_micros() + 1);
    if from >= to {
        return Err(BadQuery("from must be before to").into());
    }
    let known = state
        .org
        .get()
        .is_some_and(|org| org.endpoints.iter().any(|e| e.id == *id));
    if !known {
        return Err(ApiError::NotFound);
    }
    if !state.webhooks.replay(&id, from, to) {
        return Err(ApiError::Busy);
    }
    Ok(HttpResponse::Accepted()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "status": "replaying",
            "endpoint": *id,
            "from": rfc3339(from),
            "to": rfc3339(to),
        })))
}

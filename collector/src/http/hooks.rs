//! The admin routes of events and alerts: `GET /v1/endpoints` (each endpoint of the organisation
//! file with its state, pending deliveries and delivery log; never its secret) and
//! `GET /v1/alerts` (the alert rules, and every alert with its history and acknowledgement),
//! `POST /v1/alerts/{id}/acknowledge` (who takes an alert on, with a note; the dashboard's form
//! goes through the same [`acknowledge`]), and `POST /v1/endpoints/{id}/replay` (the answers of a
//! period sent to one endpoint again).

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{error::ApiError, guards::read_body, AppState};
use crate::{
    clock,
    org::notify::{Condition, Format},
    read::export::Filter,
    stats::BadQuery,
    store::events::{Acknowledgement, Alert, Attempt},
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
    let queues = state
        .webhooks
        .metrics
        .endpoints
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let body = web::block(move || -> Result<Value, crate::store::StoreError> {
        let pending = store.pending_deliveries()?;
        let mut endpoints = Vec::new();
        for endpoint in org.as_ref().map_or(&[][..], |o| &o.endpoints[..]) {
            let s = store.endpoint_state(&endpoint.id)?;
            let waiting = pending.get(&endpoint.id);
            let queue = queues.get(&endpoint.id).copied().unwrap_or_default();
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
                "pending": waiting.map_or(0, |p| p.count),
                "in_flight": queue.in_flight,
                "held": queue.held,
                "next_attempt": time(waiting.and_then(|p| p.next_at)),
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
    let (alerts, acks) = web::block(move || {
        Ok::<_, crate::store::StoreError>((store.alerts()?, store.acknowledgements()?))
    })
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
        .map(|a| shown(a, acks.iter().find(|ack| ack.alert == a.id)))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"rules": rules, "alerts": alerts})))
}

/// An alert as `GET /v1/alerts` lists it: what its events carry, where it stands, and who
/// acknowledged it.
fn shown(alert: &Alert, ack: Option<&Acknowledgement>) -> Value {
    let mut shown = alerts::data(alert);
    shown["status"] = json!(if alert.resolved_at.is_some() {
        "resolved"
    } else {
        "open"
    });
    shown["held_for_digest"] = json!(alert.held);
    shown["acknowledged"] = ack.map_or(
        Value::Null,
        |ack| json!({"by": ack.by, "at": rfc3339(ack.at), "note": ack.note, "via": ack.via}),
    );
    shown
}

/// Records that `by` took the alert `id` on, with `note`, through `via` (`dashboard` or
/// `api`); the alert as listed afterwards. A later acknowledgement replaces an earlier one.
pub async fn acknowledge(
    state: &AppState,
    id: String,
    by: &str,
    note: &str,
    via: &str,
) -> Result<Value, ApiError> {
    let ack = Acknowledgement::new(&id, by, note, via, clock::now_micros())
        .map_err(ApiError::BadAction)?;
    let store = std::sync::Arc::clone(state.ingest.store());
    web::block(move || {
        let alert = store
            .alerts()?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(ApiError::NotFound)?;
        store.put_acknowledgement(&ack)?;
        tracing::info!(alert = alert.id, via = ack.via, "alert acknowledged");
        Ok::<_, ApiError>(shown(&alert, Some(&ack)))
    })
    .await
    .map_err(|_| ApiError::Busy)?
}

/// The body of `POST /v1/alerts/{id}/acknowledge`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Acknowledging {
    by: String,
    #[serde(default)]
    note: String,
}

/// `POST /v1/alerts/{id}/acknowledge` with `{"by", "note"?}`: the alert, acknowledged.
pub async fn acknowledge_route(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, protocol::MAX_SUBMISSION_BYTES).await?;
    let asked: Acknowledging = serde_json::from_slice(&body).map_err(|_| {
        ApiError::BadAction(crate::org::agenda::BadAction {
            field: "",
            rule: "send {\"by\": who, \"note\"?: what is being done}",
        })
    })?;
    let alert = acknowledge(&state, id.into_inner(), &asked.by, &asked.note, "api").await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(alert))
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

//! The organisation's outcomes and the business view (admin): `POST /v1/outcomes` stores each
//! line once and answers per line, `GET /v1/impact` reads [`crate::impact`].

use std::sync::Arc;

use actix_web::{http::header, web, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::{error::ApiError, guards::read_body, ingest::error_item, AppState};
use crate::{
    config::MAX_OUTCOMES_BYTES,
    impact::{
        lines::{self, BadBody, Format},
        Query,
    },
    read::export::Filter,
    stats::BadQuery,
    store::outcomes::{Outcome, OutcomePut},
};

/// One line's result: `stored`, `duplicate`, or `rejected` with the error map's body.
fn line_result(line: usize, result: Result<OutcomePut, ApiError>) -> serde_json::Value {
    let mut item = match result {
        Ok(OutcomePut::Stored(_)) => json!({"status": "stored"}),
        Ok(OutcomePut::Duplicate) => json!({"status": "duplicate"}),
        Ok(OutcomePut::Conflict) => error_item(ApiError::OutcomeConflict),
        Err(error) => error_item(error),
    };
    item["line"] = json!(line);
    item
}

/// `POST /v1/outcomes`: NDJSON or CSV lines, each stored once by its identity; every line
/// answered with its number, and the counts.
pub async fn post_outcomes(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let format = req
        .mime_type()
        .ok()
        .flatten()
        .and_then(|mime| Format::of_content_type(mime.essence_str()))
        .ok_or(ApiError::OutcomeFormat)?;
    let body = read_body(&req, payload, MAX_OUTCOMES_BYTES).await?;
    let store = Arc::clone(state.ingest.store());
    let impact = Arc::clone(&state.impact);
    let (lines, puts) = web::block(move || -> Result<_, ApiError> {
        let lines = lines::parse(&body, format).map_err(|bad| match bad {
            BadBody::TooManyLines => ApiError::TooManyOutcomes,
            BadBody::Line(line) => ApiError::BadOutcome(line),
        })?;
        let good: Vec<Outcome> = lines
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().cloned())
            .collect();
        let puts = if good.is_empty() {
            Vec::new()
        } else {
            store.put_outcomes(&good)?
        };
        // The view reads the new outcomes now, so the next question need not; while it is
        // being prepared it reads them with the rest.
        match impact.catch_up() {
            Ok(()) | Err(crate::impact::ViewError::Preparing) => {}
            Err(crate::impact::ViewError::Store(error)) => {
                tracing::warn!(%error, "the business view will read the new outcomes later")
            }
        }
        Ok((lines, puts))
    })
    .await
    .map_err(|_| ApiError::Busy)??;
    let mut puts = puts.into_iter();
    let (mut stored, mut duplicate, mut rejected) = (0, 0, 0);
    let results: Vec<_> = lines
        .into_iter()
        .map(|(line, parsed)| {
            let result = match parsed {
                Ok(_) => puts.next().ok_or(ApiError::Busy),
                Err(bad) => Err(ApiError::BadOutcome(bad)),
            };
            match result {
                Ok(OutcomePut::Stored(_)) => stored += 1,
                Ok(OutcomePut::Duplicate) => duplicate += 1,
                _ => rejected += 1,
            }
            line_result(line, result)
        })
        .collect();
    tracing::info!(stored, duplicate, rejected, "outcomes imported");
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "lines": results.len(),
            "stored": stored,
            "duplicate": duplicate,
            "rejected": rejected,
            "results": results,
        })))
}

/// The parameters of `GET /v1/impact`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactParams {
    from: Option<String>,
    to: Option<String>,
    touchpoint: Option<String>,
}

impl ImpactParams {
    pub const UNKNOWN: BadQuery =
        BadQuery("unknown or repeated parameter: use from, to and touchpoint");

    /// The question, or the rule its parameters break.
    pub fn query(&self) -> Result<Query, BadQuery> {
        let filter = Filter::parse(
            self.from.as_deref(),
            self.to.as_deref(),
            None,
            self.touchpoint.as_deref(),
        )?;
        let query = Query {
            from_micros: filter.from_micros.unwrap_or(0),
            to_micros: filter.to_micros.unwrap_or(u64::MAX),
            touchpoint: filter.touchpoint.map(|t| t.as_str().to_owned()),
        };
        if query.from_micros >= query.to_micros {
            return Err(BadQuery("from must be before to"));
        }
        Ok(query)
    }
}

/// `GET /v1/impact`: per touchpoint, each outcome's rate by effort band, what the difference
/// costs over the period and which measure moves it most.
pub async fn impact_route(
    params: web::Query<ImpactParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = params.query()?;
    let impact = Arc::clone(&state.impact);
    let org = state.org.get();
    let mut view = web::block(move || impact.view(&query, org.as_deref()))
        .await
        .map_err(|_| ApiError::Busy)??
        .to_json();
    view["from"] = json!(params.from);
    view["to"] = json!(params.to);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view))
}

//! Public ingest: `POST /v1/responses` and `POST /v1/responses/batch`. Each handler checks the
//! request (origin, content type, the address's limit, size), hands the body to
//! [`Ingest`](crate::ingest::Ingest) and answers with its outcome. A request refused before
//! ingest is counted through ingest too, so the outcome counts add up to the requests.

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{header, Method},
    middleware::Next,
    web, HttpRequest, HttpResponse,
};
use protocol::{Rejection, MAX_BATCH_ITEMS, MAX_SUBMISSION_BYTES};
use serde_json::{json, value::RawValue};

use super::{
    error::ApiError,
    guards::{allowed_origin, json_or_text, per_address, per_address_up_to, read_body},
    AppState,
};
use crate::{
    config::MAX_BATCH_BYTES,
    ingest::{Accepted, Outcome, Refused},
};

/// The path of one posted answer (the widget's, on every page that answers).
pub const ONE_ANSWER: &str = "/v1/responses";

/// The collector's answer to one posted answer goes out as it is, not compressed: it is under
/// 200 bytes (`{"id":"…","status":"stored"}` is 53), which the `Compress` middleware's Brotli
/// stream made 92, with `Content-Encoding` and `Vary: accept-encoding` headers besides. `Compress`
/// chooses the coding from the request's `Accept-Encoding`, so this runs outside it and takes
/// that header away.
pub async fn as_it_is(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::POST && req.path() == ONE_ANSWER {
        req.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    next.call(req).await
}

/// Counts a refusal that happened before ingest, and hands it on.
fn counted(state: &AppState, error: ApiError) -> ApiError {
    state.ingest.count_refused(error.parts().1);
    error
}

/// The checks every post passes (origin, content type, the address's limit, size), then its body.
async fn accept_body(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let checked = async {
        allowed_origin(req, state)?;
        json_or_text(req)?;
        per_address(req, state)?;
        read_body(req, payload, limit).await
    };
    checked.await.map_err(|error| counted(state, error))
}

fn accepted_status(accepted: Accepted) -> actix_web::http::StatusCode {
    match accepted {
        Accepted::Stored => actix_web::http::StatusCode::CREATED,
        Accepted::Duplicate => actix_web::http::StatusCode::OK,
    }
}

pub async fn post_response(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = accept_body(&req, payload, &state, MAX_SUBMISSION_BYTES).await?;
    match state.ingest.submit(&body).await {
        // A validated id needs no escaping: the body is written directly.
        Ok((id, accepted)) => Ok(HttpResponse::build(accepted_status(accepted))
            .content_type("application/json")
            .body(
                [
                    "{\"id\":\"",
                    id.as_str(),
                    "\",\"status\":\"",
                    accepted.as_str(),
                    "\"}",
                ]
                .concat(),
            )),
        Err((id, refused)) => Err(ApiError::Refused(refused, id)),
    }
}

/// One item's result in a batch answer: its outcome as the single post would give it, with
/// `status` `stored`, `duplicate`, `rejected` (do not retry) or `unavailable` (retry later).
fn item_result(index: usize, outcome: Result<Outcome, ApiError>) -> serde_json::Value {
    let mut item = match outcome {
        Ok(Ok((id, accepted))) => json!({"id": id.as_str(), "status": accepted.as_str()}),
        Ok(Err((id, refused))) => error_item(ApiError::Refused(refused, id)),
        Err(error) => error_item(error),
    };
    item["index"] = json!(index);
    item
}

/// An error's body as one item's result of a batch (or a line's of an outcome import).
pub(super) fn error_item(error: ApiError) -> serde_json::Value {
    let mut item = error.body();
    item["status"] = json!(if error.is_temporary() {
        "unavailable"
    } else {
        "rejected"
    });
    item
}

pub async fn post_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = accept_body(&req, payload, &state, MAX_BATCH_BYTES).await?;
    let items: Vec<&RawValue> = serde_json::from_slice(&body)
        .map_err(|_| counted(&state, Refused::Invalid(Rejection::InvalidJson).into()))?;
    if items.len() > MAX_BATCH_ITEMS {
        return Err(counted(&state, ApiError::BatchTooLarge));
    }
    // One token per answer: the request took the first; the rest are taken now, and the items
    // past what the address may send get a retry-later answer of their own.
    let (granted, retry_after) =
        per_address_up_to(&req, &state, items.len().saturating_sub(1) as u64);
    let allowed = 1 + granted as usize;
    let (small, large): (Vec<_>, Vec<_>) = items
        .iter()
        .take(allowed)
        .enumerate()
        .partition(|(_, raw)| raw.get().len() <= MAX_SUBMISSION_BYTES);
    let bodies: Vec<&[u8]> = small.iter().map(|(_, raw)| raw.get().as_bytes()).collect();
    let outcomes = state.ingest.submit_batch(&bodies).await;
    let mut results = vec![serde_json::Value::Null; items.len()];
    let mut unavailable = false;
    for ((index, _), outcome) in small.iter().zip(outcomes) {
        unavailable |= matches!(
            outcome,
            Err((_, Refused::Unavailable(_) | Refused::Storage(_)))
        );
        results[*index] = item_result(*index, Ok(outcome));
    }
    for (index, _) in large {
        let too_large = ApiError::PayloadTooLarge {
            limit: MAX_SUBMISSION_BYTES,
        };
        results[index] = item_result(index, Err(counted(&state, too_large)));
    }
    for (index, result) in results.iter_mut().enumerate().skip(allowed) {
        let limited = ApiError::RateLimited {
            retry_after: retry_after.unwrap_or(1),
        };
        *result = item_result(index, Err(counted(&state, limited)));
    }
    let mut response = if unavailable {
        let mut r = HttpResponse::ServiceUnavailable();
        r.insert_header((header::RETRY_AFTER, "1"));
        r
    } else if let Some(secs) = retry_after.filter(|_| allowed < items.len()) {
        let mut r = HttpResponse::TooManyRequests();
        r.insert_header((header::RETRY_AFTER, secs.to_string()));
        r
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(json!({"results": results})))
}

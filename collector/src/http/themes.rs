//! `GET /v1/themes`: the comments' themes over a period, behind the admin token, with the
//! filters and errors of `/v1/stats` (from, to, touchpoint, department, locale).

use actix_web::{http::header, web, HttpResponse};
use serde::Deserialize;

use super::{error::ApiError, AppState};
use crate::{
    read::themes,
    stats::{query::Owners, BadQuery, Params},
    store::StoreError,
};

/// Themes an answer holds at most, and examples per theme.
const THEMES: usize = 20;
const EXAMPLES: usize = 3;

/// The parameters of `GET /v1/themes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThemeParams {
    from: Option<String>,
    to: Option<String>,
    touchpoint: Option<String>,
    department: Option<String>,
    locale: Option<String>,
}

impl ThemeParams {
    pub const UNKNOWN: BadQuery =
        BadQuery("unknown or repeated parameter: use from, to, touchpoint, department, locale");
}

/// `GET /v1/themes`: over `from..to` (the last 28 days of answers unless given), against the
/// period before, as long.
pub async fn themes_route(
    params: web::Query<ThemeParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut query = Params {
        from: params.from.clone(),
        to: params.to.clone(),
        touchpoint: params.touchpoint.clone(),
        department: params.department.clone(),
        locale: params.locale.clone(),
        ..Params::default()
    }
    .query()?;
    query.owners = state.org.get().map(Owners);
    let store = std::sync::Arc::clone(state.ingest.store());
    let aggregates = store.aggregates().ok_or(StoreError::NoStats)?;
    let (from, to) = aggregates.period(&query, 28)?;
    let found = web::block(move || themes::themes(&*store, &query, from, to, THEMES, EXAMPLES))
        .await
        .map_err(|_| ApiError::Busy)??;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(found.to_json()))
}

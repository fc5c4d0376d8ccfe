//! The admin API, behind the admin token (one guard in the route table): export, stats, the
//! council report and the metrics. Each handler reads its typed parameters, hands the work to
//! `read/` off the async workers, and answers.

use std::{io, sync::Arc};

use actix_web::{http::header, web, HttpResponse};
use serde::Deserialize;

use super::{error::ApiError, pages::Page, AppState};
use crate::{
    ingest::metrics,
    read::{
        export::{self, Filter, Format},
        journeys,
        report::{self, Period, Stylesheet},
    },
    stats::{BadQuery, Params},
};

/// `GET /metrics`: every outcome counted, the flushes, the store's size.
pub async fn metrics_route(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let ingest = state.ingest.clone();
    let webhooks = std::sync::Arc::clone(&state.webhooks);
    let text = web::block(move || {
        metrics::render(
            &ingest.outcomes.snapshot(),
            &ingest.commit().stats,
            ingest.store().size_on_disk(),
        ) + &webhooks.metrics.render()
            + &metrics::render_phrases(
                ingest
                    .store()
                    .aggregates()
                    .map(|a| a.themes().phrase_table()),
            )
    })
    .await
    .map_err(|_| ApiError::Busy)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text))
}

/// `POST /v1/org/reload`: reads the organisation file again; a bad one is refused (422, with its
/// line and rule) and the one in force stays.
pub async fn org_reload(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let org = web::block(move || state.org.reload())
        .await
        .map_err(|_| ApiError::Busy)?
        .map_err(|error| {
            tracing::warn!(%error, "the organisation file was not reloaded; the one in force stays");
            ApiError::BadOrganisation(error)
        })?;
    tracing::info!(
        departments = org.departments.len(),
        touchpoints = org.touchpoints.len(),
        journeys = org.journeys.len(),
        "organisation file reloaded"
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "status": "reloaded",
            "organisation": org.name,
            "departments": org.departments.len(),
            "touchpoints": org.touchpoints.len(),
            "journeys": org.journeys.len(),
        })))
}

/// The parameters of `GET /v1/export`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
    channel: Option<String>,
    touchpoint: Option<String>,
}

impl ExportParams {
    pub const UNKNOWN: BadQuery =
        BadQuery("unknown or repeated parameter: use format, from, to, channel, touchpoint");
}

/// Hands export chunks from a plain thread to the response stream; a bounded channel keeps
/// memory flat when the client reads slower than the store is scanned.
struct ChannelWriter(tokio::sync::mpsc::Sender<Result<web::Bytes, io::Error>>);

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(web::Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `GET /v1/export`: every stored answer in arrival order, streamed.
pub async fn export_route(
    params: web::Query<ExportParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let format = match params.format.as_deref() {
        None => Format::Ndjson,
        Some(f) => Format::parse(f).ok_or(BadQuery("format must be csv or ndjson"))?,
    };
    let filter = Filter::parse(
        params.from.as_deref(),
        params.to.as_deref(),
        params.channel.as_deref(),
        params.touchpoint.as_deref(),
    )?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let store = Arc::clone(state.ingest.store());
    std::thread::Builder::new()
        .name("touchpoint-export".into())
        .spawn(move || {
            let mut writer = ChannelWriter(tx.clone());
            match export::write(&*store, &filter, format, &mut writer) {
                Ok(rows) => tracing::info!(rows, format = format.extension(), "export finished"),
                Err(error) => {
                    tracing::warn!(%error, "export stopped");
                    let _ = tx.blocking_send(Err(io::Error::other("export stopped")));
                }
            }
            // Before `tx` is dropped, so the response ends only once this is done.
            crate::allocator::release_freed();
        })
        .map_err(|_| ApiError::Busy)?;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"touchpoint-export.{}\"",
                format.extension()
            ),
        ))
        .streaming(stream))
}

/// `GET /v1/stats`: aggregates read from the stats cells.
pub async fn stats_route(
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut query = params.query()?;
    query.owners = state.org.get().map(crate::stats::query::Owners);
    let aggregates = state
        .ingest
        .store()
        .aggregates()
        .ok_or(crate::store::StoreError::NoStats)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(aggregates.query(&query).to_json()))
}

/// The parameters of `GET /v1/journeys`: the period, as in stats.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JourneyParams {
    from: Option<String>,
    to: Option<String>,
}

impl JourneyParams {
    pub const UNKNOWN: BadQuery = BadQuery("unknown or repeated parameter: use from and to");
}

/// `GET /v1/journeys`: each journey's steps with their measures, and where it breaks, over
/// `from..to` (the last 28 days of answers unless given).
pub async fn journeys_route(
    params: web::Query<JourneyParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = Params {
        from: params.from.clone(),
        to: params.to.clone(),
        ..Params::default()
    }
    .query()?;
    let aggregates = state
        .ingest
        .store()
        .aggregates()
        .ok_or(crate::store::StoreError::NoStats)?;
    let (from, to) = aggregates.period(&query, 28)?;
    let org = state.org.get();
    let views = org
        .as_deref()
        .map(|org| journeys::journeys(aggregates, org, from, to))
        .unwrap_or_default();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "from": crate::stats::date_of(from),
            "to": crate::stats::date_of(to),
            "organisation": org.as_ref().map(|o| o.name.clone()),
            "journeys": views.iter().map(|j| j.to_json()).collect::<Vec<_>>(),
        })))
}

/// The parameters of the council report.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    period: Option<String>,
    format: Option<String>,
}

impl ReportParams {
    pub const UNKNOWN: BadQuery = BadQuery("unknown or repeated parameter: use period and format");

    /// The period and the format asked (`default_format` when none is), or the rule they break.
    pub fn read(&self, default_format: &'static str) -> Result<(Period, &str), BadQuery> {
        let period = Period::parse(self.period.as_deref().unwrap_or(""))?;
        let format = self.format.as_deref().unwrap_or(default_format);
        if !["md", "html", "json"].contains(&format) {
            return Err(BadQuery("format must be md, html or json"));
        }
        Ok((period, format))
    }
}

/// The council report of `period` in `format` (`md`, `html` or `json`; `default_format` when
/// not given).
pub async fn council_report(
    state: &AppState,
    params: &ReportParams,
    default_format: &'static str,
) -> Result<HttpResponse, ApiError> {
    let (period, format) = params.read(default_format)?;
    let format = format.to_owned();
    let store = Arc::clone(state.ingest.store());
    let org = state.org.get();
    let business = Arc::clone(&state.impact);
    let built = web::block(move || {
        let query = crate::impact::Query::of_days(period.from_day, period.to_day, None);
        let view = business.view_when_ready(&query, org.as_deref())?;
        report::build(&*store, &period, org, crate::clock::today()).map(|mut built| {
            built.impact = Some(view);
            built
        })
    })
    .await
    .map_err(|_| ApiError::Busy)??;
    Ok(match format.as_str() {
        "md" => HttpResponse::Ok()
            .content_type("text/markdown; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(built.to_markdown()),
        "json" => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(built.to_json()),
        _ => Page::Admin.ok(built.to_html(Stylesheet::DASHBOARD)),
    })
}

/// `GET /v1/report`: the council report, Markdown unless asked otherwise.
pub async fn report_route(
    params: web::Query<ReportParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    council_report(&state, &params, "md").await
}

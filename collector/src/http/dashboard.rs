//! The dashboard over HTTP: sign-in and sign-out, the dashboard page and the council report in
//! the browser, each behind a session. Errors here are answered as pages, not JSON.

use std::sync::Arc;

use actix_web::{
    http::{header, StatusCode},
    web, HttpRequest, HttpResponse, ResponseError,
};
use serde::Deserialize;

use super::{
    admin::{council_report, ReportParams},
    error::ApiError,
    guards::{client_address, credential, same_origin, signed_in},
    pages::{self, see_other, Page},
    session, AppState,
};
use crate::{
    clock,
    org::agenda::{Action, BadAction},
    read::{
        dashboard::{self, Params, RenderError},
        html,
    },
};

/// An error on a dashboard route, answered as a page with the same status as its API answer.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PageError(#[from] ApiError);

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response =
            Page::Admin.respond(self.status_code(), dashboard::error_page(self.0.parts().2));
        if let Some(retry) = self.0.error_response().headers().get(header::RETRY_AFTER) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry.clone());
        }
        response
    }
}

impl From<RenderError> for PageError {
    fn from(error: RenderError) -> Self {
        Self(match error {
            RenderError::BadQuery(bad) => ApiError::BadQuery(bad),
            RenderError::Store(e) => e.into(),
        })
    }
}

pub async fn dashboard_page(
    req: HttpRequest,
    params: web::Query<Params>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    if !signed_in(&req, &state)? {
        return Ok(Page::Admin.ok(dashboard::sign_in_page(None)));
    }
    let store = Arc::clone(state.ingest.store());
    let org = state.org.get();
    let business = Arc::clone(&state.impact);
    let page = web::block(move || {
        dashboard::render_with(&*store, &params, org.as_deref(), Some(&business))
    })
    .await
    .map_err(|_| ApiError::Busy)??;
    Ok(Page::Admin.ok(page))
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    #[serde(default)]
    token: String,
}

/// Sign-in: the token arrives once, in a form body; a session cookie stands for it afterwards.
pub async fn sign_in(
    req: HttpRequest,
    form: web::Form<SignIn>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let Some(token) = &state.admin_token else {
        return Err(ApiError::AdminDisabled.into());
    };
    same_origin(&req, &state)?;
    state
        .sign_ins
        .take(
            &client_address(&req, &state.trusted_proxies),
            clock::now_millis(),
        )
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    if !credential(&req, &state, "admin token", || {
        token.matches(form.token.trim())
    })? {
        return Ok(Page::Admin.respond(
            StatusCode::UNAUTHORIZED,
            dashboard::sign_in_page(Some("That is not the admin token.")),
        ));
    }
    let id = state.sessions.create().map_err(ApiError::from)?;
    Ok(see_other("/dashboard")
        .cookie(session::session_cookie(&id))
        .finish())
}

pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    same_origin(&req, &state)?;
    if let Some(id) = state.sessions.of(&req) {
        state.sessions.end(&id);
    }
    Ok(see_other("/dashboard")
        .cookie(session::cleared_cookie())
        .finish())
}

pub async fn stylesheet() -> HttpResponse {
    pages::static_file("text/css; charset=utf-8", html::STYLE)
}

/// The council report in the browser, as a printable page.
pub async fn report(
    req: HttpRequest,
    params: web::Query<ReportParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    // A request the route does not take is refused as such, signed in or not, as one with an
    // unknown parameter is: a redirect would hide the mistake behind the sign-in.
    params.read("html").map_err(ApiError::from)?;
    if !signed_in(&req, &state)? {
        return Ok(see_other("/dashboard").finish());
    }
    Ok(council_report(&state, &params, "html").await?)
}

/// The form that records a council action.
#[derive(Debug, Deserialize)]
pub struct NewAction {
    what: String,
    department: String,
    #[serde(default)]
    touchpoint: String,
    due: String,
}

/// Records a council action and shows the agenda again.
pub async fn record_action(
    req: HttpRequest,
    form: web::Form<NewAction>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    if !form_from_session(&req, &state)? {
        return Ok(see_other("/dashboard").finish());
    }
    let org = state.org.get();
    let known = crate::org::departments(org.as_deref());
    if !known.iter().any(|(id, _)| *id == form.department) {
        return Err(ApiError::BadAction(BadAction {
            field: "department",
            rule: "one of the organisation's departments",
        })
        .into());
    }
    let action = Action::record(
        clock::now_micros().to_string(),
        &form.what,
        &form.department,
        Some(&form.touchpoint),
        &form.due,
        now(),
    )
    .map_err(ApiError::BadAction)?;
    let store = Arc::clone(state.ingest.store());
    web::block(move || store.put_action(&action))
        .await
        .map_err(|_| ApiError::Busy)?
        .map_err(ApiError::from)?;
    Ok(see_other("/dashboard#agenda").finish())
}

/// The form that closes one.
#[derive(Debug, Deserialize)]
pub struct Closing {
    #[serde(default)]
    note: String,
}

/// Closes a council action with what was done.
pub async fn close_action(
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<Closing>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    if !form_from_session(&req, &state)? {
        return Ok(see_other("/dashboard").finish());
    }
    let store = Arc::clone(state.ingest.store());
    let note = form.into_inner().note;
    web::block(move || {
        let mut action = store
            .actions()?
            .into_iter()
            .find(|a| a.id == *id)
            .ok_or(ApiError::NotFound)?;
        action.close(&note, now()).map_err(ApiError::BadAction)?;
        store.put_action(&action)?;
        Ok::<_, ApiError>(())
    })
    .await
    .map_err(|_| ApiError::Busy)??;
    Ok(see_other("/dashboard#agenda").finish())
}

/// The form that acknowledges an alert.
#[derive(Debug, Deserialize)]
pub struct Acknowledging {
    alert: String,
    by: String,
    #[serde(default)]
    note: String,
}

/// Acknowledges an alert from the dashboard: who, with a note; now is when.
pub async fn acknowledge_alert(
    req: HttpRequest,
    form: web::Form<Acknowledging>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    if !form_from_session(&req, &state)? {
        return Ok(see_other("/dashboard").finish());
    }
    let form = form.into_inner();
    super::hooks::acknowledge(&state, form.alert, &form.by, &form.note, "dashboard").await?;
    Ok(see_other("/dashboard#alerts").finish())
}

/// Whether a dashboard form's post may be done: refused from another origin, and false (sign in
/// first) without a live session. The one rule of every form the dashboard posts.
fn form_from_session(req: &HttpRequest, state: &AppState) -> Result<bool, ApiError> {
    same_origin(req, state)?;
    signed_in(req, state)
}

/// Now, RFC 3339.
fn now() -> String {
    protocol::Timestamp::from_unix_millis((clock::now_micros() / 1000) as i64)
        .as_str()
        .to_owned()
}

//! The agent channel over HTTP: an agent's console asks for a post-call invitation
//! (`POST /v1/invitations`), and the customer opens its link (`/s/{token}`) or QR code.

use std::sync::Arc;

use actix_web::{
    http::{header, StatusCode},
    web, HttpRequest, HttpResponse,
};
use serde_json::json;

use super::{
    error::ApiError,
    guards::{allowed_origin, bearer, credential, own_origin, read_body},
    pages::Page,
    AppState,
};
use crate::{
    assets,
    channel::agent::{self, Claims},
    clock,
    ingest::Refused,
    read::html::escape,
};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationRequest {
    touchpoint: String,
    interaction_id: String,
    agent_id: String,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    site: Option<String>,
}

/// The customer's link of an invitation, on this collector's own origin.
fn link(req: &HttpRequest, state: &AppState, token: &str) -> String {
    [own_origin(req, state).as_str(), "/s/", token].concat()
}

/// `POST /v1/invitations`: an agent's console asks for a post-call survey link.
pub async fn post_invitation(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    allowed_origin(&req, &state)?;
    if !state.invitations.has_keys(state.admin_token.as_ref()) {
        return Err(ApiError::InvitationsDisabled);
    }
    if !credential(&req, &state, "agent key", || {
        state
            .invitations
            .authorizes(bearer(&req), state.admin_token.as_ref())
    })? {
        return Err(ApiError::AgentUnauthorized);
    }
    let body = read_body(&req, payload, 4096).await?;
    let request: InvitationRequest =
        serde_json::from_slice(&body).map_err(|_| ApiError::BadInvitationRequest { field: "" })?;
    let expires_at = clock::now_secs().saturating_add(state.invitations.ttl_secs());
    let claims = Claims::new(
        &request.touchpoint,
        &request.interaction_id,
        &request.agent_id,
        request.queue.as_deref(),
        request.locale.as_deref(),
        expires_at,
    )
    .and_then(|claims| claims.at_site(request.site.as_deref()))
    .map_err(|field| ApiError::BadInvitationRequest { field })?;
    let token = state.invitations.issue(&claims);
    let assist_token = state.invitations.issue(&claims.assisted());
    let url = link(&req, &state, &token);
    let qr = [url.as_str(), "/qr.svg"].concat();
    let expires = protocol::Timestamp::from_unix_millis((expires_at as i64).saturating_mul(1000));
    tracing::info!(
        touchpoint = claims.touchpoint(),
        agent_id = claims.agent_id(),
        "invitation issued"
    );
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "token": token,
            "assist_token": assist_token,
            "url": url,
            "qr": qr,
            "expires_at": expires.as_str(),
        })))
}

/// `GET /s/{token}`: the customer's survey for one call, the widget on the agent channel with
/// the invitation's context; a clear page (and no survey) for a link that is not valid.
pub async fn survey_link(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let token = path.into_inner();
    let claims = match state.invitations.verify(&token, clock::now_secs()) {
        Ok(claims) => claims,
        Err(error) => {
            let status = ApiError::from(Refused::Invitation(error)).parts().0;
            let texts = &protocol::CORE_CX.locales[0];
            let html = assets::notice_page(texts.code, texts.ui.title, texts.ui.link_invalid);
            return Page::Owned.respond(status, html);
        }
    };
    let locale = claims.locale().unwrap_or("en");
    let title = protocol::CORE_CX.locale(locale).map_or("", |l| l.ui.title);
    let store = Arc::clone(state.ingest.store());
    let (touchpoint, interaction) = (
        claims.touchpoint().to_owned(),
        claims.interaction_id().to_owned(),
    );
    let answered = web::block(move || {
        store.interaction_answered(protocol::Channel::Agent, &touchpoint, &interaction)
    })
    .await;
    if let Ok(Ok(true)) = answered {
        // One answer per call: say so at once instead of offering a survey that will be refused.
        let texts = protocol::CORE_CX
            .locale(locale)
            .unwrap_or(&protocol::CORE_CX.locales[0]);
        let html = assets::notice_page(texts.code, texts.ui.title, texts.ui.already_answered);
        return Page::Owned.respond(StatusCode::CONFLICT, html);
    }
    let mut attrs = vec![
        ("touchpoint", claims.touchpoint()),
        ("interaction", claims.interaction_id()),
        ("agent", claims.agent_id()),
        ("invitation", token.as_str()),
    ];
    if let Some(queue) = claims.queue() {
        attrs.push(("segment", queue));
    }
    if let Some(locale) = claims.locale() {
        attrs.push(("locale", locale));
    }
    if let Some(site) = claims.site() {
        attrs.push(("site", site));
    }
    let attrs: String = attrs
        .iter()
        .map(|(name, value)| [" data-", name, "=\"", &escape(value), "\""].concat())
        .collect();
    Page::Owned.ok(assets::hosted_page(&escape(locale), &escape(title), &attrs))
}

/// `GET /s/{token}/qr.svg`: the link as a QR code, for the agent to show or send.
pub async fn survey_link_qr(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    state
        .invitations
        .verify(&token, clock::now_secs())
        .map_err(|e| ApiError::from(Refused::Invitation(e)))?;
    let svg = agent::qr_svg(&link(&req, &state, &token)).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(svg))
}

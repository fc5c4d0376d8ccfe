//! The agent channel over HTTP: an agent's console asks for a post-call invitation
//! (`POST /v1/invitations`), and the customer opens its short link (`/s/{id}`, which the store
//! resolves to the signed token) or QR code; a link carrying the token itself (`/s/{token}`, as
//! earlier versions sent) works the same until it expires.

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
    store::StoreError,
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

/// The customer's link of an invitation (`part`: its short id, or the token), on this
/// collector's own origin.
fn link(req: &HttpRequest, state: &AppState, part: &str) -> String {
    [own_origin(req, state).as_str(), "/s/", part].concat()
}

/// A new short link to `token`, kept by the store until the token expires; its id, or the token
/// itself where the store keeps no links.
async fn shorten(state: &AppState, token: &str, expires_at: u64) -> Result<String, ApiError> {
    let id = agent::new_link_id().map_err(StoreError::from)?;
    let store = Arc::clone(state.ingest.store());
    let (kept, token) = (id.clone(), token.to_owned());
    web::block(
        move || match store.put_link(&kept, &token, expires_at, clock::now_secs()) {
            Ok(()) => Ok(kept),
            Err(StoreError::NoLinks) => Ok(token),
            Err(error) => Err(error),
        },
    )
    .await
    .map_err(|_| ApiError::Busy)?
    .map_err(ApiError::from)
}

/// The token the part after `/s/` stands for: a short link's, as the store keeps it, or the
/// token itself; then verified as every token is (signed here, not expired).
async fn resolve(state: &AppState, part: String) -> Result<(String, Claims), ApiError> {
    let token = if agent::is_link_id(&part) {
        let store = Arc::clone(state.ingest.store());
        web::block(move || store.link(&part))
            .await
            .map_err(|_| ApiError::Busy)??
            .ok_or(Refused::Invitation(agent::InvitationError::Invalid))?
    } else {
        part
    };
    let claims = state
        .invitations
        .verify(&token, clock::now_secs())
        .map_err(Refused::Invitation)?;
    Ok((token, claims))
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
    let url = link(&req, &state, &shorten(&state, &token, expires_at).await?);
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

/// `GET /s/{id}` (or `/s/{token}`): the customer's survey for one call, the widget on the agent
/// channel with the invitation's context; a clear page (and no survey) for a link that is not
/// valid.
pub async fn survey_link(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let (token, claims) = match resolve(&state, path.into_inner()).await {
        Ok(found) => found,
        Err(error) => {
            let status = error.parts().0;
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

/// `GET /s/{id}/qr.svg` (or `/s/{token}/qr.svg`): the link as a QR code, for the agent to show
/// or send.
pub async fn survey_link_qr(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let part = path.into_inner();
    resolve(&state, part.clone()).await?;
    let svg = agent::qr_svg(&link(&req, &state, &part)).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(svg))
}

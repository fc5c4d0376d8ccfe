//! HTTP: routes, the origin allowlist and CORS, body limits, admin authentication, and the one
//! match ([`ApiError::parts`]) that maps every failure to a status and a stable error code.

use std::{
    collections::HashMap,
    io,
    net::{IpAddr, SocketAddr, TcpListener},
    sync::Arc,
};

use actix_web::{
    body::MessageBody,
    dev::{Server, ServerHandle, ServiceRequest, ServiceResponse},
    http::{
        header::{self, HeaderValue},
        StatusCode,
    },
    middleware::Compress,
    web::{self, Bytes, BytesMut},
    App, HttpRequest, HttpResponse, HttpServer, ResponseError,
};
use anyhow::Context as _;
use futures_util::StreamExt as _;
use protocol::{Rejection, MAX_BATCH_ITEMS, MAX_SUBMISSION_BYTES};
use serde_json::{json, value::RawValue};

use protocol::SubmissionId;

use crate::{
    assets,
    config::{Config, Secret},
    dashboard,
    durable::NotDurable,
    export::{self, BadQuery, Filter, Format},
    ingest::{Accepted, Ingest, Outcome, Refused},
    invitations::{self, Claims, InvitationError, Invitations},
    limits::{now_millis, Limiter},
    report::{self, escape},
    stats::{self, Aggregates},
    store::{SledStore, Store},
};

/// Largest batch body: room for the most items at a typical size.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Every way a request can fail, mapped to its answer in one place.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Refused by ingest; the id is echoed once it has been validated.
    #[error("{0}")]
    Refused(Refused, Option<SubmissionId>),
    #[error("body too large")]
    PayloadTooLarge { limit: usize },
    #[error("unreadable body")]
    UnreadableBody,
    #[error("unsupported content type")]
    UnsupportedMediaType,
    #[error("origin not allowed")]
    OriginNotAllowed,
    #[error("missing or wrong admin token")]
    Unauthorized,
    #[error("admin routes are disabled")]
    AdminDisabled,
    #[error("bad query: {0}")]
    BadQuery(#[from] BadQuery),
    #[error("batch too large")]
    BatchTooLarge,
    #[error("not found")]
    NotFound,
    #[error("rate limited")]
    RateLimited { retry_after: u64 },
    #[error("the widget is not built into this collector")]
    WidgetNotBuilt,
    #[error("missing or wrong agent key")]
    AgentUnauthorized,
    #[error("invitations are disabled")]
    InvitationsDisabled,
    #[error("bad invitation request")]
    BadInvitationRequest { field: &'static str },
}

/// Status, code and message of an ingest refusal; also used per item in a batch.
fn refused_parts(refused: &Refused) -> (StatusCode, &'static str, &'static str) {
    match refused {
        Refused::Invalid(rejection) => (
            StatusCode::BAD_REQUEST,
            rejection.code(),
            rejection.message(),
        ),
        Refused::IdConflict => (
            StatusCode::CONFLICT,
            "id_conflict",
            "this id is already stored with different content",
        ),
        Refused::AlreadyAnswered => (
            StatusCode::CONFLICT,
            "already_answered",
            "this interaction has already been answered",
        ),
        Refused::Invitation(InvitationError::Invalid) => (
            StatusCode::BAD_REQUEST,
            "invalid_invitation",
            "context.invitation is not a token this collector issued, or it was changed",
        ),
        Refused::Invitation(InvitationError::Expired) => (
            StatusCode::GONE,
            "invitation_expired",
            "the invitation has expired; the agent can issue a new one",
        ),
        Refused::Invitation(InvitationError::Mismatch) => (
            StatusCode::BAD_REQUEST,
            "invitation_mismatch",
            "an answer to an invitation must be on the agent channel, with the touchpoint, context.interaction_id and context.agent_id it binds",
        ),
        Refused::Invitation(InvitationError::Required) => (
            StatusCode::BAD_REQUEST,
            "invitation_required",
            "this collector takes agent-channel answers only with the invitation of their call (context.invitation)",
        ),
        Refused::RateLimited(_) => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "this device sends faster than its limit; retry after Retry-After seconds",
        ),
        Refused::Unavailable(_) | Refused::Storage(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the collector cannot store answers right now; retry later with the same id",
        ),
    }
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        Self::Refused(refused, None)
    }
}

impl ApiError {
    /// Status, stable code and message. Messages describe the rule, never the input.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Refused(refused, _) => refused_parts(refused),
            Self::PayloadTooLarge { limit } if *limit == MAX_BATCH_BYTES => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "a batch body must be at most 1 MiB",
            ),
            Self::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "a submission must be at most 16 KiB",
            ),
            Self::UnreadableBody => (
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "the request body could not be read",
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json or text/plain",
            ),
            Self::OriginNotAllowed => (
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "this page's origin may not post answers; add it with --allow-origin",
            ),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the admin token as 'Authorization: Bearer <token>'",
            ),
            Self::AdminDisabled => (
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "admin routes are disabled: start the collector with TOUCHPOINT_ADMIN_TOKEN set",
            ),
            Self::BadQuery(BadQuery(message)) => {
                (StatusCode::BAD_REQUEST, "invalid_query", message)
            }
            Self::BatchTooLarge => (
                StatusCode::BAD_REQUEST,
                "batch_too_large",
                "a batch holds at most 100 submissions",
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such route"),
            Self::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "this address sends faster than its limit; retry after Retry-After seconds",
            ),
            Self::WidgetNotBuilt => (
                StatusCode::NOT_FOUND,
                "widget_not_built",
                "this collector was built without the widget: build it with `cargo xtask run`",
            ),
            Self::AgentUnauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send an agent key (TOUCHPOINT_AGENT_KEYS) or the admin token as 'Authorization: Bearer <key>'",
            ),
            Self::InvitationsDisabled => (
                StatusCode::FORBIDDEN,
                "invitations_disabled",
                "invitations are disabled: start the collector with TOUCHPOINT_AGENT_KEYS or TOUCHPOINT_ADMIN_TOKEN set",
            ),
            Self::BadInvitationRequest { .. } => (
                StatusCode::BAD_REQUEST,
                "invalid_invitation_request",
                "send {\"touchpoint\", \"interaction_id\", \"agent_id\", \"queue\"?, \"locale\"?}: identifiers of 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-', a locale of the instrument",
            ),
        }
    }

    /// The JSON body: `{"error", "message"}`, plus the schema `field` and the validated `id`
    /// where there are some.
    fn body(&self) -> serde_json::Value {
        let (_, code, message) = self.parts();
        let mut body = json!({"error": code, "message": message});
        if let Self::Refused(refused, id) = self {
            if let Refused::Invalid(rejection) = refused {
                if let Some(field) = rejection.field().filter(|f| !f.is_empty()) {
                    body["field"] = json!(field);
                }
            }
            if let Some(id) = id {
                body["id"] = json!(id.as_str());
            }
        }
        if let Self::BadInvitationRequest { field } = self {
            body["field"] = json!(field);
        }
        body
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.parts().0);
        match self {
            Self::Refused(Refused::Unavailable(_) | Refused::Storage(_), _) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::Refused(Refused::RateLimited(secs), _)
            | Self::RateLimited { retry_after: secs } => {
                response.insert_header((header::RETRY_AFTER, secs.to_string()));
            }
            Self::Unauthorized | Self::AgentUnauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.json(self.body())
    }
}

/// What every handler shares.
pub struct AppState {
    pub ingest: Ingest,
    per_address: Limiter,
    trusted_proxies: Vec<IpAddr>,
    allow_origins: Vec<String>,
    admin_token: Option<Secret>,
    survey: Bytes,
    sessions: dashboard::Sessions,
    invitations: Arc<Invitations>,
}

/// A started collector: its address, the server future to await, and handles to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub server: Server,
    pub ingest: Ingest,
}

impl Running {
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }
}

/// Opens the store under `config.data`, binds `config.listen` and builds the server. Must be called
/// inside an actix/tokio runtime; await `Running::server`, then call `Ingest::shutdown`.
pub fn start(config: Config) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data)
        .with_context(|| format!("creating the data directory {}", config.data.display()))?;
    let store = SledStore::open_with_cache(&config.data, config.cache_mib)
        .with_context(|| format!("opening the store in {}", config.data.display()))?;
    start_with_store(config, Arc::new(store))
}

/// [`start`] over a store the caller opened (tests wrap the sled store to inject failures).
pub fn start_with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Running> {
    let invitations = Arc::new(
        Invitations::load(
            &config.data,
            config.invitation_secret.clone(),
            config.invitation_ttl_secs,
            config.agent_keys.clone(),
        )
        .context("loading the invitation secret")?
        .requiring(config.require_invitation),
    );
    let ingest = Ingest::new(store)
        .with_device_limit(config.limit_per_device)
        .with_invitations(Arc::clone(&invitations));
    let listener = TcpListener::bind(config.listen)
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    if config.admin_token.is_none() {
        tracing::warn!(
            "TOUCHPOINT_ADMIN_TOKEN is not set: export and the other admin routes are disabled"
        );
    }
    let state = web::Data::new(AppState {
        ingest: ingest.clone(),
        per_address: Limiter::new(config.limit_per_address),
        trusted_proxies: config.trusted_proxies.clone(),
        allow_origins: config.allow_origins.clone(),
        admin_token: config.admin_token.clone(),
        survey: Bytes::from(survey_document().to_string()),
        sessions: dashboard::Sessions::default(),
        invitations,
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::QueryConfig::default().error_handler(|_, _| {
                ApiError::BadQuery(BadQuery("the query string could not be read")).into()
            }))
            .app_data(
                web::FormConfig::default().error_handler(|_, _| ApiError::UnreadableBody.into()),
            )
            .wrap(Compress::default())
            .wrap(actix_web::middleware::from_fn(cors))
            .route("/healthz", web::get().to(healthz))
            .route("/v1/survey", web::get().to(survey))
            .service(
                web::resource("/v1/responses")
                    .route(web::post().to(post_response))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(preflight)),
            )
            .service(
                web::resource("/v1/responses/batch")
                    .route(web::post().to(post_batch))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(preflight)),
            )
            .service(
                web::resource("/v1/invitations")
                    .route(web::post().to(post_invitation))
                    .route(web::method(actix_web::http::Method::OPTIONS).to(preflight)),
            )
            .route("/s/{token}", get_or_head().to(survey_link))
            .route("/s/{token}/qr.svg", get_or_head().to(survey_link_qr))
            .route("/v1/export", web::get().to(export_route))
            .route("/v1/stats", web::get().to(stats_route))
            .route("/v1/report", web::get().to(report_route))
            .route("/dashboard", get_or_head().to(dashboard_page))
            .route("/dashboard/session", web::post().to(dashboard_sign_in))
            .route("/dashboard/sign-out", web::post().to(dashboard_sign_out))
            .route("/dashboard/report", web::get().to(dashboard_report))
            .route("/dashboard/style.css", get_or_head().to(dashboard_css))
            .route("/metrics", web::get().to(metrics_route))
            .route("/v1/openapi.json", web::get().to(openapi))
            .route("/embed", get_or_head().to(embed_page))
            .route("/demo/site.css", get_or_head().to(demo_css))
            .route("/demo/agent.js", get_or_head().to(demo_js))
            .route("/demo/{page}", get_or_head().to(demo_named_page))
            .route(
                "/{file:(widget\\.js|tp-[0-9a-f]+\\.(js|wasm))}",
                get_or_head().to(widget_file),
            )
            .route("/", get_or_head().to(demo_page))
            .route("/favicon.ico", get_or_head().to(favicon))
            .default_service(web::to(|| async { ApiError::NotFound.error_response() }))
    })
    .listen(listener)?
    .shutdown_timeout(10);
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    Ok(Running {
        addr,
        server: server.run(),
        ingest,
    })
}

/// Static files answer HEAD too (caches and monitors ask it); actix strips the body.
fn get_or_head() -> actix_web::Route {
    web::route().guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}

/// The instrument with every locale, as `GET /v1/survey` serves it.
pub fn survey_document() -> serde_json::Value {
    let cx = &protocol::CORE_CX;
    let locales: serde_json::Map<String, serde_json::Value> = cx
        .locales
        .iter()
        .map(|l| {
            let ui = &l.ui;
            (
                l.code.to_owned(),
                json!({
                    "name": l.name,
                    "dir": if l.rtl { "rtl" } else { "ltr" },
                    "questions": {
                        "effort": {"text": l.effort, "labels": l.effort_labels},
                        "confidence": {"text": l.confidence, "labels": l.confidence_labels},
                        "emotion": {"text": l.emotion, "labels": l.emotion_labels},
                        "comment": {"text": l.comment},
                    },
                    "ui": {
                        "feedback": ui.feedback, "title": ui.title, "send": ui.send,
                        "close": ui.close, "thank_you": ui.thank_you, "optional": ui.optional,
                        "need_answer": ui.need_answer, "start": ui.start,
                        "choose_language": ui.choose_language, "idle_reset": ui.idle_reset,
                        "already_answered": ui.already_answered, "link_invalid": ui.link_invalid,
                        "queued": ui.queued, "post_call": ui.post_call,
                        "share_link": ui.share_link, "qr_alt": ui.qr_alt, "assist": ui.assist,
                        "link_failed": ui.link_failed,
                    },
                }),
            )
        })
        .collect();
    json!({
        "id": cx.id,
        "version": cx.version,
        "questions": [
            {"id": "effort", "type": "scale", "min": 1, "max": cx.effort_max},
            {"id": "confidence", "type": "scale", "min": 1, "max": cx.confidence_max},
            {"id": "emotion", "type": "choice", "options": cx.emotions},
            {"id": "comment", "type": "text", "optional": true, "max_chars": cx.comment_max_chars},
        ],
        "locales": locales,
    })
}

/// The widget's files. They are public and hold no secrets: any page may load them (the loader
/// imports the glue as a module and fetches the wasm, both in CORS mode). Browsers that accept
/// gzip get the body compressed at build time, far smaller than compressing on the fly.
async fn widget_file(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let asset = assets::widget_file(&path).ok_or(if assets::has_widget() {
        ApiError::NotFound
    } else {
        ApiError::WidgetNotBuilt
    })?;
    let cache = if asset.immutable {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::VARY, "Accept-Encoding"));
    Ok(match asset.gzip.filter(|_| accepts_gzip(&req)) {
        // A body with its Content-Encoding set is left alone by the Compress middleware.
        Some(gzip) => response
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(gzip),
        None => response.body(asset.bytes),
    })
}

/// Whether the request's `Accept-Encoding` takes gzip (`gzip` or `*`, without `q=0`), read with
/// actix-web's typed header (the one its Compress middleware negotiates with).
fn accepts_gzip(req: &HttpRequest) -> bool {
    use header::{AcceptEncoding, Encoding, Header, Preference, Quality};
    AcceptEncoding::parse(req).is_ok_and(|accept| {
        accept.iter().any(|choice| {
            choice.quality > Quality::ZERO
                && match &choice.item {
                    Preference::Any => true,
                    Preference::Specific(coding) => *coding == Encoding::gzip(),
                }
        })
    })
}

fn page(html: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, assets::PAGE_CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(html)
}

/// The survey alone, for pages whose CSP forbids WebAssembly: the loader shows it in an iframe.
async fn embed_page() -> HttpResponse {
    page(assets::EMBED_PAGE)
}

async fn demo_page() -> HttpResponse {
    page(assets::DEMO_PAGES[0].1)
}

/// A demo page under `/demo/`.
async fn demo_named_page(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let path = ["/demo/", name.as_str()].concat();
    assets::DEMO_PAGES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, html)| page(html))
        .ok_or(ApiError::NotFound)
}

async fn demo_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(assets::DEMO_AGENT_JS)
}

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
}

/// This collector's own base URL as the client reached it.
fn own_base(req: &HttpRequest) -> String {
    let info = req.connection_info();
    [info.scheme(), "://", info.host()].concat()
}

/// `POST /v1/invitations`: an agent's console asks for a post-call survey link.
async fn post_invitation(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if let OriginCheck::Denied(_) = check_origin(&req, &state.allow_origins) {
        return Err(ApiError::OriginNotAllowed);
    }
    if !state.invitations.has_keys(state.admin_token.as_ref()) {
        return Err(ApiError::InvitationsDisabled);
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !state
        .invitations
        .authorizes(given.trim(), state.admin_token.as_ref())
    {
        return Err(ApiError::AgentUnauthorized);
    }
    let body = read_body(&req, payload, 4096).await?;
    let request: InvitationRequest =
        serde_json::from_slice(&body).map_err(|_| ApiError::BadInvitationRequest { field: "" })?;
    let expires_at = invitations::now_secs().saturating_add(state.invitations.ttl_secs());
    let claims = Claims::new(
        &request.touchpoint,
        &request.interaction_id,
        &request.agent_id,
        request.queue.as_deref(),
        request.locale.as_deref(),
        expires_at,
    )
    .map_err(|field| ApiError::BadInvitationRequest { field })?;
    let token = state.invitations.issue(&claims);
    let url = [own_base(&req).as_str(), "/s/", &token].concat();
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
            "url": url,
            "qr": qr,
            "expires_at": expires.as_str(),
        })))
}

fn owned_page(status: StatusCode, html: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, assets::PAGE_CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

/// `GET /s/{token}`: the customer's survey for one call, the widget on the agent channel with
/// the invitation's context; a clear page (and no survey) for a link that is not valid.
async fn survey_link(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let token = path.into_inner();
    let claims = match state.invitations.verify(&token, invitations::now_secs()) {
        Ok(claims) => claims,
        Err(error) => {
            let status = refused_parts(&Refused::Invitation(error)).0;
            let texts = &protocol::CORE_CX.locales[0];
            let html = assets::notice_page(texts.code, texts.ui.title, texts.ui.link_invalid);
            return owned_page(status, html);
        }
    };
    let locale = claims.locale().unwrap_or("en");
    let title = protocol::CORE_CX.locale(locale).map_or("", |l| l.ui.title);
    let store = state.ingest.store().clone();
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
        return owned_page(StatusCode::CONFLICT, html);
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
    let attrs: String = attrs
        .iter()
        .map(|(name, value)| [" data-", name, "=\"", &escape(value), "\""].concat())
        .collect();
    owned_page(
        StatusCode::OK,
        assets::hosted_page(&escape(locale), &escape(title), &attrs),
    )
}

/// `GET /s/{token}/qr.svg`: the link as a QR code, for the agent to show or send.
async fn survey_link_qr(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    state
        .invitations
        .verify(&token, invitations::now_secs())
        .map_err(|e| ApiError::from(Refused::Invitation(e)))?;
    let url = [own_base(&req).as_str(), "/s/", &token].concat();
    let svg = invitations::qr_svg(&url).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(svg))
}

async fn demo_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(include_str!("../../demo-site/site.css"))
}

/// Every route, request and error body, for API clients and audits.
pub const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(OPENAPI)
}

/// No icon: an empty answer that browsers cache, instead of a 404 in every page's console.
async fn favicon() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .finish()
}

/// 200 while answers can be stored; 503 while storage is failing (reads are still served).
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if state.ingest.commit().accepting() {
        HttpResponse::Ok().json(json!({"status": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "30"))
            .json(json!({
                "status": "storage_failing",
                "message": "answers cannot be stored now and are refused with 503; exports and reads are still served"
            }))
    }
}

async fn survey(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(state.survey.clone())
}

/// The request's `Origin`, when it is another origin that the allowlist admits.
enum OriginCheck {
    /// No `Origin` header (not a browser), or the collector's own pages.
    Own,
    Allowed(HeaderValue),
    Denied(HeaderValue),
}

fn check_origin(req: &HttpRequest, allow: &[String]) -> OriginCheck {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return OriginCheck::Own;
    };
    let text = origin.to_str().unwrap_or("").to_ascii_lowercase();
    if allow.contains(&text) {
        return OriginCheck::Allowed(origin.clone());
    }
    let host = req.connection_info().host().to_ascii_lowercase();
    match text.split_once("://") {
        Some((_, origin_host)) if origin_host == host => OriginCheck::Own,
        _ => OriginCheck::Denied(origin.clone()),
    }
}

/// CORS for the ingest routes: allowed origins (and only those) get their origin echoed back.
/// The allowlist itself is enforced by the handlers, because `text/plain` posts get no preflight.
async fn cors(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let echo = match state {
        Some(state)
            if req.path().starts_with("/v1/responses") || req.path() == "/v1/invitations" =>
        {
            match check_origin(req.request(), &state.allow_origins) {
                OriginCheck::Allowed(origin) => Some(origin),
                // So the widget can read the 403 and stop retrying, instead of seeing a network error.
                OriginCheck::Denied(origin) if req.method() == actix_web::http::Method::POST => {
                    Some(origin)
                }
                _ => None,
            }
        }
        _ => None,
    };
    let mut res = next.call(req).await?;
    if let Some(origin) = echo {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        // The widget honours Retry-After, which a cross-origin script may read only when exposed.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
    }
    Ok(res)
}

async fn preflight(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match check_origin(&req, &state.allow_origins) {
        OriginCheck::Denied(_) => Err(ApiError::OriginNotAllowed),
        _ => Ok(HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "content-type, authorization",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
            .finish()),
    }
}

fn check_post(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    if let OriginCheck::Denied(_) = check_origin(req, &state.allow_origins) {
        return Err(ApiError::OriginNotAllowed);
    }
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        let essence = content_type
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("");
        let essence = essence.trim().to_ascii_lowercase();
        if essence != "application/json" && essence != "text/plain" {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    Ok(())
}

async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<BytesMut, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::UnreadableBody)?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the nearest address in
/// `X-Forwarded-For` that is not one of the trusted proxies. Used for rate limits only, never stored.
fn client_address(req: &HttpRequest, trusted: &[IpAddr]) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    let Some(peer) = peer else {
        return String::new();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().parse::<IpAddr>())
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .find_map(|a| a.as_ref().ok().filter(|ip| !trusted.contains(ip)))
        .copied()
        .unwrap_or(peer)
        .to_string()
}

/// The checks every post passes (origin, content type, size), then its body; a refusal here is
/// counted like any other outcome.
async fn accept_body(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    limit: usize,
) -> Result<BytesMut, ApiError> {
    let checked = match check_post(req, state).and_then(|()| {
        state
            .per_address
            .take(&client_address(req, &state.trusted_proxies), now_millis())
            .map_err(|retry_after| ApiError::RateLimited { retry_after })
    }) {
        Ok(()) => read_body(req, payload, limit).await,
        Err(error) => Err(error),
    };
    checked.inspect_err(|error| state.ingest.outcomes.record(error.parts().1))
}

fn accepted_status(accepted: Accepted) -> StatusCode {
    match accepted {
        Accepted::Stored => StatusCode::CREATED,
        Accepted::Duplicate => StatusCode::OK,
    }
}

async fn post_response(
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

fn item_result(index: usize, outcome: Outcome) -> serde_json::Value {
    let mut item = match outcome {
        Ok((id, accepted)) => json!({"id": id.as_str(), "status": accepted.as_str()}),
        Err((id, refused)) => {
            let status = if matches!(
                refused_parts(&refused).0,
                StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
            ) {
                "unavailable"
            } else {
                "rejected"
            };
            let mut item = ApiError::Refused(refused, id).body();
            item["status"] = json!(status);
            item
        }
    };
    item["index"] = json!(index);
    item
}

async fn post_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = accept_body(&req, payload, &state, MAX_BATCH_BYTES).await?;
    let counted = |error: ApiError| {
        state.ingest.outcomes.record(error.parts().1);
        error
    };
    let items: Vec<&RawValue> = serde_json::from_slice(&body)
        .map_err(|_| counted(Refused::Invalid(Rejection::InvalidJson).into()))?;
    if items.len() > MAX_BATCH_ITEMS {
        return Err(counted(ApiError::BatchTooLarge));
    }
    let (small, large): (Vec<_>, Vec<_>) = items
        .iter()
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
        results[*index] = item_result(*index, outcome);
    }
    for (index, _) in large {
        state.ingest.outcomes.record("payload_too_large");
        results[index] = json!({
            "index": index, "status": "rejected", "error": "payload_too_large",
            "message": "a submission must be at most 16 KiB",
        });
    }
    let mut response = if unavailable {
        let mut r = HttpResponse::ServiceUnavailable();
        r.insert_header((header::RETRY_AFTER, "1"));
        r
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(json!({"results": results})))
}

/// Compares without an early exit, so the time taken says nothing about the token.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= given.get(i).copied().unwrap_or(0) ^ e;
    }
    std::hint::black_box(diff) == 0
}

fn require_admin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let Some(token) = &state.admin_token else {
        return Err(ApiError::AdminDisabled);
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.trim().as_bytes(), token.expose().as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

async fn metrics_route(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let ingest = state.ingest.clone();
    let text = web::block(move || {
        crate::metrics::render(
            &ingest.outcomes.snapshot(),
            &ingest.commit().stats,
            ingest.store().size_on_disk(),
        )
    })
    .await
    .map_err(|_| ApiError::from(Refused::Unavailable(NotDurable::ShuttingDown)))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text))
}

/// Hands export chunks from a plain thread to the response stream; a bounded channel keeps
/// memory flat when the client reads slower than the store is scanned.
struct ChannelWriter(tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>);

impl io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

async fn export_route(
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let get = |name: &str| query.get(name).map(String::as_str);
    let format = match get("format") {
        None => Format::Ndjson,
        Some(f) => Format::parse(f).ok_or(BadQuery("format must be csv or ndjson"))?,
    };
    let filter = Filter::parse(get("from"), get("to"), get("channel"), get("touchpoint"))?;
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
        })
        .map_err(|_| ApiError::from(Refused::Unavailable(NotDurable::ShuttingDown)))?;
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

/// The store's stats cells.
fn aggregates(state: &AppState) -> Result<&Aggregates, ApiError> {
    state.ingest.store().aggregates().ok_or(ApiError::Refused(
        Refused::Unavailable(NotDurable::ShuttingDown),
        None,
    ))
}

/// Reads a stats query, refusing parameters it does not know (a typo must not answer unfiltered).
fn stats_query(query: &HashMap<String, String>, known: &[&str]) -> Result<stats::Query, ApiError> {
    if query.keys().any(|k| !known.contains(&k.as_str())) {
        return Err(BadQuery(
            "unknown parameter: use from, to, channel, touchpoint, site, agent, segment, locale, group_by, include_bursts",
        )
        .into());
    }
    Ok(stats::Query::parse(&|name| query.get(name).cloned())?)
}

async fn stats_route(
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let query = stats_query(&query, &stats::PARAMETERS)?;
    let answer = aggregates(&state)?.query(&query);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer.to_json()))
}

/// A dashboard page: no script may run, nothing may frame it, nothing is cached.
fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, dashboard::CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

/// The request's session id, when it names a live session.
fn session(req: &HttpRequest, state: &AppState) -> Option<String> {
    let id = req
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == dashboard::COOKIE).then(|| value.to_owned())
        })?;
    state.sessions.is_valid(&id).then_some(id)
}

/// Whether the request carries a live dashboard session; refused while admin routes are disabled.
fn signed_in(req: &HttpRequest, state: &AppState) -> Result<bool, ApiError> {
    if state.admin_token.is_none() {
        return Err(ApiError::AdminDisabled);
    }
    Ok(session(req, state).is_some())
}

fn render_error(error: dashboard::RenderError) -> ApiError {
    match error {
        dashboard::RenderError::BadQuery(bad) => ApiError::BadQuery(bad),
        dashboard::RenderError::Store(e) => Refused::Storage(e).into(),
    }
}

async fn dashboard_page(
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !signed_in(&req, &state)? {
        return Ok(html(StatusCode::OK, dashboard::sign_in_page(None)));
    }
    let store = Arc::clone(state.ingest.store());
    let page = web::block(move || dashboard::render(&*store, &query))
        .await
        .map_err(|_| ApiError::from(Refused::Unavailable(NotDurable::ShuttingDown)))?
        .map_err(render_error)?;
    Ok(html(StatusCode::OK, page))
}

/// Sign-in: the token arrives once, in a form body; a session cookie stands for it afterwards.
async fn dashboard_sign_in(
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(token) = &state.admin_token else {
        return Err(ApiError::AdminDisabled);
    };
    state
        .per_address
        .take(&client_address(&req, &state.trusted_proxies), now_millis())
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    let given = form.get("token").map_or("", |t| t.trim());
    if !constant_time_eq(given.as_bytes(), token.expose().as_bytes()) {
        return Ok(html(
            StatusCode::UNAUTHORIZED,
            dashboard::sign_in_page(Some("That is not the admin token.")),
        ));
    }
    let id = state
        .sessions
        .create()
        .map_err(|_| ApiError::from(Refused::Unavailable(NotDurable::ShuttingDown)))?;
    Ok(see_other("/dashboard")
        .insert_header((header::SET_COOKIE, dashboard::session_cookie(&id)))
        .finish())
}

async fn dashboard_sign_out(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(id) = session(&req, &state) {
        state.sessions.end(&id);
    }
    see_other("/dashboard")
        .insert_header((header::SET_COOKIE, dashboard::cleared_cookie()))
        .finish()
}

async fn dashboard_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(dashboard::STYLE)
}

/// The council report of `period` in `format`.
async fn council_report(
    state: &AppState,
    query: &HashMap<String, String>,
    default_format: &str,
) -> Result<HttpResponse, ApiError> {
    if query
        .keys()
        .any(|k| !["period", "format"].contains(&k.as_str()))
    {
        return Err(BadQuery("unknown parameter: use period and format").into());
    }
    let period = report::Period::parse(query.get("period").map_or("", String::as_str))?;
    let format = query
        .get("format")
        .map_or(default_format, String::as_str)
        .to_owned();
    if !["md", "html", "json"].contains(&format.as_str()) {
        return Err(BadQuery("format must be md, html or json").into());
    }
    let store = Arc::clone(state.ingest.store());
    let built = web::block(move || report::build(&*store, &period))
        .await
        .map_err(|_| ApiError::from(Refused::Unavailable(NotDurable::ShuttingDown)))?
        .map_err(Refused::Storage)?;
    Ok(match format.as_str() {
        "md" => HttpResponse::Ok()
            .content_type("text/markdown; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(built.to_markdown()),
        "json" => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(built.to_json()),
        _ => html(
            StatusCode::OK,
            built.to_html(report::Stylesheet::Link("/dashboard/style.css")),
        ),
    })
}

async fn report_route(
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    council_report(&state, &query, "md").await
}

async fn dashboard_report(
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !signed_in(&req, &state)? {
        return Ok(see_other("/dashboard").finish());
    }
    council_report(&state, &query, "html").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_when_named_or_starred_and_not_refused() {
        use actix_web::test::TestRequest;
        let accepts = |value: &str| {
            accepts_gzip(
                &TestRequest::default()
                    .insert_header(("Accept-Encoding", value))
                    .to_http_request(),
            )
        };
        assert!(accepts("gzip, deflate, br, zstd"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("identity"));
        assert!(!accepts("br, deflate"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip; q=0.0, identity"));
        assert!(!accepts("x-gzip-not"));
        assert!(!accepts_gzip(&TestRequest::default().to_http_request()));
    }

    #[test]
    fn token_comparison_needs_every_byte() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-tokem", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token-and-more", b"secret-token"));
        assert!(!constant_time_eq(b"", b"secret-token"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        use actix_web::test::TestRequest;
        let proxy: IpAddr = "10.0.0.5".parse().expect("an address");
        let request = |peer: &str, forwarded: &str| {
            TestRequest::default()
                .peer_addr(format!("{peer}:4000").parse().expect("a socket address"))
                .insert_header(("X-Forwarded-For", forwarded))
                .to_http_request()
        };
        let trusted = [proxy];
        assert_eq!(
            client_address(&request("10.0.0.5", "203.0.113.7"), &trusted),
            "203.0.113.7"
        );
        assert_eq!(
            client_address(
                &request("10.0.0.5", "198.51.100.1, 203.0.113.7, 10.0.0.5"),
                &trusted
            ),
            "203.0.113.7",
            "the nearest untrusted hop, not what the client claims first"
        );
        assert_eq!(
            client_address(&request("192.0.2.9", "203.0.113.7"), &trusted),
            "192.0.2.9"
        );
        assert_eq!(
            client_address(&request("10.0.0.5", "not an address"), &trusted),
            "10.0.0.5"
        );
    }
}

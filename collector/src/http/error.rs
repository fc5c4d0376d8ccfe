//! The one error map of the HTTP boundary: every way a request can fail, and the single match
//! ([`ApiError::parts`]) that gives each its status, its stable code and its message. Codes of
//! ingest refusals come from the refusal itself ([`Refused::code`]).

use actix_web::{
    http::{header, StatusCode},
    HttpResponse, ResponseError,
};
use protocol::SubmissionId;
use serde_json::json;

use crate::{
    channel::agent::InvitationError,
    config::{Bounded, MAX_BATCH_BYTES, MAX_OUTCOMES_BYTES},
    impact::lines::{BadLine, MAX_LINES},
    ingest::Refused,
    stats::BadQuery,
};

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
    #[error("the body took too long")]
    BodyTimeout,
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
    /// A council action that breaks a rule.
    #[error("{0}")]
    BadAction(crate::org::agenda::BadAction),
    /// A new organisation file was refused; the one in force stays.
    #[error("{0}")]
    BadOrganisation(crate::org::OrgError),
    /// A line of an outcome import that breaks a rule (the others go on).
    #[error("bad outcome line {}", .0.line)]
    BadOutcome(BadLine),
    /// An outcome line whose identity is stored with another value.
    #[error("outcome conflict")]
    OutcomeConflict,
    #[error("too many outcome lines")]
    TooManyOutcomes,
    #[error("unsupported outcome format")]
    OutcomeFormat,
    /// The work could not be started: no thread to run it on, or the collector is stopping.
    #[error("the collector is too busy to serve this now")]
    Busy,
    /// The business view is still reading in the answers stored before the collector started.
    #[error("the business view is being prepared")]
    ImpactPreparing,
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> Self {
        Self::Refused(refused, None)
    }
}

impl From<crate::impact::ViewError> for ApiError {
    fn from(error: crate::impact::ViewError) -> Self {
        match error {
            crate::impact::ViewError::Store(error) => error.into(),
            crate::impact::ViewError::Preparing => Self::ImpactPreparing,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Refused(Refused::Storage(error), None)
    }
}

/// Status and message of an ingest refusal; its code is [`Refused::code`].
fn refusal(refused: &Refused) -> (StatusCode, &'static str) {
    match refused {
        Refused::Invalid(rejection) => (StatusCode::BAD_REQUEST, rejection.message()),
        Refused::IdConflict => (
            StatusCode::CONFLICT,
            "this id is already stored with different content",
        ),
        Refused::AlreadyAnswered => (
            StatusCode::CONFLICT,
            "this interaction has already been answered",
        ),
        Refused::Invitation(InvitationError::Invalid) => (
            StatusCode::BAD_REQUEST,
            "context.invitation is not a token this collector issued, or it was changed",
        ),
        Refused::Invitation(InvitationError::Expired) => (
            StatusCode::GONE,
            "the invitation has expired; the agent can issue a new one",
        ),
        Refused::Invitation(InvitationError::Mismatch) => (
            StatusCode::BAD_REQUEST,
            "an answer to an invitation must be on the agent channel, with the touchpoint, context.interaction_id, context.agent_id, context.segment (its queue), context.site_id, locale and context.assisted it binds",
        ),
        Refused::Invitation(InvitationError::Required) => (
            StatusCode::BAD_REQUEST,
            "this collector takes agent-channel answers only with the invitation of their call (context.invitation)",
        ),
        Refused::TooManyValues(full) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            match full {
                Bounded::Touchpoint => "this collector already knows as many touchpoints as it is configured for (--max-touchpoints); answers for the known ones are accepted",
                Bounded::Site => "this collector already knows as many sites as it is configured for (--max-sites); answers from the known ones are accepted",
                Bounded::Segment => "this collector already knows as many segments as it is configured for (--max-segments); answers in the known ones are accepted",
                Bounded::Agent => "this collector already knows as many agents as it is configured for (--max-agents); answers for the known ones are accepted",
                Bounded::Device => "this collector already knows as many devices as it is configured for (--max-devices); answers from the known ones are accepted",
            },
        ),
        Refused::RateLimited(_) => (
            StatusCode::TOO_MANY_REQUESTS,
            "this device sends faster than its limit; retry after Retry-After seconds",
        ),
        Refused::Unavailable(_) | Refused::Storage(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the collector cannot store answers right now; retry later with the same id",
        ),
    }
}

impl ApiError {
    /// Status, stable code and message. Messages describe the rule, never the input.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Refused(refused, _) => {
                let (status, message) = refusal(refused);
                (status, refused.code(), message)
            }
            Self::PayloadTooLarge { limit } if *limit == MAX_BATCH_BYTES => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "a batch body must be at most 1 MiB",
            ),
            Self::PayloadTooLarge { limit } if *limit == MAX_OUTCOMES_BYTES => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "an outcome import must be at most 8 MiB; send it in parts",
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
            Self::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body must arrive within 10 seconds",
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
                "send {\"touchpoint\", \"interaction_id\", \"agent_id\", \"queue\"?, \"site\"?, \"locale\"?}: identifiers of 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-', a locale of the instrument",
            ),
            Self::BadAction(bad) => (StatusCode::BAD_REQUEST, "invalid_action", bad.rule),
            Self::BadOrganisation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_organisation",
                "the organisation file breaks a rule (see line and rule); the one in force stays",
            ),
            Self::BadOutcome(bad) => (StatusCode::BAD_REQUEST, "invalid_outcome", bad.rule),
            Self::OutcomeConflict => (
                StatusCode::CONFLICT,
                "outcome_conflict",
                "this interaction's outcome at this time is already stored with another value; nothing changed",
            ),
            Self::TooManyOutcomes => (
                StatusCode::BAD_REQUEST,
                "too_many_lines",
                const_format_lines(),
            ),
            Self::OutcomeFormat => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send outcomes as application/x-ndjson (one JSON object a line) or text/csv (with a header line)",
            ),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the collector is too busy to serve this now; retry later",
            ),
            Self::ImpactPreparing => (
                StatusCode::SERVICE_UNAVAILABLE,
                "preparing",
                "the business view is reading in the answers stored before the collector started (seconds at a million answers); retry after Retry-After seconds",
            ),
        }
    }

    /// Whether a client should retry the same request later (the batch's per-item `status`).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self.parts().0,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        )
    }

    /// The JSON body: `{"error", "message"}`, plus the schema `field` and the validated `id`
    /// where there are some.
    pub fn body(&self) -> serde_json::Value {
        let (_, code, message) = self.parts();
        let mut body = json!({"error": code, "message": message});
        if let Self::Refused(refused, id) = self {
            if let Refused::Invalid(rejection) = refused {
                if let Some(field) = rejection.field().filter(|f| !f.is_empty()) {
                    body["field"] = json!(field);
                }
            }
            if let Refused::TooManyValues(full) = refused {
                body["field"] = json!(full.field());
            }
            if let Some(id) = id {
                body["id"] = json!(id.as_str());
            }
        }
        if let Self::BadInvitationRequest { field } = self {
            body["field"] = json!(field);
        }
        if let Self::BadAction(bad) = self {
            body["field"] = json!(bad.field);
        }
        if let Self::BadOutcome(bad) = self {
            body["line"] = json!(bad.line);
            if let Some(field) = bad.field {
                body["field"] = json!(field);
            }
        }
        if let Self::BadOrganisation(error) = self {
            body["line"] = json!(error.line);
            body["rule"] = json!(error.rule);
        }
        body
    }
}

/// The rule of [`ApiError::TooManyOutcomes`], which names [`MAX_LINES`].
const fn const_format_lines() -> &'static str {
    const _: () = assert!(MAX_LINES == 50_000, "the message below names the limit");
    "an outcome import holds at most 50,000 lines; send it in parts"
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.parts().0);
        match self {
            Self::Refused(Refused::Unavailable(_) | Refused::Storage(_), _)
            | Self::Busy
            | Self::ImpactPreparing => {
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

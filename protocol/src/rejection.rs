//! Every reason a submission can be refused. Each has a stable code (clients and dashboards key on
//! it) and a message that names what is wrong without repeating what was sent.

use core::fmt;

/// Why a submission was refused. Messages never contain the submitted values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The body is not JSON, or not a JSON object.
    InvalidJson,
    /// A field the schema does not know; `at` names the object that held it.
    UnknownField {
        at: &'static str,
    },
    /// A required field is absent; `at` names it.
    MissingField {
        at: &'static str,
    },
    /// A field appears twice in one object.
    DuplicateField {
        at: &'static str,
    },
    /// A field holds the wrong kind of JSON value; `at` names it.
    InvalidType {
        at: &'static str,
    },
    InvalidId,
    UnknownSurvey,
    InvalidChannel,
    InvalidTouchpoint,
    EffortOutOfRange,
    ConfidenceOutOfRange,
    InvalidEmotion,
    NoAnswer,
    CommentTooLong,
    InvalidComment,
    UnsupportedLocale,
    /// A context value breaks the identifier rules; `field` names which.
    InvalidContext {
        field: &'static str,
    },
    InvalidSubmittedAt,
    /// `submitted_at` is further from the answer's arrival than a delayed delivery or a clock's
    /// error explains ([`crate::time::SUBMITTED_AT_WINDOW_MILLIS`], [`crate::time::SUBMITTED_AT_SKEW_MILLIS`]).
    SubmittedAtOutOfRange,
    /// `context.invitation` is malformed, or (at the collector) not one it signed.
    InvalidInvitation,
}

impl Rejection {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::UnknownField { .. } => "unknown_field",
            Self::MissingField { .. } => "missing_field",
            Self::DuplicateField { .. } => "duplicate_field",
            Self::InvalidType { .. } => "invalid_type",
            Self::InvalidId => "invalid_id",
            Self::UnknownSurvey => "unknown_survey",
            Self::InvalidChannel => "invalid_channel",
            Self::InvalidTouchpoint => "invalid_touchpoint",
            Self::EffortOutOfRange => "effort_out_of_range",
            Self::ConfidenceOutOfRange => "confidence_out_of_range",
            Self::InvalidEmotion => "invalid_emotion",
            Self::NoAnswer => "no_answer",
            Self::CommentTooLong => "comment_too_long",
            Self::InvalidComment => "invalid_comment",
            Self::UnsupportedLocale => "unsupported_locale",
            Self::InvalidContext { .. } => "invalid_context",
            Self::InvalidSubmittedAt => "invalid_submitted_at",
            Self::SubmittedAtOutOfRange => "submitted_at_out_of_range",
            Self::InvalidInvitation => "invalid_invitation",
        }
    }

    /// What is wrong, for a person reading the error. `at`/`field` come from the schema's own field
    /// names, never from the input.
    pub fn message(&self) -> &'static str {
        match self {
            Self::InvalidJson => "the body must be one JSON object",
            Self::UnknownField { .. } => "a field not in the schema was sent",
            Self::MissingField { .. } => "a required field is missing",
            Self::DuplicateField { .. } => "a field appears more than once",
            Self::InvalidType { .. } => "a field has the wrong type",
            Self::InvalidId => "id must be 16-64 characters of A-Z, a-z, 0-9, '_' or '-'",
            Self::UnknownSurvey => "survey must be {\"id\": \"core-cx\", \"version\": 1}",
            Self::InvalidChannel => "channel must be one of web, kiosk, agent",
            Self::InvalidTouchpoint => {
                "touchpoint must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'"
            }
            Self::EffortOutOfRange => "answers.effort must be an integer from 1 to 7",
            Self::ConfidenceOutOfRange => "answers.confidence must be an integer from 1 to 5",
            Self::InvalidEmotion => {
                "answers.emotion must be one of angry, frustrated, neutral, pleased, delighted"
            }
            Self::NoAnswer => "answer at least one of effort, confidence, emotion",
            Self::CommentTooLong => "comment must be at most 1000 characters",
            Self::InvalidComment => "comment must not contain control characters",
            Self::UnsupportedLocale => "locale must be one of the instrument's: en, es, fr, de, ar",
            Self::InvalidContext { .. } => {
                "context values must be 1-64 characters (page: 1-512) of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'"
            }
            Self::InvalidSubmittedAt => "submitted_at must be an RFC 3339 timestamp",
            Self::SubmittedAtOutOfRange => {
                "submitted_at must be at most 14 days before the answer reaches the collector and at most 1 day after"
            }
            Self::InvalidInvitation => {
                "context.invitation must be a token this collector issued (POST /v1/invitations), unchanged"
            }
        }
    }

    /// The schema path the rejection is about, when there is one (e.g. `answers.effort`).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::UnknownField { at }
            | Self::MissingField { at }
            | Self::DuplicateField { at }
            | Self::InvalidType { at } => Some(at),
            Self::InvalidContext { field } => Some(field),
            Self::InvalidInvitation => Some("context.invitation"),
            _ => None,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        if let Some(field) = self.field().filter(|f| !f.is_empty()) {
            f.write_str(" at ")?;
            f.write_str(field)?;
        }
        f.write_str(": ")?;
        f.write_str(self.message())
    }
}

impl core::error::Error for Rejection {}

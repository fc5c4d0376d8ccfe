//! The contract between the widget and the collector: the `core-cx` instrument, the submission
//! schema and its validation.
//!
//! Layout:
//! - [`instrument`]: the questions, their scales, and their texts in every locale.
//! - [`submission`]: the domain types of a submission; each has a parsing constructor that is the
//!   only way to make one, so a value that exists is valid.
//! - [`rejection`]: every reason a submission can be refused, each with a stable code.
//! - [`redact`]: masks e-mail addresses, phone and card numbers in a comment, on both sides.
//! - [`time`]: RFC 3339 timestamps without a date-time library (the widget pays for every byte).
//! - `json` (feature `json`, the collector): bytes → [`Submission`], naming the reason on failure.
//!
//! The path of one submission: the widget builds a [`Submission`] from the survey's choices through
//! the same constructors, writes it with [`Submission::to_json`], and posts it; the collector parses
//! the bytes with [`parse_submission`] into the same type, or a [`Rejection`] that it maps to a
//! status. Both sides compile this crate, so the questions and the rules cannot drift apart.

// `no_std` (with `alloc`) unless serde is on: the widget links no `std`, so it can bring its own
// small panic handler; the collector and the tests get `std` as usual.
#![cfg_attr(not(any(test, feature = "serde")), no_std)]

extern crate alloc;

pub mod instrument;
#[cfg(feature = "json")]
mod json;
pub mod redact;
pub mod rejection;
pub mod submission;
pub mod time;

pub use instrument::{Instrument, LocaleTexts, CORE_CX};
#[cfg(feature = "json")]
pub use json::parse_submission;
pub use rejection::Rejection;
pub use submission::{
    push_decimal, Answers, Channel, Comment, Confidence, Context, Effort, Emotion, Ident,
    InvitationToken, Locale, PagePath, Submission, SubmissionId, SurveyRef,
};
pub use time::Timestamp;

/// Largest accepted body of one submission, in bytes.
pub const MAX_SUBMISSION_BYTES: usize = 16 * 1024;
/// Most submissions in one batch.
pub const MAX_BATCH_ITEMS: usize = 100;

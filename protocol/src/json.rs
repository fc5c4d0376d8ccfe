//! Bytes → [`Submission`] for the collector: serde reads the shape (unknown fields refused), the
//! domain constructors check the values, and every failure becomes a [`Rejection`] that names a
//! schema field but never repeats the input.
//!
//! Most of this file is its tests: a table of every kind of bad input, beside the parser.

use serde::Deserialize;

use crate::{
    Answers, Channel, Comment, Confidence, Context, Effort, Emotion, Ident, InvitationToken,
    Locale, PagePath, Rejection, Submission, SubmissionId, SurveyRef, Timestamp,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubmission {
    id: String,
    survey: RawSurvey,
    channel: String,
    touchpoint: String,
    answers: RawAnswers,
    #[serde(default)]
    comment: Option<String>,
    locale: String,
    #[serde(default)]
    context: Option<RawContext>,
    submitted_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSurvey {
    id: String,
    version: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswers {
    #[serde(default, deserialize_with = "whole_number")]
    effort: Option<i64>,
    #[serde(default, deserialize_with = "whole_number")]
    confidence: Option<i64>,
    #[serde(default)]
    emotion: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawContext {
    #[serde(default)]
    interaction_id: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    site_id: Option<String>,
    #[serde(default)]
    device_id: Option<String>,
    #[serde(default)]
    segment: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    invitation: Option<String>,
    #[serde(default)]
    assisted: Option<bool>,
}

/// A number without a fractional part, as JSON Schema reads `integer`: `6` and `6.0` are the same
/// answer (some JSON writers, Python's among them, write whole numbers of a float type so). A
/// fraction, or a number past the range where a float holds every whole number, is a type error.
fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    use serde::de::{Error as _, Unexpected};
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => Ok(Some(f as i64)),
        _ => Err(D::Error::invalid_type(
            Unexpected::Other("a number that is not whole"),
            &"a whole number",
        )),
    }
}

/// Every path of the schema. A rejection names one of these, so nothing of the input is echoed.
const SCHEMA_PATHS: &[&str] = &[
    "id",
    "survey",
    "survey.id",
    "survey.version",
    "channel",
    "touchpoint",
    "answers",
    "answers.effort",
    "answers.confidence",
    "answers.emotion",
    "comment",
    "locale",
    "context",
    "context.interaction_id",
    "context.agent_id",
    "context.site_id",
    "context.device_id",
    "context.segment",
    "context.page",
    "context.invitation",
    "context.assisted",
    "submitted_at",
];

/// The longest prefix of `path` that is a schema path; "" for the top-level object.
fn schema_path(path: &str) -> &'static str {
    let mut candidate = path;
    loop {
        if let Some(known) = SCHEMA_PATHS.iter().find(|p| **p == candidate) {
            return known;
        }
        match candidate.rfind('.') {
            Some(dot) => candidate = &candidate[..dot],
            None => return "",
        }
    }
}

/// The schema path of the field a serde message names in backticks (`missing field `id``), below
/// `parent`; the parent when the name is not in the schema.
fn named_field(message: &str, parent: &str) -> &'static str {
    let name = message.split('`').nth(1).unwrap_or("");
    let parent = schema_path(parent);
    let full = if parent.is_empty() {
        name.to_owned()
    } else {
        [parent, ".", name].concat()
    };
    SCHEMA_PATHS
        .iter()
        .find(|p| **p == full)
        .copied()
        .unwrap_or(parent)
}

fn shape_rejection(error: serde_path_to_error::Error<serde_json::Error>) -> Rejection {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if !inner.is_data() {
        return Rejection::InvalidJson;
    }
    let message = inner.to_string();
    if message.starts_with("unknown field") {
        Rejection::UnknownField {
            at: schema_path(&path),
        }
    } else if message.starts_with("missing field") {
        Rejection::MissingField {
            at: named_field(&message, &path),
        }
    } else if message.starts_with("duplicate field") {
        Rejection::DuplicateField {
            at: named_field(&message, &path),
        }
    } else {
        match schema_path(&path) {
            "" => Rejection::InvalidJson,
            at => Rejection::InvalidType { at },
        }
    }
}

/// serde's derived structs also accept a JSON array (fields by position). The schema has no arrays,
/// so the first array in a body that serde accepted is a type error at the field holding it.
/// `bytes` is known to be valid JSON here. A body without a `[` byte holds no array and is not
/// walked byte by byte: for the widget's usual answer that walk was a fifth of this parse's
/// instructions (`valgrind --tool=callgrind`, the README's "Durable ingest, Dec 3, later").
fn array_field(bytes: &[u8]) -> Option<&'static str> {
    if !bytes.contains(&b'[') {
        return None;
    }
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut expect_key = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if expect_key {
                    if let Some(top) = keys.last_mut() {
                        *top = &bytes[start..i];
                    }
                    expect_key = false;
                }
            }
            b'{' => {
                keys.push(b"");
                expect_key = true;
            }
            b'}' => {
                keys.pop();
            }
            b',' => expect_key = true,
            b'[' => {
                let path: Vec<&str> = keys
                    .iter()
                    .map(|k| core::str::from_utf8(k).unwrap_or(""))
                    .collect();
                return Some(schema_path(&path.join(".")));
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn context_value(value: Option<String>, field: &'static str) -> Result<Option<Ident>, Rejection> {
    value
        .map(|v| Ident::parse(&v).ok_or(Rejection::InvalidContext { field }))
        .transpose()
}

/// Parses and validates one submission, naming the first rule it breaks.
pub fn parse_submission(bytes: &[u8]) -> Result<Submission, Rejection> {
    // The plain parse is the fast path; only a body that fails it is parsed again with the path
    // tracking that names the field.
    let raw: RawSubmission = match serde_json::from_slice(bytes) {
        Ok(raw) => raw,
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let raw: RawSubmission =
                serde_path_to_error::deserialize(&mut de).map_err(shape_rejection)?;
            de.end().map_err(|_| Rejection::InvalidJson)?;
            raw
        }
    };
    if let Some(at) = array_field(bytes) {
        return Err(if at.is_empty() {
            Rejection::InvalidJson
        } else {
            Rejection::InvalidType { at }
        });
    }

    let id = SubmissionId::parse(&raw.id)?;
    let survey = SurveyRef::parse(&raw.survey.id, raw.survey.version)?;
    let channel = Channel::parse(&raw.channel)?;
    let touchpoint = Ident::parse(&raw.touchpoint).ok_or(Rejection::InvalidTouchpoint)?;
    let answers = Answers::new(
        raw.answers.effort.map(Effort::new).transpose()?,
        raw.answers.confidence.map(Confidence::new).transpose()?,
        raw.answers
            .emotion
            .as_deref()
            .map(Emotion::parse)
            .transpose()?,
    )?;
    let comment = match raw.comment.as_deref() {
        Some(text) => Comment::parse(text)?,
        None => None,
    };
    let locale = Locale::parse(&raw.locale)?;
    let raw_context = raw.context.unwrap_or_default();
    let context = Context {
        interaction_id: context_value(raw_context.interaction_id, "context.interaction_id")?,
        agent_id: context_value(raw_context.agent_id, "context.agent_id")?,
        site_id: context_value(raw_context.site_id, "context.site_id")?,
        device_id: context_value(raw_context.device_id, "context.device_id")?,
        segment: context_value(raw_context.segment, "context.segment")?,
        page: raw_context
            .page
            .map(|p| {
                PagePath::parse(&p).ok_or(Rejection::InvalidContext {
                    field: "context.page",
                })
            })
            .transpose()?,
        invitation: raw_context
            .invitation
            .as_deref()
            .map(InvitationToken::parse)
            .transpose()?,
        assisted: raw_context.assisted.unwrap_or(false),
    };
    let submitted_at = Timestamp::parse(&raw.submitted_at)?;
    Ok(Submission {
        id,
        survey,
        channel,
        touchpoint,
        answers,
        comment,
        locale,
        context,
        submitted_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn valid() -> Value {
        json!({
            "id": "0192f1a4-7b3c-7def-8a90-123456789abc",
            "survey": {"id": "core-cx", "version": 1},
            "channel": "web",
            "touchpoint": "checkout",
            "answers": {"effort": 6, "confidence": 4, "emotion": "pleased"},
            "comment": "Quick and \"easy\"\n— thanks",
            "locale": "en",
            "context": {"interaction_id": "call-123", "agent_id": "a-7", "site_id": "branch-042",
                        "device_id": "kiosk-3", "segment": "premium", "page": "/checkout"},
            "submitted_at": "2026-11-22T10:00:00Z"
        })
    }

    fn parse_value(v: &Value) -> Result<Submission, Rejection> {
        parse_submission(v.to_string().as_bytes())
    }

    /// Sets `path` (dotted) in `v` to `value`, or removes it when `value` is `None`.
    fn with(mut v: Value, path: &str, value: Option<Value>) -> Value {
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop().expect("a path");
        let mut target = &mut v;
        for p in parts {
            target = &mut target[p];
        }
        let obj = target.as_object_mut().expect("an object");
        match value {
            Some(x) => obj.insert(last.to_owned(), x),
            None => obj.remove(last),
        };
        v
    }

    #[test]
    fn whole_numbers_written_as_floats_are_the_same_answers() {
        let written = with(
            with(valid(), "answers.effort", Some(json!(6.0))),
            "answers.confidence",
            Some(json!(4.0)),
        );
        let sub = parse_value(&written).expect("6.0 is the integer 6 to JSON Schema");
        assert_eq!(sub, parse_value(&valid()).expect("valid"));
        assert_eq!(
            parse_value(&with(valid(), "answers.effort", Some(json!(1e300)))),
            Err(Rejection::InvalidType {
                at: "answers.effort"
            })
        );
    }

    #[test]
    fn the_design_example_is_valid_and_round_trips() {
        let sub = parse_value(&valid()).expect("valid");
        assert_eq!(sub.answers.effort().map(Effort::get), Some(6));
        assert_eq!(
            sub.context.page.as_ref().map(PagePath::as_str),
            Some("/checkout")
        );
        let again = parse_submission(sub.to_json().as_bytes()).expect("canonical form parses");
        assert_eq!(again, sub);
        let canonical: Value = serde_json::from_str(&sub.to_json()).expect("json");
        assert_eq!(canonical, valid());
    }

    #[test]
    fn assisted_and_invitation_round_trip_and_false_is_the_plain_form() {
        let token = "eyJ0IjoiYmlsbGluZyJ9.c2lnbmF0dXJlLWJ5dGVz";
        let body = with(
            with(valid(), "context.assisted", Some(json!(true))),
            "context.invitation",
            Some(json!(token)),
        );
        let sub = parse_value(&body).expect("valid");
        assert!(sub.context.assisted);
        assert_eq!(
            sub.context.invitation.as_ref().map(InvitationToken::as_str),
            Some(token)
        );
        let written = sub.to_json();
        assert!(
            written.contains(&format!(
                "\"page\":\"/checkout\",\"invitation\":\"{token}\",\"assisted\":true}}"
            )),
            "{written}"
        );
        assert_eq!(parse_submission(written.as_bytes()), Ok(sub));
        // `false` says nothing more than leaving it out: the same canonical bytes.
        let plain = parse_value(&valid()).expect("valid");
        let explicit =
            parse_value(&with(valid(), "context.assisted", Some(json!(false)))).expect("valid");
        assert_eq!(explicit.to_json(), plain.to_json());
    }

    #[test]
    fn every_rejection_reason_is_named() {
        use Rejection::*;
        let cases: Vec<(Value, Rejection)> = vec![
            (
                with(valid(), "extra", Some(json!(1))),
                UnknownField { at: "" },
            ),
            (
                with(valid(), "answers.nps", Some(json!(9))),
                UnknownField { at: "answers" },
            ),
            (
                with(valid(), "context.ip", Some(json!("1.2.3.4"))),
                UnknownField { at: "context" },
            ),
            (with(valid(), "id", None), MissingField { at: "id" }),
            (
                with(valid(), "survey.version", None),
                MissingField {
                    at: "survey.version",
                },
            ),
            (
                with(valid(), "submitted_at", None),
                MissingField { at: "submitted_at" },
            ),
            (
                with(valid(), "answers.effort", Some(json!("6"))),
                InvalidType {
                    at: "answers.effort",
                },
            ),
            (
                with(valid(), "answers.effort", Some(json!(6.5))),
                InvalidType {
                    at: "answers.effort",
                },
            ),
            (
                with(valid(), "survey", Some(json!("core-cx"))),
                InvalidType { at: "survey" },
            ),
            (
                with(valid(), "context", Some(json!([]))),
                InvalidType { at: "context" },
            ),
            (
                with(valid(), "answers", Some(json!([6, 4]))),
                InvalidType { at: "answers" },
            ),
            (
                with(valid(), "survey", Some(json!(["core-cx", 1]))),
                InvalidType { at: "survey" },
            ),
            (
                with(valid(), "context.segment", Some(json!(["a"]))),
                InvalidType {
                    at: "context.segment",
                },
            ),
            (with(valid(), "id", Some(json!("too-short"))), InvalidId),
            (
                with(valid(), "id", Some(json!("0192f1a4 7b3c 7def 8a90"))),
                InvalidId,
            ),
            (
                with(valid(), "survey.id", Some(json!("other"))),
                UnknownSurvey,
            ),
            (
                with(valid(), "survey.version", Some(json!(2))),
                UnknownSurvey,
            ),
            (
                with(valid(), "channel", Some(json!("email"))),
                InvalidChannel,
            ),
            (
                with(valid(), "touchpoint", Some(json!(""))),
                InvalidTouchpoint,
            ),
            (
                with(valid(), "touchpoint", Some(json!("check out"))),
                InvalidTouchpoint,
            ),
            (
                with(valid(), "answers.effort", Some(json!(0))),
                EffortOutOfRange,
            ),
            (
                with(valid(), "answers.effort", Some(json!(8))),
                EffortOutOfRange,
            ),
            (
                with(valid(), "answers.confidence", Some(json!(6))),
                ConfidenceOutOfRange,
            ),
            (
                with(valid(), "answers.confidence", Some(json!(-1))),
                ConfidenceOutOfRange,
            ),
            (
                with(valid(), "answers.emotion", Some(json!("meh"))),
                InvalidEmotion,
            ),
            (with(valid(), "answers", Some(json!({}))), NoAnswer),
            (
                with(valid(), "answers", Some(json!({"effort": null}))),
                NoAnswer,
            ),
            (
                with(valid(), "comment", Some(json!("x".repeat(1001)))),
                CommentTooLong,
            ),
            (
                with(valid(), "comment", Some(json!("nul\u{0}"))),
                InvalidComment,
            ),
            (
                with(valid(), "locale", Some(json!("pt"))),
                UnsupportedLocale,
            ),
            (
                with(valid(), "context.agent_id", Some(json!("a b"))),
                InvalidContext {
                    field: "context.agent_id",
                },
            ),
            (
                with(valid(), "context.page", Some(json!("/a?b"))),
                InvalidContext {
                    field: "context.page",
                },
            ),
            (
                with(valid(), "submitted_at", Some(json!("yesterday"))),
                InvalidSubmittedAt,
            ),
            (
                with(valid(), "context.assisted", Some(json!("yes"))),
                InvalidType {
                    at: "context.assisted",
                },
            ),
            (
                with(valid(), "context.invitation", Some(json!("not a token"))),
                InvalidInvitation,
            ),
            (
                with(valid(), "context.invitation", Some(json!(7))),
                InvalidType {
                    at: "context.invitation",
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse_value(&body).map(|s| s.id), Err(expected), "{body}");
        }
        for body in [
            "",
            "{",
            "[]",
            "null",
            "42",
            "{} {}",
            "{\"id\":\"x\"}garbage",
            "\u{feff}{}",
        ] {
            let got = parse_submission(body.as_bytes()).map(|s| s.id);
            assert!(
                matches!(got, Err(InvalidJson | MissingField { .. })),
                "{body:?} gave {got:?}"
            );
        }
        let twice = valid()
            .to_string()
            .replacen('{', "{\"channel\":\"web\",", 1);
        assert_eq!(
            parse_submission(twice.as_bytes()).map(|s| s.id),
            Err(DuplicateField { at: "channel" })
        );
    }

    #[test]
    fn rejections_never_echo_the_input() {
        let secret = "SECRET VALUE 4111111111111111";
        for (path, value) in [
            ("extra_secret_field", json!(secret)),
            ("channel", json!(secret)),
            ("answers.effort", json!(secret)),
            ("answers.emotion", json!(secret)),
            ("context.segment", json!(secret)),
            ("submitted_at", json!(secret)),
        ] {
            let body = with(valid(), path, Some(value));
            let rejection = parse_value(&body).expect_err("invalid");
            let shown = rejection.to_string();
            assert!(
                !shown.contains("SECRET") && !shown.contains("4111"),
                "{shown}"
            );
        }
        let unknown = with(valid(), "SECRET_FIELD", Some(json!(1)));
        assert!(!parse_value(&unknown)
            .expect_err("invalid")
            .to_string()
            .contains("SECRET"));
    }

    /// The serde form of the canonical wire format, to hold `to_json` to what serde writes.
    #[derive(serde::Serialize)]
    struct Mirror<'a> {
        id: &'a str,
        survey: MirrorSurvey,
        channel: &'a str,
        touchpoint: &'a str,
        answers: MirrorAnswers,
        #[serde(skip_serializing_if = "Option::is_none")]
        comment: Option<&'a str>,
        locale: &'a str,
        context: std::collections::BTreeMap<&'static str, &'a str>,
        submitted_at: &'a str,
    }

    #[derive(serde::Serialize)]
    struct MirrorSurvey {
        id: &'static str,
        version: u32,
    }

    #[derive(serde::Serialize)]
    struct MirrorAnswers {
        #[serde(skip_serializing_if = "Option::is_none")]
        effort: Option<u8>,
        #[serde(skip_serializing_if = "Option::is_none")]
        confidence: Option<u8>,
        #[serde(skip_serializing_if = "Option::is_none")]
        emotion: Option<&'static str>,
    }

    fn serde_form(s: &Submission) -> String {
        let mut context = std::collections::BTreeMap::new();
        for (name, value) in s.context.idents() {
            if let Some(v) = value {
                context.insert(name, v.as_str());
            }
        }
        if let Some(p) = &s.context.page {
            context.insert("page", p.as_str());
        }
        // Field order in the canonical form is the wire order, not alphabetical; check the
        // context's members through a reordering map and everything else byte for byte.
        let mirror = Mirror {
            id: s.id.as_str(),
            survey: MirrorSurvey {
                id: s.survey.id(),
                version: s.survey.version(),
            },
            channel: s.channel.as_str(),
            touchpoint: s.touchpoint.as_str(),
            answers: MirrorAnswers {
                effort: s.answers.effort().map(Effort::get),
                confidence: s.answers.confidence().map(Confidence::get),
                emotion: s.answers.emotion().map(Emotion::as_str),
            },
            comment: s.comment.as_ref().map(Comment::as_str),
            locale: s.locale.as_str(),
            context,
            submitted_at: s.submitted_at.as_str(),
        };
        serde_json::to_string(&mirror).expect("serializes")
    }

    fn ident() -> impl Strategy<Value = String> {
        "[A-Za-z0-9._:/-]{1,64}"
    }

    prop_compose! {
        fn submission()(
            id in "[A-Za-z0-9_-]{16,64}",
            channel in prop::sample::select(&["web", "kiosk", "agent"][..]),
            touchpoint in ident(),
            effort in prop::option::of(1i64..=7),
            confidence in prop::option::of(1i64..=5),
            emotion in prop::option::of(prop::sample::select(&Emotion::ALL[..])),
            comment in prop::option::of("(\\PC|[\n\t\"\\\\]){1,200}"),
            locale in prop::sample::select(&["en", "es", "fr", "de", "ar"][..]),
            interaction_id in prop::option::of(ident()),
            segment in prop::option::of(ident()),
            invitation in prop::option::of("[A-Za-z0-9_.-]{16,512}"),
            assisted in any::<bool>(),
            millis in 0i64..4_102_444_800_000,
        ) -> Option<Submission> {
            let answers = Answers::new(
                effort.map(|e| Effort::new(e).expect("in range")),
                confidence.map(|c| Confidence::new(c).expect("in range")),
                emotion,
            ).ok()?;
            Some(Submission {
                id: SubmissionId::parse(&id).expect("valid id"),
                survey: SurveyRef::current(),
                channel: Channel::parse(channel).expect("channel"),
                touchpoint: Ident::parse(&touchpoint).expect("ident"),
                answers,
                comment: comment.and_then(|c| Comment::parse(&c).expect("valid comment")),
                locale: Locale::parse(locale).expect("locale"),
                context: Context {
                    interaction_id: interaction_id.and_then(|i| Ident::parse(&i)),
                    segment: segment.and_then(|i| Ident::parse(&i)),
                    invitation: invitation.map(|i| InvitationToken::parse(&i).expect("token")),
                    assisted,
                    ..Context::default()
                },
                submitted_at: Timestamp::from_unix_millis(millis),
            })
        }
    }

    proptest! {
        #[test]
        fn canonical_json_round_trips_and_matches_serde(sub in submission()) {
            if let Some(sub) = sub {
                let written = sub.to_json();
                prop_assert_eq!(parse_submission(written.as_bytes()), Ok(sub.clone()));
                // With at most interaction_id and segment set, wire order equals BTreeMap order.
                if sub.context.invitation.is_none() && !sub.context.assisted {
                    prop_assert_eq!(written, serde_form(&sub));
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_submission(&bytes);
        }

        #[test]
        fn ids_are_accepted_exactly_when_they_follow_the_rule(id in "\\PC{0,70}") {
            let expected = (16..=64).contains(&id.len())
                && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
            let body = with(valid(), "id", Some(json!(id)));
            prop_assert_eq!(parse_value(&body).is_ok(), expected);
        }

        #[test]
        fn touchpoints_are_accepted_exactly_when_they_follow_the_rule(t in "[ -~]{0,70}") {
            let expected = (1..=64).contains(&t.len())
                && t.bytes().all(|c| c.is_ascii_alphanumeric() || b"._:/-".contains(&c));
            let body = with(valid(), "touchpoint", Some(json!(t)));
            prop_assert_eq!(parse_value(&body).is_ok(), expected);
        }
    }
}

/// A mutation fuzzer for `parse_submission`, bounded in time (`TOUCHPOINT_FUZZ_SECONDS`, default
/// 5): seeds of valid and invalid submissions are mutated (bytes flipped, inserted, deleted,
/// duplicated, spliced, JSON tokens dropped in) and every input must parse without panicking,
/// and every accepted one must survive a round trip through its canonical form. `cargo xtask
/// test` runs it for 30 s; a crash it finds becomes a case in `fuzz_regressions`.
#[cfg(test)]
mod fuzz {
    use super::*;

    const SEEDS: &[&str] = &[
        r#"{"id":"0192f1a4-7b3c-7def-8a90-123456789abc","survey":{"id":"core-cx","version":1},"channel":"web","touchpoint":"checkout","answers":{"effort":6,"confidence":4,"emotion":"pleased"},"comment":"Quick \"and\" easy\n— ünï","locale":"en","context":{"interaction_id":"call-123","agent_id":"a-7","site_id":"branch-042","device_id":"kiosk-3","segment":"premium","page":"/checkout"},"submitted_at":"2026-11-22T10:00:00.123+01:00"}"#,
        r#"{"id":"abcdefghijklmnop","survey":{"id":"core-cx","version":1},"channel":"agent","touchpoint":"b","answers":{"emotion":"angry"},"locale":"ar","submitted_at":"2024-02-29T23:59:60Z"}"#,
        r#"{"id":"abcdefghijklmnoq","survey":{"id":"core-cx","version":1},"channel":"agent","touchpoint":"billing","answers":{"effort":2},"locale":"en","context":{"interaction_id":"call-9","agent_id":"a-7","invitation":"eyJ0IjoiYmlsbGluZyJ9.c2lnbmF0dXJl","assisted":true},"submitted_at":"2026-11-22T10:00:00Z"}"#,
        r#"{"id":"x","survey":[1],"answers":{"effort":1e400},"extra":null}"#,
    ];
    const TOKENS: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b"\\",
        b"\\u0000",
        b"\\ud800",
        b"1e999",
        b"-0",
        b"null",
        b"true",
        b",",
        b":",
        b"\xff",
        b"\xc3",
        b"9999999999999999999999",
    ];

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
            2 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                input.drain(start..end);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let piece = input[start..end].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, piece);
            }
            4 => {
                let other = SEEDS[rng.below(SEEDS.len())].as_bytes();
                let from = rng.below(other.len());
                let at = rng.below(len + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, token.iter().copied());
            }
        }
    }

    fn check(input: &[u8]) {
        if let Ok(sub) = parse_submission(input) {
            let again = parse_submission(sub.to_json().as_bytes());
            assert_eq!(again.as_ref(), Ok(&sub), "the canonical form of {input:?}");
        }
    }

    #[test]
    #[ignore = "bounded-time fuzzing; cargo xtask test runs it"]
    fn fuzz_parse_submission() {
        let seconds: u64 = std::env::var("TOUCHPOINT_FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        eprintln!("fuzz seed {seed}");
        let mut rng = Rng(seed);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        let (mut runs, mut accepted) = (0u64, 0u64);
        while std::time::Instant::now() < deadline {
            let mut input = SEEDS[rng.below(SEEDS.len())].as_bytes().to_vec();
            for _ in 0..1 + rng.below(8) {
                mutate(&mut rng, &mut input);
            }
            check(&input);
            accepted += u64::from(parse_submission(&input).is_ok());
            runs += 1;
        }
        eprintln!("fuzz: {runs} inputs in {seconds} s, {accepted} accepted, no crash");
        assert!(runs > 1000, "the fuzzer ran: {runs}");
    }

    /// Inputs the fuzzer or review found worth keeping.
    #[test]
    fn fuzz_regressions() {
        for input in [
            &b"{\"id\":\"\\ud800\"}"[..],
            b"\xff\xfe{}",
            b"{\"answers\":{\"effort\":1e999}}",
            b"{\"id\":\"0192f1a4-7b3c-7def-8a90-123456789abc\",\"survey\":{\"id\":\"core-cx\",\"version\":1},\"channel\":\"web\",\"touchpoint\":\"a\",\"answers\":{\"effort\":7},\"locale\":\"en\",\"submitted_at\":\"2026-11-22T10:00:00Z\",\"comment\":\"\\u0000\"}",
        ] {
            check(input);
        }
    }
}

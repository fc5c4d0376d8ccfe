//! The domain types of one submission. Each is made only through its `parse`/`new` constructor, so a
//! value that exists is valid; `Submission::to_json` writes the one canonical wire form.
//!
//! Long because the types and their tests stay together; the code itself is under 500 lines.

use alloc::borrow::ToOwned;
use alloc::string::String;

use crate::{
    instrument::{CORE_CX, CORE_CX_ID, CORE_CX_VERSION, EMOTIONS, LOCALE_CODES},
    Rejection, Timestamp,
};

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'/' | b'-')
}

fn is_ident(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len()) && text.bytes().all(is_ident_char)
}

/// The client-made idempotency key: 16–64 characters of `[A-Za-z0-9_-]` (a UUIDv7, a ULID…).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubmissionId(String);

impl SubmissionId {
    pub fn parse(text: &str) -> Result<Self, Rejection> {
        let ok = (16..=64).contains(&text.len())
            && text
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        ok.then(|| Self(text.to_owned()))
            .ok_or(Rejection::InvalidId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A short identifier: a touchpoint or a context value, 1–64 characters of `[A-Za-z0-9._:/-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident(String);

impl Ident {
    pub const MAX_LEN: usize = 64;

    /// `None` when `text` breaks the rules; callers name the field in their rejection.
    pub fn parse(text: &str) -> Option<Self> {
        is_ident(text, Self::MAX_LEN).then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The page path a web response came from: the identifier charset, up to 512 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PagePath(String);

impl PagePath {
    pub const MAX_LEN: usize = 512;

    pub fn parse(text: &str) -> Option<Self> {
        is_ident(text, Self::MAX_LEN).then(|| Self(text.to_owned()))
    }

    /// Makes any path acceptable, for a widget that reports `location.pathname`: characters outside
    /// the charset become `_`, the length is capped, and an empty path becomes `/`.
    pub fn sanitize(path: &str) -> Self {
        let mut out: String = path
            .chars()
            .map(|c| {
                if c.is_ascii() && is_ident_char(c as u8) {
                    c
                } else {
                    '_'
                }
            })
            .take(Self::MAX_LEN)
            .collect();
        if out.is_empty() {
            out.push('/');
        }
        Self(out)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the answer was given. Channels change presentation only; the questions are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Web,
    Kiosk,
    Agent,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Web, Channel::Kiosk, Channel::Agent];

    pub fn parse(text: &str) -> Result<Self, Rejection> {
        match text {
            "web" => Ok(Self::Web),
            "kiosk" => Ok(Self::Kiosk),
            "agent" => Ok(Self::Agent),
            _ => Err(Rejection::InvalidChannel),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Kiosk => "kiosk",
            Self::Agent => "agent",
        }
    }
}

/// The survey a submission answered; only `core-cx` version 1 exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyRef {
    id: &'static str,
    version: u32,
}

impl SurveyRef {
    pub fn parse(id: &str, version: u64) -> Result<Self, Rejection> {
        if id == CORE_CX.id && version == u64::from(CORE_CX.version) {
            Ok(Self::current())
        } else {
            Err(Rejection::UnknownSurvey)
        }
    }

    pub fn current() -> Self {
        Self {
            id: CORE_CX_ID,
            version: CORE_CX_VERSION,
        }
    }

    pub fn id(&self) -> &'static str {
        self.id
    }

    pub fn version(&self) -> u32 {
        self.version
    }
}

/// "How easy was it…": 1 (very difficult) to 7 (very easy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Effort(u8);

impl Effort {
    pub fn new(value: i64) -> Result<Self, Rejection> {
        match u8::try_from(value) {
            Ok(v) if (1..=CORE_CX.effort_max).contains(&v) => Ok(Self(v)),
            _ => Err(Rejection::EffortOutOfRange),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// "How confident are you…": 1 (not at all) to 5 (completely).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Confidence(u8);

impl Confidence {
    pub fn new(value: i64) -> Result<Self, Rejection> {
        match u8::try_from(value) {
            Ok(v) if (1..=CORE_CX.confidence_max).contains(&v) => Ok(Self(v)),
            _ => Err(Rejection::ConfidenceOutOfRange),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// "How do you feel…": one of five words, from worst to best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Emotion {
    Angry,
    Frustrated,
    Neutral,
    Pleased,
    Delighted,
}

impl Emotion {
    pub const ALL: [Emotion; 5] = [
        Self::Angry,
        Self::Frustrated,
        Self::Neutral,
        Self::Pleased,
        Self::Delighted,
    ];

    pub fn parse(text: &str) -> Result<Self, Rejection> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == text)
            .ok_or(Rejection::InvalidEmotion)
    }

    pub fn as_str(self) -> &'static str {
        // The const, not the static: a reader of one emotion id does not keep every locale.
        EMOTIONS[self.index()]
    }

    /// Position in [`Emotion::ALL`] and in each locale's `emotion_labels`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The three measured answers; at least one is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Answers {
    effort: Option<Effort>,
    confidence: Option<Confidence>,
    emotion: Option<Emotion>,
}

impl Answers {
    pub fn new(
        effort: Option<Effort>,
        confidence: Option<Confidence>,
        emotion: Option<Emotion>,
    ) -> Result<Self, Rejection> {
        if effort.is_none() && confidence.is_none() && emotion.is_none() {
            return Err(Rejection::NoAnswer);
        }
        Ok(Self {
            effort,
            confidence,
            emotion,
        })
    }

    pub fn effort(&self) -> Option<Effort> {
        self.effort
    }

    pub fn confidence(&self) -> Option<Confidence> {
        self.confidence
    }

    pub fn emotion(&self) -> Option<Emotion> {
        self.emotion
    }
}

/// The optional free-text answer: at most 1000 characters, no control characters but tab and
/// line breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Comment(String);

impl Comment {
    /// `Ok(None)` for a comment that is empty or only whitespace: nothing was said.
    pub fn parse(text: &str) -> Result<Option<Self>, Rejection> {
        if text.chars().count() > CORE_CX.comment_max_chars {
            return Err(Rejection::CommentTooLong);
        }
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(Rejection::InvalidComment);
        }
        Ok((!text.chars().all(char::is_whitespace)).then(|| Self(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The comment with e-mail addresses, phone and card numbers masked ([`crate::redact`]).
    /// Still a valid comment: masking never adds characters, and masks nothing twice.
    pub fn redacted(&self) -> Self {
        Self(crate::redact::redact(&self.0))
    }

    /// Masks the comment in place, as [`Self::redacted`] would, without a pass or a copy when it
    /// holds no at sign and too few digits to hold anything masked (most comments).
    pub fn mask(&mut self) {
        if crate::redact::may_hold_contact(&self.0) {
            self.0 = crate::redact::redact(&self.0);
        }
    }
}

/// One of the instrument's locales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Locale(&'static str);

impl Locale {
    pub fn parse(code: &str) -> Result<Self, Rejection> {
        // The codes alone: a widget that checks its locale does not pay for every locale's texts.
        LOCALE_CODES
            .iter()
            .find(|c| **c == code)
            .map(|c| Self(c))
            .ok_or(Rejection::UnsupportedLocale)
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// The signed invitation a post-call answer carries (the collector issues it and checks it):
/// 16–512 characters of `[A-Za-z0-9_.-]` (base64url parts joined by dots).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InvitationToken(String);

impl InvitationToken {
    pub const MAX_LEN: usize = 512;

    pub fn parse(text: &str) -> Result<Self, Rejection> {
        let ok = (16..=Self::MAX_LEN).contains(&text.len())
            && text
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
        ok.then(|| Self(text.to_owned()))
            .ok_or(Rejection::InvalidInvitation)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where and for whom the answer was given; every value optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Context {
    pub interaction_id: Option<Ident>,
    pub agent_id: Option<Ident>,
    pub site_id: Option<Ident>,
    pub device_id: Option<Ident>,
    pub segment: Option<Ident>,
    pub page: Option<PagePath>,
    /// The invitation this answer responds to (agent channel, after a call).
    pub invitation: Option<InvitationToken>,
    /// The agent recorded the customer's answers on the agent's own screen. Written only when
    /// true, so an answer without it keeps the canonical form it always had.
    pub assisted: bool,
}

impl Context {
    /// The identifier fields in wire order, with their names.
    pub fn idents(&self) -> [(&'static str, Option<&Ident>); 5] {
        [
            ("interaction_id", self.interaction_id.as_ref()),
            ("agent_id", self.agent_id.as_ref()),
            ("site_id", self.site_id.as_ref()),
            ("device_id", self.device_id.as_ref()),
            ("segment", self.segment.as_ref()),
        ]
    }
}

/// One validated answer to the instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub id: SubmissionId,
    pub survey: SurveyRef,
    pub channel: Channel,
    pub touchpoint: Ident,
    pub answers: Answers,
    pub comment: Option<Comment>,
    pub locale: Locale,
    pub context: Context,
    pub submitted_at: Timestamp,
}

impl Submission {
    /// The canonical JSON form: fixed field order, absent values omitted, strings escaped exactly
    /// as `serde_json` escapes them. Two submissions with the same content write the same bytes,
    /// which is how the collector tells a retry from a conflict.
    pub fn to_json(&self) -> String {
        let mut w = JsonWriter(String::with_capacity(256));
        w.raw("{\"id\":");
        w.string(self.id.as_str());
        w.raw(",\"survey\":{\"id\":");
        w.string(self.survey.id());
        w.raw(",\"version\":");
        w.number(u64::from(self.survey.version()));
        w.raw("},\"channel\":");
        w.string(self.channel.as_str());
        w.raw(",\"touchpoint\":");
        w.string(self.touchpoint.as_str());
        w.raw(",\"answers\":{");
        let mut first = true;
        if let Some(e) = self.answers.effort {
            w.key("effort", &mut first);
            w.number(u64::from(e.get()));
        }
        if let Some(c) = self.answers.confidence {
            w.key("confidence", &mut first);
            w.number(u64::from(c.get()));
        }
        if let Some(m) = self.answers.emotion {
            w.key("emotion", &mut first);
            w.string(m.as_str());
        }
        w.raw("}");
        if let Some(comment) = &self.comment {
            w.raw(",\"comment\":");
            w.string(comment.as_str());
        }
        w.raw(",\"locale\":");
        w.string(self.locale.as_str());
        w.raw(",\"context\":{");
        let mut first = true;
        for (name, value) in self.context.idents() {
            if let Some(v) = value {
                w.key(name, &mut first);
                w.string(v.as_str());
            }
        }
        if let Some(page) = &self.context.page {
            w.key("page", &mut first);
            w.string(page.as_str());
        }
        if let Some(invitation) = &self.context.invitation {
            w.key("invitation", &mut first);
            w.string(invitation.as_str());
        }
        if self.context.assisted {
            w.key("assisted", &mut first);
            w.raw("true");
        }
        w.raw("},\"submitted_at\":");
        w.string(self.submitted_at.as_str());
        w.raw("}");
        w.0
    }
}

/// Appends the decimal digits of `n` to `out`, without the formatting machinery (which costs the
/// widget kilobytes).
pub fn push_decimal(out: &mut String, n: u64) {
    // Most significant digit first, with no buffer to index: nothing here can panic.
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Just enough of a JSON writer for [`Submission::to_json`], with no formatting machinery.
struct JsonWriter(String);

impl JsonWriter {
    fn raw(&mut self, s: &str) {
        self.0.push_str(s);
    }

    fn key(&mut self, name: &str, first: &mut bool) {
        if !*first {
            self.0.push(',');
        }
        *first = false;
        self.string(name);
        self.0.push(':');
    }

    fn number(&mut self, n: u64) {
        push_decimal(&mut self.0, n);
    }

    fn string(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.0.push('"');
        // Nearly every value needs no escape: copied whole, not a character at a time (the
        // collector writes each answer's JSON twice, as it arrives and as the sealer packs it).
        // Not in the widget, which writes one answer at a time and would pay 53 bytes of wasm
        // for it; the output is the same either way (tested below against serde_json).
        #[cfg(not(target_arch = "wasm32"))]
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.0.push_str(s);
            self.0.push('"');
            return;
        }
        for c in s.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                '\u{8}' => self.0.push_str("\\b"),
                '\u{c}' => self.0.push_str("\\f"),
                c if (c as u32) < 0x20 => {
                    self.0.push_str("\\u00");
                    self.0.push(char::from(HEX[(c as usize) >> 4]));
                    self.0.push(char::from(HEX[(c as usize) & 0xf]));
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_charset_and_length() {
        assert!(SubmissionId::parse("0192f1a4-7b3c-7def-8a90-123456789abc").is_ok());
        assert!(SubmissionId::parse("01JD2XKQ9ZCFM7B5V0S3R4T6YA").is_ok());
        assert!(SubmissionId::parse(&"a".repeat(16)).is_ok());
        assert!(SubmissionId::parse(&"a".repeat(64)).is_ok());
        for bad in [
            "",
            "short",
            &"a".repeat(15),
            &"a".repeat(65),
            "abcdefghijklmnop!",
            "абвгдеёжзийклмнопр",
        ] {
            assert_eq!(SubmissionId::parse(bad), Err(Rejection::InvalidId), "{bad}");
        }
    }

    #[test]
    fn idents_follow_the_charset_and_length() {
        for good in [
            "checkout",
            "a",
            "branch-042",
            "kiosk.3",
            "a/b:c_d",
            &"x".repeat(64),
        ] {
            assert!(Ident::parse(good).is_some(), "{good}");
        }
        for bad in ["", " ", "check out", "é", "a?b", &"x".repeat(65)] {
            assert!(Ident::parse(bad).is_none(), "{bad}");
        }
        assert!(PagePath::parse(&"/".repeat(512)).is_some());
        assert!(PagePath::parse(&"/".repeat(513)).is_none());
    }

    #[test]
    fn any_path_can_be_sanitized_into_a_page() {
        for path in [
            "",
            "/checkout?card=4111",
            "/ünïcode path/",
            &"/a".repeat(400),
        ] {
            let page = PagePath::sanitize(path);
            assert!(PagePath::parse(page.as_str()).is_some(), "{path}");
        }
        assert_eq!(
            PagePath::sanitize("/checkout?x=1").as_str(),
            "/checkout_x_1"
        );
    }

    #[test]
    fn scales_have_their_documented_ranges() {
        assert_eq!((1..=7).filter(|v| Effort::new(*v).is_ok()).count(), 7);
        assert_eq!((1..=5).filter(|v| Confidence::new(*v).is_ok()).count(), 5);
        for v in [0, 8, -1, 256 + 3, i64::MAX] {
            assert_eq!(Effort::new(v), Err(Rejection::EffortOutOfRange));
        }
        for v in [0, 6, -1, 256 + 3] {
            assert_eq!(Confidence::new(v), Err(Rejection::ConfidenceOutOfRange));
        }
        assert_eq!(Emotion::parse("pleased"), Ok(Emotion::Pleased));
        assert_eq!(Emotion::parse("Pleased"), Err(Rejection::InvalidEmotion));
        assert_eq!(Answers::new(None, None, None), Err(Rejection::NoAnswer));
    }

    #[test]
    fn comments_are_limited_in_characters_not_bytes() {
        assert!(Comment::parse(&"é".repeat(1000)).is_ok_and(|c| c.is_some()));
        assert_eq!(
            Comment::parse(&"a".repeat(1001)),
            Err(Rejection::CommentTooLong)
        );
        assert_eq!(
            Comment::parse("line\nline\ttab"),
            Comment::parse("line\nline\ttab")
        );
        assert!(Comment::parse("line\nline\ttab").is_ok_and(|c| c.is_some()));
        assert_eq!(Comment::parse("bell\u{7}"), Err(Rejection::InvalidComment));
        assert_eq!(Comment::parse("   "), Ok(None));
    }

    #[test]
    fn a_redacted_comment_is_still_a_valid_comment() {
        let text = "a@b.co ".repeat(142) + "x";
        let comment = Comment::parse(&text).expect("valid").expect("said");
        let redacted = comment.redacted();
        assert!(!redacted.as_str().contains('@'));
        assert_eq!(
            Comment::parse(redacted.as_str()),
            Ok(Some(redacted.clone()))
        );
        assert_eq!(redacted.redacted(), redacted);
    }

    #[test]
    fn invitation_tokens_follow_the_charset_and_length() {
        assert!(InvitationToken::parse("eyJ0IjoiYmlsbGluZyJ9.c2lnbmF0dXJl_-").is_ok());
        assert!(InvitationToken::parse(&"a".repeat(512)).is_ok());
        for bad in [
            "",
            "short",
            &"a".repeat(513),
            "eyJ0IjoiYmlsbGluZyJ9 c2ln",
            "eyJ0IjoiYmlsbGluZyJ9+/=",
        ] {
            assert_eq!(
                InvitationToken::parse(bad),
                Err(Rejection::InvalidInvitation),
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn a_string_is_written_as_serde_json_writes_it(s in proptest::prelude::any::<String>()) {
            let mut w = JsonWriter(String::new());
            w.string(&s);
            proptest::prop_assert_eq!(w.0, serde_json::to_string(&s).expect("a string"));
        }
    }

    #[test]
    fn every_escape_is_written_as_serde_json_writes_it() {
        let every: String = (0u8..0x80)
            .map(char::from)
            .chain(['é', '€', '😀'])
            .collect();
        for s in [
            every.as_str(),
            "\"\\",
            "a\u{1f}b",
            "a\"b",
            "a\\b",
            "plain",
            "",
        ] {
            let mut w = JsonWriter(String::new());
            w.string(s);
            assert_eq!(w.0, serde_json::to_string(s).expect("a string"), "{s:?}");
        }
    }
}

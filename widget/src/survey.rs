//! One filled-in survey → a [`Submission`], through the protocol's own constructors, so the widget
//! can only produce what the collector accepts.

use alloc::string::String;
use protocol::{
    Answers, Channel, Comment, Confidence, Context, Effort, Emotion, Ident, Locale, PagePath,
    Rejection, Submission, SubmissionId, SurveyRef, Timestamp,
};

/// The survey's three questions, in the order they show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    Effort,
    Confidence,
    Emotion,
}

impl Question {
    pub const ALL: [Self; 3] = [Self::Effort, Self::Confidence, Self::Emotion];

    /// The question at `index` in [`Question::ALL`].
    pub fn at(index: usize) -> Option<Self> {
        match index {
            0 => Some(Self::Effort),
            1 => Some(Self::Confidence),
            2 => Some(Self::Emotion),
            _ => None,
        }
    }
}

/// The person's choices, as option indexes (0-based) per question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Choices {
    pub effort: Option<usize>,
    pub confidence: Option<usize>,
    pub emotion: Option<usize>,
}

impl Choices {
    /// The option chosen for `question`.
    pub fn of(&self, question: Question) -> Option<usize> {
        match question {
            Question::Effort => self.effort,
            Question::Confidence => self.confidence,
            Question::Emotion => self.emotion,
        }
    }

    /// Chooses `option` for `question`.
    pub fn choose(&mut self, question: Question, option: usize) {
        let slot = match question {
            Question::Effort => &mut self.effort,
            Question::Confidence => &mut self.confidence,
            Question::Emotion => &mut self.emotion,
        };
        *slot = Some(option);
    }
}

/// Where the survey was shown and in which language.
#[derive(Debug)]
pub struct Origin<'a> {
    pub touchpoint: &'a Ident,
    pub channel: Channel,
    pub locale: &'static str,
    /// What the answer carries besides its page (segment, site, device, the call…).
    pub context: &'a Context,
    /// The page's path (web only).
    pub page: Option<&'a str>,
}

/// Removes the control characters a comment may not hold (a pasted bell, a NUL): the person did
/// not mean them, and refusing the whole answer for them would lose it.
fn clean_comment(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .take(protocol::CORE_CX.comment_max_chars)
        .collect()
}

/// The submission for these choices, or why there is none (`NoAnswer` when nothing was chosen).
pub fn submission(
    id: &str,
    choices: Choices,
    comment: &str,
    origin: &Origin<'_>,
    now_ms: f64,
) -> Result<Submission, Rejection> {
    let effort = choices
        .effort
        .map(|i| Effort::new(i as i64 + 1))
        .transpose()?;
    let confidence = choices
        .confidence
        .map(|i| Confidence::new(i as i64 + 1))
        .transpose()?;
    let emotion = choices
        .emotion
        .map(|i| {
            Emotion::ALL
                .get(i)
                .copied()
                .ok_or(Rejection::InvalidEmotion)
        })
        .transpose()?;
    Ok(Submission {
        id: SubmissionId::parse(id)?,
        survey: SurveyRef::current(),
        channel: origin.channel,
        touchpoint: origin.touchpoint.clone(),
        answers: Answers::new(effort, confidence, emotion)?,
        // Masked here, before the answer is stored or sent, as the collector masks on arrival:
        // the JSON is written once and posted as it is.
        comment: Comment::parse(&clean_comment(comment))?.map(|c| c.redacted()),
        locale: Locale::parse(origin.locale)?,
        context: Context {
            page: origin.page.map(PagePath::sanitize),
            ..origin.context.clone()
        },
        submitted_at: Timestamp::from_unix_millis(now_ms as i64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn each_question_keeps_its_own_choice() {
        assert_eq!(
            Question::ALL.map(|q| Question::at(q as usize)),
            Question::ALL.map(Some)
        );
        assert_eq!(Question::at(3), None);
        let mut choices = Choices::default();
        choices.choose(Question::Confidence, 4);
        choices.choose(Question::Emotion, 0);
        choices.choose(Question::Confidence, 2);
        assert_eq!(
            Question::ALL.map(|q| choices.of(q)),
            [None, Some(2), Some(0)]
        );
        assert_eq!(
            choices,
            Choices {
                effort: None,
                confidence: Some(2),
                emotion: Some(0)
            }
        );
    }

    /// And issue 13: a comment's contact and card details never leave the device, nor reach its
    /// storage.
    #[wasm_bindgen_test]
    fn choices_become_the_canonical_json_with_contact_details_masked() {
        let touchpoint = Ident::parse("checkout").unwrap();
        let context = Context {
            segment: Ident::parse("premium"),
            ..Context::default()
        };
        let origin = Origin {
            touchpoint: &touchpoint,
            channel: Channel::Web,
            locale: "en",
            context: &context,
            page: Some("/checkout?card=1"),
        };
        let choices = Choices {
            effort: Some(5),
            confidence: Some(3),
            emotion: Some(3),
        };
        let s = submission(
            "01JD2XKQ9ZCFM7B5V0S3R4T6YA",
            choices,
            "fast \"and\"\u{7} easy",
            &origin,
            1_795_341_600_000.0,
        )
        .unwrap();
        assert_eq!(
            s.to_json(),
            "{\"id\":\"01JD2XKQ9ZCFM7B5V0S3R4T6YA\",\"survey\":{\"id\":\"core-cx\",\"version\":1},\
             \"channel\":\"web\",\"touchpoint\":\"checkout\",\
             \"answers\":{\"effort\":6,\"confidence\":4,\"emotion\":\"pleased\"},\
             \"comment\":\"fast \\\"and\\\" easy\",\"locale\":\"en\",\
             \"context\":{\"segment\":\"premium\",\"page\":\"/checkout_card_1\"},\
             \"submitted_at\":\"2026-11-22T10:00:00.000Z\"}"
        );
        let comment = "Call me on +44 20 7946 0958 or mail ann@example.com";
        let json = submission("01JD2XKQ9ZCFM7B5V0S3R4T6YA", choices, comment, &origin, 0.0)
            .unwrap()
            .to_json();
        assert!(
            json.contains("\"comment\":\"Call me on [phone] or mail [email]\""),
            "{json}"
        );
    }

    #[wasm_bindgen_test]
    fn nothing_chosen_is_no_answer_and_blank_comments_are_left_out() {
        let touchpoint = Ident::parse("home").unwrap();
        let context = Context::default();
        let origin = Origin {
            touchpoint: &touchpoint,
            channel: Channel::Web,
            locale: "ar",
            context: &context,
            page: Some(""),
        };
        let id = "01JD2XKQ9ZCFM7B5V0S3R4T6YA";
        assert_eq!(
            submission(id, Choices::default(), "only a comment", &origin, 0.0),
            Err(Rejection::NoAnswer)
        );
        let one = Choices {
            emotion: Some(0),
            ..Choices::default()
        };
        let json = submission(id, one, "   ", &origin, 0.0).unwrap().to_json();
        assert!(
            json.contains("\"answers\":{\"emotion\":\"angry\"}"),
            "{json}"
        );
        assert!(!json.contains("comment"), "{json}");
        assert!(json.contains("\"locale\":\"ar\""), "{json}");
        let long = "é".repeat(1500);
        let s = submission(id, one, &long, &origin, 0.0).unwrap();
        assert_eq!(s.comment.map(|c| c.as_str().chars().count()), Some(1000));
    }

    #[wasm_bindgen_test]
    fn kiosk_and_assisted_answers_carry_their_channel_and_context() {
        let touchpoint = Ident::parse("billing").unwrap();
        let context = Context {
            interaction_id: Ident::parse("call-123"),
            agent_id: Ident::parse("a-7"),
            invitation: protocol::InvitationToken::parse("eyJ0IjoiYmlsbGluZyJ9.c2ln").ok(),
            assisted: true,
            ..Context::default()
        };
        let origin = Origin {
            touchpoint: &touchpoint,
            channel: Channel::Agent,
            locale: "fr",
            context: &context,
            page: None,
        };
        let one = Choices {
            effort: Some(1),
            ..Choices::default()
        };
        let json = submission("01JD2XKQ9ZCFM7B5V0S3R4T6YA", one, "", &origin, 0.0)
            .unwrap()
            .to_json();
        assert!(
            json.contains(
                "\"channel\":\"agent\",\"touchpoint\":\"billing\",\"answers\":{\"effort\":2}"
            ),
            "{json}"
        );
        assert!(
            json.contains("\"context\":{\"interaction_id\":\"call-123\",\"agent_id\":\"a-7\",\"invitation\":\"eyJ0IjoiYmlsbGluZyJ9.c2ln\",\"assisted\":true}"),
            "{json}"
        );
    }
}

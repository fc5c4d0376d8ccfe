//! One survey being filled in: its elements (three radio groups, the comment, Send, the live
//! status), built only with `create_element` and text, and the choices made in it.

use alloc::string::String;
use alloc::vec::Vec;
use protocol::LocaleTexts;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlTextAreaElement};

use super::act::{digit, scale_name, CHOOSE, CLOSE, SEND};
use crate::dom::{add, join, set};
use crate::survey::{Choices, Question};

/// Shown before each emotion word; the word is the accessible name.
const EMOJI: [&str; 5] = ["😠", "😟", "😐", "😊", "😄"];

/// One survey being filled in.
pub struct Form {
    pub el: Element,
    /// The questions, the comment and Send (hidden once sent).
    pub fields: Element,
    /// The option buttons of each question, in [`Question::ALL`]'s order.
    groups: [Vec<Element>; 3],
    pub choices: Choices,
    pub comment: HtmlTextAreaElement,
    pub status: Element,
    /// The submission id, made when the survey opens (empty until then).
    pub id: String,
    pub sent: bool,
    pub rtl: bool,
    /// Built and not opened yet: no id; built ahead of time, it is laid out but invisible and
    /// inert.
    pub unopened: bool,
}

impl Form {
    /// The option buttons of `question`.
    pub fn options(&self, question: Question) -> &[Element] {
        &self.groups[question as usize]
    }

    /// Checks option `i` of `question`; it becomes the group's one tab stop (roving tabindex).
    pub fn select(&mut self, question: Question, i: usize) -> Option<Element> {
        let group = self.options(question);
        let chosen = group.get(i)?.clone();
        for (n, option) in group.iter().enumerate() {
            set(
                option,
                "aria-checked",
                if n == i { "true" } else { "false" },
            );
            set(option, "tabindex", if n == i { "0" } else { "-1" });
        }
        self.choices.choose(question, i);
        Some(chosen)
    }

    /// The option focus goes to when the panel opens.
    pub fn first_stop(&self) -> Option<Element> {
        let first = Question::Effort;
        self.options(first)
            .get(self.choices.of(first).unwrap_or(0))
            .cloned()
    }

    /// Builds a fresh survey (hidden) in the language of `t`: a dialog with a close button beside
    /// a launcher, a section of its own when `inline`.
    pub fn build(doc: &Document, t: &LocaleTexts, inline: bool) -> Self {
        let el = add(
            doc,
            None,
            if inline { "section" } else { "div" },
            &["class", "panel", "part", "panel", "hidden", ""],
            "",
        );
        if !inline {
            set(&el, "role", "dialog");
        }
        set(&el, "aria-label", t.ui.title);
        set(&el, "lang", t.code);
        set(&el, "dir", if t.rtl { "rtl" } else { "ltr" });

        let head = add(doc, Some(&el), "div", &["class", "head"], "");
        add(doc, Some(&head), "h2", &[], t.ui.title);
        if !inline {
            let close = add(
                doc,
                Some(&head),
                "button",
                &[
                    "class", "close", "type", "button", "part", "close", "data-act", CLOSE,
                ],
                "×",
            );
            set(&close, "aria-label", t.ui.close);
        }

        let fields = add(doc, Some(&el), "div", &["class", "form"], "");
        let questions: [(&str, &[&str]); 3] = [
            (t.effort, &t.effort_labels),
            (t.confidence, &t.confidence_labels),
            (t.emotion, &t.emotion_labels),
        ];
        let mut groups: [Vec<Element>; 3] = Default::default();
        for (q, ((question, labels), options)) in questions.iter().zip(&mut groups).enumerate() {
            let group = add(
                doc,
                Some(&fields),
                "div",
                &["class", "q", "role", "radiogroup", "part", "question"],
                "",
            );
            set(&group, "aria-label", question);
            add(
                doc,
                Some(&group),
                "div",
                &["class", "qt", "aria-hidden", "true"],
                question,
            );
            let row = add(doc, Some(&group), "div", &["class", "opts"], "");
            let emotion = q == Question::Emotion as usize;
            for (i, label) in labels.iter().enumerate() {
                let b = add(
                    doc,
                    Some(&row),
                    "button",
                    &[
                        "type",
                        "button",
                        "role",
                        "radio",
                        "part",
                        "option",
                        "aria-checked",
                        "false",
                        "data-act",
                        CHOOSE,
                    ],
                    "",
                );
                set(&b, "class", if emotion { "opt em" } else { "opt" });
                set(&b, "tabindex", if i == 0 { "0" } else { "-1" });
                set(&b, "data-q", digit(q));
                set(&b, "data-i", digit(i));
                if emotion {
                    set(&b, "aria-label", label);
                    add(
                        doc,
                        Some(&b),
                        "span",
                        &[],
                        EMOJI.get(i).copied().unwrap_or(""),
                    );
                    add(doc, Some(&b), "span", &[], label);
                } else {
                    set(&b, "aria-label", &scale_name(i + 1, label));
                    b.set_text_content(Some(digit(i + 1)));
                }
                options.push(b);
            }
            if !emotion {
                let ends = add(
                    doc,
                    Some(&group),
                    "div",
                    &["class", "ends", "aria-hidden", "true"],
                    "",
                );
                for text in [labels.first(), labels.last()].into_iter().flatten() {
                    add(doc, Some(&ends), "span", &[], text);
                }
            }
        }

        let label = add(doc, Some(&fields), "label", &["class", "ct"], "");
        let caption = add(
            doc,
            Some(&label),
            "div",
            &["aria-hidden", "true"],
            t.comment,
        );
        add(
            doc,
            Some(&caption),
            "span",
            &[],
            &join(&[" (", t.ui.optional, ")"]),
        );
        let comment = add(
            doc,
            Some(&label),
            "textarea",
            &["part", "comment", "rows", "3", "maxlength", "1000"],
            "",
        );
        set(&comment, "aria-label", t.comment);
        add(
            doc,
            Some(&fields),
            "button",
            &[
                "class", "send", "type", "button", "part", "send", "data-act", SEND,
            ],
            t.ui.send,
        );
        let status = add(
            doc,
            Some(&el),
            "div",
            &[
                "class",
                "status",
                "role",
                "status",
                "aria-live",
                "polite",
                "part",
                "status",
                "tabindex",
                "-1",
            ],
            "",
        );

        Self {
            el,
            fields,
            groups,
            choices: Choices::default(),
            comment: comment.unchecked_into(),
            status,
            id: String::new(),
            sent: false,
            rtl: t.rtl,
            unopened: true,
        }
    }
}

//! The widget's settings, read from the object the loader passes to `start` (the script tag's
//! `data-*` attributes), with one clear console message for each one that is missing or wrong.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use js_sys::Reflect;
use protocol::instrument::UiTexts;
use protocol::{Ident, LocaleTexts};
use wasm_bindgen::JsValue;

/// Where the survey shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A fixed corner button that opens the survey panel (the default).
    Launcher,
    /// The survey rendered into the element `data-target` selects.
    Inline,
}

/// Everything `start` needs, already checked.
#[derive(Debug)]
pub struct Config {
    /// The collector's base URL without a trailing slash; `None` stops everything.
    pub base: Option<String>,
    /// `None` when missing or invalid: the survey is not shown, but earlier answers still go out.
    pub touchpoint: Option<Ident>,
    pub mode: Mode,
    pub target: Option<String>,
    pub texts: &'static LocaleTexts,
    pub segment: Option<Ident>,
}

/// One message for the console: `(is_error, text)`.
pub type Note = (bool, &'static str);

pub const NO_BASE: &str =
    "touchpoint: no collector URL (the loader derives it from the script's src); nothing is sent";
pub const BAD_TOUCHPOINT: &str = "touchpoint: data-touchpoint is missing or invalid (1-64 characters of A-Z a-z 0-9 . _ : / -); the survey is not shown";
pub const BAD_MODE: &str =
    "touchpoint: data-mode must be \"launcher\" or \"inline\"; using launcher";
pub const NO_TARGET: &str =
    "touchpoint: data-mode=\"inline\" needs data-target, a CSS selector of the element to render into";
pub const BAD_LOCALE: &str =
    "touchpoint: data-locale must be one of en, es, fr, de, ar; using the browser's language";
pub const BAD_SEGMENT: &str =
    "touchpoint: data-segment is invalid (1-64 characters of A-Z a-z 0-9 . _ : / -); ignored";

/// The protocol's locales with only the texts the widget shows: the kiosk's words
/// ([`protocol::instrument::LOCALES`] holds them all) are left out of the wasm.
pub static LOCALES: [LocaleTexts; 5] = {
    let [en, es, fr, de, ar] = protocol::instrument::LOCALES;
    [slim(en), slim(es), slim(fr), slim(de), slim(ar)]
};

const fn slim(l: LocaleTexts) -> LocaleTexts {
    LocaleTexts {
        name: "",
        ui: UiTexts {
            start: "",
            choose_language: "",
            idle_reset: "",
            already_answered: "",
            link_invalid: "",
            queued: "",
            ..l.ui
        },
        ..l
    }
}

/// The locale whose code is `code`, ignoring ASCII case.
fn find(code: &str) -> Option<&'static LocaleTexts> {
    LOCALES.iter().find(|l| l.code.eq_ignore_ascii_case(code))
}

/// The best locale for a browser language tag such as `fr-CA`, falling back to English (as
/// [`protocol::Instrument::negotiate`]).
pub fn negotiate(tag: &str) -> &'static LocaleTexts {
    let primary = tag.split(['-', '_']).next().unwrap_or_default();
    find(primary).unwrap_or(&LOCALES[0])
}

/// A non-empty string property of `obj`.
pub fn text(obj: &JsValue, key: &str) -> Option<String> {
    if !obj.is_object() {
        return None;
    }
    Reflect::get(obj, &JsValue::from_str(key))
        .ok()?
        .as_string()
        .filter(|s| !s.is_empty())
}

/// The locale `code` names, or `None` with a note when it names none we have.
pub fn locale(code: Option<&str>, notes: &mut Vec<Note>) -> Option<&'static LocaleTexts> {
    let code = code?;
    let found = find(code);
    if found.is_none() {
        notes.push((false, BAD_LOCALE));
    }
    found
}

impl Config {
    /// Reads the loader's object; `browser_language` is `navigator.language`.
    pub fn read(obj: &JsValue, browser_language: &str) -> (Self, Vec<Note>) {
        let mut notes = Vec::new();
        let base = text(obj, "base")
            .filter(|b| b.starts_with("https://") || b.starts_with("http://"))
            .map(|b| b.trim_end_matches('/').to_owned());
        if base.is_none() {
            notes.push((true, NO_BASE));
        }
        let touchpoint = text(obj, "touchpoint").and_then(|t| Ident::parse(&t));
        if touchpoint.is_none() {
            notes.push((true, BAD_TOUCHPOINT));
        }
        let mode = match text(obj, "mode").as_deref() {
            None | Some("launcher") => Mode::Launcher,
            Some("inline") => Mode::Inline,
            Some(_) => {
                notes.push((false, BAD_MODE));
                Mode::Launcher
            }
        };
        let target = text(obj, "target");
        if mode == Mode::Inline && target.is_none() {
            notes.push((true, NO_TARGET));
        }
        let texts = locale(text(obj, "locale").as_deref(), &mut notes)
            .unwrap_or_else(|| negotiate(browser_language));
        let segment = text(obj, "segment").and_then(|s| {
            let parsed = Ident::parse(&s);
            if parsed.is_none() {
                notes.push((false, BAD_SEGMENT));
            }
            parsed
        });
        (
            Self {
                base,
                touchpoint,
                mode,
                target,
                texts,
                segment,
            },
            notes,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dom::object;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn config(entries: &[(&str, &str)], lang: &str) -> (Config, Vec<Note>) {
        let entries: Vec<_> = entries
            .iter()
            .map(|(k, v)| (*k, JsValue::from_str(v)))
            .collect();
        Config::read(&object(&entries), lang)
    }

    #[wasm_bindgen_test]
    fn a_complete_config_is_read_without_notes() {
        let (c, notes) = config(
            &[
                ("base", "https://cx.example.com/"),
                ("touchpoint", "checkout"),
                ("mode", "inline"),
                ("target", "#survey"),
                ("locale", "FR"),
                ("segment", "premium"),
            ],
            "de-DE",
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(c.base.as_deref(), Some("https://cx.example.com"));
        assert_eq!(c.touchpoint.as_ref().map(Ident::as_str), Some("checkout"));
        assert_eq!(c.mode, Mode::Inline);
        assert_eq!(c.target.as_deref(), Some("#survey"));
        assert_eq!(c.texts.code, "fr");
        assert_eq!(c.segment.as_ref().map(Ident::as_str), Some("premium"));
    }

    #[wasm_bindgen_test]
    fn defaults_come_from_the_browser_language_then_english() {
        let (c, notes) = config(
            &[("base", "http://127.0.0.1:8080"), ("touchpoint", "home")],
            "ar-EG",
        );
        assert!(notes.is_empty());
        assert_eq!(c.mode, Mode::Launcher);
        assert_eq!(c.texts.code, "ar");
        let (c, _) = config(&[("base", "http://x"), ("touchpoint", "home")], "pt-BR");
        assert_eq!(c.texts.code, "en");
    }

    #[wasm_bindgen_test]
    fn each_wrong_attribute_gets_one_message() {
        let (c, notes) = config(
            &[
                ("base", "javascript:alert(1)"),
                ("touchpoint", "check out"),
                ("mode", "popup"),
                ("locale", "xx"),
                ("segment", "not valid!"),
            ],
            "es",
        );
        assert_eq!(
            notes,
            [
                (true, NO_BASE),
                (true, BAD_TOUCHPOINT),
                (false, BAD_MODE),
                (false, BAD_LOCALE),
                (false, BAD_SEGMENT)
            ]
        );
        assert!(c.base.is_none() && c.touchpoint.is_none() && c.segment.is_none());
        assert_eq!((c.mode, c.texts.code), (Mode::Launcher, "es"));
        let (_, notes) = config(
            &[
                ("base", "http://x"),
                ("touchpoint", "t"),
                ("mode", "inline"),
            ],
            "en",
        );
        assert_eq!(notes, [(true, NO_TARGET)]);
        let (_, notes) = Config::read(&JsValue::UNDEFINED, "en");
        assert_eq!(notes, [(true, NO_BASE), (true, BAD_TOUCHPOINT)]);
    }
}

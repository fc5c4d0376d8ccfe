//! The widget's settings, read from the object the loader passes to `start` (the script tag's
//! `data-*` attributes). The loader has checked the ones every page has, with one clear console
//! message for each one that is missing or wrong, and left the wrong ones out (JavaScript checks a
//! string in far fewer bytes than WebAssembly, and the loader serves every module); here they are
//! only read, a wrong one that comes anyway ignored. The kiosk's and agent mode's own are checked
//! in `channels.rs`.

use alloc::string::String;
#[cfg(feature = "channels")]
use alloc::vec::Vec;
use js_sys::Reflect;
use protocol::{Channel, Context, Ident, LocaleTexts};
use wasm_bindgen::JsValue;

/// The kiosk's and agent mode's own attributes.
#[cfg(feature = "channels")]
pub mod channels;

/// Where the survey shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A fixed corner button that opens the survey panel (the default).
    Launcher,
    /// The survey rendered into the element `data-target` selects.
    Inline,
    /// A full-screen branch tablet: language choice, one customer at a time, idle reset.
    #[cfg(feature = "channels")]
    Kiosk,
    /// An agent's console: `Touchpoint.postCall(...)` shows the post-call survey's link, QR code
    /// and assisted capture (in `data-target` when given, else in a corner panel).
    #[cfg(feature = "channels")]
    Agent,
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
    /// Web, kiosk (kiosk mode) or agent (an invitation's page, or assisted capture).
    pub channel: Channel,
    /// What every answer carries: segment, site and device (kiosk), or the call an invitation
    /// binds (`data-interaction`, `data-agent`, `data-invitation` on the page `/s/{token}`).
    pub context: Context,
    /// The kiosk's timers and the agent console's key.
    #[cfg(feature = "channels")]
    pub channels: channels::ChannelConfig,
    /// The launcher's rules, which the loader carries (`css`): the start of a web module's sheet.
    #[cfg(not(feature = "channels"))]
    pub launcher_css: Option<String>,
}

/// `Touchpoint.open(options)`'s options: what this and later surveys answer for. The web modules
/// read them with [`OpenOptions::read`]; the kiosk and agent module with serde
/// (`channels/options.rs`), which names a wrong field in its console message.
#[derive(Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "channels", derive(serde::Deserialize))]
pub struct OpenOptions {
    pub touchpoint: Option<String>,
    pub segment: Option<String>,
    pub locale: Option<String>,
    /// The order, case or ticket the answer is about (`interactionId`), joined to outcomes.
    #[cfg_attr(feature = "channels", serde(rename = "interactionId"))]
    pub interaction_id: Option<String>,
}

impl OpenOptions {
    /// The options' non-empty strings; anything else counts as not given.
    pub fn read(options: &JsValue) -> Self {
        Self {
            touchpoint: text(options, "touchpoint"),
            segment: text(options, "segment"),
            locale: text(options, "locale"),
            interaction_id: text(options, "interactionId"),
        }
    }

    /// Whether any option was given.
    pub fn any(&self) -> bool {
        self.touchpoint.is_some()
            || self.segment.is_some()
            || self.locale.is_some()
            || self.interaction_id.is_some()
    }
}

/// One message for the console: `(is_error, text)`.
#[cfg(feature = "channels")]
pub type Note = (bool, &'static str);

/// The protocol's locales, every text: the kiosk shows the languages' names and its own words,
/// the invitation page its outcomes.
#[cfg(feature = "channels")]
pub static LOCALES: [LocaleTexts; 5] = protocol::instrument::LOCALES;

/// The one locale a web module speaks. `cargo xtask` builds the web module once per locale
/// (`TOUCHPOINT_WEB_LOCALE`, English when unset) and the loader loads the one the page asks for,
/// so a visitor downloads only the texts they read.
#[cfg(not(feature = "channels"))]
pub const WEB_LOCALE: &str = match option_env!("TOUCHPOINT_WEB_LOCALE") {
    Some(code) => code,
    None => "en",
};

/// The web module's locale with only the texts a web page shows: the kiosk's words and the
/// invitation page's outcomes stay out of the web module.
#[cfg(not(feature = "channels"))]
pub static LOCALES: [LocaleTexts; 1] = {
    let [en, es, fr, de, ar] = protocol::instrument::LOCALES;
    [slim(match WEB_LOCALE.as_bytes() {
        b"en" => en,
        b"es" => es,
        b"fr" => fr,
        b"de" => de,
        b"ar" => ar,
        _ => panic!("TOUCHPOINT_WEB_LOCALE must be en, es, fr, de or ar"),
    })]
};

#[cfg(not(feature = "channels"))]
const fn slim(l: LocaleTexts) -> LocaleTexts {
    LocaleTexts {
        name: "",
        ui: protocol::instrument::UiTexts {
            start: "",
            choose_language: "",
            idle_reset: "",
            larger_text: "",
            already_answered: "",
            link_invalid: "",
            queued: "",
            post_call: "",
            share_link: "",
            qr_alt: "",
            assist: "",
            link_failed: "",
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

/// The locale `code` names, if we have it.
pub fn locale(code: Option<&str>) -> Option<&'static LocaleTexts> {
    find(code?)
}

/// An optional identifier attribute; a wrong one is ignored with `note`.
#[cfg(feature = "channels")]
pub fn ident(obj: &JsValue, key: &str, note: &'static str, notes: &mut Vec<Note>) -> Option<Ident> {
    text(obj, key).and_then(|s| {
        let parsed = Ident::parse(&s);
        if parsed.is_none() && !notes.contains(&(false, note)) {
            notes.push((false, note));
        }
        parsed
    })
}

/// An optional identifier attribute, as the loader passed it (a wrong one is ignored).
fn id(obj: &JsValue, key: &str) -> Option<Ident> {
    text(obj, key).and_then(|s| Ident::parse(&s))
}

impl Config {
    /// Reads the loader's object; `browser_language` is `navigator.language`. The kiosk's and
    /// agent mode's attributes get their console messages here (the loader checked the rest).
    pub fn read(obj: &JsValue, browser_language: &str) -> Self {
        #[cfg(feature = "channels")]
        {
            let mut notes = Vec::new();
            let config = Self::read_noting(obj, browser_language, &mut notes);
            for (is_error, note) in notes {
                if is_error {
                    crate::dom::error(note);
                } else {
                    crate::dom::warn(note);
                }
            }
            config
        }
        #[cfg(not(feature = "channels"))]
        Self::read_checked(obj, browser_language)
    }

    /// [`Config::read`], with the kiosk's and agent mode's notes in `notes` instead of the console.
    #[cfg(feature = "channels")]
    pub fn read_noting(obj: &JsValue, browser_language: &str, notes: &mut Vec<Note>) -> Self {
        channels::read(obj, Self::read_checked(obj, browser_language), notes)
    }

    /// The settings every page has, which the loader checked.
    fn read_checked(obj: &JsValue, browser_language: &str) -> Self {
        let mode = match text(obj, "mode").as_deref() {
            Some("inline") => Mode::Inline,
            #[cfg(feature = "channels")]
            Some("kiosk") => Mode::Kiosk,
            #[cfg(feature = "channels")]
            Some("agent") => Mode::Agent,
            _ => Mode::Launcher,
        };
        Self {
            base: text(obj, "base"),
            touchpoint: id(obj, "touchpoint"),
            mode,
            target: text(obj, "target"),
            texts: locale(text(obj, "locale").as_deref())
                .unwrap_or_else(|| negotiate(browser_language)),
            channel: Channel::Web,
            context: Context {
                segment: id(obj, "segment"),
                // An order or case number on a web page, a ticket on a kiosk, a call on an
                // invitation's.
                interaction_id: id(obj, "interaction"),
                ..Context::default()
            },
            #[cfg(feature = "channels")]
            channels: channels::ChannelConfig::default(),
            #[cfg(not(feature = "channels"))]
            launcher_css: text(obj, "css"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dom::object;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// The loader's object with `entries`.
    pub(super) fn loader(entries: &[(&str, &str)]) -> JsValue {
        let entries: alloc::vec::Vec<_> = entries
            .iter()
            .map(|(k, v)| (*k, JsValue::from_str(v)))
            .collect();
        object(&entries).into()
    }

    /// The config the loader's object with `entries` gives, in a browser speaking `lang`.
    fn config(entries: &[(&str, &str)], lang: &str) -> Config {
        Config::read(&loader(entries), lang)
    }

    /// The last locale this module speaks (Arabic with every locale; a web module's only one).
    fn last_locale() -> &'static str {
        LOCALES[LOCALES.len() - 1].code
    }

    #[wasm_bindgen_test]
    fn a_complete_config_is_read() {
        let upper = last_locale().to_ascii_uppercase();
        let c = config(
            &[
                ("base", "https://cx.example.com"),
                ("touchpoint", "checkout"),
                ("mode", "inline"),
                ("target", "#survey"),
                ("locale", &upper),
                ("segment", "premium"),
            ],
            "de-DE",
        );
        assert_eq!(c.base.as_deref(), Some("https://cx.example.com"));
        assert_eq!(c.touchpoint.as_ref().map(Ident::as_str), Some("checkout"));
        assert_eq!(c.mode, Mode::Inline);
        assert_eq!(c.target.as_deref(), Some("#survey"));
        assert_eq!(c.texts.code, last_locale());
        assert_eq!(
            c.context.segment.as_ref().map(Ident::as_str),
            Some("premium")
        );
        assert_eq!(c.channel, Channel::Web);
    }

    #[wasm_bindgen_test]
    fn defaults_come_from_the_browser_language_then_english() {
        let browser = [last_locale(), "-EG"].concat();
        let c = config(
            &[("base", "http://127.0.0.1:8080"), ("touchpoint", "home")],
            &browser,
        );
        assert_eq!(c.mode, Mode::Launcher);
        assert_eq!(c.texts.code, last_locale());
        // A language nobody speaks here: English (a web module: its one locale, which the loader
        // chose as English for such a browser).
        let c = config(&[("base", "http://x"), ("touchpoint", "home")], "pt-BR");
        assert_eq!(c.texts.code, LOCALES[0].code);
        #[cfg(feature = "channels")]
        assert_eq!(c.texts.code, "en");
    }

    /// Issue 17: a web page passes its order id, which the answer carries to be joined to the
    /// organisation's outcomes; `open({interactionId})` sets it too.
    #[wasm_bindgen_test]
    fn a_web_page_passes_its_order_id_as_the_interaction() {
        let c = config(
            &[
                ("base", "http://x"),
                ("touchpoint", "checkout"),
                ("interaction", "order-1042"),
            ],
            "en",
        );
        assert_eq!(c.channel, Channel::Web);
        assert_eq!(
            c.context.interaction_id.as_ref().map(Ident::as_str),
            Some("order-1042")
        );
        let options = OpenOptions::read(&object(&[("interactionId", "order-7".into())]).into());
        assert_eq!(options.interaction_id.as_deref(), Some("order-7"));
        assert!(options.any());
    }

    /// The loader checks the tag's settings (their console messages are its own; the browser
    /// tests read them) and leaves the wrong ones out; one that comes anyway is ignored.
    #[wasm_bindgen_test]
    fn a_wrong_attribute_that_comes_anyway_is_ignored() {
        let c = config(
            &[
                ("touchpoint", "check out"),
                ("mode", "popup"),
                ("locale", "xx"),
                ("segment", "not valid!"),
                ("interaction", "order 1"),
            ],
            last_locale(),
        );
        assert!(c.base.is_none() && c.touchpoint.is_none() && c.context.segment.is_none());
        assert!(c.context.interaction_id.is_none());
        assert_eq!((c.mode, c.texts.code), (Mode::Launcher, last_locale()));
        let c = Config::read(&JsValue::UNDEFINED, "en");
        assert!(c.base.is_none() && c.touchpoint.is_none() && c.target.is_none());
    }

    #[cfg(not(feature = "channels"))]
    #[wasm_bindgen_test]
    fn a_web_module_speaks_only_the_locale_it_was_built_for() {
        assert_eq!(LOCALES.each_ref().map(|l| l.code), [WEB_LOCALE]);
        // The loader never gives a web module another locale; if it did, the module's own texts.
        let other = protocol::instrument::LOCALE_CODES
            .into_iter()
            .find(|c| *c != WEB_LOCALE)
            .unwrap();
        let c = config(
            &[("base", "http://x"), ("touchpoint", "t"), ("locale", other)],
            other,
        );
        assert_eq!(c.texts.code, WEB_LOCALE);
    }
}

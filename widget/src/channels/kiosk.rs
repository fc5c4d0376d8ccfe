//! Kiosk mode: the attract screen (one button per language, named in that language), the reset
//! after the thank-you, the idle timeout with its countdown and the staff indicator of unsent
//! answers, all driven by one timer; full-screen and a screen wake lock once a language is chosen.
//! A kiosk forbids pinch zoom (its stylesheet), so it offers its own: a control above the attract
//! screen and the survey doubles the text and the targets, until the reset for the next customer.

use alloc::rc::Rc;
use alloc::string::String;
use core::cell::{Cell, RefCell};

use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::Interval;
use js_sys::{Date, Reflect};
use protocol::LocaleTexts;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::{Document, Element, ShadowRoot};

use crate::config::LOCALES;
use crate::dom::{add, append, join, push_number, set, show};
use crate::panel::act::digit;
use crate::panel::{Hooks, Settings, Widget};

/// The `data-act` of the attract screen's language buttons (`data-i`: the locale's index).
pub const LANGUAGE: &str = "lang";
/// The `data-act` of the larger-text control.
pub const LARGER: &str = "larger";
/// The host's attribute while the text is larger (the stylesheet doubles text and targets).
const LARGE: &str = "large";

/// The kiosk's timers, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// Thank-you → attract screen.
    pub reset_ms: f64,
    /// A survey untouched this long is discarded.
    pub idle_ms: f64,
}

/// The idle countdown shows in the last this many milliseconds.
const COUNTDOWN_MS: f64 = 10_000.0;
/// How often the kiosk's clock looks at the time.
const TICK_MS: u32 = 250;

/// The kiosk's own elements and clock.
pub struct Kiosk {
    /// The host element, which carries [`LARGE`].
    host: Element,
    /// The larger-text control (`aria-pressed`).
    larger: Element,
    attract: Element,
    countdown: Element,
    queued: Element,
    timers: Timers,
    /// The last touch or key (ms since the epoch).
    last_activity: Cell<f64>,
    /// When the thank-you showed.
    sent_at: Cell<Option<f64>>,
    /// The texts the attract screen starts from (the page's locale).
    home: &'static LocaleTexts,
    /// The one timer, and the listener that keeps the long-press menu away; both stop when
    /// dropped.
    clock: RefCell<Option<(Interval, EventListener)>>,
}

impl Kiosk {
    /// The attract screen, the idle countdown and the staff indicator of unsent answers, added to
    /// `root`.
    pub fn new(doc: &Document, root: &ShadowRoot, settings: &Settings, timers: Timers) -> Self {
        let t = settings.texts;
        let tools = add(doc, None, "div", &["class", "tools"], "");
        let larger = add(
            doc,
            Some(&tools),
            "button",
            &[
                "type",
                "button",
                "class",
                "larger",
                "data-act",
                LARGER,
                "part",
                "larger",
                "aria-pressed",
                "false",
            ],
            "",
        );
        append(root, &tools);
        let attract = add(
            doc,
            None,
            "section",
            &["class", "attract", "part", "attract"],
            "",
        );
        set(&attract, "aria-label", t.ui.choose_language);
        add(doc, Some(&attract), "h1", &[], t.ui.title);
        add(
            doc,
            Some(&attract),
            "p",
            &["class", "choose"],
            t.ui.choose_language,
        );
        let langs = add(doc, Some(&attract), "div", &["class", "langs"], "");
        for (i, l) in LOCALES.iter().enumerate() {
            let b = add(
                doc,
                Some(&langs),
                "button",
                &[
                    "type", "button", "class", "lang", "data-act", LANGUAGE, "part", "language",
                ],
                l.name,
            );
            set(&b, "lang", l.code);
            set(&b, "data-i", digit(i));
        }
        append(root, &attract);
        let countdown = add(
            doc,
            None,
            "div",
            &[
                "class",
                "countdown",
                "role",
                "timer",
                "aria-live",
                "polite",
                "part",
                "countdown",
                "hidden",
                "",
            ],
            "",
        );
        append(root, &countdown);
        let queued = add(
            doc,
            None,
            "div",
            &["class", "queued", "part", "queued", "hidden", ""],
            "",
        );
        append(root, &queued);
        let kiosk = Self {
            host: root.host(),
            larger,
            attract,
            countdown,
            queued,
            timers,
            last_activity: Cell::new(Date::now()),
            sent_at: Cell::new(None),
            home: t,
            clock: RefCell::new(None),
        };
        kiosk.speak(t);
        kiosk
    }

    /// The larger-text control's label in the language on screen.
    fn speak(&self, texts: &LocaleTexts) {
        self.larger.set_text_content(Some(texts.ui.larger_text));
        set(&self.larger, "lang", texts.code);
    }

    /// Text and targets at twice their size, or back.
    fn set_larger(&self, on: bool) {
        let _ = self.host.toggle_attribute_with_force(LARGE, on);
        set(
            &self.larger,
            "aria-pressed",
            if on { "true" } else { "false" },
        );
    }

    /// The larger-text control was pressed.
    pub fn toggle_larger(&self) {
        self.set_larger(!self.host.has_attribute(LARGE));
    }

    /// Starts the kiosk's one timer (the reset after a thank-you, the idle timeout and its
    /// countdown, the staff indicator) and keeps the long-press menu from opening.
    pub fn start<H: Hooks>(self: &Rc<Self>, widget: &Rc<Widget<H>>) {
        let (kiosk, weak) = (Rc::downgrade(self), Rc::downgrade(widget));
        let interval = Interval::new(TICK_MS, move || {
            if let (Some(k), Some(w)) = (kiosk.upgrade(), weak.upgrade()) {
                k.tick(&w);
            }
        });
        let menu = EventListener::new_with_options(
            widget.root(),
            "contextmenu",
            EventListenerOptions::enable_prevent_default(),
            |event| event.prevent_default(),
        );
        if let Ok(mut clock) = self.clock.try_borrow_mut() {
            *clock = Some((interval, menu));
        }
        self.tick(widget);
    }

    fn tick<H: Hooks>(&self, w: &Widget<H>) {
        let now = Date::now();
        let waiting = w.sink().outbox().borrow().items().len();
        show(&self.queued, waiting > 0);
        let mut count = String::new();
        push_number(&mut count, waiting as u64);
        self.queued.set_text_content(Some(&join(&["● ", &count])));
        set(
            &self.queued,
            "title",
            &join(&[&count, " ", self.home.ui.queued]),
        );
        if let Some(at) = self.sent_at.get() {
            if now - at >= self.timers.reset_ms {
                self.reset(w);
            }
            return;
        }
        if !w.is_open() {
            return;
        }
        let left = self.timers.idle_ms - (now - self.last_activity.get());
        if left <= 0.0 {
            self.reset(w);
        } else if left <= COUNTDOWN_MS.min(self.timers.idle_ms) {
            let mut secs = String::new();
            push_number(&mut secs, ceil(left / 1000.0));
            let text = w.settings().texts.ui.idle_reset;
            self.countdown
                .set_text_content(Some(&join(&[text, " ", &secs])));
            show(&self.countdown, true);
        } else {
            show(&self.countdown, false);
        }
    }

    /// Someone touched the kiosk: the idle timeout starts over.
    pub fn touch(&self) {
        self.last_activity.set(Date::now());
        show(&self.countdown, false);
    }

    /// The thank-you shows: the reset to the attract screen comes after `reset_ms`.
    pub fn sent(&self) {
        self.sent_at.set(Some(Date::now()));
    }

    /// Back to the attract screen, and nothing of the last customer left: the panel (choices,
    /// comment, thank-you) is removed from the page.
    fn reset<H: Hooks>(&self, w: &Widget<H>) {
        w.discard();
        self.sent_at.set(None);
        show(&self.countdown, false);
        self.set_larger(false);
        self.speak(self.home);
        show(&self.attract, true);
    }

    /// A language was chosen on the attract screen: the survey starts in it, full-screen and with
    /// the screen kept on where the browser allows.
    pub fn start_in<H: Hooks>(&self, w: &Widget<H>, i: usize) {
        let Some(texts) = LOCALES.get(i) else {
            return;
        };
        let mut settings = w.settings().clone();
        settings.texts = texts;
        w.configure(settings);
        self.speak(texts);
        show(&self.attract, false);
        self.touch();
        w.open(true);
        keep_awake();
    }
}

/// `ceil` for the countdown's positive seconds, without linking libm.
fn ceil(x: f64) -> u64 {
    let whole = x as u64;
    if (whole as f64) < x {
        whole + 1
    } else {
        whole
    }
}

/// Full-screen and a screen wake lock where the browser allows (both need the tap that chose the
/// language); a refusal is simply ignored.
fn keep_awake() {
    let Some(window) = crate::dom::window() else {
        return;
    };
    let call = |target: &JsValue, method: &str, arg: Option<&str>| {
        let f = Reflect::get(target, &JsValue::from_str(method)).ok()?;
        let f = f.dyn_ref::<js_sys::Function>()?;
        let result = match arg {
            Some(a) => f.call1(target, &JsValue::from_str(a)),
            None => f.call0(target),
        };
        // A rejected promise must not surface as an unhandled rejection in the page.
        if let Ok(promise) =
            result.and_then(|p| p.dyn_into::<js_sys::Promise>().map_err(|_| JsValue::NULL))
        {
            let ignore = Closure::<dyn FnMut(JsValue)>::new(|_| {});
            let _ = promise.catch(&ignore);
            ignore.forget();
        }
        Some(())
    };
    if let Some(root) = window.document().and_then(|d| d.document_element()) {
        let fullscreen = window
            .document()
            .and_then(|d| Reflect::get(&d, &JsValue::from_str("fullscreenElement")).ok())
            .is_some_and(|e| !e.is_null() && !e.is_undefined());
        if !fullscreen {
            call(&root, "requestFullscreen", None);
        }
    }
    if let Ok(lock) = Reflect::get(&window.navigator(), &JsValue::from_str("wakeLock")) {
        if lock.is_object() {
            call(&lock, "request", Some("screen"));
        }
    }
}

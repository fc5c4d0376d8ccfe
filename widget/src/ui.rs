//! The survey on the page: a host element with an open shadow root, a launcher button or an inline
//! panel, three radio groups, the comment, Send and a live status. Built only with
//! `create_element` and text; one click and one keydown listener serve the whole tree.
//!
//! The same panel serves every channel. Kiosk mode adds an attract screen (one button per
//! language), the reset after the thank-you, the idle timeout with its countdown and the staff
//! indicator of unsent answers, all driven by one timer. Agent mode shows a post-call invitation
//! (link, QR code) and opens the panel for assisted capture.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

#[cfg(feature = "channels")]
use core::cell::Cell;
#[cfg(feature = "channels")]
use js_sys::Reflect;
use js_sys::{Array, Date};
use protocol::{Channel, Context, Ident, LocaleTexts};
use wasm_bindgen::{closure::Closure, prelude::wasm_bindgen, JsCast, JsValue};
use web_sys::{CssStyleSheet, Document, Element, Event, HtmlTextAreaElement, ShadowRoot};

use crate::config::Mode;
#[cfg(feature = "channels")]
use crate::config::LOCALES;
#[cfg(feature = "channels")]
use crate::dom::push_number;
use crate::dom::{
    add, append, dispatch, focus, is_shown, join, object, set, set_inert, show, warn, when_idle,
};
use crate::ids::new_id;
#[cfg(feature = "channels")]
use crate::invite::{Call, Issued};
use crate::style::CSS;
use crate::survey::{submission, Choices, Origin};

/// Shown before each emotion word; the word is the accessible name.
const EMOJI: [&str; 5] = ["😠", "😟", "😐", "😊", "😄"];

/// An event listener the widget keeps alive as long as it is on the page.
type Listener = Closure<dyn FnMut(Event)>;

pub use crate::delivery::Sink;

/// What the next survey answers for, and in which language.
#[derive(Debug, Clone)]
pub struct Settings {
    pub touchpoint: Ident,
    pub channel: Channel,
    pub context: Context,
    pub texts: &'static LocaleTexts,
}

/// The kiosk's timers, in milliseconds.
#[cfg(feature = "channels")]
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    /// Thank-you → attract screen.
    pub reset_ms: f64,
    /// A survey untouched this long is discarded.
    pub idle_ms: f64,
}

/// The idle countdown shows in the last this many milliseconds.
#[cfg(feature = "channels")]
const COUNTDOWN_MS: f64 = 10_000.0;

/// The kiosk's own elements and clock.
#[cfg(feature = "channels")]
struct Kiosk {
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
}

/// One survey being filled in.
struct Panel {
    el: Element,
    form: Element,
    /// The option buttons of effort, confidence and emotion.
    groups: [Vec<Element>; 3],
    choices: Choices,
    comment: HtmlTextAreaElement,
    status: Element,
    /// The submission id, made when the survey opens (empty until then).
    id: String,
    sent: bool,
    rtl: bool,
    /// Built and not opened yet: no id; built ahead of time, it is laid out but invisible and
    /// inert.
    unopened: bool,
}

impl Panel {
    fn choice(&self, q: usize) -> Option<usize> {
        match q {
            0 => self.choices.effort,
            1 => self.choices.confidence,
            _ => self.choices.emotion,
        }
    }

    /// Checks option `i` of question `q`; it becomes the group's one tab stop (roving tabindex).
    fn select(&mut self, q: usize, i: usize) -> Option<Element> {
        let group = self.groups.get(q)?;
        let chosen = group.get(i)?.clone();
        for (n, option) in group.iter().enumerate() {
            set(
                option,
                "aria-checked",
                if n == i { "true" } else { "false" },
            );
            set(option, "tabindex", if n == i { "0" } else { "-1" });
        }
        match q {
            0 => self.choices.effort = Some(i),
            1 => self.choices.confidence = Some(i),
            _ => self.choices.emotion = Some(i),
        }
        Some(chosen)
    }

    /// The option focus goes to when the panel opens.
    fn first_stop(&self) -> Option<Element> {
        self.groups[0].get(self.choice(0).unwrap_or(0)).cloned()
    }
}

/// The widget on the page.
pub struct Widget {
    doc: Document,
    root: ShadowRoot,
    launcher: Option<Element>,
    settings: RefCell<Settings>,
    sink: Sink,
    panel: RefCell<Option<Panel>>,
    listeners: RefCell<Vec<Listener>>,
    #[cfg(feature = "channels")]
    kiosk: Option<Kiosk>,
    /// Agent mode: the invitation on show, and the settings its assisted capture answers with.
    #[cfg(feature = "channels")]
    invite: RefCell<Option<(Element, Settings)>>,
    #[cfg(feature = "channels")]
    tick: RefCell<Option<Closure<dyn FnMut()>>>,
}

/// The one decimal digit of `n` (every index and scale point is below 10).
fn digit(n: usize) -> String {
    String::from(char::from(b'0' + (n % 10) as u8))
}

/// `"n – label"`: the accessible name of scale option `n`.
pub fn scale_name(n: usize, label: &str) -> String {
    join(&[&digit(n), " – ", label])
}

#[wasm_bindgen]
extern "C" {
    /// An event seen through its `key` (a `KeyboardEvent`'s; `None` on any other event), so the
    /// keydown listener needs no class check.
    type Keyed;
    #[wasm_bindgen(method, getter)]
    fn key(this: &Keyed) -> Option<String>;
}

/// The element matching `selector` at or above the event's target. `closest` is caught, so a
/// target that is not an element simply matches nothing.
fn acting(event: &Event, selector: &str) -> Option<Element> {
    event
        .target()?
        .unchecked_into::<Element>()
        .closest(selector)
        .ok()
        .flatten()
}

fn index_attr(el: &Element, name: &str) -> Option<usize> {
    let value = el.get_attribute(name)?;
    let digit = value.bytes().next()?;
    digit.is_ascii_digit().then(|| usize::from(digit - b'0'))
}

impl Widget {
    /// Puts the widget on the page: inside `container` (inline, and agent mode when given one),
    /// full-screen (kiosk), or in a corner appended to `<body>` (launcher, agent). `None` when the
    /// browser lacks what it needs (a warning says which).
    pub fn mount(
        settings: Settings,
        mode: Mode,
        container: Option<&Element>,
        sink: Sink,
        #[cfg(feature = "channels")] timers: Timers,
    ) -> Option<Rc<Self>> {
        let doc = crate::dom::window()?.document()?;
        let host_mode = match (mode, container.is_some()) {
            #[cfg(feature = "channels")]
            (Mode::Kiosk, _) => "kiosk",
            (_, true) => "inline",
            _ => "launcher",
        };
        let host = add(&doc, None, "touchpoint-widget", &["mode", host_mode], "");
        let root = host
            .attach_shadow(&object(&[("mode", JsValue::from_str("open"))]).unchecked_into())
            .ok()?;
        let sheet = CssStyleSheet::new().ok();
        let Some(sheet) = sheet.filter(|s| s.replace_sync(CSS).is_ok()) else {
            warn(
                "touchpoint: this browser lacks constructable stylesheets; the survey is not shown",
            );
            return None;
        };
        root.set_adopted_style_sheets(&Array::of1(&sheet));
        let launcher = (mode == Mode::Launcher && container.is_none()).then(|| {
            let b = add(
                &doc,
                None,
                "button",
                &[
                    "class",
                    "launcher",
                    "type",
                    "button",
                    "part",
                    "launcher",
                    "data-act",
                    "open",
                    "aria-haspopup",
                    "dialog",
                    "aria-expanded",
                    "false",
                ],
                settings.texts.ui.feedback,
            );
            append(&root, &b);
            b
        });
        #[cfg(feature = "channels")]
        let kiosk = (mode == Mode::Kiosk).then(|| Self::attract(&doc, &root, &settings, timers));
        #[cfg(feature = "channels")]
        let container = container.filter(|_| mode != Mode::Kiosk);
        let parent = match container {
            Some(c) => c.clone(),
            None => doc.body()?.into(),
        };
        append(&parent, &host);
        let widget = Rc::new(Self {
            doc,
            root,
            launcher,
            settings: RefCell::new(settings),
            sink,
            panel: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            #[cfg(feature = "channels")]
            kiosk,
            #[cfg(feature = "channels")]
            invite: RefCell::new(None),
            #[cfg(feature = "channels")]
            tick: RefCell::new(None),
        });
        widget.listen();
        if widget.launcher.is_some() {
            // The click listener doubles as the idle callback: called with an `IdleDeadline`,
            // it finds no target and builds the panel ahead (see `on_click`).
            if let Some(click) = widget.listeners.borrow().first() {
                when_idle(click.as_ref());
            }
        }
        match mode {
            Mode::Inline => widget.open(false),
            #[cfg(feature = "channels")]
            Mode::Kiosk => widget.start_clock(),
            _ => {}
        }
        Some(widget)
    }

    #[cfg(feature = "channels")]
    /// The kiosk's attract screen (one button per language, named in that language), its idle
    /// countdown and the staff indicator of unsent answers.
    fn attract(doc: &Document, root: &ShadowRoot, settings: &Settings, timers: Timers) -> Kiosk {
        let t = settings.texts;
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
                    "type", "button", "class", "lang", "data-act", "lang", "part", "language",
                ],
                l.name,
            );
            set(&b, "lang", l.code);
            set(&b, "data-i", &digit(i));
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
        Kiosk {
            attract,
            countdown,
            queued,
            timers,
            last_activity: Cell::new(Date::now()),
            sent_at: Cell::new(None),
            home: t,
        }
    }

    #[cfg(feature = "channels")]
    /// The kiosk's one timer: the reset after a thank-you, the idle timeout and its countdown,
    /// and the staff indicator.
    fn start_clock(self: &Rc<Self>) {
        let Some(window) = crate::dom::window() else {
            return;
        };
        let weak = Rc::downgrade(self);
        let tick = Closure::<dyn FnMut()>::new(move || {
            if let Some(w) = weak.upgrade() {
                w.on_tick();
            }
        });
        let _ = window.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            250,
        );
        *self.tick.borrow_mut() = Some(tick);
        let contextmenu = Closure::<dyn FnMut(Event)>::new(|event: Event| event.prevent_default());
        let _ = self
            .root
            .add_event_listener_with_callback("contextmenu", contextmenu.as_ref().unchecked_ref());
        self.listeners.borrow_mut().push(contextmenu);
        self.on_tick();
    }

    #[cfg(feature = "channels")]
    fn on_tick(&self) {
        let Some(k) = &self.kiosk else {
            return;
        };
        let now = Date::now();
        let waiting = self.sink.outbox().borrow().items().len();
        show(&k.queued, waiting > 0);
        let mut count = String::new();
        push_number(&mut count, waiting as u64);
        k.queued.set_text_content(Some(&join(&["● ", &count])));
        set(&k.queued, "title", &join(&[&count, " ", k.home.ui.queued]));
        if let Some(at) = k.sent_at.get() {
            if now - at >= k.timers.reset_ms {
                self.reset();
            }
            return;
        }
        if !self.is_open() {
            return;
        }
        let left = k.timers.idle_ms - (now - k.last_activity.get());
        if left <= 0.0 {
            self.reset();
        } else if left <= COUNTDOWN_MS.min(k.timers.idle_ms) {
            let mut secs = String::new();
            push_number(&mut secs, libm_ceil(left / 1000.0));
            let text = self.settings.borrow().texts.ui.idle_reset;
            k.countdown
                .set_text_content(Some(&join(&[text, " ", &secs])));
            show(&k.countdown, true);
        } else {
            show(&k.countdown, false);
        }
    }

    /// Someone touched the kiosk: the idle timeout starts over.
    #[cfg(not(feature = "channels"))]
    fn touch(&self) {}

    /// Someone touched the kiosk: the idle timeout starts over.
    #[cfg(feature = "channels")]
    fn touch(&self) {
        if let Some(k) = &self.kiosk {
            k.last_activity.set(Date::now());
            show(&k.countdown, false);
        }
    }

    #[cfg(feature = "channels")]
    /// Back to the attract screen, and nothing of the last customer left: the panel (choices,
    /// comment, thank-you) is removed from the page.
    pub fn reset(&self) {
        let Some(k) = &self.kiosk else {
            return;
        };
        if let Some(old) = self.panel.try_borrow_mut().ok().and_then(|mut p| p.take()) {
            old.el.remove();
        }
        k.sent_at.set(None);
        show(&k.countdown, false);
        show(&k.attract, true);
    }

    #[cfg(feature = "channels")]
    /// A language was chosen on the attract screen: the survey starts in it, full-screen and with
    /// the screen kept on where the browser allows.
    fn start_in(&self, i: usize) {
        let (Some(k), Some(texts)) = (&self.kiosk, LOCALES.get(i)) else {
            return;
        };
        let mut settings = self.settings.borrow().clone();
        settings.texts = texts;
        self.configure(settings);
        show(&k.attract, false);
        self.touch();
        self.open(true);
        keep_awake();
    }

    #[cfg(feature = "channels")]
    /// Agent mode: shows the post-call invitation for `call` (or why there is none), with the
    /// link, its QR code and the assisted capture button.
    pub fn show_invitation(&self, call: &Call, outcome: Result<Issued, u16>) {
        let doc = &self.doc;
        // The agent's words in the console's language; the survey in the customer's.
        let console = self.settings.borrow().texts;
        let ui = &console.ui;
        if let Some(old) = self.panel.try_borrow_mut().ok().and_then(|mut p| p.take()) {
            old.el.remove();
        }
        if let Some((old, _)) = self.invite.try_borrow_mut().ok().and_then(|mut i| i.take()) {
            old.remove();
        }
        let section = add(
            doc,
            None,
            "section",
            &["class", "panel invite", "part", "invite"],
            "",
        );
        set(&section, "aria-label", ui.post_call);
        add(
            doc,
            Some(&section),
            "h2",
            &[],
            &join(&[ui.post_call, " · ", call.interaction.as_str()]),
        );
        let issued = match outcome {
            Ok(issued) => issued,
            Err(status) => {
                let mut code = String::new();
                push_number(&mut code, u64::from(status));
                add(
                    doc,
                    Some(&section),
                    "p",
                    &["class", "status", "role", "status"],
                    &join(&[ui.link_failed, " (HTTP ", &code, ")."]),
                );
                append(&self.root, &section);
                return;
            }
        };
        let p = add(
            doc,
            Some(&section),
            "p",
            &["class", "link"],
            &join(&[ui.share_link, " "]),
        );
        let a = add(
            doc,
            Some(&p),
            "a",
            &["target", "_blank", "rel", "noopener", "part", "link"],
            &issued.url,
        );
        set(&a, "href", &issued.url);
        let img = add(
            doc,
            Some(&section),
            "img",
            &["class", "qr", "part", "qr", "width", "200", "height", "200"],
            "",
        );
        set(&img, "alt", ui.qr_alt);
        set(&img, "src", &issued.qr);
        add(
            doc,
            Some(&section),
            "button",
            &[
                "type", "button", "class", "send", "data-act", "assist", "part", "assist",
            ],
            ui.assist,
        );
        append(&self.root, &section);
        let settings = Settings {
            touchpoint: call.touchpoint.clone(),
            channel: Channel::Agent,
            context: Context {
                interaction_id: Some(call.interaction.clone()),
                agent_id: Some(call.agent.clone()),
                segment: call.queue.clone(),
                invitation: protocol::InvitationToken::parse(&issued.token).ok(),
                assisted: true,
                ..Context::default()
            },
            texts: call.texts,
        };
        if let Ok(mut slot) = self.invite.try_borrow_mut() {
            *slot = Some((section, settings));
        }
        dispatch(
            "touchpoint:invitation",
            &object(&[
                (
                    "interactionId",
                    JsValue::from_str(call.interaction.as_str()),
                ),
                ("url", JsValue::from_str(&issued.url)),
                ("token", JsValue::from_str(&issued.token)),
            ]),
        );
    }

    #[cfg(feature = "channels")]
    /// The agent records the customer's answers now, on the agent's screen.
    fn assist(&self) {
        let Some(settings) = self
            .invite
            .try_borrow()
            .ok()
            .and_then(|i| i.as_ref().map(|(_, s)| s.clone()))
        else {
            return;
        };
        self.configure(settings);
        self.open(true);
    }

    #[cfg(feature = "channels")]
    /// The collector's word on an answer this page sent: on an invitation's page, "already
    /// answered" (409) or "link not valid" (refused) replaces the thank-you.
    fn on_outcome(&self, event: &Event) {
        let detail = event.unchecked_ref::<web_sys::CustomEvent>().detail();
        let field = |k: &str| Reflect::get(&detail, &JsValue::from_str(k)).ok();
        let id = field("id").and_then(|v| v.as_string());
        let status = field("status").and_then(|v| v.as_f64()).unwrap_or(0.0) as u16;
        let settings = self.settings.borrow();
        if settings.context.invitation.is_none() {
            return;
        }
        let ui = &settings.texts.ui;
        let text = match status {
            409 => ui.already_answered,
            400..=499 => ui.link_invalid,
            _ => return,
        };
        if let Ok(slot) = self.panel.try_borrow() {
            if let Some(panel) = slot.as_ref().filter(|p| Some(&p.id) == id.as_ref()) {
                panel.status.set_text_content(Some(text));
            }
        }
    }

    fn listen(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let click = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            if let Some(w) = weak.upgrade() {
                w.on_click(&event);
            }
        });
        let weak = Rc::downgrade(self);
        let key = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            if let (Some(w), Some(key)) = (weak.upgrade(), event.unchecked_ref::<Keyed>().key()) {
                w.on_key(&event, &key);
            }
        });
        for (name, listener) in [("click", click), ("keydown", key)] {
            let _ = self
                .root
                .add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
            self.listeners.borrow_mut().push(listener);
        }
        #[cfg(feature = "channels")]
        if let Some(window) = crate::dom::window() {
            for name in ["touchpoint:delivered", "touchpoint:rejected"] {
                let weak = Rc::downgrade(self);
                let outcome = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                    if let Some(w) = weak.upgrade() {
                        w.on_outcome(&event);
                    }
                });
                let _ =
                    window.add_event_listener_with_callback(name, outcome.as_ref().unchecked_ref());
                self.listeners.borrow_mut().push(outcome);
            }
        }
    }

    /// The shadow root, for tests and for sites that inspect it (it is open).
    pub fn root(&self) -> &ShadowRoot {
        &self.root
    }

    /// Changes what the next survey answers for; a survey not yet sent starts over.
    pub fn configure(&self, settings: Settings) {
        if let Ok(mut s) = self.settings.try_borrow_mut() {
            *s = settings;
        }
        if let Some(old) = self.panel.try_borrow_mut().ok().and_then(|mut p| p.take()) {
            old.el.remove();
        }
        if let Some(b) = &self.launcher {
            b.set_text_content(Some(self.settings.borrow().texts.ui.feedback));
        }
    }

    pub fn is_open(&self) -> bool {
        self.panel
            .try_borrow()
            .ok()
            .and_then(|p| p.as_ref().map(|p| is_shown(&p.el) && !p.unopened))
            .unwrap_or(false)
    }

    /// The launcher's panel, built while the page is idle and laid out invisibly (its style,
    /// layout and fonts done then), so that the first open only reveals it instead of doing all
    /// of that inside the click.
    fn build_ahead(&self) {
        let Ok(mut slot) = self.panel.try_borrow_mut() else {
            return;
        };
        if slot.is_none() {
            let panel = self.build();
            set_inert(&panel.el, true);
            show(&panel.el, true);
            append(&self.root, &panel.el);
            *slot = Some(panel);
        }
    }

    /// Shows the survey (a fresh one, with a new id, after a sent one) and optionally focuses it.
    pub fn open(&self, with_focus: bool) {
        let Ok(mut slot) = self.panel.try_borrow_mut() else {
            return;
        };
        if slot.as_ref().is_none_or(|p| p.sent) {
            if let Some(old) = slot.take() {
                old.el.remove();
            }
            *slot = Some(self.build());
        }
        let Some(panel) = slot.as_mut() else {
            return;
        };
        if panel.unopened {
            // This is when the survey opens, so this is when its id is made (a panel built ahead
            // of time becomes interactive too).
            panel.unopened = false;
            panel.id = new_id();
            set_inert(&panel.el, false);
        }
        append(&self.root, &panel.el);
        show(&panel.el, true);
        let target = panel.first_stop();
        drop(slot);
        if let Some(b) = &self.launcher {
            set(b, "aria-expanded", "true");
        }
        if let (true, Some(t)) = (with_focus, target) {
            focus(&t);
        }
        // The survey shows: from now on its answer may need delivering.
        #[cfg(not(feature = "channels"))]
        self.sink.wake();
    }

    /// Hides the panel (launcher mode) and gives focus back to the launcher.
    pub fn close(&self) {
        let Some(launcher) = &self.launcher else {
            return;
        };
        if let Ok(mut slot) = self.panel.try_borrow_mut() {
            if let Some(panel) = slot.as_ref() {
                show(&panel.el, false);
            }
            if slot.as_ref().is_some_and(|p| p.sent) {
                if let Some(old) = slot.take() {
                    old.el.remove();
                }
            }
        }
        set(launcher, "aria-expanded", "false");
        focus(launcher);
    }

    fn on_click(&self, event: &Event) {
        self.touch();
        let Some(target) = acting(event, "[data-act]") else {
            // Nothing to act on (or the idle callback): a launcher's panel is built ahead.
            if self.launcher.is_some() {
                self.build_ahead();
            }
            return;
        };
        match target.get_attribute("data-act").as_deref() {
            #[cfg(feature = "channels")]
            Some("lang") => {
                if let Some(i) = index_attr(&target, "data-i") {
                    self.start_in(i);
                }
            }
            #[cfg(feature = "channels")]
            Some("assist") => {
                show(&target, false);
                self.assist();
            }
            Some("open") if self.is_open() => self.close(),
            Some("open") => self.open(true),
            Some("close") => self.close(),
            Some("send") => self.send(),
            Some("opt") => {
                if let (Some(q), Some(i)) =
                    (index_attr(&target, "data-q"), index_attr(&target, "data-i"))
                {
                    self.choose(q, i);
                }
            }
            _ => {}
        }
    }

    fn on_key(&self, event: &Event, key: &str) {
        self.touch();
        if key == "Escape" {
            if self.launcher.is_some() && self.is_open() {
                event.prevent_default();
                self.close();
            }
            return;
        }
        let Some(option) = acting(event, "[data-act=opt]") else {
            return;
        };
        let (Some(q), Some(i)) = (index_attr(&option, "data-q"), index_attr(&option, "data-i"))
        else {
            return;
        };
        let (len, rtl) = match self
            .panel
            .try_borrow()
            .ok()
            .as_deref()
            .and_then(Option::as_ref)
        {
            Some(p) => (p.groups.get(q).map_or(0, Vec::len), p.rtl),
            None => return,
        };
        if len == 0 {
            return;
        }
        let (back, forward) = ((i + len - 1) % len, (i + 1) % len);
        let next = match key {
            "ArrowDown" => forward,
            "ArrowUp" => back,
            "ArrowRight" if rtl => back,
            "ArrowRight" => forward,
            "ArrowLeft" if rtl => forward,
            "ArrowLeft" => back,
            "Home" => 0,
            "End" => len - 1,
            " " | "Enter" => i,
            _ => return,
        };
        event.prevent_default();
        self.choose(q, next);
    }

    /// Checks an option and moves focus to it.
    fn choose(&self, q: usize, i: usize) {
        let chosen = self
            .panel
            .try_borrow_mut()
            .ok()
            .and_then(|mut p| p.as_mut().and_then(|p| p.select(q, i)));
        if let Some(el) = chosen {
            focus(&el);
        }
    }

    /// Send: the answer goes to the outbox (storage first, then the network) and the panel thanks
    /// the person; with nothing chosen, it asks for one answer instead.
    fn send(&self) {
        let page = crate::dom::window()
            .and_then(|w| w.location().pathname().ok())
            .unwrap_or_default();
        let (Ok(settings), Ok(mut slot)) =
            (self.settings.try_borrow(), self.panel.try_borrow_mut())
        else {
            return;
        };
        let Some(panel) = slot.as_mut().filter(|p| !p.sent && !p.unopened) else {
            return;
        };
        let origin = Origin {
            touchpoint: &settings.touchpoint,
            channel: settings.channel,
            locale: settings.texts.code,
            context: &settings.context,
            page: (settings.channel == Channel::Web).then_some(page.as_str()),
        };
        let ui = &settings.texts.ui;
        let answer = submission(
            &panel.id,
            panel.choices,
            &panel.comment.value(),
            &origin,
            Date::now(),
        );
        let Ok(answer) = answer else {
            panel.status.set_text_content(Some(ui.need_answer));
            let first = panel.first_stop();
            drop((slot, settings));
            if let Some(f) = first {
                focus(&f);
            }
            return;
        };
        panel.sent = true;
        show(&panel.form, false);
        panel.status.set_text_content(Some(ui.thank_you));
        let (id, status) = (panel.id.clone(), panel.status.clone());
        // Listeners of the events below may call the widget again.
        drop((slot, settings));
        #[cfg(feature = "channels")]
        if let Some(k) = &self.kiosk {
            k.sent_at.set(Some(Date::now()));
        }
        focus(&status);
        self.sink.submit(&id, answer.to_json());
        dispatch(
            "touchpoint:submitted",
            &object(&[("id", JsValue::from_str(&id))]),
        );
    }

    /// Builds a fresh survey panel (hidden); [`Widget::open`] gives it its submission id.
    fn build(&self) -> Panel {
        let doc = &self.doc;
        let t = self.settings.borrow().texts;
        let inline = self.launcher.is_none();
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
                    "class", "close", "type", "button", "part", "close", "data-act", "close",
                ],
                "×",
            );
            set(&close, "aria-label", t.ui.close);
        }

        let form = add(doc, Some(&el), "div", &["class", "form"], "");
        let questions: [(&str, &[&str]); 3] = [
            (t.effort, &t.effort_labels),
            (t.confidence, &t.confidence_labels),
            (t.emotion, &t.emotion_labels),
        ];
        let mut groups: [Vec<Element>; 3] = Default::default();
        for (q, ((question, labels), options)) in questions.iter().zip(&mut groups).enumerate() {
            let group = add(
                doc,
                Some(&form),
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
            let emotion = q == 2;
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
                        "opt",
                    ],
                    "",
                );
                set(&b, "class", if emotion { "opt em" } else { "opt" });
                set(&b, "tabindex", if i == 0 { "0" } else { "-1" });
                set(&b, "data-q", &digit(q));
                set(&b, "data-i", &digit(i));
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
                    b.set_text_content(Some(&digit(i + 1)));
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

        let label = add(doc, Some(&form), "label", &["class", "ct"], "");
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
            Some(&form),
            "button",
            &[
                "class", "send", "type", "button", "part", "send", "data-act", "send",
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

        Panel {
            el,
            form,
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

#[cfg(feature = "channels")]
/// `ceil` for the countdown's positive seconds, without linking libm.
fn libm_ceil(x: f64) -> u64 {
    let whole = x as u64;
    if (whole as f64) < x {
        whole + 1
    } else {
        whole
    }
}

#[cfg(feature = "channels")]
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

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "channels")]
    use crate::delivery::courier::Courier;
    #[cfg(feature = "channels")]
    use crate::delivery::outbox::Outbox;
    use crate::delivery::outbox::Store;
    #[cfg(not(feature = "channels"))]
    use js_sys::Reflect;
    use protocol::CORE_CX;
    use wasm_bindgen_test::wasm_bindgen_test;
    use web_sys::{HtmlElement, KeyboardEvent, KeyboardEventInit};

    /// The kiosk and agent module's sink: a courier posting to a port nothing listens on.
    #[cfg(feature = "channels")]
    fn sink() -> Sink {
        Courier::with_outbox(
            "http://127.0.0.1:9",
            Outbox::new(Store::with(None), "test".into()),
        )
    }

    /// The web module's sink: a loader whose `deliver` records each call in its array `calls`:
    /// `[id, body, whether storage already held that body]`, or `[]` for a wake-up.
    #[cfg(not(feature = "channels"))]
    fn sink() -> Sink {
        let loader = js_sys::Object::new();
        let calls = Array::new();
        Reflect::set(&loader, &"calls".into(), &calls).unwrap();
        let deliver = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |id: JsValue, body| {
            let call = Array::new();
            if let (Some(id), Some(body)) = (id.as_string(), JsValue::as_string(&body)) {
                let key = crate::delivery::outbox::key(crate::delivery::outbox::ITEM_PREFIX, &id);
                let stored = Store::local().get(&key).as_deref() == Some(body.as_str());
                Store::local().remove(&key);
                call.push(&id.into());
                call.push(&body.into());
                call.push(&stored.into());
            }
            calls.push(&call);
        });
        Reflect::set(&loader, &"deliver".into(), deliver.as_ref()).unwrap();
        deliver.forget();
        crate::delivery::handoff::Handoff::new(loader.into())
    }

    /// What the widget's Send handed on: `(id, body)`, oldest first.
    #[cfg(feature = "channels")]
    fn sent(w: &Widget) -> Vec<(String, String)> {
        let outbox = w.sink.outbox().borrow();
        outbox
            .items()
            .iter()
            .map(|i| (i.id.clone(), i.body.clone()))
            .collect()
    }

    /// What the widget's Send handed on: `(id, body)`, oldest first. Each was in storage first.
    #[cfg(not(feature = "channels"))]
    fn sent(w: &Widget) -> Vec<(String, String)> {
        loader_calls(w)
            .into_iter()
            .filter(|c| c.length() == 3)
            .map(|c| {
                assert_eq!(c.get(2), JsValue::TRUE, "stored before the hand-over");
                (c.get(0).as_string().unwrap(), c.get(1).as_string().unwrap())
            })
            .collect()
    }

    #[cfg(not(feature = "channels"))]
    fn loader_calls(w: &Widget) -> Vec<Array> {
        let calls = Reflect::get(w.sink.loader(), &"calls".into()).unwrap();
        calls
            .unchecked_into::<Array>()
            .iter()
            .map(JsCast::unchecked_into)
            .collect()
    }

    /// A widget on a fresh sink (see [`sink`]).
    fn widget(locale: &str, inline: bool) -> Rc<Widget> {
        let settings = Settings {
            touchpoint: Ident::parse("checkout").unwrap(),
            channel: Channel::Web,
            context: Context::default(),
            texts: CORE_CX.locale(locale).unwrap(),
        };
        let doc = web_sys::window().unwrap().document().unwrap();
        let container = doc.create_element("div").unwrap();
        doc.body().unwrap().append_child(&container).unwrap();
        let mode = if inline { Mode::Inline } else { Mode::Launcher };
        Widget::mount(
            settings,
            mode,
            inline.then_some(&container),
            sink(),
            #[cfg(feature = "channels")]
            Timers {
                reset_ms: 5_000.0,
                idle_ms: 30_000.0,
            },
        )
        .unwrap()
    }

    fn all(w: &Widget, selector: &str) -> Vec<Element> {
        let list = w.root().query_selector_all(selector).unwrap();
        (0..list.length())
            .filter_map(|i| list.item(i)?.dyn_into().ok())
            .collect()
    }

    fn one(w: &Widget, selector: &str) -> Element {
        w.root().query_selector(selector).unwrap().unwrap()
    }

    fn attr(el: &Element, name: &str) -> String {
        el.get_attribute(name).unwrap_or_default()
    }

    fn press(el: &Element, key: &str) {
        let init = KeyboardEventInit::new();
        init.set_key(key);
        init.set_bubbles(true);
        init.set_cancelable(true);
        let event = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
        el.dispatch_event(&event).unwrap();
    }

    fn click(el: &Element) {
        el.dyn_ref::<HtmlElement>().unwrap().click();
    }

    fn focused(w: &Widget) -> Option<Element> {
        w.root().active_element()
    }

    #[wasm_bindgen_test]
    fn the_launcher_opens_a_panel_with_the_documented_roles_and_names() {
        let w = widget("en", false);
        let launcher = one(&w, "button[part=launcher]");
        assert!(launcher.text_content().unwrap().contains("Feedback"));
        assert_eq!(attr(&launcher, "aria-expanded"), "false");
        assert!(all(&w, "[role=radiogroup]").is_empty(), "built lazily");
        click(&launcher);
        assert!(w.is_open());
        assert_eq!(attr(&launcher, "aria-expanded"), "true");

        let groups = all(&w, "[role=radiogroup]");
        let names: Vec<_> = groups.iter().map(|g| attr(g, "aria-label")).collect();
        assert_eq!(
            names,
            [
                CORE_CX.locales[0].effort,
                CORE_CX.locales[0].confidence,
                CORE_CX.locales[0].emotion
            ]
        );
        let radios: Vec<Vec<String>> = groups
            .iter()
            .map(|g| {
                let list = g.query_selector_all("[role=radio]").unwrap();
                (0..list.length())
                    .filter_map(|i| list.item(i)?.dyn_into::<Element>().ok())
                    .map(|r| attr(&r, "aria-label"))
                    .collect()
            })
            .collect();
        assert_eq!(radios[0].len(), 7);
        assert_eq!(radios[0][5], "6 – easy");
        assert_eq!(radios[0][0], "1 – very difficult");
        assert_eq!(
            radios[1],
            [
                "1 – not at all",
                "2 – slightly",
                "3 – moderately",
                "4 – very",
                "5 – completely"
            ]
        );
        assert_eq!(
            radios[2],
            ["angry", "frustrated", "neutral", "pleased", "delighted"]
        );
        assert!(all(&w, "[role=radio]")
            .iter()
            .all(|r| attr(r, "aria-checked") == "false"));

        let comment = one(&w, "textarea");
        assert_eq!(attr(&comment, "aria-label"), "Anything we could do better?");
        assert_eq!(
            one(&w, "button[part=send]").text_content().as_deref(),
            Some("Send")
        );
        assert_eq!(attr(&one(&w, "[part=status]"), "role"), "status");
        assert_eq!(attr(&one(&w, "[part=panel]"), "role"), "dialog");
        // Focus went into the survey, on the first option.
        assert_eq!(
            focused(&w).map(|f| attr(&f, "aria-label")).as_deref(),
            Some("1 – very difficult")
        );
        // Styles come only from the adopted sheet.
        assert_eq!(w.root().adopted_style_sheets().length(), 1);
        assert!(all(&w, "style, [style]").is_empty());
    }

    #[wasm_bindgen_test]
    fn the_panel_built_ahead_stays_invisible_and_gets_its_id_when_it_opens() {
        let w = widget("en", false);
        w.build_ahead();
        let panel = one(&w, "[part=panel]");
        assert!(panel.has_attribute("inert") && !panel.has_attribute("hidden"));
        assert_eq!(all(&w, "[role=radiogroup]").len(), 3, "laid out ahead");
        assert!(!w.is_open());
        let ahead_id = w.panel.borrow().as_ref().unwrap().id.clone();
        // A click that acts on nothing (and the idle callback) builds nothing more.
        w.build_ahead();
        assert_eq!(all(&w, "[part=panel]").len(), 1);

        click(&one(&w, "button[part=launcher]"));
        assert!(w.is_open());
        assert!(!panel.has_attribute("inert"));
        assert_eq!(all(&w, "[part=panel]").len(), 1, "the same panel, revealed");
        let opened_id = w.panel.borrow().as_ref().unwrap().id.clone();
        assert_ne!(opened_id, ahead_id, "the id is made when the survey opens");
        assert_eq!(focused(&w).as_ref(), all(&w, "[role=radio]").first());
        w.close();
        assert!(!w.is_open());
        click(&one(&w, "button[part=launcher]"));
        let reopened_id = w.panel.borrow().as_ref().unwrap().id.clone();
        assert_eq!(
            reopened_id, opened_id,
            "reopening keeps the survey being filled in"
        );
    }

    #[wasm_bindgen(inline_js = r#"
export function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }
export function hideIdle() { const f = window.requestIdleCallback; delete window.requestIdleCallback; window.requestIdleCallback = undefined; return f; }
export function restoreIdle(f) { window.requestIdleCallback = f; }
"#)]
    extern "C" {
        fn sleep(ms: u32) -> js_sys::Promise;
        #[wasm_bindgen(js_name = hideIdle)]
        fn hide_idle() -> JsValue;
        #[wasm_bindgen(js_name = restoreIdle)]
        fn restore_idle(f: &JsValue);
    }

    #[wasm_bindgen_test]
    async fn the_panel_is_built_ahead_when_idle_and_without_request_idle_callback() {
        use wasm_bindgen_futures::JsFuture;
        let w = widget("en", false);
        JsFuture::from(sleep(300)).await.unwrap();
        assert_eq!(
            all(&w, "[part=panel][inert]").len(),
            1,
            "built in idle time"
        );
        // A browser without requestIdleCallback (Safari): a timer instead.
        let idle = hide_idle();
        let w = widget("en", false);
        restore_idle(&idle);
        assert!(all(&w, "[part=panel]").is_empty());
        JsFuture::from(sleep(1_700)).await.unwrap();
        assert_eq!(
            all(&w, "[part=panel][inert]").len(),
            1,
            "built after the timer"
        );
        assert!(!w.is_open());
    }

    #[wasm_bindgen_test]
    fn arrows_move_the_single_tab_stop_and_check_space_selects_escape_closes() {
        let w = widget("en", false);
        w.open(true);
        let effort = all(&w, "[role=radiogroup]")[0].clone();
        let radios = |g: &Element| -> Vec<Element> {
            let list = g.query_selector_all("[role=radio]").unwrap();
            (0..list.length())
                .filter_map(|i| list.item(i)?.dyn_into().ok())
                .collect()
        };
        let options = radios(&effort);
        let tab_stops = || {
            options
                .iter()
                .filter(|o| attr(o, "tabindex") == "0")
                .count()
        };
        assert_eq!(tab_stops(), 1);
        press(&options[0], " ");
        assert_eq!(attr(&options[0], "aria-checked"), "true");
        press(&options[0], "ArrowRight");
        assert_eq!(attr(&options[1], "aria-checked"), "true");
        assert_eq!(attr(&options[0], "aria-checked"), "false");
        assert_eq!(attr(&options[1], "tabindex"), "0");
        assert_eq!(tab_stops(), 1);
        assert_eq!(focused(&w).as_ref(), Some(&options[1]));
        press(&options[1], "ArrowUp");
        press(&options[0], "ArrowLeft");
        assert_eq!(attr(&options[6], "aria-checked"), "true", "wraps around");
        press(&options[6], "Home");
        assert_eq!(attr(&options[0], "aria-checked"), "true");
        press(&options[0], "End");
        assert_eq!(focused(&w).as_ref(), Some(&options[6]));
        let launcher = one(&w, "button[part=launcher]");
        press(&options[6], "Escape");
        assert!(!w.is_open());
        assert_eq!(focused(&w).as_ref(), Some(&launcher));
        // Reopening keeps the half-filled survey.
        w.open(true);
        assert_eq!(attr(&options[6], "aria-checked"), "true");
        assert_eq!(focused(&w).as_ref(), Some(&options[6]));
    }

    #[wasm_bindgen_test]
    fn right_to_left_mirrors_the_arrows() {
        let w = widget("ar", true);
        let panel = one(&w, "[part=panel]");
        assert_eq!(attr(&panel, "dir"), "rtl");
        assert_eq!(attr(&panel, "lang"), "ar");
        assert!(w.is_open(), "inline mode shows at once");
        assert!(all(&w, "button[part=launcher]").is_empty());
        let options = all(&w, "[role=radiogroup]:first-of-type [role=radio]");
        press(&options[0], "ArrowLeft");
        assert_eq!(attr(&options[1], "aria-checked"), "true");
        press(&options[1], "ArrowRight");
        assert_eq!(attr(&options[0], "aria-checked"), "true");
    }

    #[wasm_bindgen_test]
    fn send_asks_for_an_answer_then_queues_it_and_thanks() {
        let w = widget("en", true);
        let status = one(&w, "[role=status]");
        let send = one(&w, "button[part=send]");
        click(&send);
        assert_eq!(
            status.text_content().as_deref(),
            Some("Please answer at least one question.")
        );
        assert!(sent(&w).is_empty());
        click(&all(&w, "[role=radio]")[14]); // the third emotion: neutral
        one(&w, "textarea")
            .dyn_into::<HtmlTextAreaElement>()
            .unwrap()
            .set_value("quick");
        click(&send);
        assert_eq!(
            status.text_content().as_deref(),
            Some("Thank you for your feedback!")
        );
        let (first, body) = sent(&w).remove(0);
        assert!(
            body.contains("\"answers\":{\"emotion\":\"neutral\"}"),
            "{body}"
        );
        assert!(body.contains("\"comment\":\"quick\""), "{body}");
        assert!(
            body.contains("\"channel\":\"web\",\"touchpoint\":\"checkout\""),
            "{body}"
        );
        // A second open starts a new survey with a new id.
        w.open(false);
        click(&all(&w, "[role=radio]")[0]);
        click(&one(&w, "button[part=send]"));
        let ids: Vec<_> = sent(&w).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[1], first);
    }

    #[cfg(not(feature = "channels"))]
    #[wasm_bindgen_test]
    fn the_delivery_module_is_woken_when_the_survey_shows_not_before() {
        let w = widget("en", false);
        w.build_ahead();
        assert!(
            loader_calls(&w).is_empty(),
            "a launcher alone wakes nothing"
        );
        w.open(false);
        let calls = loader_calls(&w);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].length(), 0, "a wake-up carries no answer");
        click(&all(&w, "[role=radio]")[0]);
        click(&one(&w, "button[part=send]"));
        assert_eq!(sent(&w).len(), 1);
    }
}

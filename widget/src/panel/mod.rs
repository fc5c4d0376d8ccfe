//! The survey on the page, the same for every channel: a host element with an open shadow root,
//! a launcher button or an inline panel, the survey [`form`], keyboard and Send. One click and
//! one keydown listener serve the whole tree; each event becomes one [`act::Act`].
//!
//! A channel adds to it through [`Hooks`]: the web module adds nothing (`()`); the kiosk and
//! agent module (`channels/`) adds the attract screen, the timers and the invitations.

pub mod act;
pub mod form;
#[cfg(test)]
mod tests;

use alloc::rc::Rc;
use core::cell::{Ref, RefCell};

use js_sys::{Array, Date};
use protocol::{Channel, Context, Ident, LocaleTexts};
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::{CssStyleSheet, Document, Element, Event, ShadowRoot};

use self::act::{Act, Keyed, OPEN};
use self::form::Form;
use crate::config::{Config, Mode};
use crate::delivery::Sink;
use crate::dom::{
    add, append, dispatch, focus, is_shown, note, object, set, set_inert, show, when_idle, Note,
};
use crate::ids::new_id;
use crate::survey::{submission, Origin, Question};
use crate::Borrowed as _;

/// The widget's event listener.
type Listener = Closure<dyn FnMut(Event)>;

/// What the next survey answers for, and in which language.
#[derive(Debug, Clone)]
pub struct Settings {
    pub touchpoint: Ident,
    pub channel: Channel,
    pub context: Context,
    pub texts: &'static LocaleTexts,
}

/// What a channel adds to the shared widget. Every method has a default that adds nothing,
/// which is the web module's channel (`()`), so a web page's build carries none of it.
pub trait Hooks: Sized + 'static {
    /// The channel's own clicks (its elements' `data-act` values).
    type Act;

    /// The channel's state for a widget in `mode`, made as the widget mounts; `config` has the
    /// rest of the loader's settings (the kiosk's timers).
    fn new(
        doc: &Document,
        root: &ShadowRoot,
        settings: &Settings,
        mode: Mode,
        config: &Config,
    ) -> Self;

    /// Whether the widget takes the whole screen in `mode` (the kiosk): it then ignores a
    /// container.
    fn full_screen(_mode: Mode) -> bool {
        false
    }

    /// The widget is on the page and listening.
    fn mounted(_widget: &Rc<Widget<Self>>) {}

    /// The channel's act for a `data-act` value the panel does not know.
    fn act(_name: &str, _el: &Element) -> Option<Self::Act> {
        None
    }

    /// Does what the channel's act asks.
    fn on_act(_widget: &Widget<Self>, _act: Self::Act) {}

    /// Someone touched the widget (a click or a key).
    fn touched(_widget: &Widget<Self>) {}

    /// The survey on show was sent.
    fn sent(_widget: &Widget<Self>) {}
}

/// The web module's channel: the launcher and inline panel alone.
impl Hooks for () {
    type Act = core::convert::Infallible;

    fn new(_: &Document, _: &ShadowRoot, _: &Settings, _: Mode, _: &Config) -> Self {}
}

/// The widget on the page.
pub struct Widget<H: Hooks> {
    doc: Document,
    root: ShadowRoot,
    launcher: Option<Element>,
    settings: RefCell<Settings>,
    sink: Sink,
    form: RefCell<Option<Form>>,
    /// The one click and keydown listener, kept alive as long as the widget is on the page.
    listener: RefCell<Option<Listener>>,
    hooks: H,
}

impl<H: Hooks> Widget<H> {
    /// Puts the widget on the page: inside `container` (inline, and agent mode when given one),
    /// full-screen (kiosk), or in a corner appended to `<body>` (launcher, agent); `config` is
    /// the loader's settings, for the channel. `None` when the browser lacks what it needs (a
    /// warning says which).
    pub fn mount(
        settings: Settings,
        mode: Mode,
        container: Option<&Element>,
        sink: Sink,
        config: &Config,
    ) -> Option<Rc<Self>> {
        let doc = crate::dom::window()?.document()?;
        let full_screen = H::full_screen(mode);
        let container = container.filter(|_| !full_screen);
        let host_mode = match (full_screen, container.is_some()) {
            (true, _) => "kiosk",
            (_, true) => "inline",
            _ => "launcher",
        };
        let host = add(&doc, None, "touchpoint-widget", &["mode", host_mode], "");
        let root = host
            .attach_shadow(&object(&[("mode", JsValue::from_str("open"))]).unchecked_into())
            .ok()?;
        let sheet = CssStyleSheet::new().ok();
        let Some(sheet) = sheet.filter(|s| s.replace_sync(&crate::style::sheet(config)).is_ok())
        else {
            note(Note::NoSheets);
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
                    OPEN,
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
        let hooks = H::new(&doc, &root, &settings, mode, config);
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
            form: RefCell::new(None),
            listener: RefCell::new(None),
            hooks,
        });
        widget.listen();
        if widget.launcher.is_some() {
            // The listener doubles as the idle callback: called with an `IdleDeadline` (no key,
            // no target), it builds the panel ahead (see `on_click`).
            if let Some(listener) = widget.listener.shared().as_ref() {
                when_idle(listener.as_ref());
            }
        }
        if mode == Mode::Inline {
            widget.open(false);
        }
        H::mounted(&widget);
        Some(widget)
    }

    /// One listener for clicks and keys (a click has no `key`); it is also the idle callback.
    fn listen(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let listener = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            if let Some(w) = weak.upgrade() {
                match event.unchecked_ref::<Keyed>().key() {
                    Some(key) => w.on_key(&event, &key),
                    None => w.on_click(&event),
                }
            }
        });
        for name in ["click", "keydown"] {
            let _ = self
                .root
                .add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
        }
        *self.listener.exclusive() = Some(listener);
    }

    /// The shadow root, for tests and for sites that inspect it (it is open).
    pub fn root(&self) -> &ShadowRoot {
        &self.root
    }

    /// The page's document.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// What the next survey answers for.
    pub fn settings(&self) -> Ref<'_, Settings> {
        self.settings.shared()
    }

    /// Where Send puts answers.
    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    /// The channel's state.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// Removes the survey on show, and all that was chosen and written in it, from the page.
    pub fn discard(&self) {
        if let Some(old) = self.form.try_borrow_mut().ok().and_then(|mut p| p.take()) {
            old.el.remove();
        }
    }

    /// The live status of the survey whose submission id is `id`, while it is on the page.
    pub fn status_of(&self, id: &str) -> Option<Element> {
        let slot = self.form.try_borrow().ok()?;
        slot.as_ref()
            .filter(|f| f.id == id)
            .map(|f| f.status.clone())
    }

    /// Changes what the next survey answers for; a survey not yet sent starts over.
    pub fn configure(&self, settings: Settings) {
        if let Ok(mut s) = self.settings.try_borrow_mut() {
            *s = settings;
        }
        self.discard();
        if let Some(b) = &self.launcher {
            b.set_text_content(Some(self.settings.shared().texts.ui.feedback));
        }
    }

    pub fn is_open(&self) -> bool {
        self.form
            .try_borrow()
            .ok()
            .and_then(|p| p.as_ref().map(|p| is_shown(&p.el) && !p.unopened))
            .unwrap_or(false)
    }

    /// A fresh survey in the current language (hidden); [`Widget::open`] gives it its id.
    fn build(&self) -> Form {
        Form::build(
            &self.doc,
            self.settings.shared().texts,
            self.launcher.is_none(),
        )
    }

    /// The launcher's panel, built while the page is idle and laid out invisibly (its style,
    /// layout and fonts done then), so that the first open only reveals it instead of doing all
    /// of that inside the click.
    fn build_ahead(&self) {
        let Ok(mut slot) = self.form.try_borrow_mut() else {
            return;
        };
        if slot.is_none() {
            let form = self.build();
            set_inert(&form.el, true);
            show(&form.el, true);
            append(&self.root, &form.el);
            *slot = Some(form);
        }
    }

    /// Shows the survey (a fresh one, with a new id, after a sent one) and optionally focuses it.
    pub fn open(&self, with_focus: bool) {
        let Ok(mut slot) = self.form.try_borrow_mut() else {
            return;
        };
        if slot.as_ref().is_none_or(|p| p.sent) {
            if let Some(old) = slot.take() {
                old.el.remove();
            }
            *slot = Some(self.build());
        }
        let Some(form) = slot.as_mut() else {
            return;
        };
        if form.unopened {
            // This is when the survey opens, so this is when its id is made (a panel built ahead
            // of time becomes interactive too).
            form.unopened = false;
            form.id = new_id();
            set_inert(&form.el, false);
        }
        append(&self.root, &form.el);
        show(&form.el, true);
        let target = form.first_stop();
        drop(slot);
        if let Some(b) = &self.launcher {
            set(b, "aria-expanded", "true");
        }
        if let (true, Some(t)) = (with_focus, target) {
            focus(&t);
        }
    }

    /// Hides the panel (launcher mode) and gives focus back to the launcher.
    pub fn close(&self) {
        let Some(launcher) = &self.launcher else {
            return;
        };
        if let Ok(mut slot) = self.form.try_borrow_mut() {
            if let Some(form) = slot.as_ref() {
                show(&form.el, false);
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
        H::touched(self);
        let Some(act) = Act::of(event, H::act) else {
            // Nothing to act on (or the idle callback): a launcher's panel is built ahead.
            if self.launcher.is_some() {
                self.build_ahead();
            }
            return;
        };
        match act {
            Act::Open if self.is_open() => self.close(),
            Act::Open => self.open(true),
            Act::Close => self.close(),
            Act::Send => self.send(),
            Act::Choose { question, option } => self.choose(question, option),
            Act::Channel(act) => H::on_act(self, act),
        }
    }

    fn on_key(&self, event: &Event, key: &str) {
        H::touched(self);
        if key == "Escape" {
            if self.launcher.is_some() && self.is_open() {
                event.prevent_default();
                self.close();
            }
            return;
        }
        let Some(Act::Choose { question, option }) = Act::of(event, H::act) else {
            return;
        };
        let (len, rtl) = match self
            .form
            .try_borrow()
            .ok()
            .as_deref()
            .and_then(Option::as_ref)
        {
            Some(f) => (f.options(question).len(), f.rtl),
            None => return,
        };
        if len == 0 {
            return;
        }
        let (back, forward) = ((option + len - 1) % len, (option + 1) % len);
        let next = match key {
            "ArrowDown" => forward,
            "ArrowUp" => back,
            "ArrowRight" if rtl => back,
            "ArrowRight" => forward,
            "ArrowLeft" if rtl => forward,
            "ArrowLeft" => back,
            "Home" => 0,
            "End" => len - 1,
            " " | "Enter" => option,
            _ => return,
        };
        event.prevent_default();
        self.choose(question, next);
    }

    /// Checks an option and moves focus to it.
    fn choose(&self, question: Question, option: usize) {
        let chosen = self
            .form
            .try_borrow_mut()
            .ok()
            .and_then(|mut p| p.as_mut().and_then(|p| p.select(question, option)));
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
        let (Ok(settings), Ok(mut slot)) = (self.settings.try_borrow(), self.form.try_borrow_mut())
        else {
            return;
        };
        let Some(form) = slot.as_mut().filter(|p| !p.sent && !p.unopened) else {
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
            &form.id,
            form.choices,
            &form.comment.value(),
            &origin,
            Date::now(),
        );
        let Ok(answer) = answer else {
            form.status.set_text_content(Some(ui.need_answer));
            let first = form.first_stop();
            drop((slot, settings));
            if let Some(f) = first {
                focus(&f);
            }
            return;
        };
        form.sent = true;
        show(&form.fields, false);
        form.status.set_text_content(Some(ui.thank_you));
        let (id, status) = (form.id.clone(), form.status.clone());
        // Listeners of the events below may call the widget again.
        drop((slot, settings));
        H::sent(self);
        focus(&status);
        self.sink.submit(&id, answer.to_json());
        dispatch(
            "touchpoint:submitted",
            &object(&[("id", JsValue::from_str(&id))]),
        );
    }
}

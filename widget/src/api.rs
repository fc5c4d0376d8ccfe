//! The survey modules' JS API (`start`, `open`, `close`, `postCall`): the web modules and the
//! kiosk and agent module export it; the delivery module does not.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use crate::config::{self, Config, Mode, BAD_TOUCHPOINT};
#[cfg(feature = "channels")]
use crate::delivery::courier::Courier;
use crate::dom::{error, warn};
#[cfg(feature = "channels")]
use crate::invite;
use crate::ui::{Settings, Sink, Widget};
use crate::Global;
#[cfg(feature = "channels")]
use protocol::Ident;

/// What `start` set up; the JS API works on it.
struct State {
    config: Config,
    /// Where answers go; `None` without a collector URL.
    sink: Option<Sink>,
    widget: Option<Rc<Widget>>,
}

static STATE: Global<State> = Global(RefCell::new(None));

fn browser_language() -> String {
    crate::dom::window()
        .and_then(|w| w.navigator().language())
        .unwrap_or_default()
}

/// What the next survey answers with, from the current configuration.
fn settings(config: &Config) -> Option<Settings> {
    Some(Settings {
        touchpoint: config.touchpoint.clone()?,
        channel: config.channel,
        context: config.context.clone(),
        texts: config.texts,
    })
}

/// Mounts the survey for `config` if it can be shown; reports why not otherwise.
fn mount(config: &Config, sink: &Sink) -> Option<Rc<Widget>> {
    let settings = settings(config)?;
    #[cfg(feature = "channels")]
    let timers = crate::ui::Timers {
        reset_ms: config.reset_ms,
        idle_ms: config.idle_ms,
    };
    let container = match config.mode {
        Mode::Launcher => None,
        #[cfg(feature = "channels")]
        Mode::Kiosk => None,
        #[cfg(feature = "channels")]
        Mode::Agent => config.target.as_deref().and_then(|selector| {
            crate::dom::window()
                .and_then(|w| w.document())
                .and_then(|d| d.query_selector(selector).ok().flatten())
        }),
        Mode::Inline => {
            let selector = config.target.as_deref()?;
            let found = crate::dom::window()
                .and_then(|w| w.document())
                .and_then(|d| d.query_selector(selector).ok().flatten());
            if found.is_none() {
                error("touchpoint: data-target matches no element on the page; the survey is not shown");
            }
            Some(found?)
        }
    };
    Widget::mount(
        settings,
        config.mode,
        container.as_ref(),
        sink.clone(),
        #[cfg(feature = "channels")]
        timers,
    )
}

/// Starts the widget with the loader's settings `{base, touchpoint, mode, target, locale,
/// segment}` (strings; see [`config::Config::read`]). Never throws: problems go to the console.
#[wasm_bindgen]
pub fn start(loader: JsValue) {
    if STATE.0.try_borrow().map_or(true, |s| s.is_some()) {
        warn("touchpoint: the widget is already on this page; the second script tag is ignored");
        return;
    }
    // Debug builds have std's panic machinery: the same one fixed message.
    #[cfg(debug_assertions)]
    std::panic::set_hook(std::boxed::Box::new(|_| {
        error("touchpoint: internal error; the widget stopped")
    }));
    let (config, notes) = Config::read(&loader, &browser_language());
    for (is_error, note) in notes {
        if is_error {
            error(note);
        } else {
            warn(note);
        }
    }
    // A kiosk delivers all day: its courier is in this module and starts now. A web page hands
    // answers to the loader, which loads the delivery module when there is something to send.
    #[cfg(feature = "channels")]
    let sink = config.base.as_deref().map(Courier::new);
    #[cfg(feature = "channels")]
    if let Some(c) = &sink {
        c.start();
    }
    #[cfg(not(feature = "channels"))]
    let sink = config
        .base
        .as_ref()
        .map(|_| crate::delivery::handoff::Handoff::new(loader));
    let widget = sink.as_ref().and_then(|s| mount(&config, s));
    if let Ok(mut s) = STATE.0.try_borrow_mut() {
        *s = Some(State {
            config,
            sink,
            widget,
        });
    }
}

/// `Touchpoint.open(options?)`: shows the survey and focuses it. `options` may set `touchpoint`,
/// `segment` and `locale` for this and later surveys.
#[wasm_bindgen]
pub fn open(options: JsValue) {
    let Some((widget, settings)) = (|| {
        let mut state = STATE.0.try_borrow_mut().ok()?;
        let state = state.as_mut()?;
        let mut notes = Vec::new();
        let touchpoint = config::text(&options, "touchpoint");
        let overridden = touchpoint.is_some()
            || config::text(&options, "segment").is_some()
            || config::text(&options, "locale").is_some();
        if let Some(t) = touchpoint {
            state.config.touchpoint = protocol::Ident::parse(&t);
            if state.config.touchpoint.is_none() {
                error(BAD_TOUCHPOINT);
            }
        }
        if let Some(seg) = config::text(&options, "segment") {
            state.config.context.segment = protocol::Ident::parse(&seg);
        }
        if let Some(texts) = config::locale(config::text(&options, "locale").as_deref(), &mut notes)
        {
            state.config.texts = texts;
        }
        for (_, note) in notes {
            warn(note);
        }
        let sink = state.sink.clone()?;
        if state.widget.is_none() {
            state.widget = mount(&state.config, &sink);
            return state.widget.clone().map(|w| (w, None));
        }
        let settings = overridden.then(|| settings(&state.config)).flatten();
        state.widget.clone().map(|w| (w, settings))
    })() else {
        return;
    };
    if let Some(settings) = settings {
        widget.configure(settings);
    }
    widget.open(true);
}

/// `Touchpoint.close()`: hides the panel (launcher mode); focus returns to the launcher.
#[wasm_bindgen]
pub fn close() {
    if let Some(w) = (|| STATE.0.try_borrow().ok()?.as_ref()?.widget.clone())() {
        w.close();
    }
}

#[cfg(feature = "channels")]
pub const BAD_CALL: &str = "touchpoint: postCall needs interactionId and agentId (1-64 characters of A-Z a-z 0-9 . _ : / -); no survey link was made";
pub const NOT_AGENT: &str =
    "touchpoint: postCall works with data-mode=\"agent\" and data-agent-key on the script tag";

/// `Touchpoint.postCall(...)` on a web page: agent mode is in the other module (the loader loads it
/// for `data-mode="agent"`).
#[cfg(not(feature = "channels"))]
#[wasm_bindgen(js_name = postCall)]
pub fn post_call(_: JsValue) {
    error(NOT_AGENT);
}

/// `Touchpoint.postCall({interactionId, agentId, queue?, locale?})`: a call ended. Asks the
/// collector for the post-call invitation and shows its link, QR code and assisted capture.
#[cfg(feature = "channels")]
#[wasm_bindgen(js_name = postCall)]
pub fn post_call(options: JsValue) {
    let Some((widget, base, key, call)) = (|| {
        let state = STATE.0.try_borrow().ok()?;
        let state = state.as_ref()?;
        let config = &state.config;
        let key = match (config.mode, &config.agent_key) {
            (Mode::Agent, Some(key)) => key.clone(),
            _ => {
                error(NOT_AGENT);
                return None;
            }
        };
        let id = |k: &str| config::text(&options, k).and_then(|t| Ident::parse(&t));
        let (Some(interaction), Some(agent)) = (id("interactionId"), id("agentId")) else {
            error(BAD_CALL);
            return None;
        };
        let mut notes = Vec::new();
        let texts = config::locale(config::text(&options, "locale").as_deref(), &mut notes)
            .unwrap_or(config.texts);
        for (_, note) in notes {
            warn(note);
        }
        let call = invite::Call {
            touchpoint: config.touchpoint.clone()?,
            interaction,
            agent,
            queue: id("queue"),
            texts,
        };
        Some((state.widget.clone()?, config.base.clone()?, key, call))
    })() else {
        return;
    };
    let shown = call.clone();
    invite::request(&base, &key, &call, move |outcome| {
        widget.show_invitation(&shown, outcome)
    });
}

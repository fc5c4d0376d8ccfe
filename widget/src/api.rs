//! The widget's JS API (`start`, `open`, `close`, which every module exports, and `postCall`,
//! which only the kiosk and agent module has: the loader answers it elsewhere). This is where a
//! build's
//! channel is chosen: the web modules' widget adds nothing to the shared panel, the kiosk and
//! agent module's adds [`crate::channels`].

use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

#[cfg(feature = "channels")]
use crate::channels::{invite, Channels};
use crate::config::{self, Config, Mode};
use crate::delivery::{self, Sink};
use crate::dom::{note, Note};
use crate::panel::{Settings, Widget};
use crate::Global;

/// What this build adds to the shared panel.
#[cfg(feature = "channels")]
type Channel = Channels;
/// What this build adds to the shared panel: nothing (a web page's launcher and inline panel).
#[cfg(not(feature = "channels"))]
type Channel = ();

/// What `start` set up; the JS API works on it.
struct State {
    config: Config,
    /// Where answers go; `None` without a collector URL.
    sink: Option<Sink>,
    widget: Option<Rc<Widget<Channel>>>,
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
fn mount(config: &Config, sink: &Sink) -> Option<Rc<Widget<Channel>>> {
    let settings = settings(config)?;
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
                note(Note::NoTarget);
            }
            Some(found?)
        }
    };
    Widget::mount(
        settings,
        config.mode,
        container.as_ref(),
        sink.clone(),
        config,
    )
}

/// Starts the widget with the loader's settings `{base, touchpoint, mode, target, locale,
/// segment}` (strings; see [`config::Config::read`]). Never throws: problems go to the console.
#[wasm_bindgen]
pub fn start(loader: JsValue) {
    // The loader starts one module per page (a second tag gets its message there).
    if STATE.0.try_borrow().map_or(true, |s| s.is_some()) {
        return;
    }
    // Debug builds and the kiosk and agent module have std's panic machinery: the same one fixed
    // message.
    #[cfg(any(debug_assertions, feature = "channels"))]
    std::panic::set_hook(std::boxed::Box::new(|_| note(Note::Stopped)));
    let config = Config::read(&loader, &browser_language());
    let sink = config.base.as_deref().map(delivery::sink);
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
/// `segment`, `locale` and `interactionId` for this and later surveys.
#[wasm_bindgen]
pub fn open(options: JsValue) {
    let Some((widget, settings)) = (|| {
        let mut state = STATE.0.try_borrow_mut().ok()?;
        let state = state.as_mut()?;
        #[cfg(feature = "channels")]
        let options = crate::channels::options::open_options(options);
        #[cfg(not(feature = "channels"))]
        let options = config::OpenOptions::read(&options);
        let overridden = options.any();
        // The loader has reported a wrong option (open()'s options get the tag's messages).
        if let Some(t) = options.touchpoint {
            state.config.touchpoint = protocol::Ident::parse(&t);
        }
        if let Some(seg) = options.segment {
            state.config.context.segment = protocol::Ident::parse(&seg);
        }
        if let Some(id) = options.interaction_id {
            state.config.context.interaction_id = protocol::Ident::parse(&id);
        }
        if let Some(texts) = config::locale(options.locale.as_deref()) {
            state.config.texts = texts;
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

/// `Touchpoint.postCall({interactionId, agentId, queue?, locale?})`: a call ended. Asks the
/// collector for the post-call invitation and shows its link, QR code and assisted capture.
#[cfg(feature = "channels")]
#[wasm_bindgen(js_name = postCall)]
pub fn post_call(options: JsValue) {
    let Some((widget, base, key, call)) = (|| {
        let state = STATE.0.try_borrow().ok()?;
        let state = state.as_ref()?;
        let config = &state.config;
        // The loader passes postCall on only on an agent page with its key (elsewhere it says
        // that agent mode needs them).
        let key = match (config.mode, &config.channels.agent_key) {
            (Mode::Agent, Some(key)) => key.clone(),
            _ => return None,
        };
        let call = crate::channels::agent::call(config, options)?;
        Some((state.widget.clone()?, config.base.clone()?, key, call))
    })() else {
        return;
    };
    let shown = call.clone();
    invite::request(&base, &key, &call, move |outcome| {
        widget
            .hooks()
            .agent()
            .show_invitation(&widget, &shown, outcome)
    });
}

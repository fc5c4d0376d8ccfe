//! The Touchpoint widget (WebAssembly): renders the `core-cx` survey inside the host page and
//! delivers each answer exactly once. Built for `wasm32-unknown-unknown`; the loader
//! (`loader/widget.js`) fetches it and calls [`start`].
//!
//! Layout:
//! - [`config`]: the loader's settings (`data-*` attributes), checked, with one console message per
//!   wrong attribute.
//! - [`ui`]: the shadow-root survey: launcher or inline panel, radio groups, keyboard, Send.
//! - [`style`]: the one constructable stylesheet and the theming contract.
//! - [`survey`]: choices → `protocol::Submission` through the protocol's constructors.
//! - [`outbox`]: the durable queue in localStorage (and memory), with leases between tabs.
//! - [`courier`]: fetch / sendBeacon delivery, verdicts per status, the retry timer and events.
//! - [`retry`]: backoff with jitter and `Retry-After`, as pure functions.
//! - [`ids`]: ULID submission ids from `crypto.getRandomValues`.
//! - [`dom`]: DOM and console helpers that never throw.
//!
//! The path of one answer: the launcher's click opens a panel ([`ui::Widget::open`]) and makes its
//! id; Send turns the choices into a `Submission` ([`survey::submission`]) and its canonical JSON;
//! [`courier::Courier::submit`] writes that to localStorage ([`outbox::Outbox::add`]) before any
//! request, dispatches `touchpoint:submitted`, and posts it to `{base}/v1/responses`; the status
//! becomes a [`outbox::Verdict`]: 201/200/409 remove it and dispatch `touchpoint:delivered`, 400/413
//! drop it with a warning, 429/503/no answer keep it for a retry after [`retry::delay_ms`]. What is
//! still queued when the page goes goes to `sendBeacon`, and the next page load sends it again (the
//! collector answers a repeat with 200 duplicate, so it is stored once).

pub mod config;
pub mod courier;
pub mod dom;
pub mod ids;
pub mod outbox;
pub mod retry;
pub mod style;
pub mod survey;
pub mod ui;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use config::{Config, Mode, BAD_TOUCHPOINT};
use courier::Courier;
use dom::{error, warn};
use ui::{Settings, Widget};

/// A small allocator: dlmalloc would cost every visitor about 3 KB more.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// What `start` set up; the JS API works on it.
struct State {
    config: Config,
    courier: Option<Rc<Courier>>,
    widget: Option<Rc<Widget>>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn browser_language() -> String {
    web_sys::window()
        .and_then(|w| w.navigator().language())
        .unwrap_or_default()
}

/// Mounts the survey for `config` if it can be shown; reports why not otherwise.
fn mount(config: &Config, courier: &Rc<Courier>) -> Option<Rc<Widget>> {
    let settings = Settings {
        touchpoint: config.touchpoint.clone()?,
        segment: config.segment.clone(),
        texts: config.texts,
    };
    let container = match config.mode {
        Mode::Launcher => None,
        Mode::Inline => {
            let selector = config.target.as_deref()?;
            let found = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.query_selector(selector).ok().flatten());
            if found.is_none() {
                error("touchpoint: data-target matches no element on the page; the survey is not shown");
            }
            Some(found?)
        }
    };
    Widget::mount(settings, container.as_ref(), Rc::clone(courier))
}

/// Starts the widget with the loader's settings `{base, touchpoint, mode, target, locale,
/// segment}` (strings; see [`config::Config::read`]). Never throws: problems go to the console.
#[wasm_bindgen]
pub fn start(config: JsValue) {
    if STATE.with(|s| s.borrow().is_some()) {
        warn("touchpoint: the widget is already on this page; the second script tag is ignored");
        return;
    }
    // Cheap: one fixed message instead of the default hook's formatting. With `panic = "abort"` a
    // panic still ends in a trap, but the console says whose it was.
    std::panic::set_hook(Box::new(|_| {
        error("touchpoint: internal error; the widget stopped")
    }));
    let (config, notes) = Config::read(&config, &browser_language());
    for (is_error, note) in notes {
        if is_error {
            error(note);
        } else {
            warn(note);
        }
    }
    let courier = config.base.as_deref().map(Courier::new);
    if let Some(c) = &courier {
        c.start();
    }
    let widget = courier.as_ref().and_then(|c| mount(&config, c));
    STATE.with(|s| {
        *s.borrow_mut() = Some(State {
            config,
            courier,
            widget,
        })
    });
}

/// `Touchpoint.open(options?)`: shows the survey and focuses it. `options` may set `touchpoint`,
/// `segment` and `locale` for this and later surveys.
#[wasm_bindgen]
pub fn open(options: JsValue) {
    let Some((widget, settings)) = STATE.with(|s| {
        let mut state = s.try_borrow_mut().ok()?;
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
            state.config.segment = protocol::Ident::parse(&seg);
        }
        if let Some(texts) = config::locale(config::text(&options, "locale").as_deref(), &mut notes)
        {
            state.config.texts = texts;
        }
        for (_, note) in notes {
            warn(note);
        }
        let courier = state.courier.clone()?;
        if state.widget.is_none() {
            state.widget = mount(&state.config, &courier);
            return state.widget.clone().map(|w| (w, None));
        }
        let settings = overridden
            .then(|| {
                Some(Settings {
                    touchpoint: state.config.touchpoint.clone()?,
                    segment: state.config.segment.clone(),
                    texts: state.config.texts,
                })
            })
            .flatten();
        state.widget.clone().map(|w| (w, settings))
    }) else {
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
    if let Some(w) = STATE.with(|s| s.try_borrow().ok()?.as_ref()?.widget.clone()) {
        w.close();
    }
}

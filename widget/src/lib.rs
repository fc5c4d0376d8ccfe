//! The Touchpoint widget (WebAssembly): renders the `core-cx` survey inside the host page and
//! delivers each answer exactly once. Built for `wasm32-unknown-unknown`; the loader
//! (`loader/widget.js`) fetches it and calls [`start`]. Built twice: web pages get the module
//! without the feature `channels` (the kiosk and agent modes, invitations), so they never
//! download that code.
//!
//! Layout:
//! - [`config`]: the loader's settings (`data-*` attributes), checked, with one console message per
//!   wrong attribute.
//! - [`ui`]: the shadow-root survey: launcher or inline panel, radio groups, keyboard, Send; the
//!   kiosk's attract screen and timers; agent mode's invitation and assisted capture.
//! - [`invite`]: agent mode's request for a post-call invitation.
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

// No `std` in optimised builds (`cargo xtask`'s `wasm-release`): the widget brings its own panic
// handler (below) and pays for none of std's panic and formatting machinery. Debug builds and tests
// link `std` (the test runner needs it, and it then provides the panic handler).
#![cfg_attr(not(any(test, debug_assertions)), no_std)]

extern crate alloc;

pub mod config;
pub mod courier;
pub mod dom;
pub mod ids;
#[cfg(feature = "channels")]
pub mod invite;
pub mod outbox;
pub mod retry;
pub mod style;
pub mod survey;
pub mod ui;

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use config::{Config, Mode, BAD_TOUCHPOINT};
use courier::Courier;
use dom::{error, warn};
#[cfg(feature = "channels")]
use protocol::Ident;
use ui::{Settings, Widget};

// `ALLOCATOR` and `STATE` rely on the page's wasm running on one thread.
#[cfg(target_feature = "atomics")]
compile_error!("the widget assumes single-threaded wasm (no `atomics`)");

/// A small allocator: dlmalloc would cost every visitor about 3 KB more.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: this target has no threads (no `atomics` feature), so the allocator needs no lock.
#[allow(unsafe_code)]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// A panic is a bug: one fixed console message (no formatting machinery), then a trap.
#[cfg(all(not(any(test, debug_assertions)), target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    error("touchpoint: internal error; the widget stopped");
    core::arch::wasm32::unreachable()
}

/// What `start` set up; the JS API works on it.
struct State {
    config: Config,
    courier: Option<Rc<Courier>>,
    widget: Option<Rc<Widget>>,
}

/// The page's one widget. `wasm32-unknown-unknown` without atomics runs on one thread only.
struct Global(RefCell<Option<State>>);

// SAFETY: this target has no threads (no `atomics` feature), so the cell is never shared across
// threads.
#[allow(unsafe_code)]
unsafe impl Sync for Global {}

static STATE: Global = Global(RefCell::new(None));

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
fn mount(config: &Config, courier: &Rc<Courier>) -> Option<Rc<Widget>> {
    let settings = settings(config)?;
    #[cfg(feature = "channels")]
    let timers = ui::Timers {
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
        Rc::clone(courier),
        #[cfg(feature = "channels")]
        timers,
    )
}

/// Starts the widget with the loader's settings `{base, touchpoint, mode, target, locale,
/// segment}` (strings; see [`config::Config::read`]). Never throws: problems go to the console.
#[wasm_bindgen]
pub fn start(config: JsValue) {
    if STATE.0.try_borrow().map_or(true, |s| s.is_some()) {
        warn("touchpoint: the widget is already on this page; the second script tag is ignored");
        return;
    }
    // Debug builds have std's panic machinery: the same one fixed message.
    #[cfg(debug_assertions)]
    std::panic::set_hook(std::boxed::Box::new(|_| {
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
    if let Ok(mut s) = STATE.0.try_borrow_mut() {
        *s = Some(State {
            config,
            courier,
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
        let courier = state.courier.clone()?;
        if state.widget.is_none() {
            state.widget = mount(&state.config, &courier);
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

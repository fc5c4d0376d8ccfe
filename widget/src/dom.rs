//! Small DOM and console helpers: every call that can throw is caught here, so nothing the widget
//! does can raise an exception into the host page. The console messages of a run are numbers the
//! loader writes out ([`Note`]).

use alloc::string::String;
use js_sys::{Object, Reflect};
pub use protocol::push_decimal as push_number;
use wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};
use web_sys::{CustomEvent, CustomEventInit, Document, Element, Window};

/// The console messages every module can write while it runs, by their number in the loader's
/// `loader/notes.js` (numbers 0–8 are the loader's own, for the tag's settings). The module
/// carries the number, not the words: the loader imports `notes.js` when a message is due and
/// writes it there (where `notes.js` cannot be fetched, the console still gets the number and
/// where to read it: the widget's README, "Console messages").
#[derive(Clone, Copy)]
pub enum Note {
    /// localStorage is unavailable or full: unsent answers live only while the page is open.
    NoStorage = 9,
    /// The outbox is full: the oldest unsent answer was dropped.
    OutboxFull = 10,
    /// The collector refused an answer for good (a 4xx): it was dropped.
    Refused = 11,
    /// `data-target` matches no element: the survey is not shown.
    NoTarget = 12,
    /// No constructable stylesheets: the survey is not shown.
    NoSheets = 13,
    /// A bug stopped the widget.
    Stopped = 14,
}

#[wasm_bindgen]
extern "C" {
    /// The loader's `Touchpoint.note(n)`, which writes message `n` of `notes.js`. It throws only
    /// where no loader made `Touchpoint` (the crate's own tests): caught, so nothing reaches
    /// the page.
    #[wasm_bindgen(catch, js_namespace = Touchpoint, js_name = note)]
    fn loader_note(n: u8) -> Result<(), JsValue>;
}

/// Writes `note` to the console, through the loader.
#[inline(never)]
pub fn note(note: Note) {
    let _ = loader_note(note as u8);
}

/// `console.warn`, for the kiosk's and agent mode's own settings and calls.
#[cfg(feature = "channels")]
#[inline(never)]
pub fn warn(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(message));
}

/// `console.error`, for the kiosk's and agent mode's settings that keep it from working.
#[cfg(feature = "channels")]
#[inline(never)]
pub fn error(message: &str) {
    web_sys::console::error_1(&JsValue::from_str(message));
}

#[wasm_bindgen]
extern "C" {
    /// The global object, only to read `window` from.
    #[wasm_bindgen(js_name = globalThis)]
    type Global;
    /// `globalThis.window`, or `None` where there is none: one getter, read on each call. Cheaper
    /// than `web_sys::window()` (the global object looked for four ways, then a class check) and
    /// than a `thread_local_v2` static (a lazily initialised cell, with its panics).
    #[wasm_bindgen(static_method_of = Global, js_class = globalThis, getter = window)]
    fn window() -> Option<Window>;
}

/// The page's `window`.
pub fn window() -> Option<Window> {
    Global::window()
}

#[wasm_bindgen]
extern "C" {
    /// A DOM node seen through the few calls the widget makes. These bindings do not catch: the
    /// widget only passes constant, valid tag and attribute names, for which they cannot throw,
    /// and skipping the catch keeps every call small.
    type Node;
    #[wasm_bindgen(method, js_name = createElement)]
    fn create_element(this: &Node, tag: &str) -> Element;
    #[wasm_bindgen(method, js_name = setAttribute)]
    fn set_attribute(this: &Node, name: &str, value: &str);
    #[wasm_bindgen(method, js_name = append)]
    fn append(this: &Node, child: &Element);
    #[wasm_bindgen(method, setter = hidden)]
    fn set_hidden(this: &Node, hidden: bool);
    #[wasm_bindgen(method, getter = hidden)]
    fn hidden(this: &Node) -> bool;
    #[wasm_bindgen(method, js_name = focus)]
    fn focus(this: &Node);
    #[wasm_bindgen(method, setter = inert)]
    fn set_inert(this: &Node, inert: bool);
    /// Absent in some browsers (Safari): the call then throws, and is caught.
    #[wasm_bindgen(catch, js_name = requestIdleCallback)]
    fn request_idle_callback(callback: &JsValue) -> Result<JsValue, JsValue>;
}

fn node(el: &JsValue) -> &Node {
    el.unchecked_ref()
}

/// A new `<tag>` with the constant attributes `attrs` (name, value, name, value, …) and `text`
/// (none when empty), appended to `parent` when there is one.
#[inline(never)]
pub fn add(
    doc: &Document,
    parent: Option<&Element>,
    tag: &str,
    attrs: &[&str],
    text: &str,
) -> Element {
    let el = node(doc).create_element(tag);
    for pair in attrs.chunks_exact(2) {
        if let [name, value] = pair {
            set(&el, name, value);
        }
    }
    if !text.is_empty() {
        el.set_text_content(Some(text));
    }
    if let Some(p) = parent {
        append(p, &el);
    }
    el
}

/// Sets an attribute.
#[inline(never)]
pub fn set(el: &Element, name: &str, value: &str) {
    node(el).set_attribute(name, value);
}

/// Shows or hides an element through the `hidden` attribute.
#[inline(never)]
pub fn show(el: &Element, visible: bool) {
    node(el).set_hidden(!visible);
}

pub fn is_shown(el: &Element) -> bool {
    !node(el).hidden()
}

/// `inert`: out of the tab order, the accessibility tree and the pointer's reach.
pub fn set_inert(el: &Element, inert: bool) {
    node(el).set_inert(inert);
}

/// Calls `callback` once the page is idle (`requestIdleCallback`, with an `IdleDeadline`); where
/// the browser lacks it (Safari), after 1.5 s with an empty object in its place.
pub fn when_idle(callback: &JsValue) {
    if request_idle_callback(callback).is_err() {
        if let Some(w) = window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_1(
                callback.unchecked_ref(),
                1500,
                &Object::new(),
            );
        }
    }
}

#[inline(never)]
pub fn focus(el: &Element) {
    node(el).focus();
}

/// `parent.append(child)` (an element or the shadow root).
#[inline(never)]
pub fn append(parent: &JsValue, child: &Element) {
    node(parent).append(child);
}

/// `parts` joined into one string (cheaper here than `concat`, which brings a generic joiner).
pub fn join(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}

/// A plain object `{key: value, …}` for an event's `detail`.
#[inline(never)]
pub fn object(entries: &[(&str, JsValue)]) -> Object {
    let obj = Object::new();
    for (key, value) in entries {
        let _ = Reflect::set(&obj, &JsValue::from_str(key), value);
    }
    obj
}

/// Dispatches `CustomEvent(name, {detail})` on `window`; the host page listens for these.
#[inline(never)]
pub fn dispatch(name: &str, detail: &JsValue) {
    let Some(window) = window() else {
        return;
    };
    let init: CustomEventInit = object(&[("detail", detail.clone())]).unchecked_into();
    if let Ok(event) = CustomEvent::new_with_event_init_dict(name, &init) {
        let _ = window.dispatch_event(&event);
    }
}

/// Reads the leading decimal digits of `text`; `None` when there are none or they overflow.
pub fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 15 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |n, b| n * 10 + u64::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn numbers_are_written_and_read_without_fmt() {
        for n in [0u64, 7, 10, 409, 1_795_341_600_000, u64::MAX] {
            let mut s = String::new();
            push_number(&mut s, n);
            assert_eq!(s, n.to_string());
        }
        assert_eq!(parse_number("120"), Some(120));
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("12a"), None);
        assert_eq!(parse_number("-3"), None);
        assert_eq!(parse_number("9999999999999999"), None);
    }
}

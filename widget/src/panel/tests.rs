//! The shared panel in a real browser: roles and names, the panel built ahead, keyboard, right-to-left, Send.

use super::*;
use crate::delivery::courier::Courier;
use crate::delivery::outbox::{Outbox, Store};
use protocol::CORE_CX;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{HtmlElement, HtmlTextAreaElement, KeyboardEvent, KeyboardEventInit};

/// A courier posting to a port nothing listens on, over memory alone.
fn sink() -> Sink {
    Courier::with_outbox(
        "http://127.0.0.1:9",
        Outbox::new(Store::with(None), "test".into()),
    )
}

/// What the widget's Send handed on: `(id, body)`, oldest first.
fn sent(w: &Widget<()>) -> Vec<(String, String)> {
    let outbox = w.sink.outbox().borrow();
    outbox
        .items()
        .iter()
        .map(|i| (i.id.clone(), i.body.clone()))
        .collect()
}

/// A widget on a fresh sink (see [`sink`]).
fn widget(locale: &str, inline: bool) -> Rc<Widget<()>> {
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
    // The loader's other settings: the web channel (`()`) reads none of them.
    let config = Config::read(&JsValue::UNDEFINED, "en");
    Widget::mount(
        settings,
        mode,
        inline.then_some(&container),
        sink(),
        &config,
    )
    .unwrap()
}

fn all(w: &Widget<()>, selector: &str) -> Vec<Element> {
    let list = w.root().query_selector_all(selector).unwrap();
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into().ok())
        .collect()
}

fn one(w: &Widget<()>, selector: &str) -> Element {
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

fn focused(w: &Widget<()>) -> Option<Element> {
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
    let ahead_id = w.form.borrow().as_ref().unwrap().id.clone();
    // A click that acts on nothing (and the idle callback) builds nothing more.
    w.build_ahead();
    assert_eq!(all(&w, "[part=panel]").len(), 1);

    click(&one(&w, "button[part=launcher]"));
    assert!(w.is_open());
    assert!(!panel.has_attribute("inert"));
    assert_eq!(all(&w, "[part=panel]").len(), 1, "the same panel, revealed");
    let opened_id = w.form.borrow().as_ref().unwrap().id.clone();
    assert_ne!(opened_id, ahead_id, "the id is made when the survey opens");
    assert_eq!(focused(&w).as_ref(), all(&w, "[role=radio]").first());
    w.close();
    assert!(!w.is_open());
    click(&one(&w, "button[part=launcher]"));
    let reopened_id = w.form.borrow().as_ref().unwrap().id.clone();
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

/// Waits until the widget has a panel built ahead (invisible, inert), however loaded the machine:
/// `false` only if none came within a minute.
async fn built_ahead(w: &Widget<()>) -> bool {
    let until = Date::now() + 60_000.0;
    while all(w, "[part=panel][inert]").is_empty() {
        if Date::now() > until {
            return false;
        }
        wasm_bindgen_futures::JsFuture::from(sleep(50))
            .await
            .unwrap();
    }
    all(w, "[part=panel]").len() == 1
}

#[wasm_bindgen_test]
async fn the_panel_is_built_ahead_when_idle_and_without_request_idle_callback() {
    let w = widget("en", false);
    assert!(built_ahead(&w).await, "built in idle time");
    // A browser without requestIdleCallback (Safari): a timer instead.
    let idle = hide_idle();
    let w = widget("en", false);
    restore_idle(&idle);
    assert!(all(&w, "[part=panel]").is_empty());
    assert!(built_ahead(&w).await, "built after the timer");
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

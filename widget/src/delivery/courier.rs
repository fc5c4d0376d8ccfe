//! Delivery: posts each outbox answer to the collector as a string (`text/plain`, no CORS
//! preflight), turns the status into a verdict, retries on a timer, on the `online` event and on
//! every page load, and hands what is still pending to `navigator.sendBeacon` when the page goes
//! away.

use alloc::borrow::ToOwned;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use js_sys::{Date, Math, Promise};
use wasm_bindgen::{closure::Closure, prelude::wasm_bindgen, JsCast, JsValue};
use web_sys::{RequestInit, Response};

use super::outbox::{Outbox, Store, Verdict};
use super::retry;
use crate::dom::{dispatch, join, note, object, Note};
use crate::ids::tab_token;
use crate::Borrowed as _;

#[wasm_bindgen]
extern "C" {
    /// A promise seen through `then(f, g)` with plain functions (js-sys wants closures it owns).
    pub type Thenable;
    #[wasm_bindgen(method, js_name = then)]
    pub fn then_both(this: &Thenable, on_ok: &JsValue, on_error: &JsValue);
    /// A function seen through `bind(this, arg)`: one long-lived closure serves every request.
    type Bindable;
    #[wasm_bindgen(method, js_name = bind)]
    fn bind_arg(this: &Bindable, this_arg: &JsValue, arg: &JsValue) -> JsValue;
}

/// The long-lived callback every request's promise settles into: `(id, response or error)`.
type AnswerFn = Closure<dyn FnMut(JsValue, JsValue)>;

/// Sends the outbox to one collector.
pub struct Courier {
    url: String,
    outbox: RefCell<Outbox>,
    timer: Cell<Option<i32>>,
    tick: RefCell<Option<Closure<dyn FnMut()>>>,
    /// `(id, response or error)`: bound to each request's id.
    answer: RefCell<Option<AnswerFn>>,
    listeners: RefCell<Vec<Closure<dyn FnMut()>>>,
    /// Randomness for jitter; tests fix it.
    jitter: Cell<Option<f64>>,
}

impl Courier {
    /// A courier for the collector at `base` (no trailing slash) over the page's localStorage.
    pub fn new(base: &str) -> Rc<Self> {
        Self::with_outbox(base, Outbox::new(Store::local(), tab_token()))
    }

    pub fn with_outbox(base: &str, outbox: Outbox) -> Rc<Self> {
        let courier = Rc::new(Self {
            url: join(&[base, "/v1/responses"]),
            outbox: RefCell::new(outbox),
            timer: Cell::new(None),
            tick: RefCell::new(None),
            answer: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            jitter: Cell::new(None),
        });
        let weak = Rc::downgrade(&courier);
        *courier.tick.exclusive() = Some(Closure::new(move || {
            if let Some(c) = weak.upgrade() {
                c.timer.set(None);
                c.flush();
            }
        }));
        let weak = Rc::downgrade(&courier);
        *courier.answer.exclusive() = Some(Closure::new(move |id: JsValue, value: JsValue| {
            let (Some(c), Some(id)) = (weak.upgrade(), id.as_string()) else {
                return;
            };
            let (status, retry_after) = match value.dyn_ref::<Response>() {
                Some(r) => (r.status(), r.headers().get("Retry-After").ok().flatten()),
                None => (0, None),
            };
            c.settled(&id, status, retry_after.as_deref());
        }));
        courier
    }

    pub fn outbox(&self) -> &RefCell<Outbox> {
        &self.outbox
    }

    /// Fixes the jitter (tests); `None` goes back to `Math.random`.
    pub fn set_jitter(&self, jitter: Option<f64>) {
        self.jitter.set(jitter);
    }

    /// Starts delivering: adopts what earlier pages left, sends it, and listens for `online`
    /// (try again now) and `pagehide` (hand pending answers to the beacon).
    pub fn start(self: &Rc<Self>) {
        self.outbox.exclusive().load(Date::now());
        if let Some(window) = crate::dom::window() {
            let weak = Rc::downgrade(self);
            let online = Closure::<dyn FnMut()>::new(move || {
                if let Some(c) = weak.upgrade() {
                    c.outbox.exclusive().hurry(Date::now());
                    c.flush();
                }
            });
            let weak = Rc::downgrade(self);
            let pagehide = Closure::<dyn FnMut()>::new(move || {
                if let Some(c) = weak.upgrade() {
                    c.beacon();
                }
            });
            for (name, listener) in [("online", online), ("pagehide", pagehide)] {
                let _ = window
                    .add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
                self.listeners.exclusive().push(listener);
            }
        }
        self.flush();
    }

    /// Queues one answer (storage first) and sends it.
    pub fn submit(self: &Rc<Self>, id: &str, body: String) {
        self.outbox
            .exclusive()
            .add(id.to_owned(), body, Date::now());
        self.flush();
    }

    /// Sends every answer that is due, then sets the timer for the next one.
    pub fn flush(self: &Rc<Self>) {
        let batch = self.outbox.exclusive().take_due(Date::now());
        for (id, body) in batch {
            self.post(id, &body);
        }
        self.schedule();
    }

    fn schedule(&self) {
        let Some(window) = crate::dom::window() else {
            return;
        };
        if let Some(handle) = self.timer.take() {
            window.clear_timeout_with_handle(handle);
        }
        let Some(due) = self.outbox.shared().next_due() else {
            return;
        };
        let wait = (due - Date::now()).clamp(0.0, 2_000_000_000.0) as i32;
        if let Some(tick) = self.tick.shared().as_ref() {
            // The binding with one argument, which `tick` ignores: `dom::when_idle` needs it, and
            // one `setTimeout` import instead of two is smaller.
            self.timer.set(
                window
                    .set_timeout_with_callback_and_timeout_and_arguments_1(
                        tick.as_ref().unchecked_ref(),
                        wait,
                        &JsValue::UNDEFINED,
                    )
                    .ok(),
            );
        }
    }

    fn post(&self, id: String, body: &str) {
        let Some(window) = crate::dom::window() else {
            return;
        };
        // A plain object is a `RequestInit` (one generic setter instead of one import per field).
        // A string body goes as `text/plain;charset=UTF-8`, a type sent without a CORS preflight.
        // `keepalive` lets the request finish if the page is being left; the answer stays in
        // storage until a later page hears the collector's answer.
        let init: RequestInit = object(&[
            ("method", JsValue::from_str("POST")),
            ("body", JsValue::from_str(body)),
            ("mode", JsValue::from_str("cors")),
            ("credentials", JsValue::from_str("omit")),
            ("keepalive", JsValue::TRUE),
        ])
        .unchecked_into();
        let promise: Promise = window.fetch_with_str_and_init(&self.url, &init);
        // One callback for both outcomes: a Response, or the error of a failed request.
        if let Some(answer) = self.answer.shared().as_ref() {
            let settle = answer
                .as_ref()
                .unchecked_ref::<Bindable>()
                .bind_arg(&JsValue::NULL, &JsValue::from_str(&id));
            promise
                .unchecked_ref::<Thenable>()
                .then_both(&settle, &settle);
        }
    }

    /// The collector answered `status` (0: no answer) for `id`.
    pub fn settled(self: &Rc<Self>, id: &str, status: u16, retry_after: Option<&str>) {
        let now = Date::now();
        let verdict = Verdict::of(status);
        let jitter = self.jitter.get().unwrap_or_else(Math::random);
        let wait = retry_after.and_then(|v| retry::retry_after_ms(v, now));
        {
            let mut outbox = self.outbox.exclusive();
            // A refusal that says when to come back (`Retry-After`: rate limited, storage full) is
            // no failure: the wait is what the collector asked, not a backoff growing with every
            // refusal, which would strand a long backlog for minutes per answer.
            outbox.settle(id, verdict, now, |attempt| {
                retry::delay_ms(if wait.is_some() { 1 } else { attempt }, jitter, wait)
            });
            // A long backlog (a kiosk back online) waits as asked instead of sending on into
            // the same refusal, one answer after another.
            if let (Verdict::Retry, Some(ms)) = (verdict, wait) {
                outbox.hold(now + ms);
            }
        }
        match verdict {
            Verdict::Delivered => dispatch(
                "touchpoint:delivered",
                &object(&[
                    ("id", JsValue::from_str(id)),
                    ("status", JsValue::from(status)),
                ]),
            ),
            Verdict::Rejected => {
                note(Note::Refused);
                dispatch(
                    "touchpoint:rejected",
                    &object(&[
                        ("id", JsValue::from_str(id)),
                        ("status", JsValue::from(status)),
                    ]),
                );
            }
            Verdict::Retry => {}
        }
        self.flush();
    }

    /// The page is going away: give every answer not already in flight to `sendBeacon`. They
    /// stay in the outbox, so the next page sends them again unless the collector has them
    /// (then it answers 200 duplicate and they are removed).
    pub fn beacon(&self) {
        let Some(window) = crate::dom::window() else {
            return;
        };
        let navigator = window.navigator();
        for item in self.outbox.shared().items().iter().filter(|i| !i.in_flight) {
            // A string goes as `text/plain;charset=UTF-8`, as `fetch` sends it.
            let _ = navigator.send_beacon_with_opt_str(&self.url, Some(&item.body));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::outbox::{Store, ITEM_PREFIX};
    use js_sys::Array;
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen(inline_js = r#"
export function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }
// The content type a browser sends with this body (fetch and sendBeacon extract it alike).
const typeOf = body => new Response(body).headers.get("content-type");
export function fakeNetwork(statuses, retryAfter = "0") {
  const log = [];
  log.times = [];
  const realFetch = window.fetch;
  window.fetch = (url, init) => {
    const stored = Object.keys(localStorage).filter(k => k.startsWith("touchpoint:outbox:")).length;
    const status = statuses.shift();
    log.times.push(Date.now());
    log.push(["fetch", url, status, "stored=" + stored, typeOf(init.body), "keepalive=" + init.keepalive, init.credentials].join(" "));
    if (status === 0) return Promise.reject(new TypeError("offline"));
    return Promise.resolve(new Response(null, { status, headers: { "Retry-After": retryAfter } }));
  };
  navigator.sendBeacon = (url, body) => { log.push(["beacon", url, typeOf(body)].join(" ")); return true; };
  window.addEventListener("touchpoint:delivered", e => log.push(["delivered", e.detail.status].join(" ")));
  log.restore = () => { window.fetch = realFetch; delete navigator.sendBeacon; };
  return log;
}
export function takeLog(log) { const lines = log.splice(0); return lines.join("\n"); }
export function fetchTimes(log) { return log.times.slice(); }
export function restore(log) { log.restore(); }
"#)]
    extern "C" {
        fn sleep(ms: u32) -> Promise;
        #[wasm_bindgen(js_name = fakeNetwork)]
        fn fake_network(statuses: &Array) -> JsValue;
        #[wasm_bindgen(js_name = fakeNetwork)]
        fn fake_network_asking_to_wait(statuses: &Array, retry_after: &str) -> JsValue;
        #[wasm_bindgen(js_name = takeLog)]
        fn take_log(log: &JsValue) -> String;
        /// When each fetch went out (ms since the epoch), oldest first.
        #[wasm_bindgen(js_name = fetchTimes)]
        fn fetch_times(log: &JsValue) -> Vec<f64>;
        fn restore(log: &JsValue);
    }

    fn statuses(list: &[u16]) -> Array {
        list.iter().map(|s| JsValue::from(*s)).collect()
    }

    /// Waits until `done` holds, however loaded the machine (it fails only after a minute): the
    /// tests check what happened and in which order, and the least time between tries, never
    /// how soon something came.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let give_up = Date::now() + 60_000.0;
        while !done() {
            assert!(Date::now() < give_up, "still waiting for {what}");
            JsFuture::from(sleep(20)).await.unwrap();
        }
    }

    /// The courier's queue: `(attempt, in_flight)` of each answer.
    fn queue(courier: &Courier) -> Vec<(u32, bool)> {
        let outbox = courier.outbox().borrow();
        outbox
            .items()
            .iter()
            .map(|i| (i.attempt, i.in_flight))
            .collect()
    }

    #[wasm_bindgen_test]
    async fn delivery_writes_first_retries_503_beacons_on_pagehide_and_stops_at_201() {
        let store = Store::local();
        for k in store.keys("touchpoint:") {
            store.remove(&k);
        }
        let log = fake_network(&statuses(&[503, 0, 201, 400]));
        let courier = Courier::with_outbox("http://collector.test", Outbox::new(store, "t".into()));
        courier.set_jitter(Some(0.0));
        let id = "01JD2XKQ9ZCFM7B5V0S3R4T6YA";
        courier.submit(id, "{\"id\":\"01JD2XKQ9ZCFM7B5V0S3R4T6YA\"}".into());
        until("the 503", || queue(&courier) == [(1, false)]).await;
        // The answer was in storage when the request went out, and stays after a 503.
        assert_eq!(
            take_log(&log),
            "fetch http://collector.test/v1/responses 503 stored=1 text/plain;charset=UTF-8 keepalive=true omit"
        );
        assert_eq!(Store::local().keys(ITEM_PREFIX).len(), 1);
        // Leaving the page hands the waiting answer to the beacon; it stays queued.
        courier.beacon();
        assert_eq!(
            take_log(&log),
            "beacon http://collector.test/v1/responses text/plain;charset=UTF-8"
        );
        // Retry 1 after 500 ms (jitter 0): a network error; retry 2 after 1 s: stored.
        until("the network error", || queue(&courier) == [(2, false)]).await;
        assert_eq!(
            take_log(&log),
            "fetch http://collector.test/v1/responses 0 stored=1 text/plain;charset=UTF-8 keepalive=true omit"
        );
        until("the 201", || queue(&courier).is_empty()).await;
        assert_eq!(
            take_log(&log),
            "fetch http://collector.test/v1/responses 201 stored=1 text/plain;charset=UTF-8 keepalive=true omit\ndelivered 201"
        );
        let times = fetch_times(&log);
        // A timer never fires early; a millisecond of slack for the clock's rounding.
        assert!(times[1] - times[0] >= 499.0, "{times:?}");
        assert!(times[2] - times[1] >= 999.0, "{times:?}");
        assert!(Store::local().keys("touchpoint:").is_empty());
        // A 400 is dropped at once, never retried.
        courier.submit("01JD2XKQ9ZCFM7B5V0S3R4T6YB", "{}".into());
        until("the 400", || queue(&courier).is_empty()).await;
        assert!(take_log(&log).contains(" 400 "));
        assert_eq!(courier.outbox().borrow().next_due(), None);
        restore(&log);
    }

    #[wasm_bindgen_test]
    async fn a_refusal_with_retry_after_holds_the_whole_backlog_not_only_that_answer() {
        let store = Store::local();
        for k in store.keys("touchpoint:") {
            store.remove(&k);
        }
        // Six answers waiting (a kiosk back online); four go at once. The second is refused with
        // `429, Retry-After: 3`, the others stored.
        let log = fake_network_asking_to_wait(&statuses(&[201, 429, 201, 201, 201, 201, 201]), "3");
        let courier = Courier::with_outbox("http://collector.test", Outbox::new(store, "t".into()));
        courier.set_jitter(Some(0.0));
        {
            let mut outbox = courier.outbox().borrow_mut();
            for n in 0..6 {
                let id = ["01JD2XKQ9ZCFM7B5V0S3R4T6Z", &n.to_string()].concat();
                outbox.add(id, "{}".into(), Date::now());
            }
        }
        courier.flush();
        until("the first answers", || {
            queue(&courier) == [(1, false), (0, false)]
        })
        .await;
        // The first 201 freed a place for the fifth answer before the 429 came back; the sixth
        // waits, as the refused one does, until the time the collector asked for.
        let sent = take_log(&log);
        assert_eq!(sent.matches("fetch ").count(), 5, "{sent}");
        let refused_at = fetch_times(&log)[1];
        let due = courier.outbox().borrow().next_due().unwrap();
        assert!(due >= refused_at + 3_000.0, "{due} {refused_at}");
        until("the backlog", || queue(&courier).is_empty()).await;
        let sent = take_log(&log);
        assert_eq!(sent.matches("fetch ").count(), 2, "{sent}");
        let times = fetch_times(&log);
        assert!(times[5] - refused_at >= 2_999.0, "{times:?}");
        assert!(times[6] - refused_at >= 2_999.0, "{times:?}");
        restore(&log);
    }
}

//! Delivery, from the answer a survey's Send hands over to the collector's word on it: the
//! durable outbox, the courier that posts it, the retry timing, a web page's hand-over to the
//! delivery module, and that module's JS API.
//!
//! Inside, one direction: `exports` (the delivery module's `deliver`, `submit`) → [`courier`]
//! (fetch, verdicts, beacons, events) → [`outbox`] (localStorage and memory, leases) and
//! [`retry`] (backoff, `Retry-After`); `handoff` (the web module's side) writes to the outbox's
//! storage keys only.

pub mod courier;
#[cfg(feature = "delivery")]
mod exports;
#[cfg(not(feature = "channels"))]
pub mod handoff;
pub mod outbox;
pub mod retry;

/// Where Send puts an answer: the courier itself in the kiosk and agent module (a kiosk delivers
/// all day), the hand-over to the delivery module on a web page (see `handoff`).
#[cfg(feature = "channels")]
pub type Sink = alloc::rc::Rc<courier::Courier>;
/// Where Send puts an answer: the courier itself in the kiosk and agent module (a kiosk delivers
/// all day), the hand-over to the delivery module on a web page (see `handoff`).
#[cfg(not(feature = "channels"))]
pub type Sink = handoff::Handoff;

/// Where Send puts answers for the collector at `base`: on kiosk and agent pages a courier,
/// started now (it adopts what earlier pages left; a kiosk delivers all day).
#[cfg(feature = "channels")]
pub fn sink(base: &str, _loader: wasm_bindgen::JsValue) -> Sink {
    let courier = courier::Courier::new(base);
    courier.start();
    courier
}

/// Where Send puts answers: on a web page the hand-over to `loader` (the object the loader passed
/// to `start`), which loads the delivery module when there is something to send.
#[cfg(not(feature = "channels"))]
pub fn sink(_base: &str, loader: wasm_bindgen::JsValue) -> Sink {
    handoff::Handoff::new(loader)
}

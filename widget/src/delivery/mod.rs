//! Delivery, from the answer a survey's Send hands over to the collector's word on it: the
//! durable outbox, the courier that posts it, the retry timing.
//!
//! Inside, one direction: [`courier`] (fetch, verdicts, beacons, events) → [`outbox`]
//! (localStorage and memory, leases) and [`retry`] (backoff, `Retry-After`).

pub mod courier;
pub mod outbox;
pub mod retry;

/// Where Send puts an answer: the courier, in every module (a web page's module carries it, so
/// the answer needs no second download; a kiosk delivers all day).
pub type Sink = alloc::rc::Rc<courier::Courier>;

/// Where Send puts answers for the collector at `base`: a courier, started now (it adopts what
/// earlier pages left, and sends it).
pub fn sink(base: &str) -> Sink {
    let courier = courier::Courier::new(base);
    courier.start();
    courier
}

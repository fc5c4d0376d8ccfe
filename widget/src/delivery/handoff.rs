//! Delivery on a web page: the web module stores each answer (the outbox's own key, before
//! anything else happens to it) and hands it to the loader, which sends it through the delivery
//! module (`courier.rs` built with the feature `delivery`). A page downloads that module
//! only once a survey shows or an earlier page left answers waiting, so nothing of fetch,
//! retries, leases or beacons comes before the survey.
//!
//! The loader's side is one function on the settings object it passes to `start`:
//! `deliver(id, body)` queues an answer for the delivery module (loading it if needed), and
//! `deliver()` only loads it, so that it is ready by the time someone presses Send.

use alloc::string::String;
use wasm_bindgen::{prelude::wasm_bindgen, JsCast, JsValue};

use super::outbox::{key, Store, ITEM_PREFIX};

#[wasm_bindgen]
extern "C" {
    /// The loader's settings object, seen through its `deliver` function.
    type Loader;
    #[wasm_bindgen(method, catch)]
    fn deliver(this: &Loader, id: Option<&str>, body: Option<&str>) -> Result<(), JsValue>;
}

/// The way from the web module to the delivery module.
#[derive(Clone)]
pub struct Handoff(JsValue);

impl Handoff {
    /// Hands answers to `loader`, the object the loader passed to `start`.
    pub fn new(loader: JsValue) -> Self {
        Self(loader)
    }

    /// The loader's settings object (tests read what it was given).
    #[cfg(test)]
    pub fn loader(&self) -> &JsValue {
        &self.0
    }

    /// A survey shows: the delivery module is fetched now, to be ready by Send. A loader without
    /// `deliver` (a page calling the module by hand) is ignored, never thrown at.
    pub fn wake(&self) {
        let _ = self.0.unchecked_ref::<Loader>().deliver(None, None);
    }

    /// Queues one answer: written to storage first (the key the delivery module reads; without
    /// storage it warns and sends from memory), then handed over to be sent.
    pub fn submit(&self, id: &str, body: String) {
        Store::local().set(&key(ITEM_PREFIX, id), &body);
        let _ = self
            .0
            .unchecked_ref::<Loader>()
            .deliver(Some(id), Some(&body));
    }
}

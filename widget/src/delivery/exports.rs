//! The delivery module's JS API (feature `delivery`): a web page's loader loads it once a survey
//! shows or earlier pages left answers waiting, calls [`deliver`] once, then [`submit`] for each
//! answer the web module hands over (see `handoff.rs`).

use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;

use wasm_bindgen::prelude::wasm_bindgen;

use super::courier::Courier;
use crate::config::collector_base;
use crate::Global;

static COURIER: Global<Rc<Courier>> = Global(RefCell::new(None));

/// Starts delivering to the collector at `base`: adopts what earlier pages left in storage, sends
/// it, and retries, on `online` too, and beacons on `pagehide`, as [`Courier::start`] does. A
/// second call, or a `base` that is no http(s) URL (the web module has said so), is ignored.
#[wasm_bindgen]
pub fn deliver(base: &str) {
    let Some(base) = collector_base(base) else {
        return;
    };
    let Ok(mut slot) = COURIER.0.try_borrow_mut() else {
        return;
    };
    if slot.is_none() {
        let courier = Courier::new(&base);
        *slot = Some(Rc::clone(&courier));
        drop(slot);
        courier.start();
    }
}

/// Sends one answer the web module stored (`id`, its exact JSON `body`). Before [`deliver`], it
/// is left in storage for the next start.
#[wasm_bindgen]
pub fn submit(id: &str, body: String) {
    let courier = COURIER.0.try_borrow().ok().and_then(|c| c.clone());
    if let Some(c) = courier {
        c.submit(id, body);
    }
}

//! Agent mode's one request: `POST {base}/v1/invitations` with the console's key, for the call
//! that just ended; the answer (token, link, QR code) or the status that refused it.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;

use js_sys::JSON;
use protocol::{Ident, LocaleTexts};
use serde::Deserialize;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::{RequestInit, Response};

use crate::delivery::courier::Thenable;
use crate::dom::{join, object};

/// The call a post-call survey is about.
#[derive(Debug, Clone)]
pub struct Call {
    pub touchpoint: Ident,
    pub interaction: Ident,
    pub agent: Ident,
    pub queue: Option<Ident>,
    /// The customer's language.
    pub texts: &'static LocaleTexts,
}

/// What the collector issued (the fields of its JSON answer this needs).
#[derive(Debug, Clone, Deserialize)]
pub struct Issued {
    /// The customer's link's token.
    pub token: String,
    /// The token of assisted capture on the agent's screen: the collector binds it to an
    /// assisted answer, and the link's token to the customer's own.
    pub assist_token: String,
    pub url: String,
    pub qr: String,
}

type Done = Rc<RefCell<Option<Box<dyn FnOnce(Result<Issued, u16>)>>>>;

fn finish(done: &Done, outcome: Result<Issued, u16>) {
    if let Some(f) = done.borrow_mut().take() {
        f(outcome);
    }
}

/// Asks the collector at `base` for an invitation; `done` gets it, or the refusing status (0: no
/// answer from the network).
pub fn request(
    base: &str,
    key: &str,
    call: &Call,
    done: impl FnOnce(Result<Issued, u16>) + 'static,
) {
    let done: Done = Rc::new(RefCell::new(Some(Box::new(done))));
    let Some(window) = crate::dom::window() else {
        return finish(&done, Err(0));
    };
    let mut fields = [
        ("touchpoint", JsValue::from_str(call.touchpoint.as_str())),
        (
            "interaction_id",
            JsValue::from_str(call.interaction.as_str()),
        ),
        ("agent_id", JsValue::from_str(call.agent.as_str())),
        ("locale", JsValue::from_str(call.texts.code)),
        ("queue", JsValue::UNDEFINED),
    ];
    if let Some(q) = &call.queue {
        fields[4].1 = JsValue::from_str(q.as_str());
    }
    let body = JSON::stringify(&object(&fields))
        .map(String::from)
        .unwrap_or_default();
    let headers = object(&[
        ("authorization", JsValue::from_str(&join(&["Bearer ", key]))),
        ("content-type", JsValue::from_str("application/json")),
    ]);
    let init: RequestInit = object(&[
        ("method", JsValue::from_str("POST")),
        ("body", JsValue::from_str(&body)),
        ("headers", headers.into()),
        ("mode", JsValue::from_str("cors")),
        ("credentials", JsValue::from_str("omit")),
    ])
    .unchecked_into();
    let promise = window.fetch_with_str_and_init(&join(&[base, "/v1/invitations"]), &init);
    let failed = {
        let done = Rc::clone(&done);
        Closure::once_into_js(move |_: JsValue| finish(&done, Err(0)))
    };
    let answered = {
        let done = Rc::clone(&done);
        Closure::once_into_js(move |value: JsValue| {
            let Some(response) = value.dyn_ref::<Response>() else {
                return finish(&done, Err(0));
            };
            let status = response.status();
            let json = match response.json() {
                Ok(json) if status == 201 => json,
                _ => return finish(&done, Err(status)),
            };
            let unreadable = {
                let done = Rc::clone(&done);
                Closure::once_into_js(move |_: JsValue| finish(&done, Err(status)))
            };
            let read = Closure::once_into_js(move |body: JsValue| {
                finish(
                    &done,
                    serde_wasm_bindgen::from_value(body).map_err(|_| status),
                )
            });
            json.unchecked_ref::<Thenable>()
                .then_both(&read, &unreadable);
        })
    };
    promise
        .unchecked_ref::<Thenable>()
        .then_both(&answered, &failed);
}

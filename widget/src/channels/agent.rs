//! Agent mode and the invitation's page: the post-call invitation on the agent's screen (link,
//! QR code, the Assist button that opens the survey for assisted capture), and on the page an
//! invitation link opens (`/s/{token}`), the collector's refusal shown in place of the thank-you.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use gloo_events::EventListener;
use js_sys::Reflect;
use protocol::{Channel, Context, Ident};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CustomEvent, Element, Event};

use super::invite::{Call, Issued};
use super::options::call_options;
use crate::config::{self, Config};
use crate::dom::{add, append, dispatch, error, join, object, push_number, set, warn};
use crate::panel::{Hooks, Settings, Widget};

pub const BAD_LOCALE: &str =
    "touchpoint: postCall: locale must be one of en, es, fr, de, ar; using the console's language";
pub const BAD_CALL: &str = "touchpoint: postCall needs interactionId and agentId (1-64 characters of A-Z a-z 0-9 . _ : / -); no survey link was made";

/// The `data-act` of the invitation's Assist button.
pub const ASSIST: &str = "assist";

/// The courier's events that carry the collector's word on an answer.
const OUTCOMES: [&str; 2] = ["touchpoint:delivered", "touchpoint:rejected"];

/// The invitation on show and what listens for outcomes.
#[derive(Default)]
pub struct Agent {
    /// The invitation on show, and the settings its assisted capture answers with.
    invite: RefCell<Option<(Element, Settings)>>,
    /// The outcome listeners on `window`; they stop when dropped.
    listeners: RefCell<Vec<EventListener>>,
}

impl Agent {
    /// Listens for the collector's word on this page's answers (see `on_outcome`).
    pub fn listen<H: Hooks>(&self, widget: &Rc<Widget<H>>) {
        let Some(window) = crate::dom::window() else {
            return;
        };
        let Ok(mut listeners) = self.listeners.try_borrow_mut() else {
            return;
        };
        for name in OUTCOMES {
            let weak = Rc::downgrade(widget);
            listeners.push(EventListener::new(&window, name, move |event| {
                if let Some(w) = weak.upgrade() {
                    on_outcome(&w, event);
                }
            }));
        }
    }

    /// Shows the post-call invitation for `call` (or why there is none), with the link, its QR
    /// code and the assisted capture button.
    pub fn show_invitation<H: Hooks>(
        &self,
        w: &Widget<H>,
        call: &Call,
        outcome: Result<Issued, u16>,
    ) {
        let doc = w.document();
        // The agent's words in the console's language; the survey in the customer's.
        let console = w.settings().texts;
        let ui = &console.ui;
        w.discard();
        if let Some((old, _)) = self.invite.try_borrow_mut().ok().and_then(|mut i| i.take()) {
            old.remove();
        }
        let section = add(
            doc,
            None,
            "section",
            &["class", "panel invite", "part", "invite"],
            "",
        );
        set(&section, "aria-label", ui.post_call);
        add(
            doc,
            Some(&section),
            "h2",
            &[],
            &join(&[ui.post_call, " · ", call.interaction.as_str()]),
        );
        let issued = match outcome {
            Ok(issued) => issued,
            Err(status) => {
                let mut code = String::new();
                push_number(&mut code, u64::from(status));
                add(
                    doc,
                    Some(&section),
                    "p",
                    &["class", "status", "role", "status"],
                    &join(&[ui.link_failed, " (HTTP ", &code, ")."]),
                );
                append(w.root(), &section);
                return;
            }
        };
        let p = add(
            doc,
            Some(&section),
            "p",
            &["class", "link"],
            &join(&[ui.share_link, " "]),
        );
        let a = add(
            doc,
            Some(&p),
            "a",
            &["target", "_blank", "rel", "noopener", "part", "link"],
            &issued.url,
        );
        set(&a, "href", &issued.url);
        let img = add(
            doc,
            Some(&section),
            "img",
            &["class", "qr", "part", "qr", "width", "200", "height", "200"],
            "",
        );
        set(&img, "alt", ui.qr_alt);
        set(&img, "src", &issued.qr);
        add(
            doc,
            Some(&section),
            "button",
            &[
                "type", "button", "class", "send", "data-act", ASSIST, "part", "assist",
            ],
            ui.assist,
        );
        append(w.root(), &section);
        let settings = Settings {
            touchpoint: call.touchpoint.clone(),
            channel: Channel::Agent,
            context: Context {
                interaction_id: Some(call.interaction.clone()),
                agent_id: Some(call.agent.clone()),
                segment: call.queue.clone(),
                invitation: protocol::InvitationToken::parse(&issued.assist_token).ok(),
                assisted: true,
                ..Context::default()
            },
            texts: call.texts,
        };
        if let Ok(mut slot) = self.invite.try_borrow_mut() {
            *slot = Some((section, settings));
        }
        dispatch(
            "touchpoint:invitation",
            &object(&[
                (
                    "interactionId",
                    JsValue::from_str(call.interaction.as_str()),
                ),
                ("url", JsValue::from_str(&issued.url)),
                ("token", JsValue::from_str(&issued.token)),
            ]),
        );
    }

    /// The agent records the customer's answers now, on the agent's screen.
    pub fn assist<H: Hooks>(&self, w: &Widget<H>) {
        let Some(settings) = self
            .invite
            .try_borrow()
            .ok()
            .and_then(|i| i.as_ref().map(|(_, s)| s.clone()))
        else {
            return;
        };
        w.configure(settings);
        w.open(true);
    }
}

/// The call `postCall`'s `options` describe, on this page's touchpoint; `None` (with a console
/// message for a wrong option) when there is none.
pub fn call(config: &Config, options: JsValue) -> Option<Call> {
    let options = call_options(options)?;
    let (Some(interaction), Some(agent)) = (
        Ident::parse(&options.interaction_id),
        Ident::parse(&options.agent_id),
    ) else {
        error(BAD_CALL);
        return None;
    };
    let locale = options.locale.as_deref().filter(|l| !l.is_empty());
    let texts = config::locale(locale).unwrap_or_else(|| {
        if locale.is_some() {
            warn(BAD_LOCALE);
        }
        config.texts
    });
    Some(Call {
        touchpoint: config.touchpoint.clone()?,
        interaction,
        agent,
        queue: options.queue.as_deref().and_then(Ident::parse),
        texts,
    })
}

/// The collector's word on an answer this page sent: on an invitation's page, "already answered"
/// (409) or "link not valid" (refused) replaces the thank-you.
fn on_outcome<H: Hooks>(w: &Widget<H>, event: &Event) {
    let detail = event.unchecked_ref::<CustomEvent>().detail();
    let field = |k: &str| Reflect::get(&detail, &JsValue::from_str(k)).ok();
    let id = field("id").and_then(|v| v.as_string());
    let status = field("status").and_then(|v| v.as_f64()).unwrap_or(0.0) as u16;
    let settings = w.settings();
    if settings.context.invitation.is_none() {
        return;
    }
    let ui = &settings.texts.ui;
    let text = match status {
        409 => ui.already_answered,
        400..=499 => ui.link_invalid,
        _ => return,
    };
    if let Some(status) = id.and_then(|id| w.status_of(&id)) {
        status.set_text_content(Some(text));
    }
}

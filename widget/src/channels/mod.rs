//! The kiosk and agent channels (feature `channels`): what they add to the shared panel through
//! [`Hooks`]. [`kiosk`]: the attract screen, idle reset and its one timer; [`agent`]: the
//! post-call invitation, assisted capture and the invitation page's outcomes; [`invite`]: the
//! request for an invitation; [`options`]: the JS API's option objects, read with serde.

pub mod agent;
pub mod invite;
pub mod kiosk;
pub mod options;

use alloc::rc::Rc;

use web_sys::{Document, Element, ShadowRoot};

use self::agent::{Agent, ASSIST};
use self::kiosk::{Kiosk, Timers, LANGUAGE, LARGER};
use crate::config::{Config, Mode};
use crate::dom::show;
use crate::panel::act::index_attr;
use crate::panel::{Hooks, Settings, Widget};

/// What the kiosk and agent module's widget adds to the shared panel.
pub struct Channels {
    /// Kiosk mode's screen and clock.
    kiosk: Option<Rc<Kiosk>>,
    /// Agent mode's invitation, and the invitation page's outcome listeners.
    agent: Agent,
}

impl Channels {
    pub fn agent(&self) -> &Agent {
        &self.agent
    }
}

/// A click on the channels' own elements.
#[derive(Debug)]
pub enum ChannelAct {
    /// The attract screen's language at this index of `config::LOCALES`.
    Language(usize),
    /// The kiosk's larger-text control.
    Larger,
    /// The invitation's Assist button (it hides once pressed).
    Assist(Element),
}

impl Hooks for Channels {
    type Act = ChannelAct;

    fn new(
        doc: &Document,
        root: &ShadowRoot,
        settings: &Settings,
        mode: Mode,
        config: &Config,
    ) -> Self {
        let timers = Timers {
            reset_ms: config.channels.reset_ms,
            idle_ms: config.channels.idle_ms,
        };
        Self {
            kiosk: (mode == Mode::Kiosk).then(|| Rc::new(Kiosk::new(doc, root, settings, timers))),
            agent: Agent::default(),
        }
    }

    fn full_screen(mode: Mode) -> bool {
        mode == Mode::Kiosk
    }

    fn mounted(widget: &Rc<Widget<Self>>) {
        if let Some(k) = &widget.hooks().kiosk {
            k.start(widget);
        }
        widget.hooks().agent.listen(widget);
    }

    fn act(name: &str, el: &Element) -> Option<ChannelAct> {
        match name {
            LANGUAGE => Some(ChannelAct::Language(index_attr(el, "data-i")?)),
            LARGER => Some(ChannelAct::Larger),
            ASSIST => Some(ChannelAct::Assist(el.clone())),
            _ => None,
        }
    }

    fn on_act(widget: &Widget<Self>, act: ChannelAct) {
        let hooks = widget.hooks();
        match act {
            ChannelAct::Language(i) => {
                if let Some(k) = &hooks.kiosk {
                    k.start_in(widget, i);
                }
            }
            ChannelAct::Larger => {
                if let Some(k) = &hooks.kiosk {
                    k.toggle_larger();
                }
            }
            ChannelAct::Assist(button) => {
                show(&button, false);
                hooks.agent.assist(widget);
            }
        }
    }

    fn touched(widget: &Widget<Self>) {
        if let Some(k) = &widget.hooks().kiosk {
            k.touch();
        }
    }

    fn sent(widget: &Widget<Self>) {
        if let Some(k) = &widget.hooks().kiosk {
            k.sent();
        }
    }
}

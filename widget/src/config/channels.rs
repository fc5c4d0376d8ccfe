//! The kiosk's, an agent console's and an invitation page's own attributes (feature `channels`):
//! site and device, the call an invitation binds, the console's key, the kiosk's timers, each
//! checked with one console message when wrong.

use alloc::string::String;
use alloc::vec::Vec;
use protocol::{Channel, Context, InvitationToken};
use wasm_bindgen::JsValue;

use super::{ident, text, Config, Mode, Note};

pub const BAD_CONTEXT: &str = "touchpoint: data-site, data-device or data-agent is invalid (1-64 characters of A-Z a-z 0-9 . _ : / -); ignored";
pub const BAD_INVITATION: &str = "touchpoint: data-invitation needs a valid token with data-interaction and data-agent (the collector's /s/ page writes them); the survey is not shown";
pub const NO_AGENT_KEY: &str =
    "touchpoint: data-mode=\"agent\" needs data-agent-key to ask for post-call invitations";
pub const BAD_SECONDS: &str =
    "touchpoint: data-reset-seconds and data-idle-seconds must be whole seconds from 1 to 3600; using the default";

/// The kiosk's timers and the agent console's key.
#[derive(Debug)]
pub struct ChannelConfig {
    /// The key an agent console sends to ask for invitations (`data-agent-key`).
    pub agent_key: Option<String>,
    /// Kiosk: thank-you → attract screen after this long (`data-reset-seconds`, default 5).
    pub reset_ms: f64,
    /// Kiosk: a survey left alone this long is discarded (`data-idle-seconds`, default 30).
    pub idle_ms: f64,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            agent_key: None,
            reset_ms: 5_000.0,
            idle_ms: 30_000.0,
        }
    }
}

/// `data-*-seconds` in milliseconds, or `default` (with a note when it was wrong).
fn seconds(obj: &JsValue, key: &str, default: f64, notes: &mut Vec<Note>) -> f64 {
    let Some(value) = text(obj, key) else {
        return default;
    };
    match crate::dom::parse_number(&value) {
        Some(s @ 1..=3600) => s as f64 * 1000.0,
        _ => {
            notes.push((false, BAD_SECONDS));
            default
        }
    }
}

/// `config` (the attributes every page has) with the loader's object's kiosk and agent
/// attributes: the kiosk channel in kiosk mode, the agent channel on an invitation's page (and no
/// survey there without the call it binds), the console's key and the kiosk's timers.
pub fn read(obj: &JsValue, config: Config, notes: &mut Vec<Note>) -> Config {
    let mut context = Context {
        site_id: ident(obj, "site", BAD_CONTEXT, notes),
        device_id: ident(obj, "device", BAD_CONTEXT, notes),
        agent_id: ident(obj, "agent", BAD_CONTEXT, notes),
        ..config.context
    };
    let mut channel = if config.mode == Mode::Kiosk {
        Channel::Kiosk
    } else {
        Channel::Web
    };
    let mut touchpoint = config.touchpoint;
    if let Some(token) = text(obj, "invitation") {
        context.invitation = InvitationToken::parse(&token).ok();
        channel = Channel::Agent;
        let complete = context.invitation.is_some()
            && context.interaction_id.is_some()
            && context.agent_id.is_some();
        if !complete {
            notes.push((true, BAD_INVITATION));
            touchpoint = None;
        }
    }
    let agent_key = text(obj, "agentKey");
    if config.mode == Mode::Agent && agent_key.is_none() {
        notes.push((true, NO_AGENT_KEY));
    }
    let reset_ms = seconds(obj, "resetSeconds", 5_000.0, notes);
    let idle_ms = seconds(obj, "idleSeconds", 30_000.0, notes);
    Config {
        touchpoint,
        channel,
        context,
        channels: ChannelConfig {
            agent_key,
            reset_ms,
            idle_ms,
        },
        ..config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::loader;
    use protocol::Ident;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// The config and the notes the loader's object with `entries` gives.
    fn config(entries: &[(&str, &str)], lang: &str) -> (Config, Vec<Note>) {
        let mut notes = Vec::new();
        let config = Config::read_noting(&loader(entries), lang, &mut notes);
        (config, notes)
    }

    #[wasm_bindgen_test]
    fn kiosk_mode_reads_its_site_device_and_timers() {
        let (c, notes) = config(
            &[
                ("base", "http://x"),
                ("touchpoint", "branch-teller"),
                ("mode", "kiosk"),
                ("site", "branch-042"),
                ("device", "kiosk-3"),
                ("resetSeconds", "2"),
                ("idleSeconds", "45"),
            ],
            "en",
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!((c.mode, c.channel), (Mode::Kiosk, Channel::Kiosk));
        assert_eq!(
            c.context.site_id.as_ref().map(Ident::as_str),
            Some("branch-042")
        );
        assert_eq!(
            c.context.device_id.as_ref().map(Ident::as_str),
            Some("kiosk-3")
        );
        assert_eq!(
            (c.channels.reset_ms, c.channels.idle_ms),
            (2_000.0, 45_000.0)
        );
        let (c, notes) = config(
            &[
                ("base", "http://x"),
                ("touchpoint", "t"),
                ("mode", "kiosk"),
                ("device", "kiosk 3"),
                ("resetSeconds", "0"),
                ("idleSeconds", "soon"),
            ],
            "en",
        );
        assert_eq!(
            notes,
            [
                (false, BAD_CONTEXT),
                (false, BAD_SECONDS),
                (false, BAD_SECONDS)
            ]
        );
        assert_eq!(
            (c.channels.reset_ms, c.channels.idle_ms),
            (5_000.0, 30_000.0)
        );
        assert!(c.context.device_id.is_none());
    }

    #[wasm_bindgen_test]
    fn agent_mode_needs_a_key_and_an_invitation_page_answers_on_the_agent_channel() {
        let (c, notes) = config(
            &[
                ("base", "http://x"),
                ("touchpoint", "contact-centre"),
                ("mode", "agent"),
                ("agentKey", "demo-console"),
            ],
            "en",
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(c.mode, Mode::Agent);
        assert_eq!(c.channels.agent_key.as_deref(), Some("demo-console"));
        let (_, notes) = config(
            &[("base", "http://x"), ("touchpoint", "t"), ("mode", "agent")],
            "en",
        );
        assert_eq!(notes, [(true, NO_AGENT_KEY)]);

        let invitation = [
            ("base", "http://x"),
            ("touchpoint", "billing"),
            ("mode", "inline"),
            ("target", "#tp"),
            ("interaction", "call-123"),
            ("agent", "a-7"),
            ("invitation", "eyJ0IjoiYmlsbGluZyJ9.c2lnbmF0dXJl"),
        ];
        let (c, notes) = config(&invitation, "en");
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(c.channel, Channel::Agent);
        assert!(c.context.invitation.is_some());
        assert_eq!(
            c.context.interaction_id.as_ref().map(Ident::as_str),
            Some("call-123")
        );
        // Without the call it binds, the page shows no survey that could only be refused.
        let (c, notes) = config(&invitation[..5], "en");
        assert!(notes.is_empty());
        assert_eq!(c.channel, Channel::Web);
        let mut broken = invitation.to_vec();
        broken[6].1 = "not a token";
        let (c, notes) = config(&broken, "en");
        assert_eq!(notes, [(true, BAD_INVITATION)]);
        assert!(c.touchpoint.is_none());
    }
}

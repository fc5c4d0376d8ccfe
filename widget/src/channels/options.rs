//! The option objects of the kiosk and agent module's JS API, read with serde: `postCall`'s and
//! `open`'s. A wrong call gets one console message that names the field at fault, such as
//! `touchpoint: Touchpoint.postCall: interactionId: invalid type: floating point `7.0`, expected a
//! string`.

use alloc::format;
use alloc::string::String;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use wasm_bindgen::JsValue;

use crate::config::OpenOptions;
use crate::dom::error;

/// `Touchpoint.postCall(options)`: the call that ended. The identifiers are checked after (see
/// `agent.rs`); here only their types.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallOptions {
    pub interaction_id: String,
    pub agent_id: String,
    pub queue: Option<String>,
    /// The customer's language, for the link's page and assisted capture.
    pub locale: Option<String>,
}

/// `value` read as `T`, or the message for the console: which field of `call`'s options is
/// wrong, and how.
pub fn read<T: DeserializeOwned>(value: JsValue, call: &str) -> Result<T, String> {
    let deserializer = serde_wasm_bindgen::Deserializer::from(value);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        // serde-wasm-bindgen's errors are JS `Error`s, written `Error: <what is wrong>`.
        let what = e.inner().to_string();
        let what = what.strip_prefix("Error: ").unwrap_or(&what);
        format!("touchpoint: Touchpoint.{call}: {field}{what}")
    })
}

/// `postCall`'s options; a wrong one is reported and refused.
pub fn call_options(value: JsValue) -> Option<CallOptions> {
    read(value, "postCall")
        .map_err(|message| error(&format!("{message}; no survey link was made")))
        .ok()
}

/// `open`'s options (none when `open()` is called without); a wrong one is reported and the
/// survey opens as it would without options. Empty strings count as not given.
pub fn open_options(value: JsValue) -> OpenOptions {
    let options: Option<OpenOptions> = read(value, "open")
        .map_err(|message| error(&format!("{message}; the options were ignored")))
        .unwrap_or_default();
    let mut options = options.unwrap_or_default();
    for field in [
        &mut options.touchpoint,
        &mut options.segment,
        &mut options.locale,
        &mut options.interaction_id,
    ] {
        if field.as_deref() == Some("") {
            *field = None;
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dom::object;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn a_wrong_field_is_named_and_a_good_call_is_read() {
        let call =
            |entries: &[(&str, JsValue)]| read::<CallOptions>(object(entries).into(), "postCall");
        let good = call(&[
            ("interactionId", "call-1".into()),
            ("agentId", "a-7".into()),
            ("locale", "fr".into()),
        ])
        .unwrap();
        assert_eq!(
            (good.interaction_id.as_str(), good.agent_id.as_str()),
            ("call-1", "a-7")
        );
        assert_eq!((good.queue, good.locale.as_deref()), (None, Some("fr")));

        let wrong = call(&[("interactionId", 7.into()), ("agentId", "a-7".into())]).unwrap_err();
        assert!(
            wrong.starts_with("touchpoint: Touchpoint.postCall: interactionId: invalid type"),
            "{wrong}"
        );
        let missing = call(&[("interactionId", "call-1".into())]).unwrap_err();
        assert!(missing.contains("agentId"), "{missing}");
        let queue = call(&[
            ("interactionId", "call-1".into()),
            ("agentId", "a-7".into()),
            ("queue", true.into()),
        ])
        .unwrap_err();
        assert!(queue.contains(": queue: "), "{queue}");
    }

    #[wasm_bindgen_test]
    fn open_reads_its_options_ignores_empty_ones_and_a_wrong_call() {
        assert_eq!(open_options(JsValue::UNDEFINED), OpenOptions::default());
        let options = open_options(
            object(&[("touchpoint", "checkout".into()), ("segment", "".into())]).into(),
        );
        assert_eq!(options.touchpoint.as_deref(), Some("checkout"));
        assert_eq!(options.segment, None);
        let wrong = open_options(object(&[("locale", 5.into())]).into());
        assert_eq!(wrong, OpenOptions::default());
        assert!(
            read::<Option<OpenOptions>>(object(&[("locale", 5.into())]).into(), "open")
                .unwrap_err()
                .contains("open: locale: invalid type")
        );
    }
}

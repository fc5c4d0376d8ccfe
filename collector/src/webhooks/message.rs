//! What an endpoint receives: the body `{"type","timestamp","data"}` of the Standard Webhooks
//! format, or a readable `{"text"}` message for Slack- and Teams-style incoming webhooks.
//! `data` of `response.created` is the answer as the NDJSON export writes it, plus its
//! `department`.

use protocol::Timestamp;
use serde_json::{json, Map, Value};

use crate::{
    org::notify::Format,
    store::{events::EventKind, Record, FLAG_BURST},
};

/// `data` of an answer's `response.created`.
pub fn response_data(record: &Record<'_>, department: &str) -> Option<Value> {
    let mut object: Map<String, Value> = serde_json::from_str(record.json).ok()?;
    object.insert("burst".into(), Value::Bool(record.flags & FLAG_BURST != 0));
    object.insert(
        "received_at".into(),
        Value::String(rfc3339(record.received_micros)),
    );
    object.insert("department".into(), Value::String(department.to_owned()));
    Some(Value::Object(object))
}

/// A time in microseconds since the Unix epoch, as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(micros: u64) -> String {
    Timestamp::from_unix_millis((micros / 1000) as i64)
        .as_str()
        .to_owned()
}

/// The body sent for an event of `kind` that happened at `at` (microseconds), in `format`.
pub fn body(format: Format, kind: EventKind, at: u64, data: &Value) -> String {
    match format {
        Format::StandardWebhooks => json!({
            "type": kind.name(),
            "timestamp": rfc3339(at),
            "data": data,
        })
        .to_string(),
        Format::Slack => json!({ "text": text(kind, data) }).to_string(),
    }
}

/// One line a person reads in a chat channel.
fn text(kind: EventKind, data: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    match kind {
        EventKind::ResponseCreated => {
            let answers = &data["answers"];
            let mut parts = Vec::new();
            if let Some(e) = answers["effort"].as_u64() {
                parts.push(format!("effort {e}/7"));
            }
            if let Some(c) = answers["confidence"].as_u64() {
                parts.push(format!("confidence {c}/5"));
            }
            if let Some(e) = answers["emotion"].as_str() {
                parts.push(e.to_owned());
            }
            let comment = data["comment"]
                .as_str()
                .map(|c| format!(" — “{c}”"))
                .unwrap_or_default();
            format!(
                "New answer at {} ({}, {}): {}{comment}",
                s(&data["touchpoint"]),
                s(&data["department"]),
                s(&data["channel"]),
                parts.join(", ")
            )
        }
        EventKind::AlertOpened if data.get("digest").is_some() => {
            let alerts = data["alerts"].as_array().map_or(0, Vec::len);
            format!(
                "While quiet hours lasted, {alerts} alert(s) opened: see the dashboard's alerts"
            )
        }
        EventKind::AlertOpened => format!(
            "Alert {} opened for {}: {}",
            s(&data["rule"]),
            s(&data["scope"]),
            s(&data["summary"])
        ),
        EventKind::AlertResolved => format!(
            "Alert {} resolved for {}: {}",
            s(&data["rule"]),
            s(&data["scope"]),
            s(&data["summary"])
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reads_as_a_line_in_slack() {
        let data = json!({"touchpoint": "card-activation", "department": "digital",
            "channel": "web", "answers": {"effort": 2, "emotion": "frustrated"},
            "comment": "the code never came"});
        let body: Value =
            serde_json::from_str(&body(Format::Slack, EventKind::ResponseCreated, 0, &data))
                .expect("json");
        assert_eq!(
            body["text"],
            "New answer at card-activation (digital, web): effort 2/7, frustrated — “the code never came”"
        );
        let standard: Value = serde_json::from_str(&body_standard(&data)).expect("json");
        assert_eq!(standard["type"], "response.created");
        assert_eq!(standard["timestamp"], "1970-01-01T00:00:00.001Z");
        assert_eq!(standard["data"], data);
    }

    fn body_standard(data: &Value) -> String {
        body(
            Format::StandardWebhooks,
            EventKind::ResponseCreated,
            1000,
            data,
        )
    }
}

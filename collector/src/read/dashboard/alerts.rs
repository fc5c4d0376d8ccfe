//! The dashboard's alerts and endpoints: the alerts, open ones first and then their history,
//! each with its acknowledgement or a form to acknowledge it; and each endpoint's state and
//! delivery log. Every state is said in words, so the page reads without colour.

use std::{collections::HashMap, fmt::Write as _};

use crate::{
    org::Organisation,
    read::html::escape,
    store::{
        events::{Acknowledgement, Alert},
        Store, StoreError,
    },
    webhooks::message::rfc3339,
};

/// Resolved alerts the history lists, the newest.
const HISTORY: usize = 50;
/// Attempts each endpoint's log shows, the newest.
const ATTEMPTS: usize = 10;

/// A time as the page shows it, in a `<time>` element a browser or a reader can take apart.
fn time(micros: u64) -> String {
    let text = rfc3339(micros);
    format!(
        "<time datetime=\"{text}\">{}</time>",
        text.replacen('T', " ", 1).replacen('Z', " UTC", 1)
    )
}

/// The alerts section, when the organisation has alert rules or alerts were ever opened.
pub fn section(
    out: &mut String,
    store: &dyn Store,
    org: Option<&Organisation>,
) -> Result<(), StoreError> {
    let alerts = store.alerts()?;
    if alerts.is_empty() && org.is_none_or(|o| o.alerts.is_empty()) {
        return Ok(());
    }
    let acks: HashMap<String, Acknowledgement> = store
        .acknowledgements()?
        .into_iter()
        .map(|a| (a.alert.clone(), a))
        .collect();
    out.push_str("<section class=\"panel\" id=\"alerts\" aria-labelledby=\"alerts-title\"><h2 id=\"alerts-title\">Alerts</h2>\n");
    let open: Vec<&Alert> = alerts
        .iter()
        .rev()
        .filter(|a| a.resolved_at.is_none())
        .collect();
    let resolved: Vec<&Alert> = alerts
        .iter()
        .rev()
        .filter(|a| a.resolved_at.is_some())
        .collect();
    if open.is_empty() {
        out.push_str("<p class=\"note\">No alert is open.</p>\n");
    } else {
        table(out, "Open alerts", &open, &acks);
    }
    if !resolved.is_empty() {
        let shown = &resolved[..resolved.len().min(HISTORY)];
        table(out, "History", shown, &acks);
        if resolved.len() > shown.len() {
            let _ = writeln!(
                out,
                "<p class=\"note\">The {} newest of {} resolved alerts; GET /v1/alerts lists them all.</p>",
                shown.len(),
                resolved.len()
            );
        }
    }
    out.push_str("</section>\n");
    Ok(())
}

fn table(
    out: &mut String,
    caption: &str,
    alerts: &[&Alert],
    acks: &HashMap<String, Acknowledgement>,
) {
    let _ = write!(
        out,
        "<table class=\"agenda alerts\">\n<caption>{caption}</caption>\n<thead><tr><th scope=\"col\">status</th><th scope=\"col\">rule</th><th scope=\"col\">scope</th><th scope=\"col\">opened</th><th scope=\"col\">resolved</th><th scope=\"col\">summary</th><th scope=\"col\">acknowledged</th></tr></thead>\n<tbody>\n"
    );
    for alert in alerts {
        let status = match (alert.resolved_at, alert.held) {
            (None, false) => "open",
            (None, true) => "open, held for the digest",
            (Some(_), _) => "resolved",
        };
        let summary = alert.detail["summary"].as_str().unwrap_or("");
        let _ = write!(
            out,
            "<tr><td><span class=\"standing\">{status}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
            escape(&alert.rule),
            escape(&alert.scope),
            time(alert.opened_at),
            alert.resolved_at.map_or_else(|| "–".to_owned(), time),
            escape(summary),
        );
        match acks.get(&alert.id) {
            Some(ack) => {
                let _ = write!(out, "by {} at {}", escape(&ack.by), time(ack.at));
                if !ack.note.is_empty() {
                    let _ = write!(out, ": {}", escape(&ack.note));
                }
            }
            None if alert.resolved_at.is_none() => {
                let _ = write!(
                    out,
                    "<form class=\"close\" method=\"post\" action=\"/dashboard/alerts/acknowledge\">\
                     <input type=\"hidden\" name=\"alert\" value=\"{}\">\
                     <label>Your name<input name=\"by\" required maxlength=\"100\"></label>\
                     <label>Note<input name=\"note\" maxlength=\"1000\"></label>\
                     <button type=\"submit\">Acknowledge</button></form>",
                    escape(&alert.id)
                );
            }
            None => out.push_str("no"),
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// Each endpoint of the organisation file: enabled or disabled and why, what waits for it, and
/// its recent attempts. Never its secret.
pub fn endpoints(
    out: &mut String,
    store: &dyn Store,
    org: Option<&Organisation>,
) -> Result<(), StoreError> {
    let Some(org) = org.filter(|o| !o.endpoints.is_empty()) else {
        return Ok(());
    };
    let pending = store.pending_deliveries()?;
    out.push_str("<section class=\"panel\" id=\"endpoints\" aria-labelledby=\"endpoints-title\"><h2 id=\"endpoints-title\">Webhook endpoints</h2>\n");
    for endpoint in &org.endpoints {
        let state = store.endpoint_state(&endpoint.id)?;
        let _ = write!(
            out,
            "<section class=\"endpoint\" aria-label=\"Endpoint {id}\"><h3>{id}</h3>\n<p>{url}</p>\n<p>",
            id = escape(&endpoint.id),
            url = escape(&endpoint.url)
        );
        match (&state.disabled, state.disabled_at) {
            (Some(why), at) => {
                let _ = write!(
                    out,
                    "<span class=\"standing overdue\">disabled</span> {}{}; reload the organisation file to enable it again.",
                    at.map_or_else(String::new, |at| format!("since {}: ", time(at))),
                    escape(why)
                );
            }
            (None, _) => out.push_str("<span class=\"standing\">enabled</span>"),
        }
        let waiting = pending.get(&endpoint.id);
        let _ = writeln!(
            out,
            " {} delivered, {} failed attempts, {} given up; {} waiting{}.</p>",
            state.delivered,
            state.failed_attempts,
            state.abandoned,
            waiting.map_or(0, |p| p.count),
            waiting
                .and_then(|p| p.next_at)
                .map_or_else(String::new, |at| format!(", next attempt {}", time(at)))
        );
        if state.log.is_empty() {
            out.push_str("<p class=\"note\">No attempt yet.</p>\n</section>\n");
            continue;
        }
        let _ = write!(
            out,
            "<table class=\"agenda\">\n<caption>The {} most recent attempts</caption>\n<thead><tr><th scope=\"col\">time</th><th scope=\"col\">event</th><th scope=\"col\">outcome</th><th scope=\"col\">latency</th><th scope=\"col\">next retry</th></tr></thead>\n<tbody>\n",
            state.log.len().min(ATTEMPTS)
        );
        for attempt in state.log.iter().rev().take(ATTEMPTS) {
            let outcome = match (attempt.status, &attempt.error) {
                (Some(status), _) if (200..300).contains(&status) => {
                    format!("delivered ({status})")
                }
                (Some(status), _) => format!("failed: answered {status}"),
                (None, Some(error)) => format!("failed: {error}"),
                (None, None) => "failed".to_owned(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{} ms</td><td>{}</td></tr>",
                time(attempt.at),
                attempt.kind.name(),
                escape(&attempt.webhook_id),
                escape(&outcome),
                attempt.latency_ms,
                attempt.next_retry.map_or_else(|| "–".to_owned(), time),
            );
        }
        out.push_str("</tbody></table>\n</section>\n");
    }
    out.push_str("</section>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    fn alert(id: &str, opened_at: u64, resolved_at: Option<u64>, summary: &str) -> Alert {
        Alert {
            id: id.into(),
            rule: "struggled".into(),
            scope: format!("touchpoint:{id}"),
            opened_at,
            resolved_at,
            detail: serde_json::json!({ "summary": summary }),
            count: 1,
            last_at: opened_at,
            held: false,
        }
    }

    #[test]
    fn open_alerts_come_first_with_a_form_and_acknowledgements_are_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        store
            .put_alert(&alert(
                "old",
                1_000_000,
                Some(2_000_000),
                "<script>x</script>",
            ))
            .expect("alert");
        store
            .put_alert(&alert("new", 3_000_000, None, "low"))
            .expect("alert");
        let ack = Acknowledgement::new("old", "Sam <b>", "done & \"dusted\"", "api", 2_500_000)
            .expect("valid");
        store.put_acknowledgement(&ack).expect("ack");
        let mut page = String::new();
        section(&mut page, &store, None).expect("renders");
        let open = page.find("<caption>Open alerts").expect("open alerts");
        let history = page.find("<caption>History").expect("history");
        assert!(open < history, "open ones first");
        assert_eq!(page.matches("name=\"alert\" value=\"new\"").count(), 1);
        assert!(
            !page.contains("value=\"old\""),
            "no form on a resolved alert"
        );
        assert!(page.contains("by Sam &lt;b&gt; at <time datetime=\"1970-01-01T00:00:02.500Z\">"));
        assert!(page.contains("done &amp; &quot;dusted&quot;"));
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!page.contains("<script>") && !page.contains("<b>"));
    }

    #[test]
    fn no_rules_and_no_alerts_is_no_section() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path()).expect("open");
        let mut page = String::new();
        section(&mut page, &store, None).expect("renders");
        endpoints(&mut page, &store, None).expect("renders");
        assert_eq!(page, "");
    }
}

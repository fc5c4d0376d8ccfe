//! `POST /v1/outcomes` and `GET /v1/impact`: each line stored once however often it is sent, bad
//! lines refused with their numbers while the rest are stored, and the business view's figures
//! equal to a recomputation from the export and the outcomes sent.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, submission, Reply, TestApp, ADMIN_TOKEN};

pub(crate) const NDJSON: (&str, &str) = ("Content-Type", "application/x-ndjson");
const CSV: (&str, &str) = ("Content-Type", "text/csv");

pub(crate) fn auth() -> (&'static str, String) {
    ("Authorization", format!("Bearer {ADMIN_TOKEN}"))
}

pub(crate) fn import(app: &TestApp, body: &str, kind: (&str, &str)) -> Reply {
    let (name, value) = auth();
    app.post("/v1/outcomes", body, &[(name, &value), kind])
}

pub(crate) fn impact(app: &TestApp, query: &str) -> Reply {
    let (name, value) = auth();
    app.get(&format!("/v1/impact{query}"), &[(name, &value)])
}

/// `(status, stored, duplicate, rejected)` of an import's answer.
pub(crate) fn counts(reply: &Reply) -> (u16, u64, u64, u64) {
    let n = |k: &str| reply.body[k].as_u64().unwrap_or(u64::MAX);
    (reply.status, n("stored"), n("duplicate"), n("rejected"))
}

pub(crate) fn line(interaction: &str, outcome: &str, at: &str, value: Option<f64>) -> String {
    let mut line = json!({"interaction_id": interaction, "outcome": outcome, "at": at});
    if let Some(v) = value {
        line["value"] = json!(v);
    }
    line.to_string()
}

/// A web answer at `touchpoint` carrying the interaction (an order id) `interaction`.
fn answer(n: u32, touchpoint: &str, interaction: &str, answers: Value) -> Value {
    let mut body = submission(n);
    body["touchpoint"] = json!(touchpoint);
    body["answers"] = answers;
    body["context"] = json!({"interaction_id": interaction, "page": "/checkout"});
    body
}

fn store_all(app: &TestApp, answers: &[Value]) {
    for chunk in answers.chunks(100) {
        let reply = app.post(
            "/v1/responses/batch",
            &Value::from(chunk.to_vec()).to_string(),
            &[("Content-Type", "text/plain")],
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        for item in reply.body["results"].as_array().expect("results") {
            assert_eq!(item["status"], "stored", "{item}");
        }
    }
}

#[test]
fn outcomes_and_impact_need_the_admin_token_and_a_known_format() {
    let app = spawn_app();
    let body = line("call-1", "repeat_contact", "2026-11-22T10:00:00Z", None);
    assert_eq!(app.post("/v1/outcomes", &body, &[NDJSON]).status, 401);
    assert_eq!(app.get("/v1/impact", &[]).status, 401);
    let wrong = import(&app, &body, ("Content-Type", "application/xml"));
    assert_eq!(
        (wrong.status, wrong.body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    for query in [
        "?from=yesterday",
        "?touchpoint=a%20b",
        "?period=month",
        "?from=2026-11-22&to=2026-11-21",
    ] {
        let bad = impact(&app, query);
        assert_eq!(
            (bad.status, bad.body["error"].as_str()),
            (400, Some("invalid_query")),
            "{query}: {}",
            bad.text
        );
    }
}

#[test]
fn each_line_is_stored_once_however_often_it_is_sent() {
    let app = spawn_app();
    let body = [
        line("call-1", "repeat_contact", "2026-11-22T10:00:00Z", None),
        line("call-1", "repeat_contact", "2026-11-23T10:00:00Z", None),
        line("call-2", "refund", "2026-11-22T10:00:00Z", Some(30.5)),
    ]
    .join("\n");
    assert_eq!(counts(&import(&app, &body, NDJSON)), (200, 3, 0, 0));
    let again = import(&app, &body, NDJSON);
    assert_eq!(counts(&again), (200, 0, 3, 0));
    assert_eq!(
        again.body["results"][2],
        json!({"line": 3, "status": "duplicate"})
    );
    // The same instant written with another offset is the same line; CSV, with a new line and
    // one sent twice in the same body.
    let csv = "interaction_id,outcome,at,value\n\
               call-1,repeat_contact,2026-11-22T11:00:00+01:00,\n\
               call-3,churn,2026-11-24T09:00:00Z,\n\
               call-3,churn,2026-11-24T09:00:00Z,\n";
    assert_eq!(counts(&import(&app, csv, CSV)), (200, 1, 2, 0));
    // The same identity with another value changes nothing and says so.
    let changed = line("call-2", "refund", "2026-11-22T10:00:00Z", Some(99.0));
    let conflict = import(&app, &changed, NDJSON);
    assert_eq!(counts(&conflict), (200, 0, 0, 1));
    assert_eq!(conflict.body["results"][0]["error"], "outcome_conflict");
    // What the view counts is what was stored once: two repeat contacts of call-1.
    store_all(
        &app,
        &[answer(1, "billing", "call-1", json!({"effort": 2}))],
    );
    let view = impact(&app, "");
    assert_eq!(view.status, 200, "{}", view.text);
    let repeat = &view.body["touchpoints"][0]["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .find(|o| o["outcome"] == "repeat_contact")
        .expect("repeat_contact")["bands"]["hard"];
    assert_eq!(
        (
            repeat["with_outcome"].as_u64(),
            repeat["occurrences"].as_u64()
        ),
        (Some(1), Some(2))
    );
}

#[test]
fn bad_lines_are_refused_with_their_line_numbers_and_the_rest_are_stored() {
    let app = spawn_app();
    let good = line("call-1", "repeat_contact", "2026-11-22T10:00:00Z", None);
    let table: [(&str, Option<&str>); 8] = [
        ("not json", None),
        (
            r#"{"interaction_id":"call 1","outcome":"x","at":"2026-11-22T10:00:00Z"}"#,
            Some("interaction_id"),
        ),
        (
            r#"{"interaction_id":"call-1","outcome":"<b>x</b>","at":"2026-11-22T10:00:00Z"}"#,
            Some("outcome"),
        ),
        (
            r#"{"interaction_id":"call-1","outcome":"x","at":"22/11/2026"}"#,
            Some("at"),
        ),
        (
            r#"{"interaction_id":"call-1","outcome":"x","at":"2026-11-22T10:00:00Z","value":"ten"}"#,
            None,
        ),
        (
            r#"{"interaction_id":"call-1","outcome":"x","at":"2026-11-22T10:00:00Z","extra":1}"#,
            None,
        ),
        (r#"{"interaction_id":"call-1","outcome":"x"}"#, None),
        (r#"["call-1","x","2026-11-22T10:00:00Z"]"#, None),
    ];
    let mut body = vec![good.clone()];
    body.extend(table.iter().map(|(l, _)| (*l).to_owned()));
    body.push(line(
        "call-2",
        "repeat_contact",
        "2026-11-22T10:00:00Z",
        None,
    ));
    let reply = import(&app, &body.join("\n"), NDJSON);
    assert_eq!(counts(&reply), (200, 2, 0, 8), "{}", reply.text);
    let results = reply.body["results"].as_array().expect("results");
    for (i, (text, field)) in table.iter().enumerate() {
        let result = &results[i + 1];
        assert_eq!(result["line"], i + 2, "{text}");
        assert_eq!(result["status"], "rejected", "{text}");
        assert_eq!(result["error"], "invalid_outcome", "{text}");
        assert_eq!(result["field"].as_str(), *field, "{text}");
        assert!(!result["message"].as_str().unwrap_or("").is_empty());
        // The rule, never the input.
        assert!(!result.to_string().contains("<b>"), "{result}");
    }
    assert_eq!(results[9], json!({"line": 10, "status": "stored"}));
    // A CSV body without its header is refused whole, at line 1.
    let headless = import(&app, "call-1,repeat_contact,2026-11-22T10:00:00Z\n", CSV);
    assert_eq!(
        (headless.status, headless.body["line"].as_u64()),
        (400, Some(1))
    );
    assert_eq!(headless.body["error"], "invalid_outcome");
}

pub(crate) const ORG: &str = r#"[organisation]
name = "Northbank"
currency = "GBP"

[[department]]
id = "digital"
name = "Digital"

[[touchpoint]]
id = "card-activation"
name = "Card activation"
department = "digital"

[[outcome]]
id = "repeat_contact"
name = "Repeat contacts"
cost = 5.00
"#;

/// A collector with the organisation file `org`, where 40 customers found card activation hard
/// and 40 easy; 12 of the hard and 4 of the easy called again, and one hard call brought a
/// refund of its own amount. Billing has three answers, too few to say anything.
pub(crate) fn card_activation_story(org: &str) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("org.toml");
    std::fs::write(&path, org).expect("written");
    let app = spawn_app_with(|c| c.org = Some(path.clone()));
    let mut answers = Vec::new();
    let mut lines = Vec::new();
    for i in 0..80u32 {
        let hard = i < 40;
        let call = format!("call-{i}");
        let effort = if hard { 1 + i % 3 } else { 5 + i % 3 };
        answers.push(answer(
            i,
            "card-activation",
            &call,
            json!({"effort": effort}),
        ));
        if (hard && i < 12) || (!hard && i < 44) {
            lines.push(line(&call, "repeat_contact", "2026-11-23T10:00:00Z", None));
        }
    }
    lines.push(line("call-0", "refund", "2026-11-23T11:00:00Z", Some(20.0)));
    for i in 0..3u32 {
        answers.push(answer(
            100 + i,
            "billing",
            &format!("bill-{i}"),
            json!({"effort": 2}),
        ));
    }
    lines.push(line(
        "bill-0",
        "repeat_contact",
        "2026-11-23T10:00:00Z",
        None,
    ));
    store_all(&app, &answers);
    assert_eq!(
        counts(&import(&app, &lines.join("\n"), NDJSON)),
        (200, 18, 0, 0)
    );
    (app, dir)
}

#[test]
fn the_view_says_how_much_more_often_and_what_it_costs() {
    let (app, _dir) = card_activation_story(ORG);
    let view = impact(&app, "?touchpoint=card-activation");
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.body["currency"], "GBP");
    let touchpoint = &view.body["touchpoints"][0];
    assert_eq!(touchpoint["name"], "Card activation");
    assert_eq!(
        touchpoint["answers"],
        json!({"hard": 40, "neutral": 0, "easy": 40, "no_effort": 0})
    );
    let repeat = &touchpoint["outcomes"][0];
    assert_eq!(repeat["outcome"], "repeat_contact");
    assert_eq!(repeat["bands"]["hard"]["rate"], 0.3);
    assert_eq!(repeat["bands"]["easy"]["rate"], 0.1);
    let ratio = repeat["ratio"].as_f64().expect("a ratio");
    assert!((ratio - 3.0).abs() < 1e-9, "{ratio}");
    // (12 - 4) extra repeat contacts at £5 each.
    let cost = repeat["excess_cost"].as_f64().expect("a cost");
    assert!((cost - 40.0).abs() < 1e-9, "{cost}");
    let says = repeat["says"].as_str().expect("a sentence");
    assert!(
        says.contains("3.0 times as often") && says.contains("£40"),
        "{says}"
    );
    let interval = repeat["bands"]["hard"]["interval"]
        .as_array()
        .expect("an interval");
    assert!(interval[0].as_f64() < Some(0.3) && interval[1].as_f64() > Some(0.3));
    assert_eq!(repeat["moves_most"], "effort", "{repeat}");
    // A refund has no cost in the file: its own amounts are its cost.
    let refund = &touchpoint["outcomes"][1];
    assert_eq!(
        (refund["outcome"].as_str(), refund["cost_each"].as_f64()),
        (Some("refund"), None)
    );
    assert_eq!(refund["excess_cost"].as_f64(), Some(20.0));
    // Too few answers in a band: said, not guessed.
    let few = impact(&app, "?touchpoint=billing");
    let says = few.body["touchpoints"][0]["outcomes"][0]["says"]
        .as_str()
        .unwrap_or("");
    assert!(says.starts_with("Too few answers to say"), "{}", few.text);
}

/// The figures a recomputation from the export and the sent outcomes gives, per touchpoint and
/// outcome: answers by band, answers with the outcome by band, occurrences by band.
type Figures = BTreeMap<(String, String), ([u64; 3], [u64; 3], [u64; 3])>;

fn band(effort: Option<u64>) -> Option<usize> {
    effort.map(|e| match e {
        1..=3 => 0,
        4 => 1,
        _ => 2,
    })
}

fn recompute(export: &[Value], outcomes: &[(String, String)]) -> Figures {
    let mut by_interaction: HashMap<&str, Vec<&str>> = HashMap::new();
    for (interaction, outcome) in outcomes {
        by_interaction.entry(interaction).or_default().push(outcome);
    }
    let kinds: Vec<&str> = {
        let mut k: Vec<&str> = outcomes.iter().map(|(_, o)| o.as_str()).collect();
        k.sort_unstable();
        k.dedup();
        k
    };
    let mut figures = Figures::new();
    for record in export {
        let Some(interaction) = record["context"]["interaction_id"].as_str() else {
            continue;
        };
        let Some(b) = band(record["answers"]["effort"].as_u64()) else {
            continue;
        };
        let had = by_interaction.get(interaction).cloned().unwrap_or_default();
        for kind in &kinds {
            let key = (
                record["touchpoint"].as_str().unwrap_or("").to_owned(),
                (*kind).to_owned(),
            );
            let entry = figures.entry(key).or_default();
            entry.0[b] += 1;
            let n = had.iter().filter(|o| *o == kind).count() as u64;
            entry.1[b] += u64::from(n > 0);
            entry.2[b] += n;
        }
    }
    figures
}

fn served(view: &Value) -> Figures {
    let mut figures = Figures::new();
    for t in view["touchpoints"].as_array().into_iter().flatten() {
        for o in t["outcomes"].as_array().into_iter().flatten() {
            let get = |field: &str| {
                ["hard", "neutral", "easy"].map(|b| o["bands"][b][field].as_u64().unwrap_or(0))
            };
            let key = (
                t["touchpoint"].as_str().unwrap_or("").to_owned(),
                o["outcome"].as_str().unwrap_or("").to_owned(),
            );
            figures.insert(
                key,
                (get("answers"), get("with_outcome"), get("occurrences")),
            );
        }
    }
    figures
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Answers at two touchpoints, some without an interaction or an effort answer, and outcomes
    /// for some of their interactions (some for calls never answered): `/v1/impact` counts what
    /// a recomputation from the export counts.
    #[test]
    fn impact_figures_equal_a_recomputation_from_the_export_and_the_outcomes(
        answers in prop::collection::vec((0..2usize, prop::option::of(1..=7u8), any::<bool>()), 1..120),
        outcomes in prop::collection::vec((0..140u32, 0..2usize, 0..3u8), 0..160),
    ) {
        let app = spawn_app();
        let touchpoints = ["card-activation", "billing"];
        let bodies: Vec<Value> = answers.iter().enumerate().map(|(i, (t, effort, with_call))| {
            let mut body = answer(i as u32, touchpoints[*t], &format!("call-{i}"), match effort {
                Some(e) => json!({"effort": e}),
                None => json!({"emotion": "neutral"}),
            });
            if !with_call {
                body["context"] = json!({"page": "/checkout"});
            }
            body
        }).collect();
        store_all(&app, &bodies);
        let kinds = ["repeat_contact", "engineer_revisit"];
        let sent: Vec<(String, String, String)> = outcomes.iter().map(|(call, kind, day)| {
            (format!("call-{call}"), kinds[*kind].to_owned(), format!("2026-11-2{}T10:00:00Z", 3 + day))
        }).collect();
        let body: Vec<String> = sent.iter().map(|(c, k, at)| line(c, k, at, None)).collect();
        let reply = import(&app, &body.join("\n"), NDJSON);
        prop_assert_eq!(reply.status, 200);
        let mut unique = sent.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(reply.body["stored"].as_u64(), Some(unique.len() as u64));
        let outcomes: Vec<(String, String)> = unique.into_iter().map(|(c, k, _)| (c, k)).collect();
        let view = impact(&app, "");
        prop_assert_eq!(view.status, 200);
        let mut expected = recompute(&app.export(""), &outcomes);
        let mut got = served(&view.body);
        // Touchpoints whose joinable answers all lack an effort answer count in no band.
        expected.retain(|_, v| v.0.iter().sum::<u64>() > 0);
        got.retain(|_, v| v.0.iter().sum::<u64>() > 0);
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn the_dashboard_and_the_report_show_the_view_with_names_as_text() {
    let (app, _dir) =
        card_activation_story(&ORG.replace("Repeat contacts", "Repeat <b>contacts</b>"));
    let cookie = app.session();
    let page = app.get("/dashboard", &[("Cookie", &cookie)]).text;
    assert!(page.contains("What a hard experience costs"), "{page}");
    assert!(page.contains("3.0 times as often"), "{page}");
    assert!(
        page.contains("Repeat &lt;b&gt;contacts&lt;/b&gt;"),
        "{page}"
    );
    assert!(!page.contains("<b>contacts"), "{page}");
    assert!(
        page.contains("effort moves repeat &lt;b&gt;contacts&lt;/b&gt; most."),
        "{page}"
    );
    let (name, value) = auth();
    // The answers were given on 2026-11-22.
    let month = "2026-11";
    let markdown = app
        .get(&format!("/v1/report?period={month}"), &[(name, &value)])
        .text;
    assert!(
        markdown.contains("## What a hard experience costs"),
        "{markdown}"
    );
    assert!(
        markdown.contains("Card activation — Repeat &lt;b&gt;contacts&lt;/b&gt;"),
        "{markdown}"
    );
    let json = app.get(
        &format!("/v1/report?period={month}&format=json"),
        &[(name, &value)],
    );
    assert_eq!(
        json.body["impact"]["touchpoints"][1]["outcomes"][0]["excess_cost"].as_f64(),
        Some(40.0),
        "{}",
        json.text
    );
}

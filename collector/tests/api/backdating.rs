//! Issue 13, finding 6: an answer's `submitted_at` is bounded by its arrival — at most 14 days
//! before, at most 1 day after — so nobody can add answers to a closed period by backdating them.

use collector::clock::Clock;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, submission, ADMIN_TOKEN};

const ARRIVAL: &str = "2025-12-20T12:00:00Z";

fn answer(n: u32, submitted_at: &str) -> Value {
    let mut body = submission(n);
    body["submitted_at"] = json!(submitted_at);
    body
}

#[test]
fn answers_far_from_their_arrival_are_refused_with_their_reason() {
    let app = spawn_app_with(|c| c.arrival_clock = Clock::fixed(ARRIVAL).expect("a time"));
    for (n, (submitted_at, status)) in [
        ("2025-12-20T11:59:00Z", 201),
        ("2025-12-06T12:00:00Z", 201),
        ("2025-12-21T11:00:00Z", 201),
        ("2025-12-06T11:59:59Z", 400),
        ("2025-11-10T10:00:00Z", 400),
        ("0000-01-01T00:00:00Z", 400),
        ("2025-12-21T12:00:01Z", 400),
        ("9999-12-31T23:59:59Z", 400),
    ]
    .into_iter()
    .enumerate()
    {
        let reply = app.submit(&answer(n as u32, submitted_at));
        assert_eq!(reply.status, status, "{submitted_at}: {}", reply.text);
        if status == 400 {
            assert_eq!(reply.body["error"], "submitted_at_out_of_range");
            assert!(!reply.text.contains(submitted_at), "never echoes the input");
        }
    }
    let batch = app.post(
        "/v1/responses/batch",
        &json!([
            answer(20, "2025-12-19T08:00:00Z"),
            answer(21, "2024-12-19T08:00:00Z")
        ])
        .to_string(),
        &[("Content-Type", "text/plain")],
    );
    assert_eq!(batch.body["results"][0]["status"], "stored");
    assert_eq!(
        batch.body["results"][1]["error"], "submitted_at_out_of_range",
        "{}",
        batch.text
    );
    assert_eq!(app.export("").len(), 4, "nothing refused is stored");
}

/// Three answers dated 2025-11-10 changed the 2025-11 report from 0 to 3 responses.
#[test]
fn a_closed_period_report_no_longer_changes() {
    let app = spawn_app_with(|c| c.arrival_clock = Clock::fixed(ARRIVAL).expect("a time"));
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let report = || {
        let reply = app.get(
            "/v1/report?period=2025-11&format=json",
            &[("Authorization", &auth)],
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body
    };
    let before = report();
    assert_eq!(before["total"]["now"]["count"], 0, "{before}");
    for n in 0..3 {
        let reply = app.submit(&answer(30 + n, "2025-11-10T10:00:00Z"));
        assert_eq!(reply.status, 400, "{}", reply.text);
    }
    assert_eq!(report(), before);
}

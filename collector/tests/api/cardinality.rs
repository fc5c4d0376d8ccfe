//! Regression (issue 13): anyone can post answers, so the distinct touchpoints, sites, segments,
//! agents and devices are bounded. Past a bound a new value is refused (422 `too_many_values`)
//! and counted; known values keep working, also after a restart.

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, submission, ADMIN_TOKEN};

fn at(n: u32, touchpoint: &str, context: Value) -> Value {
    let mut body = submission(n);
    body["touchpoint"] = json!(touchpoint);
    body["context"] = context;
    body
}

#[test]
fn a_new_value_past_its_bound_is_refused_and_counted_while_known_ones_pass() {
    let app = spawn_app_with(|config| {
        config.bounds.touchpoints = 2;
        config.bounds.sites = 1;
        config.bounds.segments = 1;
        config.bounds.agents = 1;
        config.bounds.devices = 1;
    });
    let known =
        json!({"site_id": "b-1", "device_id": "k-1", "segment": "premium", "agent_id": "a-1"});
    for (n, touchpoint) in [(1, "checkout"), (2, "login")] {
        assert_eq!(app.submit(&at(n, touchpoint, known.clone())).status, 201);
    }
    let cases = [
        ("billing", known.clone(), "touchpoint"),
        ("login", json!({"site_id": "b-2"}), "context.site_id"),
        ("login", json!({"segment": "business"}), "context.segment"),
        ("login", json!({"agent_id": "a-2"}), "context.agent_id"),
        (
            "login",
            json!({"site_id": "b-1", "device_id": "k-2"}),
            "context.device_id",
        ),
    ];
    for (n, (touchpoint, context, field)) in (10..).zip(cases) {
        let body = at(n, touchpoint, context);
        let reply = app.submit(&body);
        assert_eq!(reply.status, 422, "{field}: {}", reply.text);
        assert_eq!(reply.body["error"], "too_many_values", "{field}");
        assert_eq!(reply.body["field"], field);
        assert_eq!(reply.body["id"], body["id"]);
    }
    assert_eq!(app.submit(&at(20, "checkout", known.clone())).status, 201);
    let batch = app.post(
        "/v1/responses/batch",
        &json!([at(21, "login", known.clone()), at(22, "careers", known)]).to_string(),
        &[],
    );
    assert_eq!(batch.status, 200, "{}", batch.text);
    assert_eq!(batch.body["results"][0]["status"], "stored");
    assert_eq!(batch.body["results"][1]["status"], "rejected");
    assert_eq!(batch.body["results"][1]["error"], "too_many_values");
    assert_eq!(app.export("").len(), 4, "nothing refused was stored");
    let metrics = app.get(
        "/metrics",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert!(
        metrics.text.contains(
            "touchpoint_submissions_total{outcome=\"rejected\",reason=\"too_many_values\"} 6"
        ),
        "{}",
        metrics.text
    );
}

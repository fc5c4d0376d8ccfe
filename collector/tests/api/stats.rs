//! `GET /v1/stats` over HTTP: the admin token, the answer's shape, bursts left out unless asked
//! for, and a clear 400 for every kind of bad parameter.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, submission, ADMIN_TOKEN};

fn stats(app: &crate::helpers::TestApp, query: &str) -> crate::helpers::Reply {
    app.get(
        &format!("/v1/stats{query}"),
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    )
}

fn kiosk(n: u32, submitted_at: &str, effort: u8) -> Value {
    let mut body = submission(n);
    body["channel"] = json!("kiosk");
    body["touchpoint"] = json!("branch-queue");
    body["answers"] = json!({"effort": effort, "emotion": "angry"});
    body["context"] =
        json!({"site_id": "branch-042", "device_id": "kiosk-1", "segment": "premium"});
    body["submitted_at"] = json!(submitted_at);
    body
}

#[test]
fn stats_need_the_admin_token() {
    let app = spawn_app();
    assert_eq!(app.get("/v1/stats", &[]).status, 401);
    let wrong = app.get("/v1/stats", &[("Authorization", "Bearer nope")]);
    assert_eq!(
        (wrong.status, wrong.body["error"].as_str()),
        (401, Some("unauthorized"))
    );
}

#[test]
fn stats_group_count_and_leave_bursts_out_unless_asked() {
    let app = spawn_app();
    assert_eq!(app.submit(&submission(1)).status, 201);
    let mut comment = submission(2);
    comment["answers"] = json!({"confidence": 2});
    comment["comment"] = json!("slow");
    assert_eq!(app.submit(&comment).status, 201);
    assert_eq!(app.submit(&kiosk(3, "2026-11-22T09:00:00Z", 2)).status, 201);
    // One second after the previous answer from the same kiosk: stored, flagged.
    assert_eq!(app.submit(&kiosk(4, "2026-11-22T09:00:01Z", 1)).status, 201);
    let flags: Vec<Value> = app.export("").iter().map(|r| r["burst"].clone()).collect();
    assert_eq!(
        flags,
        [json!(false), json!(false), json!(false), json!(true)]
    );

    let reply = stats(&app, "?group_by=channel&from=2026-11-22&to=2026-11-23");
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({
            "groups": [
                {"key": {"channel": "kiosk"}, "count": 1,
                 "effort": {"mean": 2.0, "dist": [0, 1, 0, 0, 0, 0, 0]},
                 "confidence": {"mean": null, "dist": [0, 0, 0, 0, 0]},
                 "emotion": {"angry": 1, "frustrated": 0, "neutral": 0, "pleased": 0, "delighted": 0},
                 "comments": 0},
                {"key": {"channel": "web"}, "count": 2,
                 "effort": {"mean": 6.0, "dist": [0, 0, 0, 0, 0, 1, 0]},
                 "confidence": {"mean": 3.0, "dist": [0, 1, 0, 1, 0]},
                 "emotion": {"angry": 0, "frustrated": 0, "neutral": 0, "pleased": 1, "delighted": 0},
                 "comments": 1},
            ],
            "total": {"count": 3,
                 "effort": {"mean": 4.0, "dist": [0, 1, 0, 0, 0, 1, 0]},
                 "confidence": {"mean": 3.0, "dist": [0, 1, 0, 1, 0]},
                 "emotion": {"angry": 1, "frustrated": 0, "neutral": 0, "pleased": 1, "delighted": 0},
                 "comments": 1},
        })
    );
    let with_bursts = stats(
        &app,
        "?include_bursts=true&channel=kiosk&group_by=site,segment",
    );
    assert_eq!(with_bursts.body["total"]["count"], 2);
    assert_eq!(with_bursts.body["total"]["effort"]["mean"], 1.5);
    assert_eq!(
        with_bursts.body["groups"][0]["key"],
        json!({"site": "branch-042", "segment": "premium"})
    );
    let other_days = stats(&app, "?from=2026-11-23");
    assert_eq!(other_days.body["total"]["count"], 0);
    assert_eq!(other_days.body["total"]["effort"]["mean"], Value::Null);
    let weekly = stats(&app, "?group_by=week,day");
    assert_eq!(
        weekly.body["groups"][0]["key"],
        json!({"week": "2026-W47", "day": "2026-11-22"})
    );
}

#[test]
fn bad_stats_parameters_get_a_clear_400() {
    let app = spawn_app();
    for query in [
        "?from=yesterday",
        "?to=2026-02-30",
        "?channel=fax",
        "?touchpoint=check%20out",
        "?group_by=colour",
        "?group_by=channel,site,agent,day",
        "?include_bursts=yes",
        "?chanel=web",
    ] {
        let reply = stats(&app, query);
        assert_eq!(reply.status, 400, "{query}");
        assert_eq!(reply.body["error"], "invalid_query", "{query}");
        assert!(reply.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

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

fn answer(n: u32, channel: &str, touchpoint: &str, effort: u8, submitted_at: &str) -> Value {
    let mut body = submission(n);
    body["channel"] = json!(channel);
    body["touchpoint"] = json!(touchpoint);
    body["answers"] = json!({"effort": effort, "confidence": 1 + effort % 5, "emotion": "neutral"});
    body["context"] = json!({});
    body["submitted_at"] = json!(submitted_at);
    body
}

/// The report's figures come from the same cells as `GET /v1/stats`: for the same period they
/// are equal, line by line.
#[test]
fn the_report_figures_equal_the_stats_for_the_same_period() {
    // Agent answers posted directly, as an integration without invitations does.
    let app = crate::helpers::spawn_app_with(|c| c.require_invitation = false);
    let mut n = 100;
    for (day, efforts) in [("2026-11-10", [3u8, 4, 5]), ("2026-11-18", [2, 6, 7])] {
        for (channel, touchpoint) in [
            ("web", "checkout"),
            ("agent", "billing"),
            ("kiosk", "checkout"),
        ] {
            for effort in efforts {
                n += 1;
                let at = format!("{day}T1{}:00:00Z", n % 10);
                assert_eq!(
                    app.submit(&answer(n, channel, touchpoint, effort, &at))
                        .status,
                    201
                );
            }
        }
    }
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let report = app.get(
        "/v1/report?period=2026-W47&format=json",
        &[("Authorization", &auth)],
    );
    assert_eq!(report.status, 200, "{}", report.text);
    let stats = stats(
        &app,
        "?from=2026-11-16&to=2026-11-23&group_by=channel,touchpoint",
    );
    let before = stats_for(
        &app,
        "?from=2026-11-09&to=2026-11-16&group_by=channel,touchpoint",
    );
    assert_eq!(report.body["total"]["now"], stats.body["total"]);
    assert_eq!(report.body["total"]["before"], before["total"]);
    let lines = report.body["touchpoints"].as_array().expect("lines");
    assert_eq!(lines.len(), 3);
    for (line, group) in lines
        .iter()
        .zip(stats.body["groups"].as_array().expect("groups"))
    {
        let mut group = group.clone();
        let key = group
            .as_object_mut()
            .and_then(|g| g.remove("key"))
            .expect("a key");
        assert_eq!(key, line["key"]);
        assert_eq!(line["now"], group);
    }
    let markdown = app.get("/v1/report?period=2026-W47", &[("Authorization", &auth)]);
    assert!(
        markdown.text.contains("| All | 9 | 9 | 5.00 | +1.00 |"),
        "{}",
        markdown.text
    );
}

fn stats_for(app: &crate::helpers::TestApp, query: &str) -> Value {
    stats(app, query).body
}

#[test]
fn the_report_needs_the_token_and_a_period() {
    let app = spawn_app();
    assert_eq!(app.get("/v1/report?period=2026-W47", &[]).status, 401);
    let auth = format!("Bearer {ADMIN_TOKEN}");
    for query in [
        "",
        "?period=2026-W60",
        "?period=2026-W47&format=pdf",
        "?period=2026-W47&x=1",
    ] {
        let reply = app.get(&format!("/v1/report{query}"), &[("Authorization", &auth)]);
        assert_eq!(
            (reply.status, reply.body["error"].as_str()),
            (400, Some("invalid_query")),
            "{query}"
        );
    }
    let html = app.get(
        "/v1/report?period=2026-11&format=html",
        &[("Authorization", &auth)],
    );
    assert_eq!(html.status, 200);
    assert!(html
        .header("content-security-policy")
        .is_some_and(|c| !c.contains("unsafe-inline")));
}

#[test]
fn the_dashboard_asks_for_sign_in_and_opens_a_strict_session() {
    let app = spawn_app();
    let page = app.get("/dashboard", &[]);
    assert_eq!(page.status, 200);
    assert!(page.text.contains("name=\"token\"") && !page.text.contains("<table"));
    let wrong = app.post(
        "/dashboard/session",
        "token=nope",
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.header("set-cookie"), None);
    let signed_in = app.sign_in();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.header("location"), Some("/dashboard"));
    let cookie = signed_in
        .header("set-cookie")
        .expect("a session cookie")
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains(ADMIN_TOKEN));
    let session = cookie.split(';').next().expect("name=value");
    let dashboard = app.get("/dashboard", &[("Cookie", session)]);
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.text.contains("Effort by touchpoint and channel"));
    let csp = dashboard.header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    // Issue 12: dashboard pages answer a bad view as a page that says why, not as JSON.
    for (url, rule) in [
        ("/dashboard?from=someday", "from must be a YYYY-MM-DD date"),
        (
            "/dashboard?fromm=2026-11-01",
            "unknown or repeated parameter",
        ),
        (
            "/dashboard/report?period=last-week",
            "period must be an ISO week",
        ),
    ] {
        let bad = app.get(url, &[("Cookie", session)]);
        assert_eq!(bad.status, 400, "{url}");
        assert!(
            bad.header("content-type")
                .is_some_and(|t| t.starts_with("text/html")),
            "{url}"
        );
        assert!(bad.text.contains(rule), "{url}: {}", bad.text);
        assert!(
            bad.text.contains("href=\"/dashboard\""),
            "{url}: a way back"
        );
    }
    let forged = app.get("/dashboard", &[("Cookie", "tp_session=0123456789abcdef")]);
    assert!(!forged.text.contains("Effort by touchpoint and channel"));
}

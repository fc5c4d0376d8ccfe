//! Issue 13, the contract: where Schemathesis found the behaviour, not `openapi.json`, at fault.

use serde_json::json;

use crate::helpers::{spawn_app, submission, ADMIN_TOKEN};

#[test]
fn issue_13_a_method_a_path_does_not_take_is_405_with_allow() {
    let app = spawn_app();
    for (method, path, allow) in [
        ("TRACE", "/healthz", "GET"),
        ("POST", "/v1/survey", "GET"),
        ("DELETE", "/widget.js", "GET, HEAD"),
        ("POST", "/embed", "GET, HEAD"),
        ("PUT", "/demo/site.css", "GET, HEAD"),
        ("GET", "/dashboard/session", "POST"),
        ("GET", "/dashboard/sign-out", "POST"),
        ("POST", "/s/any-token", "GET, HEAD"),
        ("GET", "/v1/responses", "POST, OPTIONS"),
    ] {
        let reply = app.request(method, path, &[]);
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
    }
    // A path nobody serves is still not found.
    let reply = app.request("TRACE", "/no-such-path", &[]);
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (404, Some("not_found"))
    );
}

#[test]
fn issue_13_the_dashboard_report_refuses_a_bad_request_before_the_sign_in() {
    let app = spawn_app();
    let no_redirects = ureq::AgentBuilder::new().redirects(0).build();
    let status = |query: &str| match no_redirects
        .get(&app.url(&format!("/dashboard/report{query}")))
        .call()
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(status, _)) => status,
        Err(e) => panic!("transport error: {e}"),
    };
    // Without a session, a report that could be shown sends the browser to sign in...
    assert_eq!(status("?period=2026-W47"), 303);
    // ...and one that could not is refused as such, as an unknown parameter already was.
    for bad in [
        "",
        "?period=",
        "?period=last-week",
        "?period=2026-W47&format=pdf",
    ] {
        assert_eq!(status(bad), 400, "{bad:?}");
    }
}

#[test]
fn issue_13_an_export_bound_before_1970_is_the_beginning() {
    let app = spawn_app();
    assert_eq!(app.submit(&submission(1)).status, 201);
    assert!(app.export("&to=0546-08-12").is_empty());
    assert!(app.export("&to=1969-12-31T23:00:00Z").is_empty());
    assert_eq!(app.export("&from=0001-01-01").len(), 1);
    // A bound that is no date at all is still refused.
    let reply = app.get(
        "/v1/export?from=0546-13-12",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (400, Some("invalid_query"))
    );
}

#[test]
fn issue_13_whole_numbers_written_as_floats_are_the_same_answers() {
    let app = spawn_app();
    let mut written = submission(1);
    written["answers"] = json!({"effort": 6.0, "confidence": 4.0, "emotion": "pleased"});
    let reply = app.submit(&written);
    assert_eq!(reply.status, 201, "{}", reply.text);
    // The same answer written with integers is a retry of it, not a conflict.
    let reply = app.submit(&submission(1));
    assert_eq!(
        (reply.status, reply.body["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(app.export("")[0]["answers"]["effort"], json!(6));
    let mut fraction = submission(2);
    fraction["answers"]["effort"] = json!(6.5);
    let reply = app.submit(&fraction);
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (400, Some("invalid_type"))
    );
}

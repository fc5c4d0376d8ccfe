//! The origin allowlist and CORS: enforced on every post (text/plain posts get no preflight).

use crate::helpers::{spawn_app, submission, ALLOWED_ORIGIN};

#[test]
fn an_allowed_origin_may_post_and_reads_the_answer() {
    let app = spawn_app();
    let reply = app.post(
        "/v1/responses",
        &submission(1).to_string(),
        &[("Content-Type", "text/plain"), ("Origin", ALLOWED_ORIGIN)],
    );
    assert_eq!(reply.status, 201);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
    assert_eq!(reply.header("vary"), Some("Origin"));
}

#[test]
fn another_origin_is_refused_and_nothing_is_stored() {
    let app = spawn_app();
    for origin in [
        "http://evil.test",
        "null",
        "http://shop.test:8001",
        "https://shop.test:8000",
    ] {
        let reply = app.post(
            "/v1/responses",
            &submission(2).to_string(),
            &[("Content-Type", "text/plain"), ("Origin", origin)],
        );
        assert_eq!(
            (reply.status, reply.body["error"].as_str()),
            (403, Some("origin_not_allowed")),
            "{origin}"
        );
        assert_ne!(reply.header("access-control-allow-origin"), Some("*"));
        let batch = app.post(
            "/v1/responses/batch",
            &format!("[{}]", submission(3)),
            &[("Content-Type", "text/plain"), ("Origin", origin)],
        );
        assert_eq!(batch.status, 403, "{origin}");
    }
    assert!(app.export("").is_empty());
}

#[test]
fn the_collectors_own_pages_are_always_allowed() {
    let app = spawn_app();
    let own = app.base.clone();
    let reply = app.post(
        "/v1/responses",
        &submission(4).to_string(),
        &[("Content-Type", "text/plain"), ("Origin", &own)],
    );
    assert_eq!(reply.status, 201);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        None,
        "same origin needs no CORS"
    );
}

#[test]
fn preflight_answers_allowed_origins_only_and_never_with_a_wildcard() {
    let app = spawn_app();
    let ok = app.request(
        "OPTIONS",
        "/v1/responses",
        &[
            ("Origin", ALLOWED_ORIGIN),
            ("Access-Control-Request-Method", "POST"),
        ],
    );
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
    assert_eq!(ok.header("access-control-allow-methods"), Some("POST"));
    let denied = app.request(
        "OPTIONS",
        "/v1/responses",
        &[
            ("Origin", "http://evil.test"),
            ("Access-Control-Request-Method", "POST"),
        ],
    );
    assert_eq!(denied.status, 403);
    assert_eq!(denied.header("access-control-allow-origin"), None);
}

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
}

/// Issue 19: every header on the answer to the widget's post is bytes each answering visitor
/// downloads. It goes out as it is (Brotli made the 53-byte answer 92), without `Vary` (nothing
/// caches an answer to a post) and with `Retry-After` exposed only on the answers that carry it.
#[test]
fn issue_19_the_answer_to_a_post_carries_only_what_the_widget_reads() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.limit_per_address = collector::limits::Rate::parse("0.01/1").expect("a rate");
    });
    // What Chromium sends with the widget's post over HTTPS.
    let headers = [
        ("Content-Type", "text/plain;charset=UTF-8"),
        ("Origin", ALLOWED_ORIGIN),
        ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ];
    let stored = app.post("/v1/responses", &submission(5).to_string(), &headers);
    assert_eq!(stored.status, 201);
    assert_eq!(
        stored.text,
        format!(
            "{{\"id\":\"{}\",\"status\":\"stored\"}}",
            submission(5)["id"].as_str().unwrap_or("")
        )
    );
    for name in ["content-encoding", "vary", "access-control-expose-headers"] {
        assert_eq!(stored.header(name), None, "{name}");
    }
    let limited = app.post("/v1/responses", &submission(6).to_string(), &headers);
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
    assert_eq!(
        limited.header("access-control-expose-headers"),
        Some("Retry-After")
    );
    assert_eq!(
        limited.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
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

/// Issue 13: `/embed` may be framed by the collector's own pages and the allowed origins only.
#[test]
fn issue_13_embed_is_framable_by_allowed_origins_only() {
    // With the demo pages, to compare their policy below.
    let app = crate::helpers::spawn_app_with(|c| c.demo = true);
    let reply = app.get("/embed", &[]);
    assert_eq!(reply.status, 200);
    let csp = reply.header("content-security-policy").expect("a policy");
    assert!(
        csp.contains(&format!("frame-ancestors 'self' {ALLOWED_ORIGIN};")),
        "{csp}"
    );
    assert!(!csp.contains("frame-ancestors *"), "{csp}");
    let demo = app.get("/", &[]);
    let csp = demo.header("content-security-policy").expect("a policy");
    assert!(csp.contains("frame-ancestors 'self';"), "{csp}");
}

/// Issue 13: a client cannot make its own origin the collector's by forwarding headers: they are
/// believed only from `--trust-proxy` addresses.
#[test]
fn issue_13_forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let app = spawn_app();
    for forwarded in [
        ("X-Forwarded-Host", "evil.test"),
        ("Forwarded", "host=evil.test;proto=http"),
    ] {
        let reply = app.post(
            "/v1/responses",
            &submission(3).to_string(),
            &[
                ("Content-Type", "text/plain"),
                ("Origin", "http://evil.test"),
                forwarded,
            ],
        );
        assert_eq!(reply.status, 403, "{forwarded:?}");
    }
    assert!(app.export("").is_empty());
}

/// Issue 13: with `--public-url`, that is the collector's own origin: issued links use it, and
/// its pages' posts are its own whatever the Host header says.
#[test]
fn issue_13_the_public_url_is_the_collectors_own_origin() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.public_url = Some("https://feedback.example.com".into());
        c.agent_keys = vec![collector::config::Secret::new(
            "console-key-0123456789".into(),
        )];
    });
    let invited = app.post(
        "/v1/invitations",
        &serde_json::json!({"touchpoint": "billing", "interaction_id": "call-1", "agent_id": "a-7"})
            .to_string(),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer console-key-0123456789"),
            ("X-Forwarded-Host", "evil.test"),
        ],
    );
    assert_eq!(invited.status, 201, "{}", invited.text);
    let url = invited.body["url"].as_str().unwrap_or("");
    assert!(url.starts_with("https://feedback.example.com/s/"), "{url}");
    let own = app.post(
        "/v1/responses",
        &submission(4).to_string(),
        &[
            ("Content-Type", "text/plain"),
            ("Origin", "https://feedback.example.com"),
        ],
    );
    assert_eq!(own.status, 201);
}

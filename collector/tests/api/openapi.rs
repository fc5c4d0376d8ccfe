//! The OpenAPI document describes every route the server registers.

use serde_json::Value;

use crate::helpers::spawn_app;

/// The paths and methods the route table (`http/mod.rs`) registers, read from its source: a route
/// added there without a line in `openapi.json` fails this test.
fn registered_routes() -> Vec<(String, &'static str)> {
    let source = include_str!("../../src/http/mod.rs");
    let mut routes = Vec::new();
    for marker in [".route(", "web::resource(", "cross_origin(", "admin("] {
        for (at, _) in source.match_indices(marker) {
            let rest = &source[at + marker.len()..];
            let Some(open) = rest.find('"') else { continue };
            if !rest[..open].trim().is_empty() {
                continue; // not a literal path (a method route inside a resource)
            }
            let Some(close) = rest[open + 1..].find('"') else {
                continue;
            };
            let path = rest[open + 1..open + 1 + close].replace("\\\\", "\\");
            let handler = &rest[..rest.find(".to(").unwrap_or(rest.len())];
            let method = if handler.contains("web::post()") {
                "post"
            } else {
                "get"
            };
            routes.push((path, method));
        }
    }
    routes
}

#[test]
fn every_route_is_in_the_openapi_document() {
    let app = spawn_app();
    let reply = app.get("/v1/openapi.json", &[]);
    assert_eq!(reply.status, 200);
    let doc: &Value = &reply.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let routes = registered_routes();
    assert!(routes.len() >= 10, "routes read from http.rs: {routes:?}");
    for (path, method) in routes {
        let documented: Vec<&str> = if path.contains("{file:") {
            vec!["/widget.js", "/{asset}"]
        } else {
            vec![path.as_str()]
        };
        for p in documented {
            assert!(
                doc["paths"][p][method].is_object(),
                "{method} {p} is not in openapi.json"
            );
        }
    }
}

#[test]
fn every_error_code_the_server_can_send_is_documented() {
    let app = spawn_app();
    let doc = app.get("/v1/openapi.json", &[]).body;
    let codes: Vec<&str> = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
        .as_array()
        .expect("an enum of codes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let source = concat!(
        include_str!("../../src/http/error.rs"),
        include_str!("../../src/ingest/mod.rs"),
        include_str!("../../../protocol/src/rejection.rs")
    );
    // Every stable code is written as a string literal that is only a snake_case word.
    for code in [
        "id_conflict",
        "already_answered",
        "payload_too_large",
        "unsupported_media_type",
        "origin_not_allowed",
        "unauthorized",
        "admin_disabled",
        "invalid_query",
        "batch_too_large",
        "not_found",
        "widget_not_built",
        "unavailable",
        "unreadable_body",
        "rate_limited",
    ] {
        assert!(
            source.contains(&format!("\"{code}\"")),
            "{code} is no longer in the source"
        );
        assert!(codes.contains(&code), "{code} is not documented");
    }
    let rejections = include_str!("../../../protocol/src/rejection.rs");
    for line in rejections
        .lines()
        .filter(|l| l.contains("=> \"") && l.contains("Self::"))
    {
        let code = line.split('"').nth(1).expect("a code");
        if code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            assert!(codes.contains(&code), "{code} is not documented");
        }
    }
}

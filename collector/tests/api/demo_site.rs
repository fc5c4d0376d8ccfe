//! The demo site: an index linking one page per channel, each saying what it shows, each served
//! under the collector's strict page policy — and none of it, nor the demo console's key, without
//! `--demo`.

use collector::config::{Secret, DEMO_AGENT_KEY};
use serde_json::json;

use crate::helpers::spawn_app_with;

#[test]
fn the_index_links_a_page_per_channel_and_each_loads_the_widget_its_way() {
    let app = spawn_app_with(|c| c.demo = true);
    let index = app.get("/", &[]);
    assert_eq!(index.status, 200);
    for (path, tag) in [
        ("/demo/web", "data-touchpoint=\"demo-home\""),
        ("/demo/kiosk", "data-mode=\"kiosk\""),
        ("/demo/agent", "data-mode=\"agent\""),
    ] {
        assert!(index.text.contains(&format!("href=\"{path}\"")), "{path}");
        let page = app.get(path, &[]);
        assert_eq!(page.status, 200, "{path}");
        assert!(page.text.contains("What this shows:"), "{path}");
        assert!(page.text.contains(tag), "{path}");
        let csp = page.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!page.text.contains("<script>"), "{path}: no inline script");
    }
    let script = app.get("/demo/agent.js", &[]);
    assert_eq!(script.status, 200);
    assert!(script.text.contains("Touchpoint.postCall"));
    assert_eq!(app.get("/demo/nothing", &[]).status, 404);
}

/// Regression (issue 13): `/demo/agent` and its key were served in production too.
#[test]
fn without_demo_the_pages_are_not_found_and_the_demo_key_is_refused() {
    let other_key = "console-key-0123456789";
    let keys = |c: &mut collector::Config| {
        c.agent_keys = vec![
            Secret::new(DEMO_AGENT_KEY.into()),
            Secret::new(other_key.into()),
        ];
    };
    let invite = |app: &crate::helpers::TestApp, key: &str| {
        let body = json!({"touchpoint": "billing", "interaction_id": "call-1", "agent_id": "a-7"});
        app.post(
            "/v1/invitations",
            &body.to_string(),
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &format!("Bearer {key}")),
            ],
        )
        .status
    };
    let production = spawn_app_with(keys);
    for path in [
        "/",
        "/demo/web",
        "/demo/kiosk",
        "/demo/agent",
        "/demo/agent.js",
    ] {
        let page = production.get(path, &[]);
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.text.contains("widget.js"), "{path}");
    }
    assert_eq!(
        production.get("/demo/site.css", &[]).status,
        200,
        "the embed page and the post-call links use the stylesheet"
    );
    assert_eq!(invite(&production, DEMO_AGENT_KEY), 401);
    assert_eq!(invite(&production, other_key), 201);

    let demo = spawn_app_with(|c| {
        keys(c);
        c.demo = true;
    });
    assert_eq!(demo.get("/demo/agent", &[]).status, 200);
    assert_eq!(invite(&demo, DEMO_AGENT_KEY), 201);
}

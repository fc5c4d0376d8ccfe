//! The demo site: an index linking one page per channel, each saying what it shows, each served
//! under the collector's strict page policy.

use crate::helpers::spawn_app;

#[test]
fn the_index_links_a_page_per_channel_and_each_loads_the_widget_its_way() {
    let app = spawn_app();
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

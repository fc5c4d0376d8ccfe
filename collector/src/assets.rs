//! What the collector serves besides the API: the widget's files (embedded at build time by
//! `build.rs`), the `/embed` page that hosts the survey in an iframe where a page's CSP forbids
//! WebAssembly, the customer's page of a post-call invitation (`/s/{token}`), and the demo site.

/// One embedded file of the widget.
#[derive(Debug)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    /// Content-hashed names never change content: cache them for a year. The loader
    /// (`widget.js`) keeps its name, so it is cached briefly.
    pub immutable: bool,
    pub bytes: &'static [u8],
    /// The same bytes as a gzip body, compressed at build time (`cargo xtask` uses zopfli).
    pub gzip: Option<&'static [u8]>,
    /// The same bytes as a Brotli body (quality 11), compressed at build time.
    pub brotli: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The embedded widget file called `name`.
pub fn widget_file(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// Whether this binary was built with the widget.
pub fn has_widget() -> bool {
    widget_file("widget.js").is_some()
}

/// The page `/embed` serves: the same survey, inline, configured from its query string.
pub const EMBED_PAGE: &str = include_str!("../../demo-site/embed.html");

/// The `/embed` page's script: it opens and focuses the survey when the framing page asks, and tells
/// that page when Escape is pressed, so the fallback's launcher closes it.
pub const EMBED_JS: &str = include_str!("../../demo-site/embed.js");

/// The demo site's pages, by path: the index, then one page per channel.
pub const DEMO_PAGES: &[(&str, &str)] = &[
    ("/", include_str!("../../demo-site/index.html")),
    ("/demo/web", include_str!("../../demo-site/web.html")),
    ("/demo/kiosk", include_str!("../../demo-site/kiosk.html")),
    ("/demo/agent", include_str!("../../demo-site/agent.html")),
];

/// The demo agent console's script (a fake call list; "End call" asks for a post-call survey).
pub const DEMO_AGENT_JS: &str = include_str!("../../demo-site/agent.js");

/// The customer's survey for one call (`/s/{token}`): the widget inline, its `data-*` attributes
/// (`attrs`, already escaped) carrying the invitation and the call it binds.
pub fn hosted_page(lang: &str, title: &str, attrs: &str) -> String {
    [
        "<!doctype html>\n<html lang=\"",
        lang,
        "\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
        title,
        "</title>\n<link rel=\"stylesheet\" href=\"/demo/site.css\">\n</head>\n<body class=\"hosted\">\n<main id=\"tp\"></main>\n<script src=\"/widget.js\" data-mode=\"inline\" data-target=\"#tp\"",
        attrs,
        " async></script>\n</body>\n</html>\n",
    ]
    .concat()
}

/// A page with one message and no survey (an expired or changed link).
pub fn notice_page(lang: &str, title: &str, message: &str) -> String {
    [
        "<!doctype html>\n<html lang=\"",
        lang,
        "\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
        title,
        "</title>\n<link rel=\"stylesheet\" href=\"/demo/site.css\">\n</head>\n<body class=\"hosted\">\n<main class=\"page\"><div class=\"card\"><h1>",
        title,
        "</h1>\n<p role=\"status\">",
        message,
        "</p></div></main>\n</body>\n</html>\n",
    ]
    .concat()
}

/// The policy the collector's own pages are served with: scripts only from the collector (and
/// WebAssembly), no inline scripts or styles, framed by the collector's own pages only.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'";

/// The `/embed` page's policy: [`PAGE_CSP`], framable by the collector's own pages and the
/// origins allowed to post answers, and by no other site.
pub fn embed_csp(allowed: &[String]) -> String {
    let ancestors: String = allowed.iter().map(|o| [" ", o.as_str()].concat()).collect();
    PAGE_CSP.replace(
        "frame-ancestors 'self'",
        &["frame-ancestors 'self'", &ancestors].concat(),
    )
}

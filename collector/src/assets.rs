//! What the collector serves besides the API: the widget's files (embedded at build time by
//! `build.rs`), the `/embed` page that hosts the survey in an iframe where a page's CSP forbids
//! WebAssembly, and the demo site.

/// One embedded file of the widget.
#[derive(Debug)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    /// Content-hashed names never change content: cache them for a year. The loader
    /// (`widget.js`) keeps its name, so it is cached briefly.
    pub immutable: bool,
    pub bytes: &'static [u8],
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

/// The demo site's pages, by path.
pub const DEMO_PAGES: &[(&str, &str)] = &[("/", include_str!("../../demo-site/index.html"))];

/// The policy the collector's own pages are served with: scripts only from the collector (and
/// WebAssembly), no inline scripts or styles.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors *; base-uri 'none'; form-action 'self'";

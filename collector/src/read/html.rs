//! The HTML pieces the dashboard and the council report share: the stylesheet, the pages'
//! policy, the head of a page and the one escape for text in HTML.

use std::fmt::Write as _;

/// The dashboard's and the report's stylesheet, served at `/dashboard/style.css`.
pub const STYLE: &str = include_str!("../../assets/dashboard.css");

/// Nothing but the collector's own stylesheet and forms: no script may run on these pages.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Where the HTML report's styles come from: a linked stylesheet when served (the pages' CSP
/// forbids inline styles), inline in a file written by the `report` command.
#[derive(Debug, Clone, Copy)]
pub enum Stylesheet {
    Link(&'static str),
    Inline,
}

impl Stylesheet {
    /// Where the collector serves [`STYLE`].
    pub const DASHBOARD: Self = Self::Link("/dashboard/style.css");
}

/// The head of a page titled `title`, up to `</head>`.
pub fn head(out: &mut String, title: &str, stylesheet: Stylesheet) {
    let _ = writeln!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>{}</title>",
        escape(title)
    );
    match stylesheet {
        Stylesheet::Link(href) => {
            let _ = writeln!(out, "<link rel=\"stylesheet\" href=\"{}\">", escape(href));
        }
        Stylesheet::Inline => {
            let _ = writeln!(out, "<style>{STYLE}</style>");
        }
    }
}

/// Text for HTML content or a quoted attribute: every character that could start markup is
/// escaped, so a comment is shown as text, never parsed.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

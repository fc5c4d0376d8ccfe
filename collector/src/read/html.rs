//! The HTML pieces the dashboard and the council report share: the stylesheet, the pages'
//! policy, the head of a page, the one escape for text in HTML and the bidi rule it applies.

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

/// Whether `c` is a bidirectional control: the embeddings and overrides (U+202A–U+202E), the
/// isolates (U+2066–U+2069) and the marks (U+200E, U+200F, U+061C). A customer's comment may
/// carry them to make the text around it read backwards (`U+202E` turns `exe.txt` into `txt.exe`
/// on screen), so the pages and the report drop them; the comment's own letters keep their
/// direction without them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Text for HTML content or a quoted attribute: every character that could start markup is
/// escaped, so a comment is shown as text, never parsed, and bidi controls are dropped, so it
/// cannot reorder what is shown around it.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if is_bidi_control(c) => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_bidi_controls_are_dropped() {
        for (text, shown) in [
            ("<b>&\"'", "&lt;b&gt;&amp;&quot;&#39;"),
            ("invoice\u{202E}fdp.exe", "invoicefdp.exe"),
            ("\u{202A}\u{202B}\u{202C}\u{202D}a", "a"),
            ("\u{2066}b\u{2067}\u{2068}\u{2069}", "b"),
            ("\u{200E}c\u{200F}\u{061C}", "c"),
            ("شكرا جزيلا", "شكرا جزيلا"),
            (
                "zero\u{200D}width joiner stays",
                "zero\u{200D}width joiner stays",
            ),
        ] {
            assert_eq!(escape(text), shown, "{text:?}");
        }
    }
}

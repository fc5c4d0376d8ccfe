//! The widget's files: each goes out as the Brotli body compressed at build time to browsers that
//! take Brotli (browsers offer it over HTTPS), else as the gzip body to those that take gzip
//! (what `cargo xtask size` reports is what they download), and as it is otherwise.

use std::io::Read;

use crate::helpers::{header, spawn_app};

/// The content-hashed file names the loader names (`tp-0123456789.js`, `….wasm`).
fn hashed_names(loader: &str) -> Vec<String> {
    let mut names: Vec<String> = loader
        .match_indices("tp-")
        .filter_map(|(at, _)| {
            let rest = &loader[at..];
            let end = rest.find('"')?;
            let name = &rest[..end];
            (name.ends_with(".js") || name.ends_with(".wasm")).then(|| name.to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn widget_files_go_out_precompressed_as_brotli_or_gzip_to_browsers_that_take_it_and_as_they_are_otherwise(
) {
    let app = spawn_app();
    let (status, _, loader) = app.get_bytes("/widget.js", &[("Accept-Encoding", "identity")]);
    if status == 404 && std::env::var_os("CI").is_none() {
        // A plain `cargo test` builds the collector without the widget; `cargo xtask test`
        // (and CI) builds it in.
        eprintln!("skipped: this collector was built without the widget");
        return;
    }
    assert_eq!(status, 200, "the widget is built in");
    let loader = String::from_utf8(loader).expect("the loader is text");
    let names = hashed_names(&loader);
    assert!(names.len() >= 4, "{names:?}");
    for name in std::iter::once("widget.js".to_owned()).chain(names) {
        let path = format!("/{name}");
        let (status, plain_headers, plain) =
            app.get_bytes(&path, &[("Accept-Encoding", "identity")]);
        assert_eq!(status, 200, "{name}");
        assert_eq!(header(&plain_headers, "content-encoding"), None, "{name}");
        // What Chromium sends over HTTPS.
        let (status, headers, brotli) =
            app.get_bytes(&path, &[("Accept-Encoding", "gzip, deflate, br, zstd")]);
        assert_eq!(status, 200, "{name}");
        assert_eq!(header(&headers, "content-encoding"), Some("br"), "{name}");
        assert_eq!(header(&headers, "vary"), Some("Accept-Encoding"), "{name}");
        let mut decoded = Vec::new();
        brotli_decompressor::Decompressor::new(brotli.as_slice(), 4096)
            .read_to_end(&mut decoded)
            .expect("a Brotli body");
        assert!(decoded == plain, "{name}: the Brotli body is the file");
        // What it sends over plain HTTP.
        let (status, headers, gzip) = app.get_bytes(&path, &[("Accept-Encoding", "gzip, deflate")]);
        assert_eq!(status, 200, "{name}");
        assert_eq!(header(&headers, "content-encoding"), Some("gzip"), "{name}");
        assert_eq!(header(&headers, "vary"), Some("Accept-Encoding"), "{name}");
        assert!(
            brotli.len() < gzip.len() && gzip.len() < plain.len(),
            "{name}: Brotli {}, gzip {}, file {}",
            brotli.len(),
            gzip.len(),
            plain.len()
        );
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(gzip.as_slice())
            .read_to_end(&mut unzipped)
            .expect("a gzip body");
        assert!(unzipped == plain, "{name}: the gzip body is the file");
        // A browser refusing both gets the file as it is.
        let (_, refused, body) = app.get_bytes(&path, &[("Accept-Encoding", "gzip;q=0, br;q=0")]);
        assert_eq!(header(&refused, "content-encoding"), None, "{name}");
        assert!(body == plain, "{name}");
    }
}

/// Issue 19: every visitor downloads these headers, so a widget file carries only what a browser
/// reads of it (no `nosniff`: the files are the build's own bytes with their exact types), while
/// the collector's pages keep `nosniff`.
#[test]
fn issue_19_a_widget_file_carries_only_the_headers_a_browser_reads() {
    let app = spawn_app();
    let (status, _, loader) = app.get_bytes("/widget.js", &[("Accept-Encoding", "identity")]);
    if status == 404 && std::env::var_os("CI").is_none() {
        eprintln!("skipped: this collector was built without the widget");
        return;
    }
    let loader = String::from_utf8(loader).expect("the loader is text");
    for name in std::iter::once("widget.js".to_owned()).chain(hashed_names(&loader)) {
        let (status, headers, _) = app.get_bytes(&format!("/{name}"), &[("Accept-Encoding", "br")]);
        assert_eq!(status, 200, "{name}");
        let mut names: Vec<String> = headers.iter().map(|(n, _)| n.to_lowercase()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "access-control-allow-origin",
                "cache-control",
                "content-encoding",
                "content-length",
                "content-type",
                "date",
                "vary"
            ],
            "{name}"
        );
    }
    let (_, page, _) = app.get_bytes("/embed", &[]);
    assert_eq!(header(&page, "x-content-type-options"), Some("nosniff"));
}

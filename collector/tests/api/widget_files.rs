//! The widget's files: each goes out as the gzip body compressed at build time to browsers that
//! take gzip (what `cargo xtask size` reports is what they download), and as it is otherwise.

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
fn widget_files_go_out_precompressed_to_browsers_that_take_gzip_and_as_they_are_otherwise() {
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
        let (status, headers, gzip) =
            app.get_bytes(&path, &[("Accept-Encoding", "gzip, deflate, br")]);
        assert_eq!(status, 200, "{name}");
        assert_eq!(header(&headers, "content-encoding"), Some("gzip"), "{name}");
        assert_eq!(header(&headers, "vary"), Some("Accept-Encoding"), "{name}");
        assert!(
            gzip.len() < plain.len(),
            "{name}: {} ≥ {}",
            gzip.len(),
            plain.len()
        );
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(gzip.as_slice())
            .read_to_end(&mut unzipped)
            .expect("a gzip body");
        assert!(unzipped == plain, "{name}: the gzip body is the file");
        // A browser refusing gzip gets the file as it is.
        let (_, refused, _) = app.get_bytes(&path, &[("Accept-Encoding", "gzip;q=0")]);
        assert_ne!(header(&refused, "content-encoding"), Some("gzip"), "{name}");
    }
}

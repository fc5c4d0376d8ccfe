//! Embeds the built widget so the collector stays one binary. `cargo xtask` builds the widget into
//! `target/widget-dist/` and sets `TOUCHPOINT_WIDGET_DIST` (that directory) and
//! `TOUCHPOINT_WIDGET_BUILD` (a hash of its files, so a new widget rebuilds the collector). Without
//! them the collector is built without the widget, says so when `/widget.js` is asked for, and
//! the build warns.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=TOUCHPOINT_WIDGET_DIST");
    println!("cargo:rerun-if-env-changed=TOUCHPOINT_WIDGET_BUILD");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("assets.rs");
    let mut entries = String::new();
    if let Some(dist) = env::var_os("TOUCHPOINT_WIDGET_DIST").map(PathBuf::from) {
        let mut files: Vec<PathBuf> = fs::read_dir(&dist)
            .unwrap_or_else(|e| panic!("TOUCHPOINT_WIDGET_DIST={}: {e}", dist.display()))
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for path in files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let content_type = match path.extension().and_then(|e| e.to_str()) {
                Some("js") => "text/javascript; charset=utf-8",
                Some("wasm") => "application/wasm",
                Some("json") => "application/json",
                _ => continue,
            };
            let immutable = name.starts_with("tp-");
            // `cargo xtask` writes each file's gzip and Brotli bodies next to it (`name.gz`,
            // `name.br`), compressed far better than on the fly: served as they are.
            let body = |suffix: &str| match dist.join(format!("{name}.{suffix}")).canonicalize() {
                Ok(path) => format!("Some(include_bytes!({path:?}))"),
                Err(_) => "None".to_owned(),
            };
            let (gzip, brotli) = (body("gz"), body("br"));
            entries.push_str(&format!(
                "    Asset {{ name: {name:?}, content_type: {content_type:?}, immutable: {immutable}, bytes: include_bytes!({:?}), gzip: {gzip}, brotli: {brotli} }},\n",
                path.canonicalize().expect("an asset path")
            ));
        }
    } else {
        println!(
            "cargo:warning=touchpoint-collector is built without the widget: /widget.js will answer \
             404. `cargo xtask run` builds the widget first and embeds it (as do `cargo xtask test` \
             and `cargo xtask bench`)."
        );
    }
    fs::write(&out, format!("/// The widget's files, embedded at build time.\npub static ASSETS: &[Asset] = &[\n{entries}];\n"))
        .expect("writing assets.rs");
}

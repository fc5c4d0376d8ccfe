//! Builds the widget crate into the files the collector serves: per module, cargo → wasm-bindgen
//! (glue) → [`snip_uncalled`] (and, in the web modules, [`blank_panic_data`]) → wasm-opt → the glue's lean init, without
//! its fallbacks for older browsers and the code no call reaches (in the web modules, without the
//! decoder reset too), minified → [`shorten_imports`];
//! then the loader with every module's hashed name filled in, each file's gzip and Brotli bodies
//! and `manifest.json`, in `target/widget-dist/`.
//!
//! The modules: one web module per locale (launcher, inline; no default features;
//! `TOUCHPOINT_WEB_LOCALE` picks the one locale's texts; each delivers its own answers), and the
//! module with the kiosk and agent channels (feature `channels`, every locale). The files: `widget.js` (the loader), `tp-<hash>.js` (glue) and `tp-<hash>.wasm`
//! for each module, the iframe fallback's module, every file's gzip body (`<name>.gz`, zopfli)
//! and Brotli body (`<name>.br`, quality 11), which the collector serves as they are, and `manifest.json` (each file with its content type, cache
//! policy and sizes, and which files make up each module).

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use super::{
    js::{drop_decoder_reset, drop_fallbacks, drop_unreached, lean_init, minify},
    toolchain::{wasm_opt_path, WASM_TARGET},
    wasm::{blank_panic_data, shorten_imports, snip_uncalled},
};
use crate::{cargo, run, target_dir};

/// wasm-opt's features, given by hand so an optimised module never uses one browsers lack, and
/// its passes. Measured on the English web module (`cargo xtask size`, zopfli): `-Oz` twice with
/// a `--flatten --rereloop` round between (the control flow rebuilt, then shrunk again) and
/// `--converge`, and what wasm-opt may assume of Rust's output: its memory starts zeroed (it is
/// the module's own, not imported), nothing lives in the first 1 KB (the stack grows down from
/// above it), and no load, store or division traps (Rust checks bounds and divisors itself).
const WASM_OPT_FLAGS: &[&str] = &[
    "--zero-filled-memory",
    "--low-memory-unused",
    "--ignore-implicit-traps",
    "-Oz",
    "--flatten",
    "--rereloop",
    "-Oz",
    "-Oz",
    "--converge",
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    // Custom sections no browser reads (the input keeps them: wasm-opt needs the features).
    "--strip-producers",
    "--strip-target-features",
];
/// Placeholders in `widget/loader/widget.js` that the build replaces with the hashed names: the
/// web modules' one glue and their wasm by locale (`{en:"tp-….wasm",…}`), the kiosk and agent
/// module's glue and wasm (`["tp-….js","tp-….wasm"]`), the iframe fallback's module and the
/// module with the console messages for a tag's wrong settings; and the pattern of an identifier
/// ([`ident_pattern`]), with which the loader checks the tag's.
const PLACEHOLDERS: [&str; 6] = [
    "@WEB_GLUE@",
    "@WEB@",
    "@CHANNELS@",
    "@FALLBACK@",
    "@NOTES@",
    "@IDENT@",
];

/// The protocol's identifier rule (`protocol::Ident::parse`, the one place it is written) as a
/// JS regular expression literal, so the loader refuses what the collector would: the characters
/// the parser accepts, found by asking it about each ASCII character, and its length bound.
fn ident_pattern() -> String {
    let accepted: Vec<char> = (0u8..128)
        .map(char::from)
        .filter(|c| protocol::Ident::parse(c.encode_utf8(&mut [0; 4])).is_some())
        .collect();
    let word = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
    let all_word = (0u8..128)
        .map(char::from)
        .filter(word)
        .all(|c| accepted.contains(&c));
    let mut class = String::from(if all_word { "\\w" } else { "" });
    // `-` last, where it is itself; `/` and the class's own specials escaped.
    let (dash, others): (Vec<char>, Vec<char>) = accepted
        .iter()
        .filter(|c| !(all_word && word(c)))
        .partition(|c| **c == '-');
    for c in others.into_iter().chain(dash) {
        if matches!(c, '/' | '\\' | ']' | '^' | '[') {
            class.push('\\');
        }
        class.push(c);
    }
    format!("/^[{class}]{{1,{}}}$/", protocol::Ident::MAX_LEN)
}
/// The placeholder in `widget/loader/widget.js` for the launcher's words by locale
/// ([`launcher_texts`]`(false)`: what the loader draws, which every visitor downloads).
const TEXTS: &str = "@TEXTS@";
/// The placeholder in `widget/loader/fallback.js` for the fallback's words by locale
/// ([`launcher_texts`]`(true)`: the close button's and the panel's too, downloaded only where wasm
/// is forbidden).
const FRAME_TEXTS: &str = "@FRAME_TEXTS@";
/// The placeholder in both `widget/loader/widget.js` and `widget/loader/fallback.js` for the
/// launcher's stylesheet ([`launcher_css`]). The loader draws the launcher until a web page's
/// survey is wanted; the fallback draws it where wasm is forbidden.
const LAUNCHER: &str = "@LAUNCHER_CSS@";

/// Where the launcher's rules are written: `launcher_css!` in the widget's stylesheet.
const STYLE_RS: &str = "widget/src/style.rs";

/// The launcher's rules as the widget's stylesheet writes them (`launcher_css!` in
/// `widget/src/style.rs`: the start of every module's sheet), as a JS string, so the loader's and
/// the fallback's launcher look like the module's and the swap on intent shows nothing. `None`
/// when the macro is not there as one plain string literal.
fn launcher_css(style_rs: &str) -> Option<String> {
    let rest = &style_rs[style_rs.find("macro_rules! launcher_css")?..];
    let start = rest.find('"')? + 1;
    let literal = &rest[start..start + rest[start..].find('"')?];
    // The literal's only escapes are line continuations.
    let css = literal.replace("\\\n", "");
    (!css.contains('\\') && css.starts_with(":host{")).then(|| format!("{css:?}"))
}

/// The launcher's and the fallback's words, from the instrument (the one place they are
/// written), as a JS object: for the loader `{en:["Feedback",0],…}` (launcher, right-to-left);
/// with `frame`, for the fallback, `{en:["Feedback","Close","Your feedback","en",0],…}`
/// (launcher, close, the panel's title, the code, right-to-left).
fn launcher_texts(frame: bool) -> String {
    let entries: Vec<String> = protocol::instrument::LOCALES
        .iter()
        .map(|l| {
            let words = if frame {
                format!(
                    "{:?},{:?},{:?},{:?}",
                    l.ui.feedback, l.ui.close, l.ui.title, l.code
                )
            } else {
                format!("{:?}", l.ui.feedback)
            };
            format!("{}:[{words},{}]", l.code, u8::from(l.rtl))
        })
        .collect();
    format!("{{{}}}", entries.join(","))
}

/// Reads a loader file and fills in `placeholders` (each must be there) from [`TEXTS`],
/// [`FRAME_TEXTS`] and [`LAUNCHER`].
fn read_with_launcher(root: &Path, path: &Path, placeholders: &[&str]) -> Result<String, String> {
    let read =
        |path: &Path| fs::read_to_string(path).map_err(|e| format!("cannot read {path:?}: {e}"));
    let text = read(path)?;
    if let Some(missing) = placeholders.iter().find(|p| !text.contains(*p)) {
        return Err(format!("{path:?} lacks {missing}"));
    }
    let css = launcher_css(&read(&root.join(STYLE_RS))?)
        .ok_or_else(|| format!("{STYLE_RS} lacks launcher_css! as one plain string"))?;
    Ok(text
        .replace(TEXTS, &launcher_texts(false))
        .replace(FRAME_TEXTS, &launcher_texts(true))
        .replace(LAUNCHER, &css))
}

/// One build of the widget crate: its name in the manifest, the cargo features it is built
/// with, the locale of a web module, and where wasm-bindgen writes it.
struct Module {
    name: String,
    cargo_args: &'static [&'static str],
    locale: Option<&'static str>,
    bindgen_dir: String,
}

/// The web modules, one per locale (a web page loads the one it speaks), then the kiosk and agent
/// module (every locale: the kiosk offers them all).
fn modules() -> Vec<Module> {
    let web = protocol::instrument::LOCALE_CODES.map(|code| Module {
        name: format!("web-{code}"),
        cargo_args: &["--no-default-features"],
        locale: Some(code),
        bindgen_dir: format!("widget-bindgen-{code}"),
    });
    let channels = Module {
        name: "channels".into(),
        cargo_args: &["--features", "channels"],
        locale: None,
        bindgen_dir: "widget-bindgen-channels".into(),
    };
    web.into_iter().chain([channels]).collect()
}

/// Where [`build`] writes the assets: always `root/target/widget-dist`.
pub fn dist_dir(root: &Path) -> PathBuf {
    root.join("target").join("widget-dist")
}

/// FNV-1a, 64 bits: enough to give each build's assets their own names.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `tp-<hash>.<ext>`: 40 bits of the content's hash tell this build's files apart, and every
/// character is one more that each visitor downloads in the loader.
fn hashed_name(bytes: &[u8], ext: &str) -> String {
    format!("tp-{:010x}.{ext}", fnv1a64(bytes) >> 24)
}

/// Builds one module: cargo, wasm-bindgen, wasm-opt, minified glue, short import names. Returns
/// the glue and the wasm.
fn build_module(root: &Path, module: &Module) -> Result<(String, Vec<u8>), String> {
    let target = target_dir();
    run(cargo()
        .current_dir(root)
        .args([
            "build",
            "-p",
            "touchpoint-widget",
            "--target",
            WASM_TARGET,
            "--profile",
            "wasm-release",
        ])
        .args(module.cargo_args)
        .env("TOUCHPOINT_WEB_LOCALE", module.locale.unwrap_or("en")))?;
    let wasm = target
        .join(WASM_TARGET)
        .join("wasm-release/touchpoint_widget.wasm");

    let bindgen = target.join(&module.bindgen_dir);
    let _ = fs::remove_dir_all(&bindgen);
    run(Command::new("wasm-bindgen")
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            "tp",
            "--out-dir",
        ])
        .arg(&bindgen)
        .arg(&wasm))?;

    let mut input = bindgen.join("tp_bg.wasm");
    let bound = fs::read(&input).map_err(|e| format!("cannot read {input:?}: {e}"))?;
    let mut snipped = snip_uncalled(&bound);
    // The web modules are `no_std`, with a panic handler that reads nothing of the panic; the
    // kiosk and agent module has std's panic machinery, and keeps its data as it is.
    if module.locale.is_some() {
        let mut bytes = snipped.take().unwrap_or_else(|| bound.clone());
        let cargo_home = std::env::var("CARGO_HOME")
            .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
        blank_panic_data(&mut bytes, &cargo_home);
        snipped = Some(bytes);
    }
    if let Some(snipped) = snipped {
        input = bindgen.join("tp_snipped.wasm");
        fs::write(&input, snipped).map_err(|e| format!("cannot write {input:?}: {e}"))?;
    }
    let optimised = bindgen.join("tp_opt.wasm");
    run(Command::new(wasm_opt_path(root))
        .args(WASM_OPT_FLAGS)
        .arg(&input)
        .arg("-o")
        .arg(&optimised))?;

    let wasm_bytes = fs::read(&optimised).map_err(|e| format!("cannot read {optimised:?}: {e}"))?;
    let glue = fs::read_to_string(bindgen.join("tp.js"))
        .map_err(|e| format!("cannot read the glue: {e}"))?;
    let glue = lean_init(&glue).unwrap_or_else(|| {
        eprintln!("warning: the glue's loading code was left as it is (unexpected glue)");
        glue
    });
    let mut glue = drop_unreached(&drop_fallbacks(&glue));
    // A web page is not left open for the days of decoding after which Safari's decoder fails.
    if module.locale.is_some() {
        glue = drop_decoder_reset(&glue);
    }
    let glue = minify(root, &glue, true, &bindgen);
    Ok(match shorten_imports(&wasm_bytes, &glue) {
        Some((wasm_bytes, glue)) => (glue, wasm_bytes),
        None => {
            eprintln!(
                "warning: the wasm's imports were left unshortened (unexpected module layout)"
            );
            (glue, wasm_bytes)
        }
    })
}

/// Builds the widget and writes `root/target/widget-dist/`; returns that directory.
pub fn build(root: &Path) -> Result<PathBuf, String> {
    let loader_path = root.join("widget/loader/widget.js");
    let loader = read_with_launcher(root, &loader_path, &[TEXTS, LAUNCHER])?;
    if let Some(missing) = PLACEHOLDERS.iter().find(|p| !loader.contains(*p)) {
        return Err(format!("{loader_path:?} lacks {missing}"));
    }

    const LOADER_CACHE: &str = "max-age=300";
    const HASHED_CACHE: &str = "max-age=31536000, immutable";
    const JS: &str = "text/javascript; charset=utf-8";
    // (name, bytes, content type, cache policy)
    let mut files: Vec<(String, Vec<u8>, &str, &str)> = Vec::new();
    let mut groups = String::new();
    let (mut web_glue, mut web) = (None, Vec::new());
    let mut channels = String::new();
    let modules = modules();
    for module in &modules {
        let (glue, wasm) = build_module(root, module)?;
        let glue_name = hashed_name(glue.as_bytes(), "js");
        let wasm_name = hashed_name(&wasm, "wasm");
        match module.locale {
            Some(code) => {
                // The loader names one glue for every web module: their imports are the same.
                if web_glue.get_or_insert_with(|| glue_name.clone()) != &glue_name {
                    return Err(format!(
                        "the {} module's glue differs from English's",
                        module.name
                    ));
                }
                web.push(format!("{code}:\"{wasm_name}\""));
            }
            None => channels = format!("[\"{glue_name}\",\"{wasm_name}\"]"),
        }
        let _ = writeln!(
            groups,
            "  \"{}\": [\"widget.js\", \"{glue_name}\", \"{wasm_name}\"],",
            module.name
        );
        // The web modules' glue is the same file whenever their imports are the same.
        for (name, bytes, content_type) in [
            (glue_name, glue.into_bytes(), JS),
            (wasm_name, wasm, "application/wasm"),
        ] {
            if !files.iter().any(|f| f.0 == name) {
                files.push((name, bytes, content_type, HASHED_CACHE));
            }
        }
    }
    let scratch = target_dir().join(&modules[0].bindgen_dir);
    // The iframe fallback: a module of its own, imported only where the page forbids wasm.
    let fallback = read_with_launcher(
        root,
        &root.join("widget/loader/fallback.js"),
        &[FRAME_TEXTS, LAUNCHER],
    )?;
    let fallback = minify(root, &fallback, true, &scratch);
    let fallback_name = hashed_name(fallback.as_bytes(), "js");
    let _ = writeln!(groups, "  \"fallback\": [\"{fallback_name}\"],");
    files.push((
        fallback_name.clone(),
        fallback.into_bytes(),
        JS,
        HASHED_CACHE,
    ));
    // The console messages for a tag's wrong settings: imported only when one is wrong.
    let notes = fs::read_to_string(root.join("widget/loader/notes.js"))
        .map_err(|e| format!("cannot read widget/loader/notes.js: {e}"))?;
    let notes = minify(root, &notes, true, &scratch);
    let notes_name = hashed_name(notes.as_bytes(), "js");
    let _ = writeln!(groups, "  \"notes\": [\"{notes_name}\"],");
    files.push((notes_name.clone(), notes.into_bytes(), JS, HASHED_CACHE));
    let loader = loader
        .replace(
            PLACEHOLDERS[0],
            &format!("\"{}\"", web_glue.unwrap_or_default()),
        )
        .replace(PLACEHOLDERS[1], &format!("{{{}}}", web.join(",")))
        .replace(PLACEHOLDERS[2], &channels)
        .replace(PLACEHOLDERS[3], &fallback_name)
        .replace(PLACEHOLDERS[4], &notes_name)
        .replace(PLACEHOLDERS[5], &ident_pattern());
    let loader = minify(root, &loader, false, &scratch);
    files.insert(
        0,
        ("widget.js".into(), loader.into_bytes(), JS, LOADER_CACHE),
    );

    let dist = dist_dir(root);
    fs::create_dir_all(&dist).map_err(|e| format!("cannot create {dist:?}: {e}"))?;
    let mut written = Vec::new();
    let mut manifest = String::from("{\n");
    let _ = writeln!(manifest, "  \"loader\": \"widget.js\",");
    manifest.push_str(&groups);
    manifest.push_str("  \"files\": [\n");
    for (n, (name, bytes, content_type, cache)) in files.iter().enumerate() {
        write_if_changed(&dist, name.clone(), bytes, &mut written)?;
        // What the collector sends to browsers that accept gzip (all of them).
        let gz = gzip(bytes)?;
        write_if_changed(&dist, format!("{name}.gz"), &gz, &mut written)?;
        // What it sends to browsers that accept Brotli (over HTTPS, all current ones).
        let br = brotli(bytes)?;
        write_if_changed(&dist, format!("{name}.br"), &br, &mut written)?;
        let _ = write!(
            manifest,
            "    {{\"path\": \"{name}\", \"content_type\": \"{content_type}\", \"cache_control\": \"{cache}\", \"bytes\": {}, \"gzip_bytes\": {}, \"brotli_bytes\": {}}}",
            bytes.len(),
            gz.len(),
            br.len()
        );
        manifest.push_str(if n + 1 < files.len() { ",\n" } else { "\n" });
    }
    manifest.push_str("  ]\n}\n");
    write_if_changed(
        &dist,
        "manifest.json".into(),
        manifest.as_bytes(),
        &mut written,
    )?;
    // What an earlier build made and this one did not (names carry content hashes) goes.
    for entry in fs::read_dir(&dist).map_err(|e| format!("cannot read {dist:?}: {e}"))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !written.iter().any(|w| w == name) {
            fs::remove_file(&path).map_err(|e| format!("cannot remove {path:?}: {e}"))?;
        }
    }
    Ok(dist)
}

/// Writes `bytes` to `dist/name` unless it holds them already, and notes the name. The collector
/// embeds these files, so rewriting an unchanged one (a new modification time) would rebuild it
/// on every `cargo xtask` command.
fn write_if_changed(
    dist: &Path,
    name: String,
    bytes: &[u8],
    written: &mut Vec<String>,
) -> Result<(), String> {
    let path = dist.join(&name);
    if fs::read(&path).map_or(true, |held| held != bytes) {
        fs::write(&path, bytes).map_err(|e| format!("cannot write {path:?}: {e}"))?;
    }
    written.push(name);
    Ok(())
}

/// `bytes` compressed as gzip at its densest (zopfli: the deflate format, searched far harder
/// than `gzip -9`). Any gzip decoder reads it; the collector serves these bodies as they are.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        bytes,
        &mut out,
    )
    .map_err(|e| format!("cannot compress: {e}"))?;
    Ok(out)
}

/// `bytes` compressed as Brotli at its densest (quality 11, the largest window browsers take:
/// 4 MiB, more than any of the widget's files). Made once here: quality 11 is far too slow to
/// run per request.
pub fn brotli(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)
        .map_err(|e| format!("cannot compress: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brotli_bodies_decode_to_the_file() {
        let file = b"export function start(config){return config}\n".repeat(40);
        let body = brotli(&file).unwrap();
        assert!(body.len() < file.len() / 10, "{} bytes", body.len());
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut &body[..], &mut decoded).unwrap();
        assert_eq!(decoded, file);
    }

    /// The loader's identifier check is the protocol's rule, written out (`node` runs it on the
    /// same samples the parser judges).
    #[test]
    fn the_loaders_identifier_pattern_is_the_protocols_rule() {
        let pattern = ident_pattern();
        assert_eq!(pattern, r"/^[\w.\/:-]{1,64}$/");
        let samples: Vec<String> = (0u8..128)
            .map(|b| char::from(b).to_string())
            .chain(["a".repeat(64), "a".repeat(65), String::new(), "é".into()])
            .chain(["branch-042".into(), "web/checkout:pay_1".into()])
            .collect();
        let script = format!(
            "const p = {pattern}; for (const s of {}) console.log(p.test(s));",
            serde_json::to_string(&samples).unwrap()
        );
        let output = std::process::Command::new("node")
            .args(["-e", &script])
            .output()
            .expect("node runs");
        let judged: Vec<bool> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| l == "true")
            .collect();
        let parsed: Vec<bool> = samples
            .iter()
            .map(|s| protocol::Ident::parse(s).is_some())
            .collect();
        assert_eq!(judged, parsed);
    }

    #[test]
    fn fnv1a64_matches_the_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hashed_name(b"a", "js"), "tp-af63dc4c86.js");
    }

    #[test]
    fn the_launcher_rules_are_read_from_the_widgets_stylesheet() {
        let style = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(STYLE_RS),
        )
        .unwrap();
        let css = launcher_css(&style).unwrap();
        assert!(css.starts_with("\":host{all:initial!important;"), "{css}");
        assert!(css.ends_with("box-shadow:0 2px 8px #0004}\""), "{css}");
        assert!(
            css.contains(":host([mode=launcher]){position:fixed!important;"),
            "{css}"
        );
        assert!(!css.contains('\n') && !css.contains(".panel"), "{css}");
        let broken = style.replace("macro_rules! launcher_css", "macro_rules! other_css");
        assert_eq!(launcher_css(&broken), None);
    }

    #[test]
    fn the_launcher_speaks_every_locale_of_the_instrument() {
        let (launcher, frame) = (launcher_texts(false), launcher_texts(true));
        assert!(launcher.starts_with("{en:[\"Feedback\",0],"), "{launcher}");
        assert!(frame.starts_with("{en:[\"Feedback\",\"Close\",\"Your feedback\",\"en\",0],"));
        for code in protocol::instrument::LOCALE_CODES {
            for texts in [&launcher, &frame] {
                assert!(texts.contains(&format!("{code}:[")), "{code} in {texts}");
            }
        }
        assert!(
            launcher.ends_with(",1]}"),
            "Arabic is right-to-left: {launcher}"
        );
        assert!(
            frame.contains(",\"ar\",1]"),
            "Arabic is right-to-left: {frame}"
        );
    }
}

//! Builds the web widget for the collector to serve: wasm (cargo) → wasm-bindgen glue → wasm-opt →
//! content-hashed assets and the loader in `target/widget-dist/`, plus a size report. Std, zopfli
//! and the protocol's locale codes only.
//!
//! - [`ensure_tools`] installs what the build needs, idempotently (wasm target, wasm-bindgen CLI of
//!   the locked version, binaryen's wasm-opt and terser from npm into `.tools/`).
//! - [`build`] builds the widget crate once per web locale (launcher, inline; no default features;
//!   `TOUCHPOINT_WEB_LOCALE` picks the one locale's texts), once as the delivery module those
//!   hand answers to (feature `delivery`), and once with the kiosk and agent channels (feature
//!   `channels`, every locale), and writes `widget.js` (the loader, every module's hashed names
//!   filled in), `tp-<hash>.js` (glue) and `tp-<hash>.wasm` for each, every file's gzip body
//!   (`<name>.gz`, zopfli: the collector serves it as it is), and `manifest.json` (each file with
//!   its content type, cache policy and sizes, and which files make up each module).
//! - [`size_report`] prints raw and gzip sizes (the bodies the collector sends): what a visitor
//!   downloads before the survey shows, on a web page in each locale and on a kiosk or agent
//!   page, and the delivery module a web page loads after.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binaryen release whose wasm-opt handles Rust 1.95 output (Debian's 108 breaks it).
const BINARYEN: &str = "binaryen@132.0.0";
/// The JavaScript minifier for the glue and the loader (a real parser, so minifying is safe).
const TERSER: &str = "terser@5.51.2";
/// wasm-opt's features, given by hand so an optimised module never uses one browsers lack.
const WASM_OPT_FLAGS: &[&str] = &[
    "-Oz",
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    // Custom sections no browser reads (the input keeps them: wasm-opt needs the features).
    "--strip-producers",
    "--strip-target-features",
];
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Placeholders in `widget/loader/widget.js` that the build replaces with the hashed names: the
/// web modules' one glue and their wasm by locale (`{en:"tp-….wasm",…}`), the kiosk and agent
/// module's glue and wasm (`["tp-….js","tp-….wasm"]`), the iframe fallback's module, and the
/// delivery module's glue and wasm.
const PLACEHOLDERS: [&str; 5] = [
    "@WEB_GLUE@",
    "@WEB@",
    "@CHANNELS@",
    "@FALLBACK@",
    "@DELIVERY@",
];
/// The module a web page loads to send its answers (see `widget/src/handoff.rs`).
const DELIVERY: &str = "delivery";

/// One build of the widget crate: its name in the manifest, the cargo features it is built
/// with, the locale of a web module, and where wasm-bindgen writes it.
struct Module {
    name: String,
    cargo_args: &'static [&'static str],
    locale: Option<&'static str>,
    bindgen_dir: String,
}

/// The web modules, one per locale (a web page loads the one it speaks), the delivery module they
/// hand answers to, then the kiosk and agent module (every locale: the kiosk offers them all).
fn modules() -> Vec<Module> {
    let web = protocol::instrument::LOCALE_CODES.map(|code| Module {
        name: format!("web-{code}"),
        cargo_args: &["--no-default-features"],
        locale: Some(code),
        bindgen_dir: format!("widget-bindgen-{code}"),
    });
    let delivery = Module {
        name: DELIVERY.into(),
        cargo_args: &["--no-default-features", "--features", "delivery"],
        locale: None,
        bindgen_dir: "widget-bindgen-delivery".into(),
    };
    let channels = Module {
        name: "channels".into(),
        cargo_args: &["--features", "channels"],
        locale: None,
        bindgen_dir: "widget-bindgen-channels".into(),
    };
    web.into_iter().chain([delivery, channels]).collect()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

/// The command's stdout, or `None` when it cannot run or fails.
fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The cargo target directory: `$CARGO_TARGET_DIR` (relative to `root` if relative) or `root/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Where [`build`] writes the assets: always `root/target/widget-dist`.
pub fn dist_dir(root: &Path) -> PathBuf {
    root.join("target").join("widget-dist")
}

fn wasm_opt_path(root: &Path) -> PathBuf {
    root.join(".tools/node_modules/.bin/wasm-opt")
}

fn terser_path(root: &Path) -> PathBuf {
    root.join(".tools/node_modules/.bin/terser")
}

/// The version of the `wasm-bindgen` crate in `Cargo.lock` (the CLI must equal it exactly).
pub fn locked_wasm_bindgen_version(lock: &str) -> Option<String> {
    let mut lines = lock.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            let version = lines.next()?.strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_owned());
        }
    }
    None
}

/// Installs the widget's build tools where missing; a second call does nothing.
pub fn ensure_tools(root: &Path) -> Result<(), String> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]));
    if !installed.is_some_and(|t| t.lines().any(|l| l.trim() == WASM_TARGET)) {
        run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }

    let lock = fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let version = locked_wasm_bindgen_version(&lock)
        .ok_or("Cargo.lock has no wasm-bindgen; run `cargo fetch` first")?;
    let have = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(version.as_str()) {
        // Not --locked: the CLI's lockfile asks for a webpki-roots the registry no longer serves.
        run(cargo().args(["install", "wasm-bindgen-cli", "--version", &version]))?;
    }

    let wasm_opt = wasm_opt_path(root);
    let opt_version = output(Command::new(&wasm_opt).arg("--version")).unwrap_or_default();
    let terser_version =
        output(Command::new(terser_path(root)).arg("--version")).unwrap_or_default();
    let mut missing = Vec::new();
    if !opt_version.contains("version 132") {
        missing.push(BINARYEN);
    }
    if !terser_version.contains(TERSER.trim_start_matches("terser@")) {
        missing.push(TERSER);
    }
    if !missing.is_empty() {
        let tools = root.join(".tools");
        fs::create_dir_all(&tools).map_err(|e| format!("cannot create {tools:?}: {e}"))?;
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&tools)
            .args(&missing))?;
    }
    Ok(())
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

/// Removes comments that stand on lines of their own and the indentation of every line, but never
/// touches a line inside a multi-line template literal; everything else is left as it is.
pub fn minify_js(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut in_template = false;
    let mut in_block_comment = false;
    for line in source.lines() {
        if in_template {
            out.push_str(line);
            out.push('\n');
            in_template = line.matches('`').count() % 2 == 0;
            continue;
        }
        let trimmed = line.trim();
        if in_block_comment {
            if trimmed.ends_with("*/") {
                in_block_comment = false;
            }
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with("//") {
            continue;
        }
        if trimmed.starts_with("/*") && !trimmed.starts_with("/*!") {
            // Only a comment that opens the line and closes at a line's end is dropped.
            if trimmed.ends_with("*/") && !trimmed[2..trimmed.len() - 2].contains("*/") {
                continue;
            }
            if !trimmed.contains("*/") {
                in_block_comment = true;
                continue;
            }
        }
        out.push_str(trimmed);
        out.push('\n');
        in_template = trimmed.matches('`').count() % 2 == 1;
    }
    out
}

/// Minifies `source` with terser (`module`: an ES module, whose exports keep their names); falls
/// back to the line-based [`minify_js`] when terser is not installed or fails.
fn minify(root: &Path, source: &str, module: bool, scratch: &Path) -> String {
    let input = scratch.join(if module { "in.mjs" } else { "in.js" });
    let result = fs::write(&input, source).ok().and_then(|()| {
        let mut cmd = Command::new(terser_path(root));
        cmd.arg(&input)
            .args(["--compress", "--mangle", "--ecma", "2017"]);
        if module {
            cmd.arg("--module");
        }
        output(&mut cmd).filter(|out| !out.trim().is_empty())
    });
    result.unwrap_or_else(|| minify_js(source))
}

fn read_leb(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u32::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn push_leb(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A short name for import number `n`: `a` … `Z`, then `ba`, `bb`, …
fn short_name(mut n: usize) -> String {
    const LETTERS: &[u8; 52] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut name = Vec::new();
    loop {
        name.push(LETTERS[n % 52]);
        n /= 52;
        if n == 0 {
            break;
        }
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Where `word` stands in `text` as a whole identifier.
fn word_positions(text: &str, word: &str) -> Vec<usize> {
    text.match_indices(word)
        .map(|(at, _)| at)
        .filter(|&at| {
            let before = at.checked_sub(1).map(|b| text.as_bytes()[b]);
            let after = text.as_bytes().get(at + word.len()).copied();
            !before.is_some_and(is_ident_byte) && !after.is_some_and(is_ident_byte)
        })
        .collect()
}

/// The export section with wasm-bindgen's internal exports (`__wbindgen_malloc`,
/// `wasm_bindgen__convert__closures_____invoke__h<hash>`, …) renamed `_a`, `_b`, …, where the glue
/// uses each only as a property (`wasm.__wbindgen_malloc`); the widget's own exports keep their
/// names.
fn shorten_exports(body: &[u8], glue: &mut String) -> Option<Vec<u8>> {
    let mut p = 0;
    let count = read_leb(body, &mut p)?;
    let mut section = Vec::with_capacity(body.len());
    push_leb(&mut section, count);
    let mut renamed = 0;
    for _ in 0..count {
        let name_len = read_leb(body, &mut p)? as usize;
        let name = std::str::from_utf8(body.get(p..p.checked_add(name_len)?)?).ok()?;
        p += name_len;
        let desc_start = p;
        p += 1;
        read_leb(body, &mut p)?;
        let desc = body.get(desc_start..p)?;
        let internal = ["__wbindgen_", "__externref_", "wasm_bindgen__"]
            .iter()
            .any(|prefix| name.starts_with(prefix));
        let uses = word_positions(glue, name);
        let only_properties = !uses.is_empty()
            && uses.len() == glue.matches(name).count()
            && uses
                .iter()
                .all(|&at| at > 0 && glue.as_bytes()[at - 1] == b'.');
        let new_name = if internal && only_properties {
            let short = ["_", &short_name(renamed)].concat();
            renamed += 1;
            for &at in uses.iter().rev() {
                glue.replace_range(at..at + name.len(), &short);
            }
            short
        } else {
            name.to_owned()
        };
        push_leb(&mut section, new_name.len() as u32);
        section.extend_from_slice(new_name.as_bytes());
        section.extend_from_slice(desc);
    }
    (p == body.len()).then_some(section)
}

/// The sections of a wasm module: `(id, body)` in order; `None` when it is not one.
fn sections(wasm: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    if wasm.get(..8)? != b"\0asm\x01\0\0\0" {
        return None;
    }
    let mut out = Vec::new();
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = read_leb(wasm, &mut at)? as usize;
        out.push((id, wasm.get(at..at.checked_add(size)?)?));
        at += size;
    }
    Some(out)
}

/// A leb128-prefixed name at `p`.
fn read_name<'a>(body: &'a [u8], p: &mut usize) -> Option<&'a [u8]> {
    let len = read_leb(body, p)? as usize;
    let name = body.get(*p..p.checked_add(len)?)?;
    *p += len;
    Some(name)
}

/// Functions wasm-bindgen leaves reachable only through the function table although nothing can
/// call them: js-sys's JSPI task machinery. Its entry point is a raw export the wasm-bindgen CLI
/// deletes from modules without `#[wasm_bindgen(jspi)]` exports ("leaving no JSPI machinery"),
/// but the table keeps the waker functions that export reached, and wasm-opt cannot drop table
/// entries. The widget spawns no futures.
const UNCALLED: &str = "js_sys::futures::jspi::";

/// Replaces the body of every function whose name (from the `name` section) starts with
/// [`UNCALLED`] by `unreachable`, so that wasm-opt drops everything only they used. `None` (use the
/// module as it is) when the module has no names, still exports JSPI's entry point, or has a shape
/// this does not know.
pub fn snip_uncalled(wasm: &[u8]) -> Option<Vec<u8>> {
    let sections = sections(wasm)?;
    let mut imported = 0u32;
    let mut uncalled = std::collections::HashSet::new();
    for &(id, body) in &sections {
        let mut p = 0;
        match id {
            2 => {
                for _ in 0..read_leb(body, &mut p)? {
                    read_name(body, &mut p)?;
                    read_name(body, &mut p)?;
                    match body.get(p)? {
                        0 => {
                            p += 1;
                            read_leb(body, &mut p)?;
                            imported += 1;
                        }
                        3 => p += 3,
                        _ => return None,
                    }
                }
            }
            7 => {
                for _ in 0..read_leb(body, &mut p)? {
                    if read_name(body, &mut p)?.starts_with(b"__wbg_jspi") {
                        return None;
                    }
                    p += 1;
                    read_leb(body, &mut p)?;
                }
            }
            0 if read_name(body, &mut p)? == b"name" => {
                while p < body.len() {
                    let kind = *body.get(p)?;
                    p += 1;
                    let size = read_leb(body, &mut p)? as usize;
                    let sub = body.get(p..p.checked_add(size)?)?;
                    p += size;
                    if kind != 1 {
                        continue;
                    }
                    let mut q = 0;
                    for _ in 0..read_leb(sub, &mut q)? {
                        let index = read_leb(sub, &mut q)?;
                        if read_name(sub, &mut q)?.starts_with(UNCALLED.as_bytes()) {
                            uncalled.insert(index);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if uncalled.is_empty() {
        return None;
    }
    let mut out = wasm[..8].to_vec();
    for (id, body) in sections {
        let mut section;
        let body = if id == 10 {
            let mut p = 0;
            let count = read_leb(body, &mut p)?;
            section = Vec::with_capacity(body.len());
            push_leb(&mut section, count);
            for n in 0..count {
                let size = read_leb(body, &mut p)? as usize;
                let code = body.get(p..p.checked_add(size)?)?;
                p += size;
                // No locals; `unreachable`; `end`.
                let code = if uncalled.contains(&(imported + n)) {
                    &[0x00, 0x00, 0x0b][..]
                } else {
                    code
                };
                push_leb(&mut section, code.len() as u32);
                section.extend_from_slice(code);
            }
            if p != body.len() {
                return None;
            }
            &section[..]
        } else {
            body
        };
        push_section(&mut out, id, body);
    }
    Some(out)
}

/// Renames the wasm's imports to short names, in the wasm and in the glue that provides them.
/// wasm-bindgen names each one like `__wbg_createElement_8c76612df6d26bb9`: with the hash, those
/// names are ~2 KB of every visitor's gzip download, in two files. Only names the glue holds
/// exactly once are renamed; `None` (use the files as they are) when the module has a shape this
/// does not know.
pub fn shorten_imports(wasm: &[u8], glue: &str) -> Option<(Vec<u8>, String)> {
    let mut out = wasm.get(..8)?.to_vec();
    let mut glue = glue.to_owned();
    for (id, body) in sections(wasm)? {
        match id {
            7 => push_section(&mut out, id, &shorten_exports(body, &mut glue)?),
            2 => push_section(&mut out, id, &shorten_import_names(body, &mut glue)?),
            _ => push_section(&mut out, id, body),
        }
    }
    Some((out, glue))
}

/// The import section `body` with short names for the imports `glue` names exactly once (renamed
/// there too).
fn shorten_import_names(body: &[u8], glue: &mut String) -> Option<Vec<u8>> {
    let mut renamed = 0;
    let mut p = 0;
    let count = read_leb(body, &mut p)?;
    let mut section = Vec::with_capacity(body.len());
    push_leb(&mut section, count);
    for _ in 0..count {
        let module = read_name(body, &mut p)?;
        let name = std::str::from_utf8(read_name(body, &mut p)?).ok()?;
        let desc_start = p;
        match body.get(p)? {
            // A function: its type index.
            0 => {
                p += 1;
                read_leb(body, &mut p)?;
            }
            // A global: value type and mutability (number types only).
            3 => p += 3,
            _ => return None,
        }
        let desc = body.get(desc_start..p)?;
        let new_name = if glue.matches(name).count() == 1 {
            let short = short_name(renamed);
            renamed += 1;
            *glue = glue.replacen(name, &short, 1);
            short
        } else {
            name.to_owned()
        };
        push_leb(&mut section, module.len() as u32);
        section.extend_from_slice(module);
        push_leb(&mut section, new_name.len() as u32);
        section.extend_from_slice(new_name.as_bytes());
        section.extend_from_slice(desc);
    }
    (p == body.len()).then_some(section)
}

/// Appends section `id` with `body` to the module `out`.
fn push_section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    push_leb(out, body.len() as u32);
    out.extend_from_slice(body);
}

/// Where wasm-bindgen's `--target web` glue starts its loading code: the general `__wbg_load`
/// (responses, buffers, modules, a fallback for servers without `application/wasm`), `initSync`,
/// and an init taking several kinds of argument, with warnings for deprecated ones.
const GLUE_INIT_START: &str = "async function __wbg_load(";
/// What the glue ends with, in that order, after [`GLUE_INIT_START`].
const GLUE_INIT_PARTS: [&str; 4] = [
    "function initSync(",
    "async function __wbg_init(",
    "async function __wbg_init_once(",
    "export { initSync, __wbg_init as default };",
];
/// The loading code the widget needs instead: the loader passes the wasm's URL, which the collector
/// serves as `application/wasm`, so it streams.
const GLUE_INIT: &str = "async function __wbg_init(url) {
    if (wasm !== undefined) return wasm;
    const { instance, module } = await WebAssembly.instantiateStreaming(fetch(url), __wbg_get_imports());
    return __wbg_finalize_init(instance, module);
}
export { __wbg_init as default };
";

/// The glue with its loading code replaced by [`GLUE_INIT`]; `None` (keep the glue as it is) when
/// its end is not the known one.
pub fn lean_init(glue: &str) -> Option<String> {
    let start = glue.find(GLUE_INIT_START)?;
    let mut at = start;
    for part in GLUE_INIT_PARTS {
        at += glue[at..].find(part)? + part.len();
    }
    glue[at..]
        .trim()
        .is_empty()
        .then(|| [&glue[..start], GLUE_INIT].concat())
}

/// Builds one module: cargo, wasm-bindgen, wasm-opt, minified glue, short import names. Returns
/// the glue and the wasm.
fn build_module(root: &Path, module: &Module) -> Result<(String, Vec<u8>), String> {
    let target = target_dir(root);
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
    if let Some(snipped) = snip_uncalled(&bound) {
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
    let loader = fs::read_to_string(&loader_path)
        .map_err(|e| format!("cannot read {loader_path:?}: {e}"))?;
    if let Some(missing) = PLACEHOLDERS.iter().find(|p| !loader.contains(*p)) {
        return Err(format!("{loader_path:?} lacks {missing}"));
    }

    const LOADER_CACHE: &str = "public, max-age=300";
    const HASHED_CACHE: &str = "public, max-age=31536000, immutable";
    const JS: &str = "text/javascript; charset=utf-8";
    // (name, bytes, content type, cache policy)
    let mut files: Vec<(String, Vec<u8>, &str, &str)> = Vec::new();
    let mut groups = String::new();
    let (mut web_glue, mut web) = (None, Vec::new());
    let (mut channels, mut delivery) = (String::new(), String::new());
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
            None if module.name == DELIVERY => {
                delivery = format!("[\"{glue_name}\",\"{wasm_name}\"]");
            }
            None => channels = format!("[\"{glue_name}\",\"{wasm_name}\"]"),
        }
        // The delivery module comes after the page's own module: the loader is not part of it.
        let loader = if module.name == DELIVERY {
            ""
        } else {
            "\"widget.js\", "
        };
        let _ = writeln!(
            groups,
            "  \"{}\": [{loader}\"{glue_name}\", \"{wasm_name}\"],",
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
    let scratch = target_dir(root).join(&modules[0].bindgen_dir);
    // The iframe fallback: a module of its own, imported only where the page forbids wasm.
    let fallback_path = root.join("widget/loader/fallback.js");
    let fallback = fs::read_to_string(&fallback_path)
        .map_err(|e| format!("cannot read {fallback_path:?}: {e}"))?;
    let fallback = minify(root, &fallback, true, &scratch);
    let fallback_name = hashed_name(fallback.as_bytes(), "js");
    let _ = writeln!(groups, "  \"fallback\": [\"{fallback_name}\"],");
    files.push((
        fallback_name.clone(),
        fallback.into_bytes(),
        JS,
        HASHED_CACHE,
    ));
    let loader = loader
        .replace(
            PLACEHOLDERS[0],
            &format!("\"{}\"", web_glue.unwrap_or_default()),
        )
        .replace(PLACEHOLDERS[1], &format!("{{{}}}", web.join(",")))
        .replace(PLACEHOLDERS[2], &channels)
        .replace(PLACEHOLDERS[3], &fallback_name)
        .replace(PLACEHOLDERS[4], &delivery);
    let loader = minify(root, &loader, false, &scratch);
    files.insert(
        0,
        ("widget.js".into(), loader.into_bytes(), JS, LOADER_CACHE),
    );

    let dist = dist_dir(root);
    let _ = fs::remove_dir_all(&dist);
    fs::create_dir_all(&dist).map_err(|e| format!("cannot create {dist:?}: {e}"))?;
    let mut manifest = String::from("{\n");
    let _ = writeln!(manifest, "  \"loader\": \"widget.js\",");
    manifest.push_str(&groups);
    manifest.push_str("  \"files\": [\n");
    for (n, (name, bytes, content_type, cache)) in files.iter().enumerate() {
        let path = dist.join(name);
        fs::write(&path, bytes).map_err(|e| format!("cannot write {path:?}: {e}"))?;
        // What the collector sends to browsers that accept gzip (all of them).
        let gz = gzip(bytes)?;
        let gz_path = dist.join(format!("{name}.gz"));
        fs::write(&gz_path, &gz).map_err(|e| format!("cannot write {gz_path:?}: {e}"))?;
        let _ = write!(
            manifest,
            "    {{\"path\": \"{name}\", \"content_type\": \"{content_type}\", \"cache_control\": \"{cache}\", \"bytes\": {}, \"gzip_bytes\": {}}}",
            bytes.len(),
            gz.len()
        );
        manifest.push_str(if n + 1 < files.len() { ",\n" } else { "\n" });
    }
    manifest.push_str("  ]\n}\n");
    fs::write(dist.join("manifest.json"), manifest)
        .map_err(|e| format!("cannot write manifest.json: {e}"))?;
    Ok(dist)
}

/// The file names the manifest lists for `module` (its line `"web-en": ["widget.js", …],`).
pub fn module_files(manifest: &str, module: &str) -> Vec<String> {
    let key = format!("\"{module}\": [");
    manifest
        .lines()
        .find_map(|line| line.trim().strip_prefix(key.as_str()))
        .map(|list| {
            list.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
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

/// `(name, raw, gzip)` of each file: its bytes, and those of the gzip body the collector sends
/// (`name.gz`, written by [`build`]).
fn sizes(dist: &Path, names: &[String]) -> Result<Vec<(String, u64, u64)>, String> {
    let len = |path: &Path| {
        fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| format!("cannot stat {path:?}: {e}"))
    };
    names
        .iter()
        .map(|name| {
            let raw = len(&dist.join(name))?;
            let gz = len(&dist.join(format!("{name}.gz")))?;
            Ok((name.clone(), raw, gz))
        })
        .collect()
}

/// Raw and gzip (as served) sizes of the modules' files (loader, glue, wasm) and their totals: what a web
/// page transfers before the survey shows (each file for English, the totals for every locale),
/// the delivery module it loads after, and what a kiosk or agent page transfers.
pub fn size_report(dist: &Path) -> Result<String, String> {
    const BUDGET: &str = "(budget: 20480 gzip bytes until the survey shows)";
    let manifest = fs::read_to_string(dist.join("manifest.json"))
        .map_err(|e| format!("cannot read {dist:?}/manifest.json: {e}"))?;
    let module_sizes = |module: &str| {
        let names = module_files(&manifest, module);
        if names.is_empty() {
            return Err(format!("manifest.json lists no files for {module}"));
        }
        sizes(dist, &names)
    };
    let total = |files: &[(String, u64, u64)]| {
        files
            .iter()
            .fold((0, 0), |(r, g), (_, raw, gz)| (r + raw, g + gz))
    };
    let mut report = String::new();
    for (module, title) in [
        ("web-en", "web pages (launcher, inline), English:"),
        ("channels", "kiosk and agent pages, invitation links:"),
    ] {
        let files = module_sizes(module)?;
        let _ = writeln!(report, "{title}");
        let _ = writeln!(report, "  {:<28} {:>9} {:>9}", "asset", "raw", "gzip");
        for (name, raw, gz) in &files {
            let _ = writeln!(report, "  {name:<28} {raw:>9} {gz:>9}");
        }
        let (raw, gz) = total(&files);
        let budget = if module == "channels" { "" } else { BUDGET };
        let _ = writeln!(report, "  {:<28} {raw:>9} {gz:>9}   {budget}\n", "total");
        if module == "web-en" {
            let _ = writeln!(report, "web pages in the other locales (totals):");
            for code in &protocol::instrument::LOCALE_CODES[1..] {
                let (raw, gz) = total(&module_sizes(&format!("web-{code}"))?);
                let _ = writeln!(report, "  {code:<28} {raw:>9} {gz:>9}");
            }
            let (raw, gz) = total(&module_sizes(DELIVERY)?);
            let _ = writeln!(
                report,
                "\nweb pages, after the survey shows (or at load when earlier answers wait):\n  {:<28} {raw:>9} {gz:>9}",
                "delivery module"
            );
            report.push('\n');
        }
    }
    Ok(report.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locked_wasm_bindgen_version_is_found() {
        let lock = "[[package]]\nname = \"wasm-bindgen-futures\"\nversion = \"0.4.80\"\n\n\
                    [[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(
            locked_wasm_bindgen_version(lock).as_deref(),
            Some("0.2.130")
        );
        assert_eq!(
            locked_wasm_bindgen_version("[[package]]\nname = \"x\"\n"),
            None
        );
    }

    #[test]
    fn imports_get_short_names_in_the_wasm_and_the_glue() {
        // (module (type (func)) (import "./tp.js" NAME (func)) (import "./tp.js" "keep" (func)))
        let module = |first: &str| {
            let mut imports = vec![2];
            for name in [first, "keep"] {
                imports.push(7);
                imports.extend_from_slice(b"./tp.js");
                imports.push(name.len() as u8);
                imports.extend_from_slice(name.as_bytes());
                imports.extend_from_slice(&[0, 0]);
            }
            let mut wasm = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x02".to_vec();
            wasm.push(imports.len() as u8);
            wasm.extend_from_slice(&imports);
            wasm
        };
        let glue = "{__wbg_f_0123456789abcdef:function(){},keep:1,x:keep}";
        let (wasm, short_glue) =
            shorten_imports(&module("__wbg_f_0123456789abcdef"), glue).unwrap();
        assert_eq!(short_glue, "{a:function(){},keep:1,x:keep}");
        assert_eq!(wasm, module("a"));
        // (export "__wbindgen_malloc" (func 0)) (export "open" (func 0))
        let mut exports = vec![2, 17];
        exports.extend_from_slice(b"__wbindgen_malloc\0\0\x04open\0\0");
        let mut glue = String::from("v.__wbindgen_malloc(1),v.__wbindgen_malloc(2),v.open()");
        let section = shorten_exports(&exports, &mut glue).unwrap();
        assert_eq!(section, b"\x02\x02_a\0\0\x04open\0\0");
        assert_eq!(glue, "v._a(1),v._a(2),v.open()");
        assert_eq!(short_name(0), "a");
        assert_eq!(short_name(51), "Z");
        assert_eq!(short_name(52), "ba");
        assert!(shorten_imports(b"not wasm", "").is_none());
    }

    #[test]
    fn the_glue_gets_the_lean_init_only_when_its_end_is_the_known_one() {
        let glue = "function __wbg_finalize_init() {}\nasync function __wbg_load(m) {}\nfunction initSync(m) {}\nasync function __wbg_init(m) {}\nasync function __wbg_init_once(m) {}\nexport { initSync, __wbg_init as default };\n";
        let lean = lean_init(glue).unwrap();
        assert!(lean.starts_with("function __wbg_finalize_init() {}\n"));
        assert!(lean.contains("instantiateStreaming(fetch(url)"));
        assert!(!lean.contains("initSync"));
        assert!(lean_init(&glue.replace("initSync(m)", "other(m)")).is_none());
        assert!(lean_init(&[glue, "export const x = 1;\n"].concat()).is_none());
    }

    /// A module importing one function and defining two (each `nop`), the second exported as
    /// `export`, with a name section naming the defined ones.
    fn module(names: &[(u8, &str)], export: &str) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        push_section(&mut wasm, 1, &[1, 0x60, 0, 0]);
        push_section(&mut wasm, 2, &[1, 1, b'm', 1, b'f', 0, 0]);
        push_section(&mut wasm, 3, &[2, 0, 0]);
        let mut exports = vec![1, export.len() as u8];
        exports.extend_from_slice(export.as_bytes());
        exports.extend([0, 2]);
        push_section(&mut wasm, 7, &exports);
        push_section(&mut wasm, 10, &[2, 3, 0, 1, 0x0b, 3, 0, 1, 0x0b]);
        if !names.is_empty() {
            let mut map = vec![names.len() as u8];
            for (index, name) in names {
                map.extend([*index, name.len() as u8]);
                map.extend_from_slice(name.as_bytes());
            }
            let mut custom = vec![4];
            custom.extend_from_slice(b"name");
            custom.push(1);
            push_leb(&mut custom, map.len() as u32);
            custom.extend(map);
            push_section(&mut wasm, 0, &custom);
        }
        wasm
    }

    #[test]
    fn uncalled_jspi_functions_lose_their_bodies_and_nothing_else_changes() {
        let names = [
            (1, "js_sys::futures::jspi::task_waker::raw_wake"),
            (2, "keep"),
        ];
        let wasm = module(&names, "start");
        let snipped = snip_uncalled(&wasm).expect("snipped");
        let code = |w: &[u8]| {
            sections(w)
                .unwrap()
                .into_iter()
                .find(|(id, _)| *id == 10)
                .unwrap()
                .1
                .to_vec()
        };
        assert_eq!(code(&snipped), [2, 3, 0, 0, 0x0b, 3, 0, 1, 0x0b]);
        let others = |w: &[u8]| {
            sections(w)
                .unwrap()
                .into_iter()
                .filter(|(id, _)| *id != 10)
                .map(|(id, body)| (id, body.to_vec()))
                .collect::<Vec<_>>()
        };
        assert_eq!(others(&snipped), others(&wasm));
        // Nothing to snip, no names, or JSPI in use: the module stays as it is.
        assert!(snip_uncalled(&module(&[(1, "a"), (2, "b")], "start")).is_none());
        assert!(snip_uncalled(&module(&[], "start")).is_none());
        assert!(snip_uncalled(&module(&names, "__wbg_jspi_task_poll")).is_none());
    }

    #[test]
    fn the_manifest_names_each_modules_files() {
        let manifest = "{\n  \"loader\": \"widget.js\",\n  \"web-en\": [\"widget.js\", \"tp-1.js\", \"tp-2.wasm\"],\n  \"channels\": [\"widget.js\", \"tp-3.js\", \"tp-4.wasm\"],\n  \"files\": []\n}\n";
        assert_eq!(
            module_files(manifest, "web-en"),
            ["widget.js", "tp-1.js", "tp-2.wasm"]
        );
        assert_eq!(module_files(manifest, "channels")[2], "tp-4.wasm");
        assert!(module_files(manifest, "other").is_empty());
    }

    #[test]
    fn fnv1a64_matches_the_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hashed_name(b"a", "js"), "tp-af63dc4c86.js");
    }

    #[test]
    fn minify_drops_comments_and_indentation_but_not_template_lines() {
        let js = "/**\n * doc\n */\nfunction f() {\n    // note\n    return `a\n    b`;\n}\n/* one */\nlet x = 1; // kept\n/*! licence */\n";
        assert_eq!(
            minify_js(js),
            "function f() {\nreturn `a\n    b`;\n}\nlet x = 1; // kept\n/*! licence */\n"
        );
    }
}

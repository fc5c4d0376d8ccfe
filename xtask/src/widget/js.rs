//! The widget's JavaScript made small: the glue's loading code replaced by the few lines the
//! loader needs, its fallbacks for browsers the widget does not run in and the code no call
//! reaches dropped (and, in the web modules' glue, the decoder reset only days of decoding need),
//! and minifying (terser, a real parser; a line-based fallback when it is missing).

use std::{fs, path::Path, process::Command};

use super::toolchain::terser_path;
use crate::output;

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
pub fn minify(root: &Path, source: &str, module: bool, scratch: &Path) -> String {
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

/// The glue's fallbacks for browsers without `TextEncoder.encodeInto` or `FinalizationRegistry`
/// (before Chrome 84, Firefox 79, Safari 14.1): each piece, and what stands in its place. The
/// widget needs constructable stylesheets (Chrome 73, Firefox 101, Safari 16.4), so of the
/// browsers it runs in these serve Chrome 73–83 only, where the glue now fails to load (the
/// loader's catch writes "the widget could not load") instead.
const GLUE_FALLBACKS: [(&str, &str); 2] = [
    (
        "(typeof FinalizationRegistry === 'undefined')\n    ? { register: () => {}, unregister: () => {} }\n    : new FinalizationRegistry(",
        "new FinalizationRegistry(",
    ),
    (
        "if (!('encodeInto' in cachedTextEncoder)) {\n    cachedTextEncoder.encodeInto = function (arg, view) {\n        const buf = cachedTextEncoder.encode(arg);\n        view.set(buf);\n        return {\n            read: arg.length,\n            written: buf.length\n        };\n    };\n}\n",
        "",
    ),
];

/// The glue without [`GLUE_FALLBACKS`]; a piece the glue does not hold word for word (another
/// wasm-bindgen's glue) stays, with a warning.
pub fn drop_fallbacks(glue: &str) -> String {
    let mut glue = glue.to_owned();
    for (fallback, instead) in GLUE_FALLBACKS {
        if glue.contains(fallback) {
            glue = glue.replacen(fallback, instead, 1);
        } else {
            eprintln!(
                "warning: the glue's fallback {:?}… was left as it is (unexpected glue)",
                &fallback[..30]
            );
        }
    }
    glue
}

/// wasm-bindgen's string passing, when it is given no `realloc`: never taken where every call
/// passes one (the glue's calls do; [`drop_unreached`] checks).
const GLUE_NO_REALLOC: &str = "    if (realloc === undefined) {\n        const buf = cachedTextEncoder.encode(arg);\n        const ptr = malloc(buf.length, 1) >>> 0;\n        getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);\n        WASM_VECTOR_LEN = buf.length;\n        return ptr;\n    }\n\n";
/// Where the glue calls its string passing.
const PASS_STRING: &str = "passStringToWasm0(";

/// The glue without [`GLUE_NO_REALLOC`] when every call of its string passing gives `realloc`
/// (its last argument is wasm-bindgen's realloc export); otherwise as it is.
pub fn drop_unreached(glue: &str) -> String {
    let every_call_reallocs = glue
        .match_indices(PASS_STRING)
        .map(|(at, _)| &glue[at + PASS_STRING.len()..])
        .map(|args| &args[..args.find(')').unwrap_or(args.len())])
        .all(|args| args == "arg, malloc, realloc" || args.ends_with(", wasm.__wbindgen_realloc"));
    if every_call_reallocs && glue.contains(GLUE_NO_REALLOC) {
        glue.replacen(GLUE_NO_REALLOC, "", 1)
    } else {
        glue.to_owned()
    }
}

/// wasm-bindgen's workaround for Safari, whose `TextDecoder` fails after about 2 GiB decoded: it
/// counts the bytes and makes a new decoder before that. A web module decodes the strings it
/// hands to the browser: element names and texts, storage keys and each answer's JSON as it is
/// stored and posted. The outbox keeps at most 200 answers of a few KB and retries each at most
/// every 5 minutes, so even a page left open with a full outbox and the collector unreachable
/// decodes about 0.2 GB a day and reaches the limit after about ten days; a reload starts again,
/// with the answers in storage. A kiosk runs for days, so the kiosk and agent module keeps it.
const GLUE_SAFARI_DECODER: (&str, &str) = (
    "const MAX_SAFARI_DECODE_BYTES = 2146435072;\nlet numBytesDecoded = 0;\nfunction decodeText(bytes) {\n    numBytesDecoded += bytes.length;\n    if (numBytesDecoded >= MAX_SAFARI_DECODE_BYTES) {\n        cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });\n        cachedTextDecoder.decode();\n        numBytesDecoded = bytes.length;\n    }\n",
    "function decodeText(bytes) {\n",
);

/// The glue without [`GLUE_SAFARI_DECODER`]'s count and reset, for the web modules; a glue that
/// does not hold it word for word stays as it is, with a warning.
pub fn drop_decoder_reset(glue: &str) -> String {
    let (reset, instead) = GLUE_SAFARI_DECODER;
    if glue.contains(reset) {
        glue.replacen(reset, instead, 1)
    } else {
        eprintln!("warning: the glue's decoder reset was left as it is (unexpected glue)");
        glue.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_glue_loses_its_fallbacks_for_old_browsers_and_nothing_else() {
        let kept = "const cachedTextEncoder = new TextEncoder();\n\n";
        let glue = [
            "const CLOSURE_DTORS = ",
            GLUE_FALLBACKS[0].0,
            "state => f(state.a, state.b));\n",
            kept,
            GLUE_FALLBACKS[1].0,
            "let WASM_VECTOR_LEN = 0;\n",
        ]
        .concat();
        assert_eq!(
            drop_fallbacks(&glue),
            [
                "const CLOSURE_DTORS = new FinalizationRegistry(state => f(state.a, state.b));\n",
                kept,
                "let WASM_VECTOR_LEN = 0;\n"
            ]
            .concat()
        );
        assert_eq!(drop_fallbacks("unexpected"), "unexpected");
    }

    #[test]
    fn the_string_path_without_realloc_goes_only_when_every_call_gives_realloc() {
        let def = [
            "function passStringToWasm0(arg, malloc, realloc) {\n",
            GLUE_NO_REALLOC,
            "    let len = arg.length;\n}\n",
        ]
        .concat();
        let call =
            "const p = passStringToWasm0(ret, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);\n";
        let glue = [def.as_str(), call, call].concat();
        assert_eq!(
            drop_unreached(&glue),
            ["function passStringToWasm0(arg, malloc, realloc) {\n    let len = arg.length;\n}\n", call, call].concat()
        );
        let without = [
            glue.as_str(),
            "passStringToWasm0(ret, wasm.__wbindgen_malloc);\n",
        ]
        .concat();
        assert_eq!(drop_unreached(&without), without);
    }

    #[test]
    fn the_web_glue_decodes_without_counting() {
        let (reset, instead) = GLUE_SAFARI_DECODER;
        let tail = "    return cachedTextDecoder.decode(bytes);\n}\n";
        let glue = ["cachedTextDecoder.decode();\n", reset, tail].concat();
        let lean = drop_decoder_reset(&glue);
        assert_eq!(
            lean,
            ["cachedTextDecoder.decode();\n", instead, tail].concat()
        );
        assert!(!lean.contains("MAX_SAFARI_DECODE_BYTES"));
        assert_eq!(drop_decoder_reset("unexpected"), "unexpected");
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

    #[test]
    fn minify_drops_comments_and_indentation_but_not_template_lines() {
        let js = "/**\n * doc\n */\nfunction f() {\n    // note\n    return `a\n    b`;\n}\n/* one */\nlet x = 1; // kept\n/*! licence */\n";
        assert_eq!(
            minify_js(js),
            "function f() {\nreturn `a\n    b`;\n}\nlet x = 1; // kept\n/*! licence */\n"
        );
    }
}

//! The widget's JavaScript made small: the glue's loading code replaced by the few lines the
//! loader needs, its fallbacks for browsers the widget does not run in dropped, and minifying
//! (terser, a real parser; a line-based fallback when it is missing).

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

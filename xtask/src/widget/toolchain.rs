//! The widget's build tools, installed when missing (idempotently: CI starts from a clean clone):
//! the wasm32 target, the wasm-bindgen CLI of the version in `Cargo.lock`, and binaryen's
//! wasm-opt and terser from npm into `.tools/`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{cargo, output, run};

/// The binaryen release whose wasm-opt handles Rust 1.95 output (Debian's 108 breaks it).
const BINARYEN: &str = "binaryen@132.0.0";
/// The JavaScript minifier for the glue and the loader (a real parser, so minifying is safe).
const TERSER: &str = "terser@5.51.2";
/// The target the widget is built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

pub fn wasm_opt_path(root: &Path) -> PathBuf {
    root.join(".tools/node_modules/.bin/wasm-opt")
}

pub fn terser_path(root: &Path) -> PathBuf {
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
}

//! What a visitor downloads, from the files [`super::build`] wrote: raw, gzip and Brotli sizes
//! (the bodies the collector sends) before the survey shows, on a web page in each locale and on
//! a kiosk or agent page; then, measured in real Chromium against the collector with this widget
//! ([`measured_report`]), over HTTPS (where browsers accept Brotli) and over plain HTTP, every
//! byte a visitor downloads from it, per locale, until their answer is delivered or, for one who
//! never opens the survey, until the page is idle.

use std::{fmt::Write as _, fs, path::Path, process::Command};

use crate::{browser_packages, cargo, run, target_dir, tools};

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

/// `(name, raw, gzip, brotli)` of each file: its bytes, and those of the gzip and Brotli bodies
/// the collector sends (`name.gz`, `name.br`, written by [`build`]).
fn sizes(dist: &Path, names: &[String]) -> Result<Vec<(String, u64, u64, u64)>, String> {
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
            let br = len(&dist.join(format!("{name}.br")))?;
            Ok((name.clone(), raw, gz, br))
        })
        .collect()
}

/// Raw, gzip and Brotli (as served) sizes of the modules' files (loader, glue, wasm) and their totals: what a web
/// page transfers for its survey and the answer's delivery (each file for English, the totals for
/// every locale), and what a kiosk or agent page transfers.
pub fn size_report(dist: &Path) -> Result<String, String> {
    const BUDGET: &str = "(goal: 24576 bytes on the wire to a delivered answer, measured below)";
    let manifest = fs::read_to_string(dist.join("manifest.json"))
        .map_err(|e| format!("cannot read {dist:?}/manifest.json: {e}"))?;
    let module_sizes = |module: &str| {
        let names = module_files(&manifest, module);
        if names.is_empty() {
            return Err(format!("manifest.json lists no files for {module}"));
        }
        sizes(dist, &names)
    };
    let total = |files: &[(String, u64, u64, u64)]| {
        files.iter().fold((0, 0, 0), |(r, g, b), (_, raw, gz, br)| {
            (r + raw, g + gz, b + br)
        })
    };
    let mut report = String::new();
    for (module, title) in [
        ("web-en", "web pages (launcher, inline), English:"),
        ("channels", "kiosk and agent pages, invitation links:"),
    ] {
        let files = module_sizes(module)?;
        let _ = writeln!(report, "{title}");
        let _ = writeln!(
            report,
            "  {:<28} {:>9} {:>9} {:>9}",
            "asset", "raw", "gzip", "brotli"
        );
        for (name, raw, gz, br) in &files {
            let _ = writeln!(report, "  {name:<28} {raw:>9} {gz:>9} {br:>9}");
        }
        let (raw, gz, br) = total(&files);
        let budget = if module == "channels" { "" } else { BUDGET };
        let _ = writeln!(
            report,
            "  {:<28} {raw:>9} {gz:>9} {br:>9}   {budget}\n",
            "total"
        );
        if module == "web-en" {
            let _ = writeln!(report, "web pages in the other locales (totals):");
            for code in &protocol::instrument::LOCALE_CODES[1..] {
                let (raw, gz, br) = total(&module_sizes(&format!("web-{code}"))?);
                let _ = writeln!(report, "  {code:<28} {raw:>9} {gz:>9} {br:>9}");
            }
            report.push('\n');
        }
    }
    Ok(report.trim_end().to_owned())
}

/// Builds the collector with this widget (debug: the bytes are the same) and runs
/// `tests/browser/bench/bytes.mjs` in Debian's Chromium, with a self-signed certificate for the
/// HTTPS collector (made here; Chromium is told to accept it); returns its tables.
pub fn measured_report() -> Result<String, String> {
    tools::ensure_apt(&[("chromium", "chromium")])?;
    run(cargo().args([
        "build",
        "-p",
        "touchpoint-collector",
        "--bin",
        "touchpoint-collector",
    ]))?;
    let dir = browser_packages()?;
    let tls = target_dir().join("size-tls");
    fs::create_dir_all(&tls).map_err(|e| format!("cannot create {tls:?}: {e}"))?;
    let signed = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
        .map_err(|e| format!("cannot make a certificate: {e}"))?;
    let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
    fs::write(&cert, signed.cert.pem()).map_err(|e| format!("cannot write {cert:?}: {e}"))?;
    fs::write(&key, signed.signing_key.serialize_pem())
        .map_err(|e| format!("cannot write {key:?}: {e}"))?;
    let output = Command::new("node")
        .arg(Path::new("bench").join("bytes.mjs"))
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("TLS_CERT", &cert)
        .env("TLS_KEY", &key)
        .output()
        .map_err(|e| format!("node: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "bench/bytes.mjs failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(format!(
        "measured in Chromium: bytes from the collector on a launcher page, a fresh browser each \
         visit (wire: headers included; bodies: as the sizes above, Brotli over HTTPS, gzip over \
         HTTP)\n{}",
        String::from_utf8_lossy(&output.stdout).trim_end()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! Rewrites the widget's wasm around wasm-opt, reading it with `wasmparser` and writing it with
//! `wasm-encoder`: before, functions nothing can call lose their bodies (and, in the web modules,
//! data only a panic's message would read is blanked); after, imports and wasm-bindgen's internal
//! exports get short names, in the wasm and in the glue alike. Every section it does not rewrite
//! is copied byte for byte.

use std::collections::HashSet;

use wasm_encoder::{
    reencode::{Reencode, RoundtripReencoder},
    CodeSection, ExportSection, Function, ImportSection, Instruction, Module, RawSection,
};
use wasmparser::{
    Encoding, ExportSectionReader, ImportSectionReader, KnownCustom, Name, Parser, Payload, TypeRef,
};

/// Functions wasm-bindgen leaves reachable only through the function table although nothing can
/// call them: js-sys's JSPI task machinery. Its entry point is a raw export the wasm-bindgen CLI
/// deletes from modules without `#[wasm_bindgen(jspi)]` exports ("leaving no JSPI machinery"),
/// but the table keeps the waker functions that export reached, and wasm-opt cannot drop table
/// entries. The widget spawns no futures.
const UNCALLED: &str = "js_sys::futures::jspi::";

/// The payloads of a core wasm module, in order; `None` when `wasm` is not one wasmparser reads.
fn payloads(wasm: &[u8]) -> Option<Vec<Payload<'_>>> {
    let payloads = Parser::new(0)
        .parse_all(wasm)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    matches!(
        payloads.first(),
        Some(Payload::Version {
            encoding: Encoding::Module,
            ..
        })
    )
    .then_some(payloads)
}

/// Appends the section `payload` stands for to `module`, as it is in `wasm` (a code section's
/// entries come with its start; the version payload stands for none).
fn copy_section(module: &mut Module, wasm: &[u8], payload: &Payload<'_>) -> Option<()> {
    if let Some((id, range)) = payload.as_section() {
        let range = usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?;
        module.section(&RawSection {
            id,
            data: wasm.get(range)?,
        });
    }
    Some(())
}

/// The function indices the `name` section gives a name starting with [`UNCALLED`]; `None` when
/// the module still exports JSPI's entry point (then they can be called).
fn uncalled_functions(payloads: &[Payload<'_>]) -> Option<HashSet<u32>> {
    let mut uncalled = HashSet::new();
    for payload in payloads {
        match payload {
            Payload::ExportSection(exports) => {
                for export in exports.clone() {
                    if export.ok()?.name.starts_with("__wbg_jspi") {
                        return None;
                    }
                }
            }
            Payload::CustomSection(custom) => {
                let KnownCustom::Name(names) = custom.as_known() else {
                    continue;
                };
                for subsection in names {
                    let Name::Function(map) = subsection.ok()? else {
                        continue;
                    };
                    for naming in map {
                        let naming = naming.ok()?;
                        if naming.name.starts_with(UNCALLED) {
                            uncalled.insert(naming.index);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Some(uncalled)
}

/// Replaces the body of every function whose name (from the `name` section) starts with
/// [`UNCALLED`] by `unreachable`, so that wasm-opt drops everything only they used. `None` (use the
/// module as it is) when no function has such a name, the module still exports JSPI's entry
/// point, or it is not a module wasmparser reads.
pub fn snip_uncalled(wasm: &[u8]) -> Option<Vec<u8>> {
    let payloads = payloads(wasm)?;
    let uncalled = uncalled_functions(&payloads)?;
    if uncalled.is_empty() {
        return None;
    }
    // Function indices count the imported functions first.
    let mut index = 0u32;
    for payload in &payloads {
        if let Payload::ImportSection(imports) = payload {
            for import in imports.clone().into_imports() {
                if matches!(import.ok()?.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                    index += 1;
                }
            }
        }
    }
    let mut module = Module::new();
    let (mut code, mut remaining) = (None, 0);
    for payload in &payloads {
        match payload {
            Payload::CodeSectionStart { count, .. } => {
                code = Some(CodeSection::new());
                remaining = *count;
            }
            Payload::CodeSectionEntry(body) => {
                let section = code.as_mut()?;
                if uncalled.contains(&index) {
                    // No locals; `unreachable`; `end`.
                    let mut snipped = Function::new([]);
                    snipped
                        .instruction(&Instruction::Unreachable)
                        .instruction(&Instruction::End);
                    section.function(&snipped);
                } else {
                    section.raw(body.as_bytes());
                }
                index += 1;
                remaining -= 1;
            }
            other => copy_section(&mut module, wasm, other)?,
        }
        if remaining == 0 {
            if let Some(section) = code.take() {
                module.section(&section);
            }
        }
    }
    Some(module.finish())
}

/// Renames the wasm's imports to short names, in the wasm and in the glue that provides them.
/// wasm-bindgen names each one like `__wbg_createElement_8c76612df6d26bb9`: with the hash, those
/// names are ~2 KB of every visitor's gzip download, in two files. Only names the glue holds
/// exactly once are renamed; internal exports are renamed as [`shorten_exports`] says. `None`
/// (use the files as they are) when the module is not one wasmparser reads.
pub fn shorten_imports(wasm: &[u8], glue: &str) -> Option<(Vec<u8>, String)> {
    let mut glue = glue.to_owned();
    let mut module = Module::new();
    for payload in &payloads(wasm)? {
        match payload {
            Payload::ImportSection(imports) => {
                module.section(&shorten_import_names(imports.clone(), &mut glue)?);
            }
            Payload::ExportSection(exports) => {
                module.section(&shorten_exports(exports.clone(), &mut glue)?);
            }
            other => copy_section(&mut module, wasm, other)?,
        }
    }
    Some((module.finish(), glue))
}

/// The import section with short names for the imports `glue` names exactly once (renamed there
/// too).
fn shorten_import_names(
    imports: ImportSectionReader<'_>,
    glue: &mut String,
) -> Option<ImportSection> {
    let mut section = ImportSection::new();
    let mut renamed = 0;
    for import in imports.into_imports() {
        let import = import.ok()?;
        let ty = RoundtripReencoder.entity_type(import.ty).ok()?;
        if glue.matches(import.name).count() == 1 {
            let short = short_name(renamed);
            renamed += 1;
            *glue = glue.replacen(import.name, &short, 1);
            section.import(import.module, &short, ty);
        } else {
            section.import(import.module, import.name, ty);
        }
    }
    Some(section)
}

/// The export section with wasm-bindgen's internal exports (`__wbindgen_malloc`,
/// `wasm_bindgen__convert__closures_____invoke__h<hash>`, …) renamed `_a`, `_b`, …, where the glue
/// uses each only as a property (`wasm.__wbindgen_malloc`); the widget's own exports keep their
/// names.
fn shorten_exports(exports: ExportSectionReader<'_>, glue: &mut String) -> Option<ExportSection> {
    let mut section = ExportSection::new();
    let mut renamed = 0;
    for export in exports {
        let export = export.ok()?;
        let (name, kind) = (
            export.name,
            RoundtripReencoder.export_kind(export.kind).ok()?,
        );
        let internal = ["__wbindgen_", "__externref_", "wasm_bindgen__"]
            .iter()
            .any(|prefix| name.starts_with(prefix));
        let uses = word_positions(glue, name);
        let only_properties = !uses.is_empty()
            && uses.len() == glue.matches(name).count()
            && uses
                .iter()
                .all(|&at| at > 0 && glue.as_bytes()[at - 1] == b'.');
        if internal && only_properties {
            let short = ["_", &short_name(renamed)].concat();
            renamed += 1;
            for &at in uses.iter().rev() {
                glue.replace_range(at..at + name.len(), &short);
            }
            section.export(&short, kind, export.index);
        } else {
            section.export(name, kind, export.index);
        }
    }
    Some(section)
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

/// The standard library's panic messages that a web module's data holds (`alloc`'s, for a failed
/// or impossible allocation).
const PANIC_MESSAGES: [&[u8]; 4] = [
    b"memory allocation of ",
    b" bytes failed",
    b"capacity overflow",
    b"Tried to shrink to a larger capacity",
];

/// Overwrites with zeros, in place, the bytes of `wasm` that only a panic's message or location
/// would read: `alloc`'s messages, the file paths of panic locations (the standard library's,
/// under `/rustc/`, and crates', under `cargo_home`), and the two-digit table of integer
/// formatting, which only the allocation-failure message uses. The web modules' panic handler
/// (`widget/src/lib.rs`) reads neither the message nor the location: it writes one fixed console
/// message and traps, so these bytes are never read. On stable Rust they cannot be left out
/// (`-Zlocation-detail=none` and `panic_immediate_abort` are nightly-only); as zeros, the
/// compressed module carries almost nothing of them. The lengths stay, so no offset moves.
/// Returns how many bytes were blanked.
pub fn blank_panic_data(wasm: &mut [u8], cargo_home: &str) -> usize {
    let digits: Vec<u8> = (0..100u8)
        .flat_map(|n| [b'0' + n / 10, b'0' + n % 10])
        .collect();
    let mut spans = Vec::new();
    for pattern in PANIC_MESSAGES.iter().copied().chain([digits.as_slice()]) {
        spans.extend(find_all(wasm, pattern).map(|at| (at, at + pattern.len())));
    }
    let registry = format!("{}/registry/src/", cargo_home.trim_end_matches('/'));
    for prefix in [b"/rustc/".as_slice(), registry.as_bytes()] {
        for at in find_all(wasm, prefix) {
            // The path runs to its `.rs`, within a path's length.
            let rest = &wasm[at..wasm.len().min(at + 512)];
            if let Some(end) = rest.windows(3).position(|w| w == b".rs") {
                spans.push((at, at + end + 3));
            }
        }
    }
    let mut blanked = 0;
    for (from, to) in spans {
        for b in &mut wasm[from..to] {
            if *b != 0 {
                *b = 0;
                blanked += 1;
            }
        }
    }
    blanked
}

/// Where `pattern` starts in `bytes`, each time.
fn find_all<'a>(bytes: &'a [u8], pattern: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    bytes
        .windows(pattern.len())
        .enumerate()
        .filter(move |(_, w)| *w == pattern)
        .map(|(at, _)| at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        EntityType, ExportKind, FunctionSection, NameMap, NameSection, TypeSection,
    };

    #[test]
    fn only_what_a_panic_would_read_is_blanked() {
        let digits: String = (0..100).map(|n| format!("{n:02}")).collect();
        let data = format!(
            "keep:outbox:memory allocation of  bytes failedcapacity overflow/rustc/abc/library/alloc/src/alloc.rs\
             /home/u/.cargo/registry/src/index/js-sys-0.3.107/src/futures/jspi.rs{digits}[email]0123456789"
        );
        let mut bytes = data.clone().into_bytes();
        let blanked = blank_panic_data(&mut bytes, "/home/u/.cargo/");
        let kept: String = bytes
            .iter()
            .filter(|b| **b != 0)
            .map(|b| char::from(*b))
            .collect();
        assert_eq!(kept, "keep:outbox:[email]0123456789");
        assert_eq!(blanked, data.len() - kept.len());
        assert_eq!(bytes.len(), data.len(), "no offset moves");
    }

    /// A module with one function type, `imports` from `./tp.js` and `exports` of function 0.
    fn module(imports: &[&str], exports: &[&str]) -> Vec<u8> {
        let mut module = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        let mut section = ImportSection::new();
        for name in imports {
            section.import("./tp.js", name, EntityType::Function(0));
        }
        module.section(&section);
        let mut section = ExportSection::new();
        for name in exports {
            section.export(name, ExportKind::Func, 0);
        }
        module.section(&section);
        module.finish()
    }

    #[test]
    fn imports_get_short_names_in_the_wasm_and_the_glue() {
        let glue = "{__wbg_f_0123456789abcdef:function(){},keep:1,x:keep}";
        let (wasm, short_glue) =
            shorten_imports(&module(&["__wbg_f_0123456789abcdef", "keep"], &[]), glue).unwrap();
        assert_eq!(short_glue, "{a:function(){},keep:1,x:keep}");
        assert_eq!(wasm, module(&["a", "keep"], &[]));
        assert_eq!(short_name(0), "a");
        assert_eq!(short_name(51), "Z");
        assert_eq!(short_name(52), "ba");
        assert!(shorten_imports(b"not wasm", "").is_none());
    }

    #[test]
    fn internal_exports_get_short_names_where_the_glue_uses_them_only_as_properties() {
        let exports = ["__wbindgen_malloc", "open", "__wbindgen_free"];
        let glue =
            "keep;keep;v.__wbindgen_malloc(1),v.__wbindgen_malloc(2),v.open(),__wbindgen_free";
        let (wasm, glue) = shorten_imports(&module(&["keep"], &exports), glue).unwrap();
        assert_eq!(glue, "keep;keep;v._a(1),v._a(2),v.open(),__wbindgen_free");
        assert_eq!(wasm, module(&["keep"], &["_a", "open", "__wbindgen_free"]));
    }

    /// A module importing one function and defining two, each `nop` or `unreachable` as
    /// `unreachable` says, the second exported as `export`, with a name section naming the
    /// defined ones.
    fn defining(names: &[(u32, &str)], export: &str, unreachable: [bool; 2]) -> Vec<u8> {
        let mut module = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        let mut imports = ImportSection::new();
        imports.import("m", "f", EntityType::Function(0));
        module.section(&imports);
        let mut functions = FunctionSection::new();
        functions.function(0).function(0);
        module.section(&functions);
        let mut exports = ExportSection::new();
        exports.export(export, ExportKind::Func, 2);
        module.section(&exports);
        let mut code = CodeSection::new();
        for snipped in unreachable {
            let mut body = Function::new([]);
            body.instruction(if snipped {
                &Instruction::Unreachable
            } else {
                &Instruction::Nop
            });
            body.instruction(&Instruction::End);
            code.function(&body);
        }
        module.section(&code);
        if !names.is_empty() {
            let mut map = NameMap::new();
            for (index, name) in names {
                map.append(*index, name);
            }
            let mut section = NameSection::new();
            section.functions(&map);
            module.section(&section);
        }
        module.finish()
    }

    #[test]
    fn uncalled_jspi_functions_lose_their_bodies_and_nothing_else_changes() {
        let names = [
            (1, "js_sys::futures::jspi::task_waker::raw_wake"),
            (2, "keep"),
        ];
        let wasm = defining(&names, "start", [false, false]);
        assert_eq!(
            snip_uncalled(&wasm).expect("snipped"),
            defining(&names, "start", [true, false])
        );
        // Nothing to snip, no names, or JSPI in use: the module stays as it is.
        let plain = [(1, "a"), (2, "b")];
        assert!(snip_uncalled(&defining(&plain, "start", [false; 2])).is_none());
        assert!(snip_uncalled(&defining(&[], "start", [false; 2])).is_none());
        assert!(snip_uncalled(&defining(&names, "__wbg_jspi_task_poll", [false; 2])).is_none());
        assert!(snip_uncalled(b"not wasm").is_none());
    }
}

//! The import-circle check (`cargo xtask circles`, and a step of `cargo xtask test`): in each
//! crate, the top-level modules must not import each other in a circle, nor the child modules of
//! any folder module.
//!
//! It reads a crate's `src/` tree as text: a file is the module its path names (`lib.rs` and
//! `main.rs` the root, `a.rs` and `a/mod.rs` module `a`, `a/b.rs` module `a::b`; `src/bin/` holds
//! other crates and is left out). In each file's code, without comments, string contents and
//! `#[cfg(test)]` items (and the files of `#[cfg(test)] mod name;`), every path that starts with
//! `crate::` or `super::` (in `use` trees too) is resolved to the deepest module it names. A file
//! of module `m` naming module `t` makes an edge between the two children of their deepest common
//! ancestor that lead to them: between two top-level modules, or two children of one folder. A
//! child naming its own folder's items makes none, and neither do re-exports (an item named
//! through the root or a folder counts as that module's). Inline `mod x { … }` blocks outside
//! tests count as their file's module (the crates have none).

mod scan;

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    path::Path,
};

use scan::{references, strip, Reference};

/// A module's path from the crate root (`[]` is the root).
type ModulePath = Vec<String>;

/// Where a reference stands: the file (as shown) and the line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct At {
    file: String,
    line: usize,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Modules importing each other in a loop, all children of `scope`: `modules[0]` imports
/// `modules[1]`, …, and the last imports `modules[0]`; `at[i]` is one place that makes edge `i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    scope: ModulePath,
    modules: Vec<String>,
    at: Vec<At>,
}

impl Circle {
    fn name(&self, i: usize) -> String {
        let module = &self.modules[i % self.modules.len()];
        self.scope
            .iter()
            .chain(std::iter::once(module))
            .cloned()
            .collect::<Vec<_>>()
            .join("::")
    }
}

impl fmt::Display for Circle {
    /// `a -> b -> a`, then each edge with the place that makes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = (0..=self.modules.len()).map(|i| self.name(i)).collect();
        write!(f, "{}", names.join(" -> "))?;
        for (i, at) in self.at.iter().enumerate() {
            write!(f, "\n    {} -> {}: {at}", self.name(i), self.name(i + 1))?;
        }
        Ok(())
    }
}

/// The crates checked, by folder.
const CRATES: [&str; 3] = ["collector", "widget", "xtask"];

/// Checks each crate of [`CRATES`] under the workspace `root`, printing what it finds; fails when
/// any has a circle.
pub fn check(root: &Path) -> Result<(), String> {
    let mut failed = Vec::new();
    for name in CRATES {
        let found = check_dir(&root.join(name).join("src"), &format!("{name}/src"))?;
        if found.is_empty() {
            println!("{name}: no import circles");
            continue;
        }
        println!("{name}: {} import circle(s):", found.len());
        for circle in &found {
            println!("  {circle}");
        }
        failed.push(name);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "modules import each other in a circle in {}",
            failed.join(", ")
        ))
    }
}

/// The circles of the crate whose `src/` is `src`; file names are shown as `shown/<path>`.
fn check_dir(src: &Path, shown: &str) -> Result<Vec<Circle>, String> {
    let mut files = Vec::new();
    read_tree(src, "", &mut files)?;
    Ok(circles(shown, &files))
}

/// Every `.rs` file under `dir`, as (path relative to the tree's root, text).
fn read_tree(dir: &Path, prefix: &str, files: &mut Vec<(String, String)>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let relative = format!("{prefix}{name}");
        if path.is_dir() {
            read_tree(&path, &format!("{relative}/"), files)?;
        } else if name.ends_with(".rs") {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            files.push((relative, text));
        }
    }
    Ok(())
}

/// The module a file of `src/` is; `None` for the other crates in `src/bin/`.
fn module_of(path: &str) -> Option<ModulePath> {
    if path.starts_with("bin/") {
        return None;
    }
    let mut parts: Vec<String> = path
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    let last = parts.pop()?;
    if !(matches!(last.as_str(), "mod")
        || parts.is_empty() && matches!(last.as_str(), "lib" | "main"))
    {
        parts.push(last);
    }
    Some(parts)
}

/// The circles among the modules of one crate's `src/` files (`(path, text)`); file names are
/// shown as `shown/<path>`.
pub fn circles(shown: &str, files: &[(String, String)]) -> Vec<Circle> {
    // Each file's module and code, without what tests alone compile.
    let mut code = Vec::new();
    let mut test_modules = BTreeSet::new();
    for (path, text) in files {
        let Some(module) = module_of(path) else {
            continue;
        };
        let (stripped, test_mods) = strip(text);
        for name in test_mods {
            let mut test_module = module.clone();
            test_module.push(name);
            test_modules.insert(test_module);
        }
        code.push((path, module, stripped));
    }
    code.retain(|(_, module, stripped)| {
        !stripped.contains("#![cfg(test)]") && !test_modules.iter().any(|t| module.starts_with(t))
    });
    let modules: BTreeSet<ModulePath> = code
        .iter()
        .flat_map(|(_, module, _)| (0..=module.len()).map(|n| module[..n].to_vec()))
        .collect();

    // scope → (from, to) → the first place that makes the edge.
    let mut edges: BTreeMap<ModulePath, BTreeMap<(String, String), At>> = BTreeMap::new();
    for (path, module, stripped) in &code {
        for reference in references(stripped) {
            let Some(target) = resolve(module, &reference, &modules) else {
                continue;
            };
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if module.len() > common && target.len() > common {
                let at = At {
                    file: format!("{shown}/{path}"),
                    line: reference.line,
                };
                let edge = (module[common].clone(), target[common].clone());
                let scope = edges.entry(module[..common].to_vec()).or_default();
                let first = scope.entry(edge).or_insert_with(|| at.clone());
                if at < *first {
                    *first = at;
                }
            }
        }
    }
    edges
        .into_iter()
        .flat_map(|(scope, edges)| {
            cycles(&edges).into_iter().map(move |(modules, at)| Circle {
                scope: scope.clone(),
                modules,
                at,
            })
        })
        .collect()
}

/// At most this many circles are reported per folder: enough to see what to untangle.
const MAX_CIRCLES: usize = 50;

/// Every elementary cycle of the graph `edges`, each once, starting at its smallest module, with
/// the place of each edge.
fn cycles(edges: &BTreeMap<(String, String), At>) -> Vec<(Vec<String>, Vec<At>)> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
    }
    let mut found = Vec::new();
    for &start in next.keys() {
        let mut path = vec![start];
        extend(start, &mut path, &next, &mut found);
    }
    found.truncate(MAX_CIRCLES);
    found
        .into_iter()
        .map(|modules| {
            let at = (0..modules.len())
                .map(|i| {
                    let edge = (
                        modules[i].to_owned(),
                        modules[(i + 1) % modules.len()].to_owned(),
                    );
                    edges[&edge].clone()
                })
                .collect();
            (modules.into_iter().map(str::to_owned).collect(), at)
        })
        .collect()
}

/// Extends `path` (which starts at its smallest module) by every module after the start, and
/// records it where it can close back to the start.
fn extend<'a>(
    start: &'a str,
    path: &mut Vec<&'a str>,
    next: &BTreeMap<&'a str, Vec<&'a str>>,
    found: &mut Vec<Vec<&'a str>>,
) {
    if found.len() >= MAX_CIRCLES {
        return;
    }
    let last = path[path.len() - 1];
    for &to in next.get(last).into_iter().flatten() {
        if to == start {
            found.push(path.clone());
        } else if to > start && !path.contains(&to) {
            path.push(to);
            extend(start, path, next, found);
            path.pop();
        }
    }
}

/// The deepest module `reference`, made in a file of `module`, names (itself, when it names an
/// item of the module where it starts).
fn resolve(
    module: &[String],
    reference: &Reference,
    modules: &BTreeSet<ModulePath>,
) -> Option<ModulePath> {
    let mut full: ModulePath = match reference.up {
        None => Vec::new(),
        Some(up) => module[..module.len().checked_sub(up)?].to_vec(),
    };
    let base = full.len();
    full.extend(reference.segments.iter().cloned());
    (base..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|m| modules.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> Vec<String> {
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
            .collect();
        circles("c/src", &files)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_circle_of_top_level_modules_is_found_with_the_line_of_each_edge() {
        let found = tree(&[
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use crate::b::Thing;\n"),
            ("b/mod.rs", "mod inner;\n"),
            (
                "b/inner.rs",
                "//! b's inner part\n\nfn f() { crate::c::go(); }\n",
            ),
            (
                "c.rs",
                "use crate::{\n    x::Y,\n    a::{self, Other},\n};\n",
            ),
        ]);
        assert_eq!(
            found,
            ["a -> b -> c -> a\n    a -> b: c/src/a.rs:1\n    b -> c: c/src/b/inner.rs:3\n    c -> a: c/src/c.rs:3"]
        );
    }

    #[test]
    fn a_dag_passes_and_so_do_references_to_a_folders_own_items() {
        let found = tree(&[
            (
                "main.rs",
                "mod a;\nmod b;\nuse crate::a::x;\nfn main() { b::run() }\n",
            ),
            ("a.rs", "pub fn x() {}\n"),
            (
                "b/mod.rs",
                "mod p;\nmod q;\npub use self::q::Q;\npub struct Shared;\n",
            ),
            ("b/p.rs", "use super::{q::Q, Shared};\nuse crate::a;\n"),
            // A child naming its folder's items (even a re-export of its sibling) makes no edge.
            (
                "b/q.rs",
                "use super::Shared;\nuse super::super::a::x;\npub struct Q;\n",
            ),
        ]);
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn children_of_a_folder_in_a_circle_are_found_by_their_full_path() {
        let found = tree(&[
            ("lib.rs", "mod http;\n"),
            ("http/mod.rs", "mod routes;\nmod guard;\n"),
            ("http/routes.rs", "use super::guard::check;\n"),
            (
                "http/guard.rs",
                "fn f() -> crate::http::routes::Route { todo() }\n",
            ),
        ]);
        assert_eq!(
            found,
            ["http::guard -> http::routes -> http::guard\n    http::guard -> http::routes: c/src/http/guard.rs:1\n    http::routes -> http::guard: c/src/http/routes.rs:1"]
        );
    }

    #[test]
    fn tests_comments_and_strings_make_no_edge() {
        let found = tree(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "use crate::b::B;\n"),
            (
                "b.rs",
                "// crate::a::x\n/* crate::a::y /* nested */ crate::a::z */\n\
                 const S: &str = \"crate::a::s\";\nconst R: &str = r#\"super::a\"#;\n\
                 fn f<'a>(c: char) -> bool { c == '\"' }\n\
                 #[cfg(test)]\nmod tests {\n    use crate::a::T;\n    fn g() { super::super::a::h() }\n}\n\
                 #[cfg(test)]\nuse crate::a::{U, V};\n\
                 #[cfg(test)]\nmod more;\n",
            ),
            ("b/more.rs", "use crate::a::W;\n"),
        ]);
        assert_eq!(found, Vec::<String>::new());
        // The same reference outside the test block closes the circle.
        let found = tree(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a.rs", "use crate::b::B;\n"),
            (
                "b.rs",
                "#[cfg(test)]\nmod tests {}\nfn g() { super::a::h() }\n",
            ),
        ]);
        assert_eq!(
            found,
            ["a -> b -> a\n    a -> b: c/src/a.rs:1\n    b -> a: c/src/b.rs:3"]
        );
    }

    #[test]
    fn a_files_path_names_its_module() {
        assert_eq!(module_of("lib.rs"), Some(vec![]));
        assert_eq!(module_of("a/mod.rs"), Some(vec!["a".to_owned()]));
        assert_eq!(
            module_of("a/b.rs"),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(module_of("bin/tool.rs"), None);
    }
}

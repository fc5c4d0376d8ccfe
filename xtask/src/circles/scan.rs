//! Reads Rust source as the import-circle check needs it: the code without comments, literals
//! and test items, and the `crate::`/`super::` paths in it, one per `use` tree leaf.

/// A path in the code: how far up it starts (`None`: at the crate root, `Some(n)`: `n` times
/// `super`), its segments, and the line of its last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub up: Option<usize>,
    pub segments: Vec<String>,
    pub line: usize,
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Every path in `code` that starts with `crate::` or `super::`, a `use` tree giving one per leaf.
pub fn references(code: &str) -> Vec<Reference> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts = ["crate", "super"].into_iter().find(|word| {
            bytes[at..].starts_with(word.as_bytes())
                && (at == 0 || !is_ident(bytes[at - 1]) && bytes[at - 1] != b'$')
        });
        let Some(word) = starts else {
            at += 1;
            continue;
        };
        let mut p = at + word.len();
        if !code[p..].trim_start().starts_with("::") {
            at = p;
            continue;
        }
        let mut up = (word == "super").then_some(1);
        p = skip_separator(code, p);
        // `super::super::…`
        while let Some(n) = up {
            let after = skip_space(code, p);
            if code[after..].starts_with("super")
                && !bytes.get(after + 5).copied().is_some_and(is_ident)
                && code[after + 5..].trim_start().starts_with("::")
            {
                up = Some(n + 1);
                p = skip_separator(code, after + 5);
            } else {
                break;
            }
        }
        let mut leaves = Vec::new();
        p = use_tree(code, p, &mut Vec::new(), &mut leaves);
        for (segments, end) in leaves {
            found.push(Reference {
                up,
                segments,
                line: code[..end].matches('\n').count() + 1,
            });
        }
        at = p.max(at + 1);
    }
    found
}

fn skip_space(code: &str, p: usize) -> usize {
    p + (code[p..].len() - code[p..].trim_start().len())
}

/// The position after the `::` that follows `p` (after spaces).
fn skip_separator(code: &str, p: usize) -> usize {
    skip_space(code, p) + 2
}

/// Reads a path or `use` tree at `p` below `prefix`: pushes each leaf (its segments and where its
/// last one starts) to `leaves`; returns where the tree ends.
fn use_tree(
    code: &str,
    p: usize,
    prefix: &mut Vec<String>,
    leaves: &mut Vec<(Vec<String>, usize)>,
) -> usize {
    let bytes = code.as_bytes();
    let p = skip_space(code, p);
    match bytes.get(p) {
        Some(b'{') => {
            let mut p = p + 1;
            loop {
                p = skip_space(code, p);
                match bytes.get(p) {
                    None => return p,
                    Some(b'}') => return p + 1,
                    Some(b',') => p += 1,
                    Some(_) => {
                        let end = use_tree(code, p, prefix, leaves);
                        if end == p {
                            // Not a path: skip the character so the loop ends.
                            p += 1;
                        } else {
                            p = end;
                        }
                    }
                }
            }
        }
        Some(b'*') => {
            leaves.push((prefix.clone(), p));
            p + 1
        }
        Some(&b) if is_ident(b) => {
            let start = p;
            let mut end = p;
            while bytes.get(end).copied().is_some_and(is_ident) {
                end += 1;
            }
            let ident = code[start..end].trim_start_matches("r#").to_owned();
            if ident == "self" {
                leaves.push((prefix.clone(), start));
                return end;
            }
            prefix.push(ident);
            let after = skip_space(code, end);
            let result = if code[after..].starts_with("::")
                && !code[after + 2..].trim_start().starts_with('<')
            {
                use_tree(code, after + 2, prefix, leaves)
            } else {
                leaves.push((prefix.clone(), start));
                end
            };
            prefix.pop();
            result
        }
        _ => p,
    }
}

/// `text` with comments, the contents of string and character literals, and `#[cfg(test)]` items
/// blanked out (lines kept, so line numbers stay true); and the names of the `#[cfg(test)] mod
/// name;` it declares, whose files only tests compile.
pub fn strip(text: &str) -> (String, Vec<String>) {
    let code = blank_literals_and_comments(text);
    let mut out = code.clone().into_bytes();
    let mut test_mods = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(found) = code[at..].find("#[") {
        let start = at + found;
        let Some(end) = matching(bytes, start + 1) else {
            break;
        };
        let attribute: String = code[start..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        at = end;
        if attribute != "#[cfg(test)]" {
            continue;
        }
        // The item: any further attributes, then up to its `;` or its block's end.
        let mut p = end;
        loop {
            p = skip_space(&code, p);
            if code[p..].starts_with("#[") {
                match matching(bytes, p + 1) {
                    Some(e) => p = e,
                    None => break,
                }
            } else {
                break;
            }
        }
        let item_start = p;
        let mut item_end = bytes.len();
        let mut depth = 0usize;
        while p < bytes.len() {
            match bytes[p] {
                b'(' | b'[' => depth += 1,
                b')' | b']' => depth = depth.saturating_sub(1),
                b';' if depth == 0 => {
                    item_end = p + 1;
                    break;
                }
                b'{' if depth == 0 => {
                    item_end = matching(bytes, p).unwrap_or(bytes.len());
                    break;
                }
                _ => {}
            }
            p += 1;
        }
        let item = &code[item_start..item_end];
        let words: Vec<&str> = item
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        if item.ends_with(';') && !item.contains('{') {
            if let Some(i) = words.iter().position(|w| *w == "mod") {
                if let Some(name) = words.get(i + 1) {
                    test_mods.push((*name).to_owned());
                }
            }
        }
        for b in &mut out[start..item_end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
        at = item_end;
    }
    (String::from_utf8_lossy(&out).into_owned(), test_mods)
}

/// The position after the bracket that closes the one at `open` (`(`, `[` or `{`, nested).
fn matching(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `text` with comments, the contents of string and character literals, and any other byte
/// outside ASCII replaced by spaces, newlines kept (so the code can be cut anywhere).
fn blank_literals_and_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from.min(bytes.len())..to.min(bytes.len())] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut p = 0;
    while p < bytes.len() {
        let rest = &bytes[p..];
        // Raw strings may follow `b`; any other identifier character makes `r` part of a name.
        let raw_may_start = p == 0
            || !is_ident(bytes[p - 1])
            || bytes[p - 1] == b'b' && (p < 2 || !is_ident(bytes[p - 2]));
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |n| p + n);
            blank(&mut out, p, end);
            p = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut q) = (0, p);
            while q < bytes.len() {
                if bytes[q..].starts_with(b"/*") {
                    depth += 1;
                    q += 2;
                } else if bytes[q..].starts_with(b"*/") {
                    depth -= 1;
                    q += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    q += 1;
                }
            }
            blank(&mut out, p, q);
            p = q;
        } else if raw_may_start && (rest.starts_with(b"r#") || rest.starts_with(b"r\"")) {
            // A raw string `r#"…"#` (or a raw identifier `r#name`, left as it is).
            let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
            if rest.get(1 + hashes) == Some(&b'"') {
                let mut close = vec![b'"'];
                close.extend(std::iter::repeat_n(b'#', hashes));
                let body = p + 2 + hashes;
                let end = bytes[body..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(bytes.len(), |n| body + n + close.len());
                blank(&mut out, p + 1, end);
                p = end;
            } else {
                p += 1 + hashes;
            }
        } else if bytes[p] == b'"' {
            let mut q = p + 1;
            while q < bytes.len() && bytes[q] != b'"' {
                q += if bytes[q] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, p + 1, q);
            p = q + 1;
        } else if bytes[p] == b'\'' {
            // A character literal (`'x'`, `'\n'`, `'\u{..}'`) or a lifetime (`'a`), left as it is.
            match rest.get(1) {
                Some(b'\\') => {
                    let end = rest
                        .iter()
                        .skip(3)
                        .position(|&b| b == b'\'')
                        .map_or(bytes.len(), |n| p + 3 + n + 1);
                    blank(&mut out, p + 1, end - 1);
                    p = end;
                }
                Some(&first) => {
                    let len = match first {
                        0..=0x7f => 1,
                        0x80..=0xdf => 2,
                        0xe0..=0xef => 3,
                        _ => 4,
                    };
                    if rest.get(1 + len) == Some(&b'\'') {
                        blank(&mut out, p + 1, p + 1 + len);
                        p += 2 + len;
                    } else {
                        p += 1;
                    }
                }
                None => p += 1,
            }
        } else {
            p += 1;
        }
    }
    for b in &mut out {
        if !b.is_ascii() {
            *b = b' ';
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_use_trees_are_read_to_each_leaf() {
        let refs = references(
            "use crate::a::{b::{self, C}, d::*};\nlet x = super::super::e::F::<u8>::new();\n$crate::g::h",
        );
        let leaves: Vec<(Option<usize>, String, usize)> = refs
            .into_iter()
            .map(|r| (r.up, r.segments.join("::"), r.line))
            .collect();
        assert_eq!(
            leaves,
            [
                (None, "a::b".to_owned(), 1),
                (None, "a::b::C".to_owned(), 1),
                (None, "a::d".to_owned(), 1),
                (Some(2), "e::F".to_owned(), 2),
            ]
        );
    }

    #[test]
    fn strip_blanks_comments_literals_and_test_items_but_keeps_lines() {
        let text = "use a; // crate::x\nconst S: &str = \"crate::y\";\nlet c = '\\'';\n\
                    #[cfg(test)]\nmod tests { crate::z }\n#[cfg(test)]\nmod more;\nfn été() {}\n";
        let (code, test_mods) = strip(text);
        assert_eq!(code.lines().count(), text.lines().count());
        assert!(!code.contains("crate"), "{code}");
        assert!(code.contains("use a;") && code.contains("let c =") && code.contains("fn "));
        assert_eq!(test_mods, ["more"]);
    }
}

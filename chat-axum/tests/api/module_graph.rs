//! The crate's modules depend on each other one way: no two modules (files of `src/`) import
//! each other, directly or through others. Read from the sources: every `crate::` path
//! outside comments is an edge to the module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A Rust source without its comments. String literals stay: a path in one
/// (`deserialize_with = "crate::resources::optional_seq"`) is a dependency too.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut index = 0;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while index < chars.len() {
        let start = index;
        match &chars[index..] {
            ['/', '/', ..] => {
                while index < chars.len() && chars[index] != '\n' {
                    index += 1;
                }
                continue;
            }
            ['/', '*', ..] => {
                index += 2;
                while index < chars.len() && !chars[index - 1..].starts_with(&['*', '/']) {
                    index += 1;
                }
                index += 1;
                continue;
            }
            // Raw strings (`r"…"`, `r#"…"#`), not raw identifiers (`r#type`).
            ['r', rest @ ..]
                if (index == 0 || !ident(chars[index - 1])) && rest.iter().find(|c| **c != '#') == Some(&'"') =>
            {
                let hashes = rest.iter().take_while(|c| **c == '#').count();
                let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
                index += 2 + hashes;
                while index < chars.len() && !chars[index..].starts_with(&close) {
                    index += 1;
                }
                index += close.len();
            }
            ['"', ..] => {
                index += 1;
                while index < chars.len() && chars[index] != '"' {
                    index += if chars[index] == '\\' { 2 } else { 1 };
                }
                index += 1;
            }
            // Character literals (`'"'`, `'\''`), not lifetimes.
            ['\'', '\\', ..] => {
                index += 3;
                while index < chars.len() && chars[index] != '\'' {
                    index += 1;
                }
                index += 1;
            }
            ['\'', _, '\'', ..] => index += 3,
            _ => index += 1,
        }
        out.extend(&chars[start..index.min(chars.len())]);
    }
    out
}

/// Every `prefix::a::b` path in `code`, with one level of `prefix::a::{b, c::d}` groups
/// expanded.
fn paths(code: &str, prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find(prefix).map(|at| at + from) {
        from = at + prefix.len();
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') || !code[from..].starts_with("::") {
            continue;
        }
        let end = code[from..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(code.len(), |end| end + from);
        let path = format!("{prefix}{}", &code[from..end]);
        if code[end..].starts_with('{') && path.ends_with("::") {
            let close = code[end..].find('}').map_or(code.len(), |close| close + end);
            for item in code[end + 1..close]
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
            {
                found.push(format!("{path}{item}"));
            }
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn modules_do_not_import_each_other_in_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // module name (`routes::messages`, `crate` for lib.rs) -> code
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    let mut directories = vec![src.clone()];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                directories.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).expect("under src").with_extension("");
            let mut segments: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if segments.last().is_some_and(|last| last == "mod" || last == "lib") {
                segments.pop();
            }
            let name = if segments.is_empty() {
                "crate".to_owned()
            } else {
                segments.join("::")
            };
            let code = code_only(&std::fs::read_to_string(&path).expect("read source"));
            modules.insert(name, code);
        }
    }
    assert!(
        modules.len() > 5 && modules.contains_key("crate"),
        "{:?}",
        modules.keys()
    );

    // Re-exports of the root (`crate::ChatApi`) name the module they come from.
    let children: Vec<&str> = modules
        .keys()
        .filter(|name| *name != "crate" && !name.contains("::"))
        .map(String::as_str)
        .collect();
    let mut reexports: BTreeMap<String, String> = BTreeMap::new();
    let mut edges: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for child in &children {
        for path in paths(&modules["crate"], child) {
            let item = path.rsplit("::").next().unwrap_or_default().to_owned();
            reexports.insert(item, (*child).to_owned());
            edges.entry("crate").or_default().insert((*child).to_owned());
        }
    }
    let resolve = |path: &str| -> String {
        let segments: Vec<&str> = path.split("::").skip(1).collect();
        (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("::"))
            .find(|name| modules.contains_key(name))
            .or_else(|| segments.first().and_then(|first| reexports.get(*first).cloned()))
            .unwrap_or_else(|| "crate".to_owned())
    };
    for (module, code) in &modules {
        let stray_super: Vec<String> = paths(code, "super")
            .into_iter()
            .filter(|path| path != "super::") // `use super::*` of a `mod tests`
            .collect();
        assert!(
            stray_super.is_empty(),
            "{module}: name other modules by `crate::` paths (this check reads only those): {stray_super:?}"
        );
        for path in paths(code, "crate") {
            let target = resolve(&path);
            if &target != module {
                edges.entry(module.as_str()).or_default().insert(target);
            }
        }
    }

    // A cycle is a path back to where it started.
    let mut cycles = Vec::new();
    for start in modules.keys() {
        let mut stack = vec![vec![start.clone()]];
        let mut seen = BTreeSet::new();
        while let Some(trail) = stack.pop() {
            let last = trail.last().expect("non-empty trail");
            for next in edges.get(last.as_str()).into_iter().flatten() {
                if next == start {
                    cycles.push(format!("{} -> {start}", trail.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles:\n{}\nedges: {edges:#?}",
        cycles.join("\n")
    );
}

#[test]
fn the_source_reader_sees_paths_outside_comments() {
    let code = code_only(concat!(
        "use crate::a::{b, c::d}; // crate::e\n",
        "/* crate::f */ let s = \"crate::g // \\\" crate::h\";\n",
        "let r = r#\"crate::i // \"#; let c = '\"'; let q = '\\''; use crate::j; // crate::k",
    ));
    assert_eq!(
        paths(&code, "crate"),
        [
            "crate::a::b",
            "crate::a::c::d",
            "crate::g",
            "crate::h",
            "crate::i",
            "crate::j"
        ]
    );
}

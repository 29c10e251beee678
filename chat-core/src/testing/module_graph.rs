//! The module graph of a crate (feature `testing`): its modules (files of `src/`) depend on
//! each other one way, never in a cycle. Every crate of the workspace calls
//! [`assert_no_import_cycles`] from its tests. Read from the sources: every `crate::` and
//! `super::` path outside comments (and outside a file's trailing `#[cfg(test)] mod
//! tests`) is an edge to the module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A Rust source without its comments. String literals stay: a path in one
/// (`deserialize_with = "crate::resources::optional_seq"`) is a dependency too.
pub fn code_only(source: &str) -> String {
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
pub fn paths(code: &str, prefix: &str) -> Vec<String> {
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

/// The code of a file without its trailing `#[cfg(test)] mod tests { … }` (whose `super::`
/// names the file's own module).
fn without_test_module(code: &str) -> &str {
    match code.find("#[cfg(test)]\nmod tests") {
        Some(at) => &code[..at],
        None => code,
    }
}

/// Every module of the crate at `manifest_dir` (its `src/`), by name (`routes::messages`,
/// `crate` for `lib.rs` or `main.rs`), with its code (comments removed).
fn modules(manifest_dir: &Path) -> BTreeMap<String, String> {
    let src = manifest_dir.join("src");
    let mut modules = BTreeMap::new();
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
            if segments
                .last()
                .is_some_and(|last| last == "mod" || last == "lib" || last == "main")
            {
                segments.pop();
            }
            let name = if segments.is_empty() {
                "crate".to_owned()
            } else {
                segments.join("::")
            };
            let code = code_only(&std::fs::read_to_string(&path).expect("read source"));
            modules.insert(name, without_test_module(&code).to_owned());
        }
    }
    modules
}

/// The cycles among the modules of the crate at `manifest_dir`, each as `a -> b -> a`.
pub fn import_cycles(manifest_dir: &Path) -> Vec<String> {
    let modules = modules(manifest_dir);
    assert!(
        modules.contains_key("crate"),
        "no lib.rs or main.rs under {}",
        manifest_dir.display()
    );
    // Re-exports of a module (`crate::ChatApi`, `super::KvStore`) name the module they
    // come from: `pub use child::Item` in the parent.
    let mut reexports: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (parent, code) in &modules {
        let prefix = if parent == "crate" {
            String::new()
        } else {
            format!("{parent}::")
        };
        let children: Vec<&String> = modules
            .keys()
            .filter(|name| {
                name.strip_prefix(&prefix)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains("::"))
                    && *name != parent
            })
            .collect();
        for child in children {
            let local = child.rsplit("::").next().unwrap_or_default();
            for path in paths(code, local) {
                let item = path.rsplit("::").next().unwrap_or_default().to_owned();
                reexports.insert((parent.clone(), item), child.clone());
                edges.entry(parent.clone()).or_default().insert(child.clone());
            }
        }
    }
    // The module a path names: the longest prefix that is a module, or the module an item
    // re-exported by that module comes from.
    let resolve = |segments: &[&str]| -> String {
        for n in (0..=segments.len()).rev() {
            let name = if n == 0 {
                "crate".to_owned()
            } else {
                segments[..n].join("::")
            };
            if modules.contains_key(&name) {
                if let Some(item) = segments.get(n) {
                    if let Some(origin) = reexports.get(&(name.clone(), (*item).to_owned())) {
                        return origin.clone();
                    }
                }
                return name;
            }
        }
        "crate".to_owned()
    };
    for (module, code) in &modules {
        let own: Vec<&str> = if module == "crate" {
            Vec::new()
        } else {
            module.split("::").collect()
        };
        let mut targets = Vec::new();
        for path in paths(code, "crate") {
            let segments: Vec<&str> = path.split("::").skip(1).filter(|s| !s.is_empty()).collect();
            targets.push(resolve(&segments));
        }
        for path in paths(code, "super") {
            let mut segments: Vec<&str> = own.clone();
            let mut rest = path.split("::").filter(|s| !s.is_empty()).peekable();
            while rest.next_if(|segment| *segment == "super").is_some() {
                segments.pop();
            }
            segments.extend(rest);
            targets.push(resolve(&segments));
        }
        for target in targets {
            if &target != module && !module.starts_with(&format!("{target}::")) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    let mut cycles = Vec::new();
    for start in modules.keys() {
        let mut stack = vec![vec![start.clone()]];
        let mut seen = BTreeSet::new();
        while let Some(trail) = stack.pop() {
            let last = trail.last().expect("non-empty trail");
            for next in edges.get(last).into_iter().flatten() {
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
    cycles
}

/// Fails (listing them) when the modules of the crate at `manifest_dir` import each other
/// in a cycle. Call it from a crate's tests with `env!("CARGO_MANIFEST_DIR")`.
pub fn assert_no_import_cycles(manifest_dir: impl AsRef<Path>) {
    let cycles = import_cycles(manifest_dir.as_ref());
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_cycle_through_super_and_a_reexport_is_found() {
        let dir = std::env::temp_dir().join(format!("module-graph-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(dir.join("src/kernel")).expect("dirs");
        std::fs::write(dir.join("src/lib.rs"), "mod kernel;\nmod model;\n").expect("lib");
        std::fs::write(dir.join("src/kernel/mod.rs"), "mod tx;\npub use tx::Tx;\n").expect("mod");
        std::fs::write(dir.join("src/kernel/tx.rs"), "use crate::model::Record;\n").expect("tx");
        std::fs::write(dir.join("src/model.rs"), "use crate::kernel::Tx;\n").expect("model");
        assert_eq!(
            import_cycles(&dir).len(),
            2,
            "model -> kernel::tx -> model, from both ends"
        );
        std::fs::write(dir.join("src/model.rs"), "// use crate::kernel::Tx;\n").expect("model");
        std::fs::write(
            dir.join("src/kernel/tx.rs"),
            "use super::super::model::Record;\n#[cfg(test)]\nmod tests { use super::*; }\n",
        )
        .expect("tx");
        assert!(import_cycles(&dir).is_empty());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}

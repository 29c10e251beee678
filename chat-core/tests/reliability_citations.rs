//! RELIABILITY.md cites tests by name: every name it cites must exist, so that the document
//! never points at a test that was renamed or removed.
//!
//! What is checked, in the "Test" column of every table: each backticked Rust path
//! (`name`, `module::name`, `module::*`, `module::tests`) resolves: its last segment is a
//! function (`fn name`) or a module of the workspace's sources (`*` and `tests` name the
//! module before them), and every segment before it is a module or a crate; each quoted
//! browser test after `e2e` is a test title in `examples/marketplace/e2e/`. Anywhere else in
//! the document, a backticked path whose last segment has three or more underscores
//! (`two_nodes::two_workers_on_two_pools_notify_each_of_1000_once`, or a bare long name
//! like `the_listener_reconnects_after_its_connection_is_dropped`) must name something in
//! the sources too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The workspace root (chat-core's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("chat-core sits in the workspace")
        .to_path_buf()
}

/// Every file under `dir` ending in one of `extensions`, skipping build output, installed
/// packages and hidden folders.
fn files(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                files(&path, extensions, out);
            }
        } else if extensions.iter().any(|extension| name.ends_with(extension)) {
            out.push(path);
        }
    }
}

/// What the sources define: function names, module names (files, folders and `mod`
/// items), crate names, and modules holding a `mod tests`.
#[derive(Default)]
struct Sources {
    functions: BTreeSet<String>,
    modules: BTreeSet<String>,
    with_tests: BTreeSet<String>,
    /// Every identifier-like word, for the lenient check outside the Test column.
    words: BTreeSet<String>,
}

fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
}

fn read_sources(root: &Path) -> Sources {
    let mut paths = Vec::new();
    files(root, &[".rs", ".sql"], &mut paths);
    let mut sources = Sources::default();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        sources.words.extend(identifiers(&text).map(str::to_owned));
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let module = if stem == "mod" || stem == "main" || stem == "lib" {
            path.parent()
                .and_then(Path::file_name)
                .map(|s| s.to_string_lossy().replace('-', "_"))
                .unwrap_or_default()
        } else {
            stem.clone()
        };
        sources.modules.insert(module.clone());
        // `rules_tests.rs` is `rules::tests` (a `#[path]` module).
        if let Some(parent) = stem.strip_suffix("_tests") {
            sources.with_tests.insert(parent.to_owned());
        }
        let words: Vec<&str> = identifiers(&text).collect();
        for pair in words.windows(2) {
            match pair[0] {
                "fn" => {
                    sources.functions.insert(pair[1].to_owned());
                }
                "mod" => {
                    sources.modules.insert(pair[1].to_owned());
                    if pair[1] == "tests" {
                        sources.with_tests.insert(module.clone());
                    }
                }
                _ => {}
            }
        }
        // A test binary's folder (`tests/store/`) and a crate's folder are paths too.
        for ancestor in path.ancestors().skip(1) {
            if ancestor == root {
                break;
            }
            if let Some(name) = ancestor.file_name() {
                sources.modules.insert(name.to_string_lossy().replace('-', "_"));
            }
        }
    }
    sources
}

/// The cells of a Markdown table row, splitting on `|` outside backticks.
fn cells(row: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut in_code = false;
    for c in row.trim().trim_start_matches('|').trim_end_matches('|').chars() {
        match c {
            '`' => {
                in_code = !in_code;
                cells.last_mut().expect("a cell").push(c);
            }
            '|' if !in_code => cells.push(String::new()),
            _ => cells.last_mut().expect("a cell").push(c),
        }
    }
    cells
}

/// The backticked spans of `text`.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// A Rust path as cited: `a::b::name`, `a::*`, `name`.
fn is_path(span: &str) -> bool {
    !span.is_empty()
        && span.split("::").all(|segment| {
            segment == "*"
                || (!segment.is_empty()
                    && segment
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && !segment.starts_with(|c: char| c.is_ascii_digit()))
        })
}

/// Why `path` does not resolve, or `None` when it does.
fn unresolved(path: &str, sources: &Sources) -> Option<String> {
    let segments: Vec<&str> = path.split("::").collect();
    let (last, modules) = segments.split_last().expect("split gives one segment");
    let (target_ok, modules) = match *last {
        "*" => (true, modules),
        "tests" => match modules.split_last() {
            Some((module, rest)) => (sources.with_tests.contains(*module), rest),
            None => (false, modules),
        },
        name => (
            sources.functions.contains(name) || sources.modules.contains(name),
            modules,
        ),
    };
    if !target_ok {
        return Some(match *last {
            "tests" => format!("`{path}`: no `mod tests` in that module"),
            _ => format!("`{path}`: no `fn {last}` or module `{last}` in the sources"),
        });
    }
    if let Some(missing) = modules.iter().find(|module| !sources.modules.contains(**module)) {
        return Some(format!("`{path}`: no module `{missing}`"));
    }
    None
}

/// The test titles of the browser tests.
fn e2e_titles(root: &Path) -> String {
    let mut paths = Vec::new();
    files(&root.join("examples/marketplace/e2e"), &[".mjs"], &mut paths);
    paths
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The double-quoted strings after `e2e` in a Test cell.
fn e2e_citations(cell: &str) -> Vec<String> {
    let Some((_, after)) = cell.split_once("e2e") else {
        return Vec::new();
    };
    after
        .split('"')
        .skip(1)
        .step_by(2)
        .map(|title| title.trim_end_matches('…').trim_end_matches("...").to_owned())
        .filter(|title| !title.is_empty())
        .collect()
}

#[test]
fn every_test_reliability_md_cites_exists() {
    let root = root();
    let document = std::fs::read_to_string(root.join("RELIABILITY.md")).expect("RELIABILITY.md");
    let sources = read_sources(&root);
    assert!(
        sources.functions.contains("every_test_reliability_md_cites_exists"),
        "the source walk found this very test"
    );
    let titles = e2e_titles(&root);
    let mut missing = Vec::new();
    let mut checked = 0;
    let mut test_column = None;
    for (number, line) in document.lines().enumerate() {
        let number = number + 1;
        if !line.trim_start().starts_with('|') {
            test_column = None;
            let spans = code_spans(line);
            for span in spans.iter().filter(|span| is_path(span)) {
                let last = span.rsplit("::").next().unwrap_or(span);
                if last.matches('_').count() >= 3 {
                    checked += 1;
                    if !sources.words.contains(last) {
                        missing.push(format!("line {number}: `{span}` names nothing in the sources"));
                    }
                }
            }
            continue;
        }
        let row = cells(line);
        if row.iter().all(|cell| cell.trim().chars().all(|c| c == '-' || c == ':')) {
            continue;
        }
        let Some(column) = test_column else {
            // A header row: find its Test column.
            test_column = Some(row.iter().position(|cell| cell.trim() == "Test").unwrap_or(usize::MAX));
            continue;
        };
        for (index, cell) in row.iter().enumerate() {
            for span in code_spans(cell).into_iter().filter(|span| is_path(span)) {
                let last = span.rsplit("::").next().unwrap_or(span);
                if index == column && (span.contains("::") || span.contains('_')) {
                    checked += 1;
                    if let Some(why) = unresolved(span, &sources) {
                        missing.push(format!("line {number}: {why}"));
                    }
                } else if last.matches('_').count() >= 3 {
                    checked += 1;
                    if !sources.words.contains(last) {
                        missing.push(format!("line {number}: `{span}` names nothing in the sources"));
                    }
                }
            }
            if index == column {
                for title in e2e_citations(cell) {
                    checked += 1;
                    if !titles.contains(&title) {
                        missing.push(format!("line {number}: no browser test titled \"{title}\""));
                    }
                }
            }
        }
    }
    eprintln!(
        "RELIABILITY.md: {checked} citations checked, {} unresolved",
        missing.len()
    );
    assert!(
        checked > 100,
        "only {checked} citations found: the parser lost the tables"
    );
    assert!(
        missing.is_empty(),
        "RELIABILITY.md cites {} names that do not exist (of {checked} checked):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

//! Every crate's modules depend one way: no two files (or groups of files) import each
//! other, directly or around a circle. Read from the sources: each `crate::...` and
//! `super::...` path a file names, outside comments, is resolved to the module it
//! reaches (through the crate root's `pub use` re-exports), and the graph between
//! modules - a module and its own parent or children aside, which Rust ties together by
//! design - must have no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` and `main.rs` are the root, "".
fn module_of(relative: &Path) -> String {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let file = parts.pop().unwrap();
    let stem = file.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") || !parts.is_empty() && stem != "mod" {
        parts.push(stem.to_owned());
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file with comments cut off each line.
fn code(text: &str) -> String {
    text.lines().map(|line| line.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// The paths after each `prefix` (`crate::` or `super::`), a `{...}` group split into
/// its items: `crate::{a, b::c}` gives `a` and `b::c`.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    // `super::super::x` is one path, found at its first `super::`.
    for (at, _) in code.match_indices(prefix).filter(|(at, _)| !code[..*at].ends_with(prefix)) {
        let rest = &code[at + prefix.len()..];
        let items: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => {
                let mut depth = 0;
                let end = group
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '{' => 1,
                            '}' => -1,
                            _ => 0,
                        };
                        depth < 0
                    })
                    .map_or(group.len(), |(i, _)| i);
                top_level_items(&group[..end])
            }
            None => vec![rest],
        };
        for item in items {
            let path: Vec<String> = item
                .split("::")
                .map(|s| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>())
                .take_while(|s| !s.is_empty())
                .collect();
            if !path.is_empty() {
                found.push(path);
            }
        }
    }
    found
}

fn top_level_items(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(group[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(group[start..].trim());
    items
}

/// Where the root's `pub use a::b::{X, Y}` lets `crate::X` point: `X` -> `a::b`.
fn root_reexports(root_code: &str) -> BTreeMap<String, Vec<String>> {
    let mut names = BTreeMap::new();
    for statement in root_code.split(';') {
        let Some(used) = statement.trim().strip_prefix("pub use ") else { continue };
        let used = used.trim_start_matches("crate::");
        let (module, items) = match used.split_once("::{") {
            Some((module, items)) => (module, top_level_items(items.trim_end_matches('}'))),
            None => match used.rsplit_once("::") {
                Some((module, item)) => (module, vec![item]),
                None => continue,
            },
        };
        let module: Vec<String> = module.split("::").map(str::to_owned).collect();
        for item in items {
            let name = item.rsplit(" as ").next().unwrap_or(item).trim().rsplit("::").next().unwrap().to_owned();
            names.insert(name, module.clone());
        }
    }
    names
}

/// The longest prefix of `path` that is a module of the crate.
fn resolve(path: &[String], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| modules.contains(m))
}

fn related(a: &str, b: &str) -> bool {
    let within = |inner: &str, outer: &str| outer.is_empty() || inner.starts_with(&format!("{outer}::"));
    a == b || within(a, b) || within(b, a)
}

/// The module graph of the crate whose sources are in `src`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|f| (module_of(f.strip_prefix(src).unwrap()), code(&std::fs::read_to_string(f).unwrap())))
        .collect();
    let modules: BTreeSet<String> = sources.iter().map(|(m, _)| m.clone()).collect();
    let root = sources.iter().find(|(m, _)| m.is_empty()).map(|(_, c)| root_reexports(c)).unwrap_or_default();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in &sources {
        let absolute = paths_after(code, "crate::").into_iter();
        let relative = paths_after(code, "super::").into_iter().map(|rest| {
            // The path counts from the parent; each further `super` climbs one more.
            let mut base: Vec<String> = module.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect();
            base.pop();
            let climbs = rest.iter().take_while(|s| *s == "super").count();
            base.truncate(base.len().saturating_sub(climbs));
            [base, rest[climbs..].to_vec()].concat()
        });
        for path in absolute.chain(relative) {
            let Some(first) = path.first() else { continue };
            let path = match root.get(first) {
                Some(module) if !modules.contains(first) => [module.clone(), path[1..].to_vec()].concat(),
                _ => path,
            };
            if let Some(target) = resolve(&path, &modules).filter(|t| !related(module, t)) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// One cycle of the graph, if it has any, as the modules around it.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            return Some([&path[at..], &[node.to_owned()]].concat());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_circle() {
    let root = workspace();
    let mut crates = vec![root.join("shared/src"), root.join("ops/src"), root.join("local-api/src")];
    for entry in std::fs::read_dir(root.join("functions")).unwrap() {
        crates.push(entry.unwrap().path().join("src"));
    }
    let circles: Vec<String> = crates
        .iter()
        .filter_map(|src| cycle(&graph(src)).map(|c| format!("{}: {}", src.display(), c.join(" -> "))))
        .collect();
    assert!(circles.is_empty(), "modules that import each other:\n{}", circles.join("\n"));
}

#[test]
fn the_check_finds_a_circle_when_there_is_one() {
    // login -> mfa -> login, as functions/auth once was; and one through a re-export.
    let dir = std::env::temp_dir().join(format!("module-graph-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("lib.rs", "mod login;\nmod mfa;\nmod nested;\npub use nested::inner::Thing;\n");
    write("login.rs", "use crate::mfa::{self, Challenge};\n// crate::nested is only mentioned\n");
    write("mfa.rs", "use crate::{login::MAX, nested};\n");
    write("nested/mod.rs", "pub mod inner;\n");
    write("nested/inner.rs", "use super::super::login;\n");
    let edges = graph(&dir);
    assert_eq!(edges["login"], BTreeSet::from(["mfa".to_owned()]));
    assert_eq!(edges["mfa"], BTreeSet::from(["login".to_owned(), "nested".to_owned()]));
    assert_eq!(edges["nested::inner"], BTreeSet::from(["login".to_owned()]));
    assert_eq!(cycle(&edges), Some(vec!["login".into(), "mfa".into(), "login".into()]));
    write("mfa.rs", "use crate::Thing;\n");
    assert_eq!(cycle(&graph(&dir)), Some(vec!["login".into(), "mfa".into(), "nested::inner".into(), "login".into()]));
    write("login.rs", "");
    assert_eq!(cycle(&graph(&dir)), None);
    std::fs::remove_dir_all(dir).unwrap();
}

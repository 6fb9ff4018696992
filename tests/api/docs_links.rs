//! Every relative link in README.md and docs/*.md resolves: the file it names exists and,
//! when it names a `#section` of a Markdown file, that file has a heading with that
//! GitHub anchor. Links out (http, https, mailto) are not followed.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate is inside the workspace").to_path_buf()
}

/// README.md, then every docs/*.md in name order.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    docs
}

/// The lines outside fenced code blocks, with their 1-based numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push((index + 1, line));
        }
    }
    lines
}

/// GitHub's anchor for a heading: lower case, spaces to '-', every other character that
/// is not a letter, a digit, '-' or '_' dropped.
fn slug(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            _ if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors of a Markdown file's headings; a repeated heading gets "-1", "-2", ...
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut found = Vec::new();
    for (_, line) in prose(text) {
        let level = line.len() - line.trim_start_matches('#').len();
        let heading = match line[level..].strip_prefix(' ') {
            Some(heading) if (1..=6).contains(&level) => heading,
            _ => continue,
        };
        let slug = slug(heading.trim());
        let count = seen.entry(slug.clone()).or_insert(0);
        found.push(if *count == 0 { slug } else { format!("{slug}-{count}") });
        *count += 1;
    }
    found
}

/// The targets of the inline links `[text](target)` on one line.
fn link_targets(line: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        if rest[..at].contains('[') {
            targets.push(after[..end].split_whitespace().next().unwrap_or_default());
        }
        rest = &after[end..];
    }
    targets
}

/// What is wrong with one link of `doc`, if anything.
fn problem(doc: &Path, target: &str) -> Option<String> {
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = if path.is_empty() { doc.to_path_buf() } else { doc.parent()?.join(path) };
    if !file.exists() {
        return Some(format!("{} does not exist", file.display()));
    }
    let anchor = anchor.filter(|_| file.extension().is_some_and(|ext| ext == "md"))?;
    let text = fs::read_to_string(&file).unwrap_or_default();
    if anchors(&text).iter().any(|a| a.as_str() == anchor) {
        None
    } else {
        Some(format!("{} has no heading with the anchor #{anchor}", file.display()))
    }
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let root = workspace_root();
    let mut broken = Vec::new();
    for doc in documents(&root) {
        let text = fs::read_to_string(&doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        let name = doc.strip_prefix(&root).unwrap_or(&doc).display().to_string();
        for (number, line) in prose(&text) {
            for target in link_targets(line) {
                if ["http:", "https:", "mailto:"].iter().any(|scheme| target.starts_with(scheme)) {
                    continue;
                }
                if let Some(why) = problem(&doc, target) {
                    broken.push(format!("{name}:{number}: ({target}) {why}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{} broken link(s):\n{}", broken.len(), broken.join("\n"));
}

#[test]
fn anchors_are_github_slugs() {
    assert_eq!(slug("FHIR R4 — `/api/fhir`"), "fhir-r4--apifhir");
    assert_eq!(slug("`sam build` is one cargo build"), "sam-build-is-one-cargo-build");
    assert_eq!(slug("Metrics, logs and traces"), "metrics-logs-and-traces");
    assert_eq!(anchors("# A\n```\n# not a heading\n```\n## A\n#tag\n"), ["a", "a-1"]);
    assert_eq!(link_targets("see [x](a.md#b) and [`y`](c.md \"title\"), not ](d)"), ["a.md#b", "c.md"]);
}

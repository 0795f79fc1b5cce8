//! The layering of the library's top-level modules (docs/architecture.md), checked on the
//! source: no cycle among them, and every `crate::X` reference from module Y goes down the
//! layering (X below Y).
//!
//! Reads every `.rs` file under `src/` (the crate root files `lib.rs` and `main.rs` excepted)
//! and counts `crate::X` references, `use crate::{X::.., Z::..}` groups included, test code
//! included (a test module that reaches up would tie the modules together just the same).
//! Comments are skipped: lines starting with `//` (doc comments too) and the rest of a line
//! after a `//` outside a string. A path in a string counts (`#[serde(with = "crate::..")]`
//! is a real use). Not seen: `super::super::..` chains that climb out of a top-level module
//! (none exist; write `crate::` instead) and block comments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules, lowest first: a module may use only modules before it here.
/// A new module in src/lib.rs must be placed in this list (and in docs/architecture.md).
const LAYERS: &[&str] = &[
    "tls",
    "backend",
    "probe",
    "providers",
    "config",
    "health",
    "policy",
    "plan",
    "state",
    "notify",
    "reconcile",
    "api",
    "cli",
];

/// One `crate::to` reference in a file of module `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reference {
    from: String,
    to: String,
    file: PathBuf,
    line: usize,
    text: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} -> {}: `{}`",
            self.file.display(),
            self.line,
            self.from,
            self.to,
            self.text
        )
    }
}

/// Module -> the modules it uses, each with the first reference that makes the edge.
type Graph = BTreeMap<String, BTreeMap<String, Reference>>;

pub(crate) fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules src/lib.rs declares (`pub mod x;` / `mod x;`).
fn declared_modules(lib_rs: &str) -> BTreeSet<String> {
    lib_rs
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Every `.rs` file under `dir`, sorted.
pub(crate) fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The top-level module a file under `src` belongs to (`src/config/model.rs` -> `config`,
/// `src/backend.rs` -> `backend`); `None` for the crate roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// `line` without its comment: empty when it starts with `//`, cut at a `//` outside a
/// string literal otherwise.
fn code_of(line: &str) -> &str {
    if line.trim_start().starts_with("//") {
        return "";
    }
    let bytes = line.as_bytes();
    let (mut in_str, mut i) = (false, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The identifier at the start of `s` (after whitespace).
fn first_ident(s: &str) -> &str {
    let s = s.trim_start();
    let end = s.bytes().position(|b| !is_ident(b)).unwrap_or(s.len());
    &s[..end]
}

/// Every `(line number, first path segment)` after a `crate::` in `text`, comments skipped;
/// a group `crate::{a::X, b::{..}}` yields `a` and `b`, also across lines.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let code: String = text.lines().map(|l| format!("{}\n", code_of(l))).collect();
    let line_at = |offset: usize| code[..offset].matches('\n').count() + 1;
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0 && is_ident(code.as_bytes()[at - 1]) {
            continue; // `my_crate::`, not this crate
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Split the group at its top-level commas; each item's first segment is a module.
            let (mut depth, mut item_start) = (0usize, 0usize);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        let item = &group[item_start..i];
                        let offset = at + "crate::{".len() + item_start;
                        push_item(&mut out, item, line_at(offset + leading_ws(item)));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let item = &group[item_start..i];
                        let offset = at + "crate::{".len() + item_start;
                        push_item(&mut out, item, line_at(offset + leading_ws(item)));
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            let name = first_ident(rest);
            if !name.is_empty() {
                out.push((line_at(at), name.to_string()));
            }
        }
    }
    out
}

fn leading_ws(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

fn push_item(out: &mut Vec<(usize, String)>, item: &str, line: usize) {
    let name = first_ident(item);
    if !name.is_empty() {
        out.push((line, name.to_string()));
    }
}

/// The references between different top-level modules in one file of module `from`.
fn references(from: &str, file: &Path, text: &str, modules: &BTreeSet<String>) -> Vec<Reference> {
    let lines: Vec<&str> = text.lines().collect();
    crate_paths(text)
        .into_iter()
        .filter(|(_, to)| to != from && modules.contains(to))
        .map(|(line, to)| Reference {
            from: from.to_string(),
            to,
            file: file.to_path_buf(),
            line,
            text: lines.get(line - 1).map_or("", |l| l.trim()).to_string(),
        })
        .collect()
}

/// Every reference between top-level modules in the crate's source, in file order.
fn crate_references() -> Vec<Reference> {
    let src = src_dir();
    let lib =
        std::fs::read_to_string(src.join("lib.rs")).unwrap_or_else(|e| panic!("src/lib.rs: {e}"));
    let modules = declared_modules(&lib);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for file in rust_files(&src) {
        let Some(from) = module_of(&src, &file) else {
            continue;
        };
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let shown = file.strip_prefix(root).unwrap_or(&file);
        out.extend(references(&from, shown, &text, &modules));
    }
    out
}

fn graph_of(references: &[Reference]) -> Graph {
    let mut graph = Graph::new();
    for r in references {
        graph
            .entry(r.from.clone())
            .or_default()
            .entry(r.to.clone())
            .or_insert_with(|| r.clone());
    }
    graph
}

/// A cycle of `graph` as a path whose first and last module are the same
/// (`["a", "b", "a"]`), or `None` when there is none. Depth-first, in name order, so the
/// answer is stable.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut done, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

/// The cycle as text, with the reference that makes each edge.
fn describe_cycle(graph: &Graph, cycle: &[String]) -> String {
    let mut text = format!("module cycle: {}", cycle.join(" -> "));
    for pair in cycle.windows(2) {
        if let Some(r) = graph.get(&pair[0]).and_then(|m| m.get(&pair[1])) {
            text.push_str(&format!("\n  {r}"));
        }
    }
    text
}

/// The references that do not go down `layers` (lowest first), one message each; a module
/// missing from `layers` is reported too.
fn layering_violations(references: &[Reference], layers: &[&str]) -> Vec<String> {
    let rank = |m: &str| layers.iter().position(|l| *l == m);
    let mut out = Vec::new();
    for r in references {
        match (rank(&r.from), rank(&r.to)) {
            (Some(from), Some(to)) if to < from => {}
            (Some(_), Some(_)) => out.push(format!(
                "{}:{}: `{}` uses `crate::{}` (`{}`), but `{}` is not below `{}` in the layering \
                 {layers:?}; move the item down or the reference up",
                r.file.display(),
                r.line,
                r.from,
                r.to,
                r.text,
                r.to,
                r.from
            )),
            _ => out.push(format!(
                "{r}: a module is missing from the layering {layers:?} (tests/integration/module_graph.rs)"
            )),
        }
    }
    out
}

fn render(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(from, to)| {
            let to: Vec<&str> = to.keys().map(String::as_str).collect();
            format!("{from} -> {}", to.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn lib_declares_exactly_the_layered_modules() {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs"))
        .unwrap_or_else(|e| panic!("src/lib.rs: {e}"));
    let declared = declared_modules(&lib);
    let layered: BTreeSet<String> = LAYERS.iter().map(|m| m.to_string()).collect();
    assert_eq!(
        declared, layered,
        "src/lib.rs and LAYERS in tests/integration/module_graph.rs (and docs/architecture.md) \
         must name the same modules"
    );
}

#[test]
fn no_cycle_among_top_level_modules() {
    let references = crate_references();
    assert!(
        !references.is_empty(),
        "no reference found: is the scan broken?"
    );
    let graph = graph_of(&references);
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "{}\n\ngraph:\n{}",
            describe_cycle(&graph, &cycle),
            render(&graph)
        );
    }
    println!("{}", render(&graph));
}

#[test]
fn every_reference_goes_down_the_layering() {
    let violations = layering_violations(&crate_references(), LAYERS);
    assert!(
        violations.is_empty(),
        "{} reference(s) against the layering (docs/architecture.md):\n{}",
        violations.len(),
        violations.join("\n")
    );
}

fn reference(from: &str, to: &str) -> Reference {
    Reference {
        from: from.into(),
        to: to.into(),
        file: PathBuf::from(format!("src/{from}/x.rs")),
        line: 7,
        text: format!("use crate::{to}::Thing;"),
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_names_its_edges() {
    let refs = [
        reference("d", "a"),
        reference("a", "b"),
        reference("b", "c"),
        reference("c", "a"),
    ];
    let graph = graph_of(&refs);
    let cycle = find_cycle(&graph).unwrap_or_else(|| panic!("no cycle found in {graph:?}"));
    assert_eq!(cycle, ["a", "b", "c", "a"]);
    let text = describe_cycle(&graph, &cycle);
    assert!(text.starts_with("module cycle: a -> b -> c -> a"), "{text}");
    assert!(
        text.contains("src/c/x.rs:7: c -> a: `use crate::a::Thing;`"),
        "{text}"
    );

    // Two modules using each other, and one using itself through nothing else.
    let pair = graph_of(&[reference("x", "y"), reference("y", "x")]);
    assert_eq!(
        find_cycle(&pair),
        Some(vec!["x".into(), "y".into(), "x".into()])
    );

    // A diamond is not a cycle.
    let diamond = graph_of(&[
        reference("top", "left"),
        reference("top", "right"),
        reference("left", "bottom"),
        reference("right", "bottom"),
    ]);
    assert_eq!(find_cycle(&diamond), None);
}

#[test]
fn an_upward_reference_is_named_with_its_file_and_text() {
    let layers = ["low", "mid", "high"];
    let ok = [reference("high", "low"), reference("mid", "low")];
    assert!(layering_violations(&ok, &layers).is_empty());
    let bad = layering_violations(
        &[reference("low", "mid"), reference("mid", "mid2")],
        &layers,
    );
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(
        bad[0].starts_with("src/low/x.rs:7: `low` uses `crate::mid` (`use crate::mid::Thing;`)"),
        "{}",
        bad[0]
    );
    assert!(bad[1].contains("missing from the layering"), "{}", bad[1]);
}

#[test]
fn the_scanner_reads_groups_and_strings_and_skips_comments() {
    let text = r#"//! Module docs naming crate::api.
use crate::config::Service;
use crate::{
    health::{State, TargetHealth},
    policy::Phase,
};
/// Uses crate::cli in a doc comment.
// crate::state in a comment.
let x = crate::probe::duration_opt; // then crate::api in a trailing comment
#[serde(with = "crate::plan::helper")]
let url = "http://example.com/"; let y = crate::reconcile::X;
let z = other_crate::api::Y;
let w = crate::pick::<u8>();
"#;
    let found = crate_paths(text);
    let want: Vec<(usize, String)> = [
        (2, "config"),
        (4, "health"),
        (5, "policy"),
        (9, "probe"),
        (10, "plan"),
        (11, "reconcile"),
        (13, "pick"),
    ]
    .into_iter()
    .map(|(l, m)| (l, m.to_string()))
    .collect();
    assert_eq!(found, want);

    let modules: BTreeSet<String> = ["config", "health", "policy", "probe", "plan", "reconcile"]
        .into_iter()
        .map(String::from)
        .collect();
    let refs = references("health", Path::new("src/health/x.rs"), text, &modules);
    let to: Vec<&str> = refs.iter().map(|r| r.to.as_str()).collect();
    assert_eq!(to, ["config", "policy", "probe", "plan", "reconcile"]);
    assert_eq!(refs[1].text, "policy::Phase,");
}

#[test]
fn files_belong_to_their_top_level_module() {
    let src = Path::new("/x/src");
    assert_eq!(
        module_of(src, Path::new("/x/src/config/validate/provider_rules.rs")).as_deref(),
        Some("config")
    );
    assert_eq!(
        module_of(src, Path::new("/x/src/backend.rs")).as_deref(),
        Some("backend")
    );
    assert_eq!(module_of(src, Path::new("/x/src/lib.rs")), None);
    assert_eq!(module_of(src, Path::new("/x/src/main.rs")), None);
}

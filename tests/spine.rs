//! The dependency spine: every `crate::` path in `src/` points down this table of
//! layers (or sideways within one layer, without a cycle). A module that imports one
//! above it — the registry from a component, the graph from an exporter — fails here
//! with the file and the edge spelled out, and so does any cycle between modules.
//!
//! Written by hand rather than with `cargo modules`: that tool needs nightly rustc
//! internals and minutes of analysis; this reads the sources in milliseconds and
//! checks the layering as well as the absence of cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules of the library, lowest layer first. Each may use only modules
/// of a lower layer, or of its own layer as long as no cycle forms.
const LAYERS: &[&[&str]] = &[
    // The data, reading config blocks, durable queues on disk, TLS settings, what
    // every listener does when accept fails, and the project's own API messages
    // (generated from proto/).
    &["pdata", "confmap", "storage", "tls", "accept", "api"],
    // The condition language.
    &["ottl"],
    // Ids, traits, errors, the state store.
    &["component"],
    // Test support (used by unit tests of the components).
    &["testing"],
    // The components, and the admin server that shows what they report.
    &[
        "receivers",
        "processors",
        "exporters",
        "connectors",
        "extensions",
        "admin",
    ],
    // The registry.
    &["components"],
    // Compiling a config into a checked plan.
    &["config"],
    // The running graph, self-telemetry, and the tools that read a config.
    // `slitest` (`sloop test`) and `openslo` (`sloop slo import|export`) read configs.
    &["graph", "telemetry", "rules", "loadgen", "slitest", "openslo"],
    // The service: owns the graph, the state that outlives it, the admin server.
    // What the fuzz targets check (test support over the whole crate).
    &["service", "fuzzing"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level module a source file belongs to (`src/processors/slo/mod.rs` →
/// `processors`); `None` for the crate roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        name => Some(name.trim_end_matches(".rs").to_string()),
    }
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

/// The code of a file without comments and without its unit tests: test modules in
/// `tests.rs` files and inline `#[cfg(test)] mod tests` blocks (which close a file by
/// convention) may use test support from anywhere.
fn production_code(file: &Path) -> String {
    if file.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(file).unwrap();
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod tests {"))
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The top-level modules `code` names through `crate::`.
fn uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        // `$crate::` and `sloop_crate::` are not this crate's paths.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

/// Module → modules it uses → a file where it does.
type Edges = BTreeMap<String, BTreeMap<String, PathBuf>>;

fn edges() -> Edges {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut edges = Edges::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else { continue };
        let entry = edges.entry(module.clone()).or_default();
        for used in uses(&production_code(&file)) {
            if used != module {
                entry.entry(used).or_insert_with(|| file.clone());
            }
        }
    }
    edges
}

/// A cycle in `edges`, spelled out (`a → b → a`), if there is one.
fn find_cycle(edges: &Edges) -> Option<Vec<String>> {
    fn visit(node: &str, edges: &Edges, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn every_module_is_in_a_layer() {
    let unknown: Vec<String> = edges().into_keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unknown.is_empty(),
        "add these modules to LAYERS in tests/spine.rs: {unknown:?}"
    );
}

#[test]
fn dependencies_point_down_the_layers() {
    let mut wrong = Vec::new();
    for (module, used) in edges() {
        let Some(from) = layer_of(&module) else { continue };
        for (target, file) in used {
            match layer_of(&target) {
                Some(to) if to <= from => {}
                Some(_) => wrong.push(format!("{module} uses {target}, a layer above it ({})", file.display())),
                None => wrong.push(format!(
                    "{module} uses crate::{target}, which is in no layer ({})",
                    file.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "back edges:\n{}", wrong.join("\n"));
}

#[test]
fn no_module_cycle() {
    let edges = edges();
    if let Some(cycle) = find_cycle(&edges) {
        let hops: Vec<String> = cycle
            .windows(2)
            .map(|pair| format!("{} → {} ({})", pair[0], pair[1], edges[&pair[0]][&pair[1]].display()))
            .collect();
        panic!("module cycle: {}\n{}", cycle.join(" → "), hops.join("\n"));
    }
}

#[test]
fn the_check_sees_a_back_edge_and_a_cycle() {
    // The reader and the cycle search themselves, on a made-up graph.
    assert_eq!(
        uses("use crate::graph::Topology;\nlet x = $crate::y; crate::pdata::Signal"),
        BTreeSet::from(["graph".to_string(), "pdata".to_string()])
    );
    let mut edges = Edges::new();
    edges
        .entry("component".into())
        .or_default()
        .insert("pdata".into(), "a.rs".into());
    assert_eq!(find_cycle(&edges), None);
    edges
        .entry("pdata".into())
        .or_default()
        .insert("component".into(), "b.rs".into());
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["component".into(), "pdata".into(), "component".into()])
    );
}

//! The README's component reference is generated from the registries: every
//! registered component, by kind, with its `example.yaml`. These tests fail when the
//! README's copy differs from what the registries say, and when a component folder
//! and the registry disagree (a folder without an example, an example its module docs
//! do not show, a folder that is not registered).
//!
//! To regenerate the README's section after changing an example or the registry:
//! `SLOOP_UPDATE_README=1 cargo test --lib components::reference`.

use std::fmt::Write as _;
use std::path::Path;

use super::{CONNECTORS, EXPORTERS, EXTENSIONS, PROCESSORS, RECEIVERS};
use crate::component::registry::Factory;
use crate::component::Signal;

/// Opens the generated part of the README (the line after the section's heading
/// and introduction).
pub(crate) const BEGIN: &str =
    "<!-- component-reference: generated from the registries by src/components/reference.rs -->";
/// Closes it.
pub(crate) const END: &str = "<!-- end of component-reference -->";

/// How a module's docs show its example (see any component's `mod.rs`).
const DOC_LINE: &str = r#"#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]"#;
/// How a factory carries it.
const FACTORY_LINE: &str = r#"example: include_str!("example.yaml"),"#;
/// Component folders that are not components.
const NOT_COMPONENTS: &[&str] = &["exporters/helper"];

fn signal_list(signals: &[Signal]) -> String {
    signals.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// One kind's part of the reference.
fn kind_section<C: ?Sized>(out: &mut String, title: &str, factories: &[Factory<C>], signals_label: &str) {
    let _ = write!(out, "\n### {title}\n");
    if factories.is_empty() {
        out.push_str("\nNone yet.\n");
    }
    for factory in factories {
        let _ = write!(out, "\n#### `{}`", factory.type_name);
        match factory.aliases {
            [] => {}
            [alias] => {
                let _ = write!(out, " (alias `{alias}`)");
            }
            aliases => {
                let list: Vec<String> = aliases.iter().map(|a| format!("`{a}`")).collect();
                let _ = write!(out, " (aliases {})", list.join(", "));
            }
        }
        out.push('\n');
        if !factory.signals.is_empty() {
            let _ = write!(out, "\n{signals_label}: {}.\n", signal_list(factory.signals));
        }
        let _ = write!(out, "\n```yaml\n{}```\n", factory.example);
    }
}

/// The generated part of the README, markers included.
pub(crate) fn reference() -> String {
    let mut out = format!("{BEGIN}\n");
    kind_section(&mut out, "Receivers", RECEIVERS, "Signals");
    kind_section(&mut out, "Processors", PROCESSORS, "Signals");
    kind_section(&mut out, "Exporters", EXPORTERS, "Signals");
    kind_section(&mut out, "Connectors", CONNECTORS, "Takes");
    kind_section(&mut out, "Extensions", EXTENSIONS, "Signals");
    out.push('\n');
    out.push_str(END);
    out
}

/// The README's generated part, markers included, and where it is.
fn readme_section(readme: &str) -> Option<std::ops::Range<usize>> {
    let start = readme.find(BEGIN)?;
    let end = readme[start..].find(END)? + start + END.len();
    Some(start..end)
}

#[test]
fn the_readme_shows_every_registered_example() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let range = readme_section(&readme).unwrap_or_else(|| {
        panic!("README.md has no component reference between the lines\n{BEGIN}\n{END}\nadd them, then run `SLOOP_UPDATE_README=1 cargo test --lib components::reference`")
    });
    let expected = reference();
    if readme[range.clone()] == expected {
        return;
    }
    if std::env::var_os("SLOOP_UPDATE_README").is_some() {
        let mut updated = readme.clone();
        updated.replace_range(range, &expected);
        std::fs::write(&path, updated).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let first_difference = readme[range]
        .lines()
        .zip(expected.lines())
        .enumerate()
        .find(|(_, (have, want))| have != want)
        .map(|(i, (have, want))| format!("line {} of the section:\n  README:   {have}\n  registry: {want}", i + 1))
        .unwrap_or_else(|| "the section's length differs".into());
    panic!(
        "README.md's component reference differs from the registries' examples ({first_difference}).\n\
         Regenerate it: SLOOP_UPDATE_README=1 cargo test --lib components::reference"
    );
}

/// Every example is a YAML text that ends with a newline, so that the fence after it
/// (in the docs and the README) stays on its own line.
#[test]
fn every_example_ends_with_a_newline() {
    let examples = RECEIVERS
        .iter()
        .map(|f| (f.type_name, f.example))
        .chain(PROCESSORS.iter().map(|f| (f.type_name, f.example)))
        .chain(EXPORTERS.iter().map(|f| (f.type_name, f.example)))
        .chain(CONNECTORS.iter().map(|f| (f.type_name, f.example)))
        .chain(EXTENSIONS.iter().map(|f| (f.type_name, f.example)));
    for (type_name, example) in examples {
        assert!(
            example.ends_with('\n') && !example.contains("```"),
            "{type_name}: example.yaml must end with a newline and hold no ``` fence"
        );
    }
}

/// The folders of one kind (`src/processors/*` with a `mod.rs`) against its registry:
/// problems as text.
fn check_folders<C: ?Sized>(kind: &str, factories: &[Factory<C>], problems: &mut Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(kind);
    let mut folders: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("mod.rs").is_file())
        .filter_map(|path| path.file_name()?.to_str().map(str::to_string))
        .filter(|name| !NOT_COMPONENTS.contains(&format!("{kind}/{name}").as_str()))
        .collect();
    folders.sort();
    for folder in &folders {
        let place = format!("src/{kind}/{folder}");
        let Some(factory) = factories.iter().find(|f| f.type_name == folder) else {
            problems.push(format!(
                "{place}: no factory of type {folder:?} in {}",
                kind.to_uppercase()
            ));
            continue;
        };
        match std::fs::read_to_string(dir.join(folder).join("example.yaml")) {
            Ok(text) if text == factory.example => {}
            Ok(_) => problems.push(format!("{place}/example.yaml is not the factory's example")),
            Err(e) => problems.push(format!("{place}/example.yaml: {e}")),
        }
        let module = std::fs::read_to_string(dir.join(folder).join("mod.rs")).unwrap_or_default();
        if !module.lines().any(|line| line.trim() == DOC_LINE) {
            problems.push(format!(
                "{place}/mod.rs: its module docs must show the example with\n  {DOC_LINE}"
            ));
        }
        if !module.lines().any(|line| line.trim() == FACTORY_LINE) {
            problems.push(format!("{place}/mod.rs: its FACTORY must carry\n  {FACTORY_LINE}"));
        }
    }
    for factory in factories {
        if !folders.iter().any(|folder| folder == factory.type_name) {
            problems.push(format!(
                "{}: registered, but there is no folder src/{kind}/{}",
                factory.type_name, factory.type_name
            ));
        }
    }
}

#[test]
fn every_component_folder_has_its_example_in_its_docs() {
    let mut problems = Vec::new();
    check_folders("receivers", RECEIVERS, &mut problems);
    check_folders("processors", PROCESSORS, &mut problems);
    check_folders("exporters", EXPORTERS, &mut problems);
    check_folders("connectors", CONNECTORS, &mut problems);
    check_folders("extensions", EXTENSIONS, &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

//! Every YAML example in the README and in module docs is parsed here, so the docs
//! cannot drift from what sloop accepts: a whole config (receivers, exporters and
//! `service.pipelines`) is validated as `sloop validate` would; a fragment's component
//! blocks are each parsed strictly by their type's factory, unknown keys and bad
//! values included. Only a file an example names for illustration
//! (`/etc/ssl/vendor-ca.pem`) may be missing: that is about this machine, not the doc.
//!
//! Each component's own example is not read here: it is its folder's `example.yaml`,
//! which its module docs include (`#![doc = ...]`, not a `//!` line) and the README's
//! generated component reference copies. The contract test
//! (`components/contract.rs`) runs those, and `components/reference.rs` keeps the
//! README's copies equal to them, so this test skips the generated section rather
//! than count each example twice.

use std::path::{Path, PathBuf};

use figment::providers::Format;
use figment::value::{Dict, Value};
use figment::Figment;

use super::Config;
use crate::component::registry::{self, Factory};
use crate::components::reference;

/// A YAML example and where it was found.
struct Example {
    place: String,
    text: String,
}

/// The ```yaml blocks among `lines` (line number, text) of `path`, outside the
/// README's generated component reference.
fn yaml_blocks<'a>(path: &Path, lines: impl Iterator<Item = (usize, &'a str)>, out: &mut Vec<Example>) {
    let mut current: Option<(usize, String)> = None;
    let mut generated = false;
    for (number, line) in lines {
        if current.is_none() && line.trim_end() == reference::BEGIN {
            generated = true;
        } else if line.trim_end() == reference::END {
            generated = false;
        }
        if generated {
            continue;
        }
        match (&mut current, line.trim_end()) {
            (None, "```yaml") => current = Some((number + 1, String::new())),
            (Some(_), "```") => {
                if let Some((start, text)) = current.take() {
                    out.push(Example {
                        place: format!("{}:{start}", path.display()),
                        text,
                    });
                }
            }
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The ```yaml blocks of `//!` module docs in the Rust files under `dir`.
fn module_doc_blocks(dir: &Path, out: &mut Vec<Example>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            module_doc_blocks(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = read(&path);
            let docs = text.lines().enumerate().filter_map(|(number, line)| {
                let doc = line.trim_start().strip_prefix("//!")?;
                Some((number, doc.strip_prefix(' ').unwrap_or(doc)))
            });
            yaml_blocks(&path, docs, out);
        }
    }
}

/// Parses each block of `section` in `dict` with its factory; errors as text.
fn check_section<C: ?Sized>(dict: &Dict, section: &str, factories: &[Factory<C>], errors: &mut Vec<String>) {
    let Some(Value::Dict(_, blocks)) = dict.get(section) else {
        return;
    };
    for (key, value) in blocks {
        let type_name = key.split('/').next().unwrap_or(key);
        let Some(factory) = registry::find(factories, type_name) else {
            errors.push(format!("{section}.{key}: no such component type"));
            continue;
        };
        if let Err(problems) = (factory.parse)(value) {
            for problem in problems {
                errors.push(format!("{section}.{key}.{}: {}", problem.path, problem.message));
            }
        }
    }
}

/// What is wrong with one example, if anything.
fn check(example: &Example) -> Vec<String> {
    let dict: Dict = match Figment::from(serde_saphyr::figment::Yaml::string(&example.text)).extract() {
        Ok(dict) => dict,
        Err(error) => return vec![format!("not YAML: {error}")],
    };
    let has_pipelines =
        matches!(dict.get("service"), Some(Value::Dict(_, service)) if service.contains_key("pipelines"));
    let whole = has_pipelines && dict.contains_key("receivers") && dict.contains_key("exporters");
    let mut errors = Vec::new();
    if whole {
        if let Err(problems) = Config::from_yaml(&example.text) {
            errors.extend(problems.0.iter().map(ToString::to_string));
        }
    } else {
        check_section(&dict, "receivers", crate::components::RECEIVERS, &mut errors);
        check_section(&dict, "processors", crate::components::PROCESSORS, &mut errors);
        check_section(&dict, "exporters", crate::components::EXPORTERS, &mut errors);
        check_section(&dict, "connectors", crate::components::CONNECTORS, &mut errors);
        check_section(&dict, "extensions", crate::components::EXTENSIONS, &mut errors);
    }
    errors.retain(|error| !error.ends_with("does not exist or is not a file"));
    errors
}

#[test]
fn every_yaml_example_in_the_readme_and_module_docs_is_accepted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = root.join("README.md");
    let mut examples = Vec::new();
    yaml_blocks(&readme, read(&readme).lines().enumerate(), &mut examples);
    let from_readme = examples.len();
    module_doc_blocks(&root.join("src"), &mut examples);
    let from_modules = examples.len() - from_readme;
    // The README's hand-written sections; its generated reference is skipped.
    assert!(from_readme >= 10, "found only {from_readme} YAML blocks in the README");
    // The crate docs' and the condition language's; components include example.yaml.
    assert!(
        from_modules >= 2,
        "found only {from_modules} YAML blocks in module docs"
    );
    let failures: Vec<String> = examples
        .iter()
        .flat_map(|example| {
            check(example)
                .into_iter()
                .map(move |e| format!("{}: {e}", example.place))
        })
        .collect();
    assert!(failures.is_empty(), "examples sloop refuses:\n{}", failures.join("\n"));
}

/// Every address `dict` listens on, with its key path: receiver protocol (or
/// receiver) endpoints, extension endpoints and the self-metrics address.
fn listeners(dict: &Dict) -> Vec<(String, String)> {
    fn dict_of<'a>(dict: &'a Dict, key: &str) -> Option<&'a Dict> {
        match dict.get(key) {
            Some(Value::Dict(_, inner)) => Some(inner),
            _ => None,
        }
    }
    fn endpoint(dict: &Dict, key: &str) -> Option<String> {
        match dict.get(key) {
            Some(Value::String(_, s)) => Some(s.clone()),
            _ => None,
        }
    }
    let mut found = Vec::new();
    for (id, receiver) in dict_of(dict, "receivers").into_iter().flatten() {
        let Value::Dict(_, receiver) = receiver else { continue };
        found.extend(endpoint(receiver, "endpoint").map(|e| (format!("receivers.{id}.endpoint"), e)));
        for (protocol, settings) in dict_of(receiver, "protocols").into_iter().flatten() {
            if let Value::Dict(_, settings) = settings {
                found.extend(
                    endpoint(settings, "endpoint")
                        .map(|e| (format!("receivers.{id}.protocols.{protocol}.endpoint"), e)),
                );
            }
        }
    }
    for (id, extension) in dict_of(dict, "extensions").into_iter().flatten() {
        if let Value::Dict(_, extension) = extension {
            found.extend(endpoint(extension, "endpoint").map(|e| (format!("extensions.{id}.endpoint"), e)));
        }
    }
    let metrics = dict_of(dict, "service")
        .and_then(|s| dict_of(s, "telemetry"))
        .and_then(|t| dict_of(t, "metrics"));
    if let Some(address) = metrics.and_then(|m| endpoint(m, "address")) {
        found.push(("service.telemetry.metrics.address".into(), address));
    }
    found
}

/// Whether a listen address binds loopback only: `localhost`, `127.0.0.1`, `::1`,
/// or the pod IP with a loopback default (`${env:K8S_POD_IP:-127.0.0.1}`), which is
/// loopback wherever the variable is unset.
fn binds_loopback(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let host = host
        .strip_prefix("${env:K8S_POD_IP:-")
        .and_then(|h| h.strip_suffix('}'))
        .unwrap_or(host);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

/// Issue 13: the examples a user copies bind loopback, unless the example is about
/// exposure, which shows by its `tls:` (and the Kubernetes ones, which bind the
/// pod IP and fall back to loopback).
#[test]
fn every_example_listener_binds_loopback_unless_it_shows_tls() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = root.join("README.md");
    let mut examples = Vec::new();
    yaml_blocks(&readme, read(&readme).lines().enumerate(), &mut examples);
    module_doc_blocks(&root.join("src"), &mut examples);
    let files: Vec<PathBuf> = std::fs::read_dir(root.join("pipelines"))
        .expect("reading pipelines/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    for path in files {
        examples.push(Example {
            place: path.display().to_string(),
            text: read(&path),
        });
    }
    // Each component's example.yaml is its block alone: put it under its section.
    let indented = |text: &str| text.lines().map(|l| format!("  {l}\n")).collect::<String>();
    for factory in crate::components::RECEIVERS {
        examples.push(Example {
            place: format!("receivers/{}/example.yaml", factory.type_name),
            text: format!("receivers:\n{}", indented(factory.example)),
        });
    }
    for factory in crate::components::EXTENSIONS {
        examples.push(Example {
            place: format!("extensions/{}/example.yaml", factory.type_name),
            text: format!("extensions:\n{}", indented(factory.example)),
        });
    }
    let mut checked = 0;
    let mut exposed = Vec::new();
    for example in &examples {
        let Ok(dict) = Figment::from(serde_saphyr::figment::Yaml::string(&example.text)).extract::<Dict>() else {
            continue;
        };
        for (path, address) in listeners(&dict) {
            checked += 1;
            if !binds_loopback(&address) && !example.text.contains("tls:") {
                exposed.push(format!("{}: {path} binds {address}", example.place));
            }
        }
    }
    assert!(checked >= 20, "found only {checked} listeners in the examples");
    assert!(
        exposed.is_empty(),
        "examples that listen beyond loopback:\n{}",
        exposed.join("\n")
    );
    assert!(!binds_loopback("0.0.0.0:4317") && !binds_loopback("${env:K8S_POD_IP}:4317"));
}

#[test]
fn a_broken_example_is_caught() {
    let unknown_key = Example {
        place: "test".into(),
        text: "processors:\n  batch:\n    timout: 1s\n".into(),
    };
    assert_eq!(check(&unknown_key).len(), 1, "{:?}", check(&unknown_key));
    let bad_whole = Example {
        place: "test".into(),
        text: "receivers: {}\nexporters: {}\nservice:\n  pipelines: {}\n".into(),
    };
    assert!(!check(&bad_whole).is_empty());
}

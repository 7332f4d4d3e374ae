//! Loading and checking sloop's configuration.
//!
//! The file has the OpenTelemetry Collector's shape:
//! `receivers / processors / exporters / extensions / service.pipelines`, component ids
//! `type[/name]`. Several `--config` files merge in order (later keys win), then
//! `SLOOP_`-prefixed environment variables override keys (`__` separates levels:
//! `SLOOP_SERVICE__TELEMETRY__LOGS__LEVEL=debug`; ids with `/` cannot be addressed this
//! way). `${env:VAR}` references inside values are expanded last.
//!
//! Every component block is parsed strictly (unknown keys are errors) by its factory,
//! and every error in the whole file is collected and reported at once, each with its
//! full path.
//!
//! Reading files and parsing single blocks is [`crate::confmap`]'s; this module
//! compiles a whole config against the registry ([`crate::components`]) into a
//! checked plan that [`crate::graph`] builds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use figment::providers::Format;
use figment::value::{Dict, Value};
use figment::Figment;
use serde::Deserialize;

use crate::component::registry::{self, Factory};
use crate::component::{
    ComponentId, ConnectorConfig, ExporterConfig, ExtensionConfig, PipelineUse, ProcessorConfig, ProcessorConfigRef,
    ReceiverConfig, Signal, WiringView,
};
use crate::components;
mod telemetry;
pub use telemetry::*;

use crate::confmap::{
    deserialize_duration, did_you_mean, expand_dict, load, null_as_default, parse_block, ConfigError, ConfigErrors,
    RawValue, Validate,
};

/// The raw top level: the known sections, component blocks unparsed.
#[derive(Default)]
struct RootSections {
    receivers: BTreeMap<String, RawValue>,
    processors: BTreeMap<String, RawValue>,
    exporters: BTreeMap<String, RawValue>,
    connectors: BTreeMap<String, RawValue>,
    extensions: BTreeMap<String, RawValue>,
    service: Option<RawValue>,
}

impl RootSections {
    /// Splits the top level into its sections. An empty section (`processors:` with
    /// nothing under it, `connectors: {}`) is an empty map, as in the Collector; an
    /// unknown top-level key or a section that is not a mapping is an error, and the
    /// other sections are still read.
    fn read(dict: Dict, errors: &mut Vec<ConfigError>) -> Self {
        use crate::confmap::SECTIONS as NAMES;
        let mut root = RootSections::default();
        for (key, value) in dict {
            let section = match key.as_str() {
                "receivers" => &mut root.receivers,
                "processors" => &mut root.processors,
                "exporters" => &mut root.exporters,
                "connectors" => &mut root.connectors,
                "extensions" => &mut root.extensions,
                "service" => {
                    root.service = Some(value);
                    continue;
                }
                other => {
                    let hint = did_you_mean(other, NAMES)
                        .map(|s| format!(", did you mean {s}?"))
                        .unwrap_or_else(|| format!(" (the sections are: {})", NAMES.join(", ")));
                    errors.push(ConfigError::new(other, format!("unknown section{hint}")));
                    continue;
                }
            };
            match value {
                Value::Dict(_, blocks) => section.extend(blocks),
                Value::Empty(..) => {}
                other => errors.push(ConfigError::new(
                    key,
                    format!(
                        "expected a mapping of component ids to their settings, found {}",
                        kind_of(&other)
                    ),
                )),
            }
        }
        root
    }
}

/// How a config value reads in an error ("a string", "a list").
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::String(..) | Value::Char(..) => "a string",
        Value::Bool(..) => "a boolean",
        Value::Num(..) => "a number",
        Value::Empty(..) => "nothing",
        Value::Dict(..) => "a mapping",
        Value::Array(..) => "a list",
    }
}

/// `service:` — which extensions run, the pipelines, and sloop's own telemetry.
///
/// Read key by key, so that a mistake in one part (a
/// telemetry key) does not hide the pipelines from the checks.
#[derive(Debug)]
pub struct ServiceConfig {
    /// Extension ids to run.
    pub extensions: Vec<String>,
    /// Pipelines by name (`traces`, `traces/name`, `metrics`, `logs/x`).
    pub pipelines: BTreeMap<String, PipelineConfig>,
    /// Self-telemetry settings.
    pub telemetry: TelemetryConfig,
    /// How long shutdown may take to flush batches and exporter queues (sloop's
    /// addition; the Collector has no such key). Default 10s.
    pub shutdown_timeout: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            extensions: Vec::new(),
            pipelines: BTreeMap::new(),
            telemetry: TelemetryConfig::default(),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl ServiceConfig {
    /// Reads `service:` key by key, collecting every error with its path; what is
    /// wrong keeps its default (no pipelines for a broken `pipelines`, so the
    /// components are still checked).
    fn read(raw: &RawValue, errors: &mut Vec<ConfigError>) -> Self {
        #[derive(Deserialize)]
        struct Extensions(#[serde(deserialize_with = "null_as_default")] Vec<String>);
        #[derive(Deserialize)]
        struct Timeout(#[serde(deserialize_with = "deserialize_duration")] Duration);
        const KEYS: [&str; 4] = ["extensions", "pipelines", "telemetry", "shutdown_timeout"];

        let mut service = ServiceConfig::default();
        let dict = match raw {
            Value::Dict(_, dict) => dict.clone(),
            Value::Empty(..) => Dict::new(),
            other => {
                errors.push(ConfigError::new(
                    "service",
                    format!("expected a mapping, found {}", kind_of(other)),
                ));
                return service;
            }
        };
        for (key, value) in dict {
            let path = format!("service.{key}");
            let found_errors = |es: Vec<ConfigError>, errors: &mut Vec<ConfigError>| {
                errors.extend(es.into_iter().map(|e| e.under(&path)))
            };
            match key.as_str() {
                "extensions" => match value.deserialize::<Extensions>() {
                    Ok(Extensions(list)) => service.extensions = list,
                    Err(e) => found_errors(ConfigError::from_figment(e), errors),
                },
                "shutdown_timeout" => match value.deserialize::<Timeout>() {
                    Ok(Timeout(timeout)) => service.shutdown_timeout = timeout,
                    Err(e) => found_errors(ConfigError::from_figment(e), errors),
                },
                "telemetry" => match parse_block::<TelemetryConfig>(&value) {
                    Ok(telemetry) => service.telemetry = telemetry,
                    Err(es) => found_errors(es, errors),
                },
                "pipelines" => match value {
                    Value::Dict(_, pipelines) => {
                        for (name, pipeline) in pipelines {
                            match parse_block::<PipelineConfig>(&pipeline) {
                                Ok(pipeline) => {
                                    service.pipelines.insert(name, pipeline);
                                }
                                Err(es) => errors.extend(es.into_iter().map(|e| e.under(&format!("{path}.{name}")))),
                            }
                        }
                    }
                    Value::Empty(..) => {}
                    other => errors.push(ConfigError::new(
                        path,
                        format!(
                            "expected a mapping of pipeline names to pipelines, found {}",
                            kind_of(&other)
                        ),
                    )),
                },
                other => {
                    let hint = did_you_mean(other, KEYS)
                        .map(|s| format!(", did you mean {s}?"))
                        .unwrap_or_else(|| format!(", expected one of: {}", KEYS.join(", ")));
                    errors.push(ConfigError::new(path, format!("unknown field{hint}")));
                }
            }
        }
        service
    }
}

/// One pipeline's component lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Receiver ids feeding the pipeline.
    #[serde(default, deserialize_with = "null_as_default")]
    pub receivers: Vec<String>,
    /// Processor ids, run in order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub processors: Vec<String>,
    /// Exporter ids; every one receives everything.
    #[serde(default, deserialize_with = "null_as_default")]
    pub exporters: Vec<String>,
}

impl Validate for PipelineConfig {}

/// A checked pipeline: its signal and resolved component ids.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The pipeline's name in config (`traces/vendor`).
    pub name: String,
    /// What it carries.
    pub signal: Signal,
    /// Receivers feeding it.
    pub receivers: Vec<ComponentId>,
    /// Connectors feeding it (listed under its `receivers`).
    pub from_connectors: Vec<ComponentId>,
    /// Processors in order.
    pub processors: Vec<ComponentId>,
    /// Exporters it fans out to.
    pub exporters: Vec<ComponentId>,
    /// Connectors it feeds (listed under its `exporters`).
    pub to_connectors: Vec<ComponentId>,
}

/// A fully parsed and cross-checked config, ready to build.
#[derive(Debug)]
pub struct Config {
    /// Parsed receiver configs.
    pub receivers: BTreeMap<ComponentId, Box<dyn ReceiverConfig>>,
    /// Parsed processor configs.
    pub processors: BTreeMap<ComponentId, Box<dyn ProcessorConfig>>,
    /// Parsed exporter configs.
    pub exporters: BTreeMap<ComponentId, Box<dyn ExporterConfig>>,
    /// Parsed connector configs.
    pub connectors: BTreeMap<ComponentId, Box<dyn ConnectorConfig>>,
    /// Parsed extension configs.
    pub extensions: BTreeMap<ComponentId, Box<dyn ExtensionConfig>>,
    /// Extensions to run, in order.
    pub service_extensions: Vec<ComponentId>,
    /// Checked pipelines.
    pub pipelines: Vec<Pipeline>,
    /// The pipelines and connectors as a graph, in topological order.
    pub plan: Plan,
    /// `service.telemetry`.
    pub telemetry: TelemetryConfig,
    /// `service.shutdown_timeout`.
    pub shutdown_timeout: Duration,
    /// What works but should be written differently (deprecated type names), with
    /// its path; `sloop validate` prints these and `sloop` logs them at start.
    pub warnings: Vec<ConfigError>,
}

impl Config {
    /// Loads `paths` and checks everything; all problems are reported together.
    pub fn from_files(paths: &[PathBuf]) -> Result<Config, ConfigErrors> {
        let (dict, unexpanded) = load(paths)?;
        Self::from_expanded(dict, unexpanded).map_err(|ConfigErrors(mut errors)| {
            let sources: Vec<(String, String)> = paths
                .iter()
                .filter_map(|p| Some((p.display().to_string(), std::fs::read_to_string(p).ok()?)))
                .collect();
            for error in &mut errors {
                error.resolve_location(&sources);
            }
            ConfigErrors(errors)
        })
    }

    /// Parses a YAML string (tests and examples).
    pub fn from_yaml(text: &str) -> Result<Config, ConfigErrors> {
        Self::from_yaml_with_env(text, &|name| std::env::var(name).ok())
    }

    /// [`Config::from_yaml`] with `${env:NAME}` references looked up in `lookup`
    /// instead of the process environment: the fuzz target for `sloop validate` uses a
    /// fixed environment, so a run does not depend on the machine it runs on.
    pub fn from_yaml_with_env(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
        let sources = [("<config>".to_string(), text.to_string())];
        let mut dict: Dict = Figment::from(serde_saphyr::figment::Yaml::string(text))
            .extract()
            .map_err(|e| ConfigErrors(ConfigError::from_figment(e)))?;
        let mut unexpanded = Vec::new();
        expand_dict(&mut dict, "", lookup, &mut unexpanded);
        Self::from_expanded(dict, unexpanded).map_err(|ConfigErrors(mut errors)| {
            for error in &mut errors {
                error.resolve_location(&sources);
            }
            ConfigErrors(errors)
        })
    }

    /// Checks values whose `${...}` references are expanded, except those in
    /// `unexpanded` (their errors). The rest of the file is checked all the same;
    /// what follows from a value left unexpanded (at or under its path) is not
    /// reported a second time.
    fn from_expanded(dict: Dict, unexpanded: Vec<ConfigError>) -> Result<Config, ConfigErrors> {
        if unexpanded.is_empty() {
            return Self::from_dict(dict);
        }
        let follows = |error: &ConfigError| {
            unexpanded.iter().any(|cause| {
                error.path == cause.path
                    || error.path.starts_with(&format!("{}.", cause.path))
                    || error.path.starts_with(&format!("{}[", cause.path))
            })
        };
        let mut errors = unexpanded.clone();
        if let Err(ConfigErrors(others)) = Self::from_dict(dict) {
            errors.extend(others.into_iter().filter(|e| !follows(e)));
        }
        Err(ConfigErrors(errors))
    }

    /// Parses merged config values.
    pub fn from_dict(dict: Dict) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let root = RootSections::read(dict, &mut errors);
        let mut sections = Sections {
            errors: &mut errors,
            warnings: &mut warnings,
        };
        let receivers = sections.parse("receivers", "receiver", &root.receivers, components::RECEIVERS);
        let processors = sections.parse("processors", "processor", &root.processors, components::PROCESSORS);
        let exporters = sections.parse("exporters", "exporter", &root.exporters, components::EXPORTERS);
        let connectors = sections.parse("connectors", "connector", &root.connectors, components::CONNECTORS);
        let extensions = sections.parse("extensions", "extension", &root.extensions, components::EXTENSIONS);

        let service = match &root.service {
            None => {
                errors.push(ConfigError::new("service", "missing: a config needs service.pipelines"));
                None
            }
            Some(raw) => Some(ServiceConfig::read(raw, &mut errors)),
        };
        let Some(service) = service else {
            return Err(ConfigErrors(errors));
        };

        let defined = Defined {
            receivers: &receivers,
            processors: &processors,
            exporters: &exporters,
            connectors: &connectors,
        };
        let pipelines = check_pipelines(&service.pipelines, &defined, &mut errors);
        check_processor_wiring(&pipelines, &processors, &mut errors);
        plan::check_connectors(&pipelines, &connectors, &mut errors);
        let plan = if errors.is_empty() {
            let metrics_edges = processors
                .iter()
                .filter_map(|(id, (_, config))| Some((id, config.as_ref()?)))
                .flat_map(|(id, config)| {
                    config
                        .metrics_pipelines()
                        .into_iter()
                        .map(move |(_, target)| (id.clone(), target))
                })
                .collect::<Vec<_>>();
            let connector_pairs = |id: &ComponentId, from: Signal, to: Signal| {
                connectors
                    .get(id)
                    .and_then(|(_, c)| c.as_ref())
                    .is_some_and(|c| c.supports(from, to))
            };
            match Plan::new(&pipelines, &metrics_edges, &connector_pairs) {
                Ok(plan) => plan,
                Err(cycle) => {
                    errors.push(ConfigError::new(
                        "service.pipelines",
                        format!("the pipelines form a cycle, so data would loop forever: {cycle}"),
                    ));
                    Plan::default()
                }
            }
        } else {
            Plan::default()
        };

        let mut service_extensions = Vec::new();
        for (i, name) in service.extensions.iter().enumerate() {
            let path = format!("service.extensions[{i}]");
            match ComponentId::parse(name) {
                Ok(id) if extensions.contains_key(&id) => service_extensions.push(id),
                Ok(_) => errors.push(ConfigError::new(
                    path,
                    format!("extension {name:?} is not defined under extensions"),
                )),
                Err(e) => errors.push(ConfigError::new(path, format!("invalid id {name:?}: {e}"))),
            }
        }
        // A persistent queue (or a receiver's `storage`) must name a storage extension the service runs (the
        // graph would refuse it too, but only when starting).
        let storage_uses = exporters
            .iter()
            .filter_map(|(id, (_, e))| {
                let name = e.as_ref()?.storage()?;
                Some((format!("exporters.{id}.sending_queue.storage"), name.to_string()))
            })
            .chain(receivers.iter().filter_map(|(id, (_, r))| {
                let (path, name) = r.as_ref()?.storage()?;
                Some((format!("receivers.{id}.{path}"), name))
            }));
        for (path, name) in storage_uses {
            let name = name.as_str();
            let Ok(storage_id) = ComponentId::parse(name) else {
                continue; // reported by the component's own checks
            };
            let provides = extensions
                .get(&storage_id)
                .and_then(|(_, e)| e.as_ref())
                .map(|e| e.storage().is_some());
            let message = match provides {
                None => format!("extension {name:?} is not defined under extensions"),
                Some(false) => format!("extension {name:?} is not a storage extension (use file_storage)"),
                Some(true) if !service_extensions.contains(&storage_id) => {
                    format!("extension {name:?} is not listed in service.extensions")
                }
                Some(true) => continue,
            };
            errors.push(ConfigError::new(path, message));
        }
        // Every `auth.authenticator` must name an authenticator of the right side
        // that the service runs.
        let uses = receivers
            .iter()
            .filter_map(|(id, (_, c))| Some((id, c.as_ref()?.authenticators())))
            .flat_map(|(id, uses)| {
                uses.into_iter()
                    .map(move |(path, name)| (format!("receivers.{id}.{path}"), name, true))
            })
            .chain(exporters.iter().filter_map(|(id, (_, c))| {
                let name = c.as_ref()?.authenticator()?;
                Some((format!("exporters.{id}.auth.authenticator"), name.to_string(), false))
            }));
        for (path, name, server) in uses {
            let side = if server { "server" } else { "client" };
            let Ok(auth_id) = ComponentId::parse(&name) else {
                errors.push(ConfigError::new(path, format!("invalid id {name:?}")));
                continue;
            };
            let sides = extensions
                .get(&auth_id)
                .and_then(|(_, e)| e.as_ref())
                .map(|e| e.authenticator());
            let message = match sides {
                None if extensions.contains_key(&auth_id) => continue, // its block has errors
                None => format!("extension {name:?} is not defined under extensions"),
                Some(s) if !s.server && !s.client => format!("extension {name:?} is not an authenticator"),
                Some(s) if (server && !s.server) || (!server && !s.client) => {
                    format!("extension {name:?} is not a {side} authenticator, so it cannot be used here")
                }
                Some(_) if !service_extensions.contains(&auth_id) => {
                    format!("extension {name:?} is not listed in service.extensions")
                }
                Some(_) => continue,
            };
            errors.push(ConfigError::new(path, message));
        }
        errors.extend(service.telemetry.check());

        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        fn built<C: ?Sized>(section: Section<C>) -> BTreeMap<ComponentId, Box<C>> {
            section
                .into_iter()
                .filter_map(|(id, (_, c))| c.map(|c| (id, c)))
                .collect()
        }
        Ok(Config {
            receivers: built(receivers),
            processors: built(processors),
            exporters: built(exporters),
            connectors: built(connectors),
            extensions: built(extensions),
            service_extensions,
            pipelines,
            plan,
            telemetry: service.telemetry,
            shutdown_timeout: service.shutdown_timeout,
            warnings,
        })
    }
}

/// A parsed section: id -> (the signals the type supports, the parsed config).
/// A component whose block has errors maps to `None`: it is defined (pipelines may
/// name it without a second error) but cannot be built.
type Section<C> = BTreeMap<ComponentId, (&'static [Signal], Option<Box<C>>)>;

/// Where [`Sections::parse`] reports.
struct Sections<'a> {
    errors: &'a mut Vec<ConfigError>,
    warnings: &'a mut Vec<ConfigError>,
}

impl Sections<'_> {
    /// Parses one section's component blocks with the factories of its kind.
    fn parse<C: ?Sized>(
        &mut self,
        section: &str,
        kind: &str,
        blocks: &BTreeMap<String, RawValue>,
        factories: &[Factory<C>],
    ) -> Section<C> {
        let mut parsed = BTreeMap::new();
        for (key, value) in blocks {
            let path = format!("{section}.{key}");
            let id = match ComponentId::parse(key) {
                Ok(id) => id,
                Err(e) => {
                    self.errors
                        .push(ConfigError::new(path, format!("invalid component id: {e}")));
                    continue;
                }
            };
            let Some(factory) = registry::find(factories, id.type_name()) else {
                self.errors.push(ConfigError::new(
                    path,
                    unknown_type(kind, section, id.type_name(), factories),
                ));
                // Defined as far as pipelines go, for every signal: one error per
                // unknown component, not another for every pipeline naming it.
                const EVERY_SIGNAL: &[Signal] = &Signal::ALL;
                parsed.insert(id, (EVERY_SIGNAL, None));
                continue;
            };
            if factory.type_name != id.type_name() {
                self.warnings.push(ConfigError::new(
                    path.clone(),
                    format!(
                        "\"{}\" is a deprecated name of the {kind} type \"{}\"; it works the same, \
                         but write \"{}\"",
                        id.type_name(),
                        factory.type_name,
                        factory.type_name
                    ),
                ));
            }
            match (factory.parse)(value) {
                Ok(config) => {
                    parsed.insert(id, (factory.signals, Some(config)));
                }
                Err(es) => {
                    self.errors.extend(es.into_iter().map(|e| e.under(&path)));
                    parsed.insert(id, (factory.signals, None));
                }
            }
        }
        parsed
    }
}

/// The error for a component type sloop does not have: a hint when the name is a
/// near miss of one it has, otherwise the list of what it has.
fn unknown_type<C: ?Sized>(kind: &str, section: &str, name: &str, factories: &[Factory<C>]) -> String {
    let names = registry::names(factories);
    if let Some(best) = did_you_mean(name, names.iter().copied()) {
        return format!("unknown {kind} type {name:?}, did you mean {best}?");
    }
    let mut types: Vec<&str> = factories.iter().map(|f| f.type_name).collect();
    types.sort_unstable();
    format!(
        "{name:?} is not a {kind} type sloop has; the {section} sloop has are: {}",
        types.join(", ")
    )
}

struct Defined<'a> {
    receivers: &'a Section<dyn ReceiverConfig>,
    processors: &'a Section<dyn ProcessorConfig>,
    exporters: &'a Section<dyn ExporterConfig>,
    connectors: &'a Section<dyn ConnectorConfig>,
}

fn check_pipelines(
    pipelines: &BTreeMap<String, PipelineConfig>,
    defined: &Defined<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Pipeline> {
    if pipelines.is_empty() {
        errors.push(ConfigError::new(
            "service.pipelines",
            "at least one pipeline is required",
        ));
    }
    let mut checked = Vec::new();
    for (name, pipeline) in pipelines {
        let path = format!("service.pipelines.{name}");
        let signal = match ComponentId::parse(name) {
            Ok(id) => match Signal::parse(id.type_name()) {
                Some(signal) => signal,
                None => {
                    let hint = did_you_mean(id.type_name(), Signal::ALL.map(Signal::as_str))
                        .map(|s| format!(", did you mean {s}?"))
                        .unwrap_or_else(|| " (use traces, metrics or logs)".into());
                    errors.push(ConfigError::new(
                        path,
                        format!("unknown signal {:?}{hint}", id.type_name()),
                    ));
                    continue;
                }
            },
            Err(e) => {
                errors.push(ConfigError::new(path, format!("invalid pipeline id: {e}")));
                continue;
            }
        };
        let (receivers, from_connectors) = resolve_ids(
            &path,
            "receivers",
            "receiver",
            &pipeline.receivers,
            defined.receivers,
            Some(ConnectorSide {
                connectors: defined.connectors,
                takes_signal: false,
            }),
            signal,
            errors,
        );
        let (processors, _) = resolve_ids(
            &path,
            "processors",
            "processor",
            &pipeline.processors,
            defined.processors,
            None,
            signal,
            errors,
        );
        let (exporters, to_connectors) = resolve_ids(
            &path,
            "exporters",
            "exporter",
            &pipeline.exporters,
            defined.exporters,
            Some(ConnectorSide {
                connectors: defined.connectors,
                takes_signal: true,
            }),
            signal,
            errors,
        );
        if pipeline.receivers.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.receivers"),
                "a pipeline needs at least one receiver",
            ));
        }
        if pipeline.exporters.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.exporters"),
                "a pipeline needs at least one exporter",
            ));
        }
        checked.push(Pipeline {
            name: name.clone(),
            signal,
            receivers,
            from_connectors,
            processors,
            exporters,
            to_connectors,
        });
    }
    checked
}

/// Checks what processor configs need from the pipelines around them: the signal
/// they run on and the metrics pipelines they feed here; anything particular to a
/// component (names an earlier processor must define, one pipeline only) by the
/// component itself, through [`ProcessorConfig::check_wiring`].
fn check_processor_wiring(
    pipelines: &[Pipeline],
    processors: &Section<dyn ProcessorConfig>,
    errors: &mut Vec<ConfigError>,
) {
    let signals: BTreeMap<&str, Signal> = pipelines.iter().map(|p| (p.name.as_str(), p.signal)).collect();
    let parsed: BTreeMap<&ComponentId, ProcessorConfigRef<'_>> = processors
        .iter()
        .filter_map(|(id, (_, config))| Some((id, config.as_deref()?)))
        .collect();
    for (&id, &config) in &parsed {
        for (path, name) in config.metrics_pipelines() {
            let path = format!("processors.{id}.{path}");
            match signals.get(name.as_str()) {
                None => errors.push(ConfigError::new(
                    path,
                    format!("pipeline {name:?} is not defined under service.pipelines"),
                )),
                Some(Signal::Metrics) => {}
                Some(other) => errors.push(ConfigError::new(
                    path,
                    format!("pipeline {name:?} carries {other}, not metrics"),
                )),
            }
        }
    }
    for pipeline in pipelines {
        for (i, id) in pipeline.processors.iter().enumerate() {
            let Some(config) = parsed.get(id) else { continue };
            if let Err(why) = config.check_signal(pipeline.signal) {
                errors.push(ConfigError::new(
                    format!("service.pipelines.{}.processors[{i}]", pipeline.name),
                    format!("processor \"{id}\" cannot run in a {} pipeline: {why}", pipeline.signal),
                ));
            }
        }
    }
    for (&id, &config) in &parsed {
        let uses = pipelines
            .iter()
            .filter_map(|p| {
                let position = p.processors.iter().position(|p| p == id)?;
                Some(PipelineUse {
                    name: &p.name,
                    signal: p.signal,
                    position,
                    before: &p.processors[..position],
                })
            })
            .collect();
        let view = WiringView {
            id,
            pipelines: uses,
            processors: &parsed,
        };
        errors.extend(config.check_wiring(&view));
    }
}

/// Where a pipeline list may also name connectors, and whether the connector must
/// take the pipeline's signal (under `exporters`) or not (under `receivers`, where
/// the pairs are checked once every pipeline is known).
struct ConnectorSide<'a> {
    connectors: &'a Section<dyn ConnectorConfig>,
    takes_signal: bool,
}

/// Resolves the ids of one pipeline list: (components of `defined`, connectors).
#[allow(clippy::too_many_arguments)]
fn resolve_ids<C: ?Sized>(
    pipeline_path: &str,
    list: &str,
    kind: &str,
    names: &[String],
    defined: &Section<C>,
    connectors: Option<ConnectorSide<'_>>,
    signal: Signal,
    errors: &mut Vec<ConfigError>,
) -> (Vec<ComponentId>, Vec<ComponentId>) {
    let mut ids = Vec::new();
    let mut connector_ids = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        let path = format!("{pipeline_path}.{list}[{i}]");
        let id = match ComponentId::parse(name) {
            Ok(id) => id,
            Err(e) => {
                errors.push(ConfigError::new(path, format!("invalid id {name:?}: {e}")));
                continue;
            }
        };
        if !seen.insert(id.clone()) {
            errors.push(ConfigError::new(path, format!("{kind} {name:?} is listed twice")));
            continue;
        }
        let connector = connectors
            .as_ref()
            .and_then(|side| Some((side, side.connectors.get(&id)?)));
        match (defined.get(&id), connector) {
            (Some(_), Some(_)) => errors.push(ConfigError::new(
                path,
                format!("{name:?} is defined both under {list} and under connectors; rename one"),
            )),
            (None, Some((side, (signals, _)))) => {
                if side.takes_signal && !signals.contains(&signal) {
                    errors.push(ConfigError::new(
                        path,
                        format!(
                            "connector {name:?} does not take {signal} (it takes: {})",
                            signals.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                } else {
                    connector_ids.push(id);
                }
            }
            (None, None) => {
                let mut known: Vec<String> = defined.keys().map(|k| k.to_string()).collect();
                if let Some(side) = &connectors {
                    known.extend(side.connectors.keys().map(|k| k.to_string()));
                }
                let hint = did_you_mean(name, known.iter().map(String::as_str))
                    .map(|s| format!(", did you mean {s}?"))
                    .unwrap_or_default();
                let sections = if connectors.is_some() {
                    format!("{list} or connectors")
                } else {
                    list.to_string()
                };
                errors.push(ConfigError::new(
                    path,
                    format!("{kind} {name:?} is not defined under {sections}{hint}"),
                ));
            }
            (Some((signals, _)), None) if !signals.contains(&signal) => errors.push(ConfigError::new(
                path,
                format!(
                    "{kind} {name:?} does not support {signal} (it handles: {})",
                    signals.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
            (Some(_), None) => ids.push(id),
        }
    }
    (ids, connector_ids)
}

mod plan;

pub use plan::{Edge, Node, Plan};

#[cfg(test)]
mod doc_examples;
#[cfg(test)]
mod tests;

//! OpenSLO v1 documents → [`SloopObjectives`].
//!
//! The documents are read into generic values and walked by hand rather than into
//! strict serde types: serde stops at the first problem, and an import should say
//! every metric source sloop cannot express at once, each with its document and field
//! path. OpenSLO also lets implementations put any YAML in a metric source's `spec`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{
    Alerting, BurnRate, Objective, Sli, SloopObjectives, Window, ALERTS_ANNOTATION, GROUP_BY_ANNOTATION,
    MAX_GROUPS_ANNOTATION, MIN_EVENTS_ANNOTATION,
};

/// One problem with the OpenSLO input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// The file and document (`slos.yaml, document 2 (SLO checkout)`).
    pub place: String,
    /// The field path in the document (`spec.ratioMetric.good.metricSource.type`).
    pub path: String,
    /// What is wrong, and what sloop needs instead.
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.place, self.message)
        } else {
            write!(f, "{}: {}: {}", self.place, self.path, self.message)
        }
    }
}

/// Every problem found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportErrors(pub Vec<ImportError>);

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for error in &self.0 {
            writeln!(f, "error: {error}")?;
        }
        writeln!(
            f,
            "{} problem(s): nothing was imported (see the OpenSLO section of sloop's README)",
            self.0.len()
        )
    }
}

impl std::error::Error for ImportErrors {}

/// Severities that page.
const PAGE_SEVERITIES: [&str; 4] = ["page", "critical", "sev1", "p1"];
/// Severities that open a ticket.
const TICKET_SEVERITIES: [&str; 6] = ["ticket", "warning", "sev2", "sev3", "p2", "p3"];
/// Time zones sloop's calendar windows (UTC) are in.
const UTC_ZONES: [&str; 5] = ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z"];

/// What becomes of notification targets.
const NOTIFICATION_NOTE: &str = "notification targets are left out: sloop's alerts are the slo.alert metrics (and \
     the rules of `sloop rules`); route them where they go";

/// A document that passed the envelope checks.
struct Document {
    /// `file, document n (Kind name)`.
    place: String,
    name: String,
    value: Value,
}

impl Document {
    fn spec(&self) -> Option<&Value> {
        self.value.get("spec")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Severity {
    Page,
    Ticket,
}

/// Reads OpenSLO v1 documents: `sources` are (file name, text). Returns the sloop
/// objectives and notes on what was left out, or every problem found.
pub fn import(sources: &[(String, String)]) -> Result<(SloopObjectives, Vec<String>), ImportErrors> {
    let mut importer = Importer::default();
    for (file, text) in sources {
        importer.read_file(file, text);
    }
    importer.convert();
    importer.finish()
}

#[derive(Default)]
struct Importer {
    slis: BTreeMap<String, Document>,
    /// SLI names in the order of the input.
    sli_order: Vec<String>,
    slos: Vec<Document>,
    policies: BTreeMap<String, Document>,
    conditions: BTreeMap<String, Document>,
    /// DataSource name → (place, type).
    data_sources: BTreeMap<String, (String, Option<String>)>,
    /// Names taken per kind (for duplicates), with the first place.
    seen: BTreeMap<(String, String), String>,
    /// SLIs imported, by name, with where each came from.
    imported: BTreeMap<String, (Sli, String)>,
    out: SloopObjectives,
    sli_origins: Vec<String>,
    objective_origins: Vec<String>,
    errors: Vec<ImportError>,
    notes: Vec<String>,
}

impl Importer {
    fn error(&mut self, place: &str, path: &str, message: impl Into<String>) {
        self.errors.push(ImportError {
            place: place.to_string(),
            path: path.to_string(),
            message: message.into(),
        });
    }

    fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    fn read_file(&mut self, file: &str, text: &str) {
        // The default budget of serde-saphyr bounds what a hostile file can make it
        // allocate (anchors, aliases, depth).
        let documents: Vec<Value> = match serde_saphyr::from_multiple(text) {
            Ok(documents) => documents,
            Err(error) => {
                self.error(file, "", format!("not valid YAML: {error}"));
                return;
            }
        };
        for (i, value) in documents.into_iter().enumerate() {
            self.read_document(&format!("{file}, document {}", i + 1), value);
        }
    }

    fn read_document(&mut self, place: &str, value: Value) {
        if !value.is_object() {
            self.error(
                place,
                "",
                "expected an OpenSLO document (apiVersion, kind, metadata, spec)",
            );
            return;
        }
        match value.get("apiVersion").and_then(Value::as_str) {
            Some("openslo/v1") => {}
            Some(other) => {
                return self.error(
                    place,
                    "apiVersion",
                    format!("sloop reads openslo/v1 documents, found {other:?}"),
                )
            }
            None => return self.error(place, "apiVersion", "required: openslo/v1"),
        }
        let Some(kind) = value.get("kind").and_then(Value::as_str).map(str::to_string) else {
            return self.error(place, "kind", "required: SLO, SLI, AlertPolicy, AlertCondition, ...");
        };
        let name = match value.pointer("/metadata/name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => return self.error(place, "metadata.name", "required: a non-empty string"),
        };
        let place = format!("{place} ({kind} {name})");
        if let Some(first) = self.seen.get(&(kind.clone(), name.clone())) {
            let first = first.clone();
            return self.error(
                &place,
                "metadata.name",
                format!("a second {kind} named {name:?} (the first: {first})"),
            );
        }
        self.seen.insert((kind.clone(), name.clone()), place.clone());
        let document = Document {
            place: place.clone(),
            name: name.clone(),
            value,
        };
        match kind.as_str() {
            "SLO" => self.slos.push(document),
            "SLI" => {
                self.sli_order.push(name.clone());
                self.slis.insert(name, document);
            }
            "AlertPolicy" => {
                self.policies.insert(name, document);
            }
            "AlertCondition" => {
                self.conditions.insert(name, document);
            }
            "DataSource" => {
                let kind = document
                    .value
                    .pointer("/spec/type")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                self.data_sources.insert(name, (place, kind));
            }
            "Service" => self.note("Service documents are left out: sloop has no service objects"),
            "AlertNotificationTarget" => self.note(NOTIFICATION_NOTE),
            other => self.error(
                &place,
                "kind",
                format!(
                    "unknown kind {other:?}: OpenSLO v1 has SLO, SLI, AlertPolicy, AlertCondition, \
                     AlertNotificationTarget, DataSource and Service"
                ),
            ),
        }
    }

    fn convert(&mut self) {
        if self.slos.is_empty() && self.errors.is_empty() {
            self.error(
                "the input",
                "",
                "no SLO document: sloop needs at least one SLO (kind: SLO) to count anything",
            );
        }
        let slis = std::mem::take(&mut self.slis);
        for document in self.sli_order.clone().iter().filter_map(|name| slis.get(name)) {
            let Some(spec) = document.spec() else {
                self.error(&document.place, "spec", "required");
                continue;
            };
            if let Some(sli) = self.convert_sli(&document.place, &document.name, spec, "spec") {
                self.add_sli(sli, &document.place, &document.place, "metadata.name");
            }
        }
        self.slis = slis;
        let slos = std::mem::take(&mut self.slos);
        for document in &slos {
            self.convert_slo(document);
        }
        self.slos = slos;
    }

    /// Adds an SLI unless one of that name is imported already (the same conditions
    /// from two inline indicators are one SLI).
    fn add_sli(&mut self, sli: Sli, origin: &str, place: &str, path: &str) {
        if let Some((existing, first)) = self.imported.get(&sli.name) {
            if *existing != sli {
                let first = first.clone();
                self.error(
                    place,
                    path,
                    format!(
                        "another SLI named {:?} has other conditions ({first}): rename one",
                        sli.name
                    ),
                );
            }
            return;
        }
        self.imported
            .insert(sli.name.clone(), (sli.clone(), origin.to_string()));
        self.out.slis.push(sli);
        self.sli_origins.push(origin.to_string());
    }

    /// An SLI spec (`path` is where it sits in its document).
    fn convert_sli(&mut self, place: &str, name: &str, spec: &Value, path: &str) -> Option<Sli> {
        let before = self.errors.len();
        if spec.get("thresholdMetric").is_some() {
            self.error(
                place,
                &format!("{path}.thresholdMetric"),
                "a thresholdMetric compares a metric's values with the objective's op and value; sloop \
                 classifies each event as good or bad instead: write a ratioMetric whose good (or bad) and \
                 total have metricSource type sloop",
            );
            return None;
        }
        let Some(ratio) = spec.get("ratioMetric") else {
            self.error(place, path, "needs a ratioMetric (with metricSource type sloop)");
            return None;
        };
        let path = format!("{path}.ratioMetric");
        for key in ["raw", "rawType"] {
            if ratio.get(key).is_some() {
                self.error(
                    place,
                    &format!("{path}.{key}"),
                    "a raw ratio is computed elsewhere; sloop computes the ratio from the events it sees: use \
                     good (or bad) and total with metricSource type sloop",
                );
            }
        }
        let good = ratio.get("good");
        let bad = ratio.get("bad");
        let total = ratio.get("total");
        if good.is_some() && bad.is_some() {
            self.error(place, &path, "set good or bad, not both");
        }
        if good.is_none() && bad.is_none() && ratio.get("raw").is_none() {
            self.error(place, &path, "needs good or bad");
        }
        if total.is_none() && ratio.get("raw").is_none() {
            self.error(
                place,
                &format!("{path}.total"),
                "required: its sloop source says which events count (spec: {} for every event)",
            );
        }
        let mut condition = None;
        for (part, value) in [("good", good), ("bad", bad)] {
            let Some(value) = value else { continue };
            let part_path = format!("{path}.{part}");
            let Some(source) = self.sloop_source(place, &part_path, value, part) else {
                continue;
            };
            for key in source.keys().filter(|k| *k != "condition") {
                self.error(
                    place,
                    &format!("{part_path}.metricSource.spec.{key}"),
                    format!("unknown key: a sloop {part} source has only condition"),
                );
            }
            match source.get("condition").and_then(Value::as_str) {
                Some(text) if !text.trim().is_empty() => {
                    condition = Some(if part == "bad" {
                        format!("not ({text})")
                    } else {
                        text.to_string()
                    })
                }
                _ => self.error(
                    place,
                    &format!("{part_path}.metricSource.spec.condition"),
                    format!("required: the sloop condition that makes an event {part}"),
                ),
            }
        }
        let mut when = None;
        let mut exclude = Vec::new();
        if let Some(value) = total {
            let total_path = format!("{path}.total");
            if let Some(source) = self.sloop_source(place, &total_path, value, "total") {
                let spec_path = format!("{total_path}.metricSource.spec");
                for key in source.keys().filter(|k| !["when", "exclude"].contains(&k.as_str())) {
                    self.error(
                        place,
                        &format!("{spec_path}.{key}"),
                        "unknown key: a sloop total source has when and exclude",
                    );
                }
                match source.get("when") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(text)) => when = Some(text.clone()),
                    Some(_) => self.error(place, &format!("{spec_path}.when"), "expected a condition (a string)"),
                }
                match source.get("exclude") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(items)) => {
                        for (i, item) in items.iter().enumerate() {
                            match item.as_str() {
                                Some(text) => exclude.push(text.to_string()),
                                None => self.error(
                                    place,
                                    &format!("{spec_path}.exclude[{i}]"),
                                    "expected a condition (a string)",
                                ),
                            }
                        }
                    }
                    Some(_) => self.error(place, &format!("{spec_path}.exclude"), "expected a list of conditions"),
                }
            }
        }
        if self.errors.len() > before {
            return None;
        }
        Some(Sli {
            name: name.to_string(),
            when,
            exclude,
            good: condition?,
        })
    }

    /// The `spec` of a `good`/`bad`/`total` metric source of type sloop, or an error
    /// that says what sloop needs instead.
    fn sloop_source(&mut self, place: &str, path: &str, value: &Value, part: &str) -> Option<Map<String, Value>> {
        let hint = if part == "total" {
            "metricSource: {type: sloop, spec: {when: '<condition>', exclude: ['<condition>']}}"
        } else {
            "metricSource: {type: sloop, spec: {condition: '<condition>'}}"
        };
        let Some(source) = value.get("metricSource") else {
            self.error(place, path, format!("needs a metricSource: {hint}"));
            return None;
        };
        let declared = source.get("type").and_then(Value::as_str).map(str::to_string);
        let referenced = source.get("metricSourceRef").and_then(Value::as_str);
        let (kind, kind_path) = match (declared, referenced) {
            (Some(kind), _) => (kind, format!("{path}.metricSource.type")),
            (None, Some(reference)) => match self.data_sources.get(reference) {
                Some((_, Some(kind))) => (kind.clone(), format!("{path}.metricSource.metricSourceRef")),
                Some((_, None)) => {
                    self.error(
                        place,
                        &format!("{path}.metricSource.metricSourceRef"),
                        format!("the DataSource {reference:?} has no spec.type"),
                    );
                    return None;
                }
                None => {
                    let known: Vec<&str> = self.data_sources.keys().map(String::as_str).collect();
                    self.error(
                        place,
                        &format!("{path}.metricSource.metricSourceRef"),
                        format!("no DataSource named {reference:?} (known: {})", list(&known)),
                    );
                    return None;
                }
            },
            (None, None) => {
                self.error(place, &format!("{path}.metricSource"), format!("needs a type: {hint}"));
                return None;
            }
        };
        if !kind.eq_ignore_ascii_case("sloop") {
            self.error(
                place,
                &kind_path,
                format!(
                    "metric source {kind:?}: sloop cannot query {kind}; it classifies the events passing \
                     through it, so the {part} query must be a sloop condition: {hint}"
                ),
            );
            return None;
        }
        match source.get("spec") {
            None | Some(Value::Null) => Some(Map::new()),
            Some(Value::Object(spec)) => Some(spec.clone()),
            Some(_) => {
                self.error(place, &format!("{path}.metricSource.spec"), "expected a mapping");
                None
            }
        }
    }

    fn convert_slo(&mut self, document: &Document) {
        let place = document.place.as_str();
        let before = self.errors.len();
        let Some(spec) = document.spec() else {
            return self.error(place, "spec", "required");
        };
        // The indicator.
        let sli = match (spec.get("indicator"), spec.get("indicatorRef")) {
            (Some(_), Some(_)) => {
                self.error(place, "spec.indicatorRef", "set indicator or indicatorRef, not both");
                None
            }
            (Some(indicator), None) => match indicator.pointer("/metadata/name").and_then(Value::as_str) {
                None => {
                    self.error(place, "spec.indicator.metadata.name", "required");
                    None
                }
                Some(name) if self.slis.contains_key(name) => {
                    let other = self.slis[name].place.clone();
                    self.error(
                        place,
                        "spec.indicator.metadata.name",
                        format!("{other} has this name too: use indicatorRef to use it, or rename one"),
                    );
                    None
                }
                Some(name) => match indicator.get("spec") {
                    None => {
                        self.error(place, "spec.indicator.spec", "required");
                        None
                    }
                    Some(sli_spec) => {
                        let origin = format!("{place}, spec.indicator");
                        let sli = self.convert_sli(place, name, sli_spec, "spec.indicator.spec");
                        sli.map(|sli| {
                            let name = sli.name.clone();
                            self.add_sli(sli, &origin, place, "spec.indicator.metadata.name");
                            name
                        })
                    }
                },
            },
            (None, Some(reference)) => match reference.as_str() {
                Some(name) if self.slis.contains_key(name) => {
                    // An SLI whose own conversion failed has said so already.
                    self.imported.contains_key(name).then(|| name.to_string())
                }
                Some(name) => {
                    let known: Vec<&str> = self.slis.keys().map(String::as_str).collect();
                    self.error(
                        place,
                        "spec.indicatorRef",
                        format!("no SLI named {name:?} (known: {})", list(&known)),
                    );
                    None
                }
                None => {
                    self.error(place, "spec.indicatorRef", "expected the name of an SLI");
                    None
                }
            },
            (None, None) => {
                self.error(place, "spec", "an SLO needs indicator or indicatorRef");
                None
            }
        };
        // The budgeting method.
        let occurrences = match spec.get("budgetingMethod").and_then(Value::as_str) {
            Some("Occurrences") => true,
            Some(method @ ("Timeslices" | "RatioTimeslices")) => {
                self.error(
                    place,
                    "spec.budgetingMethod",
                    format!(
                        "{method}: sloop has no time slices; it counts occurrences (good events / all \
                         events over the window): use budgetingMethod: Occurrences"
                    ),
                );
                false
            }
            Some(other) => {
                self.error(
                    place,
                    "spec.budgetingMethod",
                    format!("unknown method {other:?}: sloop counts Occurrences"),
                );
                false
            }
            None => {
                self.error(
                    place,
                    "spec.budgetingMethod",
                    "required: Occurrences (what sloop counts)",
                );
                false
            }
        };
        let window = self.convert_time_window(place, spec.get("timeWindow"));
        let (group_by, max_groups, min_events, no_alerts) = self.annotations(document);
        let mut alerting = match spec.get("alertPolicies") {
            None | Some(Value::Null) => Alerting::default(),
            Some(Value::Array(items)) if items.is_empty() => Alerting::default(),
            Some(Value::Array(items)) => {
                if no_alerts {
                    self.error(
                        place,
                        &format!("metadata.annotations.{ALERTS_ANNOTATION}"),
                        "says none, but the SLO has alertPolicies: drop one",
                    );
                }
                let (page, ticket) = self.convert_policies(place, items);
                Alerting {
                    page: Some(page),
                    ticket: Some(ticket),
                    min_events: None,
                }
            }
            Some(_) => {
                self.error(place, "spec.alertPolicies", "expected a list");
                Alerting::default()
            }
        };
        if no_alerts {
            alerting.page = Some(Vec::new());
            alerting.ticket = Some(Vec::new());
        }
        alerting.min_events = min_events;
        // The objectives.
        let objectives = match spec.get("objectives") {
            Some(Value::Array(items)) if !items.is_empty() => items.as_slice(),
            _ => {
                self.error(place, "spec.objectives", "required: a list with at least one target");
                &[]
            }
        };
        let mut converted = Vec::new();
        for (k, item) in objectives.iter().enumerate() {
            let path = format!("spec.objectives[{k}]");
            for key in ["op", "value"] {
                if item.get(key).is_some() {
                    self.error(
                        place,
                        &format!("{path}.{key}"),
                        "compares a thresholdMetric's values; a sloop SLI decides good and bad per event: \
                         put the comparison in the good condition",
                    );
                }
            }
            for key in ["indicator", "indicatorRef", "compositeWeight"] {
                if item.get(key).is_some() {
                    self.error(
                        place,
                        &format!("{path}.{key}"),
                        "composite SLOs (an indicator per objective) are not supported: sloop keeps one \
                         budget per objective; write one SLO per indicator",
                    );
                }
            }
            if occurrences {
                for key in ["timeSliceTarget", "timeSliceWindow"] {
                    if item.get(key).is_some() {
                        self.error(
                            place,
                            &format!("{path}.{key}"),
                            "applies to time-slice budgeting; sloop counts occurrences: remove it",
                        );
                    }
                }
            }
            let target = match (item.get("target"), item.get("targetPercent")) {
                (Some(_), Some(_)) => {
                    self.error(place, &path, "set target or targetPercent, not both");
                    None
                }
                (Some(target), None) => match target.as_f64() {
                    Some(target) => Some(target),
                    None => {
                        self.error(place, &format!("{path}.target"), "expected a number, e.g. 0.999");
                        None
                    }
                },
                (None, Some(percent)) => match percent.as_f64() {
                    // Rounded to 12 decimals so 99.9 gives 0.999, not 0.9990000000000001.
                    Some(percent) => Some((percent / 100.0 * 1e12).round() / 1e12),
                    None => {
                        self.error(place, &format!("{path}.targetPercent"), "expected a number, e.g. 99.9");
                        None
                    }
                },
                (None, None) => {
                    self.error(place, &path, "needs target (e.g. 0.999) or targetPercent (e.g. 99.9)");
                    None
                }
            };
            let name = if objectives.len() == 1 {
                document.name.clone()
            } else {
                match item.get("displayName").and_then(Value::as_str).map(slug) {
                    Some(display) if !display.is_empty() => format!("{}-{display}", document.name),
                    _ => format!("{}-{}", document.name, k + 1),
                }
            };
            converted.push((format!("{place}, {path}"), name, target));
        }
        let Some(sli) = sli else { return };
        if self.errors.len() > before {
            return;
        }
        for (origin, name, target) in converted {
            let Some(target) = target else { continue };
            self.out.objectives.push(Objective {
                name,
                sli: sli.clone(),
                target,
                window,
                group_by: group_by.clone(),
                max_groups,
                alerting: alerting.clone(),
            });
            self.objective_origins.push(origin);
        }
    }

    /// `group_by`, `max_groups`, `min_events` and "no alerts" from sloop's annotations.
    fn annotations(&mut self, document: &Document) -> (Vec<String>, Option<usize>, Option<f64>, bool) {
        let place = document.place.as_str();
        let annotations = document
            .value
            .pointer("/metadata/annotations")
            .and_then(Value::as_object);
        let text = |key: &str| {
            annotations.and_then(|a| a.get(key)).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let group_by = text(GROUP_BY_ANNOTATION)
            .map(|keys| {
                keys.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let max_groups = text(MAX_GROUPS_ANNOTATION).and_then(|v| match v.trim().parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(
                    place,
                    &format!("metadata.annotations.{MAX_GROUPS_ANNOTATION}"),
                    format!("expected a whole number, found {v:?}"),
                );
                None
            }
        });
        let min_events = text(MIN_EVENTS_ANNOTATION).and_then(|v| match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => {
                self.error(
                    place,
                    &format!("metadata.annotations.{MIN_EVENTS_ANNOTATION}"),
                    format!("expected a number, found {v:?}"),
                );
                None
            }
        });
        let no_alerts = match text(ALERTS_ANNOTATION) {
            None => false,
            Some(v) if v == "none" => true,
            Some(v) => {
                self.error(
                    place,
                    &format!("metadata.annotations.{ALERTS_ANNOTATION}"),
                    format!("the only value is none (no alert rules), found {v:?}"),
                );
                false
            }
        };
        (group_by, max_groups, min_events, no_alerts)
    }

    fn convert_time_window(&mut self, place: &str, value: Option<&Value>) -> Option<Window> {
        let items = match value {
            None | Some(Value::Null) => return None,
            Some(Value::Array(items)) if items.len() == 1 => items,
            Some(_) => {
                self.error(place, "spec.timeWindow", "expected a list of exactly one window");
                return None;
            }
        };
        let item = &items[0];
        let path = "spec.timeWindow[0]";
        let Some(duration) = item.get("duration").and_then(Value::as_str) else {
            self.error(place, &format!("{path}.duration"), "required, e.g. 30d or 1M");
            return None;
        };
        let calendar = item.get("calendar").filter(|c| !c.is_null());
        let rolling = match item.get("isRolling") {
            None | Some(Value::Null) => calendar.is_none(),
            Some(Value::Bool(rolling)) => *rolling,
            Some(_) => {
                self.error(place, &format!("{path}.isRolling"), "expected true or false");
                return None;
            }
        };
        let duration_path = format!("{path}.duration");
        let (number, unit) = match shorthand(duration) {
            Ok(parsed) => parsed,
            Err(message) => {
                self.error(place, &duration_path, message);
                return None;
            }
        };
        if rolling {
            if calendar.is_some() {
                self.error(
                    place,
                    &format!("{path}.calendar"),
                    "isRolling: true with a calendar: drop one",
                );
                return None;
            }
            return match fixed_length(number, unit) {
                Some(duration) => Some(Window::Rolling(duration)),
                None => {
                    self.error(
                        place,
                        &duration_path,
                        format!(
                            "a rolling window of {duration} has no fixed length; sloop's windows are exact: \
                             write days, e.g. 30d"
                        ),
                    );
                    None
                }
            };
        }
        let Some(calendar) = calendar else {
            self.error(
                place,
                &format!("{path}.calendar"),
                "isRolling: false needs a calendar (startTime, timeZone: UTC)",
            );
            return None;
        };
        let window = match (number, unit) {
            (1, 'M') => Window::Month,
            (1, 'w') | (7, 'd') => Window::Week,
            _ => {
                self.error(
                    place,
                    &duration_path,
                    format!("sloop's calendar windows are one month (1M) or one week (1w), not {duration}"),
                );
                return None;
            }
        };
        let before = self.errors.len();
        match calendar.get("timeZone") {
            None | Some(Value::Null) => {}
            Some(Value::String(zone)) if UTC_ZONES.contains(&zone.as_str()) => {}
            Some(zone) => self.error(
                place,
                &format!("{path}.calendar.timeZone"),
                format!("sloop's calendar windows are in UTC, not {zone}: use timeZone: UTC"),
            ),
        }
        match calendar.get("startTime") {
            None | Some(Value::Null) => {}
            Some(Value::String(start)) => {
                if let Err(message) = check_start(start, window) {
                    self.error(place, &format!("{path}.calendar.startTime"), message);
                }
            }
            Some(other) => self.error(
                place,
                &format!("{path}.calendar.startTime"),
                format!("expected a date and time (2024-01-01 00:00:00), found {other}"),
            ),
        }
        (self.errors.len() == before).then_some(window)
    }

    /// The page and ticket rules of an SLO's `alertPolicies`.
    fn convert_policies(&mut self, place: &str, items: &[Value]) -> (Vec<BurnRate>, Vec<BurnRate>) {
        let mut page = Vec::new();
        let mut ticket = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("spec.alertPolicies[{i}]");
            let (policy_place, policy_path, spec) =
                match resolve(&self.policies, place, &path, item, "alertPolicyRef", "AlertPolicy") {
                    Ok(found) => found,
                    Err(error) => {
                        self.errors.push(error);
                        continue;
                    }
                };
            for (severity, rule) in self.convert_policy(&policy_place, &policy_path, &spec) {
                match severity {
                    Severity::Page => page.push(rule),
                    Severity::Ticket => ticket.push(rule),
                }
            }
        }
        (page, ticket)
    }

    fn convert_policy(&mut self, place: &str, path: &str, spec: &Value) -> Vec<(Severity, BurnRate)> {
        if spec.get("alertWhenBreaching") == Some(&Value::Bool(false)) {
            self.error(
                place,
                &format!("{path}.alertWhenBreaching"),
                "false: this policy never alerts on a breach, and sloop's rules do: set it to true or \
                 remove the policy",
            );
        }
        if spec.get("alertWhenNoData") == Some(&Value::Bool(true)) {
            self.note("alertWhenNoData is left out: sloop alerts on burn rates, not on missing data");
        }
        if spec.get("notificationTargets").is_some_and(|t| !t.is_null()) {
            self.note(NOTIFICATION_NOTE);
        }
        let Some(Value::Array(conditions)) = spec.get("conditions") else {
            self.error(
                place,
                &format!("{path}.conditions"),
                "required: a list of one condition",
            );
            return Vec::new();
        };
        let mut rules = Vec::new();
        for (j, item) in conditions.iter().enumerate() {
            let condition_path = format!("{path}.conditions[{j}]");
            let (condition_place, spec_path, spec) = match resolve(
                &self.conditions,
                place,
                &condition_path,
                item,
                "conditionRef",
                "AlertCondition",
            ) {
                Ok(found) => found,
                Err(error) => {
                    self.errors.push(error);
                    continue;
                }
            };
            if let Some(rule) = self.convert_condition(&condition_place, &spec_path, &spec) {
                rules.push(rule);
            }
        }
        rules
    }

    fn convert_condition(&mut self, place: &str, path: &str, spec: &Value) -> Option<(Severity, BurnRate)> {
        let before = self.errors.len();
        let severity = match spec.get("severity").and_then(Value::as_str) {
            Some(s) if PAGE_SEVERITIES.iter().any(|p| p.eq_ignore_ascii_case(s)) => Some(Severity::Page),
            Some(s) if TICKET_SEVERITIES.iter().any(|t| t.eq_ignore_ascii_case(s)) => Some(Severity::Ticket),
            Some(s) => {
                self.error(
                    place,
                    &format!("{path}.severity"),
                    format!(
                        "{s:?} is neither a page ({}) nor a ticket ({}), sloop's two severities",
                        PAGE_SEVERITIES.join(", "),
                        TICKET_SEVERITIES.join(", ")
                    ),
                );
                None
            }
            None => {
                self.error(place, &format!("{path}.severity"), "required: page or ticket");
                None
            }
        };
        let Some(condition) = spec.get("condition") else {
            self.error(place, &format!("{path}.condition"), "required");
            return None;
        };
        let path = format!("{path}.condition");
        match condition.get("kind").and_then(Value::as_str) {
            None | Some("burnrate") => {}
            Some(other) => self.error(
                place,
                &format!("{path}.kind"),
                format!("{other:?}: sloop alerts on burn rates only (kind: burnrate)"),
            ),
        }
        match condition.get("op").and_then(Value::as_str) {
            Some("gt" | "gte") => {}
            Some(op @ ("lt" | "lte")) => self.error(
                place,
                &format!("{path}.op"),
                format!(
                    "{op} alerts while the burn rate is below the threshold; sloop alerts while it is above: use gt"
                ),
            ),
            Some(other) => self.error(
                place,
                &format!("{path}.op"),
                format!("unknown operator {other:?}: use gt"),
            ),
            None => self.error(place, &format!("{path}.op"), "required: gt"),
        }
        let threshold = match condition.get("threshold").and_then(Value::as_f64) {
            Some(t) if t > 0.0 && t.is_finite() => Some(t),
            _ => {
                self.error(
                    place,
                    &format!("{path}.threshold"),
                    "required: the burn rate above which to alert (a number above 0, e.g. 14.4)",
                );
                None
            }
        };
        let long = self.alert_window(
            place,
            &format!("{path}.lookbackWindow"),
            condition.get("lookbackWindow"),
        );
        let short = match condition.get("alertAfter") {
            None | Some(Value::Null) => long.map(default_short),
            Some(Value::String(text)) if is_zero(text) => long.map(default_short),
            value => self.alert_window(place, &format!("{path}.alertAfter"), value),
        };
        if self.errors.len() > before {
            return None;
        }
        Some((
            severity?,
            BurnRate {
                long: long?,
                short: short?,
                burn_rate: threshold?,
            },
        ))
    }

    fn alert_window(&mut self, place: &str, path: &str, value: Option<&Value>) -> Option<Duration> {
        let Some(text) = value.and_then(Value::as_str) else {
            self.error(place, path, "required: a duration such as 1h");
            return None;
        };
        match shorthand(text) {
            Ok((number, unit)) => match fixed_length(number, unit) {
                Some(duration) => Some(duration),
                None => {
                    self.error(place, path, format!("{text} has no fixed length: use m, h, d or w"));
                    None
                }
            },
            Err(message) => {
                self.error(place, path, message);
                None
            }
        }
    }

    fn finish(mut self) -> Result<(SloopObjectives, Vec<String>), ImportErrors> {
        if self.errors.is_empty() {
            for (kind, index, rest, message) in self.out.sloop_check() {
                let (origin, block) = match kind {
                    "sli" => (index.and_then(|i| self.sli_origins.get(i)), "sli.slis"),
                    _ => (index.and_then(|i| self.objective_origins.get(i)), "slo.objectives"),
                };
                let origin = origin.cloned().unwrap_or_else(|| "the imported config".to_string());
                let at = match index {
                    Some(i) if rest.is_empty() => format!("{block}[{i}]"),
                    Some(i) => format!("{block}[{i}].{rest}"),
                    None => format!("{block}.{rest}"),
                };
                self.errors.push(ImportError {
                    place: origin,
                    path: String::new(),
                    message: format!("sloop refuses what this becomes (processors.{at}): {message}"),
                });
            }
        }
        let mut seen = BTreeSet::new();
        self.errors.retain(|e| seen.insert(e.to_string()));
        if self.errors.is_empty() {
            if self.out.objectives.iter().any(|o| o.alerting.page.is_none()) {
                self.note("SLOs without alertPolicies keep sloop's default alert rules (the SRE Workbook's)");
            }
            Ok((self.out, self.notes))
        } else {
            Err(ImportErrors(self.errors))
        }
    }
}

/// An item of `alertPolicies` or of a policy's `conditions` (at `path` in `place`):
/// a reference (`reference_key`) to a document of `kind` among `documents`, or that
/// document inline. Where its spec is: (place, path, spec).
fn resolve(
    documents: &BTreeMap<String, Document>,
    place: &str,
    path: &str,
    item: &Value,
    reference_key: &str,
    kind: &str,
) -> Result<(String, String, Value), ImportError> {
    let error = |place: &str, path: String, message: String| ImportError {
        place: place.to_string(),
        path,
        message,
    };
    if let Some(reference) = item.get(reference_key) {
        let Some(document) = reference.as_str().and_then(|name| documents.get(name)) else {
            let known: Vec<&str> = documents.keys().map(String::as_str).collect();
            return Err(error(
                place,
                format!("{path}.{reference_key}"),
                format!("no {kind} named {reference} (known: {})", list(&known)),
            ));
        };
        return match document.spec() {
            Some(spec) => Ok((document.place.clone(), "spec".to_string(), spec.clone())),
            None => Err(error(&document.place, "spec".into(), "required".into())),
        };
    }
    if let Some(found) = item.get("kind").and_then(Value::as_str) {
        if found != kind {
            return Err(error(place, format!("{path}.kind"), format!("expected {kind}")));
        }
    }
    match item.get("spec") {
        Some(spec) => Ok((place.to_string(), format!("{path}.spec"), spec.clone())),
        None => Err(error(
            place,
            path.to_string(),
            format!("expected {reference_key} or an inline {kind} (with spec)"),
        )),
    }
}

/// `30d` → (30, 'd'): OpenSLO's duration shorthand, a positive whole number and one
/// of `m h d w M Q Y`.
pub(super) fn shorthand(text: &str) -> Result<(u64, char), String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let mut units = unit.chars();
    match (number.parse::<u64>(), units.next(), units.next()) {
        (Ok(number), Some(unit @ ('m' | 'h' | 'd' | 'w' | 'M' | 'Q' | 'Y')), None) if number > 0 => Ok((number, unit)),
        _ => Err(format!(
            "invalid duration {text:?}: expected a whole number and one of m, h, d, w, M, Q, Y (e.g. 30d)"
        )),
    }
}

/// `0`, `0m`, `00s`: OpenSLO's default `alertAfter`, no wait.
fn is_zero(text: &str) -> bool {
    let text = text.trim();
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty() && digits.chars().all(|c| c == '0') && text.len() - digits.len() <= 1
}

/// The length of a shorthand duration, for the units that have one.
fn fixed_length(number: u64, unit: char) -> Option<Duration> {
    let seconds = match unit {
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        'w' => 7 * 86400,
        _ => return None,
    };
    number.checked_mul(seconds).map(Duration::from_secs)
}

/// The short window when a condition has no `alertAfter`: a twelfth of the long one
/// (the SRE Workbook's ratio), in whole minutes, at least one.
pub(super) fn default_short(long: Duration) -> Duration {
    let minutes = (long.as_secs() / 60 / 12).max(1);
    Duration::from_secs(minutes * 60)
}

/// Checks that a calendar window's `startTime` is where sloop's windows start: the 1st
/// of a month, or a Monday, at 00:00.
pub(super) fn check_start(start: &str, window: Window) -> Result<(), String> {
    let parsed = parse_date_time(start)
        .ok_or_else(|| format!("expected a date and time such as 2024-01-01 00:00:00, found {start:?}"))?;
    let (year, month, day, midnight) = parsed;
    match window {
        Window::Month if day == 1 && midnight => Ok(()),
        Window::Month => Err(format!(
            "sloop's calendar months start on the 1st at 00:00 UTC; {start} is not such a start"
        )),
        Window::Week if weekday(year, month, day) == 0 && midnight => Ok(()),
        Window::Week => Err(format!(
            "sloop's calendar weeks start on Monday at 00:00 UTC (ISO weeks); {start} is not such a start"
        )),
        Window::Rolling(_) => Ok(()),
    }
}

/// `2024-01-01 00:00:00` (or with `T`, and optional seconds) → (year, month, day, at
/// midnight). Hand-written: no date crate is in the tree, and only this is needed.
fn parse_date_time(text: &str) -> Option<(i64, u32, u32, bool)> {
    let text = text.trim();
    let (date, time) = match text.split_once([' ', 'T']) {
        Some((date, time)) => (date, time.trim()),
        None => (text, ""),
    };
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let time = time.trim_end_matches('Z');
    let midnight = time.is_empty()
        || time
            .split(':')
            .all(|p| p.trim_start_matches('0').trim_start_matches('.').is_empty());
    Some((year, month, day, midnight))
}

/// Day of the week, 0 = Monday, from the days since 1970-01-01 (a Thursday), with
/// Howard Hinnant's `days_from_civil`.
pub(super) fn weekday(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    (days + 3).rem_euclid(7)
}

/// A name for an objective from its display name: lowercase letters, digits and `-`.
pub(super) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

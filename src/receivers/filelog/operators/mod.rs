//! The Collector's stanza operators (`operators:` of the filelog receiver): parsers
//! (`regex_parser`, `json_parser`, `key_value_parser`, `csv_parser`,
//! `time_parser`, `severity_parser`), transformers (`move`, `copy`, `add`,
//! `remove`, `flatten`), and flow (`filter`, `router`, `recombine`, `noop`).
//!
//! ```yaml
//! operators:
//!   - type: regex_parser
//!     regex: '^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d{3})'
//!     timestamp: { parse_from: attributes.time, layout: '%d/%b/%Y:%H:%M:%S %z' }
//!     severity: { parse_from: attributes.status, mapping: { error: 5xx, warn: 4xx, info: [2xx, 3xx] } }
//!   - type: remove
//!     field: attributes.time
//! ```
//!
//! The list is compiled once by [`Operators::build`] into a small graph: each
//! operator sends to the next in the list, or to the ids in its `output` (a
//! router to its routes' outputs); unknown ids and cycles are refused there, so
//! running it always ends. An entry that an operator fails on (a line the regex
//! does not match) is sent on unchanged or dropped per `on_error`, counted in
//! `otelcol_receiver_filelog_operator_errors{operator}`, and logged at most about
//! once a second per operator.

pub mod expr;
pub mod field;

mod condition;
pub mod config;
mod parsers;
mod recombine;
mod severity;
mod time;
mod transform;
mod values;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::KeyValue;

use self::condition::{Condition, Expression};
use self::parsers::{CsvParser, KeyValueParser, Parser, ParserKind, RegexParser};
use self::recombine::{Boundary, Recombine};
use self::severity::SeverityParser;
use self::time::TimeParser;
use self::transform::{AddValue, Transform};
use self::values::{config_value, key_value};
use crate::confmap::{did_you_mean, ConfigError};
use crate::receivers::filelog::entry::Entry;

pub use self::config::{OnError, OperatorConfig};

/// The counter of entries an operator failed on.
const ERRORS_METRIC: &str = "otelcol_receiver_filelog_operator_errors";
/// Least time between two warnings of one operator.
const WARN_INTERVAL: Duration = Duration::from_secs(1);

/// The compiled chain.
#[derive(Debug)]
pub struct Operators {
    nodes: Vec<Node>,
}

/// One operator in the graph.
#[derive(Debug)]
struct Node {
    id: String,
    /// `if:`; the operator is skipped for entries it does not match.
    condition: Option<Condition>,
    on_error: OnError,
    step: Step,
    /// Indices of the operators entries go to next; `nodes.len()` is the chain's end.
    next: Vec<usize>,
    last_warning: Option<Instant>,
}

#[derive(Debug)]
enum Step {
    Parser(Box<Parser>),
    Time(TimeParser),
    Severity(SeverityParser),
    Transform(Transform),
    Filter { condition: Condition, drop_ratio: f64 },
    Router { routes: Vec<Route>, default: Vec<usize> },
    Recombine(Box<Recombine>),
    Noop,
}

#[derive(Debug)]
struct Route {
    condition: Condition,
    next: Vec<usize>,
    attributes: Vec<KeyValue>,
}

/// What one step did with an entry.
enum Outcome {
    /// Send it to the node's `next`.
    Forward(Entry),
    /// Send it to these nodes.
    To(Vec<usize>, Entry),
    /// Send these to the node's `next`, in order (released by recombine).
    Many(Vec<Entry>),
    /// Nothing to send (filtered, or held by recombine).
    Nothing,
    /// The step failed; `on_error` decides.
    Failed(String, Entry),
}

impl Operators {
    /// Compiles `configs`, reporting every problem at once with paths relative to
    /// the receiver (`operators[2].regex`).
    pub fn build(configs: &[OperatorConfig]) -> Result<Operators, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let ids = assign_ids(configs, &mut errors);
        let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
        let resolver = Resolver {
            index: &index,
            ids: &ids,
        };
        let mut nodes = Vec::with_capacity(configs.len());
        for (i, (config, id)) in configs.iter().zip(&ids).enumerate() {
            let at = |key: &str| format!("operators[{i}].{key}");
            let (_, output, if_expr, on_error) = config.common();
            let next = match output {
                Some(_) if matches!(config, OperatorConfig::Router(_)) => {
                    errors.push(ConfigError::new(
                        at("output"),
                        "a router sends by its routes' outputs and default, not output",
                    ));
                    Vec::new()
                }
                Some(outputs) => resolver.resolve(outputs, &at("output")).unwrap_or_else(|e| {
                    errors.push(e);
                    Vec::new()
                }),
                None => vec![i + 1],
            };
            let condition = if_expr.and_then(|text| {
                Condition::parse(text)
                    .map_err(|e| errors.push(ConfigError::new(at("if"), e)))
                    .ok()
            });
            let step = match compile_step(config, &resolver, &at) {
                Ok(step) => step,
                Err(mut step_errors) => {
                    errors.append(&mut step_errors);
                    Step::Noop
                }
            };
            nodes.push(Node {
                id: id.clone(),
                condition,
                on_error,
                step,
                next,
                last_warning: None,
            });
        }
        if errors.is_empty() {
            if let Some(error) = find_cycle(&nodes) {
                errors.push(error);
            }
        }
        if errors.is_empty() {
            Ok(Operators { nodes })
        } else {
            Err(errors)
        }
    }

    /// Runs one entry through the chain; what comes out of its end (0, 1 or more
    /// entries: filters drop, recombine holds and releases) is pushed to `out`.
    /// Batches recombine has held past their `force_flush_period` come out too.
    pub fn process(&mut self, entry: Entry, out: &mut Vec<Entry>) {
        let now = Instant::now();
        self.run(vec![(0, entry)], now, out);
        self.flush_stale_at(now, out);
    }

    /// Sends on every entry recombine holds (at the end of a file, at shutdown).
    pub fn flush(&mut self, out: &mut Vec<Entry>) {
        self.release(Instant::now(), out, |recombine, _, held| recombine.flush_all(held));
    }

    /// Sends on batches recombine has held longer than its `force_flush_period`
    /// without a new entry; for a timer while no lines arrive.
    pub fn flush_stale(&mut self, out: &mut Vec<Entry>) {
        self.flush_stale_at(Instant::now(), out);
    }

    fn flush_stale_at(&mut self, now: Instant, out: &mut Vec<Entry>) {
        if self.holds_entries() {
            self.release(now, out, |recombine, now, held| recombine.flush_stale(now, held));
        }
    }

    /// Whether recombine holds entries that [`Operators::flush`] would send.
    pub fn holds_entries(&self) -> bool {
        self.nodes
            .iter()
            .any(|node| matches!(&node.step, Step::Recombine(r) if r.holds_entries()))
    }

    /// Whether there are no operators (entries pass unchanged).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The operators' ids, in list order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|node| node.id.as_str())
    }

    /// Takes entries out of each recombine in list order with `take` and runs them
    /// on from there. A recombine further down can receive some; the passes repeat
    /// (at most once per operator) until none holds any.
    fn release(&mut self, now: Instant, out: &mut Vec<Entry>, take: impl Fn(&mut Recombine, Instant, &mut Vec<Entry>)) {
        for _ in 0..=self.nodes.len() {
            let mut released = false;
            for index in 0..self.nodes.len() {
                let mut held = Vec::new();
                let Some(node) = self.nodes.get_mut(index) else { break };
                if let Step::Recombine(recombine) = &mut node.step {
                    take(recombine, now, &mut held);
                }
                if held.is_empty() {
                    continue;
                }
                released = true;
                let next = node.next.clone();
                let work = held.into_iter().rev().flat_map(|entry| fan_out(&next, entry)).collect();
                self.run(work, now, out);
            }
            if !released {
                break;
            }
        }
    }

    /// Runs entries from the given nodes until each leaves the chain or is dropped.
    /// `work` is a stack: its last item runs first.
    fn run(&mut self, mut work: Vec<(usize, Entry)>, now: Instant, out: &mut Vec<Entry>) {
        while let Some((index, entry)) = work.pop() {
            let Some(node) = self.nodes.get_mut(index) else {
                out.push(entry);
                continue;
            };
            let outcome = match &node.condition {
                Some(condition) if !condition.matches(&entry) => Outcome::Forward(entry),
                _ => node.step.apply(entry, now),
            };
            let (targets, entry) = match outcome {
                Outcome::Forward(entry) => (node.next.as_slice(), entry),
                Outcome::To(targets, entry) => {
                    work.extend(fan_out(&targets, entry));
                    continue;
                }
                Outcome::Many(entries) => {
                    let next = &node.next;
                    work.extend(entries.into_iter().rev().flat_map(|entry| fan_out(next, entry)));
                    continue;
                }
                Outcome::Nothing => continue,
                Outcome::Failed(message, entry) => {
                    node.report(&message);
                    match node.on_error {
                        OnError::Send | OnError::SendQuiet => (node.next.as_slice(), entry),
                        OnError::Drop | OnError::DropQuiet => continue,
                    }
                }
            };
            work.extend(fan_out(targets, entry));
        }
    }
}

/// (target, entry) pairs for `targets`, reversed so that the first target runs
/// first off the work stack; the entry is cloned only when there are several.
fn fan_out(targets: &[usize], entry: Entry) -> Vec<(usize, Entry)> {
    match targets {
        [] => Vec::new(),
        [only] => vec![(*only, entry)],
        [first, rest @ ..] => {
            let mut items: Vec<(usize, Entry)> = rest.iter().rev().map(|t| (*t, entry.clone())).collect();
            items.push((*first, entry));
            items
        }
    }
}

impl Node {
    /// Counts an error and logs it (at most once per [`WARN_INTERVAL`] for
    /// `send`/`drop`; at debug level for the quiet modes).
    fn report(&mut self, message: &str) {
        metrics::counter!(ERRORS_METRIC, "operator" => self.id.clone()).increment(1);
        match self.on_error {
            OnError::SendQuiet | OnError::DropQuiet => {
                tracing::debug!(message = "Operator failed on an entry.", operator = %self.id, error = %message);
            }
            OnError::Send | OnError::Drop => {
                let now = Instant::now();
                if self
                    .last_warning
                    .is_none_or(|last| now.duration_since(last) >= WARN_INTERVAL)
                {
                    self.last_warning = Some(now);
                    tracing::warn!(
                        message = "Operator failed on an entry.",
                        operator = %self.id,
                        error = %message,
                        on_error = ?self.on_error,
                    );
                }
            }
        }
    }
}

impl Step {
    fn apply(&mut self, mut entry: Entry, now: Instant) -> Outcome {
        let result = match self {
            Step::Parser(parser) => parser.apply(&mut entry),
            Step::Time(parser) => parser.apply(&mut entry),
            Step::Severity(parser) => parser.apply(&mut entry),
            Step::Transform(transform) => transform.apply(&mut entry),
            Step::Noop => Ok(()),
            Step::Filter { condition, drop_ratio } => {
                let drop = condition.matches(&entry) && (*drop_ratio >= 1.0 || rand::random::<f64>() < *drop_ratio);
                return if drop {
                    Outcome::Nothing
                } else {
                    Outcome::Forward(entry)
                };
            }
            Step::Router { routes, default } => {
                return match routes.iter().find(|route| route.condition.matches(&entry)) {
                    Some(route) => {
                        entry.record.attributes.extend(route.attributes.iter().cloned());
                        Outcome::To(route.next.clone(), entry)
                    }
                    None => Outcome::To(default.clone(), entry),
                };
            }
            Step::Recombine(recombine) => {
                let mut done = Vec::new();
                recombine.process(entry, now, &mut done);
                return match done.len() {
                    0 => Outcome::Nothing,
                    _ => Outcome::Many(done),
                };
            }
        };
        match result {
            Ok(()) => Outcome::Forward(entry),
            Err(message) => Outcome::Failed(message, entry),
        }
    }
}

/// Gives every operator an id: its own, or its type (numbered from the second of
/// a type on: `regex_parser`, `regex_parser1`). Duplicates are errors.
fn assign_ids(configs: &[OperatorConfig], errors: &mut Vec<ConfigError>) -> Vec<String> {
    let explicit: Vec<&str> = configs.iter().filter_map(|c| c.common().0).collect();
    let mut ids: Vec<String> = Vec::with_capacity(configs.len());
    for (i, config) in configs.iter().enumerate() {
        let id = match config.common().0 {
            Some(id) if id.is_empty() => {
                errors.push(ConfigError::new(format!("operators[{i}].id"), "must not be empty"));
                id.to_string()
            }
            Some(id) => {
                if ids.iter().any(|other| other == id) {
                    errors.push(ConfigError::new(
                        format!("operators[{i}].id"),
                        format!("duplicate id {id:?}; ids must be unique"),
                    ));
                }
                id.to_string()
            }
            None => {
                let base = config.type_name();
                let mut candidate = base.to_string();
                let mut n = 0;
                while ids.contains(&candidate) || explicit.contains(&candidate.as_str()) {
                    n += 1;
                    candidate = format!("{base}{n}");
                }
                candidate
            }
        };
        ids.push(id);
    }
    ids
}

/// Looks up `output` ids.
struct Resolver<'a> {
    index: &'a HashMap<&'a str, usize>,
    ids: &'a [String],
}

impl Resolver<'_> {
    fn resolve(&self, outputs: &config::Outputs, path: &str) -> Result<Vec<usize>, ConfigError> {
        outputs
            .ids()
            .iter()
            .map(|id| {
                self.index.get(id.as_str()).copied().ok_or_else(|| {
                    let hint = did_you_mean(id, self.ids.iter().map(String::as_str))
                        .map(|best| format!("; did you mean {best:?}?"))
                        .unwrap_or_default();
                    ConfigError::new(path, format!("no operator has the id {id:?}{hint}"))
                })
            })
            .collect()
    }
}

/// The first cycle found among the operators' edges, as an error at the output
/// that closes it.
fn find_cycle(nodes: &[Node]) -> Option<ConfigError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let edges = |i: usize| -> Vec<usize> {
        let Some(node) = nodes.get(i) else { return Vec::new() };
        let mut all = node.next.clone();
        if let Step::Router { routes, default } = &node.step {
            all.clear();
            all.extend(routes.iter().flat_map(|r| r.next.iter().copied()));
            all.extend(default.iter().copied());
        }
        all.retain(|t| *t < nodes.len());
        all
    };
    let mut marks = vec![Mark::New; nodes.len()];
    for start in 0..nodes.len() {
        if marks.get(start) != Some(&Mark::New) {
            continue;
        }
        // Iterative depth-first search; `path` is the open chain.
        let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, edges(start))];
        let mut path = vec![start];
        if let Some(m) = marks.get_mut(start) {
            *m = Mark::Open;
        }
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(target) => match marks.get(target).copied() {
                    Some(Mark::Open) => {
                        let from = path.iter().position(|p| *p == target).unwrap_or(0);
                        let names: Vec<&str> = path
                            .get(from..)
                            .unwrap_or_default()
                            .iter()
                            .chain(std::iter::once(&target))
                            .filter_map(|i| nodes.get(*i).map(|n| n.id.as_str()))
                            .collect();
                        return Some(ConfigError::new(
                            format!("operators[{node}].output"),
                            format!("the operators form a cycle: {}", names.join(" -> ")),
                        ));
                    }
                    Some(Mark::New) => {
                        if let Some(m) = marks.get_mut(target) {
                            *m = Mark::Open;
                        }
                        path.push(target);
                        stack.push((target, edges(target)));
                    }
                    _ => {}
                },
                None => {
                    if let Some(m) = marks.get_mut(node) {
                        *m = Mark::Done;
                    }
                    path.pop();
                    stack.pop();
                }
            }
        }
    }
    None
}

/// Compiles one operator's own keys.
fn compile_step(
    config: &OperatorConfig,
    resolver: &Resolver<'_>,
    at: &dyn Fn(&str) -> String,
) -> Result<Step, Vec<ConfigError>> {
    let one = |key: &str, message: String| vec![ConfigError::new(at(key), message)];
    let keyed = |(key, message): (&str, String)| vec![ConfigError::new(at(key), message)];
    Ok(match config {
        OperatorConfig::RegexParser(c) => {
            if c.cache.is_some() {
                return Err(one("cache", "is not supported (matching is fast without it)".into()));
            }
            let regex = RegexParser::new(&c.regex).map_err(|e| one("regex", e))?;
            let (timestamp, severity) = embedded_blocks(&c.timestamp, &c.severity, at)?;
            Step::Parser(Box::new(Parser {
                parse_from: c.parse_from.clone(),
                parse_to: c.parse_to.clone(),
                kind: ParserKind::Regex(regex),
                timestamp,
                severity,
            }))
        }
        OperatorConfig::JsonParser(c) => {
            let (timestamp, severity) = embedded_blocks(&c.timestamp, &c.severity, at)?;
            Step::Parser(Box::new(Parser {
                parse_from: c.parse_from.clone(),
                parse_to: c.parse_to.clone(),
                kind: ParserKind::Json {
                    parse_ints: c.parse_ints,
                },
                timestamp,
                severity,
            }))
        }
        OperatorConfig::KeyValueParser(c) => {
            let kv = KeyValueParser::new(c.delimiter.clone(), c.pair_delimiter.clone()).map_err(keyed)?;
            let (timestamp, severity) = embedded_blocks(&c.timestamp, &c.severity, at)?;
            Step::Parser(Box::new(Parser {
                parse_from: c.parse_from.clone(),
                parse_to: c.parse_to.clone(),
                kind: ParserKind::KeyValue(kv),
                timestamp,
                severity,
            }))
        }
        OperatorConfig::CsvParser(c) => {
            let csv = CsvParser::new(
                &c.header,
                c.header_delimiter.as_deref(),
                &c.delimiter,
                c.lazy_quotes,
                c.ignore_quotes,
            )
            .map_err(keyed)?;
            let (timestamp, severity) = embedded_blocks(&c.timestamp, &c.severity, at)?;
            Step::Parser(Box::new(Parser {
                parse_from: c.parse_from.clone(),
                parse_to: c.parse_to.clone(),
                kind: ParserKind::Csv(csv),
                timestamp,
                severity,
            }))
        }
        OperatorConfig::TimeParser(c) => Step::Time(
            TimeParser::new(c.parse_from.clone(), c.layout_type, &c.layout, c.location.as_deref()).map_err(keyed)?,
        ),
        OperatorConfig::SeverityParser(c) => Step::Severity(
            SeverityParser::new(c.parse_from.clone(), c.preset.as_deref(), &c.mapping, c.overwrite_text)
                .map_err(|(key, message)| one(&key, message))?,
        ),
        OperatorConfig::Move(c) => Step::Transform(Transform::Move {
            from: c.from.clone(),
            to: c.to.clone(),
        }),
        OperatorConfig::Copy(c) => Step::Transform(Transform::Copy {
            from: c.from.clone(),
            to: c.to.clone(),
        }),
        OperatorConfig::Add(c) => {
            let value = match c.value.as_str().and_then(expr::embedded) {
                Some(text) => AddValue::Expr(Expression::parse(text).map_err(|e| one("value", e))?),
                None => AddValue::Fixed(config_value(&c.value)),
            };
            Step::Transform(Transform::Add {
                field: c.field.clone(),
                value,
            })
        }
        OperatorConfig::Remove(c) => Step::Transform(Transform::Remove { field: c.field.clone() }),
        OperatorConfig::Flatten(c) => {
            transform::check_flatten_field(&c.field).map_err(|e| one("field", e))?;
            Step::Transform(Transform::Flatten { field: c.field.clone() })
        }
        OperatorConfig::Filter(c) => {
            if !(0.0..=1.0).contains(&c.drop_ratio) {
                return Err(one("drop_ratio", format!("{} is not between 0 and 1", c.drop_ratio)));
            }
            Step::Filter {
                condition: Condition::parse(&c.expr).map_err(|e| one("expr", e))?,
                drop_ratio: c.drop_ratio,
            }
        }
        OperatorConfig::Router(c) => compile_router(c, resolver, at)?,
        OperatorConfig::Recombine(c) => Step::Recombine(Box::new(compile_recombine(c, at)?)),
        OperatorConfig::Noop(_) => Step::Noop,
    })
}

/// The embedded `timestamp:` and `severity:` blocks of a parser.
fn embedded_blocks(
    timestamp: &Option<config::TimeConfig>,
    severity: &Option<config::SeverityConfig>,
    at: &dyn Fn(&str) -> String,
) -> Result<(Option<TimeParser>, Option<SeverityParser>), Vec<ConfigError>> {
    let mut errors = Vec::new();
    let timestamp = timestamp.as_ref().and_then(|t| {
        TimeParser::new(t.parse_from.clone(), t.layout_type, &t.layout, t.location.as_deref())
            .map_err(|(key, message)| errors.push(ConfigError::new(at(&format!("timestamp.{key}")), message)))
            .ok()
    });
    let severity = severity.as_ref().and_then(|s| {
        SeverityParser::new(s.parse_from.clone(), s.preset.as_deref(), &s.mapping, s.overwrite_text)
            .map_err(|(key, message)| errors.push(ConfigError::new(at(&format!("severity.{key}")), message)))
            .ok()
    });
    if errors.is_empty() {
        Ok((timestamp, severity))
    } else {
        Err(errors)
    }
}

fn compile_router(
    c: &config::RouterConfig,
    resolver: &Resolver<'_>,
    at: &dyn Fn(&str) -> String,
) -> Result<Step, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut routes = Vec::with_capacity(c.routes.len());
    for (j, route) in c.routes.iter().enumerate() {
        let condition = Condition::parse(&route.expr)
            .map_err(|e| errors.push(ConfigError::new(at(&format!("routes[{j}].expr")), e)))
            .ok();
        let next = resolver
            .resolve(&route.output, &at(&format!("routes[{j}].output")))
            .map_err(|e| errors.push(e))
            .ok();
        let attributes = route
            .attributes
            .iter()
            .map(|(key, value)| key_value(key.clone(), config_value(value)))
            .collect();
        if let (Some(condition), Some(next)) = (condition, next) {
            routes.push(Route {
                condition,
                next,
                attributes,
            });
        }
    }
    let default = match &c.default {
        Some(outputs) => resolver
            .resolve(outputs, &at("default"))
            .map_err(|e| errors.push(e))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    if errors.is_empty() {
        Ok(Step::Router { routes, default })
    } else {
        Err(errors)
    }
}

fn compile_recombine(c: &config::RecombineConfig, at: &dyn Fn(&str) -> String) -> Result<Recombine, Vec<ConfigError>> {
    let one = |key: &str, message: &str| vec![ConfigError::new(at(key), message)];
    let boundary = match (&c.is_first_entry, &c.is_last_entry) {
        (Some(first), None) => Boundary::First(Condition::parse(first).map_err(|e| one("is_first_entry", &e))?),
        (None, Some(last)) => Boundary::Last(Condition::parse(last).map_err(|e| one("is_last_entry", &e))?),
        _ => {
            return Err(one(
                "is_first_entry",
                "exactly one of is_first_entry and is_last_entry must be set",
            ))
        }
    };
    if c.combine_field.keys.is_empty() && c.combine_field.root != field::Root::Body {
        return Err(one(
            "combine_field",
            "must be body or a field below a root, not a whole map",
        ));
    }
    if c.max_batch_size == 0 {
        return Err(one("max_batch_size", "must be at least 1"));
    }
    if c.max_sources == 0 {
        return Err(one("max_sources", "must be at least 1"));
    }
    Ok(Recombine {
        boundary,
        combine_field: c.combine_field.clone(),
        combine_with: c.combine_with.clone(),
        max_batch_size: c.max_batch_size,
        max_unmatched_batch_size: c.max_unmatched_batch_size,
        max_log_size: usize::try_from(c.max_log_size.0).unwrap_or(usize::MAX),
        overwrite_with: c.overwrite_with,
        force_flush_period: c.force_flush_period,
        source_identifier: c.source_identifier.clone(),
        max_sources: c.max_sources,
        sources: Vec::new(),
    })
}

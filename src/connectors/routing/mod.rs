//! `routing` — sends telemetry to pipelines by conditions, as the Collector's
//! routingconnector: each resource (or span, log record, metric) goes to the
//! pipelines of the **first** route in `table` whose condition holds; what no route
//! takes goes to `default_pipelines`.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! ```yaml
//! service:
//!   pipelines:
//!     traces/in:
//!       receivers: [otlp]
//!       exporters: [routing]
//!     traces/acme:
//!       receivers: [routing]
//!       exporters: [otlp_grpc/acme]
//!     traces/ecorp:
//!       receivers: [routing]
//!       exporters: [otlp_grpc/ecorp]
//!     traces/other:
//!       receivers: [routing]
//!       exporters: [otlp_grpc/other]
//! ```
//!
//! | key | default | |
//! |---|---|---|
//! | `table[].condition` | | a condition in the [condition language](crate::ottl), compiled when the config is loaded: a mistake fails `sloop validate` at its file, line and column |
//! | `table[].statement` | | the Collector's spelling, `route() where <condition>`; use one of `condition` and `statement` |
//! | `table[].context` | `resource` | `resource`: the condition sees the resource (`attributes["tenant"]` are the resource's attributes) and the route moves the whole resource with everything in it; `span`, `log`, `metric`: the condition sees one span, log record or metric (with `resource.attributes[...]`) and the route moves that item alone |
//! | `table[].pipelines` | | pipelines that list the connector as a receiver |
//! | `default_pipelines` | none | where data that no route takes goes |
//! | `error_mode` | `propagate` | `propagate`, `ignore` or `silent`; accepted for compatibility — sloop's conditions cannot fail when evaluated (a comparison of mismatched types is false), so the modes behave the same |
//!
//! As in the Collector (since `match_once` was removed in v0.120): routes are tried in
//! order and each item goes to one route only, the first that matches; routes of
//! different contexts can be mixed, a resource route taking the whole resource when
//! it is tried before a span route. Each pipeline gets one request per payload with
//! everything routed to it. A refusal from any pipeline goes back to the sender (a
//! retryable one first), so the client retries.
//!
//! One `routing` connector can serve pipelines of several signals; each route and
//! `default_pipelines` may name pipelines of any of them. For one signal, a route
//! that names none of that signal's pipelines is left out (its data falls through
//! to the next route), and a route whose context does not fit the signal (`span` for
//! logs) makes the build fail with its path.
//!
//! Data that no route takes and that has no default pipeline of its signal is dropped,
//! counted in `otelcol_connector_routing_unrouted_spans`, `..._metric_points` or
//! `..._log_records` (labelled `connector` = id) and logged at most every ten seconds.
//!
//! Left out, compared with the Collector: the `datapoint` and `request` contexts (both
//! refused with a message), OTTL editor functions in statements (`delete_key`), and
//! `route()` with arguments (dynamic pipeline names).

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use metrics::Counter;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

pub use config::{CompiledRouting, ErrorMode, Route, RouteConfig, RouteContext, RoutingConfig};

use super::DropLog;
use crate::component::registry::ConnectorFactory;
use crate::component::{
    BoxFuture, BuildError, ConnectorConfig, ConnectorContext, ConsumeError, Consumer, Lifecycle, Processor, Signal,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::ottl::{Condition, LogView, MetricView, ResourceView, SpanView};
use crate::pdata::Telemetry;

/// Registry entry.
pub const FACTORY: ConnectorFactory = ConnectorFactory {
    type_name: "routing",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ConnectorConfig>, Vec<ConfigError>> {
    let config: RoutingConfig = parse_block(value)?;
    Ok(Box::new(CompiledRouting::compile(config)?))
}

/// The signal a pipeline name (`traces/acme`) is of, if its name says.
fn signal_of(pipeline: &str) -> Option<Signal> {
    Signal::parse(pipeline.split('/').next().unwrap_or(pipeline))
}

impl ConnectorConfig for CompiledRouting {
    fn supports(&self, from: Signal, to: Signal) -> bool {
        from == to
    }

    fn pipelines(&self) -> Vec<(String, String)> {
        let routes = self.routes.iter().enumerate().flat_map(|(i, route)| {
            route
                .pipelines
                .iter()
                .enumerate()
                .map(move |(j, name)| (format!("table[{i}].pipelines[{j}]"), name.clone()))
        });
        let defaults = self
            .default_pipelines
            .iter()
            .enumerate()
            .map(|(j, name)| (format!("default_pipelines[{j}]"), name.clone()));
        routes.chain(defaults).collect()
    }

    fn build(&self, ctx: &ConnectorContext<'_>) -> Result<Arc<dyn Processor>, BuildError> {
        let signal = ctx.to;
        if ctx.from != signal {
            return Err(BuildError::new(format!(
                "routing joins pipelines of one signal; it cannot take {} and emit {signal}",
                ctx.from
            )));
        }
        let outputs: Vec<(&String, &Arc<dyn Consumer>)> = ctx.outputs.iter().collect();
        // Pipeline names to indices into `outputs`, keeping only this signal's.
        let resolve = |path: String, names: &[String]| -> Result<Vec<usize>, BuildError> {
            let mut indices = Vec::new();
            for (j, name) in names.iter().enumerate() {
                match outputs.iter().position(|(n, _)| *n == name) {
                    Some(index) if indices.contains(&index) => {}
                    Some(index) => indices.push(index),
                    None if signal_of(name) == Some(signal) => {
                        return Err(BuildError::at(
                            format!("{path}[{j}]"),
                            format!("pipeline {name} does not list {} as a receiver", ctx.id),
                        ))
                    }
                    // Another signal's pipeline: its own instance of the connector sends there.
                    None => {}
                }
            }
            Ok(indices)
        };
        let mut routes = Vec::new();
        for (i, route) in self.routes.iter().enumerate() {
            let fits = match route.context {
                RouteContext::Resource => true,
                RouteContext::Span => signal == Signal::Traces,
                RouteContext::Log => signal == Signal::Logs,
                RouteContext::Metric => signal == Signal::Metrics,
                RouteContext::Datapoint | RouteContext::Request => false,
            };
            let pipelines = resolve(format!("table[{i}].pipelines"), &route.pipelines)?;
            if pipelines.is_empty() {
                continue;
            }
            if !fits {
                return Err(BuildError::at(
                    format!("table[{i}].context"),
                    format!(
                        "a {} route cannot route {signal}; use resource for every signal",
                        route.context.as_str()
                    ),
                ));
            }
            routes.push(ActiveRoute {
                per_item: route.context != RouteContext::Resource,
                condition: route.condition.clone(),
                pipelines,
            });
        }
        let default = resolve("default_pipelines".to_string(), &self.default_pipelines)?;
        let unrouted = metrics::counter!(
            format!("otelcol_connector_routing_unrouted_{}", signal.item_name()),
            "connector" => ctx.id.to_string()
        );
        Ok(Arc::new(RoutingConnector {
            id: ctx.id.to_string(),
            table: RoutingTable { routes, default },
            outputs: outputs.into_iter().map(|(_, c)| c.clone()).collect(),
            unrouted,
            drop_log: DropLog::default(),
        }))
    }
}

/// A route as one signal's instance runs it.
struct ActiveRoute {
    /// Evaluated per span, log record or metric (else per resource).
    per_item: bool,
    condition: Condition,
    /// Indices into the connector's outputs.
    pipelines: Vec<usize>,
}

/// The routes of one signal: destination `i < routes.len()` is route `i`, destination
/// `routes.len()` is the default pipelines.
struct RoutingTable {
    routes: Vec<ActiveRoute>,
    default: Vec<usize>,
}

/// What a resource's routes decide before looking at its items.
enum ResourceDecision {
    /// The whole resource goes to this destination.
    Whole(usize),
    /// Each item decides; the resource routes' results, by route index.
    PerItem(Vec<bool>),
}

impl RoutingTable {
    fn destinations(&self) -> usize {
        self.routes.len() + 1
    }

    fn pipelines_of(&self, destination: usize) -> &[usize] {
        self.routes.get(destination).map_or(&self.default, |r| &r.pipelines)
    }

    fn decide_resource(&self, resource: Option<&Resource>) -> ResourceDecision {
        let view = ResourceView { resource };
        let mut matches = Vec::with_capacity(self.routes.len());
        let mut per_item = false;
        for (i, route) in self.routes.iter().enumerate() {
            if route.per_item {
                per_item = true;
                matches.push(false);
                continue;
            }
            let matched = route.condition.eval_resource(&view);
            if matched && !per_item {
                return ResourceDecision::Whole(i);
            }
            matches.push(matched);
        }
        if per_item {
            ResourceDecision::PerItem(matches)
        } else {
            ResourceDecision::Whole(self.routes.len())
        }
    }

    /// The first route that takes an item: a resource route that matched, or an
    /// item route whose condition `eval` says holds.
    fn decide_item(&self, resource_matches: &[bool], eval: impl Fn(&Condition) -> bool) -> usize {
        self.routes
            .iter()
            .zip(resource_matches)
            .position(|(route, matched)| {
                if route.per_item {
                    eval(&route.condition)
                } else {
                    *matched
                }
            })
            .unwrap_or(self.routes.len())
    }

    /// Splits `data` by destination.
    fn partition(&self, data: Telemetry) -> Vec<Telemetry> {
        let n = self.destinations();
        match data {
            Telemetry::Traces(request) => partition_nested(
                request.resource_spans,
                n,
                NestedAccess {
                    resource: |r: &ResourceSpans| r.resource.as_ref(),
                    scopes: |r: &mut ResourceSpans| &mut r.scope_spans,
                    items: |s: &mut ScopeSpans| &mut s.spans,
                    resource_shell: |r: &ResourceSpans| ResourceSpans {
                        resource: r.resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: r.schema_url.clone(),
                    },
                    scope_shell: |s: &ScopeSpans| ScopeSpans {
                        scope: s.scope.clone(),
                        spans: Vec::new(),
                        schema_url: s.schema_url.clone(),
                    },
                },
                |resource| self.decide_resource(resource),
                |matches, r, s, span| {
                    let view = SpanView {
                        span,
                        resource: r.resource.as_ref(),
                        scope: s.scope.as_ref(),
                    };
                    self.decide_item(matches, |c| c.eval_span(&view))
                },
            )
            .into_iter()
            .map(|resource_spans| Telemetry::Traces(ExportTraceServiceRequest { resource_spans }))
            .collect(),
            Telemetry::Logs(request) => partition_nested(
                request.resource_logs,
                n,
                NestedAccess {
                    resource: |r: &ResourceLogs| r.resource.as_ref(),
                    scopes: |r: &mut ResourceLogs| &mut r.scope_logs,
                    items: |s: &mut ScopeLogs| &mut s.log_records,
                    resource_shell: |r: &ResourceLogs| ResourceLogs {
                        resource: r.resource.clone(),
                        scope_logs: Vec::new(),
                        schema_url: r.schema_url.clone(),
                    },
                    scope_shell: |s: &ScopeLogs| ScopeLogs {
                        scope: s.scope.clone(),
                        log_records: Vec::new(),
                        schema_url: s.schema_url.clone(),
                    },
                },
                |resource| self.decide_resource(resource),
                |matches, r, s, log| {
                    let view = LogView {
                        log,
                        resource: r.resource.as_ref(),
                        scope: s.scope.as_ref(),
                    };
                    self.decide_item(matches, |c| c.eval_log(&view))
                },
            )
            .into_iter()
            .map(|resource_logs| Telemetry::Logs(ExportLogsServiceRequest { resource_logs }))
            .collect(),
            Telemetry::Metrics(request) => partition_nested(
                request.resource_metrics,
                n,
                NestedAccess {
                    resource: |r: &ResourceMetrics| r.resource.as_ref(),
                    scopes: |r: &mut ResourceMetrics| &mut r.scope_metrics,
                    items: |s: &mut ScopeMetrics| &mut s.metrics,
                    resource_shell: |r: &ResourceMetrics| ResourceMetrics {
                        resource: r.resource.clone(),
                        scope_metrics: Vec::new(),
                        schema_url: r.schema_url.clone(),
                    },
                    scope_shell: |s: &ScopeMetrics| ScopeMetrics {
                        scope: s.scope.clone(),
                        metrics: Vec::new(),
                        schema_url: s.schema_url.clone(),
                    },
                },
                |resource| self.decide_resource(resource),
                |matches, r, s, metric| {
                    let view = MetricView {
                        metric,
                        resource: r.resource.as_ref(),
                        scope: s.scope.as_ref(),
                    };
                    self.decide_item(matches, |c| c.eval_metric(&view))
                },
            )
            .into_iter()
            .map(|resource_metrics| Telemetry::Metrics(ExportMetricsServiceRequest { resource_metrics }))
            .collect(),
        }
    }
}

/// How to take apart one signal's resource → scope → item tree.
struct NestedAccess<R, S, L> {
    resource: fn(&R) -> Option<&Resource>,
    scopes: fn(&mut R) -> &mut Vec<S>,
    items: fn(&mut S) -> &mut Vec<L>,
    /// A copy of a resource without its scopes.
    resource_shell: fn(&R) -> R,
    /// A copy of a scope without its items.
    scope_shell: fn(&S) -> S,
}

/// Moves each resource, or each item with copies of its resource and scope, into
/// the list of its destination. Resources and scopes left without items are not
/// kept.
fn partition_nested<R, S, L>(
    resources: Vec<R>,
    destinations: usize,
    access: NestedAccess<R, S, L>,
    by_resource: impl Fn(Option<&Resource>) -> ResourceDecision,
    by_item: impl Fn(&[bool], &R, &S, &L) -> usize,
) -> Vec<Vec<R>> {
    let mut out: Vec<Vec<R>> = (0..destinations).map(|_| Vec::new()).collect();
    for mut resource in resources {
        let matches = match by_resource((access.resource)(&resource)) {
            ResourceDecision::Whole(destination) => {
                out[destination].push(resource);
                continue;
            }
            ResourceDecision::PerItem(matches) => matches,
        };
        let mut parts: Vec<Option<R>> = (0..destinations).map(|_| None).collect();
        for mut scope in std::mem::take((access.scopes)(&mut resource)) {
            let mut scope_parts: Vec<Option<S>> = (0..destinations).map(|_| None).collect();
            for item in std::mem::take((access.items)(&mut scope)) {
                let destination = by_item(&matches, &resource, &scope, &item);
                let part = scope_parts[destination].get_or_insert_with(|| (access.scope_shell)(&scope));
                (access.items)(part).push(item);
            }
            for (destination, part) in scope_parts.into_iter().enumerate() {
                if let Some(part) = part {
                    let holder = parts[destination].get_or_insert_with(|| (access.resource_shell)(&resource));
                    (access.scopes)(holder).push(part);
                }
            }
        }
        for (destination, part) in parts.into_iter().enumerate() {
            out[destination].extend(part);
        }
    }
    out
}

/// The running connector for one signal.
pub struct RoutingConnector {
    id: String,
    table: RoutingTable,
    outputs: Vec<Arc<dyn Consumer>>,
    unrouted: Counter,
    drop_log: DropLog,
}

impl RoutingConnector {
    /// What each output pipeline gets from `data`, by index into `outputs`.
    fn route(&self, data: Telemetry) -> Vec<Option<Telemetry>> {
        let mut per_output: Vec<Option<Telemetry>> = (0..self.outputs.len()).map(|_| None).collect();
        for (destination, part) in self.table.partition(data).into_iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            let pipelines = self.table.pipelines_of(destination);
            let Some((last, rest)) = pipelines.split_last() else {
                let items = part.item_count() as u64;
                self.unrouted.increment(items);
                self.drop_log.record(items, |dropped| {
                    tracing::warn!(
                        message = "Data matched no route and there is no default pipeline for it: dropped.",
                        connector = %self.id,
                        items = dropped
                    );
                });
                continue;
            };
            for &index in rest {
                merge(&mut per_output[index], part.clone());
            }
            merge(&mut per_output[*last], part);
        }
        per_output
    }
}

/// Adds `part` to what one output gets.
fn merge(slot: &mut Option<Telemetry>, part: Telemetry) {
    match slot {
        None => *slot = Some(part),
        Some(existing) => {
            // Both come from one payload, so they are of one signal.
            if let Err(mismatched) = existing.append(part) {
                debug_assert!(false, "routing merged {} into another signal", mismatched.signal());
            }
        }
    }
}

impl Consumer for RoutingConnector {
    fn consume(&self, data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            let mut refusal = None;
            for (output, part) in self.outputs.iter().zip(self.route(data)) {
                let Some(part) = part else { continue };
                if let Err(error) = output.consume(part).await {
                    refusal = Some(super::keep_retryable(refusal, error));
                }
            }
            refusal.map_or(Ok(()), Err)
        })
    }
}

impl Lifecycle for RoutingConnector {}

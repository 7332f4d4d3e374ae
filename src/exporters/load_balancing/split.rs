//! Splits one request into one request per backend, by routing key.
//!
//! With `traceID`, spans (and log records) are split one by one by their trace ID and
//! regrouped per backend under copies of their resource and scope, so a request that
//! mixes traces still sends each trace whole to one backend. With `service`, and for
//! metrics always, whole resources move: the key is the resource's `service.name`.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::config::RoutingKey;
use crate::pdata::Telemetry;

/// `data` split by `owner(key)` (a backend index): one payload per backend, nothing
/// dropped, nothing copied twice.
pub fn split(
    data: Telemetry,
    routing: RoutingKey,
    mut owner: impl FnMut(&[u8]) -> usize,
) -> BTreeMap<usize, Telemetry> {
    match (data, routing) {
        (Telemetry::Traces(r), RoutingKey::TraceId) => split_nested(
            r.resource_spans,
            |rs| &mut rs.scope_spans,
            |ss| &mut ss.spans,
            |_, span| owner(&span.trace_id),
        )
        .into_iter()
        .map(|(i, resource_spans)| (i, Telemetry::Traces(ExportTraceServiceRequest { resource_spans })))
        .collect(),
        (Telemetry::Logs(r), RoutingKey::TraceId) => split_nested(
            r.resource_logs,
            |rl| &mut rl.scope_logs,
            |sl| &mut sl.log_records,
            // A log record outside any trace stays with its service.
            |rl, log| match log.trace_id.is_empty() {
                true => owner(service_name(&rl.resource)),
                false => owner(&log.trace_id),
            },
        )
        .into_iter()
        .map(|(i, resource_logs)| (i, Telemetry::Logs(ExportLogsServiceRequest { resource_logs })))
        .collect(),
        (Telemetry::Traces(r), RoutingKey::Service) => {
            by_resource(r.resource_spans, |rs| owner(service_name(&rs.resource)))
                .into_iter()
                .map(|(i, resource_spans)| (i, Telemetry::Traces(ExportTraceServiceRequest { resource_spans })))
                .collect()
        }
        (Telemetry::Logs(r), RoutingKey::Service) => {
            by_resource(r.resource_logs, |rl| owner(service_name(&rl.resource)))
                .into_iter()
                .map(|(i, resource_logs)| (i, Telemetry::Logs(ExportLogsServiceRequest { resource_logs })))
                .collect()
        }
        // Data points have no trace: metrics always go by service.
        (Telemetry::Metrics(r), _) => by_resource(r.resource_metrics, |rm| owner(service_name(&rm.resource)))
            .into_iter()
            .map(|(i, resource_metrics)| (i, Telemetry::Metrics(ExportMetricsServiceRequest { resource_metrics })))
            .collect(),
    }
}

/// The resource's `service.name` as bytes; empty when it has none.
pub fn service_name(resource: &Option<Resource>) -> &[u8] {
    resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_bytes()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Whole resources to their owner.
fn by_resource<R>(resources: Vec<R>, mut route: impl FnMut(&R) -> usize) -> BTreeMap<usize, Vec<R>> {
    let mut out: BTreeMap<usize, Vec<R>> = BTreeMap::new();
    for resource in resources {
        out.entry(route(&resource)).or_default().push(resource);
    }
    out
}

/// Items to their owner, each under a copy of its resource and scope (the copies are
/// made without their children, and only for owners that get an item of them).
fn split_nested<R: Clone, S: Clone, I>(
    resources: Vec<R>,
    scopes: fn(&mut R) -> &mut Vec<S>,
    items: fn(&mut S) -> &mut Vec<I>,
    mut route: impl FnMut(&R, &I) -> usize,
) -> BTreeMap<usize, Vec<R>> {
    let mut out: BTreeMap<usize, Vec<R>> = BTreeMap::new();
    for mut resource in resources {
        let taken_scopes = std::mem::take(scopes(&mut resource));
        let mut per_owner: BTreeMap<usize, R> = BTreeMap::new();
        for mut scope in taken_scopes {
            let taken_items = std::mem::take(items(&mut scope));
            let mut scope_per_owner: BTreeMap<usize, S> = BTreeMap::new();
            for item in taken_items {
                let owner = route(&resource, &item);
                items(scope_per_owner.entry(owner).or_insert_with(|| scope.clone())).push(item);
            }
            for (owner, scope) in scope_per_owner {
                scopes(per_owner.entry(owner).or_insert_with(|| resource.clone())).push(scope);
            }
        }
        for (owner, resource) in per_owner {
            out.entry(owner).or_default().push(resource);
        }
    }
    out
}

//! Pipeline data: telemetry stays in the opentelemetry-proto (prost) types end to end.
//! This module counts, merges and splits those messages; nothing converts them to an
//! intermediate model.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{metric, Metric};
use prost::Message;

mod batch;
pub mod client;
mod encoded;
pub mod sampling;
mod signal;

pub use batch::ExportBatch;
pub use client::ClientInfo;
pub use encoded::Encoded;
pub use signal::Signal;

/// One request's worth of one signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Telemetry {
    /// Spans.
    Traces(ExportTraceServiceRequest),
    /// Metric data points.
    Metrics(ExportMetricsServiceRequest),
    /// Log records.
    Logs(ExportLogsServiceRequest),
}

impl Telemetry {
    /// An empty payload of `signal`.
    pub fn empty(signal: Signal) -> Self {
        match signal {
            Signal::Traces => Telemetry::Traces(Default::default()),
            Signal::Metrics => Telemetry::Metrics(Default::default()),
            Signal::Logs => Telemetry::Logs(Default::default()),
        }
    }

    /// Which signal this is.
    pub fn signal(&self) -> Signal {
        match self {
            Telemetry::Traces(_) => Signal::Traces,
            Telemetry::Metrics(_) => Signal::Metrics,
            Telemetry::Logs(_) => Signal::Logs,
        }
    }

    /// Spans, metric data points or log records in the payload.
    pub fn item_count(&self) -> usize {
        match self {
            Telemetry::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
            Telemetry::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(data_point_count)
                .sum(),
            Telemetry::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum(),
        }
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        match self {
            Telemetry::Traces(r) => r.resource_spans.is_empty(),
            Telemetry::Metrics(r) => r.resource_metrics.is_empty(),
            Telemetry::Logs(r) => r.resource_logs.is_empty(),
        }
    }

    /// Appends `other`'s resources. Payloads of different signals are a programming
    /// error; the mismatched payload is returned so nothing is silently lost.
    pub fn append(&mut self, other: Telemetry) -> Result<(), Telemetry> {
        match (self, other) {
            (Telemetry::Traces(a), Telemetry::Traces(b)) => a.resource_spans.extend(b.resource_spans),
            (Telemetry::Metrics(a), Telemetry::Metrics(b)) => a.resource_metrics.extend(b.resource_metrics),
            (Telemetry::Logs(a), Telemetry::Logs(b)) => a.resource_logs.extend(b.resource_logs),
            (_, other) => return Err(other),
        }
        Ok(())
    }

    /// Removes and returns the first `n` items (at most), keeping each item's resource
    /// and scope. Resources and scopes cut in two appear in both halves.
    pub fn split_front(&mut self, n: usize) -> Telemetry {
        match self {
            Telemetry::Traces(r) => Telemetry::Traces(ExportTraceServiceRequest {
                resource_spans: split_nested(
                    &mut r.resource_spans,
                    n,
                    |rs| &mut rs.scope_spans,
                    |ss| &mut ss.spans,
                    |_| 1,
                ),
            }),
            Telemetry::Logs(r) => Telemetry::Logs(ExportLogsServiceRequest {
                resource_logs: split_nested(
                    &mut r.resource_logs,
                    n,
                    |rl| &mut rl.scope_logs,
                    |sl| &mut sl.log_records,
                    |_| 1,
                ),
            }),
            Telemetry::Metrics(r) => Telemetry::Metrics(ExportMetricsServiceRequest {
                resource_metrics: split_nested(
                    &mut r.resource_metrics,
                    n,
                    |rm| &mut rm.scope_metrics,
                    |sm| &mut sm.metrics,
                    data_point_count,
                ),
            }),
        }
    }

    /// Decodes an Export*ServiceRequest of `signal` from its protobuf encoding.
    pub fn decode_protobuf(signal: Signal, bytes: &[u8]) -> Result<Self, prost::DecodeError> {
        Ok(match signal {
            Signal::Traces => Telemetry::Traces(ExportTraceServiceRequest::decode(bytes)?),
            Signal::Metrics => Telemetry::Metrics(ExportMetricsServiceRequest::decode(bytes)?),
            Signal::Logs => Telemetry::Logs(ExportLogsServiceRequest::decode(bytes)?),
        })
    }

    /// The protobuf encoding of the Export*ServiceRequest.
    pub fn encode_protobuf(&self) -> Vec<u8> {
        match self {
            Telemetry::Traces(r) => r.encode_to_vec(),
            Telemetry::Metrics(r) => r.encode_to_vec(),
            Telemetry::Logs(r) => r.encode_to_vec(),
        }
    }

    /// The OTLP/JSON encoding of the Export*ServiceRequest.
    pub fn encode_json(&self) -> Vec<u8> {
        let result = match self {
            Telemetry::Traces(r) => serde_json::to_vec(r),
            Telemetry::Metrics(r) => serde_json::to_vec(r),
            Telemetry::Logs(r) => serde_json::to_vec(r),
        };
        // Serializing prost structs to a Vec cannot fail: no maps with non-string
        // keys, no I/O. Fall back to an empty object rather than panic regardless.
        result.unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// Data points in one metric (a metric with no data counts as zero).
pub fn data_point_count(metric: &Metric) -> usize {
    match &metric.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Calls `f` with the attributes of every data point of `metric`.
pub fn for_each_data_point(
    metric: &mut Metric,
    mut f: impl FnMut(&mut Vec<opentelemetry_proto::tonic::common::v1::KeyValue>),
) {
    match metric.data.as_mut() {
        None => {}
        Some(metric::Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(metric::Data::Sum(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(metric::Data::Histogram(h)) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
        Some(metric::Data::Summary(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
    }
}

/// Moves the first `n` data points of a metric into a new metric with the same
/// name, unit and type; the original keeps the rest.
fn split_metric(metric: &mut Metric, n: usize) -> Metric {
    /// Works on any data holder (gauge, sum, histogram, ...): they all keep their
    /// points in `data_points`. The holder is cloned only while its points are out.
    macro_rules! split_points {
        ($holder:expr) => {{
            let holder = $holder;
            let mut front_points = std::mem::take(&mut holder.data_points);
            let rest = front_points.split_off(n.min(front_points.len()));
            let mut front = holder.clone();
            front.data_points = front_points;
            holder.data_points = rest;
            front
        }};
    }
    let data = match &mut metric.data {
        Some(metric::Data::Gauge(d)) => Some(metric::Data::Gauge(split_points!(d))),
        Some(metric::Data::Sum(d)) => Some(metric::Data::Sum(split_points!(d))),
        Some(metric::Data::Histogram(d)) => Some(metric::Data::Histogram(split_points!(d))),
        Some(metric::Data::ExponentialHistogram(d)) => Some(metric::Data::ExponentialHistogram(split_points!(d))),
        Some(metric::Data::Summary(d)) => Some(metric::Data::Summary(split_points!(d))),
        None => None,
    };
    Metric {
        name: metric.name.clone(),
        description: metric.description.clone(),
        unit: metric.unit.clone(),
        metadata: metric.metadata.clone(),
        data,
    }
}

/// Removes the first `n` leaf items from a resource -> scope -> item tree, counting
/// each leaf with `weight` (1 for spans and logs, data points for metrics). Metrics
/// are split inside when a single metric holds more points than fit.
fn split_nested<R, S, L>(
    resources: &mut Vec<R>,
    n: usize,
    scopes_of: impl Fn(&mut R) -> &mut Vec<S>,
    leaves_of: impl Fn(&mut S) -> &mut Vec<L>,
    weight: impl Fn(&L) -> usize,
) -> Vec<R>
where
    R: CloneWithout,
    S: CloneWithout,
    L: SplitLeaf,
{
    let mut front = Vec::new();
    let mut remaining = n;
    while remaining > 0 && !resources.is_empty() {
        let resource = &mut resources[0];
        let total: usize = scopes_of(resource)
            .iter_mut()
            .map(|s| leaves_of(s).iter().map(&weight).sum::<usize>())
            .sum();
        if total <= remaining {
            remaining -= total;
            front.push(resources.remove(0));
            continue;
        }
        // This resource is cut: move whole scopes, then part of one scope.
        let mut front_resource = resource.clone_without_children();
        let front_scopes = scopes_of(&mut front_resource);
        let scopes = scopes_of(resource);
        while remaining > 0 && !scopes.is_empty() {
            let scope_total: usize = leaves_of(&mut scopes[0]).iter().map(&weight).sum();
            if scope_total <= remaining {
                remaining -= scope_total;
                front_scopes.push(scopes.remove(0));
                continue;
            }
            let mut front_scope = scopes[0].clone_without_children();
            let front_leaves = leaves_of(&mut front_scope);
            let leaves = leaves_of(&mut scopes[0]);
            while remaining > 0 && !leaves.is_empty() {
                let w = weight(&leaves[0]);
                if w <= remaining {
                    remaining -= w;
                    front_leaves.push(leaves.remove(0));
                } else {
                    front_leaves.push(leaves[0].split_front(remaining));
                    remaining = 0;
                }
            }
            front_scopes.push(front_scope);
        }
        front.push(front_resource);
    }
    front
}

/// A resource or scope container that can be copied without its children.
trait CloneWithout {
    fn clone_without_children(&self) -> Self;
}

/// A leaf that can be split (metrics by data points); spans and logs never are.
trait SplitLeaf: Sized {
    fn split_front(&mut self, n: usize) -> Self;
}

/// Implements [`CloneWithout`]: `$children` is left empty, `$field`s are cloned.
macro_rules! clone_without {
    ($ty:ty, $children:ident, [$($field:ident),*]) => {
        impl CloneWithout for $ty {
            fn clone_without_children(&self) -> Self {
                Self { $children: Vec::new(), $($field: self.$field.clone()),* }
            }
        }
    };
}

use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

clone_without!(ResourceSpans, scope_spans, [resource, schema_url]);
clone_without!(ScopeSpans, spans, [scope, schema_url]);
clone_without!(ResourceLogs, scope_logs, [resource, schema_url]);
clone_without!(ScopeLogs, log_records, [scope, schema_url]);
clone_without!(ResourceMetrics, scope_metrics, [resource, schema_url]);
clone_without!(ScopeMetrics, metrics, [scope, schema_url]);

impl SplitLeaf for Span {
    fn split_front(&mut self, _n: usize) -> Self {
        // Weight is always 1, so a span is never cut.
        std::mem::take(self)
    }
}

impl SplitLeaf for LogRecord {
    fn split_front(&mut self, _n: usize) -> Self {
        std::mem::take(self)
    }
}

impl SplitLeaf for Metric {
    fn split_front(&mut self, n: usize) -> Self {
        split_metric(self, n)
    }
}

#[cfg(test)]
mod tests;

//! `filter` — drops telemetry that matches conditions, like the Collector's
//! filterprocessor in its OTTL form. An item is dropped when **any** of its
//! conditions is true; resources and scopes left empty are removed, and a payload
//! left empty is not sent on at all.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! | section | context | dropping |
//! |---|---|---|
//! | `traces.span` | [spans](crate::ottl::Context::Span) | the span, with its events |
//! | `traces.spanevent` | [span events](crate::ottl::Context::SpanEvent) | the event; its span stays |
//! | `metrics.metric` | [metrics](crate::ottl::Context::Metric) | the metric with all its points |
//! | `metrics.datapoint` | [data points](crate::ottl::Context::DataPoint) | the point; a metric left without points goes too |
//! | `logs.log_record` | [log records](crate::ottl::Context::Log) | the record |
//!
//! Conditions use the [condition language](crate::ottl) and are compiled when the
//! config is loaded: a mistake fails `sloop validate` at its file, line and column.
//! As in the Collector, one filter can hold sections for several signals and run in
//! pipelines of any signal; sections for other signals are ignored (a filter with
//! only `traces` in a metrics pipeline passes everything through).
//!
//! `error_mode` is accepted for compatibility: conditions cannot fail when evaluated
//! here (a comparison of mismatched types is false), so the modes behave the same.
//!
//! Self-metrics: `otelcol_processor_filter_spans_filtered`,
//! `otelcol_processor_filter_datapoints_filtered` and
//! `otelcol_processor_filter_logs_filtered`, labelled `filter` = processor id. Data
//! points of a dropped metric count as filtered data points.

mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use metrics::Counter;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

pub use config::{CompiledFilter, ErrorMode, FilterConfig, LogsConditions, MetricsConditions, TracesConditions};

use crate::component::registry::ProcessorFactory;
use crate::component::{
    BoxFuture, BuildError, ConsumeError, Consumer, Lifecycle, Processor, ProcessorConfig, ProcessorContext, Signal,
};
use crate::confmap::{parse_block, ConfigError, RawValue};
use crate::ottl::{DataPoint, DataPointView, LogView, MetricView, SpanEventView, SpanView};
use crate::pdata::{data_point_count, Telemetry};

/// Registry entry.
pub const FACTORY: ProcessorFactory = ProcessorFactory {
    type_name: "filter",
    aliases: &[],
    signals: &[Signal::Traces, Signal::Metrics, Signal::Logs],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ProcessorConfig>, Vec<ConfigError>> {
    let config: FilterConfig = parse_block(value)?;
    Ok(Box::new(CompiledFilter::compile(&config)?))
}

impl ProcessorConfig for CompiledFilter {
    fn build(&self, ctx: &ProcessorContext<'_>, next: Arc<dyn Consumer>) -> Result<Arc<dyn Processor>, BuildError> {
        let label = ctx.id.to_string();
        Ok(Arc::new(FilterProcessor {
            filter: self.clone(),
            next,
            spans_filtered: metrics::counter!("otelcol_processor_filter_spans_filtered", "filter" => label.clone()),
            datapoints_filtered: metrics::counter!(
                "otelcol_processor_filter_datapoints_filtered",
                "filter" => label.clone()
            ),
            logs_filtered: metrics::counter!("otelcol_processor_filter_logs_filtered", "filter" => label),
        }))
    }
}

/// The running processor.
pub struct FilterProcessor {
    filter: CompiledFilter,
    next: Arc<dyn Consumer>,
    spans_filtered: Counter,
    datapoints_filtered: Counter,
    logs_filtered: Counter,
}

/// What one pass dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Spans (span events are not counted).
    pub spans: usize,
    /// Data points, including those of dropped metrics.
    pub data_points: usize,
    /// Log records.
    pub logs: usize,
}

impl CompiledFilter {
    /// Drops every matching item from `data` in place and removes the containers left
    /// empty. A signal without conditions is left untouched.
    pub fn apply(&self, data: &mut Telemetry) -> Dropped {
        let mut dropped = Dropped::default();
        match data {
            Telemetry::Traces(request) => {
                if self.span.is_empty() && self.span_event.is_empty() {
                    return dropped;
                }
                request.resource_spans.retain_mut(|rs| {
                    let resource = rs.resource.as_ref();
                    rs.scope_spans.retain_mut(|ss| {
                        let scope = ss.scope.as_ref();
                        let before = ss.spans.len();
                        ss.spans.retain_mut(|span| {
                            let view = SpanView {
                                span: &*span,
                                resource,
                                scope,
                            };
                            if self.span.iter().any(|c| c.eval_span(&view)) {
                                return false;
                            }
                            if !self.span_event.is_empty() && !span.events.is_empty() {
                                // The events are moved out so conditions can read the span.
                                let mut events = std::mem::take(&mut span.events);
                                let owner = &*span;
                                events.retain(|event| {
                                    let view = SpanEventView {
                                        event,
                                        span: owner,
                                        resource,
                                        scope,
                                    };
                                    !self.span_event.iter().any(|c| c.eval_span_event(&view))
                                });
                                span.events = events;
                            }
                            true
                        });
                        dropped.spans += before - ss.spans.len();
                        !ss.spans.is_empty()
                    });
                    !rs.scope_spans.is_empty()
                });
            }
            Telemetry::Metrics(request) => {
                if self.metric.is_empty() && self.data_point.is_empty() {
                    return dropped;
                }
                request.resource_metrics.retain_mut(|rm| {
                    let resource = rm.resource.as_ref();
                    rm.scope_metrics.retain_mut(|sm| {
                        let scope = sm.scope.as_ref();
                        sm.metrics.retain_mut(|metric| {
                            let view = MetricView {
                                metric: &*metric,
                                resource,
                                scope,
                            };
                            if self.metric.iter().any(|c| c.eval_metric(&view)) {
                                dropped.data_points += data_point_count(metric);
                                return false;
                            }
                            if self.data_point.is_empty() {
                                return true;
                            }
                            dropped.data_points += self.filter_points(metric, resource, scope);
                            data_point_count(metric) > 0
                        });
                        !sm.metrics.is_empty()
                    });
                    !rm.scope_metrics.is_empty()
                });
            }
            Telemetry::Logs(request) => {
                if self.log_record.is_empty() {
                    return dropped;
                }
                request.resource_logs.retain_mut(|rl| {
                    let resource = rl.resource.as_ref();
                    rl.scope_logs.retain_mut(|sl| {
                        let scope = sl.scope.as_ref();
                        let before = sl.log_records.len();
                        sl.log_records.retain(|log| {
                            let view = LogView { log, resource, scope };
                            !self.log_record.iter().any(|c| c.eval_log(&view))
                        });
                        dropped.logs += before - sl.log_records.len();
                        !sl.log_records.is_empty()
                    });
                    !rl.scope_logs.is_empty()
                });
            }
        }
        dropped
    }

    /// Drops the matching data points of one metric; returns how many.
    fn filter_points(
        &self,
        metric: &mut Metric,
        resource: Option<&Resource>,
        scope: Option<&InstrumentationScope>,
    ) -> usize {
        // The points are moved out so conditions can read the metric (`metric.name`,
        // `metric.type`) while they run; the data keeps its variant meanwhile.
        let mut points = match metric.data.as_mut() {
            None => return 0,
            Some(metric::Data::Gauge(d)) => Points::Number(std::mem::take(&mut d.data_points)),
            Some(metric::Data::Sum(d)) => Points::Number(std::mem::take(&mut d.data_points)),
            Some(metric::Data::Histogram(d)) => Points::Histogram(std::mem::take(&mut d.data_points)),
            Some(metric::Data::ExponentialHistogram(d)) => {
                Points::ExponentialHistogram(std::mem::take(&mut d.data_points))
            }
            Some(metric::Data::Summary(d)) => Points::Summary(std::mem::take(&mut d.data_points)),
        };
        let owner = &*metric;
        let drop = |point: DataPoint<'_>| {
            let view = DataPointView {
                point,
                metric: owner,
                resource,
                scope,
            };
            self.data_point.iter().any(|c| c.eval_data_point(&view))
        };
        let removed = match &mut points {
            Points::Number(v) => retain_counting(v, |p| !drop(DataPoint::Number(p))),
            Points::Histogram(v) => retain_counting(v, |p| !drop(DataPoint::Histogram(p))),
            Points::ExponentialHistogram(v) => retain_counting(v, |p| !drop(DataPoint::ExponentialHistogram(p))),
            Points::Summary(v) => retain_counting(v, |p| !drop(DataPoint::Summary(p))),
        };
        match (metric.data.as_mut(), points) {
            (Some(metric::Data::Gauge(d)), Points::Number(v)) => d.data_points = v,
            (Some(metric::Data::Sum(d)), Points::Number(v)) => d.data_points = v,
            (Some(metric::Data::Histogram(d)), Points::Histogram(v)) => d.data_points = v,
            (Some(metric::Data::ExponentialHistogram(d)), Points::ExponentialHistogram(v)) => d.data_points = v,
            (Some(metric::Data::Summary(d)), Points::Summary(v)) => d.data_points = v,
            // The variant was read just above; nothing changes it in between.
            _ => {}
        }
        removed
    }
}

/// The points of one metric, moved out while they are filtered.
enum Points {
    Number(Vec<NumberDataPoint>),
    Histogram(Vec<HistogramDataPoint>),
    ExponentialHistogram(Vec<ExponentialHistogramDataPoint>),
    Summary(Vec<SummaryDataPoint>),
}

fn retain_counting<T>(items: &mut Vec<T>, keep: impl FnMut(&T) -> bool) -> usize {
    let before = items.len();
    items.retain(keep);
    before - items.len()
}

impl Consumer for FilterProcessor {
    fn consume(&self, mut data: Telemetry) -> BoxFuture<'_, Result<(), ConsumeError>> {
        Box::pin(async move {
            let dropped = self.filter.apply(&mut data);
            self.spans_filtered.increment(dropped.spans as u64);
            self.datapoints_filtered.increment(dropped.data_points as u64);
            self.logs_filtered.increment(dropped.logs as u64);
            if data.is_empty() {
                // As the Collector: nothing left, nothing sent.
                return Ok(());
            }
            self.next.consume(data).await
        })
    }
}

impl Lifecycle for FilterProcessor {}

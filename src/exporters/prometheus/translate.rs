//! OTLP metrics to Prometheus series, by the Collector's translation rules (its
//! `pkg/translator/prometheus` and the OpenTelemetry specification's Prometheus
//! compatibility section). Shared by the `prometheus` exporter, which serves the
//! series on a scrape page, and `prometheus_remote_write`, which pushes them.
//!
//! - **Names**: the metric name is split into words at every character Prometheus does
//!   not allow (and at `_`), the unit is appended as a word (`s` → `seconds`, `By` →
//!   `bytes`, `m/s` → `meters_per_second`; units in braces such as `{event}` are
//!   dropped, and a word already in the name is not repeated), then `total` for
//!   monotonic sums and `ratio` for gauges of unit `1`; the words are joined with `_`,
//!   `namespace` goes in front, and a leading digit gets a `_`. With
//!   `add_metric_suffixes: false` only the invalid characters become `_`.
//! - **Labels**: data point attributes, with every invalid character replaced by `_`,
//!   `key_` before a leading digit and `key` before a single leading `_`; attributes
//!   that end up with the same label name have their values joined with `;`. `job` is
//!   `service.namespace/service.name` (or `service.name`), `instance` is
//!   `service.instance.id`. The scope's name and version become `otel_scope_name` and
//!   `otel_scope_version` unless scope info is off. Labels with empty values are left
//!   out, as Prometheus treats them as absent.
//! - **Types**: gauges and non-monotonic cumulative sums are gauges; monotonic sums are
//!   counters; histograms give `_bucket{le=...}` (cumulative, ending with `+Inf`),
//!   `_sum` and `_count`; summaries give `{quantile=...}`, `_sum` and `_count`. Delta
//!   monotonic sums and delta histograms are marked [`Series::delta`] (the scrape
//!   exporter adds them up; remote write drops them, as the Collector's does);
//!   non-monotonic delta sums and exponential histograms are dropped and counted.
//! - **`target_info`**: one gauge of value 1 per resource that has attributes other
//!   than `service.name`, `service.namespace` and `service.instance.id`; those
//!   attributes are its labels, with `job` and `instance`.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar as OtlpExemplar, Metric, NumberDataPoint,
};

/// Label names and values, sorted by name, without `__name__`.
pub type Labels = Vec<(String, String)>;

/// How metrics are named and labelled: the keys both exporters share.
#[derive(Debug, Clone, Default)]
pub struct Translation {
    /// Prefix of every metric name (`namespace`), without the joining `_`.
    pub namespace: Option<String>,
    /// Unit and type suffixes (`add_metric_suffixes`, default true).
    pub add_metric_suffixes: bool,
    /// Every resource attribute becomes a label
    /// (`resource_to_telemetry_conversion.enabled`).
    pub resource_to_telemetry: bool,
    /// No `otel_scope_name`/`otel_scope_version` labels.
    pub without_scope_info: bool,
    /// Whether to emit `target_info`.
    pub target_info: bool,
    /// Labels added to every series, overriding any of the same name
    /// (`const_labels`, `external_labels`); already sanitized.
    pub extra_labels: Labels,
}

/// The Prometheus metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic sum.
    Counter,
    /// Gauge or non-monotonic sum.
    Gauge,
    /// Explicit-bucket histogram.
    Histogram,
    /// Summary.
    Summary,
}

impl Kind {
    /// The name in a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// One series (one data point) of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The family name: a histogram's samples append `_bucket`, `_sum`, `_count`.
    pub name: String,
    /// The family type.
    pub kind: Kind,
    /// The metric's description.
    pub help: String,
    /// The labels.
    pub labels: Labels,
    /// The value.
    pub value: Value,
    /// A delta point: to be added to what came before, not to replace it.
    pub delta: bool,
    /// The point's start time in Unix milliseconds (0: none).
    pub start_ms: i64,
    /// The point's time in Unix milliseconds.
    pub time_ms: i64,
    /// Exemplars (trace links) of counters and histograms.
    pub exemplars: Vec<Exemplar>,
}

/// A point's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A gauge's or counter's value.
    Number(f64),
    /// A histogram.
    Histogram(Histogram),
    /// A summary.
    Summary(Summary),
}

/// An explicit-bucket histogram point.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Observations.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Upper bounds, ascending, without `+Inf`.
    pub bounds: Vec<f64>,
    /// Observations per bucket (not cumulative), one more than `bounds`.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// `(le, cumulative count)` per bucket, ending with `+Inf` and the total count.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let mut running = 0u64;
        self.bounds
            .iter()
            .enumerate()
            .map(move |(i, &bound)| {
                running = running.saturating_add(self.counts.get(i).copied().unwrap_or(0));
                (bound, running)
            })
            .chain(std::iter::once((f64::INFINITY, self.count)))
    }
}

/// A summary point.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Observations.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// `(quantile, value)` pairs.
    pub quantiles: Vec<(f64, f64)>,
}

/// A link from a sample to a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The observed value.
    pub value: f64,
    /// When, in Unix milliseconds (0: unknown).
    pub time_ms: i64,
    /// The trace id, hex (empty: none).
    pub trace_id: String,
    /// The span id, hex (empty: none).
    pub span_id: String,
}

/// Points left out, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Non-monotonic sums with delta temporality: no Prometheus type fits them.
    pub delta_gauges: u64,
    /// Exponential histograms (native histograms are not produced).
    pub exponential_histograms: u64,
    /// Metrics without data, or with an unspecified temporality.
    pub invalid: u64,
}

impl Dropped {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.delta_gauges + self.exponential_histograms + self.invalid
    }
}

impl Translation {
    /// Every series of `request`, `target_info` included, handed to `emit` in order.
    pub fn translate(&self, request: &ExportMetricsServiceRequest, mut emit: impl FnMut(Series)) -> Dropped {
        let mut dropped = Dropped::default();
        for resource_metrics in &request.resource_metrics {
            let resource: &[KeyValue] = resource_metrics
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default();
            let identity = identity_labels(resource);
            let mut latest_ms = 0i64;
            for scope_metrics in &resource_metrics.scope_metrics {
                let mut scope_labels = Vec::new();
                if let (false, Some(scope)) = (self.without_scope_info, &scope_metrics.scope) {
                    scope_labels.push(("otel_scope_name".to_string(), scope.name.clone()));
                    scope_labels.push(("otel_scope_version".to_string(), scope.version.clone()));
                }
                let context = PointContext {
                    resource: if self.resource_to_telemetry { resource } else { &[] },
                    scope: &scope_labels,
                    identity: &identity,
                };
                for metric in &scope_metrics.metrics {
                    self.translate_metric(metric, &context, &mut dropped, &mut |series: Series| {
                        latest_ms = latest_ms.max(series.time_ms);
                        emit(series)
                    });
                }
            }
            if self.target_info {
                if let Some(series) = self.target_info_series(resource, &identity, latest_ms) {
                    emit(series);
                }
            }
        }
        dropped
    }

    fn translate_metric(
        &self,
        metric: &Metric,
        context: &PointContext<'_>,
        dropped: &mut Dropped,
        emit: &mut dyn FnMut(Series),
    ) {
        let series =
            |kind: Kind, labels: Labels, value: Value, delta: bool, times: (u64, u64), exemplars: &[OtlpExemplar]| {
                Series {
                    name: self.metric_name(&metric.name, &metric.unit, kind),
                    kind,
                    help: metric.description.clone(),
                    labels,
                    value,
                    delta,
                    start_ms: unix_ms(times.0),
                    time_ms: unix_ms(times.1),
                    exemplars: exemplars.iter().map(exemplar).collect(),
                }
            };
        let labels = |attributes: &[KeyValue]| self.labels(context, attributes);
        match &metric.data {
            None => dropped.invalid += 1,
            Some(metric::Data::Gauge(gauge)) => {
                for point in &gauge.data_points {
                    emit(series(
                        Kind::Gauge,
                        labels(&point.attributes),
                        Value::Number(number(point)),
                        false,
                        (point.start_time_unix_nano, point.time_unix_nano),
                        &[],
                    ));
                }
            }
            Some(metric::Data::Sum(sum)) => {
                let delta = match AggregationTemporality::try_from(sum.aggregation_temporality) {
                    Ok(AggregationTemporality::Cumulative) => false,
                    Ok(AggregationTemporality::Delta) => true,
                    _ => {
                        dropped.invalid += sum.data_points.len() as u64;
                        return;
                    }
                };
                if delta && !sum.is_monotonic {
                    dropped.delta_gauges += sum.data_points.len() as u64;
                    return;
                }
                let kind = if sum.is_monotonic { Kind::Counter } else { Kind::Gauge };
                for point in &sum.data_points {
                    let exemplars = if kind == Kind::Counter {
                        &point.exemplars[..]
                    } else {
                        &[]
                    };
                    emit(series(
                        kind,
                        labels(&point.attributes),
                        Value::Number(number(point)),
                        delta,
                        (point.start_time_unix_nano, point.time_unix_nano),
                        exemplars,
                    ));
                }
            }
            Some(metric::Data::Histogram(histogram)) => {
                let delta = match AggregationTemporality::try_from(histogram.aggregation_temporality) {
                    Ok(AggregationTemporality::Cumulative) => false,
                    Ok(AggregationTemporality::Delta) => true,
                    _ => {
                        dropped.invalid += histogram.data_points.len() as u64;
                        return;
                    }
                };
                for point in &histogram.data_points {
                    // Buckets must be one more than the bounds; without buckets the
                    // point still has a count and sum (the `+Inf` bucket).
                    let (bounds, counts) = if point.bucket_counts.len() == point.explicit_bounds.len() + 1 {
                        (point.explicit_bounds.clone(), point.bucket_counts.clone())
                    } else {
                        (Vec::new(), vec![point.count])
                    };
                    let value = Value::Histogram(Histogram {
                        count: point.count,
                        sum: point.sum.unwrap_or(0.0),
                        bounds,
                        counts,
                    });
                    emit(series(
                        Kind::Histogram,
                        labels(&point.attributes),
                        value,
                        delta,
                        (point.start_time_unix_nano, point.time_unix_nano),
                        &point.exemplars,
                    ));
                }
            }
            Some(metric::Data::Summary(summary)) => {
                for point in &summary.data_points {
                    let value = Value::Summary(Summary {
                        count: point.count,
                        sum: point.sum,
                        quantiles: point.quantile_values.iter().map(|q| (q.quantile, q.value)).collect(),
                    });
                    emit(series(
                        Kind::Summary,
                        labels(&point.attributes),
                        value,
                        false,
                        (point.start_time_unix_nano, point.time_unix_nano),
                        &[],
                    ));
                }
            }
            Some(metric::Data::ExponentialHistogram(histogram)) => {
                dropped.exponential_histograms += histogram.data_points.len() as u64;
            }
        }
    }

    /// The family name of a metric (see the module docs).
    pub fn metric_name(&self, name: &str, unit: &str, kind: Kind) -> String {
        if !self.add_metric_suffixes {
            let name = sanitize_name(name);
            return match &self.namespace {
                Some(namespace) if !namespace.is_empty() => sanitize_name(&format!("{namespace}_{name}")),
                _ => name,
            };
        }
        let mut words: Vec<String> = name
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let (main_unit, per_unit) = match unit.split_once('/') {
            Some((main, per)) => (main.trim(), Some(per.trim())),
            None => (unit.trim(), None),
        };
        if !main_unit.is_empty() && !main_unit.contains(['{', '}']) {
            let unit = clean_unit(unit_word(main_unit));
            if !unit.is_empty() && !words.contains(&unit) {
                words.push(unit);
            }
        }
        if let Some(per) = per_unit.filter(|p| !p.is_empty() && !p.contains(['{', '}'])) {
            let per = clean_unit(per_unit_word(per));
            if !per.is_empty() {
                let per = format!("per_{per}");
                if !words.contains(&per) {
                    words.push(per);
                }
            }
        }
        if kind == Kind::Counter {
            words.retain(|w| w != "total");
            words.push("total".into());
        }
        if unit == "1" && kind == Kind::Gauge {
            words.retain(|w| w != "ratio");
            words.push("ratio".into());
        }
        if let Some(namespace) = self.namespace.as_deref().filter(|n| !n.is_empty()) {
            words.insert(0, sanitize_name(namespace));
        }
        let joined = words.join("_");
        if joined.starts_with(|c: char| c.is_ascii_digit()) {
            format!("_{joined}")
        } else {
            joined
        }
    }

    /// A point's labels: resource attributes (with resource_to_telemetry), scope,
    /// point attributes, `job`/`instance`, then the extra labels.
    fn labels(&self, context: &PointContext<'_>, attributes: &[KeyValue]) -> Labels {
        let mut labels = attribute_labels(context.resource.iter().filter(|kv| {
            // A point attribute of the same key wins over the resource's.
            !attributes.iter().any(|a| a.key == kv.key)
        }));
        for (name, value) in attribute_labels(attributes.iter()) {
            labels.insert(name, value);
        }
        for (name, value) in context.scope.iter().chain(context.identity).chain(&self.extra_labels) {
            labels.insert(name.clone(), value.clone());
        }
        labels.into_iter().filter(|(_, v)| !v.is_empty()).collect()
    }

    fn target_info_series(&self, resource: &[KeyValue], identity: &Labels, time_ms: i64) -> Option<Series> {
        let rest: Vec<&KeyValue> = resource
            .iter()
            .filter(|kv| !matches!(kv.key.as_str(), SERVICE_NAME | SERVICE_NAMESPACE | SERVICE_INSTANCE_ID))
            .collect();
        if rest.is_empty() {
            return None;
        }
        let mut labels = attribute_labels(rest.into_iter());
        for (name, value) in identity.iter().chain(&self.extra_labels) {
            labels.insert(name.clone(), value.clone());
        }
        let name = match self.namespace.as_deref().filter(|n| !n.is_empty()) {
            Some(namespace) => format!("{}_target_info", sanitize_name(namespace)),
            None => "target_info".into(),
        };
        Some(Series {
            name,
            kind: Kind::Gauge,
            help: "Target metadata".into(),
            labels: labels.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            value: Value::Number(1.0),
            delta: false,
            start_ms: 0,
            time_ms,
            exemplars: Vec::new(),
        })
    }
}

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// What the points of one scope share.
struct PointContext<'a> {
    /// Resource attributes to turn into labels (empty without resource_to_telemetry).
    resource: &'a [KeyValue],
    scope: &'a Labels,
    /// `job` and `instance`.
    identity: &'a Labels,
}

/// `job` and `instance` from the resource's service attributes.
fn identity_labels(resource: &[KeyValue]) -> Labels {
    let get = |key: &str| {
        resource
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| attribute_string(kv.value.as_ref()))
            .filter(|v| !v.is_empty())
    };
    let mut labels = Vec::new();
    if let Some(instance) = get(SERVICE_INSTANCE_ID) {
        labels.push(("instance".to_string(), instance));
    }
    if let Some(name) = get(SERVICE_NAME) {
        let job = match get(SERVICE_NAMESPACE) {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name,
        };
        labels.push(("job".to_string(), job));
    }
    labels
}

/// Attributes as sanitized labels; values of attributes whose names collide are
/// joined with `;`, in the order of their original keys.
fn attribute_labels<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> BTreeMap<String, String> {
    let mut sorted: Vec<&KeyValue> = attributes.collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for kv in sorted {
        let name = sanitize_label(&kv.key);
        if name.is_empty() {
            continue;
        }
        let value = attribute_string(kv.value.as_ref());
        labels
            .entry(name)
            .and_modify(|existing| {
                existing.push(';');
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    labels
}

/// A label name Prometheus accepts: invalid characters become `_`, a leading digit
/// gets `key_`, a single leading `_` gets `key`.
pub fn sanitize_label(name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if clean.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{clean}")
    } else if clean.starts_with('_') && !clean.starts_with("__") {
        format!("key{clean}")
    } else {
        clean
    }
}

/// A metric name Prometheus accepts: invalid characters become `_`, a leading digit
/// gets `_`.
fn sanitize_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{clean}")
    } else {
        clean
    }
}

/// The word for a unit (UCUM, as OpenTelemetry writes them), or the unit itself.
fn unit_word(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

/// The word for the unit after `/`.
fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

/// A unit word with every run of invalid characters as one `_`, trimmed of `_`.
fn clean_unit(word: &str) -> String {
    word.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// An attribute value as text, as the Collector's `AsString`: strings as they are,
/// numbers and booleans printed, bytes in base64, arrays and maps as JSON.
pub fn attribute_string(value: Option<&AnyValue>) -> String {
    use any_value::Value as V;
    match value.and_then(|v| v.value.as_ref()) {
        // A string-table reference belongs to profiles, not metrics: no string here.
        None | Some(V::StringValueStrindex(_)) => String::new(),
        Some(V::StringValue(s)) => s.clone(),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::DoubleValue(d)) => format_float(*d),
        Some(V::BytesValue(b)) => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        Some(other @ (V::ArrayValue(_) | V::KvlistValue(_))) => json(other).to_string(),
    }
}

fn json(value: &any_value::Value) -> serde_json::Value {
    use any_value::Value as V;
    let of = |v: Option<&AnyValue>| v.and_then(|v| v.value.as_ref()).map_or(serde_json::Value::Null, json);
    match value {
        V::StringValue(s) => s.clone().into(),
        V::StringValueStrindex(_) => serde_json::Value::Null,
        V::BoolValue(b) => (*b).into(),
        V::IntValue(i) => (*i).into(),
        V::DoubleValue(d) => (*d).into(),
        V::BytesValue(_) => attribute_string(Some(&AnyValue {
            value: Some(value.clone()),
        }))
        .into(),
        V::ArrayValue(array) => array.values.iter().map(|v| of(Some(v))).collect(),
        V::KvlistValue(map) => map
            .values
            .iter()
            .map(|kv| (kv.key.clone(), of(kv.value.as_ref())))
            .collect(),
    }
}

/// A float as Prometheus writes one: `+Inf`, `-Inf`, `NaN`, else the shortest form
/// that reads back the same.
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

fn number(point: &NumberDataPoint) -> f64 {
    match point.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

fn exemplar(e: &OtlpExemplar) -> Exemplar {
    Exemplar {
        value: match e.value {
            Some(exemplar::Value::AsDouble(d)) => d,
            Some(exemplar::Value::AsInt(i)) => i as f64,
            None => 0.0,
        },
        time_ms: unix_ms(e.time_unix_nano),
        trace_id: hex::encode(&e.trace_id),
        span_id: hex::encode(&e.span_id),
    }
}

/// Unix nanoseconds as milliseconds.
pub fn unix_ms(nanos: u64) -> i64 {
    (nanos / 1_000_000).min(i64::MAX as u64) as i64
}

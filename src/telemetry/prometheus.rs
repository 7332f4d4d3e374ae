//! Prometheus text (format 0.0.4) of a [`Snapshot`], with a pull reader's options,
//! translated as the OpenTelemetry Go SDK's Prometheus exporter (which the Collector
//! uses) does: `_total` on counters, a unit suffix, `otel_scope_*` labels, a
//! `target_info` series with the resource, resource attributes as labels on request.
//!
//! Written here rather than with a crate: the `prometheus` and
//! `prometheus-client` crates own their registries and cannot render values that
//! live elsewhere; the format is a few lines of text per series.

use std::fmt::Write;

use metrics::Unit;

use super::registry::{HistogramValue, SeriesValue, Snapshot, BUCKET_BOUNDS};
use crate::config::PrometheusReader;

/// The instrumentation scope every self-metric belongs to.
pub const SCOPE_NAME: &str = "sloop";

/// Renders `snapshot` as `reader` asks; `resource` is the self-telemetry resource.
pub fn render(snapshot: &Snapshot, reader: &PrometheusReader, resource: &[(String, String)]) -> String {
    let mut constant: Vec<(String, String)> = Vec::new();
    if let Some(filter) = &reader.with_resource_constant_labels {
        constant.extend(
            resource
                .iter()
                .filter(|(k, _)| filter.keeps(k))
                .map(|(k, v)| (sanitize_label(k), v.clone())),
        );
    }
    if !reader.without_scope_info {
        constant.push(("otel_scope_name".into(), SCOPE_NAME.into()));
        constant.push(("otel_scope_version".into(), env!("CARGO_PKG_VERSION").into()));
    }
    let mut out = String::new();
    if !reader.without_target_info && !resource.is_empty() {
        out.push_str("# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info");
        let labels: Vec<(String, String)> = resource.iter().map(|(k, v)| (sanitize_label(k), v.clone())).collect();
        write_labels(&mut out, &labels, &[], None);
        out.push_str(" 1\n");
    }
    for metric in &snapshot.metrics {
        let Some((_, first)) = metric.series.first() else {
            continue;
        };
        let mut name = sanitize_name(&metric.name);
        if !reader.without_units {
            if let Some(suffix) = metric.unit.and_then(unit_suffix) {
                if !name.ends_with(&format!("_{suffix}")) {
                    name = format!("{name}_{suffix}");
                }
            }
        }
        let kind = match first {
            SeriesValue::Counter(_) => {
                if !reader.without_type_suffix && !name.ends_with("_total") {
                    name.push_str("_total");
                }
                "counter"
            }
            SeriesValue::Gauge(_) => "gauge",
            SeriesValue::Histogram(_) => "histogram",
        };
        if !metric.help.is_empty() {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&metric.help));
        }
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in &metric.series {
            match value {
                SeriesValue::Counter(v) => {
                    out.push_str(&name);
                    write_labels(&mut out, labels, &constant, None);
                    let _ = writeln!(out, " {v}");
                }
                SeriesValue::Gauge(v) => {
                    out.push_str(&name);
                    write_labels(&mut out, labels, &constant, None);
                    let _ = writeln!(out, " {}", format_float(*v));
                }
                SeriesValue::Histogram(h) => write_histogram(&mut out, &name, labels, &constant, h),
            }
        }
    }
    out
}

fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &[(String, String)],
    constant: &[(String, String)],
    h: &HistogramValue,
) {
    let mut cumulative = 0;
    for (i, bound) in BUCKET_BOUNDS
        .iter()
        .map(|b| format_float(*b))
        .chain(["+Inf".to_string()])
        .enumerate()
    {
        cumulative += h.bucket_counts.get(i).copied().unwrap_or(0);
        let _ = write!(out, "{name}_bucket");
        write_labels(out, labels, constant, Some(&bound));
        let _ = writeln!(out, " {cumulative}");
    }
    let _ = write!(out, "{name}_sum");
    write_labels(out, labels, constant, None);
    let _ = writeln!(out, " {}", format_float(h.sum));
    let _ = write!(out, "{name}_count");
    write_labels(out, labels, constant, None);
    let _ = writeln!(out, " {}", h.count);
}

fn write_labels(out: &mut String, labels: &[(String, String)], constant: &[(String, String)], le: Option<&str>) {
    if labels.is_empty() && constant.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let le = le.map(|le| ("le", le));
    let all = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(constant.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .chain(le);
    for (i, (key, value)) in all.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}=\"{}\"", sanitize_label(key), escape_value(value));
    }
    out.push('}');
}

/// The suffix the OpenTelemetry-to-Prometheus translation adds for a unit.
fn unit_suffix(unit: Unit) -> Option<&'static str> {
    Some(match unit {
        Unit::Seconds => "seconds",
        Unit::Milliseconds => "milliseconds",
        Unit::Microseconds => "microseconds",
        Unit::Nanoseconds => "nanoseconds",
        Unit::Bytes => "bytes",
        Unit::Percent => "percent",
        _ => return None,
    })
}

/// Metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`, anything else becomes `_`.
fn sanitize_name(name: &str) -> String {
    sanitize(name, true)
}

/// Label names: `[a-zA-Z_][a-zA-Z0-9_]*` (`service.name` → `service_name`).
fn sanitize_label(name: &str) -> String {
    sanitize(name, false)
}

fn sanitize(name: &str, colons: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

fn escape_value(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

fn escape_help(help: &str) -> String {
    help.replace('\\', r"\\").replace('\n', r"\n")
}

fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::config::IncludeExclude;
    use crate::telemetry::registry::MetricSnapshot;

    fn snapshot() -> Snapshot {
        let mut h = HistogramValue {
            bucket_counts: vec![0; BUCKET_BOUNDS.len() + 1],
            ..Default::default()
        };
        h.bucket_counts[1] = 2; // two values in (0, 5]
        h.bucket_counts[BUCKET_BOUNDS.len()] = 1; // one above 10000
        h.count = 3;
        h.sum = 20008.0;
        Snapshot {
            start: SystemTime::UNIX_EPOCH,
            time: SystemTime::UNIX_EPOCH,
            metrics: vec![
                MetricSnapshot {
                    name: "otelcol_receiver_accepted_spans".into(),
                    help: "Spans in.".into(),
                    unit: None,
                    series: vec![(vec![("receiver".into(), "otlp".into())], SeriesValue::Counter(7))],
                },
                MetricSnapshot {
                    name: "otelcol_process_uptime".into(),
                    help: String::new(),
                    unit: Some(Unit::Seconds),
                    series: vec![(vec![], SeriesValue::Gauge(1.5))],
                },
                MetricSnapshot {
                    name: "otelcol_exporter_latency".into(),
                    help: String::new(),
                    unit: None,
                    series: vec![(vec![("exporter".into(), "a\"b".into())], SeriesValue::Histogram(h))],
                },
            ],
        }
    }

    fn resource() -> Vec<(String, String)> {
        vec![
            ("service.instance.id".into(), "id-1".into()),
            ("service.name".into(), "sloop".into()),
        ]
    }

    #[test]
    fn the_legacy_form_is_plain_names_without_scope_or_resource_labels() {
        let text = render(&snapshot(), &PrometheusReader::legacy("h".into(), 1), &resource());
        assert!(
            text.contains("otelcol_receiver_accepted_spans{receiver=\"otlp\"} 7\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE otelcol_process_uptime gauge\notelcol_process_uptime 1.5\n"),
            "{text}"
        );
        assert!(!text.contains("otel_scope_name"), "{text}");
    }

    #[test]
    fn sdk_defaults_add_type_and_unit_suffixes_scope_labels_and_target_info() {
        let mut reader = PrometheusReader::legacy("h".into(), 1);
        reader.without_units = false;
        reader.without_type_suffix = false;
        reader.without_scope_info = false;
        let text = render(&snapshot(), &reader, &resource());
        assert!(
            text.contains("# HELP otelcol_receiver_accepted_spans_total Spans in.\n"),
            "{text}"
        );
        assert!(text.contains(
            "otelcol_receiver_accepted_spans_total{receiver=\"otlp\",otel_scope_name=\"sloop\",otel_scope_version="
        ));
        assert!(
            text.contains("otelcol_process_uptime_seconds{otel_scope_name"),
            "{text}"
        );
        assert!(
            text.contains("target_info{service_instance_id=\"id-1\",service_name=\"sloop\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn resource_labels_follow_include_and_exclude() {
        let mut reader = PrometheusReader::legacy("h".into(), 1);
        reader.with_resource_constant_labels = Some(IncludeExclude {
            included: vec!["service.name".into()],
            excluded: vec![],
        });
        let text = render(&snapshot(), &reader, &resource());
        assert!(
            text.contains("otelcol_receiver_accepted_spans{receiver=\"otlp\",service_name=\"sloop\"} 7"),
            "{text}"
        );
        reader.with_resource_constant_labels = Some(IncludeExclude {
            included: vec![],
            excluded: vec!["service.name".into()],
        });
        let text = render(&snapshot(), &reader, &resource());
        assert!(
            text.contains("{receiver=\"otlp\",service_instance_id=\"id-1\"} 7"),
            "{text}"
        );
    }

    #[test]
    fn histograms_have_cumulative_buckets_sum_and_count_and_escaped_labels() {
        let text = render(&snapshot(), &PrometheusReader::legacy("h".into(), 1), &[]);
        assert!(
            text.contains("otelcol_exporter_latency_bucket{exporter=\"a\\\"b\",le=\"0\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("otelcol_exporter_latency_bucket{exporter=\"a\\\"b\",le=\"5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("otelcol_exporter_latency_bucket{exporter=\"a\\\"b\",le=\"10000\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("otelcol_exporter_latency_bucket{exporter=\"a\\\"b\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("otelcol_exporter_latency_count{exporter=\"a\\\"b\"} 3\n"),
            "{text}"
        );
        assert!(!text.contains("target_info"), "{text}");
    }
}

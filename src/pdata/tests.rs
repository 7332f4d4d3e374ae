use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics};

use super::*;
use crate::testing::{span_names, traces};

#[test]
fn counts_items_of_each_signal() {
    assert_eq!(traces(&[&["a", "b"], &["c"]]).item_count(), 3);
    assert_eq!(metrics_with_points(&[3, 2]).item_count(), 5);
    assert!(Telemetry::empty(Signal::Logs).is_empty());
}

#[test]
fn split_front_keeps_order_resources_and_scopes() {
    let mut data = traces(&[&["a", "b", "c"], &["d", "e"]]);
    let front = data.split_front(4);
    assert_eq!(span_names(&front), vec!["a", "b", "c", "d"]);
    assert_eq!(span_names(&data), vec!["e"]);
    // The second resource was cut: both halves keep its resource attributes.
    let Telemetry::Traces(front) = &front else {
        unreachable!()
    };
    let Telemetry::Traces(rest) = &data else { unreachable!() };
    assert_eq!(front.resource_spans[1].resource, rest.resource_spans[0].resource);
    assert!(front.resource_spans[1].resource.is_some());
    assert_eq!(
        front.resource_spans[1].scope_spans[0].scope,
        rest.resource_spans[0].scope_spans[0].scope
    );
}

#[test]
fn split_more_than_available_takes_everything() {
    let mut data = traces(&[&["a"], &["b"]]);
    let front = data.split_front(10);
    assert_eq!(span_names(&front), vec!["a", "b"]);
    assert_eq!(data.item_count(), 0);
}

#[test]
fn metrics_split_inside_a_metric_by_data_points() {
    let mut data = metrics_with_points(&[3, 2]);
    let front = data.split_front(4);
    assert_eq!(front.item_count(), 4);
    assert_eq!(data.item_count(), 1);
    let Telemetry::Metrics(front) = front else {
        unreachable!()
    };
    let metrics = &front.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(
        metrics.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        vec!["m0", "m1"]
    );
    let Telemetry::Metrics(rest) = data else { unreachable!() };
    assert_eq!(rest.resource_metrics[0].scope_metrics[0].metrics[0].name, "m1");
}

#[test]
fn append_refuses_other_signals() {
    let mut data = traces(&[&["a"]]);
    assert!(data.append(Telemetry::empty(Signal::Logs)).is_err());
    assert!(data.append(traces(&[&["b"]])).is_ok());
    assert_eq!(span_names(&data), vec!["a", "b"]);
}

#[test]
fn otlp_json_round_trip_uses_hex_ids_camel_case_and_integer_enums() {
    let data = traces(&[&["GET /"]]);
    let json = data.encode_json();
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.contains("\"resourceSpans\""), "{text}");
    assert!(
        text.contains("\"traceId\":\"0102030405060708090a0b0c0d0e0f10\""),
        "{text}"
    );
    assert!(text.contains("\"startTimeUnixNano\":\"1700000000000000000\""), "{text}");
    assert!(text.contains("\"kind\":2"), "{text}");
    let Telemetry::Traces(original) = &data else {
        unreachable!()
    };
    let decoded: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
        serde_json::from_slice(&json).unwrap();
    assert_eq!(&decoded, original);
    // Numbers for 64-bit fields are accepted too, as the spec allows.
    let with_numbers = text.replace("\"1700000000000000000\"", "1700000000000000000");
    let decoded: opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest =
        serde_json::from_str(&with_numbers).unwrap();
    assert_eq!(&decoded, original);
}

fn metrics_with_points(points: &[usize]) -> Telemetry {
    let metrics = points
        .iter()
        .enumerate()
        .map(|(i, n)| Metric {
            name: format!("m{i}"),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: (0..*n)
                    .map(|j| NumberDataPoint {
                        time_unix_nano: j as u64,
                        ..Default::default()
                    })
                    .collect(),
            })),
            ..Default::default()
        })
        .collect();
    Telemetry::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "scope".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

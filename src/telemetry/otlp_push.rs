//! The `periodic` reader: every `interval`, sloop's self-metrics as one OTLP
//! `ExportMetricsServiceRequest` (cumulative sums, gauges and explicit-bucket
//! histograms, scope `sloop`, the self-telemetry resource) sent over gRPC or
//! HTTP/protobuf; one last export when sloop stops, as the SDK's reader does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::Unit;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::prometheus::SCOPE_NAME;
use super::registry::{SelfMetricsRegistry, SeriesValue, Snapshot, BUCKET_BOUNDS};
use crate::config::{OtlpProtocol, OtlpPush, PeriodicReader, PushCompression};

/// One snapshot as an OTLP export request.
pub fn to_request(snapshot: &Snapshot, resource: &[(String, String)]) -> ExportMetricsServiceRequest {
    let start = unix_nanos(snapshot.start);
    let time = unix_nanos(snapshot.time);
    let metrics = snapshot
        .metrics
        .iter()
        .filter_map(|m| {
            let data = match m.series.first()?.1 {
                SeriesValue::Counter(_) => metric::Data::Sum(Sum {
                    data_points: m
                        .series
                        .iter()
                        .filter_map(|(labels, v)| match v {
                            // Counters count items; past i64::MAX is not reachable in practice.
                            SeriesValue::Counter(n) => Some(number_point(
                                labels,
                                start,
                                time,
                                number_data_point::Value::AsInt(i64::try_from(*n).unwrap_or(i64::MAX)),
                            )),
                            _ => None,
                        })
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
                SeriesValue::Gauge(_) => metric::Data::Gauge(Gauge {
                    data_points: m
                        .series
                        .iter()
                        .filter_map(|(labels, v)| match v {
                            SeriesValue::Gauge(g) => Some(number_point(
                                labels,
                                start,
                                time,
                                number_data_point::Value::AsDouble(*g),
                            )),
                            _ => None,
                        })
                        .collect(),
                }),
                SeriesValue::Histogram(_) => metric::Data::Histogram(Histogram {
                    data_points: m
                        .series
                        .iter()
                        .filter_map(|(labels, v)| match v {
                            SeriesValue::Histogram(h) => Some(HistogramDataPoint {
                                attributes: attributes(labels),
                                start_time_unix_nano: start,
                                time_unix_nano: time,
                                count: h.count,
                                sum: Some(h.sum),
                                bucket_counts: if h.bucket_counts.is_empty() {
                                    vec![0; BUCKET_BOUNDS.len() + 1]
                                } else {
                                    h.bucket_counts.clone()
                                },
                                explicit_bounds: BUCKET_BOUNDS.to_vec(),
                                min: h.min,
                                max: h.max,
                                ..Default::default()
                            }),
                            _ => None,
                        })
                        .collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            };
            Some(Metric {
                name: m.name.clone(),
                description: m.help.clone(),
                unit: m.unit.map(otlp_unit).unwrap_or_default().to_string(),
                data: Some(data),
                ..Default::default()
            })
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: attributes(resource),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn number_point(
    labels: &[(String, String)],
    start: u64,
    time: u64,
    value: number_data_point::Value,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes(labels),
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(value),
        ..Default::default()
    }
}

fn attributes(pairs: &[(String, String)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.clone())),
            }),
            ..Default::default()
        })
        .collect()
}

/// UCUM units, as OTLP carries them.
fn otlp_unit(unit: Unit) -> &'static str {
    match unit {
        Unit::Seconds => "s",
        Unit::Milliseconds => "ms",
        Unit::Microseconds => "us",
        Unit::Nanoseconds => "ns",
        Unit::Bytes => "By",
        Unit::Percent => "%",
        _ => "",
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Where a periodic reader sends.
pub struct OtlpPusher {
    target: Target,
    timeout: Duration,
    endpoint: String,
}

enum Target {
    Grpc {
        client: MetricsServiceClient<Channel>,
        metadata: MetadataMap,
    },
    Http {
        client: reqwest::Client,
        url: String,
        headers: reqwest::header::HeaderMap,
        gzip: bool,
    },
}

impl OtlpPusher {
    /// Prepares the client (connections open lazily, at the first export).
    pub fn new(config: &OtlpPush) -> Result<OtlpPusher, String> {
        let url = config.url()?;
        let headers = config.all_headers()?;
        let target = match config.protocol {
            OtlpProtocol::Grpc => {
                let mut endpoint = Endpoint::from_shared(url.clone())
                    .map_err(|e| format!("endpoint {url:?}: {e}"))?
                    .timeout(config.timeout);
                if url.starts_with("https://") {
                    endpoint = endpoint
                        .tls_config(ClientTlsConfig::new().with_native_roots())
                        .map_err(|e| format!("TLS for {url:?}: {e}"))?;
                }
                let mut client = MetricsServiceClient::new(endpoint.connect_lazy());
                if config.compression == PushCompression::Gzip {
                    client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                let mut metadata = MetadataMap::new();
                for (name, value) in headers {
                    let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|_| format!("header name {name:?} is not valid in gRPC metadata"))?;
                    let value = MetadataValue::try_from(value.as_str())
                        .map_err(|_| format!("header {name:?}: the value is not valid in gRPC metadata"))?;
                    metadata.insert(key, value);
                }
                Target::Grpc { client, metadata }
            }
            OtlpProtocol::HttpProtobuf => {
                let mut map = reqwest::header::HeaderMap::new();
                for (name, value) in headers {
                    let key = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("header name {name:?} is not valid"))?;
                    let value = reqwest::header::HeaderValue::from_str(&value)
                        .map_err(|_| format!("header {name:?}: the value is not valid"))?;
                    map.insert(key, value);
                }
                let client = reqwest::Client::builder()
                    .timeout(config.timeout)
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))?;
                Target::Http {
                    client,
                    url: url.clone(),
                    headers: map,
                    gzip: config.compression == PushCompression::Gzip,
                }
            }
        };
        Ok(OtlpPusher {
            target,
            timeout: config.timeout,
            endpoint: url,
        })
    }

    /// Sends one request; the error says what the backend or the network said.
    pub async fn push(&mut self, request: ExportMetricsServiceRequest) -> Result<(), String> {
        let send = async {
            match &mut self.target {
                Target::Grpc { client, metadata } => {
                    let mut req = tonic::Request::new(request);
                    *req.metadata_mut() = metadata.clone();
                    client.export(req).await.map(|_| ()).map_err(|s| s.to_string())
                }
                Target::Http {
                    client,
                    url,
                    headers,
                    gzip,
                } => {
                    let body = request.encode_to_vec();
                    let mut builder = client
                        .post(url.as_str())
                        .headers(headers.clone())
                        .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf");
                    let body = if *gzip {
                        builder = builder.header(reqwest::header::CONTENT_ENCODING, "gzip");
                        gzip_bytes(&body).map_err(|e| format!("compressing: {e}"))?
                    } else {
                        body
                    };
                    let response = builder.body(body).send().await.map_err(|e| e.to_string())?;
                    if response.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("HTTP {}", response.status()))
                    }
                }
            }
        };
        tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))?
    }
}

fn gzip_bytes(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data)?;
    encoder.finish()
}

/// Exports every `reader.interval` until `stop`, then once more, each export bounded
/// by `reader.timeout`. A failed export is logged and the next one tries again (the
/// values are cumulative, so nothing is lost but resolution).
pub async fn run_periodic(
    mut pusher: OtlpPusher,
    reader: PeriodicReader,
    registry: SelfMetricsRegistry,
    resource: Vec<(String, String)>,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + reader.interval, reader.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => export_once(&mut pusher, &registry, &resource, reader.timeout).await,
        }
    }
    export_once(&mut pusher, &registry, &resource, reader.timeout).await;
}

async fn export_once(
    pusher: &mut OtlpPusher,
    registry: &SelfMetricsRegistry,
    resource: &[(String, String)],
    timeout: Duration,
) {
    let request = to_request(&registry.snapshot(), resource);
    let outcome = tokio::time::timeout(timeout, pusher.push(request)).await;
    if let Err(error) = outcome.unwrap_or_else(|_| Err(format!("no answer within {timeout:?}"))) {
        tracing::warn!(message = "Pushing self-metrics failed.", endpoint = %pusher.endpoint, %error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::registry::{HistogramValue, MetricSnapshot};

    #[test]
    fn counters_become_cumulative_monotonic_sums_with_the_resource() {
        let snapshot = Snapshot {
            start: UNIX_EPOCH + Duration::from_secs(1),
            time: UNIX_EPOCH + Duration::from_secs(2),
            metrics: vec![
                MetricSnapshot {
                    name: "otelcol_receiver_accepted_spans".into(),
                    help: "in".into(),
                    unit: None,
                    series: vec![(vec![("receiver".into(), "otlp".into())], SeriesValue::Counter(3))],
                },
                MetricSnapshot {
                    name: "otelcol_exporter_queue_size".into(),
                    help: String::new(),
                    unit: Some(Unit::Bytes),
                    series: vec![(vec![], SeriesValue::Gauge(2.0))],
                },
                MetricSnapshot {
                    name: "h".into(),
                    help: String::new(),
                    unit: None,
                    series: vec![(vec![], SeriesValue::Histogram(HistogramValue::default()))],
                },
            ],
        };
        let request = to_request(&snapshot, &[("service.name".into(), "sloop".into())]);
        let rm = &request.resource_metrics[0];
        let resource = rm.resource.as_ref().unwrap();
        assert_eq!(resource.attributes[0].key, "service.name");
        let metrics = &rm.scope_metrics[0].metrics;
        let Some(metric::Data::Sum(sum)) = &metrics[0].data else {
            panic!("{:?}", metrics[0])
        };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, AggregationTemporality::Cumulative as i32);
        let point = &sum.data_points[0];
        assert_eq!(point.value, Some(number_data_point::Value::AsInt(3)));
        assert_eq!(point.start_time_unix_nano, 1_000_000_000);
        assert_eq!(point.time_unix_nano, 2_000_000_000);
        assert_eq!(point.attributes[0].key, "receiver");
        assert_eq!(metrics[1].unit, "By");
        assert!(matches!(&metrics[1].data, Some(metric::Data::Gauge(_))));
        let Some(metric::Data::Histogram(h)) = &metrics[2].data else {
            panic!("{:?}", metrics[2])
        };
        assert_eq!(
            h.data_points[0].bucket_counts.len(),
            h.data_points[0].explicit_bounds.len() + 1
        );
    }
}

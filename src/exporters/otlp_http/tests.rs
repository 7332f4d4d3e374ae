use std::time::Duration;

use reqwest::StatusCode;

use super::*;

#[test]
fn http_statuses_are_classified_per_the_otlp_spec() {
    for status in [429, 502, 503, 504] {
        let status = StatusCode::from_u16(status).unwrap();
        assert!(
            matches!(classify(status, None, ""), ExportError::Retryable { .. }),
            "{status}"
        );
    }
    for status in [400, 401, 403, 404, 413, 500] {
        let status = StatusCode::from_u16(status).unwrap();
        assert!(
            matches!(classify(status, None, ""), ExportError::Permanent { .. }),
            "{status}"
        );
    }
}

#[test]
fn retry_after_is_honoured() {
    assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    match classify(StatusCode::TOO_MANY_REQUESTS, parse_retry_after("12"), "busy") {
        ExportError::Retryable { throttle, message } => {
            assert_eq!(throttle, Some(Duration::from_secs(12)));
            assert!(message.contains("429") && message.contains("busy"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn urls_append_signal_paths_and_honour_overrides() {
    let config: OtlpHttpConfig = crate::confmap::parse_block(&figment::value::Value::from(figment::util::map! {
        "endpoint" => "https://vendor.example/otlp/",
        "logs_endpoint" => "https://logs.example/ingest",
    }))
    .unwrap();
    assert_eq!(
        config.url(Signal::Traces).unwrap(),
        "https://vendor.example/otlp/v1/traces"
    );
    assert_eq!(config.url(Signal::Logs).unwrap(), "https://logs.example/ingest");
    let bad = crate::confmap::parse_block::<OtlpHttpConfig>(&figment::value::Value::from(figment::util::map! {
        "endpoint" => "vendor.example:4318",
    }))
    .unwrap_err();
    assert_eq!(bad[0].path, "endpoint");
}

#[test]
fn partial_success_bodies_are_read_in_both_encodings() {
    let response = ExportTraceServiceResponse {
        partial_success: Some(
            opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                rejected_spans: 2,
                error_message: "too old".into(),
            },
        ),
    };
    let proto = response.encode_to_vec();
    assert_eq!(
        partial_success(Signal::Traces, &proto, false),
        Some((2, "too old".into()))
    );
    let json = serde_json::to_vec(&response).unwrap();
    assert_eq!(
        partial_success(Signal::Traces, &json, true),
        Some((2, "too old".into()))
    );
    assert_eq!(partial_success(Signal::Traces, b"", false), None);
}

/// One request as a test backend saw it.
#[derive(Debug, Clone)]
struct Seen {
    content_encoding: Option<String>,
    body: Bytes,
}

/// An HTTP backend that answers 503 to the first `failures` requests, then 200,
/// recording each. Returns its base URL.
async fn backend(failures: usize) -> (String, Arc<std::sync::Mutex<Vec<Seen>>>) {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let record = record.clone();
                    async move {
                        let content_encoding = request
                            .headers()
                            .get(http::header::CONTENT_ENCODING)
                            .map(|v| v.to_str().unwrap().to_string());
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let mut seen = record.lock().unwrap();
                        seen.push(Seen { content_encoding, body });
                        let status = if seen.len() <= failures { 503 } else { 200 };
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .status(status)
                                .body(http_body_util::Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let io = hyper_util::rt::TokioIo::new(socket);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (url, seen)
}

fn parsed(endpoint: &str, compression: &str, level: Option<i32>) -> Result<OtlpHttpConfig, Vec<ConfigError>> {
    use figment::providers::Format;
    let level = level
        .map(|l| format!("\ncompression_params: {{ level: {l} }}"))
        .unwrap_or_default();
    let yaml = format!(
        "endpoint: {endpoint}\ncompression: {compression}{level}\n\
         retry_on_failure: {{ initial_interval: 10ms, max_interval: 10ms }}\nsending_queue: {{ enabled: false }}\n"
    );
    let dict: figment::value::Dict = figment::Figment::from(serde_saphyr::figment::Yaml::string(&yaml))
        .extract()
        .unwrap();
    parse_block::<OtlpHttpConfig>(&RawValue::from(dict))
}

fn config(endpoint: &str, compression: &str, level: Option<i32>) -> OtlpHttpConfig {
    parsed(endpoint, compression, level).unwrap()
}

fn big_batch() -> Arc<ExportBatch> {
    let names: Vec<String> = (0..2000).map(|i| format!("GET /api/items/{}", i % 37)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    Arc::new(ExportBatch::new(crate::testing::traces(&[&refs])))
}

/// Two 503s, then 200: three requests, one body made, the same bytes sent each time.
#[tokio::test]
async fn a_retried_batch_is_compressed_once_and_resent_as_is() {
    let (url, seen) = backend(2).await;
    let config = config(&url, "zstd", Some(7));
    let id = ComponentId::parse("otlp_http").unwrap();
    let exporter = Arc::new(config.build_exporter(&id, None).unwrap());
    let queue = crate::exporters::helper::ExporterQueue::new(id, exporter.clone(), config.helper());
    let batch = big_batch();
    queue.enqueue(batch.clone()).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two refusals, then delivered");
    assert_eq!(exporter.bodies_made(), 1, "compressed once for three attempts");
    for request in &seen {
        assert_eq!(request.content_encoding.as_deref(), Some("zstd"));
        assert_eq!(request.body, seen[0].body);
    }
    let decoded = zstd::decode_all(&seen[0].body[..]).unwrap();
    assert_eq!(decoded, batch.protobuf());
}

/// The level reaches the compressor: gzip 1 and 9 of one batch differ, both decode.
#[tokio::test]
async fn the_gzip_level_is_honoured() {
    use std::io::Read;
    let batch = big_batch();
    let mut sizes = Vec::new();
    for level in [1, 9] {
        let (url, seen) = backend(0).await;
        let id = ComponentId::parse("otlp_http").unwrap();
        let exporter = config(&url, "gzip", Some(level)).exporter(&id).unwrap();
        exporter.export(&batch).await.unwrap();
        let seen = seen.lock().unwrap()[0].clone();
        assert_eq!(seen.content_encoding.as_deref(), Some("gzip"));
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&seen.body[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, batch.protobuf());
        sizes.push(seen.body.len());
    }
    assert!(
        sizes[1] < sizes[0],
        "level 9 ({}) is smaller than level 1 ({})",
        sizes[1],
        sizes[0]
    );
}

#[test]
fn a_bad_level_is_a_config_error_at_its_path() {
    let errors = parsed("http://localhost:4318", "gzip", Some(12)).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "compression_params.level");
    assert!(errors[0].message.contains("1 (fastest) to 9"), "{}", errors[0].message);
    let errors = parsed("http://localhost:4318", "none", Some(3)).unwrap_err();
    assert_eq!(errors[0].path, "compression_params.level");
    assert!(parsed("http://localhost:4318", "gzip", Some(-2)).is_err());
    assert!(parsed("http://localhost:4318", "zstd", Some(30)).is_ok());
    assert!(parsed("http://localhost:4318", "gzip", Some(-1)).is_ok());
}

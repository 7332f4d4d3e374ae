use std::time::Duration;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use super::*;

#[test]
fn grpc_codes_are_classified_per_the_otlp_spec() {
    for code in [
        Code::Cancelled,
        Code::DeadlineExceeded,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unavailable,
        Code::DataLoss,
    ] {
        assert!(
            matches!(classify(&tonic::Status::new(code, "x")), ExportError::Retryable { .. }),
            "{code:?}"
        );
    }
    for code in [
        Code::InvalidArgument,
        Code::Unauthenticated,
        Code::PermissionDenied,
        Code::NotFound,
        Code::Unimplemented,
        Code::Internal,
    ] {
        assert!(
            matches!(classify(&tonic::Status::new(code, "x")), ExportError::Permanent { .. }),
            "{code:?}"
        );
    }
}

#[test]
fn resource_exhausted_is_retried_only_with_retry_info() {
    let plain = tonic::Status::resource_exhausted("quota");
    assert!(matches!(classify(&plain), ExportError::Permanent { .. }));
    let hinted = tonic::Status::with_error_details(
        Code::ResourceExhausted,
        "slow down",
        ErrorDetails::with_retry_info(Some(Duration::from_secs(3))),
    );
    assert_eq!(
        classify(&hinted),
        ExportError::Retryable {
            message: "ResourceExhausted: slow down".into(),
            throttle: Some(Duration::from_secs(3))
        }
    );
}

#[test]
fn endpoint_scheme_decides_plaintext() {
    let config = |endpoint: &str, insecure: bool| OtlpGrpcConfig {
        endpoint: endpoint.into(),
        headers: Default::default(),
        auth: None,
        compression: Default::default(),
        compression_params: Default::default(),
        timeout: Duration::from_secs(5),
        tls: crate::exporters::ClientTls {
            insecure,
            ..Default::default()
        },
        sending_queue: Default::default(),
        retry_on_failure: Default::default(),
    };
    assert_eq!(
        config("collector:4317", false).target().unwrap(),
        ("https://collector:4317".into(), false)
    );
    assert_eq!(
        config("collector:4317", true).target().unwrap(),
        ("http://collector:4317".into(), true)
    );
    assert_eq!(
        config("http://collector:4317", false).target().unwrap(),
        ("http://collector:4317".into(), true)
    );
    assert!(config("collector", false).target().is_err());
    assert!(config("ftp://collector:1", false).target().is_err());
}

#[test]
fn partial_success_is_counted_as_rejected() {
    assert_eq!(
        partial_outcome(Some((3, "bad spans".into()))),
        ExportOutcome {
            rejected: 3,
            message: Some("bad spans".into())
        }
    );
    assert_eq!(partial_outcome(Some((0, String::new()))), ExportOutcome::default());
    assert_eq!(partial_outcome(None), ExportOutcome::default());
}

#[test]
fn a_status_made_from_a_transport_error_is_retryable_whatever_its_code() {
    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
    let status = tonic::Status::from_error(Box::new(reset));
    assert_eq!(status.code(), Code::Unknown);
    assert!(matches!(classify(&status), ExportError::Retryable { .. }), "{status:?}");
}

/// A backend that takes the connection, reads the start of the request and then
/// closes the socket mid-export, as a crashing process does.
#[tokio::test]
async fn a_backend_dying_mid_export_is_a_retryable_failure() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = tokio::spawn(async move {
        // Each connection: read what the client sends first, then drop it unanswered.
        for _ in 0..4 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 256];
            let _ = socket.read(&mut buf).await;
        }
    });
    let config = OtlpGrpcConfig {
        endpoint: format!("http://127.0.0.1:{port}"),
        headers: Default::default(),
        auth: None,
        compression: Default::default(),
        compression_params: Default::default(),
        timeout: Duration::from_secs(5),
        tls: crate::exporters::ClientTls::default(),
        sending_queue: Default::default(),
        retry_on_failure: Default::default(),
    };
    let id = crate::component::ComponentId::parse("otlp_grpc").unwrap();
    let exporter = config.exporter(&id).unwrap();
    let batch = ExportBatch::new(crate::testing::traces(&[&["a", "b"]]));
    let result = tokio::time::timeout(Duration::from_secs(10), exporter.export(&batch))
        .await
        .expect("the export attempt ends when the connection closes");
    assert!(matches!(result, Err(ExportError::Retryable { .. })), "{result:?}");
    backend.abort();
}

/// Each call's `grpc-encoding` and span count.
type Calls = Arc<std::sync::Mutex<Vec<(Option<String>, usize)>>>;

/// A trace backend that records each call's `grpc-encoding` and answers
/// UNAVAILABLE to the first `failures` calls.
#[derive(Clone, Default)]
struct Recording {
    failures: usize,
    calls: Calls,
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService for Recording {
    async fn export(
        &self,
        request: tonic::Request<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let encoding = request
            .metadata()
            .get("grpc-encoding")
            .map(|v| v.to_str().unwrap().to_string());
        let spans = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let mut calls = self.calls.lock().unwrap();
        calls.push((encoding, spans));
        if calls.len() <= self.failures {
            return Err(tonic::Status::unavailable("not yet"));
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Two UNAVAILABLEs, then OK: three zstd calls the server decodes, one frame made.
#[tokio::test]
async fn a_retried_batch_is_compressed_once_and_sent_with_grpc_encoding() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let recording = Recording {
        failures: 2,
        ..Default::default()
    };
    let service = TraceServiceServer::new(recording.clone())
        .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let config = OtlpGrpcConfig {
        endpoint: format!("http://127.0.0.1:{port}"),
        headers: Default::default(),
        auth: None,
        compression: Compression::Zstd,
        compression_params: CompressionParams { level: Some(9) },
        timeout: Duration::from_secs(5),
        tls: crate::exporters::ClientTls::default(),
        sending_queue: crate::exporters::QueueConfig {
            enabled: false,
            ..Default::default()
        },
        retry_on_failure: crate::exporters::RetryConfig {
            initial_interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(10),
            ..Default::default()
        },
    };
    let id = crate::component::ComponentId::parse("otlp_grpc").unwrap();
    let exporter = Arc::new(config.build_exporter(&id, None).unwrap());
    let queue = crate::exporters::helper::ExporterQueue::new(id, exporter.clone(), config.helper());
    let names: Vec<String> = (0..500).map(|i| format!("span {}", i % 7)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    queue
        .enqueue(Arc::new(ExportBatch::new(crate::testing::traces(&[&refs]))))
        .await
        .unwrap();
    let calls = recording.calls.lock().unwrap().clone();
    assert_eq!(calls, vec![(Some("zstd".to_string()), 500); 3]);
    assert_eq!(exporter.frames_made(), 1, "compressed once for three attempts");
    server.abort();
}

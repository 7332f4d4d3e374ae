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
        compression: Default::default(),
        timeout: Duration::from_secs(5),
        tls: crate::exporters::ClientTls {
            insecure,
            ca_file: None,
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

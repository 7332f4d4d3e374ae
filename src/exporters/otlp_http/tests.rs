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

use std::io::Write;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use tonic::Code;
use tonic_types::StatusExt;

use super::http::{decode, Encoding};
use super::intake::{grpc_status, http_status, Refused};
use super::*;
use crate::component::ConsumeError;
use crate::pdata::Telemetry;
use crate::testing::{span_names, traces};

#[test]
fn refusals_map_to_the_otlp_status_codes() {
    let full = Refused::Pipeline(ConsumeError::retryable("queue full", Some(Duration::from_secs(2))));
    let status = grpc_status(&full);
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.get_details_retry_info().and_then(|r| r.retry_delay),
        Some(Duration::from_secs(2))
    );
    assert_eq!(http_status(&full), (StatusCode::TOO_MANY_REQUESTS, Some(2)));

    let unavailable = Refused::Pipeline(ConsumeError::retryable("backend gone", None));
    assert_eq!(grpc_status(&unavailable).code(), Code::Unavailable);
    assert_eq!(http_status(&unavailable), (StatusCode::SERVICE_UNAVAILABLE, Some(1)));

    let stopping = grpc_status(&Refused::ShuttingDown);
    assert_eq!(stopping.code(), Code::Unavailable);
    assert_eq!(
        stopping.get_details_retry_info().and_then(|r| r.retry_delay),
        Some(Duration::from_secs(1)),
        "shutting down carries a retry hint"
    );
    assert_eq!(
        http_status(&Refused::ShuttingDown),
        (StatusCode::SERVICE_UNAVAILABLE, Some(1))
    );

    let bad = Refused::Pipeline(ConsumeError::permanent("bad data"));
    assert_eq!(grpc_status(&bad).code(), Code::InvalidArgument);
    assert_eq!(http_status(&bad), (StatusCode::BAD_REQUEST, None));
}

#[test]
fn malformed_ids_are_dropped_and_counted() {
    let mut data = traces(&[&["ok", "bad-trace", "bad-span"]]);
    if let Telemetry::Traces(r) = &mut data {
        let spans = &mut r.resource_spans[0].scope_spans[0].spans;
        spans[1].trace_id = vec![0; 16];
        spans[2].span_id = vec![1, 2, 3];
    }
    let rejected = drop_malformed_ids(&mut data);
    assert_eq!(rejected.count, 2);
    assert!(rejected.message.contains("trace_id must be 16 bytes"));
    assert_eq!(span_names(&data), vec!["ok"]);
    let mut clean = traces(&[&["a"]]);
    assert_eq!(drop_malformed_ids(&mut clean), Rejected::default());
}

#[test]
fn decodes_protobuf_and_json_and_explains_failures() {
    let data = traces(&[&["GET /"]]);
    assert_eq!(
        decode(Signal::Traces, Encoding::Protobuf, &data.encode_protobuf()).unwrap(),
        data
    );
    assert_eq!(
        decode(Signal::Traces, Encoding::Json, &data.encode_json()).unwrap(),
        data
    );
    let error = decode(Signal::Traces, Encoding::Protobuf, b"\xff\xff\xff").unwrap_err();
    assert!(error.starts_with("malformed protobuf body"), "{error}");
    let error = decode(Signal::Traces, Encoding::Json, b"{\"resourceSpans\": [").unwrap_err();
    assert!(
        error.starts_with("invalid OTLP/JSON body") && error.contains("line 1"),
        "{error}"
    );
    let error = decode(
        Signal::Traces,
        Encoding::Json,
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
    )
    .unwrap_err();
    assert!(error.contains("invalid OTLP/JSON body"), "{error}");
}

fn headers(encoding: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_str(encoding).unwrap());
    headers
}

#[test]
fn decompression_is_bounded() {
    let body = vec![b'a'; 10_000];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 200);
    assert_eq!(http::decompress_for_test(&headers("gzip"), &gz, 10_000).unwrap(), body);
    let (status, message) = http::decompress_for_test(&headers("gzip"), &gz, 9_999).unwrap_err();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(message.contains("decompressed body"));
    let zstd = zstd::encode_all(body.as_slice(), 3).unwrap();
    assert_eq!(
        http::decompress_for_test(&headers("zstd"), &zstd, 10_000).unwrap(),
        body
    );
    assert_eq!(
        http::decompress_for_test(&headers("br"), &gz, 10_000).unwrap_err().0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        http::decompress_for_test(&headers("gzip"), b"not gzip", 10_000)
            .unwrap_err()
            .0,
        StatusCode::BAD_REQUEST
    );
}

/// A zstd frame may declare a window of up to 128 MiB, which the decoder allocates
/// before producing a byte: a few bytes of body must not cost that (found while
/// fuzzing the inflation, issue 13).
#[test]
fn a_zstd_window_beyond_the_body_limit_is_refused() {
    let body = vec![b'a'; 10_000];
    let compress = |window_log: u32| {
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.window_log(window_log).unwrap();
        encoder.write_all(&body).unwrap();
        encoder.finish().unwrap()
    };
    let limit = 20 * 1024 * 1024;
    let (status, message) = http::decompress_for_test(&headers("zstd"), &compress(27), limit).unwrap_err();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.starts_with("invalid zstd body"), "{message}");
    // The window a 20 MiB limit needs (32 MiB), and the common 8 MiB default, pass.
    assert_eq!(
        http::decompress_for_test(&headers("zstd"), &compress(25), limit).unwrap(),
        body
    );
    assert_eq!(
        http::decompress_for_test(&headers("zstd"), &compress(23), 1024 * 1024).unwrap(),
        body
    );
}

#[test]
fn config_requires_a_protocol_and_valid_endpoints() {
    let errors = parse_block::<OtlpReceiverConfig>(&figment::value::Value::from(figment::util::map! {
        "protocols" => figment::util::map! { "grpc" => figment::util::map! { "endpoint" => "localhost" } },
    }))
    .unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "protocols.grpc.endpoint: \"localhost\" is not host:port"
    );
    let errors = parse_block::<OtlpReceiverConfig>(&figment::value::Value::from(figment::util::map! {
        "protocols" => figment::value::Dict::new(),
    }))
    .unwrap_err();
    assert_eq!(errors[0].path, "protocols");
}

#[test]
fn tonic_statuses_for_bad_requests_get_the_otlp_codes() {
    let code_after = |status: tonic::Status| {
        let response = super::grpc::spec_status_codes(status.into_http::<()>());
        tonic::Status::from_header_map(response.headers()).map(|s| s.code())
    };
    let decode = tonic::Status::internal("failed to decode Protobuf message: buffer underflow");
    assert_eq!(code_after(decode), Some(Code::InvalidArgument));
    let truncated = tonic::Status::internal("Unexpected EOF decoding stream.");
    assert_eq!(code_after(truncated), Some(Code::InvalidArgument));
    let oversized = tonic::Status::out_of_range("Error, decoded message length too large");
    assert_eq!(code_after(oversized), Some(Code::ResourceExhausted));
    // The gRPC spec requires INTERNAL for this one.
    let flag = tonic::Status::internal("protocol error: received message with compressed-flag but no grpc-encoding");
    assert_eq!(code_after(flag), Some(Code::Internal));
    assert_eq!(code_after(tonic::Status::unavailable("x")), Some(Code::Unavailable));
}

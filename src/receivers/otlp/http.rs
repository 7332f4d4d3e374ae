//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics`, `/v1/logs` with protobuf or JSON
//! bodies, optionally gzip-, zstd- or deflate-compressed. Responses use the request's
//! encoding; errors carry a `google.rpc.Status` body, as the OTLP spec says.

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;
use tokio_util::sync::CancellationToken;

use super::config::HttpConfig;
use super::connections::{self, Listener};
use super::intake::{encode_response, http_status, Intake, Refused};
use super::limits::ConnectionPolicy;
use crate::component::Signal;
use crate::pdata::{ClientInfo, Encoded, Telemetry};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

#[derive(Clone)]
struct HttpState {
    intake: Arc<Intake>,
    max_body: usize,
}

/// Serves OTLP/HTTP on `listener` until `draining` is cancelled, then lingers as
/// [`connections::serve`] describes.
pub async fn serve(
    listener: Listener,
    intake: Arc<Intake>,
    config: &HttpConfig,
    policy: ConnectionPolicy,
    draining: CancellationToken,
) {
    let state = HttpState {
        intake: intake.clone(),
        max_body: config.max_request_body_size,
    };
    let mut router = Router::new();
    for (signal, path) in [
        (Signal::Traces, &config.traces_url_path),
        (Signal::Metrics, &config.metrics_url_path),
        (Signal::Logs, &config.logs_url_path),
    ] {
        if intake.consumer(signal).is_some() {
            router = router.route(
                path,
                post(move |State(state): State<HttpState>, headers: HeaderMap, body: Body| {
                    handle(state, signal, headers, body)
                }),
            );
        }
    }
    let service = router.with_state(state);
    // Around the whole router, so that preflights to any path are answered.
    match config.cors.as_ref().and_then(|cors| cors.layer()) {
        Some(cors) => connections::serve(listener, policy, tower::Layer::layer(&cors, service), draining).await,
        None => connections::serve(listener, policy, service, draining).await,
    }
}

/// Request body encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Protobuf,
    Json,
}

/// A request that cannot be processed, with the status it earns.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
}

impl From<&Refused> for Refusal {
    fn from(refused: &Refused) -> Self {
        let (status, retry_after) = http_status(refused);
        Self {
            status,
            message: refused.message().to_owned(),
            retry_after,
        }
    }
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

async fn handle(state: HttpState, signal: Signal, headers: HeaderMap, body: Body) -> Response {
    let mut response = respond(&state, signal, headers, body).await;
    // While shutting down, every response closes its connection: the client's next
    // request goes to a new connection, and so to another instance.
    if state.intake.is_draining() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn respond(state: &HttpState, signal: Signal, headers: HeaderMap, body: Body) -> Response {
    // Before anything else, the body unread: an unauthenticated client learns nothing.
    let client = match state.intake.client.check(&headers).await {
        Ok(client) => client,
        Err(refused) => return plain_error(Refusal::new(StatusCode::UNAUTHORIZED, refused.0)),
    };
    let encoding = match content_type(&headers) {
        Ok(encoding) => encoding,
        Err(refusal) => return plain_error(refusal),
    };
    // Refused before reading the body; `Intake::accept` checks again, race-free.
    let outcome = if state.intake.is_draining() {
        Err(Refusal::from(&Refused::ShuttingDown))
    } else {
        process(state, signal, encoding, &headers, body, client).await
    };
    match outcome {
        Ok(response) => {
            let content_type = if encoding == Encoding::Json { JSON } else { PROTOBUF };
            ([(header::CONTENT_TYPE, content_type)], response).into_response()
        }
        Err(refusal) => {
            tracing::debug!(message = "Refused OTLP/HTTP request.", status = %refusal.status, reason = %refusal.message);
            status_error(refusal, encoding)
        }
    }
}

async fn process(
    state: &HttpState,
    signal: Signal,
    encoding: Encoding,
    headers: &HeaderMap,
    body: Body,
    client: Option<Arc<ClientInfo>>,
) -> Result<Vec<u8>, Refusal> {
    let raw = read_body(body, state.max_body).await?;
    let body = decompress(headers, raw, state.max_body)?;
    let data = decode(signal, encoding, &body).map_err(|message| Refusal::new(StatusCode::BAD_REQUEST, message))?;
    // The protobuf body goes along, so that unchanged data is not encoded again.
    let encoded = (encoding == Encoding::Protobuf).then(|| Encoded::new(body));
    match state.intake.accept_from(client, data, encoded).await {
        Ok(rejected) => Ok(encode_response(signal, &rejected, encoding == Encoding::Json)),
        Err(refused) => Err(Refusal::from(&refused)),
    }
}

/// Reads a request body of at most `limit` bytes (as sent; see [`decompress`] for
/// after decompression).
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than max_request_body_size ({limit} bytes)"),
        )),
        Err(error) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("reading request body: {error}"),
        )),
    }
}

fn content_type(headers: &HeaderMap) -> Result<Encoding, Refusal> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media_type.as_str() {
        PROTOBUF => Ok(Encoding::Protobuf),
        JSON => Ok(Encoding::Json),
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content type {value:?}: use {PROTOBUF} or {JSON}"),
        )),
    }
}

/// Undoes `Content-Encoding`, never producing more than `limit` bytes (a small gzip
/// body can expand to gigabytes). An uncompressed body is returned as it is, not
/// copied.
pub(crate) fn decompress(headers: &HeaderMap, raw: Bytes, limit: usize) -> Result<Bytes, Refusal> {
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match coding.as_str() {
        "" | "identity" | "none" => return Ok(raw),
        "gzip" | "x-gzip" => Box::new(flate2::read::GzDecoder::new(&raw[..])),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(&raw[..])),
        "zstd" => {
            let invalid = |e: std::io::Error| Refusal::new(StatusCode::BAD_REQUEST, format!("invalid zstd body: {e}"));
            let mut decoder = zstd::stream::read::Decoder::new(&raw[..]).map_err(invalid)?;
            decoder.window_log_max(zstd_window_log_max(limit)).map_err(invalid)?;
            Box::new(decoder)
        }
        other => {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content encoding {other:?}: use gzip, zstd, deflate or none"),
            ))
        }
    };
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, format!("invalid {coding} body: {e}")))?;
    if out.len() > limit {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("decompressed body is larger than max_request_body_size ({limit} bytes)"),
        ));
    }
    Ok(Bytes::from(out))
}

/// The largest zstd window (as a power of two) a body may declare. The decoder
/// allocates the window a frame declares before producing a byte, and zstd's own
/// ceiling is 2^27 (128 MiB), so a body of a few bytes could make each request hold
/// 128 MiB. No window larger than the body limit is needed to produce `limit` bytes;
/// 2^23 (8 MiB) stays allowed whatever the limit, as common encoders use it by default
/// when they stream without a known size.
fn zstd_window_log_max(limit: usize) -> u32 {
    let needed = usize::BITS - limit.saturating_sub(1).leading_zeros();
    needed.clamp(23, 27)
}

/// Decodes an Export*ServiceRequest body.
pub(super) fn decode(signal: Signal, encoding: Encoding, body: &[u8]) -> Result<Telemetry, String> {
    fn protobuf<T: Message + Default>(body: &[u8]) -> Result<T, String> {
        T::decode(body).map_err(|e| format!("malformed protobuf body: {e}"))
    }
    fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
        serde_json::from_slice(body).map_err(|e| format!("invalid OTLP/JSON body: {e}"))
    }
    Ok(match (signal, encoding) {
        (Signal::Traces, Encoding::Protobuf) => Telemetry::Traces(protobuf(body)?),
        (Signal::Traces, Encoding::Json) => Telemetry::Traces(json(body)?),
        (Signal::Metrics, Encoding::Protobuf) => Telemetry::Metrics(protobuf(body)?),
        (Signal::Metrics, Encoding::Json) => Telemetry::Metrics(json(body)?),
        (Signal::Logs, Encoding::Protobuf) => Telemetry::Logs(protobuf(body)?),
        (Signal::Logs, Encoding::Json) => Telemetry::Logs(json(body)?),
    })
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn status_error(refusal: Refusal, encoding: Encoding) -> Response {
    let status = RpcStatus {
        code: grpc_code_for(refusal.status) as i32,
        message: refusal.message,
    };
    let (content_type, body) = match encoding {
        Encoding::Protobuf => (PROTOBUF, status.encode_to_vec()),
        Encoding::Json => (JSON, serde_json::to_vec(&status).unwrap_or_default()),
    };
    let mut response = (refusal.status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Some(seconds) = refusal.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// For a request whose encoding is unknown, a plain-text error.
fn plain_error(refusal: Refusal) -> Response {
    (
        refusal.status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        refusal.message,
    )
        .into_response()
}

fn grpc_code_for(status: StatusCode) -> tonic::Code {
    match status {
        StatusCode::BAD_REQUEST => tonic::Code::InvalidArgument,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => tonic::Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => tonic::Code::InvalidArgument,
        _ => tonic::Code::Unknown,
    }
}

/// [`decompress`] for unit tests and the fuzz targets ([`super::fuzzing`]), with the
/// refusal as (status, message).
pub(super) fn decompress_for_test(
    headers: &HeaderMap,
    raw: &[u8],
    limit: usize,
) -> Result<Vec<u8>, (StatusCode, String)> {
    decompress(headers, Bytes::copy_from_slice(raw), limit)
        .map(Vec::from)
        .map_err(|r| (r.status, r.message))
}

//! The HTTP side: `POST /api/v2/spans` (JSON, or protobuf with
//! `Content-Type: application/x-protobuf`) and `POST /api/v1/spans` (JSON), bodies
//! optionally gzip-, deflate- or zstd-compressed, answered 202 as Zipkin answers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::model;
use super::translate;
use crate::pdata::Telemetry;
use crate::receivers::otlp::connections::{self, Listener};
use crate::receivers::otlp::http::{decompress, read_body, Refusal};
use crate::receivers::otlp::intake::{Intake, Refused};
use crate::receivers::otlp::limits::ConnectionPolicy;
use crate::receivers::otlp::CorsConfig;

/// The v2 path.
pub const V2_PATH: &str = "/api/v2/spans";
/// The v1 path.
pub const V1_PATH: &str = "/api/v1/spans";

/// Which API a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/api/v1/spans`.
    V1,
    /// `/api/v2/spans`.
    V2,
}

#[derive(Clone)]
struct ZipkinState {
    intake: Arc<Intake>,
    max_body: usize,
    parse_string_tags: bool,
}

/// Serves the Zipkin API on `listener` until `draining` is cancelled, then lingers
/// as [`connections::serve`] describes.
pub async fn serve(
    listener: Listener,
    intake: Arc<Intake>,
    max_body: usize,
    parse_string_tags: bool,
    cors: Option<CorsConfig>,
    policy: ConnectionPolicy,
    draining: CancellationToken,
) {
    let state = ZipkinState {
        intake,
        max_body,
        parse_string_tags,
    };
    let route = |api| post(move |State(state), headers, body| handle(state, api, headers, body));
    let service = Router::new()
        .route(V2_PATH, route(Api::V2))
        .route(V1_PATH, route(Api::V1))
        .with_state(state);
    match cors.as_ref().and_then(|cors| cors.layer()) {
        Some(cors) => connections::serve(listener, policy, tower::Layer::layer(&cors, service), draining).await,
        None => connections::serve(listener, policy, service, draining).await,
    }
}

async fn handle(state: ZipkinState, api: Api, headers: HeaderMap, body: Body) -> Response {
    let mut response = match respond(&state, api, &headers, body).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(refusal) => {
            tracing::debug!(message = "Refused Zipkin request.", status = %refusal.status, reason = %refusal.message);
            refusal_response(refusal)
        }
    };
    // While shutting down, every response closes its connection, so the client's
    // next request goes to another instance.
    if state.intake.is_draining() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn respond(state: &ZipkinState, api: Api, headers: &HeaderMap, body: Body) -> Result<(), Refusal> {
    // Before anything else, the body unread: an unauthenticated client learns nothing.
    let client = state
        .intake
        .client
        .check(headers)
        .await
        .map_err(|refused| Refusal::new(StatusCode::UNAUTHORIZED, refused.0))?;
    let format = Format::of(api, headers)?;
    // Refused before reading the body; `Intake::accept` checks again, race-free.
    if state.intake.is_draining() {
        return Err(Refusal::from(&Refused::ShuttingDown));
    }
    let raw = read_body(body, state.max_body).await?;
    let body = decompress(headers, raw, state.max_body)?;
    let request = decode(format, &body, state.parse_string_tags)
        .map_err(|message| Refusal::new(StatusCode::BAD_REQUEST, message))?;
    state
        .intake
        .accept_from(client, Telemetry::Traces(request), None)
        .await
        .map(drop)
        .map_err(|refused| Refusal::from(&refused))
}

/// A request body's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// v1 JSON.
    V1Json,
    /// v2 JSON.
    V2Json,
    /// v2 protobuf (`ListOfSpans`).
    V2Proto,
}

impl Format {
    /// As the Collector decides: protobuf on v2 for `application/x-protobuf`, Thrift on
    /// v1 for `application/x-thrift` (which sloop refuses), JSON for anything else.
    pub(super) fn of(api: Api, headers: &HeaderMap) -> Result<Self, Refusal> {
        let media_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match (api, media_type.as_str()) {
            (Api::V2, "application/x-protobuf") => Ok(Self::V2Proto),
            (Api::V2, _) => Ok(Self::V2Json),
            (Api::V1, "application/x-thrift") => Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Zipkin v1 Thrift is not supported by sloop: send v1 JSON, or v2 JSON or protobuf to /api/v2/spans",
            )),
            (Api::V1, _) => Ok(Self::V1Json),
        }
    }
}

/// Decodes and translates a (decompressed) body.
pub fn decode(
    format: Format,
    body: &[u8],
    parse_string_tags: bool,
) -> Result<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest, String> {
    match format {
        Format::V2Json => translate::v2_to_otlp(model::decode_v2_json(body)?, parse_string_tags),
        Format::V2Proto => translate::v2_to_otlp(model::decode_v2_proto(body)?, parse_string_tags),
        Format::V1Json => translate::v1_to_otlp(model::decode_v1_json(body)?, parse_string_tags),
    }
}

/// A refusal as a plain-text response (as the Collector's `http.Error`), with
/// Retry-After when the client should retry.
fn refusal_response(refusal: Refusal) -> Response {
    let mut response = (
        refusal.status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        refusal.message,
    )
        .into_response();
    if let Some(seconds) = refusal.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

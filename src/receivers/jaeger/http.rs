//! `POST /api/traces`: a Thrift binary `Batch` (the Jaeger collector's HTTP API).
//!
//! As the Collector: `Content-Type` `application/x-thrift` or
//! `application/vnd.apache.thrift.binary` (other types are 400), 202 Accepted when
//! taken, 400 for a body that is not a batch, 413 for one over
//! `max_request_body_size`; refusals as OTLP/HTTP answers them (429 with Retry-After
//! for a full pipeline, 503 with Retry-After while shutting down).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::intake::Intake;
use super::thrift;
use crate::receivers::otlp::http_status;

const THRIFT_TYPES: [&str; 2] = ["application/x-thrift", "application/vnd.apache.thrift.binary"];

/// Serves the endpoint on `listener` until `draining` is cancelled.
pub async fn serve(listener: TcpListener, intake: Arc<Intake>, max_body: usize, draining: CancellationToken) {
    let router = Router::new()
        .route("/api/traces", post(post_traces))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(intake);
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(draining.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::warn!(message = "Jaeger Thrift HTTP server failed.", %error);
    }
}

async fn post_traces(State(intake): State<Arc<Intake>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !THRIFT_TYPES.contains(&media_type.as_str()) {
        let message = format!(
            "unsupported content type {content_type:?}: send application/x-thrift or application/vnd.apache.thrift.binary"
        );
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    let batch = match thrift::decode_batch(&body) {
        Ok(batch) => batch,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    match intake.accept(batch).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(refused) => {
            let (status, retry_after) = http_status(&refused);
            let mut response = (status, refused.message().to_string()).into_response();
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
            }
            response
        }
    }
}

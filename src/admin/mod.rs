//! The admin HTTP server on `service.telemetry.metrics.address` (default
//! `127.0.0.1:8888`): self-metrics for Prometheus and the SLO status API, as JSON
//! and as gRPC.
//!
//! - `GET /metrics` — Prometheus text format, Collector-style names.
//! - `GET /api/v1/slos` — every SLO: `{"slos": [...]}`.
//! - `GET /api/v1/slos/{name}` — one SLO, or 404.
//! - `GET /api/v1/slos/{name}/explain?window=1h` — "why is it burning": the attribute
//!   values over-represented among the SLO's bad events over `window` (default: the
//!   SLO window; rounded out to whole hours up to `1d`, to whole UTC days beyond), or
//!   404 (no such SLO) or 400 (a window that is not a duration, under `1m` or longer
//!   than the SLO window), each with `{"error": "..."}`. The JSON: `slo`, `window`,
//!   `from_unix_nano`, `to_unix_nano`, `total`, `bad`, `allowed_bad` and `values`,
//!   most over-represented first, each with `key`, `value`, `bad`, `total`,
//!   `bad_share` (of the window's bad), `total_share` (of all eligible events),
//!   `budget_share` (`bad / allowed_bad`) and `exact` (see
//!   [`explain`](crate::processors::slo::explain)).
//! - `GET /api/v1/slos/{name}/history?step=1m` — the SLO's figures over its whole
//!   window, one point per `step` (default a minute; whole minutes up to the
//!   window), oldest first, and its recent bad events with links to their traces
//!   (see [`history`](crate::processors::slo::history)); 404 (no such SLO) or 400 (a
//!   bad step), each with `{"error": "..."}`. The JSON: `slo`, `target`, `window`,
//!   `step_minutes`, `burn_rate_window`, `from_minute`, `to_minute`, `points` (each
//!   `minute` (Unix minutes), `minute_unix_nano`, `good`, `bad`,
//!   `error_budget_remaining`, `burn_rate`) and `recent_bad` (each `trace_id`,
//!   `span_id`, `time_unix_nano`, `time`, `weight` and, with the slo processor's
//!   `trace_url`, `trace_url`).
//! - `GET /` — redirects (303) to `/slos`.
//! - `GET /slos` — the status page: every SLO, least budget left first, with its
//!   budget left, burn rate per window and alert state (HTML, no external assets).
//! - `GET /slos/{name}` — one SLO's page: charts of the budget left and the burn rate
//!   over the whole window, drawn by `page.js` from the history API, the worst
//!   segments and the recent bad events' trace ids (see [`page`]).
//! - `GET /static/page.css`, `GET /static/page.js` — the page's style and script,
//!   built into the binary.
//!
//! An SLO's JSON: `name`, `sli`, `target`, `window`, `total`, `good`, `bad`,
//! `allowed_bad`, `error_budget_remaining`, `burn_rates` (by window),
//! `exhaustion_seconds`, `alerts` (`page`, `ticket`) and, with `group_by`,
//! `worst_groups` (least budget left first) and `paging_groups`.
//!
//! - gRPC `sloop.v1.SloService` (`proto/sloop/v1/slo.proto`): `List`, `Get` and a
//!   server-streaming `Watch` of status changes, with the same figures typed; see
//!   [`grpc`]. The listener speaks HTTP/1.1 and HTTP/2 without TLS (h2c, prior
//!   knowledge), which gRPC clients use.
//!
//! Read-only: every JSON route is a GET (other methods get 405), and every RPC
//! reads (gRPC calls are POSTs to `/sloop.v1.SloService/{method}`), so whoever
//! reaches the port can read figures but change nothing. It binds loopback by
//! default.

pub mod grpc;
pub mod page;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio_util::sync::CancellationToken;

/// Renders the self-metrics for `GET /metrics` (Prometheus text format). Each
/// `service.telemetry` reader renders with its own options.
pub trait MetricsText: Send + Sync + 'static {
    /// The whole exposition, as of now.
    fn render(&self) -> String;
}

/// Where the status API reads SLO figures. The service implements it over the SLO
/// state it keeps; the admin server knows nothing of the slo processor's types: it
/// gets JSON for the JSON API and the `sloop.v1` messages of [`crate::api`] for the
/// gRPC one.
pub trait SloSource: Send + Sync + 'static {
    /// Every objective's status, as the JSON objects the API serves.
    fn statuses(&self) -> Vec<serde_json::Value>;

    /// One objective's status, if there is an objective of that name.
    fn status(&self, name: &str) -> Option<serde_json::Value>;

    /// Every objective's status as the typed API's message, in name order.
    fn slo_statuses(&self) -> Vec<crate::api::v1::SloStatus>;

    /// One objective's status as the typed API's message, if there is an objective
    /// of that name.
    fn slo_status(&self, name: &str) -> Option<crate::api::v1::SloStatus>;

    /// What one objective's bad events have in common over `window` (text such as
    /// `1h`; `None`: the SLO window). `None` when there is no objective of that
    /// name; an error (for the client) when the window is not acceptable.
    fn explain(&self, name: &str, window: Option<&str>) -> Option<Result<serde_json::Value, String>> {
        let _ = (name, window);
        None
    }

    /// One objective's history over its window (`step`: text such as `5m`; `None`:
    /// a minute). `None` when there is no objective of that name; an error (for
    /// the client) when the step is not acceptable.
    fn history(&self, name: &str, step: Option<&str>) -> Option<Result<serde_json::Value, String>> {
        let _ = (name, step);
        None
    }
}

#[derive(Clone)]
struct AdminState {
    metrics: Option<Arc<dyn MetricsText>>,
    slos: Arc<dyn SloSource>,
}

/// The admin routes: the JSON ones and the gRPC service, whose `Watch` streams end
/// at `stop`.
pub fn router(metrics: Option<Arc<dyn MetricsText>>, slos: Arc<dyn SloSource>, stop: CancellationToken) -> Router {
    // The service's own path prefix only (as tonic's `Routes` adds it), not tonic's
    // catch-all fallback: other paths keep answering 404.
    let service = grpc::SloGrpc::server(slos.clone(), stop);
    let grpc_path = format!("/{}/{{*method}}", service_name(&service));
    Router::new()
        .route("/metrics", get(render_metrics))
        .route("/api/v1/slos", get(list_slos))
        .route("/api/v1/slos/{name}", get(one_slo))
        .route("/api/v1/slos/{name}/explain", get(explain_slo))
        .route("/api/v1/slos/{name}/history", get(slo_history))
        .merge(page::router(slos.clone()))
        .route_service(&grpc_path, service)
        .with_state(AdminState { metrics, slos })
}

/// A gRPC service's full name (`sloop.v1.SloService`).
fn service_name<S: tonic::server::NamedService>(_: &S) -> &'static str {
    S::NAME
}

async fn render_metrics(State(state): State<AdminState>) -> Response {
    match state.metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::NOT_FOUND, "self-metrics are not recorded in this process").into_response(),
    }
}

async fn list_slos(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let statuses = state.slos.statuses();
    Json(serde_json::json!({ "slos": statuses }))
}

async fn one_slo(State(state): State<AdminState>, Path(name): Path<String>) -> Response {
    match state.slos.status(&name) {
        Some(status) => Json(status).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": format!("no SLO named {name:?}") })),
        )
            .into_response(),
    }
}

/// The query of `GET /api/v1/slos/{name}/explain`.
#[derive(serde::Deserialize)]
struct ExplainQuery {
    window: Option<String>,
}

async fn explain_slo(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(query): Query<ExplainQuery>,
) -> Response {
    answer(&name, state.slos.explain(&name, query.window.as_deref()))
}

/// The response to a per-SLO query: its JSON, 400 with the error, or 404 when there
/// is no SLO `name`; never cached.
fn answer(name: &str, result: Option<Result<serde_json::Value, String>>) -> Response {
    let error = |status: StatusCode, message: String| (status, Json(serde_json::json!({ "error": message })));
    let mut response = match result {
        Some(Ok(json)) => Json(json).into_response(),
        Some(Err(message)) => error(StatusCode::BAD_REQUEST, message).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no SLO named {name:?}")).into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// The query of `GET /api/v1/slos/{name}/history`.
#[derive(serde::Deserialize)]
struct HistoryQuery {
    step: Option<String>,
}

async fn slo_history(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Response {
    answer(&name, state.slos.history(&name, query.step.as_deref()))
}

/// Binds `address` and serves the admin routes until `stop`.
pub async fn serve(
    address: SocketAddr,
    metrics: Option<Arc<dyn MetricsText>>,
    slos: Arc<dyn SloSource>,
    stop: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = crate::accept::listen(address)?;
    tracing::info!(message = "Serving self-metrics and the SLO status API.", endpoint = %address);
    let app = router(metrics, slos, stop.clone());
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(crate::accept::BackingOffListener::new(listener, "telemetry"), app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        {
            tracing::error!(message = "Admin server failed.", %error);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    struct NoSlos;

    impl SloSource for NoSlos {
        fn statuses(&self) -> Vec<serde_json::Value> {
            Vec::new()
        }
        fn status(&self, _name: &str) -> Option<serde_json::Value> {
            None
        }
        fn slo_statuses(&self) -> Vec<crate::api::v1::SloStatus> {
            Vec::new()
        }
        fn slo_status(&self, _name: &str) -> Option<crate::api::v1::SloStatus> {
            None
        }
    }

    /// The admin API is read-only: nothing but GET (and HEAD) is routed, so a
    /// client that reaches the port can read figures but change nothing.
    #[tokio::test]
    async fn every_route_answers_only_reads() {
        for path in [
            "/metrics",
            "/api/v1/slos",
            "/api/v1/slos/homepage",
            "/api/v1/slos/homepage/explain",
            "/api/v1/slos/homepage/history",
            "/",
            "/slos",
            "/slos/homepage",
            "/static/page.css",
            "/static/page.js",
        ] {
            for method in ["POST", "PUT", "PATCH", "DELETE"] {
                let request = axum::http::Request::builder()
                    .method(method)
                    .uri(path)
                    .body(axum::body::Body::empty())
                    .expect("a valid request");
                let response = router(None, Arc::new(NoSlos), CancellationToken::new())
                    .oneshot(request)
                    .await
                    .expect("infallible");
                assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            }
            let get = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .expect("a valid request");
            let response = router(None, Arc::new(NoSlos), CancellationToken::new())
                .oneshot(get)
                .await
                .expect("infallible");
            assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "GET {path}");
        }
    }
}

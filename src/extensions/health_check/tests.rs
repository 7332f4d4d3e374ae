use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use super::router;
use crate::component::Pressure;

async fn status(app: axum::Router, path: &str) -> StatusCode {
    app.oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn readiness_follows_the_ready_flag_and_liveness_is_always_up() {
    let ready = Arc::new(AtomicBool::new(false));
    let app = router("/", ready.clone(), Arc::default(), Arc::default());
    assert_eq!(status(app.clone(), "/").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status(app.clone(), "/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status(app.clone(), "/livez").await, StatusCode::OK);
    ready.store(true, Ordering::SeqCst);
    assert_eq!(status(app.clone(), "/").await, StatusCode::OK);
    assert_eq!(status(app.clone(), "/readyz").await, StatusCode::OK);
    assert_eq!(status(app, "/nope").await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn custom_path_serves_readiness() {
    let app = router(
        "/health/status",
        Arc::new(AtomicBool::new(true)),
        Arc::default(),
        Arc::default(),
    );
    assert_eq!(status(app, "/health/status").await, StatusCode::OK);
}

#[tokio::test]
async fn readiness_is_off_while_a_memory_limiter_refuses() {
    let pressure = Arc::new(Pressure::default());
    let app = router("/", Arc::new(AtomicBool::new(true)), pressure.clone(), Arc::default());
    pressure.begin();
    pressure.begin();
    assert_eq!(status(app.clone(), "/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status(app.clone(), "/").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        status(app.clone(), "/livez").await,
        StatusCode::OK,
        "alive under pressure"
    );
    pressure.end();
    assert_eq!(
        status(app.clone(), "/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "one of two limiters still refuses"
    );
    pressure.end();
    assert_eq!(status(app.clone(), "/readyz").await, StatusCode::OK);
    // Two threads may report a limiter's stop before its start; the sum is right.
    pressure.end();
    pressure.begin();
    assert_eq!(status(app, "/readyz").await, StatusCode::OK);
}

#[tokio::test]
async fn readiness_is_off_while_a_persistent_queue_cannot_write() {
    let storage = Arc::new(Pressure::default());
    let app = router("/", Arc::new(AtomicBool::new(true)), Arc::default(), storage.clone());
    storage.begin();
    assert_eq!(status(app.clone(), "/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status(app.clone(), "/livez").await, StatusCode::OK);
    storage.end();
    assert_eq!(status(app, "/readyz").await, StatusCode::OK);
}

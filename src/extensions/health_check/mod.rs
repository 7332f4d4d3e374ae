//! `health_check` — HTTP liveness and readiness for load balancers and Kubernetes
//! probes, as the Collector's health_check extension.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! List it in `service.extensions` to run it.
//!
//! `GET {path}` (and `/readyz`) answers 200 once every receiver is listening and 503
//! before that, during shutdown and while a `memory_limiter` refuses data (so a load
//! balancer sends elsewhere until memory pressure ends) — point readiness probes
//! here. `GET /livez` answers 200 whenever the process serves HTTP — point liveness
//! probes there: a process under memory pressure is alive and must not be restarted.

mod config;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::HealthCheckConfig;

use crate::component::registry::ExtensionFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, Extension, ExtensionConfig, ExtensionContext, Lifecycle, Pressure, StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};

/// Registry entry.
pub const FACTORY: ExtensionFactory = ExtensionFactory {
    type_name: "health_check",
    aliases: &[],
    signals: &[],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExtensionConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<HealthCheckConfig>(value)?))
}

impl ExtensionConfig for HealthCheckConfig {
    fn build(&self, id: &ComponentId, ctx: &ExtensionContext) -> Result<Arc<dyn Extension>, BuildError> {
        Ok(Arc::new(HealthCheck {
            id: id.clone(),
            config: self.clone(),
            ready: ctx.ready.clone(),
            memory_pressure: ctx.memory_pressure.clone(),
            storage_pressure: ctx.storage_pressure.clone(),
            stop: CancellationToken::new(),
            server: Mutex::new(None),
        }))
    }
}

/// The running extension.
pub struct HealthCheck {
    id: ComponentId,
    config: HealthCheckConfig,
    ready: Arc<AtomicBool>,
    memory_pressure: Arc<Pressure>,
    storage_pressure: Arc<Pressure>,
    stop: CancellationToken,
    server: Mutex<Option<JoinHandle<()>>>,
}

/// The health router: readiness on `path` and `/readyz` (ready, no memory limiter
/// refusing, every persistent queue writing), liveness on `/livez`.
pub fn router(
    path: &str,
    ready: Arc<AtomicBool>,
    memory_pressure: Arc<Pressure>,
    storage_pressure: Arc<Pressure>,
) -> Router {
    let readiness = move || {
        let (ready, memory_pressure, storage_pressure) =
            (ready.clone(), memory_pressure.clone(), storage_pressure.clone());
        async move {
            if !ready.load(Ordering::SeqCst) {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(serde_json::json!({"status": "Server not available"})),
                )
            } else if memory_pressure.is_refusing() {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(
                        serde_json::json!({"status": "Server not available", "reason": "memory limiter refusing data"}),
                    ),
                )
            } else if storage_pressure.is_refusing() {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(
                        serde_json::json!({"status": "Server not available", "reason": "a persistent queue cannot write"}),
                    ),
                )
            } else {
                (StatusCode::OK, Json(serde_json::json!({"status": "Server available"})))
            }
        }
    };
    let mut router = Router::new().route("/readyz", get(readiness.clone())).route(
        "/livez",
        get(|| async { (StatusCode::OK, Json(serde_json::json!({"status": "alive"}))) }),
    );
    if path != "/readyz" && path != "/livez" {
        router = router.route(path, get(readiness));
    }
    router
}

impl Extension for HealthCheck {}

impl Lifecycle for HealthCheck {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            let listener = crate::accept::bind(&self.id.to_string(), &self.config.endpoint)
                .await
                .map_err(|e| StartError::new(&self.id, e))?;
            let address = listener
                .local_addr()
                .map_err(|e| StartError::new(&self.id, format!("reading the listening address: {e}")))?;
            let app = router(
                &self.config.path,
                self.ready.clone(),
                self.memory_pressure.clone(),
                self.storage_pressure.clone(),
            );
            let stop = self.stop.clone();
            let id = self.id.clone();
            tracing::info!(message = "Health check serving.", extension = %id, endpoint = %address);
            let server = tokio::spawn(async move {
                if let Err(error) = axum::serve(crate::accept::BackingOffListener::new(listener, id.to_string()), app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
                {
                    tracing::error!(message = "Health check server failed.", extension = %id, %error);
                }
            });
            *self.server.lock().unwrap_or_else(|p| p.into_inner()) = Some(server);
            Ok(())
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(server) = server {
                let _ = server.await;
            }
        })
    }
}

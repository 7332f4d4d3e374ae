//! `zpages` — live debugging pages about the running service, as the Collector's
//! zpages extension.
//!
#![doc = concat!("```yaml\n", include_str!("example.yaml"), "```")]
//!
//! List it in `service.extensions` to run it. Keys: `endpoint` (`host:port`, default
//! `localhost:55679`) and `expvar.enabled` (accepted only `false`: expvar is the Go
//! runtime's variables page).
//!
//! Pages, plain HTML rendered on each request:
//! - `/debug/servicez` — build info (command, description, version), start time,
//!   uptime, and every configured component with its kind.
//! - `/debug/pipelinez` — every pipeline with its receivers, processors and
//!   exporters (connectors appear among the receivers or exporters of the pipelines
//!   they join), and live figures per component from the self-metrics: receivers'
//!   accepted and refused items, processors' refused and dropped items, exporters'
//!   sent, send-failed and enqueue-failed items and their queue size and capacity.
//!   Figures are per component since start, in the pipeline's signal's items: a
//!   component shared by pipelines of one signal shows the same figures in each.
//! - `/debug/extensionz` — the extensions the service runs.
//! - `/debug/featurez` — the Collector's feature-gate table, empty: sloop has none.
//! - `/debug/tracez`, `/debug/rpcz` — a page saying that sloop records no spans of
//!   its own work (the Collector shows its own sampled spans and gRPC stats there).
//!
//! Differences from the Collector: no per-component detail pages
//! (`?zpipelinename=...`); the HTTP server settings of the Collector's `confighttp`
//! (`tls`, `cors`, `auth`, ...) are refused as unknown keys; the figures on the
//! pipeline page are sloop's addition. After a reload the pages show the new graph.

mod config;
mod figures;
mod pages;

pub use pages::escape;
pub(crate) mod server;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

pub use config::{ExpvarConfig, ZPagesConfig};

use self::figures::Figures;
use self::pages::ServiceFacts;
use self::server::ExtensionServer;
use crate::component::registry::ExtensionFactory;
use crate::component::{
    BoxFuture, BuildError, ComponentId, Extension, ExtensionConfig, ExtensionContext, Lifecycle, ServiceView,
    StartError,
};
use crate::confmap::{parse_block, ConfigError, RawValue};

/// Registry entry.
pub const FACTORY: ExtensionFactory = ExtensionFactory {
    type_name: "zpages",
    aliases: &[],
    signals: &[],
    parse,
    example: include_str!("example.yaml"),
};

fn parse(value: &RawValue) -> Result<Box<dyn ExtensionConfig>, Vec<ConfigError>> {
    Ok(Box::new(parse_block::<ZPagesConfig>(value)?))
}

impl ExtensionConfig for ZPagesConfig {
    fn build(&self, id: &ComponentId, ctx: &ExtensionContext) -> Result<Arc<dyn Extension>, BuildError> {
        Ok(Arc::new(ZPages {
            id: id.clone(),
            endpoint: self.endpoint.clone(),
            view: ctx.view.clone(),
            server: ExtensionServer::default(),
        }))
    }
}

/// The running extension.
pub struct ZPages {
    id: ComponentId,
    endpoint: String,
    view: Arc<ServiceView>,
    server: ExtensionServer,
}

/// The zpages routes over `view`.
pub fn router(view: Arc<ServiceView>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/debug/servicez") }))
        .route("/debug/servicez", get(servicez))
        .route("/debug/pipelinez", get(pipelinez))
        .route("/debug/extensionz", get(extensionz))
        .route("/debug/featurez", get(|| async { html(pages::featurez()) }))
        .route("/debug/tracez", get(|| async { html(pages::no_spans("Traces")) }))
        .route("/debug/rpcz", get(|| async { html(pages::no_spans("RPCs")) }))
        .with_state(view)
}

/// An HTML page, not to be cached: every figure on it is live.
fn html(body: String) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

async fn servicez(State(view): State<Arc<ServiceView>>) -> Response {
    let command = std::env::args().next().unwrap_or_default();
    let command = std::path::Path::new(&command)
        .file_name()
        .map_or_else(|| command.clone(), |name| name.to_string_lossy().into_owned());
    let facts = ServiceFacts {
        command: &command,
        started: view.started(),
        now: SystemTime::now(),
    };
    html(pages::servicez(&facts, &view.layout()))
}

async fn pipelinez(State(view): State<Arc<ServiceView>>) -> Response {
    let figures = view.render_metrics().map(|text| Figures::from_text(&text));
    html(pages::pipelinez(&view.layout(), figures.as_ref()))
}

async fn extensionz(State(view): State<Arc<ServiceView>>) -> Response {
    html(pages::extensionz(&view.layout()))
}

impl Extension for ZPages {}

impl Lifecycle for ZPages {
    fn start(&self) -> BoxFuture<'_, Result<(), StartError>> {
        Box::pin(async move {
            let address = self
                .server
                .start(&self.id, &self.endpoint, router(self.view.clone()))
                .await?;
            tracing::info!(message = "zPages serving.", extension = %self.id, endpoint = %address);
            Ok(())
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.server.shutdown())
    }
}

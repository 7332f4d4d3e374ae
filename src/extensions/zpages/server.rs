//! The HTTP server an extension runs on its `endpoint` (zpages, pprof): bound on
//! start, stopped and waited for on shutdown; safe to shut down without start,
//! twice, and to start again after a shutdown.

use std::net::SocketAddr;
use std::sync::Mutex;

use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::component::{ComponentId, StartError};

/// One extension's HTTP server.
#[derive(Default)]
pub(crate) struct ExtensionServer {
    running: Mutex<Option<(CancellationToken, JoinHandle<()>)>>,
}

impl ExtensionServer {
    /// Resolves and binds `endpoint` and serves `app` there until shutdown.
    pub(crate) async fn start(&self, id: &ComponentId, endpoint: &str, app: Router) -> Result<SocketAddr, StartError> {
        let listener = crate::accept::bind(&id.to_string(), endpoint)
            .await
            .map_err(|e| StartError::new(id, e))?;
        let address = listener
            .local_addr()
            .map_err(|e| StartError::new(id, format!("reading the listening address: {e}")))?;
        let stop = CancellationToken::new();
        let server = tokio::spawn({
            let (stop, id) = (stop.clone(), id.clone());
            async move {
                if let Err(error) = axum::serve(crate::accept::BackingOffListener::new(listener, id.to_string()), app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
                {
                    tracing::error!(message = "Extension server failed.", extension = %id, %error);
                }
            }
        });
        let previous = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace((stop, server));
        if let Some((stop, _)) = previous {
            stop.cancel();
        }
        Ok(address)
    }

    /// Stops serving and waits for requests in flight to finish.
    pub(crate) async fn shutdown(&self) {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((stop, server)) = running {
            stop.cancel();
            let _ = server.await;
        }
    }
}

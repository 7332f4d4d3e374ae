//! The gRPC channel's TLS connector, on sloop's own rustls config: tonic's
//! `ClientTlsConfig` has no `insecure_skip_verify`, no version bounds and no way to
//! check the certificate against another name than the one dialled.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::component::BoxFuture;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Dials the endpoint's host and port, then speaks TLS with `config`, checking the
/// certificate against `server_name` (or the host dialled).
#[derive(Clone)]
pub(super) struct TlsConnector {
    /// The rustls config (CAs, client certificate, versions, ALPN `h2`).
    pub config: Arc<ClientConfig>,
    /// `server_name_override`: sent as SNI and checked in the certificate.
    pub server_name: Option<ServerName<'static>>,
    /// Bounds the TCP connect and the handshake, each (the exporter's `timeout`, as
    /// tonic's `connect_timeout` did).
    pub timeout: Duration,
}

impl tower::Service<http::Uri> for TlsConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri.host().ok_or_else(|| format!("{uri}: no host"))?;
            // An IPv6 literal comes bracketed in a URI.
            let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = tokio::time::timeout(this.timeout, TcpStream::connect((host.as_str(), port)))
                .await
                .map_err(|_| format!("connecting to {host}:{port} timed out"))??;
            // Nagle off, as tonic's connector did (`tcp_nodelay(true)`).
            tcp.set_nodelay(true)?;
            let name = match this.server_name {
                Some(name) => name,
                None => ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?,
            };
            let handshake = tokio_rustls::TlsConnector::from(this.config).connect(name, tcp);
            let tls = tokio::time::timeout(this.timeout, handshake)
                .await
                .map_err(|_| format!("TLS handshake with {host}:{port} timed out"))??;
            Ok(TokioIo::new(tls))
        })
    }
}

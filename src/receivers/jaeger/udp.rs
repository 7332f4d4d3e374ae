//! The agent's UDP ports: one `emitBatch` call per datagram, in the Thrift compact
//! (6831) or binary (6832) protocol.
//!
//! One task reads datagrams into a queue of `queue_size`; `workers` tasks decode
//! and pass them on, as the Collector's UDP server does. UDP has no answer, so a
//! datagram that cannot be taken is counted in
//! `otelcol_receiver_jaeger_udp_packets_dropped` (`reason`: `queue_full`,
//! `malformed`, `refused`) and logged at debug level.

use std::sync::Arc;

use metrics::Counter;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::config::UdpConfig;
use super::intake::Intake;
use super::thrift::{self, Protocol};
use crate::component::ComponentId;

/// Counts of datagrams dropped, by reason.
struct Dropped {
    queue_full: Counter,
    malformed: Counter,
    refused: Counter,
}

impl Dropped {
    fn new(id: &ComponentId, transport: &'static str) -> Self {
        let counter = |reason: &'static str| {
            metrics::counter!(
                "otelcol_receiver_jaeger_udp_packets_dropped",
                "receiver" => id.to_string(),
                "transport" => transport,
                "reason" => reason,
            )
        };
        Self {
            queue_full: counter("queue_full"),
            malformed: counter("malformed"),
            refused: counter("refused"),
        }
    }
}

/// A UDP server of one protocol, bound and configured, not yet serving.
pub struct UdpServer {
    socket: UdpSocket,
    protocol: Protocol,
    queue_size: usize,
    max_packet_size: usize,
    workers: usize,
    dropped: Arc<Dropped>,
}

impl UdpServer {
    /// Binds `endpoint` and sizes the socket's receive buffer.
    pub async fn bind(
        id: &ComponentId,
        endpoint: &str,
        protocol: Protocol,
        transport: &'static str,
        config: &UdpConfig,
    ) -> Result<Self, String> {
        let endpoint = crate::accept::listen_address_logged(&id.to_string(), endpoint);
        let socket = UdpSocket::bind(endpoint.as_ref())
            .await
            .map_err(|e| format!("cannot listen on UDP {endpoint}: {e}"))?;
        if config.socket_buffer_size() > 0 {
            socket2::SockRef::from(&socket)
                .set_recv_buffer_size(config.socket_buffer_size())
                .map_err(|e| format!("cannot set socket_buffer_size on UDP {endpoint}: {e}"))?;
        }
        Ok(Self {
            socket,
            protocol,
            queue_size: config.queue_size(),
            max_packet_size: config.max_packet_size(),
            workers: config.workers(),
            dropped: Arc::new(Dropped::new(id, transport)),
        })
    }

    /// The bound address, for the log.
    pub fn local_addr(&self) -> String {
        self.socket
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into())
    }

    /// Reads until `draining` is cancelled; the workers then finish the queue (the
    /// intake refuses what comes after shutdown began).
    pub async fn serve(self, intake: Arc<Intake>, draining: CancellationToken) {
        let (queue, datagrams) = async_channel::bounded::<Vec<u8>>(self.queue_size);
        let mut workers = JoinSet::new();
        for _ in 0..self.workers {
            let datagrams = datagrams.clone();
            let intake = intake.clone();
            let dropped = self.dropped.clone();
            let protocol = self.protocol;
            workers.spawn(async move {
                while let Ok(datagram) = datagrams.recv().await {
                    handle(&datagram, protocol, &intake, &dropped).await;
                }
            });
        }
        let mut buffer = vec![0u8; self.max_packet_size];
        loop {
            let received = tokio::select! {
                _ = draining.cancelled() => break,
                received = self.socket.recv_from(&mut buffer) => received,
            };
            match received {
                Ok((len, _from)) => {
                    if queue.try_send(buffer[..len].to_vec()).is_err() {
                        self.dropped.queue_full.increment(1);
                        tracing::debug!(message = "Jaeger UDP queue full; datagram dropped.", len);
                    }
                }
                // ICMP errors surface here on some systems; the socket stays usable.
                Err(error) => tracing::debug!(message = "Jaeger UDP receive failed.", %error),
            }
        }
        drop(queue);
        while workers.join_next().await.is_some() {}
    }
}

async fn handle(datagram: &[u8], protocol: Protocol, intake: &Intake, dropped: &Dropped) {
    let batch = match thrift::decode_emit_batch(datagram, protocol) {
        Ok(batch) => batch,
        Err(error) => {
            dropped.malformed.increment(1);
            tracing::debug!(message = "Jaeger UDP datagram dropped.", %error, len = datagram.len());
            return;
        }
    };
    if let Err(refused) = intake.accept(batch).await {
        dropped.refused.increment(1);
        tracing::debug!(message = "Jaeger UDP batch refused.", reason = refused.message());
    }
}

//! The floor: the least work any prost/tonic-based collector can do for a trace
//! request — decode it, encode it again, send it on — and nothing else. No
//! batching, no queue, no metrics: each request is forwarded while the client
//! waits. It runs as its own process (`sloop-bench floor`), so its CPU time and
//! memory are measured exactly like sloop's.

use std::net::SocketAddr;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tonic::transport::{Channel, Endpoint};

/// Largest request the floor takes, as sloop's receiver default allows.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

struct Forwarder {
    client: TraceServiceClient<Channel>,
}

#[tonic::async_trait]
impl TraceService for Forwarder {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        // Decoded by tonic-prost on the way in; encoded again by the client.
        self.client.clone().export(request.into_inner()).await
    }
}

/// Serves OTLP/gRPC traces on `listen` and forwards every request to `backend`
/// (`host:port`) until the process is killed.
pub async fn serve(listen: SocketAddr, backend: &str) -> Result<(), String> {
    let channel = Endpoint::from_shared(format!("http://{backend}"))
        .map_err(|e| format!("backend {backend}: {e}"))?
        .tcp_nodelay(true)
        .connect_lazy();
    let client = TraceServiceClient::new(channel).max_encoding_message_size(MAX_MESSAGE_BYTES);
    let service = TraceServiceServer::new(Forwarder { client }).max_decoding_message_size(MAX_MESSAGE_BYTES);
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(service)
        .serve(listen)
        .await
        .map_err(|e| format!("serving on {listen}: {e}"))
}

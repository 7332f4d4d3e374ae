//! OTLP/gRPC: the Trace, Metrics and Logs services on one tonic server.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::intake::{grpc_status, logs_response, metrics_response, traces_response, Intake};
use crate::component::Signal;
use crate::pdata::Telemetry;

/// One handle shared by the three services.
#[derive(Clone)]
struct Services(Arc<Intake>);

#[tonic::async_trait]
impl TraceService for Services {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        match self.0.accept(Telemetry::Traces(request.into_inner())).await {
            Ok(rejected) => Ok(Response::new(traces_response(&rejected))),
            Err(error) => Err(grpc_status(&error)),
        }
    }
}

#[tonic::async_trait]
impl MetricsService for Services {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        match self.0.accept(Telemetry::Metrics(request.into_inner())).await {
            Ok(rejected) => Ok(Response::new(metrics_response(&rejected))),
            Err(error) => Err(grpc_status(&error)),
        }
    }
}

#[tonic::async_trait]
impl LogsService for Services {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        match self.0.accept(Telemetry::Logs(request.into_inner())).await {
            Ok(rejected) => Ok(Response::new(logs_response(&rejected))),
            Err(error) => Err(grpc_status(&error)),
        }
    }
}

/// Serves OTLP/gRPC on `listener` until `stop` is cancelled; in-flight calls finish.
pub async fn serve(
    listener: TcpListener,
    intake: Arc<Intake>,
    max_message_bytes: usize,
    stop: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let services = Services(intake.clone());
    macro_rules! service {
        ($server:ident, $signal:expr) => {
            intake.consumer($signal).map(|_| {
                $server::new(services.clone())
                    .max_decoding_message_size(max_message_bytes)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd)
                    .send_compressed(CompressionEncoding::Gzip)
            })
        };
    }
    let mut server = tonic::transport::Server::builder().layer(tower::util::MapResponseLayer::new(
        oversized_is_resource_exhausted::<tonic::body::Body>,
    ));
    server
        .add_optional_service(service!(TraceServiceServer, Signal::Traces))
        .add_optional_service(service!(MetricsServiceServer, Signal::Metrics))
        .add_optional_service(service!(LogsServiceServer, Signal::Logs))
        .serve_with_incoming_shutdown(
            // Nagle off, as grpc-go and the Collector do: a response's headers and
            // trailers go out as separate small writes, and with Nagle the second
            // waits for the client's delayed ACK (40 ms on Linux). The benchmark
            // showed it as a p99 of ~48 ms on every export at saturation.
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            stop.cancelled_owned(),
        )
        .await
}

/// tonic answers a message over the size limit with OUT_OF_RANGE when it is sent
/// uncompressed (and RESOURCE_EXHAUSTED when decompression overflows); the OTLP spec
/// and grpc-go say RESOURCE_EXHAUSTED for both. Our handlers never return
/// OUT_OF_RANGE, so the rewrite touches only tonic's size check.
fn oversized_is_resource_exhausted<B>(mut response: http::Response<B>) -> http::Response<B> {
    let out_of_range = (tonic::Code::OutOfRange as i32).to_string();
    if response
        .headers()
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == out_of_range.as_bytes())
    {
        let exhausted = (tonic::Code::ResourceExhausted as i32).to_string();
        if let Ok(value) = http::HeaderValue::from_str(&exhausted) {
            response.headers_mut().insert("grpc-status", value);
        }
    }
    response
}

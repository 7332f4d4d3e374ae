//! OTLP/gRPC: the Trace, Metrics and Logs services, as tonic routes on sloop's own
//! accept loop ([`connections`]), so that shutdown never waits for a client.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use tower::util::MapResponse;

use super::connections::{self, Listener};
use super::intake::{grpc_status, logs_response, metrics_response, traces_response, Intake};
use super::limits::ConnectionPolicy;
use crate::component::Signal;
use crate::pdata::{ClientInfo, Telemetry};

/// What [`check_clients`] learnt about a request's client, as a request extension.
#[derive(Clone)]
struct Checked(Option<Arc<ClientInfo>>);

impl Checked {
    fn of<T>(request: &Request<T>) -> Option<Arc<ClientInfo>> {
        request.extensions().get::<Checked>().and_then(|c| c.0.clone())
    }
}

/// Checks each request's credentials before tonic reads its body: refused ones are
/// answered UNAUTHENTICATED at once; accepted ones carry their [`ClientInfo`] to the
/// handler as a request extension.
fn check_clients<S, B>(
    intake: Arc<Intake>,
    service: S,
) -> impl tower::Service<
    http::Request<B>,
    Response = S::Response,
    Error = S::Error,
    Future = impl std::future::Future<Output = Result<S::Response, S::Error>> + Send,
> + Clone
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    tower::service_fn(move |mut request: http::Request<B>| {
        let intake = intake.clone();
        let service = service.clone();
        async move {
            match intake.client.check(request.headers()).await {
                Ok(client) => {
                    request.extensions_mut().insert(Checked(client));
                    tower::ServiceExt::oneshot(service, request).await
                }
                Err(refused) => Ok(Status::unauthenticated(refused.0).into_http()),
            }
        }
    })
}

/// One handle shared by the three services.
#[derive(Clone)]
struct Services(Arc<Intake>);

#[tonic::async_trait]
impl TraceService for Services {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let client = Checked::of(&request);
        match self
            .0
            .accept_from(client, Telemetry::Traces(request.into_inner()))
            .await
        {
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
        let client = Checked::of(&request);
        match self
            .0
            .accept_from(client, Telemetry::Metrics(request.into_inner()))
            .await
        {
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
        let client = Checked::of(&request);
        match self.0.accept_from(client, Telemetry::Logs(request.into_inner())).await {
            Ok(rejected) => Ok(Response::new(logs_response(&rejected))),
            Err(error) => Err(grpc_status(&error)),
        }
    }
}

/// Serves OTLP/gRPC on `listener` until `draining` is cancelled, then lingers as
/// [`connections::serve`] describes.
pub async fn serve(
    listener: Listener,
    intake: Arc<Intake>,
    max_message_bytes: usize,
    policy: ConnectionPolicy,
    draining: CancellationToken,
) {
    let services = Services(intake.clone());
    let mut routes = Routes::default();
    macro_rules! add_service {
        ($server:ident, $signal:expr) => {
            if intake.consumer($signal).is_some() {
                routes = routes.add_service(
                    $server::new(services.clone())
                        .max_decoding_message_size(max_message_bytes)
                        .accept_compressed(CompressionEncoding::Gzip)
                        .accept_compressed(CompressionEncoding::Zstd)
                        .send_compressed(CompressionEncoding::Gzip),
                );
            }
        };
    }
    add_service!(TraceServiceServer, Signal::Traces);
    add_service!(MetricsServiceServer, Signal::Metrics);
    add_service!(LogsServiceServer, Signal::Logs);
    let service = MapResponse::new(check_clients(intake, routes), spec_status_codes::<tonic::body::Body>);
    connections::serve(listener, policy, service, draining).await;
}

/// Where tonic's own status codes for a bad request differ from the OTLP spec and
/// grpc-go, puts the spec's code in the trailers-only response. Our handlers never
/// return OUT_OF_RANGE or INTERNAL, so only tonic's statuses are touched:
///
/// - A message over the size limit is OUT_OF_RANGE when sent uncompressed (and
///   RESOURCE_EXHAUSTED when decompression overflows); both become RESOURCE_EXHAUSTED.
/// - A body that is not valid protobuf, a compressed body that does not decompress,
///   or a message cut short is INTERNAL (tonic-prost maps every prost decode error to
///   INTERNAL); these are the client's fault, so INVALID_ARGUMENT. tonic's other
///   INTERNAL statuses (a compressed flag without `grpc-encoding`, which the gRPC
///   spec says must be INTERNAL) are kept.
pub(super) fn spec_status_codes<B>(mut response: http::Response<B>) -> http::Response<B> {
    const MALFORMED: [&str; 3] = [
        "failed to decode Protobuf message",
        "Error decompressing",
        "Unexpected EOF decoding stream",
    ];
    let headers = response.headers();
    let tonic_code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from);
    // grpc-message is percent-encoded; the prefixes only need their spaces back.
    let malformed = || {
        headers.get("grpc-message").is_some_and(|m| {
            let message = String::from_utf8_lossy(m.as_bytes()).replace("%20", " ");
            MALFORMED.iter().any(|prefix| message.starts_with(prefix))
        })
    };
    let code = match tonic_code {
        Some(tonic::Code::OutOfRange) => tonic::Code::ResourceExhausted,
        Some(tonic::Code::Internal) if malformed() => tonic::Code::InvalidArgument,
        _ => return response,
    };
    response
        .headers_mut()
        .insert("grpc-status", http::HeaderValue::from(code as i32));
    response
}

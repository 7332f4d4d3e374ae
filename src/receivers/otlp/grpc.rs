//! OTLP/gRPC: the Trace, Metrics and Logs services, as tonic routes on sloop's own
//! accept loop ([`connections`]), so that shutdown never waits for a client.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::Status;
use tower::util::MapResponse;

use super::connections::{self, Listener};
use super::export_service::{Checked, ExportKind, ExportServer, Logs, Metrics, Traces};
use super::intake::Intake;
use super::limits::ConnectionPolicy;

/// Checks each request's credentials before tonic reads its body: refused ones are
/// answered UNAUTHENTICATED at once; accepted ones carry their [`ClientInfo`](crate::pdata::ClientInfo) to the
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

/// Serves OTLP/gRPC on `listener` until `draining` is cancelled, then lingers as
/// [`connections::serve`] describes.
pub async fn serve(
    listener: Listener,
    intake: Arc<Intake>,
    max_message_bytes: usize,
    policy: ConnectionPolicy,
    draining: CancellationToken,
) {
    let mut routes = Routes::default();
    if intake.consumer(Traces::SIGNAL).is_some() {
        routes = routes.add_service(ExportServer::<Traces>::new(intake.clone(), max_message_bytes));
    }
    if intake.consumer(Metrics::SIGNAL).is_some() {
        routes = routes.add_service(ExportServer::<Metrics>::new(intake.clone(), max_message_bytes));
    }
    if intake.consumer(Logs::SIGNAL).is_some() {
        routes = routes.add_service(ExportServer::<Logs>::new(intake.clone(), max_message_bytes));
    }
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

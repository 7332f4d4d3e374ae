//! The three OTLP/gRPC `Export` services, served with a codec that keeps each
//! request's protobuf bytes beside the decoded request.
//!
//! opentelemetry-proto's generated servers decode with tonic-prost's codec, which
//! drops the bytes once decoded. Kept, they let a pipeline that changes nothing send
//! them on instead of encoding the batch again ([`Encoded`]); tonic hands the codec
//! the message as one buffer, so keeping it is a reference count, not a copy. The
//! service itself is what the generated one does (one path, tonic's `Grpc` with the
//! receiver's compression and size settings), generic over the signal.

use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder};
use tonic::codegen::{Body, BoxFuture, StdError};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::intake::{grpc_status, logs_response, metrics_response, traces_response, Intake, Rejected};
use crate::component::Signal;
use crate::pdata::{ClientInfo, Encoded, Telemetry};

/// One signal's export service: its gRPC name and messages.
pub trait ExportKind: Send + Sync + 'static {
    /// The gRPC service name.
    const NAME: &'static str;
    /// The one method's path.
    const PATH: &'static str;
    /// The signal.
    const SIGNAL: Signal;
    /// The request message.
    type Request: Message + Default + Send + 'static;
    /// The response message.
    type Response: Message + Default + Send + 'static;
    /// The request as pipeline data.
    fn telemetry(request: Self::Request) -> Telemetry;
    /// The response, with partial success when items were rejected.
    fn response(rejected: &Rejected) -> Self::Response;
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
pub struct Traces;
/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
pub struct Metrics;
/// `opentelemetry.proto.collector.logs.v1.LogsService`.
pub struct Logs;

impl ExportKind for Traces {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    const SIGNAL: Signal = Signal::Traces;
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    fn telemetry(request: Self::Request) -> Telemetry {
        Telemetry::Traces(request)
    }
    fn response(rejected: &Rejected) -> Self::Response {
        traces_response(rejected)
    }
}

impl ExportKind for Metrics {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    const SIGNAL: Signal = Signal::Metrics;
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    fn telemetry(request: Self::Request) -> Telemetry {
        Telemetry::Metrics(request)
    }
    fn response(rejected: &Rejected) -> Self::Response {
        metrics_response(rejected)
    }
}

impl ExportKind for Logs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    const SIGNAL: Signal = Signal::Logs;
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    fn telemetry(request: Self::Request) -> Telemetry {
        Telemetry::Logs(request)
    }
    fn response(rejected: &Rejected) -> Self::Response {
        logs_response(rejected)
    }
}

/// A decoded request and the bytes it was decoded from.
pub struct Received<T> {
    message: T,
    encoded: Bytes,
}

/// Decodes requests keeping their bytes ([`Received`]); encodes responses with prost.
struct ReceivedCodec<K>(PhantomData<fn() -> K>);

impl<K: ExportKind> Codec for ReceivedCodec<K> {
    type Encode = K::Response;
    type Decode = Received<K::Request>;
    type Encoder = ResponseEncoder<K>;
    type Decoder = RequestDecoder<K>;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(PhantomData)
    }
}

struct ResponseEncoder<K>(PhantomData<fn() -> K>);

impl<K: ExportKind> Encoder for ResponseEncoder<K> {
    type Item = K::Response;
    type Error = Status;

    fn encode(&mut self, item: K::Response, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // EncodeBuf grows as needed: prost's only error is a buffer without room.
        item.encode(dst).map_err(|e| Status::internal(e.to_string()))
    }
}

struct RequestDecoder<K>(PhantomData<fn() -> K>);

impl<K: ExportKind> Decoder for RequestDecoder<K> {
    type Item = Received<K::Request>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        // One message per call; tonic's buffer splits it off without copying.
        let encoded = src.copy_to_bytes(src.remaining());
        // INTERNAL with prost's message, as tonic-prost's codec answers:
        // `grpc::spec_status_codes` turns it into INVALID_ARGUMENT.
        let message = K::Request::decode(&encoded[..]).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Some(Received { message, encoded }))
    }
}

/// One signal's export service, routed by tonic by [`ExportKind::NAME`].
pub struct ExportServer<K> {
    intake: Arc<Intake>,
    max_message_bytes: usize,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for ExportServer<K> {
    fn clone(&self) -> Self {
        Self {
            intake: self.intake.clone(),
            max_message_bytes: self.max_message_bytes,
            kind: PhantomData,
        }
    }
}

impl<K: ExportKind> ExportServer<K> {
    /// Hands requests to `intake`, refusing messages over `max_message_bytes`
    /// (after decompression).
    pub fn new(intake: Arc<Intake>, max_message_bytes: usize) -> Self {
        Self {
            intake,
            max_message_bytes,
            kind: PhantomData,
        }
    }
}

impl<K: ExportKind> NamedService for ExportServer<K> {
    const NAME: &'static str = K::NAME;
}

impl<K, B> tower::Service<http::Request<B>> for ExportServer<K>
where
    K: ExportKind,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != K::PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let method = ExportMethod::<K> {
            intake: self.intake.clone(),
            kind: PhantomData,
        };
        let mut accepted = EnabledCompressionEncodings::default();
        accepted.enable(CompressionEncoding::Gzip);
        accepted.enable(CompressionEncoding::Zstd);
        let mut sent = EnabledCompressionEncodings::default();
        sent.enable(CompressionEncoding::Gzip);
        let mut grpc = Grpc::new(ReceivedCodec::<K>(PhantomData))
            .apply_compression_config(accepted, sent)
            .apply_max_message_size_config(Some(self.max_message_bytes), None);
        Box::pin(async move { Ok(grpc.unary(method, request).await) })
    }
}

/// The `Export` method of one signal.
struct ExportMethod<K> {
    intake: Arc<Intake>,
    kind: PhantomData<fn() -> K>,
}

impl<K: ExportKind> UnaryService<Received<K::Request>> for ExportMethod<K> {
    type Response = K::Response;
    type Future = BoxFuture<Response<K::Response>, Status>;

    fn call(&mut self, request: Request<Received<K::Request>>) -> Self::Future {
        let intake = self.intake.clone();
        Box::pin(async move {
            let client = request.extensions().get::<Checked>().and_then(|c| c.0.clone());
            let Received { message, encoded } = request.into_inner();
            match intake
                .accept_from(client, K::telemetry(message), Some(Encoded::new(encoded)))
                .await
            {
                Ok(rejected) => Ok(Response::new(K::response(&rejected))),
                Err(error) => Err(grpc_status(&error)),
            }
        })
    }
}

/// What the receiver's credential check learnt about a request's client, as a
/// request extension (see `grpc::check_clients`).
#[derive(Clone)]
pub struct Checked(pub Option<Arc<ClientInfo>>);
